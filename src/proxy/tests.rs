use super::*;
use crate::api::Upgrade;
use crate::profile::Profile;
use crate::session::Who;
use decide::judged_of;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

/// A proxy whose engine is never reached: `check` needs no socket.
fn proxy_with(vars: &[crate::policy::Flag]) -> (Proxy, Who) {
    let mut granted = crate::policy::Flags::defaults();
    for flag in vars {
        granted.set(*flag, true);
    }
    let profile = Profile {
        policy: crate::policy::Policy::new(granted),
        body: BodyPolicy::default(),
    };
    let upstream = Upstream::new(std::path::Path::new("/nonexistent/docker.sock"));
    let clients = crate::clients::Clients::env_only(profile.clone());
    let sessions = Sessions::new(clients, upstream.clone(), CancellationToken::new());
    let proxy = Proxy::new(
        Arc::new(sessions),
        Arc::default(),
        crate::learn::Mode::Enforce,
        1 << 20,
        upstream,
        TaskTracker::new(),
        CancellationToken::new(),
    );
    (proxy, who(profile, None))
}

/// An unnamed client at 172.30.0.5, judged by `profile`, under the profile `name` if any.
fn who(profile: Profile, name: Option<&str>) -> Who {
    use crate::clients::{Assignment, Identity};
    Who {
        identity: Identity {
            listener: "tcp://0.0.0.0:2375".into(),
            peer: Peer::Tcp("172.30.0.5:40000".parse().unwrap()),
            container: None,
        },
        assignment: Assignment {
            profile: Arc::new(profile),
            name: name.map(Into::into),
            undefined: None,
        },
    }
}

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.body(()).unwrap().into_parts().0
}

#[test]
fn the_head_phase_judges_without_a_socket() {
    use crate::api::Section;
    use crate::policy::Flag;
    let (_, who) = proxy_with(&[
        Flag::Section(Section::Containers),
        Flag::Section(Section::Exec),
        Flag::Post,
    ]);
    let check = |method, uri, headers: &[(&str, &str)]| {
        decide::head(&who, &parts(method, uri, headers), false)
    };

    let ok = check("GET", "/v1.41/containers/json", &[]).unwrap();
    assert!(ok.inspection.is_none() && ok.rewritten.is_none() && ok.upgrade.is_none());
    assert_eq!(
        ok.judged,
        Judged::Tail("/v1.41".len()),
        "the path past its version"
    );

    // The route table says what is inspected, and the object the path names.
    let exec = check(
        "POST",
        "/v1.41/containers/web/exec",
        &[("content-length", "2")],
    )
    .unwrap();
    assert_eq!(
        exec.inspection,
        Some((
            Inspection::ExecCreate,
            "/containers/web/exec".to_string(),
            Some("web".to_string())
        ))
    );
    // A percent-encoded target is judged decoded and sent re-encoded.
    let encoded = check("GET", "/v1.41/containers/%6Ason?all=1", &[]).unwrap();
    assert_eq!(encoded.judged, Judged::Decoded("/containers/json".into()));
    assert_eq!(
        encoded.rewritten.unwrap().as_str(),
        "/v1.41/containers/json?all=1"
    );

    let attach = check(
        "POST",
        "/v1.41/containers/web/attach",
        &[("upgrade", "tcp"), ("connection", "Upgrade")],
    )
    .unwrap();
    assert_eq!(attach.upgrade, Some(Upgrade::Tcp));

    // A refused request's record has the path it was judged by, when it parses.
    assert_eq!(
        judged_of(&parts("GET", "/v1.41/networks", &[])),
        Judged::Tail("/v1.41".len())
    );
    assert_eq!(
        judged_of(&parts("GET", "/v1.41/containers/../json", &[])),
        Judged::Unparsed
    );

    // Refusals carry their status, message and needs as data.
    let refused = check("GET", "/v1.41/networks", &[]).unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.message,
        "GET /networks is not allowed; set NETWORKS=1"
    );
    assert_eq!(refused.needs.to_string(), "NETWORKS=1");
    let (_, none) = proxy_with(&[]);
    let stop = decide::head(&none, &parts("POST", "/containers/x/stop", &[]), false).unwrap_err();
    assert_eq!(
        stop.needs.to_string(),
        "ALLOW_STOP=1|ALLOW_RESTARTS=1|CONTAINERS=1+POST=1"
    );

    for (method, uri, headers) in [
        (
            "GET",
            "/v1.41/containers/json",
            &[("content-length", "5")][..],
        ),
        (
            "DELETE",
            "/v1.41/containers/x",
            &[("transfer-encoding", "chunked")],
        ),
        (
            "POST",
            "/v1.41/containers/create",
            &[("content-type", "application/x-www-form-urlencoded")],
        ),
        ("GET", "/v1.41/containers/../json", &[]),
        ("GET", "http://docker/v1.41/containers/json", &[]),
        (
            "GET",
            "/v1.41/containers/json",
            &[("content-length", "1"), ("transfer-encoding", "chunked")],
        ),
    ] {
        let refused = check(method, uri, headers).unwrap_err();
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{method} {uri}: {refused:?}"
        );
        assert!(refused.needs.is_empty());
    }
}

#[test]
fn ambiguous_framing_is_refused() {
    assert!(decide::check_framing(&headers(&[("content-length", "3")])).is_ok());
    assert!(decide::check_framing(&headers(&[("transfer-encoding", "chunked")])).is_ok());
    assert!(decide::check_framing(&headers(&[("expect", "100-Continue")])).is_ok());
    for bad in [
        &[("content-length", "3"), ("content-length", "3")][..],
        &[("content-length", "3"), ("transfer-encoding", "chunked")],
        &[("transfer-encoding", "gzip, chunked")],
        &[("transfer-encoding", "Chunked")],
        &[
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked"),
        ],
    ] {
        assert!(decide::check_framing(&headers(bad)).is_err(), "{bad:?}");
    }
}

#[test]
fn hop_by_hop_headers_are_stripped_except_for_upgrades() {
    let mut h = headers(&[
        ("connection", "keep-alive, x-secret-hop"),
        ("x-secret-hop", "1"),
        ("keep-alive", "timeout=5"),
        ("expect", "100-continue"),
        ("x-registry-auth", "abc"),
        ("transfer-encoding", "chunked"),
    ]);
    strip_hop_by_hop(&mut h, false);
    let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["x-registry-auth"]);

    let mut h = headers(&[
        ("connection", "Upgrade"),
        ("upgrade", "tcp"),
        ("content-type", "application/json"),
    ]);
    strip_hop_by_hop(&mut h, true);
    assert_eq!(h.len(), 3);
}

#[test]
fn under_a_profile_a_refusal_names_the_client_and_where_the_fix_goes() {
    let mut named = who(Profile::defaults(), Some("discovery"));
    named.identity.container = Some(Arc::new(crate::clients::Container {
        name: "vidar-api".into(),
        ..Default::default()
    }));
    let refused = decide::head(&named, &parts("GET", "/v1.41/networks", &[]), false).unwrap_err();
    assert_eq!(
        refused.message,
        "GET /networks is not allowed for vidar-api (profile discovery); add NETWORKS=1 to \
         profile discovery"
    );
    let default = who(Profile::defaults(), Some(crate::clients::DEFAULT_PROFILE));
    let refused = decide::head(&default, &parts("GET", "/v1.41/networks", &[]), false).unwrap_err();
    assert_eq!(
        refused.message,
        "GET /networks is not allowed for 172.30.0.5:40000 (profile default); set NETWORKS=1 in \
         the environment (the default grant)"
    );
    // A body finding is told where its grant goes too.
    let finding = Refusal::forbidden(
        "HostConfig.Privileged=true is not allowed; set ALLOW_PRIVILEGED=1",
        crate::needs::Needs {
            items: vec![crate::needs::Item::one(crate::needs::Grant::on(
                "ALLOW_PRIVILEGED",
            ))],
        },
    );
    assert_eq!(
        named.explain(finding, "POST /containers/create").message,
        "HostConfig.Privileged=true is not allowed; set ALLOW_PRIVILEGED=1. For vidar-api \
         (profile discovery): add ALLOW_PRIVILEGED=1 to profile discovery"
    );
}
