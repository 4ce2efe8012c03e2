//! The `dockgate` command: parse once, set up logging, bind, drop privileges, serve; errors
//! become one line and an exit code.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use dockgate::config::{Config, ConfigError, LogFormat, LogLevel, Overrides, UnixSocketAccess};
use dockgate::learn::Mode;
use dockgate::log_output::LogOutput;
use dockgate::privilege::{self, Place, Plan, SocketState};
use dockgate::server::{self, Listener};
use dockgate::telemetry::Telemetry;

/// A Docker socket proxy that explains its decisions.
///
/// Listens where tecnativa/docker-socket-proxy listens, reads the same variables, forwards what
/// they allow to the Docker socket and refuses the rest with a message naming the variable to set.
#[derive(Parser, Debug)]
#[command(name = "dockgate", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where to listen (repeatable): tcp://HOST:PORT or unix:///path. Overrides LISTEN.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    /// The Docker engine's socket. Overrides SOCKET_PATH.
    #[arg(long, value_name = "PATH")]
    socket_path: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run CMD as a user with the Docker socket's group added: an entrypoint helper that replaces
    /// groupadd/usermod/su scripts. Start it as root; CMD replaces it (same PID, TTY, signals).
    /// Exit status: CMD's own, or 125 when dockgate itself fails.
    Exec {
        /// The user to become: UID[:GID], or NAME[:GROUP] when /etc/passwd has it.
        #[arg(long, value_name = "UID[:GID]")]
        user: String,
        /// The Docker socket [default: a unix DOCKER_HOST, else /var/run/docker.sock].
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// How long to wait for the socket to appear (e.g. 30s).
        #[arg(long, value_name = "DURATION", default_value = "0s")]
        wait: String,
        /// The command and its arguments, after `--`.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        command: Vec<OsString>,
    },
    /// Exit 0 when the proxy (first LISTEN address) and the engine behind it answer /_ping; for
    /// HEALTHCHECK in an image with no shell or curl.
    Healthcheck,
    /// Serve as MODE=learn does: forward what only a grant keeps out, and print per client the
    /// smallest grant that allows everything it did, at exit and on SIGUSR1. For a trusted host:
    /// the clients get what they ask for meanwhile.
    Learn,
    /// Check a config file (default: CONFIG) with the environment's grant as the default, and
    /// print the effective grant of each profile and who gets it. Exit status 0 when the file
    /// is valid, 1 when it is not.
    Check {
        /// The config file [default: CONFIG].
        #[arg(value_name = "CONFIG")]
        file: Option<PathBuf>,
    },
    /// Judge one request offline with the proxy's own code: allowed or refused, the route and
    /// section, the grant that decided, or the smallest change that would allow it. The grant is
    /// the environment's, and with --config (or CONFIG) the file's profiles and rules. Exit
    /// status 0 allowed, 1 refused, 3 when it depends on the engine (objects the request takes
    /// from, or the engine's defaults), 2 on a usage or configuration error.
    Explain {
        /// The config file [default: CONFIG].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Who asks: a container name, project/service, an IP address, uid:N or gid:N
        /// [default: an unnamed client, which only listener rules match].
        #[arg(long, value_name = "NAME|ADDR")]
        client: Option<String>,
        /// A whole HTTP request as sent on the wire (a capture), instead of METHOD PATH.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["method", "path", "body"])]
        raw: Option<PathBuf>,
        /// GET, POST, ...
        #[arg(required_unless_present = "raw")]
        method: Option<String>,
        /// The request target, /v1.41/containers/json?all=1 (or a URL, as curl takes it).
        #[arg(required_unless_present = "raw")]
        path: Option<String>,
        /// The request body, from a file or - for stdin.
        #[arg(value_name = "BODY-FILE")]
        body: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let command = Cli::command().after_long_help(dockgate::config::help_text());
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let mut env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    if let Some(Command::Exec {
        user,
        socket,
        wait,
        command,
    }) = &cli.command
    {
        return exec(user, socket.clone(), wait, command, &env);
    }
    if let Some(Command::Learn) = &cli.command {
        env.insert("MODE".into(), "learn".into());
    }
    let overrides = Overrides {
        listen: cli.listen,
        socket_path: cli.socket_path,
    };
    if let Some(Command::Check { file }) = &cli.command {
        return check(file.as_deref(), &env, &overrides);
    }
    if let Some(Command::Explain {
        config,
        client,
        raw,
        method,
        path,
        body,
    }) = &cli.command
    {
        let mut env = env;
        if let Some(config) = config {
            env.insert("CONFIG".into(), config.display().to_string());
        }
        let request = match raw {
            Some(raw) => Request::Raw(raw),
            None => Request::Args {
                method: method.as_deref().unwrap_or_default(),
                path: path.as_deref().unwrap_or_default(),
                body: body.as_deref(),
            },
        };
        return explain(&env, &overrides, client.as_deref(), request);
    }
    let config = match Config::from_env(&env, &overrides) {
        Ok(config) => config,
        Err(e) => {
            stopped_at_start(&env, &e);
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Healthcheck) = cli.command {
        return match dockgate::health::check(&config) {
            Ok(summary) => {
                println!("healthy: {summary}");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("unhealthy: {why}");
                ExitCode::FAILURE
            }
        };
    }
    let log = init_logging(&config);
    match run(&config, &log) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Start-up in the order privilege dropping needs: learn the socket's group, bind (ports below
/// 1024 and socket ownership need root), drop, verify, and only then start the runtime's threads.
fn run(config: &Config, log: &LogOutput) -> Result<(), String> {
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let (open_files, low) = dockgate::limits::raise_open_files();
    match low {
        Some(warning) => tracing::warn!("{warning}"),
        None => tracing::debug!("open-file limit {open_files}"),
    }
    // Nothing at SOCKET_PATH: root or not, there is nothing to serve until the path is right.
    let socket = match SocketState::of(&config.socket_path) {
        SocketState::Socket(ownership) => Ok(ownership),
        SocketState::Unreadable(reason) => Err(reason),
        absent => return Err(explain_absent(&config.socket_path, &absent)),
    };
    let euid = nix::unistd::geteuid().as_raw();
    let plan = privilege::plan(euid, config.run_as, &config.socket_path, socket)
        .map_err(|e| e.to_string())?;
    let becomes = match &plan {
        Plan::Drop { ids, .. } => Some(*ids),
        Plan::Keep | Plan::StayRoot => None,
    };
    let access = UnixSocketAccess {
        owner: config.unix_socket.owner.or(becomes.map(|ids| ids.uid)),
        group: config.unix_socket.group.or(becomes.map(|ids| ids.gid)),
        mode: config.unix_socket.mode,
    };
    let listeners = config
        .listen
        .iter()
        .map(|addr| Listener::bind(addr, &access))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;

    match &plan {
        Plan::Drop { ids, groups } => {
            privilege::drop_to(*ids, groups).map_err(|e| format!("cannot drop privileges: {e}"))?;
            tracing::info!("running as {ids} with groups {groups:?} and no capabilities");
        }
        Plan::StayRoot => tracing::warn!("running as root because RUN_AS=0"),
        Plan::Keep => {}
    }
    check_engine_access(config)?;

    // One thread: the engine answers far fewer requests a second than one core can relay, and a
    // single thread has no cross-thread wake-ups or per-thread allocator arenas (measured in
    // docs/benchmarks.md).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.spawn({
        let log = log.clone();
        async move { log.batch_writes().await }
    });
    let telemetry = Arc::new(Telemetry::new(config));
    let shutdown = {
        let _runtime = runtime.enter();
        runtime.spawn(
            print_learned(telemetry.clone(), config.mode)
                .map_err(|e| format!("cannot handle SIGUSR1: {e}"))?,
        );
        shutdown_signal().map_err(|e| format!("cannot handle SIGTERM and SIGINT: {e}"))?
    };
    let served = runtime.block_on(server::serve(
        listeners,
        config,
        telemetry.clone(),
        shutdown,
    ));
    if config.mode == Mode::Learn {
        tracing::warn!(target: "learn", "{}", telemetry.learned.summary(config.mode));
    }
    served.map_err(|e| e.to_string())
}

/// A task that prints the learned grants on each SIGUSR1, in any mode (SIGUSR1 would otherwise
/// end the process). At warn, the level of the refusals it sums up, so a LOG_LEVEL that shows
/// those shows it.
fn print_learned(
    telemetry: Arc<Telemetry>,
    mode: Mode,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut usr1 = signal(SignalKind::user_defined1())?;
    Ok(async move {
        while usr1.recv().await.is_some() {
            tracing::warn!(target: "learn", "{}", telemetry.learned.summary(mode));
        }
    })
}

/// Stops start-up, with one line of advice, when the engine's socket cannot be used for a reason
/// that cannot fix itself (permissions, nothing at the path); keeps serving when the engine is
/// only not answering yet, since it may come back and requests say so meanwhile.
fn check_engine_access(config: &Config) -> Result<(), String> {
    let path = &config.socket_path;
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let (uid, groups) = privilege::current_ids();
            let why = match SocketState::of(path) {
                SocketState::Socket(ownership) => {
                    privilege::explain_denied_in(Place::detect(), path, ownership, uid, &groups)
                }
                _ => None,
            };
            Err(why.unwrap_or_else(|| {
                format!(
                    "cannot connect to the Docker socket {} (SOCKET_PATH): {e}",
                    path.display()
                )
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(explain_absent(path, &SocketState::Missing))
        }
        Err(e) => {
            tracing::warn!(
                "the Docker socket {} is not reachable yet ({e}); requests get 503 until it is",
                path.display()
            );
            Ok(())
        }
    }
}

/// Why nothing usable is at the socket's path, with advice for where dockgate runs.
fn explain_absent(path: &std::path::Path, state: &SocketState) -> String {
    privilege::explain_absent(
        path,
        state,
        Place::detect(),
        privilege::engine_process_seen(),
    )
    .unwrap_or_else(|| format!("the Docker socket {} is not usable", path.display()))
}

/// `dockgate check`: the file's problems with their lines, or each profile's effective grant.
fn check(
    file: Option<&std::path::Path>,
    env: &BTreeMap<String, String>,
    overrides: &Overrides,
) -> ExitCode {
    let mut env = env.clone();
    // The file is checked here, not by the environment's reading of CONFIG.
    let file = file
        .map(PathBuf::from)
        .or_else(|| env.remove("CONFIG").map(PathBuf::from));
    env.remove("CONFIG");
    let Some(file) = file else {
        eprintln!("dockgate check: name a config file, or set CONFIG");
        return ExitCode::FAILURE;
    };
    let config = match Config::from_env(&env, overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("dockgate check: {e}");
            return ExitCode::FAILURE;
        }
    };
    let default = config.profile();
    let loaded = match dockgate::config::file::load(&file, &default, &config.listen) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("dockgate check: {e}");
            return ExitCode::FAILURE;
        }
    };
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    print!(
        "{}",
        dockgate::clients::summary(&loaded.clients, &loaded.defined)
    );
    ExitCode::SUCCESS
}

/// The request `dockgate explain` is given.
enum Request<'a> {
    Raw(&'a std::path::Path),
    Args {
        method: &'a str,
        path: &'a str,
        body: Option<&'a std::path::Path>,
    },
}

fn explain(
    env: &BTreeMap<String, String>,
    overrides: &Overrides,
    client: Option<&str>,
    request: Request<'_>,
) -> ExitCode {
    use dockgate::explain::{self, Asked, Engine};
    let failed = |message: &dyn std::fmt::Display| {
        eprintln!("dockgate explain: {message}");
        ExitCode::from(2)
    };
    let config = match Config::from_env(env, overrides) {
        Ok(config) => config,
        Err(e) => return failed(&e),
    };
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    let read_file = |path: &std::path::Path| -> std::io::Result<Vec<u8>> {
        if path.as_os_str() == "-" {
            let mut bytes = vec![];
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
            Ok(bytes)
        } else {
            std::fs::read(path)
        }
    };
    let read = match request {
        Request::Raw(path) => match read_file(path) {
            Ok(bytes) => Asked::from_http(&bytes),
            Err(e) => return failed(&format!("{}: {e}", path.display())),
        },
        Request::Args { method, path, body } => {
            let bytes = match body.map(read_file).transpose() {
                Ok(bytes) => bytes,
                Err(e) => {
                    return failed(&format!("{}: {e}", body.unwrap_or(path.as_ref()).display()))
                }
            };
            Asked::new(method, path, bytes.as_deref())
        }
    };
    let read = match read {
        Ok(read) => read,
        Err(e) => return failed(&e),
    };
    let identity = match explain::identity(client, &config.listen) {
        Ok(identity) => identity,
        Err(e) => return failed(&e),
    };
    let explained = explain::explain(
        &config.clients,
        &identity,
        &read,
        config.max_body,
        Engine::Offline,
    );
    print!("{explained}");
    ExitCode::from(explained.exit_code())
}

fn exec(
    user: &str,
    socket: Option<PathBuf>,
    wait: &str,
    command: &[OsString],
    env: &BTreeMap<String, String>,
) -> ExitCode {
    let failed = |message: &dyn std::fmt::Display| {
        eprintln!("dockgate exec: {message}");
        ExitCode::from(dockgate::exec::EXIT_OWN_ERROR)
    };
    let spec = match dockgate::exec::UserSpec::parse(user) {
        Ok(spec) => spec,
        Err(e) => return failed(&e),
    };
    let wait = match dockgate::config::parse_duration("--wait", wait) {
        Ok(wait) => wait,
        Err(e) => return failed(&e),
    };
    let socket = dockgate::exec::socket_path(socket, env.get("DOCKER_HOST").map(String::as_str));
    failed(&dockgate::exec::run(&spec, &socket, wait, command))
}

/// Says why start-up stopped, before logging is set up: as the JSON log would when LOG_FORMAT
/// asks for it (a collector must see why the proxy never started), else as one line of text.
fn stopped_at_start(env: &BTreeMap<String, String>, error: &ConfigError) {
    let json = env
        .get("LOG_FORMAT")
        .is_some_and(|f| f.eq_ignore_ascii_case("json"));
    if !json {
        eprintln!("dockgate: {error}");
        return;
    }
    let dispatch = dockgate::log_format::dispatch(
        LogLevel::Error,
        LogFormat::Json,
        false,
        LogOutput::default(),
    );
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("{error}"));
}

fn init_logging(config: &Config) -> LogOutput {
    let output = LogOutput::default();
    let dispatch = dockgate::log_format::dispatch(
        config.log_level,
        config.log_format,
        std::io::stderr().is_terminal(),
        output.clone(),
    );
    tracing::dispatcher::set_global_default(dispatch).expect("logging is set up once");
    output
}

/// A future that resolves on SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    // Installed now, not when the future is first polled: serve() says it is listening before
    // it waits on this, and a SIGTERM sent on reading that must not find the default action.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
