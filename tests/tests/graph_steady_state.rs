//! A training loop's steady state allocates nothing: op outputs, gradients and inputs copied in
//! with `input_copy` all reuse the buffers that `clear` recycled from the step before.
//!
//! The file runs without libtest's harness (`harness = false`, see tests/Cargo.toml): the global
//! allocation counter sees every thread, and the harness's own thread allocates while the test
//! runs (its bookkeeping of running tests), which once counted 4 allocations in CI.

use backprop_autograd::{Graph, Var};
use backprop_tensor::Tensor;
use backprop_tests::{CountingAllocator, allocations};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// One step of a 3-8-2 tanh/sigmoid network with a squared error, and plain SGD; the second
/// layer adds its bias with a broadcasting `add`.
/// With `hooked`, backward is `backward_with` and its hook sums the finished gradients (as
/// data-parallel training copies them out).
fn step(g: &mut Graph<f64>, params: &[Var; 4], x: &Tensor<f64>, y: &Tensor<f64>, hooked: bool) -> f64 {
    let [w1, b1, w2, b2] = *params;
    let x = g.input_copy(x);
    let y = g.input_copy(y);
    let z1 = g.affine(x, w1, b1).unwrap();
    let h = g.tanh(z1).unwrap();
    let hw = g.matmul(h, w2).unwrap();
    let z2 = g.add(hw, b2).unwrap();
    let p = g.sigmoid(z2).unwrap();
    let r = g.relu(p).unwrap();
    let e = g.sub(r, y).unwrap();
    let s = g.square(e).unwrap();
    let loss = g.mean(s).unwrap();
    if hooked {
        let mut seen = 0.0;
        g.backward_with(loss, |g, p| {
            seen += g.grad_opt(p)?.map_or(0.0, |t| t.as_slice().iter().sum());
            Ok::<_, backprop_autograd::AutogradError>(())
        })
        .unwrap();
        assert!(seen.is_finite());
    } else {
        g.backward(loss).unwrap();
    }
    let value = g.value(loss).unwrap().item();
    for &w in params {
        let (value, grad) = g.param_mut_with_grad(w).unwrap();
        let grad = grad.expect("every parameter reaches the loss");
        for (v, &d) in value.as_mut_slice().iter_mut().zip(grad.as_slice()) {
            *v -= 0.5 * d;
        }
    }
    g.zero_grad();
    g.clear();
    value
}

fn training_steps_after_the_first_allocate_nothing(hooked: bool) {
    let mut g = Graph::<f64>::new();
    let init = |shape: &[usize], scale: f64| {
        Tensor::from_shape_fn(shape, |i| ((i.iter().sum::<usize>() * 7 % 5) as f64 - 2.0) * scale)
    };
    let params = [
        g.param("w1", init(&[3, 8], 0.3)),
        g.param("b1", init(&[8], 0.1)),
        g.param("w2", init(&[8, 2], 0.3)),
        g.param("b2", init(&[2], 0.1)),
    ];
    let x = Tensor::from_shape_fn(&[16, 3], |i| ((i[0] * 3 + i[1]) % 7) as f64 / 7.0 - 0.5);
    let y = Tensor::from_shape_fn(&[16, 2], |i| ((i[0] + i[1]) % 2) as f64);

    let first = step(&mut g, &params, &x, &y, hooked);
    for _ in 0..2 {
        step(&mut g, &params, &x, &y, hooked);
    }
    let before = allocations();
    let mut last = first;
    for _ in 0..20 {
        last = step(&mut g, &params, &x, &y, hooked);
    }
    let allocations = allocations() - before;
    assert_eq!(allocations, 0, "20 steady-state steps (hooked: {hooked}) allocated {allocations} times");
    assert!(last < first, "the loss went down: {first} -> {last}");
}

fn main() {
    training_steps_after_the_first_allocate_nothing(false);
    println!("graph_steady_state: training_steps_after_the_first_allocate_nothing ... ok");
    training_steps_after_the_first_allocate_nothing(true);
    println!("graph_steady_state: backward_with_steps_after_the_first_allocate_nothing ... ok");
}
