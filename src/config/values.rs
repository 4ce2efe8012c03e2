//! Value parsers: one variable's text → a typed value, or a [`ConfigError`] that names the
//! variable (or flag), the value and what is accepted.
//!
//! Pure functions of their input; the table in [`super::vars`] says which variable uses which.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, ListenAddr, LogFormat, LogLevel};
use crate::inspect::normalise_cap;
use crate::inspect::paths::Prefix;
use crate::privilege::Ids;

/// The spellings every boolean variable takes.
pub(super) const BOOLEAN: &str = "1/0, true/false, yes/no or on/off (any case)";

pub(super) fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
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

pub(super) fn looks_boolean(value: &str) -> bool {
    parse_bool("", value).is_ok()
}

/// One listen address. An all-interfaces address comes back dual-stack; [`ipv4_only`] turns it
/// into `0.0.0.0` when `DISABLE_IPV6` says so.
pub(super) fn parse_listen(source: &str, value: &str) -> Result<ListenAddr, ConfigError> {
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
    match host {
        "" | "[::]" => Ok(ListenAddr::Tcp {
            addr: SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port),
            dual_stack: true,
        }),
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

/// An all-interfaces address on IPv4 only (`DISABLE_IPV6=1`); other addresses are kept.
pub(super) fn ipv4_only(addr: ListenAddr) -> ListenAddr {
    match addr {
        ListenAddr::Tcp {
            addr,
            dual_stack: true,
        } => ListenAddr::Tcp {
            addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port()),
            dual_stack: false,
        },
        other => other,
    }
}

/// Refuses an ADMIN_LISTEN that would take a LISTEN address (or its port on an overlapping
/// host): the admin endpoint is not the proxy, and clients must never reach it by accident.
pub(super) fn admin_apart(
    admin: Option<&ListenAddr>,
    listen: &[ListenAddr],
) -> Result<(), ConfigError> {
    let Some(admin) = admin else { return Ok(()) };
    let clash = |other: &ListenAddr| match (admin, other) {
        (ListenAddr::Unix(a), ListenAddr::Unix(b)) => a == b,
        (ListenAddr::Tcp { addr: a, .. }, ListenAddr::Tcp { addr: b, .. }) => {
            // Port 0 is a fresh port each time: two of them never meet.
            a.port() == b.port()
                && a.port() != 0
                && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
        }
        _ => false,
    };
    match listen.iter().find(|other| clash(other)) {
        None => Ok(()),
        Some(other) => Err(ConfigError {
            variable: "ADMIN_LISTEN".into(),
            value: admin.to_string(),
            expected: format!(
                "an address apart from LISTEN's ({other} is LISTEN's): the admin endpoint never \
                 shares the proxy's port"
            ),
        }),
    }
}

pub(super) fn parse_log_level(value: &str) -> Result<LogLevel, ConfigError> {
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

pub(super) fn parse_log_format(name: &str, value: &str) -> Result<LogFormat, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(ConfigError {
            variable: name.into(),
            value: value.into(),
            expected: "text or json".into(),
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

pub(super) fn parse_caps(value: &str) -> Result<Vec<String>, ConfigError> {
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

pub(super) fn parse_prefixes(value: &str) -> Result<Vec<Prefix>, ConfigError> {
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
pub(super) fn parse_size(value: &str) -> Result<usize, ConfigError> {
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
pub(super) fn parse_ids(value: &str) -> Result<Ids, ConfigError> {
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

/// A numeric user or group id (`SOCKET_OWNER`, `SOCKET_GROUP`).
pub(super) fn parse_id(name: &str, value: &str) -> Result<u32, ConfigError> {
    value.parse().map_err(|_| ConfigError {
        variable: name.into(),
        value: value.into(),
        expected: "a numeric id".into(),
    })
}

pub(super) fn parse_mode(value: &str) -> Result<u32, ConfigError> {
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

/// A count above zero (`MAX_CONNECTIONS`).
pub(super) fn parse_count(name: &str, value: &str) -> Result<usize, ConfigError> {
    value
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ConfigError {
            variable: name.into(),
            value: value.into(),
            expected: "a whole number above 0".into(),
        })
}

pub(super) fn socket_path(source: &str, value: &str) -> Result<PathBuf, ConfigError> {
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

/// A config file's path: absolute, so a reload reads the same file whatever the directory.
pub(super) fn config_path(name: &str, value: &str) -> Result<PathBuf, ConfigError> {
    if value.starts_with('/') {
        Ok(PathBuf::from(value))
    } else {
        Err(ConfigError {
            variable: name.into(),
            value: value.into(),
            expected: "an absolute path to a TOML file".into(),
        })
    }
}

/// A preset's name.
pub(super) fn preset(
    name: &str,
    value: &str,
) -> Result<&'static crate::presets::Preset, ConfigError> {
    crate::presets::get(value).ok_or_else(|| ConfigError {
        variable: name.into(),
        value: value.into(),
        expected: format!("a preset: {}", crate::presets::names().join(", ")),
    })
}
