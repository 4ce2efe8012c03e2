use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::access::Peer;
use crate::clients::{Assignment, Identity};
use crate::needs::{Grant, Item, Needs};
use crate::profile::Profile;
use crate::telemetry::Telemetry;

fn record(profile: Option<&str>, undefined: bool, section: Option<Section>) -> Record {
    let who = Who {
        identity: Identity {
            listener: "tcp://0.0.0.0:2375".into(),
            peer: Peer::Tcp("172.30.0.5:40000".parse().unwrap()),
            container: None,
        },
        assignment: Assignment {
            profile: Arc::new(Profile::nothing()),
            name: profile.map(Into::into),
            undefined: undefined.then(|| profile.unwrap().into()),
        },
    };
    Record {
        who: Arc::new(who),
        method: hyper::Method::GET,
        path: "/v1.41/containers/json".into(),
        judged: crate::access::Judged::Unparsed,
        upgrade: None,
        section,
        start: Instant::now(),
        telemetry: Arc::new(Telemetry::default()),
    }
}

/// The value of the sample written exactly as `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

fn answered() -> End<'static> {
    End::Answered {
        status: 200,
        bytes: 2,
        complete: true,
        stream: false,
    }
}

#[test]
fn requests_are_counted_by_decision_section_and_profile() {
    let metrics = Metrics::new();
    let web = record(Some("web"), false, Some(Section::Containers));
    for _ in 0..3 {
        metrics.stream_opened();
        metrics.observe(&web, &answered());
    }
    let refusal = Refusal::forbidden("no", Needs::none());
    metrics.observe(&record(None, false, None), &End::Refused(&refusal));
    let text = metrics.render();
    assert_eq!(
        sample(
            &text,
            r#"dockgate_requests_total{decision="allow",section="containers",profile="web"}"#
        ),
        Some(3.0),
        "{text}"
    );
    // No config file: the environment's grant, under the name it has once there is one.
    assert_eq!(
        sample(
            &text,
            r#"dockgate_requests_total{decision="deny",section="none",profile="default"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"dockgate_refusals_total{grant="none",profile="default"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"dockgate_request_duration_seconds_count{decision="allow"}"#
        ),
        Some(3.0)
    );
    assert_eq!(sample(&text, "dockgate_open_streams"), Some(0.0));
    assert!(text.contains(r#"dockgate_build_info{version=""#), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn a_refusal_counts_once_under_each_first_choice_variable() {
    let metrics = Metrics::new();
    let needs = Needs {
        items: vec![
            Item {
                choices: vec![
                    vec![Grant::on("ALLOW_START")],
                    vec![Grant::on("CONTAINERS"), Grant::on("POST")],
                ],
            },
            Item::one(Grant::value("ALLOW_BIND_MOUNTS", "/srv")),
            Item::one(Grant::value("ALLOW_BIND_MOUNTS", "/data")),
        ],
    };
    let refusal = Refusal::forbidden("no", needs);
    let ops = record(Some("ops"), false, Some(Section::Containers));
    metrics.observe(&ops, &End::Refused(&refusal));
    let text = metrics.render();
    for (grant, count) in [
        ("ALLOW_START", Some(1.0)),
        ("ALLOW_BIND_MOUNTS", Some(1.0)),
        ("CONTAINERS", None),
        ("POST", None),
    ] {
        let series = format!(r#"dockgate_refusals_total{{grant="{grant}",profile="ops"}}"#);
        assert_eq!(sample(&text, &series), count, "{grant}: {text}");
    }
}

#[test]
fn a_profile_nobody_defined_is_never_a_label_value() {
    let metrics = Metrics::new();
    let refusal = Refusal::forbidden("no", Needs::none());
    let chosen_by_a_client = record(Some("anything-a-client-wrote"), true, None);
    metrics.observe(&chosen_by_a_client, &End::Refused(&refusal));
    let text = metrics.render();
    assert!(!text.contains("anything-a-client-wrote"), "{text}");
    assert!(text.contains(r#"profile="(undefined)""#), "{text}");
}

#[test]
fn gauges_follow_what_is_open() {
    let metrics = Metrics::new();
    let open = metrics.connection_opened();
    metrics.tunnel_opened();
    metrics.engine_reachable(true);
    let text = metrics.render();
    assert_eq!(sample(&text, "dockgate_open_connections"), Some(1.0));
    assert_eq!(sample(&text, "dockgate_open_tunnels"), Some(1.0));
    assert_eq!(sample(&text, "dockgate_engine_up"), Some(1.0));
    drop(open);
    let tunnel = End::Tunnel {
        from_client: 1,
        from_engine: 1,
        error: None,
    };
    metrics.observe(&record(None, false, Some(Section::Exec)), &tunnel);
    let text = metrics.render();
    assert_eq!(sample(&text, "dockgate_open_connections"), Some(0.0));
    assert_eq!(sample(&text, "dockgate_open_tunnels"), Some(0.0));
    // A tunnel is a request, but its lifetime is not a request's duration.
    assert_eq!(
        sample(
            &text,
            r#"dockgate_request_duration_seconds_count{decision="allow"}"#
        ),
        Some(0.0)
    );
}

#[test]
fn reloads_are_counted_by_result_from_zero() {
    let metrics = Metrics::new();
    let text = metrics.render();
    assert_eq!(
        sample(&text, r#"dockgate_config_reloads_total{result="failed"}"#),
        Some(0.0)
    );
    metrics.reloaded(true);
    metrics.reloaded(false);
    metrics.reloaded(true);
    let text = metrics.render();
    assert_eq!(
        sample(&text, r#"dockgate_config_reloads_total{result="ok"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, r#"dockgate_config_reloads_total{result="failed"}"#),
        Some(1.0)
    );
}
