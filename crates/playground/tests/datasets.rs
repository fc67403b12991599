//! The data generators and the shuffle against `dataset.ts` run under Node
//! (tests/data/playground_datasets.json): every point, bit for bit, and the number of draws.

use backprop_playground::{
    Arc4Random, Example, classify_circle_data, classify_spiral_data, classify_two_gauss_data,
    classify_xor_data, regress_gaussian, regress_plane, shuffle,
};
use serde_json::Value;

mod common;
use common::{int, load, num as exact};

fn points(v: &Value) -> Vec<[f64; 3]> {
    v.as_array().unwrap().iter().map(|p| [exact(&p[0]), exact(&p[1]), exact(&p[2])]).collect()
}

fn as_triples(examples: &[Example]) -> Vec<[f64; 3]> {
    examples.iter().map(|e| [e.x, e.y, e.label]).collect()
}

/// Bit equality, except that JSON writes -0 as 0.
fn same(got: f64, expected: f64) -> bool {
    got.to_bits() == expected.to_bits() || (expected == 0.0 && got == 0.0)
}

#[test]
fn generators_and_shuffle_match_the_page() {
    let data = load("playground_datasets.json");
    let cases = data["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 18);
    for case in cases {
        let name = case["generator"].as_str().unwrap();
        let seed = case["seed"].as_str().unwrap();
        let num = int(&case["num_samples"]);
        let noise = exact(&case["noise"]);
        let generator = match name {
            "circle" => classify_circle_data,
            "xor" => classify_xor_data,
            "gauss" => classify_two_gauss_data,
            "spiral" => classify_spiral_data,
            "reg-plane" => regress_plane,
            "reg-gauss" => regress_gaussian,
            other => panic!("unknown generator {other}"),
        };
        let mut rng = Arc4Random::new(seed);
        let mut generated = generator(num, noise, &mut rng);
        let expected = points(&case["points"]);
        let got = as_triples(&generated);
        assert_eq!(got.len(), expected.len(), "{seed}");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            for k in 0..3 {
                assert!(same(g[k], e[k]), "{seed}: point {i} coordinate {k}: {} vs {}", g[k], e[k]);
            }
        }
        shuffle(&mut generated, &mut rng);
        let shuffled = points(&case["shuffled"]);
        assert!(
            as_triples(&generated).iter().flatten().zip(shuffled.iter().flatten()).all(|(g, e)| same(*g, *e))
        );
        assert_eq!(rng.next_f64(), exact(&case["next_random"]), "{seed}: draws consumed");
    }
}
