//! Properties over generated requests: the canonical target and the decision are stable under
//! re-encoding of unreserved characters, and an outcome never depends on a header the engine
//! ignores.

mod harness;

use std::io::{Read, Write};

use dockgate::api::{all_routes, Method, Seg, Target};
use dockgate::policy::{Flags, Policy};
use harness::fake_engine::{Behaviour, FakeEngine};
use proptest::prelude::*;

/// A concrete path for a route of the table, with the given ids filled in.
fn route_path(index: usize, ids: &[String], version: bool) -> (Method, String) {
    let routes: Vec<_> = all_routes().collect();
    let (section, route) = routes[index % routes.len()];
    let mut path = if version {
        String::from("/v1.41")
    } else {
        String::new()
    };
    path.push('/');
    path.push_str(section.segment());
    let mut ids = ids.iter().cycle();
    for seg in route.pattern {
        path.push('/');
        match seg {
            Seg::Lit(lit) => path.push_str(lit),
            Seg::Var => path.push_str(ids.next().unwrap()),
            Seg::Rest => path.push_str(&format!("registry.local/{}", ids.next().unwrap())),
        }
    }
    (route.method, path)
}

/// Percent-encodes the unreserved characters picked by `mask`.
fn reencode(path: &str, mask: &[bool]) -> String {
    path.chars()
        .zip(mask.iter().cycle())
        .map(|(c, &encode)| {
            if encode && (c.is_ascii_alphanumeric() || "-._~".contains(c)) {
                format!("%{:02X}", c as u8)
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_.-]{0,11}"
}

proptest! {
    #[test]
    fn canonical_path_and_decision_survive_reencoding(
        index in 0usize..200,
        ids in proptest::collection::vec(id(), 1..3),
        version in any::<bool>(),
        mask in proptest::collection::vec(any::<bool>(), 1..64),
    ) {
        let (method, plain) = route_path(index, &ids, version);
        let encoded = reencode(&plain, &mask);
        let (a, b) = (Target::parse(&plain).unwrap(), Target::parse(&encoded).unwrap());
        prop_assert_eq!(a.path(), b.path());
        prop_assert_eq!(a.version(), b.version());
        for policy in [Policy::new(Flags::defaults()), Policy::new(Flags::all_on())] {
            prop_assert_eq!(policy.decide(method, &a, None), policy.decide(method, &b, None));
        }
    }
}

fn status(proxy: &harness::Proxy, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(proxy.addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.get(9..12).unwrap_or("").to_string()
}

/// Headers the engine does not read for routing or privilege.
fn ignored_header() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9.:-]{1,20}".prop_map(|v| format!("Host: {v}")),
        "[ -~]{0,30}".prop_map(|v| format!("User-Agent: {}", v.trim())),
        "[0-9.]{1,15}".prop_map(|v| format!("X-Forwarded-For: {v}")),
        ("[A-Za-z]{1,10}", "[!-~]{0,20}").prop_map(|(n, v)| format!("X-Dg-{n}: {v}")),
    ]
}

#[test]
fn outcomes_never_depend_on_headers_the_engine_ignores() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let engine = FakeEngine::start(Behaviour::Json);
    let proxy = harness::Proxy::start(&[("CONTAINERS", "1"), ("SOCKET_PATH", engine.socket())]);
    let requests = [
        ("GET", "/v1.41/_ping", ""),
        ("GET", "/v1.41/containers/c/archive", ""),
        ("GET", "/v1.41/networks", ""),
        ("POST", "/v1.41/containers/create", r#"{"Image":"b"}"#),
        ("GET", "/v1.41/debug/vars", ""),
    ];
    let head = |(method, path, body): (&str, &str, &str), extra: &[String]| {
        let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        for header in extra {
            text.push_str(header);
            text.push_str("\r\n");
        }
        format!("{text}Content-Length: {}\r\n\r\n{body}", body.len())
    };
    let baseline: Vec<String> = requests
        .iter()
        .map(|r| status(&proxy, &head(*r, &["Host: docker".into()])))
        .collect();
    assert_eq!(baseline, ["200", "403", "403", "403", "403"]);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    runner
        .run(
            &(
                0..requests.len(),
                proptest::collection::vec(ignored_header(), 1..4),
            ),
            |(i, extra)| {
                prop_assert_eq!(
                    &status(&proxy, &head(requests[i], &extra)),
                    &baseline[i],
                    "{:?}",
                    extra
                );
                Ok(())
            },
        )
        .unwrap();
}

/// Body inspection, without a proxy: what the engine would honour is judged wherever and however
/// it is written.
mod bodies {
    use dockgate::api::Inspection;
    use dockgate::inspect::{check, BodyPolicy, EngineDefaults, Facts, Judgement};
    use proptest::prelude::*;

    fn judged(inspection: Inspection, body: &str, policy: &BodyPolicy) -> Judgement {
        let facts = Facts::closed(EngineDefaults::strictest());
        check(inspection, Some("c"), "", body.as_bytes(), policy, &facts)
            .unwrap_or_else(|why| panic!("{body}: {why}"))
    }

    /// Each HostConfig field that gives power, a value asking for it, and the grant it needs.
    const POWERS: &[(&str, &str, &str)] = &[
        ("Privileged", "true", "ALLOW_PRIVILEGED=1"),
        ("PidMode", r#""host""#, "ALLOW_HOST_NAMESPACES=1"),
        ("NetworkMode", r#""host""#, "ALLOW_HOST_NAMESPACES=1"),
        ("UsernsMode", r#""host""#, "ALLOW_HOST_NAMESPACES=1"),
        ("CapAdd", r#""SYS_ADMIN""#, "ALLOW_CAPS=SYS_ADMIN"),
        (
            "Devices",
            r#"[{"PathOnHost":"/dev/sda"}]"#,
            "ALLOW_DEVICES=1",
        ),
        (
            "SecurityOpt",
            r#"["seccomp=unconfined"]"#,
            "ALLOW_SECURITY_OPTS=1",
        ),
        ("MaskedPaths", "[]", "ALLOW_SECURITY_OPTS=1"),
        ("Binds", r#"["/:/host"]"#, "ALLOW_BIND_MOUNTS=/"),
        (
            "Mounts",
            r#"[{"Type":"bind","Source":"/etc","Target":"/e"}]"#,
            "ALLOW_BIND_MOUNTS=/etc",
        ),
    ];

    /// `field` with each letter's case picked by `mask`: Go matches keys case-insensitively.
    fn recase(field: &str, mask: &[bool]) -> String {
        field
            .chars()
            .zip(mask.iter().cycle())
            .map(|(c, &up)| {
                if up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn a_host_config_field_needs_its_grant_wherever_and_however_it_is_written(
            power in 0..POWERS.len(),
            mask in proptest::collection::vec(any::<bool>(), 1..12),
            top_level in any::<bool>(),
            start in any::<bool>(),
        ) {
            let (field, value, grant) = POWERS[power];
            let key = recase(field, &mask);
            let body = if top_level {
                format!(r#"{{"Image":"b","{key}":{value}}}"#)
            } else {
                format!(r#"{{"Image":"b","HostConfig":{{"{key}":{value}}}}}"#)
            };
            // Before API 1.24 a start body is decoded exactly like a create body.
            let inspection = if start { Inspection::ContainerStart } else { Inspection::ContainerCreate };
            let strict = judged(inspection, &body, &BodyPolicy::default());
            prop_assert_eq!(strict.needs().to_string(), grant, "{}", body);
            prop_assert!(judged(inspection, &body, &BodyPolicy::everything()).findings.is_empty());
        }

        #[test]
        fn a_local_volume_passes_ungranted_only_when_it_mounts_nothing_of_the_host(
            kind in prop::sample::select(vec!["", "tmpfs", "none", "proc", "cgroup2", "nfs", "ext4", "overlay", "bind"]),
            device in prop::sample::select(vec!["", "tmpfs", "/", "/srv/data", "etc", "/dev/sda1", ":/export"]),
            o in proptest::collection::vec(
                prop::sample::select(vec!["bind", "rbind", "ro", "size=1m", "addr=127.0.0.1", "lowerdir=/", "uid=1"]),
                0..3,
            ),
            container in any::<bool>(),
        ) {
            let mut options = vec![];
            for (key, value) in [("type", kind.to_string()), ("device", device.to_string()), ("o", o.join(","))] {
                if !value.is_empty() {
                    options.push(format!(r#""{key}":"{value}""#));
                }
            }
            let options = format!("{{{}}}", options.join(","));
            let (inspection, body) = if container {
                (Inspection::ContainerCreate, format!(
                    r#"{{"HostConfig":{{"Mounts":[{{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{{"DriverConfig":{{"Options":{options}}}}}}}]}}}}"#
                ))
            } else {
                (Inspection::VolumeCreate, format!(r#"{{"Name":"v","DriverOpts":{options}}}"#))
            };
            let strict = judged(inspection, &body, &BodyPolicy::default());
            let binds = o.iter().any(|i| *i == "bind" || *i == "rbind");
            let mounts_nothing = (kind.is_empty() && device.is_empty()) || (kind == "tmpfs" && !binds);
            prop_assert_eq!(strict.findings.is_empty(), mounts_nothing, "{}: {:?}", body, strict);
            prop_assert!(judged(inspection, &body, &BodyPolicy::everything()).findings.is_empty(), "{}", body);
        }
    }
}
