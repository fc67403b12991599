//! The command's error type: every failure is one line on stderr and an exit code.

use std::path::{Path, PathBuf};

use backprop_data::DataError;
use backprop_nn::NnError;
use backprop_optim::OptimError;
use backprop_playground::PlaygroundError;

/// Exit code of a usage error: a flag, a value or a combination that cannot work.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a runtime error: unreadable input, a model that does not fit, divergence.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code of a run stopped by SIGINT (128 + 2, as a shell reports it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a command failed. Its `Display` is the whole message, on one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag value or a combination of flags that cannot work (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// Reading or preparing data failed (the message names file, line and column).
    #[error(transparent)]
    Data(#[from] DataError),
    /// Building, running, saving or loading a model failed.
    #[error(transparent)]
    Nn(#[from] NnError),
    /// A graph operation failed.
    #[error(transparent)]
    Autograd(#[from] backprop_autograd::AutogradError),
    /// An optimizer or a checkpoint failed.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// Training failed (other than by divergence, which is [`CliError::Diverged`]).
    #[error(transparent)]
    Train(#[from] backprop_train::TrainError),
    /// A Playground URL or run that cannot be used (the message names the hash field).
    #[error(transparent)]
    Playground(#[from] PlaygroundError),
    /// The loss or a gradient stopped being a finite number.
    #[error("training diverged at epoch {epoch}, step {step}: {what}; {remedy}{kept}")]
    Diverged {
        /// The epoch being trained (1-based) or evaluated.
        epoch: usize,
        /// The optimizer step (1-based, counted over the whole run).
        step: u64,
        /// What became non-finite.
        what: String,
        /// What to change: the learning rate, or the regularisation rate when it is to blame.
        remedy: String,
        /// Where the last good checkpoint is, when one was written (starts with `; `).
        kept: String,
    },
    /// A file that could not be read or written, or a model that does not fit the data.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// SIGINT or SIGTERM stopped training after a step; the message says what was saved.
    #[error("{0}")]
    Interrupted(String),
    /// Anything else that went wrong while running.
    #[error("{0}")]
    Runtime(String),
}

/// A file that could not be written (or read) as a model-file error says it.
impl From<backprop_nn::ModelFileError> for CliError {
    fn from(e: backprop_nn::ModelFileError) -> Self {
        CliError::Nn(NnError::from(e))
    }
}

impl CliError {
    /// A usage error with this message.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// An error about `path`.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        CliError::File { path: path.to_path_buf(), message: message.into() }
    }

    /// The process exit code: 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Playground(PlaygroundError::InvalidField { .. }) => EXIT_USAGE,
            CliError::Interrupted(_) => EXIT_INTERRUPTED,
            _ => EXIT_RUNTIME,
        }
    }

    /// The message on one line: line breaks and other control characters (which a CSV cell
    /// quoted in an error may hold) are written as escapes.
    pub fn one_line(&self) -> String {
        one_line(&self.to_string())
    }
}

/// `text` with control characters escaped (`\n`, `\r`, `\t`, `\u{1b}`), so it fits on one line.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A number for a message: plain when it reads well (`0.01`, `250`), in scientific notation
/// when it is huge or tiny (`1e300`, not three hundred digits).
pub fn number<T: backprop_tensor::Float>(v: T) -> String {
    let x = v.to_f64();
    if x != 0.0 && x.is_finite() && !(1e-5..1e9).contains(&x.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Result of a command.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_one_line_messages() {
        assert_eq!(CliError::usage("--lr must be > 0").exit_code(), 2);
        let field = PlaygroundError::field("batchSize", "0", "expected a positive integer");
        assert_eq!(CliError::from(field).exit_code(), 2);
        let err = CliError::file(Path::new("m.safetensors"), "no such file");
        assert_eq!((err.exit_code(), err.to_string()), (1, "m.safetensors: no such file".to_string()));
        let diverged = CliError::Diverged {
            epoch: 3,
            step: 41,
            what: "the loss is NaN".into(),
            remedy: "try a lower learning rate, e.g. --lr 0.1".into(),
            kept: "; the last good checkpoint (epoch 2) is in c.safetensors".into(),
        };
        assert_eq!(
            diverged.to_string(),
            "training diverged at epoch 3, step 41: the loss is NaN; try a lower learning rate, e.g. --lr 0.1; \
             the last good checkpoint (epoch 2) is in c.safetensors"
        );
        assert_eq!(
            [
                number(0.01),
                number(250.0),
                number(1e300),
                number(-3e38),
                number(1e-7),
                number(0.0),
                number(f64::INFINITY)
            ],
            ["0.01", "250", "1e300", "-3e38", "1e-7", "0", "inf"]
        );
        assert_eq!(
            [number(0.5119275_f32), number(-1.3801966e37_f32), number(f32::MIN_POSITIVE)],
            ["0.5119275", "-1.3801966e37", "1.1754944e-38"]
        );
        let cell = CliError::Runtime("bad.csv:2: column 'a' (1): '1\n2' is not a number".into());
        assert_eq!(cell.one_line(), "bad.csv:2: column 'a' (1): '1\\n2' is not a number");
    }
}
