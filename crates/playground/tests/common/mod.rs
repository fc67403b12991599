//! Reading the reference files of tests/data exactly.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use serde_json::Value;

/// Reads a reference file with every number turned into a string first: serde_json's
/// default float parser may be off by an ulp, Rust's `str::parse` is exact.
pub fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&quote_numbers(&text)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Wraps every JSON number token (outside string literals) in quotes.
fn quote_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            out.push(c);
            while let Some(s) = chars.next() {
                out.push(s);
                match s {
                    '\\' => out.push(chars.next().expect("escape")),
                    '"' => break,
                    _ => {}
                }
            }
        } else if c == '-' || c.is_ascii_digit() {
            out.push('"');
            out.push(c);
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-') {
                    out.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push('"');
        } else {
            out.push(c);
        }
    }
    out
}

/// A number of the reference file, parsed exactly.
pub fn num(v: &Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A count of the reference file.
pub fn int(v: &Value) -> usize {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a count: {v}"))
}
