//! Inputs the `playground_url` fuzz target (`fuzz/`) found or guards against, kept as tests.

use backprop_playground::{Activation, Arc4Random, Network, Playground, PlaygroundConfig, Regularization};

/// `networkShape=100000,100000` asked for 10^10 links (about 1.5 TB): the run exhausted
/// memory instead of refusing the URL. It is now an error naming the field, before anything
/// is allocated.
#[test]
fn a_huge_network_shape_is_refused_before_allocating() {
    let err = PlaygroundConfig::from_url("networkShape=100000,100000").unwrap_err();
    assert_eq!(
        err.to_string(),
        "hash field `networkShape`: invalid value `100000,100000`: the network would have 10000500001 \
         weights and biases, more than the 1000000 allowed"
    );
    // Layer sizes at the limit of what a URL may hold, and the product overflowing usize.
    let err = PlaygroundConfig::from_url("networkShape=4294967295,4294967295,4294967295").unwrap_err();
    assert!(err.to_string().contains(&format!("{} weights and biases", usize::MAX)), "{err}");
    // With no input the neurons still cost: each has a bias, and a link to the output.
    let err = PlaygroundConfig::from_url("x=false&y=false&networkShape=4000000000").unwrap_err();
    assert!(err.to_string().contains("8000000001 weights and biases"), "{err}");
}

#[test]
fn a_hand_built_configuration_is_checked_too() {
    let config = PlaygroundConfig { network_shape: vec![2000, 2000], ..Default::default() };
    let err = Playground::new(&config).unwrap_err();
    assert!(err.to_string().starts_with("hash field `networkShape`: invalid value `2000,2000`"), "{err}");
    let err = Network::build(
        &[2, 1_000_000, 1],
        Activation::Tanh,
        Activation::Tanh,
        Regularization::None,
        &["x", "y"],
        false,
        &mut Arc4Random::new("big"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "network shape [2, 1000000, 1]: 4000001 weights and biases, more than the 1000000 a network may have"
    );
}

#[test]
fn the_parameter_count_is_weights_plus_biases() {
    // The page's default network: 2 inputs, 4 and 2 hidden neurons, 1 output.
    assert_eq!(Network::parameter_count(&[2, 4, 2, 1]), 4 * 3 + 2 * 5 + 3);
    assert_eq!(Network::parameter_count(&[3]), 0);
    assert_eq!(Network::parameter_count(&[usize::MAX, 2]), usize::MAX);
    // Exactly at the limit is allowed: 1 input, h hidden neurons, 1 output have 3h + 1.
    let hidden = (Network::MAX_PARAMETERS - 1) / 3;
    let shape = [1, hidden, 1];
    assert_eq!(Network::parameter_count(&shape), Network::MAX_PARAMETERS);
    let config = PlaygroundConfig {
        network_shape: vec![hidden],
        features: vec![backprop_playground::InputFeature::X],
        ..Default::default()
    };
    assert_eq!(config.layer_sizes(), shape);
    assert!(config.validate().is_ok());
    let too_big = PlaygroundConfig { network_shape: vec![hidden + 1], ..config };
    assert!(too_big.validate().is_err());
}
