//! The `dockgate` command: parse once, set up logging, bind, serve; errors become one line.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use dockgate::config::{Config, LogLevel, Overrides};
use dockgate::server::{self, Listener};

/// A Docker socket proxy that explains its decisions.
///
/// Listens where tecnativa/docker-socket-proxy listens, reads the same variables, forwards what
/// they allow to the Docker socket and refuses the rest with a message naming the variable to set.
#[derive(Parser, Debug)]
#[command(name = "dockgate", version)]
struct Cli {
    /// Where to listen (repeatable): tcp://HOST:PORT or unix:///path. Overrides LISTEN.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    /// The Docker engine's socket. Overrides SOCKET_PATH.
    #[arg(long, value_name = "PATH")]
    socket_path: Option<String>,
}

fn main() -> ExitCode {
    let command = Cli::command().after_long_help(dockgate::config::help_text());
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let overrides = Overrides {
        listen: cli.listen,
        socket_path: cli.socket_path,
    };
    let config = match Config::from_env(&env, &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("dockgate: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_level);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }

    let mut listeners = vec![];
    for addr in &config.listen {
        match Listener::bind(addr) {
            Ok(listener) => listeners.push(listener),
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }

    // The runtime is built only after binding, so privileged set-up happens on one thread.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::serve(listeners, &config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: LogLevel) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
