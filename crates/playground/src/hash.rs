//! Reading a Playground URL or hash into a [`PlaygroundConfig`] (`State.deserializeState`).

use crate::activation::{Activation, Regularization};
use crate::config::{ClassifyDataset, PlaygroundConfig, Problem, RegressDataset, check_rate};
use crate::error::PlaygroundError;
use crate::features::InputFeature;

/// The fields `state.ts` knows, besides the `<control>_hide` switches.
const KNOWN_FIELDS: [&str; 27] = [
    "activation",
    "regularization",
    "batchSize",
    "dataset",
    "regDataset",
    "learningRate",
    "regularizationRate",
    "noise",
    "networkShape",
    "seed",
    "showTestData",
    "discretize",
    "percTrainData",
    "x",
    "y",
    "xTimesY",
    "xSquared",
    "ySquared",
    "cosX",
    "sinX",
    "cosY",
    "sinY",
    "collectStats",
    "tutorial",
    "problem",
    "initZero",
    "hideText",
];

/// The hash part of `input`: everything after the first `#` of a URL, the whole input
/// when it is a bare hash, and nothing for a URL without one.
fn hash_part(input: &str) -> &str {
    let input = input.trim();
    if let Some(at) = input.find('#') {
        &input[at + 1..]
    } else if input.contains("://") {
        ""
    } else {
        input
    }
}

/// The hash's `name -> value` pairs as the page reads them: split on `&`, then each on
/// `=`, keeping the text between the first and second `=`; a later duplicate wins and a
/// field without `=` has no value.
fn parse_pairs(hash: &str) -> Vec<(&str, Option<&str>)> {
    let mut pairs: Vec<(&str, Option<&str>)> = Vec::new();
    for keyvalue in hash.split('&') {
        let mut parts = keyvalue.split('=');
        let name = parts.next().unwrap_or("");
        let value = parts.next();
        if let Some(existing) = pairs.iter_mut().find(|(n, _)| *n == name) {
            existing.1 = value;
        } else {
            pairs.push((name, value));
        }
    }
    pairs
}

/// JavaScript's `Number(text)` (the page's `+value`): surrounding white space ignored,
/// empty text is 0, decimal literals with optional sign and exponent, `Infinity`, and
/// unsigned `0x`/`0o`/`0b` integers; anything else is NaN.
pub fn js_number(text: &str) -> f64 {
    let t = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
    if t.is_empty() {
        return 0.0;
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)] {
        if let Some(digits) = t.strip_prefix(prefix) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            return digits
                .chars()
                .fold(0.0, |acc, c| acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap()));
        }
    }
    if is_decimal_literal(t) { t.parse().unwrap_or(f64::NAN) } else { f64::NAN }
}

/// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`: the decimal literals
/// `Number()` accepts (Rust's parser also takes `inf`, `nan` and others, which JS does not).
fn is_decimal_literal(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// A number field: `Number(value)`, which must be finite and at least 0.
fn non_negative(field: &str, value: &str) -> Result<f64, PlaygroundError> {
    let v = js_number(value);
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(PlaygroundError::field(field, value, "expected a finite number >= 0"))
    }
}

/// A rate field: `Number(value)`, as [`check_rate`] allows it (0, or within f32's range).
fn rate(field: &str, value: &str) -> Result<f64, PlaygroundError> {
    let v = js_number(value);
    check_rate(field, v, value)?;
    Ok(v)
}

/// A count field: `Number(value)`, which must be a whole number of at least 1.
fn positive_integer(field: &str, value: &str, whole: &str) -> Result<usize, PlaygroundError> {
    let v = js_number(value);
    if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f64 {
        Ok(v as usize)
    } else {
        Err(PlaygroundError::field(field, whole, "expected positive integers"))
    }
}

/// A switch: `true` or `false`.
fn boolean(field: &str, value: &str) -> Result<bool, PlaygroundError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(PlaygroundError::field(field, value, "expected true or false")),
    }
}

/// The one of `options` whose `name` is `value`; the error lists the names.
fn choice<T: Copy>(
    field: &str,
    value: &str,
    options: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, PlaygroundError> {
    options.iter().copied().find(|&option| name(option) == value).ok_or_else(|| {
        let names: Vec<&str> = options.iter().map(|&option| name(option)).collect();
        PlaygroundError::field(field, value, format!("expected one of {}", names.join(", ")))
    })
}

impl PlaygroundConfig {
    /// Reads a Playground URL (`https://playground.tensorflow.org/#activation=tanh&...`) or
    /// just its hash (with or without the leading `#`). Fields are read as the page reads
    /// them; a missing or empty field keeps the page's default, an unknown one is listed in
    /// [`ignored_fields`](Self::ignored_fields), and a value the page could not use is an
    /// error naming the field and the value. Where the page would silently keep its default
    /// for an unknown name (`activation=foo`) this is an error too.
    ///
    /// ```
    /// use backprop_playground::{Activation, PlaygroundConfig};
    ///
    /// let c = PlaygroundConfig::from_url("#activation=relu&networkShape=3&seed=0.5").unwrap();
    /// assert_eq!((c.activation, c.network_shape.clone(), c.seed.as_deref()), (Activation::Relu, vec![3], Some("0.5")));
    /// let err = PlaygroundConfig::from_url("batchSize=ten").unwrap_err();
    /// assert_eq!(err.to_string(), "hash field `batchSize`: invalid value `ten`: expected positive integers");
    /// ```
    pub fn from_url(input: &str) -> Result<Self, PlaygroundError> {
        let mut config = PlaygroundConfig::default();
        let mut enabled: Vec<(InputFeature, bool)> = Vec::new();
        let mut perc_text = None;
        for (name, value) in parse_pairs(hash_part(input)) {
            if name.is_empty() && value.is_none() {
                continue;
            }
            if let Some(control) = name.strip_suffix("_hide") {
                // The page reads any `<name>_hide` field: true only for the exact text "true".
                if value == Some("true") && !config.hidden_controls.iter().any(|c| c == control) {
                    config.hidden_controls.push(control.to_string());
                }
                continue;
            }
            if !KNOWN_FIELDS.contains(&name) {
                config.ignored_fields.push(name.to_string());
                continue;
            }
            if name == "networkShape" {
                // The page reads this field whenever it is present, even when empty.
                let value = value.ok_or_else(|| {
                    PlaygroundError::field(name, "", "expected comma-separated layer sizes")
                })?;
                config.network_shape = if value.trim().is_empty() {
                    Vec::new()
                } else {
                    value.split(',').map(|n| positive_integer(name, n, value)).collect::<Result<_, _>>()?
                };
                continue;
            }
            let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            match name {
                "activation" => config.activation = choice(name, value, &Activation::ALL, Activation::name)?,
                "regularization" => {
                    config.regularization = choice(name, value, &Regularization::ALL, Regularization::name)?
                }
                "batchSize" => config.batch_size = positive_integer(name, value, value)?,
                "dataset" => {
                    config.dataset = choice(name, value, &ClassifyDataset::ALL, ClassifyDataset::name)?
                }
                "regDataset" => {
                    config.reg_dataset = choice(name, value, &RegressDataset::ALL, RegressDataset::name)?
                }
                "learningRate" => config.learning_rate = rate(name, value)?,
                "regularizationRate" => config.regularization_rate = rate(name, value)?,
                "noise" => config.noise = non_negative(name, value)?,
                "seed" => config.seed = Some(value.to_string()),
                "tutorial" => config.tutorial = Some(value.to_string()),
                "percTrainData" => {
                    let v = js_number(value);
                    if !v.is_finite() {
                        return Err(PlaygroundError::field(name, value, "expected a percentage"));
                    }
                    config.perc_train_data = v;
                    perc_text = Some(value);
                }
                "problem" => config.problem = choice(name, value, &Problem::ALL, Problem::name)?,
                "showTestData" => config.show_test_data = boolean(name, value)?,
                "discretize" => config.discretize = boolean(name, value)?,
                "cosX" => config.cos_x = boolean(name, value)?,
                "cosY" => config.cos_y = boolean(name, value)?,
                "collectStats" => config.collect_stats = boolean(name, value)?,
                "initZero" => config.init_zero = boolean(name, value)?,
                "hideText" => config.hide_text = boolean(name, value)?,
                feature => {
                    let feature =
                        InputFeature::from_name(feature).expect("the remaining known fields are features");
                    enabled.push((feature, boolean(name, value)?));
                }
            }
        }
        for (feature, on) in enabled {
            config.features.retain(|f| *f != feature);
            if on {
                config.features.push(feature);
            }
        }
        config.features = InputFeature::ALL.into_iter().filter(|f| config.features.contains(f)).collect();
        // Only the split can still be wrong; report it with the text as written.
        config.validate().map_err(|e| match e {
            PlaygroundError::InvalidField { field, reason, .. } if field == "percTrainData" => {
                PlaygroundError::InvalidField {
                    field,
                    value: perc_text.unwrap_or_default().to_string(),
                    reason,
                }
            }
            other => other,
        })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_number_accepts_what_javascript_accepts() {
        assert_eq!(js_number("0.03"), 0.03);
        assert_eq!(js_number(" 10 "), 10.0);
        assert_eq!(js_number(".5"), 0.5);
        assert_eq!(js_number("5."), 5.0);
        assert_eq!(js_number("1e-3"), 0.001);
        assert_eq!(js_number("-2"), -2.0);
        assert_eq!(js_number("0x1f"), 31.0);
        assert_eq!(js_number(""), 0.0);
        assert_eq!(js_number("Infinity"), f64::INFINITY);
        for bad in ["inf", "nan", "NaN", "1,5", "abc", "1e", "-0x10", ".", "+", "1_000"] {
            assert!(js_number(bad).is_nan(), "{bad}");
        }
    }

    #[test]
    fn url_hash_and_bare_hash_agree() {
        let url = "https://playground.tensorflow.org/#activation=sigmoid&batchSize=3&seed=abc";
        let a = PlaygroundConfig::from_url(url).unwrap();
        let b = PlaygroundConfig::from_url("#activation=sigmoid&batchSize=3&seed=abc").unwrap();
        let c = PlaygroundConfig::from_url("activation=sigmoid&batchSize=3&seed=abc").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!((a.activation, a.batch_size, a.seed.as_deref()), (Activation::Sigmoid, 3, Some("abc")));
        assert_eq!(
            PlaygroundConfig::from_url("https://playground.tensorflow.org/").unwrap(),
            Default::default()
        );
        assert_eq!(PlaygroundConfig::from_url("").unwrap(), Default::default());
    }

    #[test]
    fn every_training_field_is_read() {
        let c = PlaygroundConfig::from_url(
            "#activation=relu&regularization=L1&batchSize=7&dataset=spiral&regDataset=reg-gauss&learningRate=0.1\
             &regularizationRate=0.003&noise=15&networkShape=5,3,2&seed=xyz&percTrainData=70&x=false&y=true\
             &xSquared=true&ySquared=true&xTimesY=true&sinX=true&sinY=true&problem=regression&initZero=true",
        )
        .unwrap();
        assert_eq!(c.activation, Activation::Relu);
        assert_eq!(c.regularization, Regularization::L1);
        assert_eq!(c.batch_size, 7);
        assert_eq!(c.dataset, ClassifyDataset::Spiral);
        assert_eq!(c.reg_dataset, RegressDataset::Gaussian);
        assert_eq!((c.learning_rate, c.regularization_rate, c.noise), (0.1, 0.003, 15.0));
        assert_eq!(c.network_shape, [5, 3, 2]);
        assert_eq!(c.perc_train_data, 70.0);
        assert_eq!(c.features, &InputFeature::ALL[1..]);
        assert_eq!(c.problem, Problem::Regression);
        assert!(c.init_zero);
        assert_eq!(c.layer_sizes(), [6, 5, 3, 2, 1]);
    }

    #[test]
    fn a_page_hash_round_trips() {
        // The hash the page writes for its defaults with seed 0.12345 (playground_reference.json).
        let hash = "activation=tanh&regularization=none&batchSize=10&dataset=circle&regDataset=reg-plane\
                    &learningRate=0.03&regularizationRate=0&noise=0&networkShape=4,2&seed=0.12345&showTestData=false\
                    &discretize=false&percTrainData=50&x=true&y=true&xTimesY=false&xSquared=false&ySquared=false\
                    &cosX=false&sinX=false&cosY=false&sinY=false&collectStats=false&problem=classification\
                    &initZero=false&hideText=false";
        let config = PlaygroundConfig::from_url(&format!("#{hash}")).unwrap();
        assert_eq!(config.to_hash(), hash);
        assert_eq!(PlaygroundConfig::from_url(&config.to_hash()).unwrap(), config);
    }

    #[test]
    fn page_quirks_are_kept() {
        // Empty values keep defaults; an empty networkShape means no hidden layer; the
        // last duplicate wins; unknown fields are listed, `_hide` switches recorded.
        let c = PlaygroundConfig::from_url(
            "learningRate=&networkShape=&batchSize=4&batchSize=6&foo=1&x_hide=true",
        )
        .unwrap();
        assert_eq!(c.learning_rate, 0.03);
        assert!(c.network_shape.is_empty());
        assert_eq!(c.batch_size, 6);
        assert_eq!(c.ignored_fields, ["foo"]);
        assert_eq!(c.hidden_controls, ["x"]);
        assert_eq!(c.input_features(), [InputFeature::Y]);
        assert_eq!(c.layer_sizes(), [1, 1]);
    }

    #[test]
    fn invalid_values_name_the_field_and_value() {
        let cases = [
            (
                "activation=softmax",
                "hash field `activation`: invalid value `softmax`: expected one of relu, tanh, sigmoid, linear",
            ),
            (
                "regularization=l2",
                "hash field `regularization`: invalid value `l2`: expected one of none, L1, L2",
            ),
            (
                "dataset=moons",
                "hash field `dataset`: invalid value `moons`: expected one of circle, xor, gauss, spiral",
            ),
            (
                "problem=ranking",
                "hash field `problem`: invalid value `ranking`: expected one of classification, regression",
            ),
            (
                "learningRate=fast",
                "hash field `learningRate`: invalid value `fast`: expected a finite number >= 0",
            ),
            (
                "learningRate=1e-400",
                "hash field `learningRate`: invalid value `1e-400`: it rounds to 0 (or loses its precision) in f32, the arithmetic of backprop's engine; use 0 or a value from 1.1754944e-38 to 3.4028235e38",
            ),
            (
                "regularizationRate=1e39",
                "hash field `regularizationRate`: invalid value `1e39`: it overflows to infinity in f32, the arithmetic of backprop's engine; use 0 or a value from 1.1754944e-38 to 3.4028235e38",
            ),
            ("noise=-5", "hash field `noise`: invalid value `-5`: expected a finite number >= 0"),
            ("batchSize=2.5", "hash field `batchSize`: invalid value `2.5`: expected positive integers"),
            (
                "networkShape=4,0",
                "hash field `networkShape`: invalid value `4,0`: expected positive integers",
            ),
            (
                "networkShape",
                "hash field `networkShape`: invalid value ``: expected comma-separated layer sizes",
            ),
            ("x=yes", "hash field `x`: invalid value `yes`: expected true or false"),
            (
                "percTrainData=0",
                "hash field `percTrainData`: invalid value `0`: the 500 points must split into non-empty train and test sets",
            ),
        ];
        for (hash, message) in cases {
            assert_eq!(PlaygroundConfig::from_url(hash).unwrap_err().to_string(), message, "{hash}");
        }
    }
}
