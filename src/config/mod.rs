//! Environment and flags → one typed, validated `Config`, with errors that name the input.
//!
//! The environment comes in as a map so tests never touch the process's own. Every variable is
//! one entry of [`VARIABLES`] (in `vars.rs`): its name, its default, its `--help` line and what
//! it sets, so adding a variable is a change in one place. Around the table:
//!
//! - `values.rs`: the value parsers, each error naming the variable.
//! - `warnings.rs`: what is worth saying at start-up without stopping.
//! - here: the types, and [`Config::from_env`], which applies the table.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::clients::Clients;
use crate::inspect::BodyPolicy;
use crate::learn::Mode;
use crate::policy::{Flags, Policy};
use crate::privilege::Ids;
use crate::profile::Profile;

pub mod file;
pub mod grant;
mod values;
mod vars;
mod warnings;

pub use file::{FileError, Loaded};
pub use grant::{apply as grant_apply, is_grant, toml_text, GrantError};
pub use values::parse_duration;
pub use vars::{help_text, DefaultValue, Kind, Variable, VARIABLES};

/// Who may use a unix socket dockgate listens on; `None` keeps the ids dockgate runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnixSocketAccess {
    pub owner: Option<u32>,
    pub group: Option<u32>,
    pub mode: u32,
}

/// Where the proxy listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// `dual_stack`: an all-interfaces IPv6 address that should accept IPv4 too, falling back to
    /// `0.0.0.0` where the host has no IPv6.
    Tcp {
        addr: SocketAddr,
        dual_stack: bool,
    },
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp { addr, .. } => write!(f, "tcp://{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// The level of the log, in HAProxy's words (what Tecnativa users set) or tracing's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// How log lines are written (`LOG_FORMAT`): text for people, or one JSON object a line for
/// collectors and audits (docs/audit-log.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub listen: Vec<ListenAddr>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (ADMIN_LISTEN); off when `None`.
    pub admin_listen: Option<ListenAddr>,
    pub socket_path: PathBuf,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub policy: Policy,
    pub shutdown_grace: Duration,
    /// How long a request head may take to arrive (and a keep-alive connection may idle);
    /// zero for no limit.
    pub head_timeout: Duration,
    /// Who to become when started as root.
    pub run_as: Ids,
    /// Ownership and mode of unix sockets dockgate listens on.
    pub unix_socket: UnixSocketAccess,
    /// What request bodies may ask for.
    pub body: BodyPolicy,
    /// The largest request body read for inspection.
    pub max_body: usize,
    pub max_connections: usize,
    /// The config file, read again on reload.
    pub config_file: Option<PathBuf>,
    /// Which grant each client gets: the environment's for all, or the config file's rules.
    pub clients: Clients,
    /// Things worth telling the operator at start-up that do not stop it.
    pub warnings: Vec<String>,
    /// Whether what only a grant keeps out is refused, or forwarded and learned from.
    pub mode: Mode,
}

/// A value that stops start-up; the message names the variable (or flag), the value and what is
/// accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is not valid: {expected}")]
pub struct ConfigError {
    /// The variable or flag.
    pub variable: String,
    pub value: String,
    pub expected: String,
}

/// Values given as command-line flags; they override the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Vec<String>,
    pub socket_path: Option<String>,
}

impl Overrides {
    /// Whether a flag replaces the variable `name`, which is then not read at all.
    fn replace(&self, name: &str) -> bool {
        match name {
            "LISTEN" => !self.listen.is_empty(),
            "SOCKET_PATH" => self.socket_path.is_some(),
            _ => false,
        }
    }
}

/// What the variables set while the configuration is read; each entry of [`VARIABLES`] sets its
/// part, from its value or its default.
#[derive(Debug)]
pub struct Builder {
    listen: Vec<ListenAddr>,
    admin_listen: Option<ListenAddr>,
    disable_ipv6: bool,
    socket_path: Option<PathBuf>,
    log_level: Option<LogLevel>,
    log_format: Option<LogFormat>,
    granted: Flags,
    shutdown_grace: Option<Duration>,
    head_timeout: Option<Duration>,
    run_as: Option<Ids>,
    unix_socket: UnixSocketAccess,
    socket_mode: Option<u32>,
    body: BodyPolicy,
    max_body: Option<usize>,
    max_connections: Option<usize>,
    config_file: Option<PathBuf>,
    preset: Option<&'static crate::presets::Preset>,
    mode: Option<Mode>,
}

impl Builder {
    /// Nothing read yet: the policy's grants, no listener, no value.
    fn new() -> Builder {
        Builder {
            listen: vec![],
            admin_listen: None,
            disable_ipv6: false,
            socket_path: None,
            log_level: None,
            log_format: None,
            granted: Flags::defaults(),
            shutdown_grace: None,
            head_timeout: None,
            run_as: None,
            unix_socket: UnixSocketAccess {
                owner: None,
                group: None,
                mode: 0,
            },
            socket_mode: None,
            body: BodyPolicy::default(),
            max_body: None,
            max_connections: None,
            config_file: None,
            preset: None,
            mode: None,
        }
    }

    /// The configuration, once every variable has been applied.
    fn build(self) -> Config {
        let profile = Profile {
            policy: Policy::new(self.granted),
            body: self.body.clone(),
        };
        fn set<T>(value: Option<T>, name: &str) -> T {
            value.unwrap_or_else(|| panic!("{name} was not applied: its entry has no default"))
        }
        let disable_ipv6 = self.disable_ipv6;
        let ipv4 = |a: ListenAddr| {
            if disable_ipv6 {
                values::ipv4_only(a)
            } else {
                a
            }
        };
        Config {
            listen: self.listen.into_iter().map(ipv4).collect(),
            admin_listen: self.admin_listen.map(ipv4),
            socket_path: set(self.socket_path, "SOCKET_PATH"),
            log_level: set(self.log_level, "LOG_LEVEL"),
            log_format: set(self.log_format, "LOG_FORMAT"),
            policy: Policy::new(self.granted),
            shutdown_grace: set(self.shutdown_grace, "SHUTDOWN_GRACE"),
            head_timeout: set(self.head_timeout, "HEAD_TIMEOUT"),
            run_as: set(self.run_as, "RUN_AS"),
            unix_socket: UnixSocketAccess {
                mode: set(self.socket_mode, "SOCKET_MODE"),
                ..self.unix_socket
            },
            body: self.body,
            max_body: set(self.max_body, "MAX_BODY"),
            max_connections: set(self.max_connections, "MAX_CONNECTIONS"),
            config_file: self.config_file,
            clients: Clients::env_only(profile),
            warnings: vec![],
            mode: set(self.mode, "MODE"),
        }
    }
}

impl Config {
    /// The grant the environment gives: every connection's, until grants per client exist.
    pub fn profile(&self) -> Profile {
        Profile {
            policy: self.policy,
            body: self.body.clone(),
        }
    }

    /// Reads the configuration from environment variables and flags.
    pub fn from_env(
        env: &BTreeMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let get = |name: &str| env.get(name).map(String::as_str);
        let mut builder = Builder::new();
        for section in crate::api::Section::ALL {
            if let Some(value) = get(section.var()) {
                let flag = crate::policy::Flag::Section(section);
                builder
                    .granted
                    .set(flag, values::parse_bool(section.var(), value)?);
            }
        }
        for v in VARIABLES.iter().filter(|v| !overrides.replace(v.name)) {
            v.apply(&mut builder, get(v.name))?;
        }
        for addr in &overrides.listen {
            builder.listen.push(values::parse_listen("--listen", addr)?);
        }
        if let Some(path) = &overrides.socket_path {
            builder.socket_path = Some(values::socket_path("--socket-path", path)?);
        }
        let preset = builder.preset;
        let mut config = builder.build();
        values::admin_apart(config.admin_listen.as_ref(), &config.listen)?;
        if let Some(preset) = preset {
            // The preset is the base; grant variables set beside it change it.
            let set = env
                .iter()
                .filter(|(name, _)| grant::is_grant(name))
                .map(|(name, value)| (name.as_str(), value.as_str()));
            let profile = grant::apply(&preset.profile, set).map_err(|(name, e)| ConfigError {
                variable: name.clone(),
                value: env.get(&name).cloned().unwrap_or_default(),
                expected: e.to_string(),
            })?;
            config.policy = profile.policy;
            config.body = profile.body;
        }
        let default = config.profile();
        config.clients = Clients::env_only(default.clone());
        let mut file_warnings = vec![];
        if let Some(path) = &config.config_file {
            let loaded = file::load(path, &default, &config.listen).map_err(|e| ConfigError {
                variable: "CONFIG".into(),
                value: path.display().to_string(),
                expected: e.to_string(),
            })?;
            config.clients = loaded.clients;
            file_warnings = loaded.warnings;
        }
        config.warnings = warnings::about_names(env)?;
        config.warnings.extend(file_warnings);
        config
            .warnings
            .extend(warnings::about_effects(env, &config));
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
