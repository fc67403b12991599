//! The seven input features of `playground.ts`'s `INPUTS`, in its order.

use crate::jsmath;

/// One of the Playground's input features. The page's `cosX`/`cosY` switches exist in its
/// state but not in `INPUTS`, so they never feed the network and have no variant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFeature {
    /// X_1.
    X,
    /// X_2.
    Y,
    /// X_1².
    XSquared,
    /// X_2².
    YSquared,
    /// X_1 X_2.
    XTimesY,
    /// sin(X_1).
    SinX,
    /// sin(X_2).
    SinY,
}

impl InputFeature {
    /// All features in `INPUTS` order: the order of the network's input nodes.
    pub const ALL: [InputFeature; 7] = [
        InputFeature::X,
        InputFeature::Y,
        InputFeature::XSquared,
        InputFeature::YSquared,
        InputFeature::XTimesY,
        InputFeature::SinX,
        InputFeature::SinY,
    ];

    /// The name used in the URL hash and as the input node's id (`x`, `xSquared`, ...).
    pub fn name(self) -> &'static str {
        match self {
            InputFeature::X => "x",
            InputFeature::Y => "y",
            InputFeature::XSquared => "xSquared",
            InputFeature::YSquared => "ySquared",
            InputFeature::XTimesY => "xTimesY",
            InputFeature::SinX => "sinX",
            InputFeature::SinY => "sinY",
        }
    }

    /// The feature whose hash name is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The page's label for the feature, in its TeX-like notation (`X_1^2`, `sin(X_1)`).
    pub fn label(self) -> &'static str {
        match self {
            InputFeature::X => "X_1",
            InputFeature::Y => "X_2",
            InputFeature::XSquared => "X_1^2",
            InputFeature::YSquared => "X_2^2",
            InputFeature::XTimesY => "X_1X_2",
            InputFeature::SinX => "sin(X_1)",
            InputFeature::SinY => "sin(X_2)",
        }
    }

    /// The feature's value at the point (x, y), as `INPUTS[name].f(x, y)`.
    pub fn value(self, x: f64, y: f64) -> f64 {
        match self {
            InputFeature::X => x,
            InputFeature::Y => y,
            InputFeature::XSquared => x * x,
            InputFeature::YSquared => y * y,
            InputFeature::XTimesY => x * y,
            InputFeature::SinX => jsmath::sin(x),
            InputFeature::SinY => jsmath::sin(y),
        }
    }
}

/// `constructInput(x, y)`: the values of `features` at (x, y), written into `out`.
pub fn construct_input(features: &[InputFeature], x: f64, y: f64, out: &mut Vec<f64>) {
    out.clear();
    out.extend(features.iter().map(|f| f.value(x, y)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_inputs_order() {
        let names: Vec<_> = InputFeature::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["x", "y", "xSquared", "ySquared", "xTimesY", "sinX", "sinY"]);
        for f in InputFeature::ALL {
            assert_eq!(InputFeature::from_name(f.name()), Some(f));
        }
        assert_eq!(InputFeature::from_name("cosX"), None);
    }

    #[test]
    fn values_at_a_point() {
        let mut out = Vec::new();
        construct_input(&InputFeature::ALL, 2.0, -3.0, &mut out);
        assert_eq!(out[..5], [2.0, -3.0, 4.0, 9.0, -6.0]);
        assert!((out[5] - 2f64.sin()).abs() < 1e-15 && (out[6] - (-3f64).sin()).abs() < 1e-15);
    }
}
