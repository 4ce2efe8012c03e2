//! The configuration's tests: variables in, `Config` or `ConfigError` out.

use super::vars::known_names;
use super::*;
use crate::api::Section;
use crate::policy::Flag;

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
fn mode_is_enforce_unless_set_and_a_wrong_one_names_mode() {
    use crate::learn::Mode;
    assert_eq!(config(&[]).unwrap().mode, Mode::Enforce);
    assert_eq!(config(&[("MODE", "learn")]).unwrap().mode, Mode::Learn);
    assert_eq!(config(&[("MODE", "Warn")]).unwrap().mode, Mode::Warn);
    let error = config(&[("MODE", "audit")]).unwrap_err();
    assert_eq!(error.variable, "MODE");
    assert!(error.expected.contains("enforce, warn or learn"));
}

#[test]
fn log_format_is_text_unless_json_and_a_bad_one_is_named() {
    assert_eq!(config(&[]).unwrap().log_format, LogFormat::Text);
    assert_eq!(
        config(&[("LOG_FORMAT", "JSON")]).unwrap().log_format,
        LogFormat::Json
    );
    let error = config(&[("LOG_FORMAT", "logfmt")]).unwrap_err();
    assert_eq!(error.variable, "LOG_FORMAT");
    assert_eq!(error.expected, "text or json");
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
    assert_eq!(c.max_body, 512 << 10);
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

/// The default `--help` shows for each variable, read through the variable's own parser, is the
/// configuration of an empty environment: help and behaviour cannot drift apart.
#[test]
fn defaults_shown_in_help_are_the_built_in_defaults() {
    let built_in = config(&[]).unwrap();
    assert_eq!(built_in.max_connections, 4096);
    let help = help_text();
    let mut checked = 0;
    for line in help.lines() {
        let Some((name, rest)) = line.trim_start().split_once(" [") else {
            continue;
        };
        let name = name.trim_end();
        let default = rest.split_once("] ").expect("a default then the help").0;
        let derived = VARIABLES.iter().any(|v| {
            v.name == name
                && matches!(
                    v.kind,
                    Kind::Value {
                        default: DefaultValue::Derived(_),
                        ..
                    }
                )
        });
        if derived {
            continue;
        }
        let set = config(&[(name, default)]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            set, built_in,
            "{name}={default:?} is not the built-in default"
        );
        checked += 1;
    }
    let derived = VARIABLES
        .iter()
        .filter(|v| {
            matches!(
                v.kind,
                Kind::Value {
                    default: DefaultValue::Derived(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(checked, VARIABLES.len() - derived + Section::ALL.len());
}

/// Each boolean sets its own thing: no two switches (and no switch and its default) give the
/// same configuration.
#[test]
fn every_switch_sets_something_of_its_own() {
    // All interfaces, so that DISABLE_IPV6 has something to change.
    let all = ("LISTEN", "tcp://:2375");
    let built_in = config(&[all]).unwrap();
    let mut seen: Vec<(&str, Config)> = vec![];
    for v in VARIABLES {
        let Kind::Switch { default, .. } = v.kind else {
            continue;
        };
        let flipped = if default { "0" } else { "1" };
        let c = config(&[all, (v.name, flipped)]).unwrap();
        assert_ne!(c, built_in, "{} changes nothing", v.name);
        for (other, earlier) in &seen {
            assert_ne!(&c, earlier, "{} and {other} set the same thing", v.name);
        }
        seen.push((v.name, c));
    }
    assert_eq!(seen.len(), 6);
}

#[test]
fn post_without_a_section_that_writes_is_warned_about() {
    let c = config(&[("POST", "1")]).unwrap();
    assert_eq!(
        c.warnings,
        ["POST=1 has no effect: no enabled section has routes that write; enable the sections to \
          write to, e.g. CONTAINERS=1"]
    );
    // The default sections (ping, version, events) only read.
    let c = config(&[("POST", "1"), ("PING", "1"), ("EVENTS", "1")]).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    for section in ["CONTAINERS", "IMAGES", "NETWORKS", "VOLUMES"] {
        let c = config(&[("POST", "1"), (section, "1")]).unwrap();
        assert!(c.warnings.is_empty(), "{section}: {:?}", c.warnings);
    }
}

#[test]
fn exec_without_containers_and_post_is_warned_about() {
    let exec_warning = |pairs: &[(&str, &str)]| {
        let c = config(pairs).unwrap();
        c.warnings
            .iter()
            .any(|w| w.starts_with("EXEC=1 without CONTAINERS=1 and POST=1"))
    };
    assert!(exec_warning(&[("EXEC", "1")]));
    assert!(exec_warning(&[("EXEC", "1"), ("CONTAINERS", "1")]));
    assert!(exec_warning(&[
        ("EXEC", "1"),
        ("POST", "1"),
        ("IMAGES", "1")
    ]));
    assert!(!exec_warning(&[
        ("EXEC", "1"),
        ("CONTAINERS", "1"),
        ("POST", "1")
    ]));
    let c = config(&[("EXEC", "1"), ("CONTAINERS", "1"), ("POST", "1")]).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn archive_and_export_without_containers_are_warned_about() {
    let c = config(&[("ALLOW_ARCHIVE", "1"), ("ALLOW_EXPORT", "yes")]).unwrap();
    assert_eq!(
        c.warnings,
        [
            "ALLOW_ARCHIVE=1 has no effect without CONTAINERS=1: it narrows what the containers \
             section allows",
            "ALLOW_EXPORT=1 has no effect without CONTAINERS=1: it narrows what the containers \
             section allows",
        ]
    );
    let c = config(&[
        ("ALLOW_ARCHIVE", "1"),
        ("ALLOW_EXPORT", "1"),
        ("CONTAINERS", "1"),
    ])
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn body_switches_with_no_body_allowed_are_warned_about() {
    let c = config(&[
        ("ALLOW_PRIVILEGED", "1"),
        ("ALLOW_BIND_MOUNTS", "/srv"),
        ("ALLOW_CAPS", "NET_ADMIN"),
        ("ALLOW_DEVICES", "0"),
        ("CONTAINERS", "1"),
    ])
    .unwrap();
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    assert_eq!(
        c.warnings[0],
        "ALLOW_PRIVILEGED=1 has no effect: no request it is checked on is allowed (container \
         create and the like need POST=1 and their section, e.g. CONTAINERS=1)"
    );
    assert!(c.warnings[1].starts_with("ALLOW_CAPS=NET_ADMIN has no effect"));
    assert!(c.warnings[2].starts_with("ALLOW_BIND_MOUNTS=/srv has no effect"));
    // Writable sections with inspected bodies: each switch can matter.
    for section in ["CONTAINERS", "BUILD", "PLUGINS", "IMAGES"] {
        let c = config(&[
            ("ALLOW_PRIVILEGED", "1"),
            ("ALLOW_REMOTE_FETCH", "1"),
            ("POST", "1"),
            (section, "1"),
        ])
        .unwrap();
        assert!(c.warnings.is_empty(), "{section}: {:?}", c.warnings);
    }
    // A start judges a legacy start body (a whole HostConfig) even without POST.
    let c = config(&[
        ("ALLOW_PRIVILEGED", "1"),
        ("CONTAINERS", "1"),
        ("ALLOW_START", "1"),
    ])
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // POST with only sections that take no inspected body.
    let c = config(&[("ALLOW_PRIVILEGED", "1"), ("POST", "1"), ("SECRETS", "1")]).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
}

#[test]
fn head_timeout_takes_units_and_defaults_to_haproxys() {
    let head = |v| config(&[("HEAD_TIMEOUT", v)]).map(|c| c.head_timeout);
    assert_eq!(config(&[]).unwrap().head_timeout, Duration::from_secs(10));
    assert_eq!(head("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(head("0"), Ok(Duration::ZERO));
    assert_eq!(head("1h").unwrap_err().variable, "HEAD_TIMEOUT");
}

#[test]
fn admin_listen_is_off_unless_set() {
    assert_eq!(config(&[]).unwrap().admin_listen, None);
    let c = config(&[("ADMIN_LISTEN", "tcp://127.0.0.1:9102")]).unwrap();
    assert_eq!(
        c.admin_listen,
        Some(ListenAddr::Tcp {
            addr: "127.0.0.1:9102".parse().unwrap(),
            dual_stack: false
        })
    );
    let c = config(&[("ADMIN_LISTEN", "unix:///run/dockgate/admin.sock")]).unwrap();
    assert_eq!(
        c.admin_listen,
        Some(ListenAddr::Unix("/run/dockgate/admin.sock".into()))
    );
    assert_eq!(
        config(&[("ADMIN_LISTEN", "9102")]).unwrap_err().variable,
        "ADMIN_LISTEN"
    );
}

#[test]
fn admin_listen_on_a_listen_address_is_refused_naming_it() {
    for (listen, admin) in [
        ("tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375"),
        ("tcp://:2375", "tcp://127.0.0.1:2375"),
        ("tcp://127.0.0.1:2375", "tcp://0.0.0.0:2375"),
        (
            "tcp://127.0.0.1:2375,unix:///run/dockgate/docker.sock",
            "unix:///run/dockgate/docker.sock",
        ),
    ] {
        let error = config(&[("LISTEN", listen), ("ADMIN_LISTEN", admin)]).unwrap_err();
        assert_eq!(error.variable, "ADMIN_LISTEN", "{listen} {admin}");
        assert!(error.to_string().contains("LISTEN's"), "{error}");
    }
    // A --listen flag replaces LISTEN, and is checked the same way.
    let overrides = Overrides {
        listen: vec!["tcp://127.0.0.1:9102".into()],
        ..Overrides::default()
    };
    let error = Config::from_env(
        &env(&[("ADMIN_LISTEN", "tcp://127.0.0.1:9102")]),
        &overrides,
    )
    .unwrap_err();
    assert_eq!(error.variable, "ADMIN_LISTEN");
    // Another port, or another host's same port, is fine.
    for (listen, admin) in [
        ("tcp://127.0.0.1:2375", "tcp://127.0.0.1:9102"),
        ("tcp://127.0.0.1:2375", "tcp://127.0.0.2:2375"),
        (
            "unix:///run/dockgate/docker.sock",
            "unix:///run/dockgate/admin.sock",
        ),
    ] {
        assert!(config(&[("LISTEN", listen), ("ADMIN_LISTEN", admin)]).is_ok());
    }
}
