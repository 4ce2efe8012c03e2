use super::*;
use crate::profile::Profile;

fn tcp() -> Vec<ListenAddr> {
    vec![
        ListenAddr::Unix("/run/dockgate.sock".into()),
        ListenAddr::Tcp {
            addr: "0.0.0.0:2375".parse().unwrap(),
            dual_stack: false,
        },
    ]
}

fn env(vars: &[(&str, &str)]) -> Clients {
    let profile = crate::config::grant_apply(&Profile::defaults(), vars.iter().copied()).unwrap();
    Clients::env_only(profile)
}

fn explained(clients: &Clients, method: &str, path: &str, body: Option<&str>) -> Explanation {
    let read = Asked::new(method, path, body.map(str::as_bytes)).unwrap();
    let identity = identity(None, &tcp()).unwrap();
    explain(clients, &identity, &read, 1 << 20, Engine::Offline)
}

#[test]
fn clients_are_named_as_rules_see_them() {
    let who = identity(Some("uid:1000"), &tcp()).unwrap();
    assert_eq!(who.peer.to_string(), "unix:uid=1000");
    assert_eq!(&*who.listener, "unix:///run/dockgate.sock");
    let who = identity(Some("10.0.0.3"), &tcp()).unwrap();
    assert_eq!(who.peer, Peer::Tcp("10.0.0.3:0".parse().unwrap()));
    assert_eq!(&*who.listener, "tcp://0.0.0.0:2375");
    let who = identity(Some("shop/web"), &tcp()).unwrap();
    let container = who.container.as_deref().unwrap();
    assert_eq!(container.compose(), (Some("shop"), Some("web")));
    let who = identity(Some("traefik"), &tcp()).unwrap();
    assert_eq!(who.container.as_deref().unwrap().name, "traefik");
    for bad in ["uid:x", "gid:", "two words", ""] {
        assert_eq!(
            identity(Some(bad), &tcp()),
            Err(ExplainError::Client(bad.into()))
        );
    }
}

#[test]
fn the_command_lines_request_is_the_one_on_the_wire() {
    let Ok(Ok(asked)) = Asked::new("POST", "http://localhost:2375/v1.41/x?a=1", Some(b"{}")) else {
        panic!("a request")
    };
    assert_eq!(asked.parts.uri, "/v1.41/x?a=1");
    assert_eq!(asked.parts.headers[header::CONTENT_LENGTH], "2");
    assert_eq!(asked.body, b"{}");
    // Raw JSON in a query is mended as the head guard mends it on a connection.
    let Ok(Ok(asked)) = Asked::new("GET", r#"/containers/json?filters={"a":["b"]}"#, None) else {
        panic!("a request")
    };
    assert_eq!(
        asked.parts.uri.query(),
        Some("filters=%7B%22a%22:[%22b%22]%7D")
    );
    assert!(!asked.parts.headers.contains_key(header::CONTENT_LENGTH));
    assert_eq!(
        Asked::new("get me", "/x", None).unwrap_err(),
        ExplainError::Method("get me".into())
    );
    assert_eq!(
        Asked::new("GET", "containers/json", None).unwrap_err(),
        ExplainError::Target("containers/json".into())
    );
}

#[test]
fn a_raw_request_is_guarded_then_read_with_its_framing() {
    let chunked = b"POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    let Ok(Ok(asked)) = Asked::from_http(chunked) else {
        panic!("a request")
    };
    assert_eq!(asked.body, b"{}");
    let Ok(Err(refusal)) = Asked::from_http(b"GET / HTTP/1.1\nHost: d\n\n") else {
        panic!("the head guard's refusal")
    };
    assert_eq!(refusal.status, hyper::StatusCode::BAD_REQUEST);
    assert!(matches!(
        Asked::from_http(b"GET / HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort"),
        Err(ExplainError::Http(_))
    ));
}

#[test]
fn an_allowed_request_names_the_grants_that_decided() {
    let clients = env(&[("ALLOW_START", "1"), ("CONTAINERS", "1")]);
    let start = explained(&clients, "POST", "/v1.41/containers/web/start", None);
    assert_eq!(start.exit_code(), EXIT_ALLOWED);
    let text = start.to_string();
    assert!(
        text.contains("route:   POST /containers/{id}/start, section CONTAINERS"),
        "{text}"
    );
    assert!(
        text.contains("granted: ALLOW_START=1 in the environment"),
        "{text}"
    );

    let ping = explained(&clients, "GET", "/_ping", None).to_string();
    assert!(
        ping.contains("granted: PING=1 (on by default) in the environment"),
        "{ping}"
    );

    let clients = env(&[
        ("CONTAINERS", "1"),
        ("POST", "1"),
        ("ALLOW_CAPS", "NET_ADMIN,SYS_TIME"),
    ]);
    let body = r#"{"Image":"b","HostConfig":{"CapAdd":["NET_ADMIN"]}}"#;
    let create = explained(&clients, "POST", "/containers/create", Some(body));
    let Verdict::Allowed { grants, body } = &create.verdict else {
        panic!("{create:?}")
    };
    assert_eq!(grants.len(), 2);
    assert_eq!(body[0].0, Grant::value("ALLOW_CAPS", "NET_ADMIN,SYS_TIME"));
}

#[test]
fn a_refusal_is_the_proxys_with_the_smallest_change_where_it_goes() {
    let mut clients = env(&[]);
    clients
        .profiles
        .insert("discovery".into(), Arc::new(Profile::defaults()));
    clients.rules.push(crate::clients::Rule {
        matchers: vec![crate::clients::Matcher::Service {
            project: Some("edge".into()),
            service: "traefik".into(),
        }],
        profile: "discovery".into(),
        line: 1,
    });
    clients.from_file = true;
    let read = Asked::new("GET", "/v1.41/networks", None).unwrap();
    let who = identity(Some("edge/traefik"), &tcp()).unwrap();
    let explanation = explain(&clients, &who, &read, 1 << 20, Engine::Offline);
    let Verdict::Refused(refusal) = &explanation.verdict else {
        panic!("{explanation:?}")
    };
    assert_eq!(explanation.exit_code(), EXIT_REFUSED);
    assert_eq!(
        refusal.message,
        "GET /networks is not allowed for edge/traefik (profile discovery); add NETWORKS=1 to \
         profile discovery"
    );
    assert_eq!(
        explanation.fix(refusal).as_deref(),
        Some("add NETWORKS=1 to profile discovery")
    );
    let anyone = identity(Some("10.1.2.3"), &tcp()).unwrap();
    let explanation = explain(&clients, &anyone, &read, 1 << 20, Engine::Offline);
    assert_eq!(explanation.who.profile(), Some(DEFAULT_PROFILE));
    let Verdict::Refused(refusal) = &explanation.verdict else {
        panic!("{explanation:?}")
    };
    assert_eq!(
        explanation.fix(refusal).as_deref(),
        Some("set NETWORKS=1 in the environment (the default grant)")
    );
    let debug = explained(&env(&[]), "GET", "/debug/pprof", None);
    assert!(debug.to_string().contains("fix:     none"), "{debug}");
}

#[test]
fn what_the_engine_would_decide_is_said_and_not_guessed() {
    let clients = env(&[("CONTAINERS", "1"), ("POST", "1")]);
    let borrows = r#"{"Image":"b","HostConfig":{"VolumesFrom":["db"]}}"#;
    let depends = explained(&clients, "POST", "/containers/create", Some(borrows));
    assert_eq!(depends.exit_code(), EXIT_DEPENDS);
    let Verdict::Depends(Depends::Objects { refs, if_none }) = &depends.verdict else {
        panic!("{depends:?}")
    };
    assert_eq!(refs, &[Ref::Container("db".into())]);
    assert!(matches!(**if_none, Verdict::Allowed { .. }));

    // A recreate from a 20.10 engine's inspect output masks what 20.10 masks: refused on the
    // newest engine, allowed on the engine it came from.
    let masked: Vec<String> = most_lenient()
        .masked_paths
        .iter()
        .map(|p| format!("{p:?}"))
        .collect();
    let recreate = format!(
        r#"{{"Image":"b","HostConfig":{{"MaskedPaths":[{}]}}}}"#,
        masked.join(",")
    );
    let defaults = explained(&clients, "POST", "/containers/create", Some(&recreate));
    assert!(
        matches!(defaults.verdict, Verdict::Depends(Depends::Defaults(_))),
        "{defaults:?}"
    );
}
