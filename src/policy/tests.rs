use super::*;
use crate::api::{all_routes, Seg};

fn policy(flags: &[Flag]) -> Policy {
    let mut granted = Flags::defaults();
    for f in flags {
        granted.set(*f, true);
    }
    Policy::new(granted)
}

fn decide(p: &Policy, method: &str, path: &str) -> Result<Allowed, Refusal> {
    p.decide(Method::parse(method), &Target::parse(path).unwrap(), None)
}

fn message(p: &Policy, method: &str, path: &str) -> String {
    let refusal = decide(p, method, path).expect_err("should be refused");
    format!(
        "dockgate: {method} {} {refusal}",
        Target::parse(path).unwrap().path()
    )
}

fn sample_path(section: Section, route: &Route) -> String {
    let mut path = format!("/v1.41/{}", section.segment());
    for seg in route.pattern {
        path.push('/');
        path.push_str(match seg {
            Seg::Lit(l) => l,
            Seg::Var => "c0ffee",
            Seg::Rest => "registry.local/team/app:1.0",
        });
    }
    path
}

/// The routes a policy opens, as "METHOD /path" strings.
fn opened(p: &Policy) -> Vec<String> {
    all_routes()
        .map(|(s, r)| (r.method.name_for_tests(), sample_path(s, r)))
        .filter(|(m, path)| decide(p, m, path).is_ok())
        .map(|(m, path)| format!("{m} {path}"))
        .collect()
}

#[test]
fn defaults_open_exactly_ping_version_and_events() {
    assert_eq!(
        opened(&policy(&[])),
        [
            "GET /v1.41/events",
            "GET /v1.41/_ping",
            "HEAD /v1.41/_ping",
            "GET /v1.41/version",
        ]
    );
}

#[test]
fn each_section_alone_opens_exactly_its_reads() {
    let base = opened(&Policy::new(Flags::default()));
    assert!(base.is_empty(), "{base:?}");
    for section in Section::ALL {
        let p = Policy::new(Flags::of(&[Flag::Section(section)]));
        let prefix = format!("/v1.41/{}", section.segment());
        for (s, r) in all_routes() {
            let path = sample_path(s, r);
            let allowed = decide(&p, r.method.name_for_tests(), &path).is_ok();
            let expected = s == section && r.access == Access::Read && r.facet.is_none();
            assert_eq!(allowed, expected, "{} with only {}", path, section.var());
            if allowed {
                assert!(path.starts_with(&prefix));
            }
        }
    }
}

#[test]
fn each_section_with_post_opens_exactly_its_unfaceted_routes() {
    for section in Section::ALL {
        let p = Policy::new(Flags::of(&[Flag::Section(section), Flag::Post]));
        for (s, r) in all_routes() {
            let path = sample_path(s, r);
            let allowed = decide(&p, r.method.name_for_tests(), &path).is_ok();
            let opens_alone = matches!(
                r.facet,
                None | Some(
                    Facet::Start
                        | Facet::Stop
                        | Facet::Restart
                        | Facet::Kill
                        | Facet::Pause
                        | Facet::Unpause
                )
            );
            assert_eq!(
                allowed,
                s == section && opens_alone,
                "{path} with {}+POST",
                section.var()
            );
        }
    }
}

#[test]
fn post_alone_opens_nothing() {
    let p = Policy::new(Flags::of(&[Flag::Post]));
    assert!(opened(&p).is_empty());
}

#[test]
fn container_actions_open_alone_and_only_their_action() {
    let cases: [(Flag, &[&str]); 5] = [
        (Flag::AllowStart, &["start"]),
        (Flag::AllowStop, &["stop"]),
        (Flag::AllowRestarts, &["stop", "restart", "kill"]),
        (Flag::AllowPause, &["pause"]),
        (Flag::AllowUnpause, &["unpause"]),
    ];
    for (flag, actions) in cases {
        let p = Policy::new(Flags::of(&[flag]));
        let expected: Vec<String> = actions
            .iter()
            .map(|a| format!("POST /v1.41/containers/c0ffee/{a}"))
            .collect();
        let mut got = opened(&p);
        got.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(got, expected, "{}", flag.var());
    }
}

#[test]
fn containers_read_only_does_not_open_writes_or_file_contents() {
    let p = policy(&[Flag::Section(Section::Containers)]);
    assert!(decide(&p, "GET", "/containers/json").is_ok());
    assert!(decide(&p, "GET", "/containers/c/logs").is_ok());
    for (m, path) in [
        ("GET", "/containers/c/attach/ws"),
        ("GET", "/containers/c/archive"),
        ("HEAD", "/containers/c/archive"),
        ("GET", "/containers/c/export"),
        ("POST", "/containers/c/exec"),
        ("POST", "/containers/create"),
        ("DELETE", "/containers/c"),
    ] {
        assert!(decide(&p, m, path).is_err(), "{m} {path}");
    }
}

#[test]
fn exec_create_needs_exec_as_well_as_containers_and_post() {
    let p = policy(&[Flag::Section(Section::Containers), Flag::Post]);
    assert_eq!(
        message(&p, "POST", "/v1.41/containers/c/exec"),
        "dockgate: POST /containers/c/exec is not allowed; set EXEC=1"
    );
    let p = policy(&[
        Flag::Section(Section::Containers),
        Flag::Section(Section::Exec),
        Flag::Post,
    ]);
    assert!(decide(&p, "POST", "/containers/c/exec").is_ok());
    assert!(decide(&p, "POST", "/exec/e/start").is_ok());
}

#[test]
fn archive_and_export_need_their_own_variables() {
    let p = policy(&[Flag::Section(Section::Containers), Flag::Post]);
    assert_eq!(
        message(&p, "GET", "/containers/c/archive"),
        "dockgate: GET /containers/c/archive is not allowed; set ALLOW_ARCHIVE=1"
    );
    assert_eq!(
        message(&p, "GET", "/containers/c/export"),
        "dockgate: GET /containers/c/export is not allowed; set ALLOW_EXPORT=1"
    );
    let p = policy(&[Flag::Section(Section::Containers), Flag::AllowArchive]);
    assert!(decide(&p, "GET", "/containers/c/archive").is_ok());
    assert_eq!(
        message(&p, "PUT", "/containers/c/archive"),
        "dockgate: PUT /containers/c/archive is not allowed; set POST=1"
    );
}

#[test]
fn linuxserver_restrictions_close_their_route_when_set_off() {
    let mut granted = Flags::defaults();
    granted.set(Flag::Section(Section::Containers), true);
    granted.set(Flag::AllowLogs, false);
    let p = Policy::new(granted);
    assert_eq!(
        message(&p, "GET", "/containers/c/logs"),
        "dockgate: GET /containers/c/logs is not allowed; set ALLOW_LOGS=1"
    );
    assert!(decide(&p, "GET", "/containers/c/top").is_ok());
}

#[test]
fn refusal_names_the_missing_variables() {
    let p = policy(&[]);
    assert_eq!(
        message(&p, "GET", "/v1.41/networks"),
        "dockgate: GET /networks is not allowed; set NETWORKS=1"
    );
    assert_eq!(
        message(&p, "POST", "/networks/create"),
        "dockgate: POST /networks/create is not allowed; set NETWORKS=1 and POST=1"
    );
    assert_eq!(
        message(&p, "POST", "/containers/c/exec"),
        "dockgate: POST /containers/c/exec is not allowed; set CONTAINERS=1, EXEC=1 and POST=1"
    );
    assert_eq!(
        message(&p, "POST", "/containers/c/start"),
        "dockgate: POST /containers/c/start is not allowed; set ALLOW_START=1 (or CONTAINERS=1 and POST=1)"
    );
    assert_eq!(
        message(&p, "POST", "/containers/c/stop"),
        "dockgate: POST /containers/c/stop is not allowed; set ALLOW_STOP=1 (or ALLOW_RESTARTS=1, or CONTAINERS=1 and POST=1)"
    );
    let p = policy(&[Flag::Section(Section::Containers)]);
    assert_eq!(
        message(&p, "POST", "/containers/c/restart"),
        "dockgate: POST /containers/c/restart is not allowed; set ALLOW_RESTARTS=1 (or POST=1)"
    );
    assert_eq!(
        message(&p, "GET", "/containers/c/attach/ws"),
        "dockgate: GET /containers/c/attach/ws is not allowed; set POST=1"
    );
}

#[test]
fn refusal_hint_lists_only_what_is_missing() {
    let p = policy(&[Flag::Section(Section::Networks)]);
    let refusal = decide(&p, "DELETE", "/networks/n").unwrap_err();
    assert_eq!(refusal.hint(), "POST=1");
    assert_eq!(refusal.status(), 403);
}

#[test]
fn unknown_debug_and_libpod_are_refused_whatever_is_granted() {
    let p = Policy::new(Flags::all_on());
    assert_eq!(decide(&p, "GET", "/debug/vars"), Err(Refusal::Debug));
    assert_eq!(
        decide(&p, "GET", "/debug/pprof/goroutine"),
        Err(Refusal::Debug)
    );
    assert_eq!(decide(&p, "GET", "/libpod/_ping"), Err(Refusal::Libpod));
    assert_eq!(
        decide(&p, "GET", "/containersx/json"),
        Err(Refusal::UnknownRoute)
    );
    assert_eq!(
        decide(&p, "PATCH", "/containers/c/json"),
        Err(Refusal::UnknownRoute)
    );
    assert_eq!(
        decide(&p, "GET", "/containers/c/start"),
        Err(Refusal::UnknownRoute)
    );
    assert_eq!(
        message(&p, "GET", "/debug/vars"),
        "dockgate: GET /debug/vars is never forwarded: it exposes the engine's internals"
    );
}

#[test]
fn upgrades_are_accepted_only_where_the_route_takes_them() {
    let p = policy(&[
        Flag::Section(Section::Containers),
        Flag::Section(Section::Exec),
        Flag::Post,
    ]);
    let t = Target::parse("/exec/e/start").unwrap();
    assert!(p.decide(Method::Post, &t, Some("tcp")).is_ok());
    assert_eq!(
        p.decide(Method::Post, &t, Some("h2c")),
        Err(Refusal::UnexpectedUpgrade)
    );
    let t = Target::parse("/containers/c/json").unwrap();
    assert_eq!(
        p.decide(Method::Get, &t, Some("websocket")),
        Err(Refusal::UnexpectedUpgrade)
    );
    assert_eq!(Refusal::UnexpectedUpgrade.status(), 400);
    // Not granted wins over a bad upgrade: the operator's fix comes first.
    let t = Target::parse("/session").unwrap();
    assert!(matches!(
        p.decide(Method::Post, &t, Some("tcp")),
        Err(Refusal::NotGranted { .. })
    ));
    let p = policy(&[Flag::Section(Section::Session), Flag::Post]);
    assert!(p.decide(Method::Post, &t, Some("h2c")).is_ok());
}

#[test]
fn flag_bits_are_distinct() {
    let bits: Vec<u64> = Flag::all().map(Flag::bit).collect();
    let mut unique = bits.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(bits.len(), unique.len());
    assert_eq!(bits.len(), 34);
}
