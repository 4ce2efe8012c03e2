//! Environment and flags → one typed, validated `Config`, with errors that name the input.
//!
//! The environment comes in as a map so tests never touch the process's own; every variable is
//! described once in `VARIABLES`, which also writes the `--help` text.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::api::Section;
use crate::inspect::paths::Prefix;
use crate::inspect::{normalise_cap, BodyPolicy};
use crate::policy::{Flag, Flags, Policy};
use crate::privilege::Ids;

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

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub listen: Vec<ListenAddr>,
    pub socket_path: PathBuf,
    pub log_level: LogLevel,
    pub policy: Policy,
    pub shutdown_grace: Duration,
    /// Who to become when started as root.
    pub run_as: Ids,
    /// Ownership and mode of unix sockets dockgate listens on.
    pub unix_socket: UnixSocketAccess,
    /// What request bodies may ask for.
    pub body: BodyPolicy,
    pub max_connections: usize,
    /// Things worth telling the operator at start-up that do not stop it.
    pub warnings: Vec<String>,
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

/// How a variable is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Flag(Flag),
    DisableIpv6,
    /// A boolean of the request-body policy.
    Switch,
    Value,
}

/// One documented environment variable.
pub struct Variable {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub help: &'static str,
}

const BOOLEAN: &str = "1/0, true/false, yes/no or on/off (any case)";
const DEFAULT_LISTEN: &str = "tcp://127.0.0.1:2375";
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Every variable dockgate reads, in `--help` order (sections are added from the route table).
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "LISTEN",
        kind: Kind::Value,
        default: DEFAULT_LISTEN,
        help: "Where to listen: tcp://HOST:PORT or unix:///path, several separated by commas. \
               tcp://:2375 means all interfaces (IPv6 and IPv4).",
    },
    Variable {
        name: "SOCKET_PATH",
        kind: Kind::Value,
        default: DEFAULT_SOCKET,
        help: "The Docker engine's unix socket.",
    },
    Variable {
        name: "LOG_LEVEL",
        kind: Kind::Value,
        default: "info",
        help: "error, warn(ing), info, notice, debug or trace; HAProxy's emerg/alert/crit/err too. \
               info logs a line per request; under load lines are written in batches, at most \
               50 ms late.",
    },
    Variable {
        name: "DISABLE_IPV6",
        kind: Kind::DisableIpv6,
        default: "0",
        help: "Listen on 0.0.0.0 instead of [::] for an all-interfaces LISTEN.",
    },
    Variable {
        name: "SHUTDOWN_GRACE",
        kind: Kind::Value,
        default: "10s",
        help: "On SIGTERM/SIGINT, how long open requests and streams may finish (e.g. 10s, 500ms, 1m).",
    },
    Variable {
        name: "MAX_CONNECTIONS",
        kind: Kind::Value,
        default: "4096",
        help: "Client connections served at once; more wait in the listen backlog. Upgraded \
               connections (attach, exec) are not counted once they switch.",
    },
    Variable {
        name: "RUN_AS",
        kind: Kind::Value,
        default: "65534:65534",
        help: "Started as root, dockgate binds its listeners and then runs as this uid[:gid] with \
               the Docker socket's group as its only other group. RUN_AS=0 keeps root.",
    },
    Variable {
        name: "SOCKET_OWNER",
        kind: Kind::Value,
        default: "RUN_AS uid",
        help: "Owner (numeric uid) of a unix socket dockgate listens on.",
    },
    Variable {
        name: "SOCKET_GROUP",
        kind: Kind::Value,
        default: "RUN_AS gid",
        help: "Group (numeric gid) of a unix socket dockgate listens on: give it to non-root clients.",
    },
    Variable {
        name: "SOCKET_MODE",
        kind: Kind::Value,
        default: "0660",
        help: "Permissions (octal) of a unix socket dockgate listens on.",
    },
    Variable {
        name: "POST",
        kind: Kind::Flag(Flag::Post),
        default: "0",
        help: "Allow writes (POST, PUT, DELETE, and GET websocket attach) in the enabled sections.",
    },
    Variable {
        name: "ALLOW_START",
        kind: Kind::Flag(Flag::AllowStart),
        default: "0",
        help: "Allow starting containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_STOP",
        kind: Kind::Flag(Flag::AllowStop),
        default: "0",
        help: "Allow stopping containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_RESTARTS",
        kind: Kind::Flag(Flag::AllowRestarts),
        default: "0",
        help: "Allow stopping, restarting and killing containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_PAUSE",
        kind: Kind::Flag(Flag::AllowPause),
        default: "0",
        help: "Allow pausing containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_UNPAUSE",
        kind: Kind::Flag(Flag::AllowUnpause),
        default: "0",
        help: "Allow unpausing containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_ARCHIVE",
        kind: Kind::Flag(Flag::AllowArchive),
        default: "0",
        help: "With CONTAINERS: read files out of containers (docker cp); with POST too, write them in.",
    },
    Variable {
        name: "ALLOW_EXPORT",
        kind: Kind::Flag(Flag::AllowExport),
        default: "0",
        help: "With CONTAINERS: export a container's whole filesystem.",
    },
    Variable {
        name: "ALLOW_PRIVILEGED",
        kind: Kind::Switch,
        default: "0",
        help: "Allow privileged containers and exec, and installing plugins (all root on the host).",
    },
    Variable {
        name: "ALLOW_HOST_NAMESPACES",
        kind: Kind::Switch,
        default: "0",
        help: "Allow the host's pid, ipc, uts, user, cgroup or network namespace (--pid=host ...).",
    },
    Variable {
        name: "ALLOW_CAPS",
        kind: Kind::Value,
        default: "",
        help: "Capabilities containers may add, e.g. NET_ADMIN,SYS_TIME (ALL for any).",
    },
    Variable {
        name: "ALLOW_DEVICES",
        kind: Kind::Switch,
        default: "0",
        help: "Allow host devices, device cgroup rules and device requests (GPUs).",
    },
    Variable {
        name: "ALLOW_BIND_MOUNTS",
        kind: Kind::Value,
        default: "",
        help: "Host path prefixes containers may mount, e.g. /srv/data,/var/log:ro (:ro = read-only \
               only). Also needed for VolumesFrom.",
    },
    Variable {
        name: "ALLOW_SECURITY_OPTS",
        kind: Kind::Switch,
        default: "0",
        help: "Allow weakening confinement: security options other than no-new-privileges, \
               explicit masked/read-only paths, cgroup parent, sysctls, runtimes, annotations.",
    },
    Variable {
        name: "ALLOW_REMOTE_FETCH",
        kind: Kind::Switch,
        default: "0",
        help: "Allow builds from a remote URL and image imports from a URL (the engine fetches it).",
    },
    Variable {
        name: "MAX_BODY",
        kind: Kind::Value,
        default: "1MiB",
        help: "The largest request body dockgate reads to inspect (container create and the like).",
    },
    Variable {
        name: "ALLOW_LOGS",
        kind: Kind::Flag(Flag::AllowLogs),
        default: "1",
        help: "Set to 0 to refuse container logs even with CONTAINERS (linuxserver's restriction).",
    },
    Variable {
        name: "ALLOW_TOP",
        kind: Kind::Flag(Flag::AllowTop),
        default: "1",
        help: "Set to 0 to refuse listing container processes even with CONTAINERS.",
    },
    Variable {
        name: "ALLOW_CHANGES",
        kind: Kind::Flag(Flag::AllowChanges),
        default: "1",
        help: "Set to 0 to refuse container filesystem diffs even with CONTAINERS.",
    },
];

/// Variables of other socket proxies that dockgate reads only to say it does not act on them.
const FOREIGN: &[(&str, &str)] = &[
    ("DELETE", "DELETE requests need POST=1 in dockgate"),
    ("PUT", "PUT requests need POST=1 in dockgate"),
    ("PATCH", "the Docker API has no PATCH routes"),
    (
        "ALLOW_EXEC",
        "exec needs CONTAINERS=1, EXEC=1 and POST=1 in dockgate",
    ),
    (
        "ALLOW_KILL",
        "killing containers is ALLOW_RESTARTS=1 in dockgate",
    ),
    (
        "ALLOW_ATTACH",
        "attach needs CONTAINERS=1 and POST=1 in dockgate",
    ),
];

/// The `--help` text for the environment: every variable, its default and meaning.
pub fn help_text() -> String {
    let mut out = String::from("Environment (flags override; booleans take ");
    out.push_str(BOOLEAN);
    out.push_str("):\n");
    let line = |out: &mut String, name: &str, default: &str, help: &str| {
        out.push_str(&format!("  {name:<15} [{default}] {help}\n"));
    };
    for v in VARIABLES
        .iter()
        .filter(|v| !matches!(v.kind, Kind::Flag(_)))
    {
        line(&mut out, v.name, v.default, v.help);
    }
    out.push_str("\nAPI sections (each allows reading its routes; writing also needs POST=1):\n");
    for section in Section::ALL {
        let default = if Flag::Section(section).default_on() {
            "1"
        } else {
            "0"
        };
        let help = format!("/{}...", section.segment());
        line(&mut out, section.var(), default, &help);
    }
    out.push_str("\nNarrower grants:\n");
    for v in VARIABLES.iter().filter(|v| matches!(v.kind, Kind::Flag(_))) {
        line(&mut out, v.name, v.default, v.help);
    }
    out.push_str(
        "\nLIBPOD_* variables are read and warned about: dockgate does not serve Podman's API.\n",
    );
    out
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError {
            variable: name.into(),
            value: value.into(),
            expected: BOOLEAN.into(),
        }),
    }
}

fn looks_boolean(value: &str) -> bool {
    parse_bool("", value).is_ok()
}

fn parse_listen(source: &str, value: &str, disable_ipv6: bool) -> Result<ListenAddr, ConfigError> {
    let error = |why: &str| ConfigError {
        variable: source.into(),
        value: value.into(),
        expected: format!("expected tcp://HOST:PORT or unix:///absolute/path ({why})"),
    };
    if let Some(path) = value.strip_prefix("unix://") {
        if !path.starts_with('/') || path.len() < 2 {
            return Err(error("a unix socket path must be absolute"));
        }
        return Ok(ListenAddr::Unix(PathBuf::from(path)));
    }
    let Some(hostport) = value.strip_prefix("tcp://") else {
        return Err(error("unknown scheme"));
    };
    let (host, port) = hostport.rsplit_once(':').ok_or_else(|| error("no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| error("the port must be a number from 0 to 65535"))?;
    let all_interfaces = |dual| {
        if disable_ipv6 {
            ListenAddr::Tcp {
                addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
                dual_stack: false,
            }
        } else {
            ListenAddr::Tcp {
                addr: SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port),
                dual_stack: dual,
            }
        }
    };
    match host {
        "" | "[::]" => Ok(all_interfaces(true)),
        "localhost" => Ok(ListenAddr::Tcp {
            addr: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
            dual_stack: false,
        }),
        _ => {
            let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
            let ip: IpAddr = match bare {
                Some(v6) => v6.parse().map_err(|_| error("not an IPv6 address"))?,
                None if host.contains(':') => return Err(error("put an IPv6 address in brackets")),
                None => host
                    .parse()
                    .map_err(|_| error("the host must be an IP address or localhost"))?,
            };
            Ok(ListenAddr::Tcp {
                addr: SocketAddr::new(ip, port),
                dual_stack: false,
            })
        }
    }
}

fn parse_log_level(value: &str) -> Result<LogLevel, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "emerg" | "alert" | "crit" | "err" | "error" => Ok(LogLevel::Error),
        "warning" | "warn" => Ok(LogLevel::Warn),
        "notice" | "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        "trace" => Ok(LogLevel::Trace),
        _ => Err(ConfigError {
            variable: "LOG_LEVEL".into(),
            value: value.into(),
            expected: "error, warn, info, debug or trace (or HAProxy's emerg, alert, crit, err, \
                       warning, notice)"
                .into(),
        }),
    }
}

/// `10s`, `500ms`, `1m`, or a bare number of seconds.
pub fn parse_duration(name: &str, value: &str) -> Result<Duration, ConfigError> {
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits_end);
    let number: u64 = number
        .parse()
        .ok()
        .filter(|_| digits_end > 0)
        .ok_or_else(|| ConfigError {
            variable: name.into(),
            value: value.into(),
            expected: "a whole number with a unit: ms, s or m (e.g. 10s)".into(),
        })?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        _ => Err(ConfigError {
            variable: name.into(),
            value: value.into(),
            expected: "a whole number with a unit: ms, s or m (e.g. 10s)".into(),
        }),
    }
}

/// Every name that sets something, for misspelling checks: (name, takes a boolean).
fn known_names() -> impl Iterator<Item = (&'static str, bool)> {
    let sections = Section::ALL.into_iter().map(|s| (s.var(), true));
    let variables = VARIABLES.iter().map(|v| (v.name, v.kind != Kind::Value));
    sections.chain(variables)
}

/// The dockgate variable `name` was probably meant to be, if it is not one itself.
fn likely_meant(name: &str, value: &str) -> Option<&'static str> {
    if known_names().any(|(known, _)| known == name) || FOREIGN.iter().any(|(f, _)| *f == name) {
        return None;
    }
    let upper = name.to_ascii_uppercase();
    known_names()
        .filter(|(_, boolean)| !boolean || looks_boolean(value))
        .map(|(known, _)| (known, strsim::damerau_levenshtein(&upper, known)))
        .filter(|(known, distance)| *distance <= if known.len() >= 6 { 2 } else { 1 })
        .min_by_key(|(_, distance)| *distance)
        .map(|(known, _)| known)
}

impl Config {
    /// Reads the configuration from environment variables and flags.
    pub fn from_env(
        env: &BTreeMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let get = |name: &str| env.get(name).map(String::as_str);
        let mut granted = Flags::defaults();
        for section in Section::ALL {
            if let Some(value) = get(section.var()) {
                granted.set(Flag::Section(section), parse_bool(section.var(), value)?);
            }
        }
        let mut disable_ipv6 = false;
        let mut body = BodyPolicy::default();
        for v in VARIABLES {
            let Some(value) = get(v.name) else { continue };
            match v.kind {
                Kind::Flag(flag) => granted.set(flag, parse_bool(v.name, value)?),
                Kind::DisableIpv6 => disable_ipv6 = parse_bool(v.name, value)?,
                Kind::Switch => {
                    let on = parse_bool(v.name, value)?;
                    match v.name {
                        "ALLOW_PRIVILEGED" => body.privileged = on,
                        "ALLOW_HOST_NAMESPACES" => body.host_namespaces = on,
                        "ALLOW_DEVICES" => body.devices = on,
                        "ALLOW_SECURITY_OPTS" => body.security_opts = on,
                        _ => body.remote_fetch = on,
                    }
                }
                Kind::Value => {}
            }
        }
        if let Some(value) = get("ALLOW_CAPS") {
            body.caps = parse_caps(value)?;
        }
        if let Some(value) = get("ALLOW_BIND_MOUNTS") {
            body.bind_mounts = parse_prefixes(value)?;
        }
        if let Some(value) = get("MAX_BODY") {
            body.max_body = parse_size(value)?;
        }

        let listen = if overrides.listen.is_empty() {
            let value = get("LISTEN").unwrap_or(DEFAULT_LISTEN);
            let addrs: Vec<&str> = value.split(',').map(str::trim).collect();
            addrs
                .iter()
                .map(|a| parse_listen("LISTEN", a, disable_ipv6))
                .collect::<Result<_, _>>()?
        } else {
            let addrs = overrides.listen.iter();
            addrs
                .map(|a| parse_listen("--listen", a, disable_ipv6))
                .collect::<Result<_, _>>()?
        };

        let socket_path = match (&overrides.socket_path, get("SOCKET_PATH")) {
            (Some(flag), _) => socket_path("--socket-path", flag)?,
            (None, Some(value)) => socket_path("SOCKET_PATH", value)?,
            (None, None) => PathBuf::from(DEFAULT_SOCKET),
        };
        let log_level = get("LOG_LEVEL")
            .map(parse_log_level)
            .transpose()?
            .unwrap_or(LogLevel::Info);
        let shutdown_grace = get("SHUTDOWN_GRACE")
            .map(|v| parse_duration("SHUTDOWN_GRACE", v))
            .transpose()?
            .unwrap_or(Duration::from_secs(10));

        let run_as = get("RUN_AS").map(parse_ids).transpose()?.unwrap_or(Ids {
            uid: 65534,
            gid: 65534,
        });
        let number = |name: &str| -> Result<Option<u32>, ConfigError> {
            get(name)
                .map(|v| {
                    v.parse().map_err(|_| ConfigError {
                        variable: name.into(),
                        value: v.into(),
                        expected: "a numeric id".into(),
                    })
                })
                .transpose()
        };
        let unix_socket = UnixSocketAccess {
            owner: number("SOCKET_OWNER")?,
            group: number("SOCKET_GROUP")?,
            mode: get("SOCKET_MODE")
                .map(parse_mode)
                .transpose()?
                .unwrap_or(0o660),
        };

        let max_connections = match get("MAX_CONNECTIONS") {
            None => 4096,
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError {
                    variable: "MAX_CONNECTIONS".into(),
                    value: v.into(),
                    expected: "a whole number above 0".into(),
                })?,
        };

        let mut warnings = vec![];
        for (name, value) in env {
            if name.starts_with("LIBPOD_") {
                if parse_bool(name, value)? {
                    warnings.push(format!(
                        "{name}={value} has no effect: dockgate does not serve Podman's /libpod API, \
                         and refuses it"
                    ));
                }
            } else if let Some((_, what)) = FOREIGN.iter().find(|(f, _)| f == name) {
                warnings.push(format!(
                    "{name} is not a dockgate variable and is ignored: {what}"
                ));
            } else if let Some(meant) = likely_meant(name, value) {
                warnings.push(format!(
                    "{name} is not a dockgate variable and is ignored; did you mean {meant}?"
                ));
            }
        }

        Ok(Config {
            listen,
            socket_path,
            log_level,
            policy: Policy::new(granted),
            shutdown_grace,
            run_as,
            unix_socket,
            body,
            max_connections,
            warnings,
        })
    }
}

fn parse_caps(value: &str) -> Result<Vec<String>, ConfigError> {
    let caps: Vec<String> = value
        .split(',')
        .map(normalise_cap)
        .filter(|c| !c.is_empty())
        .collect();
    let valid = |c: &String| {
        c.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };
    if caps.iter().all(valid) {
        Ok(caps)
    } else {
        Err(ConfigError {
            variable: "ALLOW_CAPS".into(),
            value: value.into(),
            expected: "capability names separated by commas, e.g. NET_ADMIN,SYS_TIME, or ALL"
                .into(),
        })
    }
}

fn parse_prefixes(value: &str) -> Result<Vec<Prefix>, ConfigError> {
    let entries = value.split(',').map(str::trim).filter(|e| !e.is_empty());
    entries
        .map(|entry| {
            Prefix::parse(entry).ok_or_else(|| ConfigError {
                variable: "ALLOW_BIND_MOUNTS".into(),
                value: value.into(),
                expected: "absolute host paths separated by commas, each optionally :ro, e.g. /srv/data,/var/log:ro"
                    .into(),
            })
        })
        .collect()
}

/// `1MiB`, `512KiB`, `2M`, or bytes.
fn parse_size(value: &str) -> Result<usize, ConfigError> {
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits_end);
    let scale = match unit {
        "" | "B" => Some(1),
        "K" | "KiB" | "KB" => Some(1 << 10),
        "M" | "MiB" | "MB" => Some(1 << 20),
        _ => None,
    };
    number
        .parse::<usize>()
        .ok()
        .zip(scale)
        .and_then(|(n, s)| n.checked_mul(s))
        .filter(|n| *n > 0)
        .ok_or_else(|| ConfigError {
            variable: "MAX_BODY".into(),
            value: value.into(),
            expected: "a size such as 1MiB, 512KiB or 65536".into(),
        })
}

/// `uid[:gid]`, numbers only: the image has no `/etc/passwd` to look names up in.
fn parse_ids(value: &str) -> Result<Ids, ConfigError> {
    let error = || ConfigError {
        variable: "RUN_AS".into(),
        value: value.into(),
        expected: "a numeric uid[:gid], e.g. 65534:65534 (0 keeps root)".into(),
    };
    let (uid, gid) = match value.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid)),
        None => (value, None),
    };
    let uid: u32 = uid.parse().map_err(|_| error())?;
    let gid: u32 = gid
        .map(str::parse)
        .transpose()
        .map_err(|_| error())?
        .unwrap_or(uid);
    Ok(Ids { uid, gid })
}

fn parse_mode(value: &str) -> Result<u32, ConfigError> {
    let digits = value.strip_prefix("0o").unwrap_or(value);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777 && !digits.is_empty())
        .ok_or_else(|| ConfigError {
            variable: "SOCKET_MODE".into(),
            value: value.into(),
            expected: "octal permissions such as 0660".into(),
        })
}

fn socket_path(source: &str, value: &str) -> Result<PathBuf, ConfigError> {
    let value = value.strip_prefix("unix://").unwrap_or(value);
    if value.starts_with('/') {
        Ok(PathBuf::from(value))
    } else {
        Err(ConfigError {
            variable: source.into(),
            value: value.into(),
            expected: "an absolute path to the Docker engine's unix socket".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(&env(pairs), &Overrides::default())
    }

    #[test]
    fn defaults_are_loopback_and_the_standard_socket() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.listen,
            [ListenAddr::Tcp {
                addr: "127.0.0.1:2375".parse().unwrap(),
                dual_stack: false
            }]
        );
        assert_eq!(c.socket_path, PathBuf::from("/var/run/docker.sock"));
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.shutdown_grace, Duration::from_secs(10));
        assert_eq!(c.policy.granted(), Flags::defaults());
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn booleans_accept_every_documented_spelling() {
        for yes in ["1", "true", "TRUE", "Yes", "on", "ON"] {
            let c = config(&[("NETWORKS", yes)]).unwrap();
            assert!(
                c.policy.granted().has(Flag::Section(Section::Networks)),
                "{yes}"
            );
        }
        for no in ["0", "false", "No", "OFF"] {
            let c = config(&[("PING", no)]).unwrap();
            assert!(
                !c.policy.granted().has(Flag::Section(Section::Ping)),
                "{no}"
            );
        }
    }

    #[test]
    fn a_bad_boolean_names_the_variable_value_and_choices() {
        let e = config(&[("CONTAINERS", "2")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CONTAINERS=\"2\" is not valid: 1/0, true/false, yes/no or on/off (any case)"
        );
        assert_eq!(config(&[("POST", "maybe")]).unwrap_err().variable, "POST");
        assert_eq!(
            config(&[("ALLOW_START", "")]).unwrap_err().variable,
            "ALLOW_START"
        );
        assert_eq!(
            config(&[("DISABLE_IPV6", "y")]).unwrap_err().variable,
            "DISABLE_IPV6"
        );
        assert_eq!(
            config(&[("LIBPOD_PING", "x")]).unwrap_err().variable,
            "LIBPOD_PING"
        );
    }

    #[test]
    fn every_flag_variable_is_read() {
        for v in VARIABLES {
            if let Kind::Flag(flag) = v.kind {
                let on = flag.default_on();
                let value = if on { "0" } else { "1" };
                let c = config(&[(v.name, value)]).unwrap();
                assert_eq!(c.policy.granted().has(flag), !on, "{}", v.name);
            }
        }
    }

    #[test]
    fn listen_takes_tcp_and_unix_addresses() {
        let c = config(&[(
            "LISTEN",
            "tcp://0.0.0.0:2375, unix:///run/dockgate/docker.sock",
        )])
        .unwrap();
        assert_eq!(
            c.listen,
            [
                ListenAddr::Tcp {
                    addr: "0.0.0.0:2375".parse().unwrap(),
                    dual_stack: false
                },
                ListenAddr::Unix("/run/dockgate/docker.sock".into()),
            ]
        );
        let c = config(&[("LISTEN", "tcp://[::1]:2376")]).unwrap();
        assert_eq!(
            c.listen,
            [ListenAddr::Tcp {
                addr: "[::1]:2376".parse().unwrap(),
                dual_stack: false
            }]
        );
        let c = config(&[("LISTEN", "tcp://localhost:0")]).unwrap();
        assert_eq!(
            c.listen,
            [ListenAddr::Tcp {
                addr: "127.0.0.1:0".parse().unwrap(),
                dual_stack: false
            }]
        );
    }

    #[test]
    fn all_interfaces_is_dual_stack_unless_ipv6_is_disabled() {
        let c = config(&[("LISTEN", "tcp://:2375")]).unwrap();
        assert_eq!(
            c.listen,
            [ListenAddr::Tcp {
                addr: "[::]:2375".parse().unwrap(),
                dual_stack: true
            }]
        );
        let c = config(&[("LISTEN", "tcp://:2375"), ("DISABLE_IPV6", "yes")]).unwrap();
        assert_eq!(
            c.listen,
            [ListenAddr::Tcp {
                addr: "0.0.0.0:2375".parse().unwrap(),
                dual_stack: false
            }]
        );
    }

    #[test]
    fn a_bad_listen_address_names_the_variable() {
        for bad in [
            "2375",
            "http://x:1",
            "tcp://host:1",
            "tcp://1.2.3.4",
            "tcp://1.2.3.4:99999",
            "unix://rel",
            "tcp://::1:2",
        ] {
            let e = config(&[("LISTEN", bad)]).unwrap_err();
            assert_eq!(e.variable, "LISTEN", "{bad}");
            assert!(e.to_string().contains("tcp://HOST:PORT"), "{e}");
        }
        let e = Config::from_env(
            &env(&[]),
            &Overrides {
                listen: vec!["nope".into()],
                socket_path: None,
            },
        );
        assert_eq!(e.unwrap_err().variable, "--listen");
    }

    #[test]
    fn flags_override_the_environment() {
        let overrides = Overrides {
            listen: vec!["unix:///tmp/x.sock".into()],
            socket_path: Some("/tmp/docker.sock".into()),
        };
        let c = Config::from_env(
            &env(&[("LISTEN", "tcp://:1"), ("SOCKET_PATH", "/a")]),
            &overrides,
        )
        .unwrap();
        assert_eq!(c.listen, [ListenAddr::Unix("/tmp/x.sock".into())]);
        assert_eq!(c.socket_path, PathBuf::from("/tmp/docker.sock"));
    }

    #[test]
    fn socket_path_must_be_absolute() {
        assert_eq!(
            config(&[("SOCKET_PATH", "docker.sock")])
                .unwrap_err()
                .variable,
            "SOCKET_PATH"
        );
        let c = config(&[("SOCKET_PATH", "unix:///run/docker.sock")]).unwrap();
        assert_eq!(c.socket_path, PathBuf::from("/run/docker.sock"));
    }

    #[test]
    fn log_levels_take_haproxy_names() {
        assert_eq!(
            config(&[("LOG_LEVEL", "warning")]).unwrap().log_level,
            LogLevel::Warn
        );
        assert_eq!(
            config(&[("LOG_LEVEL", "notice")]).unwrap().log_level,
            LogLevel::Info
        );
        assert_eq!(
            config(&[("LOG_LEVEL", "err")]).unwrap().log_level,
            LogLevel::Error
        );
        assert_eq!(
            config(&[("LOG_LEVEL", "DEBUG")]).unwrap().log_level,
            LogLevel::Debug
        );
        assert_eq!(
            config(&[("LOG_LEVEL", "loud")]).unwrap_err().variable,
            "LOG_LEVEL"
        );
    }

    #[test]
    fn shutdown_grace_takes_units() {
        let grace = |v| config(&[("SHUTDOWN_GRACE", v)]).map(|c| c.shutdown_grace);
        assert_eq!(grace("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(grace("7"), Ok(Duration::from_secs(7)));
        assert_eq!(grace("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(grace("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(grace("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "1h", "-1s", "1.5s"] {
            assert_eq!(grace(bad).unwrap_err().variable, "SHUTDOWN_GRACE", "{bad}");
        }
    }

    #[test]
    fn misspellings_are_warned_about_with_the_likely_variable() {
        let c = config(&[
            ("ALOW_START", "1"),
            ("CONTAINER", "1"),
            ("NETWORK", "true"),
            ("networks", "1"),
        ])
        .unwrap();
        assert_eq!(
            c.warnings,
            [
                "ALOW_START is not a dockgate variable and is ignored; did you mean ALLOW_START?",
                "CONTAINER is not a dockgate variable and is ignored; did you mean CONTAINERS?",
                "NETWORK is not a dockgate variable and is ignored; did you mean NETWORKS?",
                "networks is not a dockgate variable and is ignored; did you mean NETWORKS?",
            ]
        );
        let c = config(&[("ALLOW_RESTART", "1"), ("LOGLEVEL", "debug")]).unwrap();
        assert_eq!(c.warnings.len(), 2);
        assert!(c.warnings[0].ends_with("did you mean ALLOW_RESTARTS?"));
        assert!(c.warnings[1].ends_with("did you mean LOG_LEVEL?"));
    }

    #[test]
    fn ordinary_environment_is_not_mistaken_for_a_misspelling() {
        let c = config(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("PORT", "8080"),
            ("HOSTNAME", "abc"),
            ("TERM", "xterm"),
            ("DOCKER_HOST", "tcp://x:1"),
            ("LANG", "C.UTF-8"),
        ])
        .unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn other_proxies_variables_are_named_not_ignored() {
        let c = config(&[
            ("DELETE", "1"),
            ("ALLOW_EXEC", "1"),
            ("LIBPOD_CONTAINERS", "1"),
            ("LIBPOD_PING", "0"),
        ])
        .unwrap();
        assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
        assert!(c
            .warnings
            .iter()
            .any(|w| w.starts_with("ALLOW_EXEC is not a dockgate variable")));
        assert!(c
            .warnings
            .iter()
            .any(|w| w.starts_with("DELETE is not a dockgate variable")));
        assert!(c
            .warnings
            .iter()
            .any(|w| w.starts_with("LIBPOD_CONTAINERS=1 has no effect")));
    }

    #[test]
    fn run_as_takes_numeric_ids() {
        assert_eq!(
            config(&[]).unwrap().run_as,
            Ids {
                uid: 65534,
                gid: 65534
            }
        );
        assert_eq!(
            config(&[("RUN_AS", "1000")]).unwrap().run_as,
            Ids {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(
            config(&[("RUN_AS", "1000:50")]).unwrap().run_as,
            Ids { uid: 1000, gid: 50 }
        );
        assert_eq!(
            config(&[("RUN_AS", "0")]).unwrap().run_as,
            Ids { uid: 0, gid: 0 }
        );
        for bad in ["nobody", "1000:", ":5", "-1", ""] {
            assert_eq!(
                config(&[("RUN_AS", bad)]).unwrap_err().variable,
                "RUN_AS",
                "{bad}"
            );
        }
    }

    #[test]
    fn unix_socket_access_is_validated() {
        let c = config(&[
            ("SOCKET_OWNER", "1000"),
            ("SOCKET_GROUP", "4242"),
            ("SOCKET_MODE", "0600"),
        ])
        .unwrap();
        assert_eq!(
            c.unix_socket,
            UnixSocketAccess {
                owner: Some(1000),
                group: Some(4242),
                mode: 0o600
            }
        );
        assert_eq!(
            config(&[]).unwrap().unix_socket,
            UnixSocketAccess {
                owner: None,
                group: None,
                mode: 0o660
            }
        );
        assert_eq!(
            config(&[("SOCKET_MODE", "660")]).unwrap().unix_socket.mode,
            0o660
        );
        assert_eq!(
            config(&[("SOCKET_MODE", "0999")]).unwrap_err().variable,
            "SOCKET_MODE"
        );
        assert_eq!(
            config(&[("SOCKET_MODE", "01777")]).unwrap_err().variable,
            "SOCKET_MODE"
        );
        assert_eq!(
            config(&[("SOCKET_GROUP", "docker")]).unwrap_err().variable,
            "SOCKET_GROUP"
        );
    }

    #[test]
    fn body_policy_variables_are_read_and_validated() {
        let c = config(&[
            ("ALLOW_PRIVILEGED", "1"),
            ("ALLOW_CAPS", "net_admin, CAP_SYS_TIME"),
            ("ALLOW_BIND_MOUNTS", "/srv/data,/var/log:ro"),
            ("MAX_BODY", "512KiB"),
        ])
        .unwrap();
        assert!(c.body.privileged && !c.body.devices);
        assert_eq!(c.body.caps, ["NET_ADMIN", "SYS_TIME"]);
        assert_eq!(c.body.bind_mounts.len(), 2);
        assert_eq!(c.body.max_body, 512 << 10);
        assert_eq!(config(&[]).unwrap().body, BodyPolicy::default());
        assert_eq!(
            config(&[("ALLOW_BIND_MOUNTS", "srv")])
                .unwrap_err()
                .variable,
            "ALLOW_BIND_MOUNTS"
        );
        assert_eq!(
            config(&[("ALLOW_CAPS", "NET ADMIN")]).unwrap_err().variable,
            "ALLOW_CAPS"
        );
        assert_eq!(
            config(&[("MAX_BODY", "1GB")]).unwrap_err().variable,
            "MAX_BODY"
        );
        assert_eq!(
            config(&[("ALLOW_DEVICES", "sure")]).unwrap_err().variable,
            "ALLOW_DEVICES"
        );
    }

    #[test]
    fn help_documents_every_variable() {
        let help = help_text();
        for (name, _) in known_names() {
            assert!(help.contains(name), "{name} is missing from --help");
        }
    }
}
