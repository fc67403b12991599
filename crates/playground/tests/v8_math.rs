//! `jsmath` against `Math.*` as Node 20's V8 computes it (tests/data/v8_math_reference.json),
//! bit for bit, including the inputs where `libm` and glibc differ from V8.

use backprop_playground::jsmath;

mod common;
use common::load;

fn bits(v: &serde_json::Value) -> f64 {
    f64::from_bits(u64::from_str_radix(v.as_str().unwrap(), 16).unwrap())
}

#[test]
fn math_functions_match_v8_bit_for_bit() {
    let data = load("v8_math_reference.json");
    type MathFn = fn(f64) -> f64;
    let functions: [(&str, MathFn); 5] = [
        ("sin", jsmath::sin),
        ("cos", jsmath::cos),
        ("tanh", jsmath::tanh),
        ("exp", jsmath::exp),
        ("log", jsmath::log),
    ];
    for (name, f) in functions {
        let cases = data["cases"][name].as_array().unwrap();
        assert!(cases.len() > 150, "{name}");
        for pair in cases {
            let (x, expected) = (bits(&pair[0]), bits(&pair[1]));
            let got = f(x);
            let same = got.to_bits() == expected.to_bits() || (got.is_nan() && expected.is_nan());
            assert!(same, "{name}({x:e}) = {got:e}, V8 gives {expected:e}");
        }
    }
}

#[test]
fn libm_alone_would_not_match_v8() {
    // Why jsmath exists: the musl-derived libm differs from V8 on some of these inputs.
    let data = load("v8_math_reference.json");
    let differs = |name: &str, f: fn(f64) -> f64| {
        data["cases"][name]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| f(bits(&p[0])).to_bits() != bits(&p[1]).to_bits())
    };
    assert!(differs("tanh", libm::tanh) || differs("log", libm::log) || differs("sin", libm::sin));
}
