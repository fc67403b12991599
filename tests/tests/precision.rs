//! `f32` and `f64` agree to `f32` precision on the same network: outputs, loss, and the
//! gradients of every parameter and of the input, for random MLPs with every loss.
//!
//! Both graphs hold exactly the same numbers: the `f32` initial values, batch and targets, cast
//! to `f64` (exactly) for the reference. What differs is only the arithmetic, so any difference
//! beyond rounding is a bug of one element type's code path (a constant converted wrongly, an
//! accumulation in the wrong type, a kernel of the wrong precision).

use backprop_nn::{Loss, Module};
use backprop_tests::{NetCase, NetOptions, Objective, config, max_difference, max_difference_all, net_case};
use proptest::prelude::*;

/// The largest accepted `|a₃₂ − a₆₄| / max(1, |a₃₂|, |a₆₄|)`: 512 units in the last place of an
/// `f32` near 1 (about 6e-5). Rounding errors add up over sums of up to 16 terms in each of up
/// to 5 layers, forward and backward; the worst seen over 6000 random networks is about 1e-5.
const F32_TOL: f64 = 512.0 * f32::EPSILON as f64;

/// A kink indicator (ReLU input, hinge margin, penalised weight) nearer 0 than this may fall on
/// different sides in `f32` and `f64`, which then take different slopes: such cases are
/// discarded. Exact zeros (a dead row times a zero bias) are 0 in both and are kept.
const KINK_DISTANCE: f64 = 1e-4;

fn agree(case: &NetCase) -> Result<(), TestCaseError> {
    let (mut g32, mut model32) = case.build::<f32>();
    let (mut g64, mut model64) = case.build::<f64>();
    for ((_, p32), (_, p64)) in model32.parameters().iter().zip(model64.parameters()) {
        let value = g32.value(*p32).unwrap().cast::<f64>();
        g64.param_value_mut(p64).unwrap().try_assign(&value).unwrap();
    }
    let (x32, t32) = (case.x.cast::<f32>(), case.targets.cast::<f32>());
    let (x64, t64) = (x32.cast::<f64>(), t32.cast::<f64>());

    let rounded = NetCase { x: x64.clone(), targets: t64.clone(), ..case.clone() };
    let kinks = rounded.objective(&model64).kinks(&mut g64, &x64).unwrap();
    g64.clear();
    prop_assume!(!kinks.iter().any(|k| *k != 0.0 && k.abs() < KINK_DISTANCE), "near a kink");

    let single = case.evaluate(&mut g32, &mut model32, &x32, &t32).unwrap();
    let double = case.evaluate(&mut g64, &mut model64, &x64, &t64).unwrap();
    let outputs = max_difference(&single.outputs, &double.outputs);
    prop_assert!(outputs <= F32_TOL, "outputs differ by {:e}", outputs);
    let loss = backprop_autograd::gradcheck_error(f64::from(single.loss), double.loss);
    prop_assert!(loss <= F32_TOL, "losses {} and {} differ by {:e}", single.loss, double.loss, loss);
    let (params, worst) = max_difference_all(&single.param_grads, &double.param_grads);
    prop_assert!(params <= F32_TOL, "gradients of parameter {} differ by {:e}", worst, params);
    let input = max_difference(&single.input_grad, &double.input_grad);
    prop_assert!(input <= F32_TOL, "input gradients differ by {:e}", input);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn f32_and_f64_agree(
        case in prop::sample::select(Loss::ALL.to_vec()).prop_flat_map(|loss| net_case(loss, NetOptions::ALL))
    ) {
        agree(&case)?;
    }
}
