//! `backprop serve`: the Playground as a local web app (crates/serve) until Ctrl-C.

use std::time::Duration;

use backprop_serve::{Limits, ServeOptions};

use crate::args::ServeArgs;
use crate::error::{CliError, Result};

/// Runs `backprop serve`: binds, prints the URL, serves until Ctrl-C.
///
/// # Errors
/// When the runtime cannot start or the address cannot be bound (naming it).
pub fn run(args: &ServeArgs) -> Result<()> {
    let defaults = Limits::default();
    let options = ServeOptions {
        host: args.host.clone(),
        port: args.port,
        open: args.open,
        limits: Limits {
            max_sessions: args.max_sessions,
            max_params: args.max_params,
            max_upload: args.max_upload,
            idle_timeout: Duration::from_secs_f64(args.idle_timeout),
            frame_interval: Duration::from_millis(args.frame_interval as u64),
            ..defaults
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(format!("cannot start the server's runtime: {e}")))?;
    runtime.block_on(backprop_serve::serve(options)).map_err(CliError::Runtime)
}
