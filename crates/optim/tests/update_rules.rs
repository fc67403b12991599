//! The first steps of each optimizer against PyTorch's documented update rules, computed here
//! by hand (literal numbers) and by a plain scalar transcription of the documentation's
//! pseudo-code, for several parameter tensors, gradients and option combinations.

use backprop_autograd::{Graph, Var};
use backprop_optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamWConfig, Optimizer, OptimizerConfig, RmsProp,
    RmsPropConfig, Sgd, SgdConfig,
};
use backprop_tensor::Tensor;

/// Parameters `a: [2, 2]`, `b: [3]` and `frozen: [2]`, and a loss whose gradient is
/// `∂L/∂p = c_p + p` for `a` and `b` (L = Σ c⊙p + ½Σ p²), none for `frozen`.
struct Problem {
    g: Graph<f64>,
    params: Vec<(String, Var)>,
    c: Vec<Vec<f64>>,
}

impl Problem {
    fn new() -> Self {
        let mut g = Graph::<f64>::new();
        let a = g.param("a", Tensor::from_vec(&[2, 2], vec![0.5, -1.5, 2.0, 0.25]));
        let b = g.param("b", Tensor::from_vec(&[3], vec![-0.3, 0.8, 1.2]));
        let frozen = g.param("frozen", Tensor::from_vec(&[2], vec![7.0, -7.0]));
        let c = vec![vec![0.4, -2.0, 1.0, 3.0], vec![0.05, -0.6, 2.5]];
        Problem { g, params: vec![("a".into(), a), ("b".into(), b), ("frozen".into(), frozen)], c }
    }

    fn values(&self) -> Vec<Vec<f64>> {
        self.params.iter().map(|(_, v)| self.g.value(*v).unwrap().to_vec()).collect()
    }

    /// One backward pass: fills the gradients of `a` and `b`.
    fn backward(&mut self) {
        let g = &mut self.g;
        g.zero_grad();
        g.clear();
        let mut total = None;
        for (k, (_, p)) in self.params.iter().take(2).enumerate() {
            let shape = g.value(*p).unwrap().shape().to_vec();
            let c = g.input(Tensor::from_vec(&shape, self.c[k].clone()));
            let cp = g.mul(c, *p).unwrap();
            let linear = g.sum(cp).unwrap();
            let sq = g.square(*p).unwrap();
            let half = g.mul_scalar(sq, 0.5).unwrap();
            let quadratic = g.sum(half).unwrap();
            let part = g.add(linear, quadratic).unwrap();
            total = Some(match total {
                None => part,
                Some(t) => g.add(t, part).unwrap(),
            });
        }
        g.backward(total.unwrap()).unwrap();
    }
}

/// A scalar transcription of one optimizer's documented rule: `update(θ, g, state, t)`.
type Rule = dyn Fn(f64, f64, &mut [f64; 4], u64) -> f64;

/// Runs `steps` steps of `optimizer` and of `rule` side by side and compares every element.
fn check(config: OptimizerConfig, rule: &Rule, steps: u64) {
    let name = config.to_string();
    let mut p = Problem::new();
    let mut optimizer = config.build(p.params.clone()).unwrap();
    let mut reference = p.values();
    let mut states = vec![vec![[0.0; 4]; 4]; 3];
    for t in 1..=steps {
        p.backward();
        optimizer.step(&mut p.g).unwrap();
        for k in 0..2 {
            for (i, theta) in reference[k].iter_mut().enumerate() {
                let grad = p.c[k][i] + *theta;
                *theta = rule(*theta, grad, &mut states[k][i], t);
            }
        }
        let got = p.values();
        for k in 0..3 {
            for (i, (a, b)) in got[k].iter().zip(&reference[k]).enumerate() {
                let tol = 1e-14 * b.abs().max(1.0);
                assert!(
                    (a - b).abs() <= tol,
                    "{name}, step {t}, {}[{i}]: {a} vs documented {b}",
                    p.params[k].0
                );
            }
        }
    }
    let state = optimizer.state();
    assert_eq!(state.params[0].step, steps);
    assert_eq!(state.params[2].step, 0, "{name}: a parameter without gradient is skipped");
    assert!(state.params[2].buffers.is_empty());
    assert_eq!(optimizer.steps(), steps);
}

fn params() -> Vec<(String, Var)> {
    Problem::new().params
}

#[test]
fn hand_computed_first_steps() {
    // L = Σ c⊙θ with θ = [1], c = [2]: the gradient is 2 at every step.
    let run = |config: OptimizerConfig, steps: usize| -> Vec<f64> {
        let mut g = Graph::<f64>::new();
        let theta = g.param("θ", Tensor::from_vec(&[1], vec![1.0]));
        let mut opt = config.build(vec![("θ".into(), theta)]).unwrap();
        (0..steps)
            .map(|_| {
                g.zero_grad();
                g.clear();
                let c = g.input(Tensor::from_vec(&[1], vec![2.0]));
                let l = g.mul(c, theta).unwrap();
                let l = g.sum(l).unwrap();
                g.backward(l).unwrap();
                opt.step(&mut g).unwrap();
                g.value(theta).unwrap().item()
            })
            .collect()
    };
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15);
    // SGD, lr 0.1, momentum 0.9: b = 2, θ = 0.8; b = 0.9·2 + 2 = 3.8, θ = 0.8 − 0.38 = 0.42.
    let sgd = run(OptimizerConfig::Sgd(SgdConfig { lr: 0.1, momentum: 0.9, ..SgdConfig::default() }), 2);
    assert!(close(&sgd, &[0.8, 0.42]), "{sgd:?}");
    // Nesterov: b = 2, step g + 0.9·b = 3.8, θ = 0.62; b = 3.8, step 2 + 3.42 = 5.42, θ = 0.078.
    let nesterov = run(
        OptimizerConfig::Sgd(SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, ..SgdConfig::default() }),
        2,
    );
    assert!(close(&nesterov, &[0.62, 0.078]), "{nesterov:?}");
    // Adam with a constant gradient: m̂ = 2, v̂ = 4 at every step, θ ← θ − 0.1·2/(2 + 1e-8).
    let adam = run(OptimizerConfig::Adam(AdamConfig { lr: 0.1, ..AdamConfig::default() }), 3);
    let s = 0.1 * 2.0 / (2.0 + 1e-8);
    assert!(close(&adam, &[1.0 - s, 1.0 - 2.0 * s, 1.0 - 3.0 * s]), "{adam:?}");
    // AdamW (λ = 0.01): θ ← θ·(1 − 0.001) first: 0.999 − s.
    let adamw = run(OptimizerConfig::AdamW(AdamWConfig { lr: 0.1, ..AdamWConfig::default() }), 1);
    assert!(close(&adamw, &[0.999 - s]), "{adamw:?}");
    // RMSprop (α = 0.99): v = 0.01·4 = 0.04, θ = 1 − 0.01·2/(0.2 + 1e-8).
    let rms = run(OptimizerConfig::RmsProp(RmsPropConfig::default()), 1);
    assert!(close(&rms, &[1.0 - 0.02 / (0.2 + 1e-8)]), "{rms:?}");
    // Adagrad (lr 0.1): s = 4, θ = 1 − 0.1·2/(2 + 1e-10); s = 8, θ −= 0.1·2/(√8 + 1e-10).
    let ada = run(OptimizerConfig::Adagrad(AdagradConfig { lr: 0.1, ..AdagradConfig::default() }), 2);
    let first = 1.0 - 0.2 / (2.0 + 1e-10);
    assert!(close(&ada, &[first, first - 0.2 / (8f64.sqrt() + 1e-10)]), "{ada:?}");
}

#[test]
fn sgd_follows_the_documented_rule() {
    for (momentum, dampening, nesterov, weight_decay) in [
        (0.0, 0.0, false, 0.0),
        (0.0, 0.0, false, 0.1),
        (0.9, 0.0, false, 0.0),
        (0.9, 0.3, false, 0.05),
        (0.8, 0.0, true, 0.02),
    ] {
        let config = SgdConfig { lr: 0.05, momentum, dampening, nesterov, weight_decay };
        let rule = move |theta: f64, g: f64, s: &mut [f64; 4], t: u64| {
            let mut g = g + weight_decay * theta;
            if momentum != 0.0 {
                s[0] = if t > 1 { momentum * s[0] + (1.0 - dampening) * g } else { g };
                g = if nesterov { g + momentum * s[0] } else { s[0] };
            }
            theta - 0.05 * g
        };
        check(OptimizerConfig::Sgd(config), &rule, 4);
    }
}

/// PyTorch's documentation writes AMSGrad as max(v̂ₘₐₓ, v̂ₜ) of the bias-corrected moment; its
/// implementation (what `torch.optim.Adam` computes, and what this crate matches) keeps the
/// maximum of the uncorrected `v` and divides it by √(1 − β₂ᵗ) of the current step.
fn adam_rule(
    lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
    amsgrad: bool,
    decoupled: bool,
) -> impl Fn(f64, f64, &mut [f64; 4], u64) -> f64 {
    move |theta: f64, g: f64, s: &mut [f64; 4], t: u64| {
        let (theta, g) = if decoupled { (theta * (1.0 - lr * wd), g) } else { (theta, g + wd * theta) };
        s[0] = b1 * s[0] + (1.0 - b1) * g;
        s[1] = b2 * s[1] + (1.0 - b2) * g * g;
        let m_hat = s[0] / (1.0 - b1.powi(t as i32));
        let second = if amsgrad {
            s[2] = s[2].max(s[1]);
            s[2]
        } else {
            s[1]
        };
        let v_hat = second / (1.0 - b2.powi(t as i32));
        theta - lr * m_hat / (v_hat.sqrt() + eps)
    }
}

#[test]
fn adam_and_adamw_follow_the_documented_rules() {
    for (weight_decay, amsgrad) in [(0.0, false), (0.1, false), (0.0, true), (0.05, true)] {
        let config = AdamConfig { lr: 0.01, betas: (0.8, 0.95), eps: 1e-6, weight_decay, amsgrad };
        let rule = adam_rule(0.01, 0.8, 0.95, 1e-6, weight_decay, amsgrad, false);
        check(OptimizerConfig::Adam(config), &rule, 5);
        let config = AdamWConfig {
            lr: 0.01,
            betas: (0.8, 0.95),
            eps: 1e-6,
            weight_decay: weight_decay + 0.01,
            amsgrad,
        };
        let rule = adam_rule(0.01, 0.8, 0.95, 1e-6, weight_decay + 0.01, amsgrad, true);
        check(OptimizerConfig::AdamW(config), &rule, 5);
    }
    let defaults = adam_rule(1e-3, 0.9, 0.999, 1e-8, 0.0, false, false);
    check(OptimizerConfig::Adam(AdamConfig::default()), &defaults, 3);
}

#[test]
fn rmsprop_follows_the_documented_rule() {
    for (momentum, centered, weight_decay) in
        [(0.0, false, 0.0), (0.9, false, 0.0), (0.0, true, 0.1), (0.5, true, 0.01)]
    {
        let config = RmsPropConfig { lr: 0.01, alpha: 0.9, eps: 1e-6, weight_decay, momentum, centered };
        let rule = move |theta: f64, g: f64, s: &mut [f64; 4], _t: u64| {
            let g = g + weight_decay * theta;
            s[0] = 0.9 * s[0] + 0.1 * g * g;
            let mut v = s[0];
            if centered {
                s[1] = 0.9 * s[1] + 0.1 * g;
                v -= s[1] * s[1];
            }
            let denom = v.sqrt() + 1e-6;
            if momentum > 0.0 {
                s[2] = momentum * s[2] + g / denom;
                theta - 0.01 * s[2]
            } else {
                theta - 0.01 * g / denom
            }
        };
        check(OptimizerConfig::RmsProp(config), &rule, 5);
    }
}

#[test]
fn adagrad_follows_the_documented_rule() {
    for (lr_decay, weight_decay, init) in [(0.0, 0.0, 0.0), (0.1, 0.0, 0.5), (0.05, 0.2, 0.1)] {
        let config =
            AdagradConfig { lr: 0.1, lr_decay, weight_decay, initial_accumulator_value: init, eps: 1e-10 };
        let rule = move |theta: f64, g: f64, s: &mut [f64; 4], t: u64| {
            if t == 1 {
                s[0] = init;
            }
            let clr = 0.1 / (1.0 + (t - 1) as f64 * lr_decay);
            let g = g + weight_decay * theta;
            s[0] += g * g;
            theta - clr * g / (s[0].sqrt() + 1e-10)
        };
        check(OptimizerConfig::Adagrad(config), &rule, 5);
    }
}

#[test]
fn state_export_and_import_continue_identically() {
    for config in [
        OptimizerConfig::Sgd(SgdConfig { lr: 0.1, momentum: 0.9, ..SgdConfig::default() }),
        OptimizerConfig::Adam(AdamConfig { amsgrad: true, ..AdamConfig::default() }),
        OptimizerConfig::AdamW(AdamWConfig::default()),
        OptimizerConfig::RmsProp(RmsPropConfig { momentum: 0.5, centered: true, ..RmsPropConfig::default() }),
        OptimizerConfig::Adagrad(AdagradConfig { lr_decay: 0.1, ..AdagradConfig::default() }),
    ] {
        let mut a = Problem::new();
        let mut opt_a = config.build(a.params.clone()).unwrap();
        for _ in 0..3 {
            a.backward();
            opt_a.step(&mut a.g).unwrap();
        }
        // A second run that stops after 3 steps and continues with a fresh optimizer.
        let mut b = Problem::new();
        let mut first = config.build(b.params.clone()).unwrap();
        for _ in 0..3 {
            b.backward();
            first.step(&mut b.g).unwrap();
        }
        let saved = first.state();
        let mut resumed = saved.config.build(b.params.clone()).unwrap();
        resumed.load_state(&b.g, &saved).unwrap();
        assert_eq!(resumed.state(), saved);
        for _ in 0..3 {
            a.backward();
            opt_a.step(&mut a.g).unwrap();
            b.backward();
            resumed.step(&mut b.g).unwrap();
        }
        assert_eq!(a.values(), b.values(), "{}", config.name());
    }
}

#[test]
fn loading_a_wrong_state_is_refused_with_reasons() {
    let mut p = Problem::new();
    let mut adam = Adam::new(p.params.clone(), AdamConfig::default()).unwrap();
    p.backward();
    adam.step(&mut p.g).unwrap();
    let mut sgd = Sgd::new(p.params.clone(), SgdConfig::default()).unwrap();
    let err = sgd.load_state(&p.g, &adam.state()).unwrap_err().to_string();
    assert_eq!(err, "SGD: cannot load the state of a adam optimizer");
    let mut state = adam.state();
    state.params[0].buffers[0].1 = Tensor::zeros(&[4]);
    let mut other = Adam::new(p.params.clone(), AdamConfig::default()).unwrap();
    let err = other.load_state(&p.g, &state).unwrap_err().to_string();
    assert_eq!(err, "Adam: parameter 'a': buffer 'exp_avg' has shape [4], the parameter [2, 2]");
    let mut fewer = Adam::new(p.params[..2].to_vec(), AdamConfig::default()).unwrap();
    let err = fewer.load_state(&p.g, &adam.state()).unwrap_err().to_string();
    assert_eq!(
        err,
        "Adam: the state is for parameters [\"a\", \"b\", \"frozen\"], this optimizer has [\"a\", \"b\"]"
    );
}

#[test]
fn invalid_hyperparameters_are_named() {
    let err = Sgd::<f64>::new(params(), SgdConfig { nesterov: true, ..SgdConfig::default() })
        .unwrap_err()
        .to_string();
    assert_eq!(err, "SGD: Nesterov momentum requires a momentum > 0 and zero dampening");
    let err = Adam::<f64>::new(params(), AdamConfig { betas: (0.9, 1.0), ..AdamConfig::default() })
        .unwrap_err()
        .to_string();
    assert_eq!(err, "Adam: beta2 must be in [0, 1), got 1");
    let err = RmsProp::<f64>::new(params(), RmsPropConfig { lr: -0.1, ..RmsPropConfig::default() })
        .unwrap_err()
        .to_string();
    assert_eq!(err, "RMSprop: lr must be a finite number >= 0, got -0.1");
    let err = Adagrad::<f64>::new(Vec::new(), AdagradConfig::default()).unwrap_err().to_string();
    assert_eq!(err, "Adagrad: the parameter list is empty");
    let p = params();
    let err =
        Sgd::<f64>::new(vec![p[0].clone(), p[0].clone()], SgdConfig::default()).unwrap_err().to_string();
    assert_eq!(err, "SGD: parameter name 'a' appears twice");
}

#[test]
fn f32_updates_round_like_the_f64_reference() {
    let mut g = Graph::<f32>::new();
    let w = g.param("w", Tensor::from_vec(&[3], vec![0.5_f32, -1.0, 2.0]));
    let mut adam =
        Adam::new(vec![("w".to_string(), w)], AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
    let mut reference = [0.5_f64, -1.0, 2.0];
    let mut state = [[0.0; 4]; 3];
    let rule = adam_rule(0.01, 0.9, 0.999, 1e-8, 0.0, false, false);
    for t in 1..=5 {
        g.zero_grad();
        g.clear();
        let sq = g.square(w).unwrap();
        let l = g.sum(sq).unwrap();
        g.backward(l).unwrap();
        adam.step(&mut g).unwrap();
        for (i, r) in reference.iter_mut().enumerate() {
            *r = rule(*r, 2.0 * *r, &mut state[i], t);
        }
    }
    for (a, b) in g.value(w).unwrap().as_slice().iter().zip(reference) {
        assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
    }
}

/// Data-parallel training's sharded step (ZeRO stage 1): ranks that each update their shard of
/// the parameters laid end to end, then exchange the updated values (and, for checkpoints,
/// the state), give the full step's values and state bit for bit, for every rule and for
/// shards that cut parameters anywhere (the 4 + 3 + 2 values: `frozen` has no gradient).
#[test]
fn shards_updated_apart_give_the_full_step_bit_for_bit() {
    for config in [
        OptimizerConfig::Sgd(SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, ..SgdConfig::default() }),
        OptimizerConfig::Adam(AdamConfig { amsgrad: true, weight_decay: 0.1, ..AdamConfig::default() }),
        OptimizerConfig::AdamW(AdamWConfig::default()),
        OptimizerConfig::RmsProp(RmsPropConfig { momentum: 0.5, centered: true, ..RmsPropConfig::default() }),
        OptimizerConfig::Adagrad(AdagradConfig { lr_decay: 0.1, ..AdagradConfig::default() }),
    ] {
        for cuts in [vec![0, 9], vec![0, 2, 9], vec![0, 4, 7, 9], vec![0, 1, 5, 6, 9]] {
            let mut full = Problem::new();
            let mut whole = config.build(full.params.clone()).unwrap();
            let mut ranks: Vec<(Problem, Box<dyn Optimizer<f64>>)> = cuts[1..]
                .iter()
                .map(|_| {
                    let p = Problem::new();
                    let o = config.build(p.params.clone()).unwrap();
                    (p, o)
                })
                .collect();
            assert!(whole.shardable());
            for step in 0..4 {
                full.backward();
                whole.step(&mut full.g).unwrap();
                for (r, (p, o)) in ranks.iter_mut().enumerate() {
                    p.backward();
                    o.step_shard(&mut p.g, cuts[r]..cuts[r + 1]).unwrap();
                }
                // The exchange: every rank takes each shard's values from the rank that owns it.
                let flat: Vec<Vec<f64>> = ranks.iter().map(|(p, _)| p.values().concat()).collect();
                let gathered: Vec<f64> =
                    (0..9).map(|i| flat[cuts.iter().rposition(|&c| c <= i).unwrap()][i]).collect();
                for (p, _) in &mut ranks {
                    let mut at = 0;
                    for (_, v) in p.params.clone() {
                        let value = p.g.param_value_mut(v).unwrap().as_mut_slice();
                        value.copy_from_slice(&gathered[at..at + value.len()]);
                        at += value.len();
                    }
                }
                let want: Vec<u64> = full.values().concat().iter().map(|v| v.to_bits()).collect();
                let got: Vec<u64> = gathered.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "{}, shards {cuts:?}, step {step}", config.name());
            }
            // The state the same way: each buffer's shards from their owners.
            let states: Vec<Vec<Vec<Option<Vec<f64>>>>> = ranks
                .iter_mut()
                .map(|(_, o)| {
                    let slices = o.state_slices();
                    slices
                        .into_iter()
                        .map(|k| k.into_iter().map(|b| b.map(|b| b.to_vec())).collect())
                        .collect()
                })
                .collect();
            let (_, first) = &mut ranks[0];
            for (kind, buffers) in first.state_slices().into_iter().enumerate() {
                let mut at = 0;
                for (param, buffer) in buffers.into_iter().enumerate() {
                    if let Some(buffer) = buffer {
                        for (i, v) in buffer.iter_mut().enumerate() {
                            let owner = cuts.iter().rposition(|&c| c <= at + i).unwrap();
                            *v = states[owner][kind][param].as_ref().unwrap()[i];
                        }
                    }
                    at += [4, 3, 2][param];
                }
            }
            assert_eq!(first.state(), whole.state(), "{}, shards {cuts:?}", config.name());
        }
    }
}
