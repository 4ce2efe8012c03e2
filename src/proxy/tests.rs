use super::*;

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
fn proxy_with(vars: &[crate::policy::Flag]) -> (Proxy, Profile) {
    let mut granted = crate::policy::Flags::defaults();
    for flag in vars {
        granted.set(*flag, true);
    }
    let profile = Profile {
        policy: crate::policy::Policy::new(granted),
        body: BodyPolicy::default(),
    };
    let proxy = Proxy::new(
        profile.clone(),
        1 << 20,
        Upstream::new(std::path::Path::new("/nonexistent/docker.sock")),
        TaskTracker::new(),
        CancellationToken::new(),
    );
    (proxy, profile)
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
    let (proxy, profile) = proxy_with(&[
        Flag::Section(Section::Containers),
        Flag::Section(Section::Exec),
        Flag::Post,
    ]);
    let check =
        |method, uri, headers: &[(&str, &str)]| proxy.check(&profile, &parts(method, uri, headers));

    let ok = check("GET", "/v1.41/containers/json", &[]).unwrap();
    assert!(ok.inspection.is_none() && ok.rewritten.is_none() && !ok.upgrade);

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
    assert_eq!(
        encoded.rewritten.unwrap().as_str(),
        "/v1.41/containers/json?all=1"
    );

    // Refusals carry their status, message and needs as data.
    let refused = check("GET", "/v1.41/networks", &[]).unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.message,
        "GET /networks is not allowed; set NETWORKS=1"
    );
    assert_eq!(refused.needs.to_string(), "NETWORKS=1");
    let (bare, none) = proxy_with(&[]);
    let stop = bare
        .check(&none, &parts("POST", "/containers/x/stop", &[]))
        .unwrap_err();
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
    assert!(check_framing(&headers(&[("content-length", "3")])).is_ok());
    assert!(check_framing(&headers(&[("transfer-encoding", "chunked")])).is_ok());
    assert!(check_framing(&headers(&[("expect", "100-Continue")])).is_ok());
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
        assert!(check_framing(&headers(bad)).is_err(), "{bad:?}");
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
