use super::*;
use crate::inspect::EngineDefaults;

fn request<'a>(subject: Option<&'a str>, body: &'a inspect::json::Json) -> inspect::Request<'a> {
    inspect::Request {
        inspection: Inspection::ContainerCreate,
        subject,
        query: "",
        body: Some(body),
    }
}

#[test]
fn rounds_ask_until_nothing_is_unknown_and_stop_at_the_bounds() {
    let post = hyper::Method::POST;
    let path = "/containers/create";
    let policy = BodyPolicy::default();
    let borrows = inspect::json::parse(br#"{"HostConfig":{"VolumesFrom":["a"]}}"#).unwrap();
    assert!(!passes_unseen(request(None, &borrows), &policy, &post, path).unwrap());
    let mut facts = Facts::new(EngineDefaults::strictest());
    let mut rounds = Rounds::default();
    let asked = rounds
        .next(request(None, &borrows), &policy, &facts, &post, path)
        .unwrap();
    assert_eq!(asked, Some(vec![Ref::Container("a".into())]));
    facts.add_container("a", None);
    assert_eq!(
        rounds.next(request(None, &borrows), &policy, &facts, &post, path),
        Ok(None)
    );

    let names: Vec<String> = (0..=MAX_LOOKUPS).map(|i| format!("\"c{i}\"")).collect();
    let many = format!(
        r#"{{"HostConfig":{{"VolumesFrom":[{}]}}}}"#,
        names.join(",")
    );
    let many = inspect::json::parse(many.as_bytes()).unwrap();
    let refused = Rounds::default()
        .next(request(None, &many), &policy, &facts, &post, path)
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.message.contains("more than 64 other objects"));

    let privileged = inspect::json::parse(br#"{"HostConfig":{"Privileged":true}}"#).unwrap();
    let refused = Rounds::default()
        .next(request(None, &privileged), &policy, &facts, &post, path)
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.needs.to_string(), "ALLOW_PRIVILEGED=1");

    // A round past the bound is refused whatever it would find.
    let mut deep = Rounds {
        done: MAX_LOOKUP_ROUNDS,
        looked_up: 0,
    };
    let refused = deep
        .next(request(None, &borrows), &policy, &facts, &post, path)
        .unwrap_err();
    assert!(refused.message.contains("more than 8 deep"), "{refused:?}");
}

#[test]
fn too_large_and_ambiguous_bodies_name_the_request() {
    let post = hyper::Method::POST;
    assert_eq!(
        too_large(&post, "/containers/create", 10).status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        ambiguous(&post, "/containers/create", "a duplicate key").message,
        "POST /containers/create is refused: a duplicate key"
    );
}
