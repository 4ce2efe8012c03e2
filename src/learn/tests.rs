use std::sync::Arc;

use hyper::StatusCode;

use super::*;
use crate::clients::{Assignment, Container, Identity};
use crate::needs::{Grant, Needs};

fn who(port: u16, container: Option<&str>, profile: Option<&str>) -> Who {
    Who {
        identity: Identity {
            listener: "tcp://0.0.0.0:2375".into(),
            peer: Peer::Tcp(format!("172.30.0.5:{port}").parse().unwrap()),
            container: container.map(|name| {
                Arc::new(Container {
                    name: name.into(),
                    ..Container::default()
                })
            }),
        },
        assignment: Assignment {
            profile: Arc::new(
                profile
                    .and_then(crate::presets::get)
                    .map_or_else(Profile::defaults, |p| p.profile.clone()),
            ),
            name: profile.map(Into::into),
            undefined: None,
        },
    }
}

fn refusal(needs: &[&[&[(&'static str, &str)]]]) -> Refusal {
    Refusal::forbidden(
        "no",
        Needs {
            items: needs
                .iter()
                .map(|choices| Item {
                    choices: choices
                        .iter()
                        .map(|c| c.iter().map(|(v, x)| Grant::value(v, *x)).collect())
                        .collect(),
                })
                .collect(),
        },
    )
}

#[test]
fn modes_parse_and_only_enforce_refuses() {
    assert_eq!(Mode::parse("LEARN"), Some(Mode::Learn));
    assert_eq!(Mode::parse("warn"), Some(Mode::Warn));
    assert_eq!(Mode::parse("enforce"), Some(Mode::Enforce));
    assert_eq!(Mode::parse("audit"), None);
    assert!(!Mode::Enforce.forwards());
    assert!(Mode::Warn.forwards() && Mode::Learn.forwards());
}

#[test]
fn a_client_is_its_address_across_connections_and_its_grant_is_pasteable() {
    let learned = Learned::default();
    let get = Method::GET;
    learned.record(
        &who(1000, None, None),
        &get,
        "/containers/json",
        &refusal(&[&[&[("CONTAINERS", "1")]]]),
    );
    learned.record(
        &who(1001, None, None),
        &Method::POST,
        "/containers/create",
        &refusal(&[
            &[&[("CONTAINERS", "1")]],
            &[&[("POST", "1")]],
            &[&[("ALLOW_BIND_MOUNTS", "/srv/data")]],
        ]),
    );
    learned.record(
        &who(1002, None, None),
        &get,
        "/debug/pprof/",
        &Refusal::forbidden("GET /debug/pprof/ is never forwarded", Needs::none()),
    );
    learned.record(
        &who(1002, None, None),
        &get,
        "/debug/pprof/",
        &Refusal::forbidden("GET /debug/pprof/ is never forwarded", Needs::none()),
    );
    let clients = learned.clients();
    assert_eq!(clients.len(), 1);
    let client = &clients[0];
    assert_eq!(client.client, "172.30.0.5");
    assert_eq!(client.refused, 4);
    assert_eq!(
        client.grant,
        [
            ("CONTAINERS", "1".to_string()),
            ("POST", "1".to_string()),
            ("ALLOW_BIND_MOUNTS", "/srv/data".to_string())
        ]
    );
    assert_eq!(
        client.no_grant,
        ["GET /debug/pprof/ (403 GET /debug/pprof/ is never forwarded)"]
    );
    let summary = learned.summary(Mode::Learn);
    assert!(summary.starts_with("learned (MODE=learn): 1 client"));
    for line in [
        "      CONTAINERS: \"1\"\n",
        "      ALLOW_BIND_MOUNTS: \"/srv/data\"\n",
        "    [profiles.client-172-30-0-5]\n",
        "    CONTAINERS = 1\n",
        "    ALLOW_BIND_MOUNTS = \"/srv/data\"\n",
        "    cidr = \"172.30.0.5/32\"\n",
        "  no grant allows these (1), in any mode:\n",
    ] {
        assert!(summary.contains(line), "{line:?} not in\n{summary}");
    }
}

#[test]
fn the_profile_block_parses_and_gives_back_the_grant() {
    let learned = Learned::default();
    learned.record(
        &who(1, Some("web-1"), Some("default")),
        &Method::POST,
        "/containers/x/start",
        &refusal(&[&[
            &[("ALLOW_START", "1")],
            &[("CONTAINERS", "1"), ("POST", "1")],
        ]]),
    );
    learned.record(
        &who(1, Some("dash"), Some("homepage")),
        &Method::POST,
        "/containers/x/restart",
        &refusal(&[&[&[("ALLOW_RESTARTS", "1")], &[("POST", "1")]]]),
    );
    let clients = learned.clients();
    let text: String = clients.iter().map(|c| c.profile_block.clone()).collect();
    let loaded =
        crate::config::file::parse("learned.toml", &text, &Profile::defaults(), &[]).unwrap();
    let web = &loaded.clients.profiles["web-1"];
    assert!(web.policy.granted().has(Flag::AllowStart));
    assert!(!web.policy.granted().has(Flag::Post));
    let dash = &loaded.clients.profiles["dash"];
    let homepage = &crate::presets::get("homepage").unwrap().profile;
    assert!(dash.policy.granted().has(Flag::AllowRestarts));
    assert_eq!(dash.body, homepage.body);
    assert!(text.contains("preset = \"homepage\"\nALLOW_RESTARTS = 1\n"));
    // The environment block is for the environment's grant only.
    let summary = learned.summary(Mode::Warn);
    assert_eq!(summary.matches("environment:").count(), 1, "{summary}");
}

#[test]
fn what_is_kept_is_bounded() {
    let learned = Learned::default();
    for i in 0..(MAX_NO_GRANT + 5) {
        learned.record(
            &who(1, None, None),
            &Method::GET,
            &format!("/debug/{i}"),
            &Refusal::new(StatusCode::FORBIDDEN, "never"),
        );
    }
    assert_eq!(learned.clients()[0].no_grant.len(), MAX_NO_GRANT);
    assert!(learned
        .summary(Mode::Enforce)
        .contains("(5 refusals past the bounds"));
}
