//! The table of variables: each one's name, default, `--help` line and what it sets, in one
//! entry. Adding a variable is adding an entry here (and the field it sets).

use std::borrow::Cow;

use super::values::{
    config_path, parse_bool, parse_caps, parse_count, parse_duration, parse_id, parse_ids,
    parse_listen, parse_log_format, parse_log_level, parse_mode, parse_prefixes, parse_size,
    preset, socket_path, BOOLEAN,
};
use super::{Builder, ConfigError};
use crate::api::Section;
use crate::learn::Mode;
use crate::policy::Flag;

/// One documented environment variable.
#[derive(Clone, Copy, Debug)]
pub struct Variable {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// How a variable is read, what it sets, and what holds when it is unset.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A grant of the policy: a boolean, which unset is the policy's (`Flag::default_on`).
    Flag(Flag),
    /// Another boolean.
    Switch {
        default: bool,
        set: fn(&mut Builder, bool),
    },
    /// Any other value: `read` gets the variable's name and value; unset, it reads the default.
    Value {
        default: DefaultValue,
        read: fn(&mut Builder, &str, &str) -> Result<(), ConfigError>,
    },
}

/// A value's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// Read through the variable's own parser when the variable is unset.
    Parsed(&'static str),
    /// Follows other settings; shown in `--help`, nothing is read.
    Derived(&'static str),
}

impl Variable {
    /// The default as `--help` shows it.
    pub fn default(&self) -> Cow<'static, str> {
        let bool_text = |on: bool| Cow::Borrowed(if on { "1" } else { "0" });
        match self.kind {
            Kind::Flag(flag) => bool_text(flag.default_on()),
            Kind::Switch { default, .. } => bool_text(default),
            Kind::Value {
                default: DefaultValue::Parsed(text) | DefaultValue::Derived(text),
                ..
            } => Cow::Borrowed(text),
        }
    }

    /// Whether the variable takes a boolean.
    pub fn is_boolean(&self) -> bool {
        !matches!(self.kind, Kind::Value { .. })
    }

    /// Sets what the variable sets from `value`, or from the default when it is unset.
    pub(super) fn apply(
        &self,
        builder: &mut Builder,
        value: Option<&str>,
    ) -> Result<(), ConfigError> {
        match (self.kind, value) {
            (Kind::Flag(flag), Some(value)) => {
                builder.granted.set(flag, parse_bool(self.name, value)?)
            }
            (Kind::Flag(_), None) => {}
            (Kind::Switch { set, .. }, Some(value)) => set(builder, parse_bool(self.name, value)?),
            (Kind::Switch { set, default }, None) => set(builder, default),
            (Kind::Value { read, .. }, Some(value)) => read(builder, self.name, value)?,
            (
                Kind::Value {
                    read,
                    default: DefaultValue::Parsed(text),
                },
                None,
            ) => read(builder, self.name, text)?,
            (
                Kind::Value {
                    default: DefaultValue::Derived(_),
                    ..
                },
                None,
            ) => {}
        }
        Ok(())
    }
}

/// Every variable dockgate reads, in `--help` order (sections are added from the route table).
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "LISTEN",
        kind: Kind::Value {
            default: DefaultValue::Parsed("tcp://127.0.0.1:2375"),
            read: |b, name, value| {
                b.listen = value
                    .split(',')
                    .map(|a| parse_listen(name, a.trim()))
                    .collect::<Result<_, _>>()?;
                Ok(())
            },
        },
        help: "Where to listen: tcp://HOST:PORT or unix:///path, several separated by commas. \
               tcp://:2375 means all interfaces (IPv6 and IPv4).",
    },
    Variable {
        name: "ADMIN_LISTEN",
        kind: Kind::Value {
            default: DefaultValue::Derived("off"),
            read: |b, name, value| {
                b.admin_listen = Some(parse_listen(name, value)?);
                Ok(())
            },
        },
        help: "Serve /metrics (Prometheus), /healthz and /readyz here: tcp://HOST:PORT or \
               unix:///path, never a LISTEN address. Bound after the privilege drop, so a port \
               above 1024.",
    },
    Variable {
        name: "SOCKET_PATH",
        kind: Kind::Value {
            default: DefaultValue::Parsed("/var/run/docker.sock"),
            read: |b, name, value| {
                b.socket_path = Some(socket_path(name, value)?);
                Ok(())
            },
        },
        help: "The Docker engine's unix socket.",
    },
    Variable {
        name: "LOG_LEVEL",
        kind: Kind::Value {
            default: DefaultValue::Parsed("info"),
            read: |b, _, value| {
                b.log_level = Some(parse_log_level(value)?);
                Ok(())
            },
        },
        help: "error, warn(ing), info, notice, debug or trace; HAProxy's emerg/alert/crit/err too. \
               info logs a line per request; under load lines are written in batches, at most \
               50 ms late.",
    },
    Variable {
        name: "MODE",
        kind: Kind::Value {
            default: DefaultValue::Parsed("enforce"),
            read: |b, name, value| {
                b.mode = Some(Mode::parse(value).ok_or_else(|| ConfigError {
                    variable: name.into(),
                    value: value.into(),
                    expected: "enforce, warn or learn".into(),
                })?);
                Ok(())
            },
        },
        help: "enforce refuses what the grant does not allow. warn forwards what only a grant \
               keeps out (logged at warn with the grant that would allow it), for a trial on a \
               trusted host; learn does the same and prints, per client, the smallest grant that \
               covers it all at exit and on SIGUSR1 (`dockgate learn` is MODE=learn). What no \
               grant allows (/debug, malformed requests) is refused in every mode.",
    },
    Variable {
        name: "LOG_FORMAT",
        kind: Kind::Value {
            default: DefaultValue::Parsed("text"),
            read: |b, name, value| {
                b.log_format = Some(parse_log_format(name, value)?);
                Ok(())
            },
        },
        help: "text, or json: one JSON object a line, each request's decision with the client \
               that asked (fields in docs/audit-log.md).",
    },
    Variable {
        name: "DISABLE_IPV6",
        kind: Kind::Switch {
            default: false,
            set: |b, on| b.disable_ipv6 = on,
        },
        help: "Listen on 0.0.0.0 instead of [::] for an all-interfaces LISTEN.",
    },
    Variable {
        name: "SHUTDOWN_GRACE",
        kind: Kind::Value {
            default: DefaultValue::Parsed("10s"),
            read: |b, name, value| {
                b.shutdown_grace = Some(parse_duration(name, value)?);
                Ok(())
            },
        },
        help: "On SIGTERM/SIGINT, how long open requests and streams may finish (e.g. 10s, 500ms, 1m).",
    },
    Variable {
        name: "HEAD_TIMEOUT",
        kind: Kind::Value {
            default: DefaultValue::Parsed("10s"),
            read: |b, name, value| {
                b.head_timeout = Some(parse_duration(name, value)?);
                Ok(())
            },
        },
        help: "How long a client may take to send a request head, which is also how long an idle \
               keep-alive connection stays open (HAProxy's timeout http-request); 0 for no limit. \
               Bodies, responses, streams and attach/exec are never cut.",
    },
    Variable {
        name: "MAX_CONNECTIONS",
        kind: Kind::Value {
            default: DefaultValue::Parsed("4096"),
            read: |b, name, value| {
                b.max_connections = Some(parse_count(name, value)?);
                Ok(())
            },
        },
        help: "Client connections served at once; more wait in the listen backlog. Upgraded \
               connections (attach, exec) are not counted once they switch.",
    },
    Variable {
        name: "RUN_AS",
        kind: Kind::Value {
            default: DefaultValue::Parsed("65534:65534"),
            read: |b, _, value| {
                b.run_as = Some(parse_ids(value)?);
                Ok(())
            },
        },
        help: "Started as root, dockgate binds its listeners and then runs as this uid[:gid] with \
               the Docker socket's group as its only other group. RUN_AS=0 keeps root.",
    },
    Variable {
        name: "SOCKET_OWNER",
        kind: Kind::Value {
            default: DefaultValue::Derived("RUN_AS uid"),
            read: |b, name, value| {
                b.unix_socket.owner = Some(parse_id(name, value)?);
                Ok(())
            },
        },
        help: "Owner (numeric uid) of a unix socket dockgate listens on.",
    },
    Variable {
        name: "SOCKET_GROUP",
        kind: Kind::Value {
            default: DefaultValue::Derived("RUN_AS gid"),
            read: |b, name, value| {
                b.unix_socket.group = Some(parse_id(name, value)?);
                Ok(())
            },
        },
        help: "Group (numeric gid) of a unix socket dockgate listens on: give it to non-root clients.",
    },
    Variable {
        name: "SOCKET_MODE",
        kind: Kind::Value {
            default: DefaultValue::Parsed("0660"),
            read: |b, _, value| {
                b.socket_mode = Some(parse_mode(value)?);
                Ok(())
            },
        },
        help: "Permissions (octal) of a unix socket dockgate listens on.",
    },
    Variable {
        name: "CONFIG",
        kind: Kind::Value {
            default: DefaultValue::Derived("none"),
            read: |b, name, value| {
                b.config_file = Some(config_path(name, value)?);
                Ok(())
            },
        },
        help: "A config file (TOML) of profiles and the rules that give them to clients; the \
               environment's grant stays the default. Reloaded on SIGHUP and when it changes.",
    },
    Variable {
        name: "PRESET",
        kind: Kind::Value {
            default: DefaultValue::Derived("none"),
            read: |b, name, value| {
                b.preset = Some(preset(name, value)?);
                Ok(())
            },
        },
        help: "Start the environment's grant from a preset (traefik, homepage, read-only, ...); \
               the grant variables set beside it change it.",
    },
    Variable {
        name: "POST",
        kind: Kind::Flag(Flag::Post),
        help: "Allow writes (POST, PUT, DELETE, and GET websocket attach) in the enabled sections.",
    },
    Variable {
        name: "ALLOW_START",
        kind: Kind::Flag(Flag::AllowStart),
        help: "Allow starting containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_STOP",
        kind: Kind::Flag(Flag::AllowStop),
        help: "Allow stopping containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_RESTARTS",
        kind: Kind::Flag(Flag::AllowRestarts),
        help: "Allow stopping, restarting and killing containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_PAUSE",
        kind: Kind::Flag(Flag::AllowPause),
        help: "Allow pausing containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_UNPAUSE",
        kind: Kind::Flag(Flag::AllowUnpause),
        help: "Allow unpausing containers, without POST or CONTAINERS.",
    },
    Variable {
        name: "ALLOW_ARCHIVE",
        kind: Kind::Flag(Flag::AllowArchive),
        help: "With CONTAINERS: read files out of containers (docker cp); with POST too, write them in.",
    },
    Variable {
        name: "ALLOW_EXPORT",
        kind: Kind::Flag(Flag::AllowExport),
        help: "With CONTAINERS: export a container's whole filesystem.",
    },
    Variable {
        name: "ALLOW_PRIVILEGED",
        kind: Kind::Switch {
            default: false,
            set: |b, on| b.body.privileged = on,
        },
        help: "Allow privileged containers and exec, and installing plugins (all root on the host).",
    },
    Variable {
        name: "ALLOW_HOST_NAMESPACES",
        kind: Kind::Switch {
            default: false,
            set: |b, on| b.body.host_namespaces = on,
        },
        help: "Allow the host's pid, ipc, uts, user, cgroup or network namespace (--pid=host ...).",
    },
    Variable {
        name: "ALLOW_CAPS",
        kind: Kind::Value {
            default: DefaultValue::Parsed(""),
            read: |b, _, value| {
                b.body.caps = parse_caps(value)?;
                Ok(())
            },
        },
        help: "Capabilities containers may add, e.g. NET_ADMIN,SYS_TIME (ALL for any).",
    },
    Variable {
        name: "ALLOW_DEVICES",
        kind: Kind::Switch {
            default: false,
            set: |b, on| b.body.devices = on,
        },
        help: "Allow host devices, device cgroup rules and device requests (GPUs).",
    },
    Variable {
        name: "ALLOW_BIND_MOUNTS",
        kind: Kind::Value {
            default: DefaultValue::Parsed(""),
            read: |b, _, value| {
                b.body.bind_mounts = parse_prefixes(value)?;
                Ok(())
            },
        },
        help: "Host path prefixes containers may mount, e.g. /srv/data,/var/log:ro (:ro = read-only \
               only). Also needed for VolumesFrom.",
    },
    Variable {
        name: "ALLOW_SECURITY_OPTS",
        kind: Kind::Switch {
            default: false,
            set: |b, on| b.body.security_opts = on,
        },
        help: "Allow weakening confinement: security options other than no-new-privileges, \
               explicit masked/read-only paths, cgroup parent, sysctls, runtimes, annotations.",
    },
    Variable {
        name: "ALLOW_REMOTE_FETCH",
        kind: Kind::Switch {
            default: false,
            set: |b, on| b.body.remote_fetch = on,
        },
        help: "Allow builds from a remote URL and image imports from a URL (the engine fetches it).",
    },
    Variable {
        name: "MAX_BODY",
        kind: Kind::Value {
            default: DefaultValue::Parsed("1MiB"),
            read: |b, _, value| {
                b.max_body = Some(parse_size(value)?);
                Ok(())
            },
        },
        help: "The largest request body dockgate reads to inspect (container create and the like).",
    },
    Variable {
        name: "ALLOW_LOGS",
        kind: Kind::Flag(Flag::AllowLogs),
        help: "Set to 0 to refuse container logs even with CONTAINERS (linuxserver's restriction).",
    },
    Variable {
        name: "ALLOW_TOP",
        kind: Kind::Flag(Flag::AllowTop),
        help: "Set to 0 to refuse listing container processes even with CONTAINERS.",
    },
    Variable {
        name: "ALLOW_CHANGES",
        kind: Kind::Flag(Flag::AllowChanges),
        help: "Set to 0 to refuse container filesystem diffs even with CONTAINERS.",
    },
];

/// Variables of other socket proxies that dockgate reads only to say it does not act on them.
pub(super) const FOREIGN: &[(&str, &str)] = &[
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

/// Every name that sets something, for misspelling checks: (name, takes a boolean).
pub(super) fn known_names() -> impl Iterator<Item = (&'static str, bool)> {
    let sections = Section::ALL.into_iter().map(|s| (s.var(), true));
    let variables = VARIABLES.iter().map(|v| (v.name, v.is_boolean()));
    sections.chain(variables)
}

/// The `--help` text for the environment: every variable, its default and meaning.
pub fn help_text() -> String {
    let mut out = String::from("Environment (flags override; booleans take ");
    out.push_str(BOOLEAN);
    out.push_str("):\n");
    let line = |out: &mut String, name: &str, default: &str, help: &str| {
        out.push_str(&format!("  {name:<15} [{default}] {help}\n"));
    };
    let is_grant = |v: &&Variable| matches!(v.kind, Kind::Flag(_));
    for v in VARIABLES.iter().filter(|v| !is_grant(v)) {
        line(&mut out, v.name, &v.default(), v.help);
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
    for v in VARIABLES.iter().filter(is_grant) {
        line(&mut out, v.name, &v.default(), v.help);
    }
    out.push_str(
        "\nLIBPOD_* variables are read and warned about: dockgate does not serve Podman's API.\n",
    );
    out
}
