//! The crate's error type.

/// Everything that can go wrong when reading a Playground URL or building a run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaygroundError {
    /// A URL hash field whose value the Playground cannot use.
    #[error("hash field `{field}`: invalid value `{value}`: {reason}")]
    InvalidField {
        /// The field's name as written in the hash, e.g. `learningRate`.
        field: String,
        /// The offending value, as written in the hash.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
    /// A network that cannot be built: no output layer, an empty layer, or input names
    /// that do not match the input layer.
    #[error("network shape {shape:?}: {reason}")]
    Shape {
        /// The layer sizes, input layer first.
        shape: Vec<usize>,
        /// What is wrong with them.
        reason: String,
    },
    /// A forward pass given the wrong number of inputs.
    #[error("forward pass: the network has {expected} inputs but was given {got}")]
    InputCount {
        /// Number of input nodes.
        expected: usize,
        /// Number of values passed.
        got: usize,
    },
}

impl PlaygroundError {
    /// An [`InvalidField`](PlaygroundError::InvalidField) error.
    pub fn field(field: &str, value: &str, reason: impl Into<String>) -> Self {
        PlaygroundError::InvalidField {
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_and_value() {
        let err = PlaygroundError::field("batchSize", "0", "expected a positive integer");
        assert_eq!(err.to_string(), "hash field `batchSize`: invalid value `0`: expected a positive integer");
        let err = PlaygroundError::InputCount { expected: 2, got: 3 };
        assert_eq!(err.to_string(), "forward pass: the network has 2 inputs but was given 3");
    }
}
