//! Fuzzes `backprop_playground::PlaygroundConfig::from_url`: any text is a configuration or
//! an error naming the field, never a panic. An accepted configuration round-trips through
//! `to_hash`, has at most `Network::MAX_PARAMETERS` weights and biases (so nothing it leads to
//! allocates without bound), and, when small enough to keep the fuzzer fast, starts a run
//! (`Playground::new`) that trains two epochs and draws a small heat map.

#![no_main]

use backprop_playground::{Network, Playground, PlaygroundConfig};
use libfuzzer_sys::fuzz_target;

/// Runs are started for networks up to this many parameters: a run costs a few thousand network
/// passes, so larger ones would slow the fuzzer down without reaching new code.
const RUN_LIMIT: usize = 5_000;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let mut config = match PlaygroundConfig::from_url(url) {
        Ok(config) => config,
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with("hash field `"), "the error does not name a field: {message}");
            return;
        }
    };
    let reread = PlaygroundConfig::from_url(&format!("#{}", config.to_hash())).expect("to_hash reads back");
    let unknown = std::mem::take(&mut config.ignored_fields);
    assert_eq!(reread, config, "the configuration does not round-trip through to_hash");
    config.ignored_fields = unknown;

    let parameters = Network::parameter_count(&config.layer_sizes());
    assert!(parameters <= Network::MAX_PARAMETERS, "a network of {parameters} parameters was accepted");
    if parameters > RUN_LIMIT {
        return;
    }
    // Without a seed a run draws a fresh one from the clock; fix it so crashes reproduce.
    config.seed.get_or_insert_with(|| "fuzz".to_string());
    let mut run = Playground::new(&config).expect("a configuration from_url accepted starts a run");
    let history = run.run(2);
    assert_eq!(history.len(), 3);
    let grid = run.heatmap(4);
    assert_eq!((grid.len(), grid[0].len()), (4, 4));
});
