use super::*;

#[test]
fn every_section_is_found_by_its_segment() {
    for section in Section::ALL {
        assert_eq!(Section::from_segment(section.segment()), Some(section));
    }
    assert_eq!(Section::from_segment("Containers"), None);
}

fn lookup(method: &str, path: &str) -> Lookup {
    Target::parse(path).unwrap().route(Method::parse(method))
}

fn route_of(method: &str, path: &str) -> (Section, &'static Route) {
    match lookup(method, path) {
        Lookup::Route(section, route) => (section, route),
        other => panic!("{method} {path}: {other:?}"),
    }
}

#[test]
fn version_prefix_is_stripped_once() {
    let t = Target::parse("/v1.41/containers/json").unwrap();
    assert_eq!(t.path(), "/containers/json");
    assert_eq!(t.version(), Some("1.41"));
    let t = Target::parse("/containers/json").unwrap();
    assert_eq!(t.path(), "/containers/json");
    assert_eq!(t.version(), None);
    let t = Target::parse("/v1.41").unwrap();
    assert_eq!(t.path(), "");
}

#[test]
fn second_version_prefix_is_refused() {
    assert_eq!(
        Target::parse("/v1.41/v1.41/info"),
        Err(TargetError::SecondVersion)
    );
    assert_eq!(
        Target::parse("/v1.41/v1/info"),
        Err(TargetError::SecondVersion)
    );
}

#[test]
fn malformed_versions_are_refused() {
    for path in [
        "/v1..41/info",
        "/v./info",
        "/v1./info",
        "/v.1/info",
        "/v1.1234567/info",
    ] {
        assert_eq!(Target::parse(path), Err(TargetError::BadVersion), "{path}");
    }
}

#[test]
fn percent_encoding_is_decoded_once() {
    let t = Target::parse("/v%31.41/%69nfo").unwrap();
    assert_eq!(t.path(), "/info");
    assert_eq!(t.version(), Some("1.41"));
    assert!(matches!(
        t.route(Method::Get),
        Lookup::Route(Section::Info, _)
    ));
    // %2569 decodes to the literal text "%69", which is not "i".
    let t = Target::parse("/%2569nfo").unwrap();
    assert_eq!(t.path(), "/%69nfo");
    assert_eq!(t.route(Method::Get), Lookup::Unknown);
}

#[test]
fn encoded_separators_are_refused() {
    for path in [
        "/containers%2F..%2Finfo",
        "/containers%2fx/json",
        "/containers/a%5Cb/json",
    ] {
        assert_eq!(
            Target::parse(path),
            Err(TargetError::EncodedSeparator),
            "{path}"
        );
    }
}

#[test]
fn dot_and_empty_segments_are_refused() {
    assert_eq!(
        Target::parse("/containers/../info"),
        Err(TargetError::DotSegment)
    );
    assert_eq!(Target::parse("/./info"), Err(TargetError::DotSegment));
    assert_eq!(
        Target::parse("/containers/%2e%2e/info"),
        Err(TargetError::DotSegment)
    );
    assert_eq!(Target::parse("//info"), Err(TargetError::EmptySegment));
    assert_eq!(Target::parse("/networks/"), Err(TargetError::EmptySegment));
    assert_eq!(
        Target::parse("/v1.41//info"),
        Err(TargetError::EmptySegment)
    );
}

#[test]
fn control_characters_and_backslashes_are_refused() {
    for path in ["/info%00", "/in%0afo", "/containers/a\\b/json", "/info%7f"] {
        assert_eq!(
            Target::parse(path),
            Err(TargetError::ForbiddenCharacter),
            "{path}"
        );
    }
}

#[test]
fn bad_percent_encoding_is_refused() {
    for path in ["/info%", "/info%4", "/info%zz", "/info%ff"] {
        assert_eq!(Target::parse(path), Err(TargetError::BadEncoding), "{path}");
    }
}

#[test]
fn targets_that_are_not_paths_are_refused() {
    assert_eq!(Target::parse("*"), Err(TargetError::NotOriginForm));
    assert_eq!(Target::parse("info"), Err(TargetError::NotOriginForm));
}

#[test]
fn matching_is_anchored_per_segment() {
    assert_eq!(lookup("GET", "/containersfoo/json"), Lookup::Unknown);
    assert_eq!(lookup("GET", "/containers/json/extra"), Lookup::Unknown);
    assert_eq!(lookup("GET", "/Containers/json"), Lookup::Unknown);
    assert_eq!(lookup("GET", "/infox"), Lookup::Unknown);
    assert_eq!(lookup("GET", "/"), Lookup::Unknown);
    assert_eq!(lookup("GET", "/v1.41"), Lookup::Unknown);
}

#[test]
fn debug_and_libpod_are_recognised() {
    assert_eq!(lookup("GET", "/debug/vars"), Lookup::Debug);
    assert_eq!(lookup("GET", "/v1.41/debug/pprof/heap"), Lookup::Debug);
    assert_eq!(lookup("GET", "/libpod/containers/json"), Lookup::Libpod);
}

#[test]
fn wrong_method_is_told_apart_from_unknown_path() {
    assert_eq!(
        lookup("DELETE", "/containers/c/json"),
        Lookup::WrongMethod(Section::Containers)
    );
    // A container may be called "json": deleting it is a route.
    assert!(matches!(
        lookup("DELETE", "/containers/json"),
        Lookup::Route(Section::Containers, _)
    ));
    assert_eq!(lookup("PATCH", "/info"), Lookup::WrongMethod(Section::Info));
}

#[test]
fn image_names_with_slashes_match_greedy_routes() {
    let (s, r) = route_of("GET", "/images/reg.io/a/b:tag/json");
    assert_eq!(
        (s, r.method, r.access),
        (Section::Images, Method::Get, Access::Read)
    );
    let (_, r) = route_of("DELETE", "/images/reg.io/a/b:tag");
    assert_eq!(r.access, Access::Write);
    let (_, r) = route_of("POST", "/images/reg.io/a/b/push");
    assert_eq!(r.pattern, &[R, L("push")]);
    // The list route wins over an image called "json", as in the engine.
    let (_, r) = route_of("GET", "/images/json");
    assert_eq!(r.pattern, &[L("json")]);
    let (_, r) = route_of("GET", "/images/json/json");
    assert_eq!(r.pattern, &[R, L("json")]);
    assert!(matches!(
        lookup("GET", "/distribution/a/b/c/json"),
        Lookup::Route(Section::Distribution, _)
    ));
}

#[test]
fn names_with_more_segments_than_the_stack_holds_still_match() {
    let name = vec!["part"; 40].join("/");
    let (_, r) = route_of("GET", &format!("/images/{name}/json"));
    assert_eq!(r.pattern, &[R, L("json")]);
    let (_, r) = route_of("POST", &format!("/images/{name}/push"));
    assert_eq!(r.pattern, &[R, L("push")]);
    assert_eq!(
        lookup("GET", &format!("/containers/{name}/json")),
        Lookup::Unknown
    );
}

#[test]
fn hijacking_routes_carry_their_upgrade() {
    assert_eq!(
        route_of("POST", "/containers/x/attach").1.upgrade,
        Some(Upgrade::Tcp)
    );
    assert_eq!(
        route_of("POST", "/exec/x/start").1.upgrade,
        Some(Upgrade::Tcp)
    );
    let ws = route_of("GET", "/containers/x/attach/ws").1;
    assert_eq!(
        (ws.upgrade, ws.access),
        (Some(Upgrade::WebSocket), Access::Write)
    );
    assert_eq!(route_of("POST", "/session").1.upgrade, Some(Upgrade::H2c));
    assert_eq!(route_of("POST", "/grpc").1.upgrade, Some(Upgrade::H2c));
    assert_eq!(route_of("GET", "/containers/x/logs").1.upgrade, None);
}

#[test]
fn forward_path_reencodes_only_what_was_decoded() {
    let raw = "/v1.41/containers/json";
    assert!(matches!(Target::parse(raw).unwrap().forward_path(raw), Cow::Borrowed(p) if p == raw));
    let raw = "/v1.41/%63ontainers/a%20b/json";
    let t = Target::parse(raw).unwrap();
    assert_eq!(t.forward_path(raw), "/v1.41/containers/a%20b/json");
    let again = t.forward_path(raw).into_owned();
    assert_eq!(Target::parse(&again).unwrap().path(), t.path());
}

#[test]
fn only_literals_follow_a_rest_segment() {
    for (section, route) in all_routes() {
        if let Some(at) = route.pattern.iter().position(|s| *s == Seg::Rest) {
            assert!(
                route.pattern[at + 1..]
                    .iter()
                    .all(|s| matches!(s, Seg::Lit(_))),
                "{section:?} {:?}",
                route.pattern
            );
        }
    }
}

#[test]
fn every_route_is_reachable() {
    // A route shadowed by an earlier one of the same method would be dead table data.
    for (section, route) in all_routes() {
        let mut path = format!("/{}", section.segment());
        for seg in route.pattern {
            path.push('/');
            path.push_str(match seg {
                Seg::Lit(l) => l,
                Seg::Var => "someid",
                Seg::Rest => "reg.io/some/name",
            });
        }
        assert_eq!(
            lookup(route.method.name_for_tests(), &path),
            Lookup::Route(section, route),
            "{path}"
        );
    }
}

#[test]
fn every_route_says_what_its_body_is() {
    let mut judged = 0;
    for (section, route) in all_routes() {
        let reads = route.inspection.is_some_and(Inspection::reads_body);
        judged += usize::from(reads);
        match route.method {
            // A body on these has no meaning a handler gives it: refused.
            Method::Get | Method::Head | Method::Delete => {
                assert!(route.body == Body::None && !reads, "{section:?} {route:?}")
            }
            // A write route states its body, or is judged: a new one refuses bodies until
            // someone has read the engine's handler for it.
            _ => assert!(route.body != Body::None || reads, "{section:?} {route:?}"),
        }
    }
    assert_eq!(judged, 7);
    let inspected = all_routes().filter(|(_, r)| r.inspection.is_some()).count();
    assert_eq!(inspected, 19);
}
