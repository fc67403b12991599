//! `backprop`: train, evaluate and use small neural networks on the CPU.
//!
//! ```text
//! backprop train --dataset NAME | --csv FILE --target COL [options]   train an MLP
//! backprop eval --model FILE (--dataset NAME | --csv FILE)            loss and accuracy
//! backprop predict --model FILE --csv IN [--out OUT]                  predictions per row
//! backprop export --model FILE --onnx OUT                             the model as ONNX
//! backprop playground --url URL [--epochs N]                          replay a Playground URL
//! backprop serve [--port 8080] [--open]                               the Playground in the browser
//! ```
//!
//! Every failure is one line on stderr, `error: ...`, with exit code 2 for usage errors (flags,
//! values, combinations) and 1 for runtime errors (files, data, divergence).

#![warn(missing_docs)]

mod address_space;
mod args;
mod data_source;
mod distributed;
mod error;
mod eval;
mod export;
mod image_plot;
mod info;
mod init;
mod model;
mod outputs;
mod playground;
mod plot;
mod predict;
mod report;
mod serve;
mod summary;
mod surface;
mod train;

use std::process::ExitCode;

use backprop_tensor::set_num_threads;

use crate::error::{CliError, Result};

/// The element type of training (PyTorch's default).
pub type F = f32;

use clap::Parser;
use clap::error::ErrorKind;

use crate::args::{Cli, Command};
use crate::error::{EXIT_USAGE, one_line};

/// Sets the thread count of BLAS and the kernels: `n`, or by default every core (fewer under an
/// address-space limit: [`address_space::default_threads`]). More threads than cores only
/// compete for them (and each costs a stack), so `n` is capped at the cores, with a warning.
///
/// # Errors
/// When the thread pools cannot be sized, or their threads cannot be started (a limit on
/// processes or on memory): a runtime error saying what to change.
pub fn set_threads(n: Option<usize>) -> Result<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = match n {
        Some(n) if n > cores => {
            eprintln!(
                "warning: --threads {n} is more than the {cores} cores this process may use; using {cores}"
            );
            cores
        }
        Some(n) => n,
        None => address_space::default_threads(cores),
    };
    set_num_threads(n).map_err(|e| {
        if e.starts_with("cannot start") {
            CliError::Runtime(format!(
                "{e}; use fewer threads (--threads), or raise the limit on processes (ulimit -u) or memory (ulimit -v)"
            ))
        } else {
            CliError::Runtime(e)
        }
    })?;
    Ok(n)
}

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error{place}: {} (this is a bug in backprop)", one_line(&message));
    }));

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            eprintln!("{}", clap_message(&e.render().to_string()));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Training stops after its step on a first Ctrl-C, to save what it has; every command
    // removes its temporary files on a signal, except `serve`, which writes none and stops
    // on Ctrl-C through tokio's handler (a second handler would end it with 130 instead).
    let graceful = matches!(cli.command, Command::Train(_));
    let handles_signals = !matches!(cli.command, Command::Serve(_));
    if handles_signals && let Err(e) = backprop_nn::atomic_file::install_interrupt_handler(graceful) {
        eprintln!("error: cannot install the SIGINT/SIGTERM handler: {e}");
        return ExitCode::from(error::EXIT_RUNTIME);
    }
    if let Err(e) = address_space::check() {
        eprintln!("error: {}", e.one_line());
        return address_space::exit(e.exit_code());
    }
    let result = match &cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Export(args) => export::run(args),
        Command::Playground(args) => playground::run(args),
        Command::Info => info::run(),
        Command::Serve(args) => serve::run(args),
    }
    .and_then(|()| report::stdout_result());
    match result {
        Ok(()) => address_space::exit(0),
        Err(e) => {
            eprintln!("error: {}", e.one_line());
            address_space::exit(e.exit_code())
        }
    }
}

/// clap's error on one line: its first paragraph (without the usage and the help hint),
/// lines joined, with a pointer to `--help`.
fn clap_message(rendered: &str) -> String {
    let first: Vec<&str> = rendered.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
    let text = first.join(" ");
    let text = if text.starts_with("error:") { text } else { format!("error: {text}") };
    format!("{}; see --help", one_line(text.trim_end_matches('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line() {
        let e = Cli::try_parse_from(["backprop", "train", "--dataset", "spiral", "--bogus"]).unwrap_err();
        assert_eq!(
            clap_message(&e.render().to_string()),
            "error: unexpected argument '--bogus' found; see --help"
        );
        let e = Cli::try_parse_from(["backprop", "train", "--dataset", "spiral", "--lr", "0"]).unwrap_err();
        assert_eq!(
            clap_message(&e.render().to_string()),
            "error: invalid value '0' for '--lr <RATE>': the learning rate must be a finite number > 0, got 0; see --help"
        );
        let e = Cli::try_parse_from(["backprop", "train"]).unwrap_err();
        let message = clap_message(&e.render().to_string());
        assert!(!message.contains('\n'), "{message}");
        assert_eq!(
            message,
            "error: the following required arguments were not provided: --dataset <NAME>; see --help"
        );
        let e = Cli::try_parse_from(["backprop", "train", "--dataset", "spiral", "--lr", "-1"]).unwrap_err();
        assert_eq!(
            clap_message(&e.render().to_string()),
            "error: invalid value '-1' for '--lr <RATE>': the learning rate must be a finite number > 0, got -1; see --help"
        );
    }
}
