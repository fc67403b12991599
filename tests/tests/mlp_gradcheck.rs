//! Random multilayer perceptrons, one property per loss: 0 to 4 hidden layers of widths 1 to 16,
//! any mix of activations (identity, sigmoid, tanh, ReLU, leaky ReLU, softmax) after the hidden
//! layers and sometimes after the output, with or without biases, PyTorch, Xavier or He
//! initialisation, dropout with fixed masks, mean or sum reduction, an optional L1 or L2
//! penalty. The gradient of the loss with respect to every parameter element and every input
//! element must match central finite differences in `f64` (error ≤ 1e-6).
//!
//! A network's own values can come near a kink (a ReLU input near 0, a hinge margin near 1):
//! a case where moving one element by ±eps crosses a kink is discarded, not compared.

use backprop_nn::{Loss, Module};
use backprop_tests::{NetCase, NetOptions, check_model_gradients, config, net_case};
use proptest::prelude::*;

fn check(case: &NetCase) -> Result<(), TestCaseError> {
    let (mut g, model) = case.build::<f64>();
    let params = model.parameters();
    let mut objective = case.objective(&model);
    let report = check_model_gradients(&mut g, &params, &case.x, &mut objective)
        .map_err(|e| e.into_test_case_error(&format!("{case:#?}")))?;
    let elements = params.iter().map(|(_, p)| g.value(*p).unwrap().len()).sum::<usize>() + case.x.len();
    prop_assert_eq!(report.checked, elements, "every parameter and input element is compared");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mlp_with_mse(case in net_case(Loss::Mse, NetOptions::ALL)) {
        check(&case)?;
    }

    #[test]
    fn mlp_with_bce_with_logits(case in net_case(Loss::BceWithLogits, NetOptions::ALL)) {
        check(&case)?;
    }

    #[test]
    fn mlp_with_logistic_pm1(case in net_case(Loss::LogisticPm1, NetOptions::ALL)) {
        check(&case)?;
    }

    #[test]
    fn mlp_with_hinge(case in net_case(Loss::Hinge, NetOptions::ALL)) {
        check(&case)?;
    }

    #[test]
    fn mlp_with_cross_entropy(case in net_case(Loss::CrossEntropy, NetOptions::ALL)) {
        check(&case)?;
    }

    #[test]
    fn mlp_with_multi_margin(case in net_case(Loss::MultiMargin, NetOptions::ALL)) {
        check(&case)?;
    }
}

/// The properties above name every loss.
#[test]
fn every_loss_has_a_network_property() {
    let source = include_str!("mlp_gradcheck.rs");
    for loss in Loss::ALL {
        assert!(source.contains(&format!("fn mlp_with_{}(", loss.name())), "no property for {loss}");
    }
}
