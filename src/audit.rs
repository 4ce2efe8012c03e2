//! One request's decision as the audit log's JSON object (`LOG_FORMAT=json`): who asked, what
//! was judged, the decision, what would allow a refusal and what came of it, under the names
//! docs/audit-log.md documents and docs/audit-log.schema.json checks.
//!
//! Like the text line it never holds a query string or a header: queries carry build arguments,
//! headers registry credentials.

use std::fmt;

use serde::Serialize;

use crate::access::{End, Peer, Record};
use crate::api::Upgrade;
use crate::log_format::{level_name, Now, Shown};
use crate::needs::Needs;
use crate::refusal::{Refusal, PREFIX};

/// Writes the request's object at the level its decision takes: refusals at warn, engine errors
/// at error, allowed requests at info.
pub fn log(record: &Record, end: &End<'_>) {
    // The object is built only when the level is enabled: tracing evaluates fields after its
    // level check. The field is `log_format::REQUEST_FIELD`, which passes it through whole.
    let line = |level| Object::new(record, end, level);
    match end {
        End::Refused(_) => {
            tracing::warn!(target: "access", request = %line(tracing::Level::WARN))
        }
        End::EngineError(_) => {
            tracing::error!(target: "access", request = %line(tracing::Level::ERROR))
        }
        End::Answered { .. } | End::Tunnel { .. } => {
            tracing::info!(target: "access", request = %line(tracing::Level::INFO))
        }
    }
}

/// A refusal `MODE=warn|learn` let through, at warn: decision `warn`, with what would allow it.
/// The request's own object follows when it ends.
pub fn waived(record: &Record, refusal: &Refusal) {
    let end = End::Refused(refusal);
    let line = || {
        let mut object = Object::new(record, &end, tracing::Level::WARN);
        object.decision = "warn";
        object
    };
    tracing::warn!(target: "access", request = %line());
}

/// The request object, field by field (docs/audit-log.md).
#[derive(Serialize)]
struct Object<'a> {
    time: Now,
    level: &'static str,
    kind: &'static str,
    client: Client<'a>,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    section: Option<&'static str>,
    decision: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    needs: Option<NeedsObject<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<Shown<Reason<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_in: Option<u64>,
    duration_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    complete: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upgrade: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Shown<&'a std::io::Error>>,
}

#[derive(Serialize)]
struct Client<'a> {
    /// As the text log's `client=`: `IP:PORT`, or `unix` with the credentials below.
    address: Shown<&'a Peer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    listener: &'a str,
}

/// What would allow a refusal: the first choice of each item, as a message suggests it, and the
/// whole of it (every alternative) in the text log's `needs=` form.
#[derive(Serialize)]
struct NeedsObject<'a> {
    grants: Vec<GrantObject<'a>>,
    text: Shown<&'a Needs>,
}

#[derive(Serialize)]
struct GrantObject<'a> {
    var: &'static str,
    value: &'a str,
}

/// The message the client got, `dockgate: ` and all, without a copy.
struct Reason<'a>(&'a Refusal);

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.0.message)
    }
}

impl<'a> Object<'a> {
    fn new(record: &'a Record, end: &'a End<'a>, level: tracing::Level) -> Object<'a> {
        let who = &record.who;
        let peer = &who.identity.peer;
        let (pid, uid, gid) = match *peer {
            Peer::Tcp(_) => (None, None, None),
            Peer::Unix { pid, uid, gid } => (pid, uid, gid),
        };
        let (path, raw_path) = match record.judged_path() {
            Some(judged) if judged != &*record.path => (judged, Some(&*record.path)),
            _ => (&*record.path, None),
        };
        let mut object = Object {
            time: Now,
            level: level_name(&level),
            kind: "request",
            client: Client {
                address: Shown(peer),
                pid,
                uid,
                gid,
                container: who.container(),
                profile: who.profile(),
                listener: &who.identity.listener,
            },
            method: record.method.as_str(),
            path,
            raw_path,
            section: record.section.map(|s| s.var()),
            decision: "allow",
            status: 0,
            needs: None,
            reason: None,
            bytes: None,
            bytes_in: None,
            duration_us: record.micros(),
            complete: None,
            stream: None,
            upgrade: record.upgrade.map(protocol),
            error: None,
        };
        match *end {
            End::Refused(refusal) | End::EngineError(refusal) => {
                object.decision = match end {
                    End::Refused(_) => "deny",
                    _ => "error",
                };
                object.status = refusal.status.as_u16();
                object.reason = Some(Shown(Reason(refusal)));
                object.needs = (!refusal.needs.is_empty()).then(|| NeedsObject {
                    grants: refusal
                        .needs
                        .first_choices()
                        .into_iter()
                        .map(|g| GrantObject {
                            var: g.var,
                            value: &g.value,
                        })
                        .collect(),
                    text: Shown(&refusal.needs),
                });
            }
            End::Answered {
                status,
                bytes,
                complete,
                stream,
            } => {
                object.status = status;
                object.bytes = Some(bytes);
                object.complete = Some(complete);
                object.stream = Some(stream);
            }
            End::Tunnel {
                from_client,
                from_engine,
                error,
            } => {
                object.status = 101;
                object.bytes = Some(from_engine);
                object.bytes_in = Some(from_client);
                object.complete = Some(error.is_none());
                object.error = error.map(Shown);
            }
        }
        object
    }
}

impl fmt::Display for Object<'_> {
    /// Serialized into a buffer kept per thread, then written in one piece: serde_json writes
    /// a piece per token, and each piece through a `fmt::Write` costs more than the buffer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with_borrow_mut(|buffer| {
            buffer.clear();
            serde_json::to_writer(&mut *buffer, self).map_err(|_| fmt::Error)?;
            f.write_str(std::str::from_utf8(buffer).map_err(|_| fmt::Error)?)
        })
    }
}

/// The protocol as the `Upgrade` header names it.
fn protocol(upgrade: Upgrade) -> &'static str {
    match upgrade {
        Upgrade::Tcp => "tcp",
        Upgrade::WebSocket => "websocket",
        Upgrade::H2c => "h2c",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use serde_json::{json, Value};

    use super::*;
    use crate::access::Judged;
    use crate::api::Section;
    use crate::clients::{Assignment, Container, Identity};
    use crate::config::LogFormat;
    use crate::log_format::tests::captured;
    use crate::needs::{Grant, Item};
    use crate::policy::{Flags, Policy};
    use crate::profile::Profile;
    use crate::session::Who;

    /// A request from container `web` under profile `ci`, or from a unix client with no
    /// profile.
    fn record(peer: Peer, path: &str, judged: Judged) -> Record {
        let container = matches!(peer, Peer::Tcp(_)).then(|| {
            Arc::new(Container {
                name: "web".into(),
                ..Container::default()
            })
        });
        let name = container.as_ref().map(|_| "ci".into());
        Record {
            who: Arc::new(Who {
                identity: Identity {
                    listener: "tcp://0.0.0.0:2375".into(),
                    peer,
                    container,
                },
                assignment: Assignment {
                    profile: Arc::new(Profile {
                        policy: Policy::new(Flags::defaults()),
                        body: Default::default(),
                    }),
                    name,
                    undefined: None,
                },
            }),
            method: hyper::Method::GET,
            path: path.into(),
            judged,
            upgrade: None,
            section: Some(Section::Containers),
            start: Instant::now(),
            telemetry: Arc::default(),
        }
    }

    fn tcp() -> Peer {
        Peer::Tcp("172.30.0.5:40000".parse().unwrap())
    }

    /// The one line `end` writes, without its time and duration.
    fn logged(record: &Record, end: End<'_>) -> Value {
        let mut lines = captured(LogFormat::Json, || record.end(end)).json_lines();
        assert_eq!(lines.len(), 1);
        let mut line = lines.remove(0);
        let object = line.as_object_mut().unwrap();
        assert!(object.remove("time").unwrap().is_string());
        assert!(object.remove("duration_us").unwrap().is_u64());
        line
    }

    #[test]
    fn an_allowed_request_names_its_client_and_the_path_judged() {
        let record = record(tcp(), "/v1.41/containers/json", Judged::Tail(6));
        let end = End::Answered {
            status: 200,
            bytes: 3,
            complete: true,
            stream: false,
        };
        assert_eq!(
            logged(&record, end),
            json!({
                "level": "info", "kind": "request",
                "client": {
                    "address": "172.30.0.5:40000", "container": "web", "profile": "ci",
                    "listener": "tcp://0.0.0.0:2375"
                },
                "method": "GET", "path": "/containers/json", "raw_path": "/v1.41/containers/json",
                "section": "CONTAINERS", "decision": "allow", "status": 200, "bytes": 3,
                "complete": true, "stream": false
            })
        );
    }

    #[test]
    fn a_refusal_carries_its_reason_and_what_would_allow_it() {
        let unix = Peer::Unix {
            pid: Some(7),
            uid: Some(1000),
            gid: None,
        };
        let record = record(unix, "/containers/json", Judged::Tail(0));
        let mut needs = Needs::none();
        needs.push(Item {
            choices: vec![
                vec![Grant::on("ALLOW_START")],
                vec![Grant::on("CONTAINERS"), Grant::on("POST")],
            ],
        });
        needs.push(Item::one(Grant::value("ALLOW_BIND_MOUNTS", "/srv/a b")));
        let refusal = Refusal::forbidden("POST /containers/x/start is not allowed", needs);
        assert_eq!(
            logged(&record, End::Refused(&refusal)),
            json!({
                "level": "warn", "kind": "request",
                "client": {
                    "address": "unix:pid=7:uid=1000", "pid": 7, "uid": 1000,
                    "listener": "tcp://0.0.0.0:2375"
                },
                "method": "GET", "path": "/containers/json", "section": "CONTAINERS",
                "decision": "deny", "status": 403,
                "needs": {
                    "grants": [
                        {"var": "ALLOW_START", "value": "1"},
                        {"var": "ALLOW_BIND_MOUNTS", "value": "/srv/a b"}
                    ],
                    "text": "ALLOW_START=1|CONTAINERS=1+POST=1,ALLOW_BIND_MOUNTS=/srv/a%20b"
                },
                "reason": "dockgate: POST /containers/x/start is not allowed"
            })
        );
    }

    #[test]
    fn engine_errors_malformed_targets_and_tunnels() {
        let unreachable = Refusal::new(
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "cannot reach the Docker engine",
        );
        let error = logged(
            &record(tcp(), "/_ping", Judged::Tail(0)),
            End::EngineError(&unreachable),
        );
        assert_eq!(
            (&error["level"], &error["decision"], &error["status"]),
            (&json!("error"), &json!("error"), &json!(503))
        );
        assert!(error.get("needs").is_none());

        let mut malformed = record(tcp(), "/v1.41/containers/../json", Judged::Unparsed);
        malformed.section = None;
        let bad = Refusal::bad_request("the path has a '.' or '..' segment");
        let bad = logged(&malformed, End::Refused(&bad));
        assert_eq!(bad["path"], "/v1.41/containers/../json");
        assert!(bad.get("raw_path").is_none() && bad.get("section").is_none());

        let mut exec = record(
            tcp(),
            "/exec/a%62/start",
            Judged::Decoded("/exec/ab/start".into()),
        );
        exec.upgrade = Some(Upgrade::Tcp);
        let cut = std::io::Error::other("cut at shutdown");
        let tunnel = logged(
            &exec,
            End::Tunnel {
                from_client: 5,
                from_engine: 40,
                error: Some(&cut),
            },
        );
        assert_eq!(tunnel["path"], "/exec/ab/start");
        assert_eq!(tunnel["raw_path"], "/exec/a%62/start");
        assert_eq!(
            [&tunnel["status"], &tunnel["bytes"], &tunnel["bytes_in"]],
            [&json!(101), &json!(40), &json!(5)]
        );
        assert_eq!(tunnel["upgrade"], "tcp");
        assert_eq!(tunnel["complete"], false);
        assert_eq!(tunnel["error"], "cut at shutdown");
    }

    #[test]
    fn allowed_requests_are_not_written_at_warn() {
        let record = record(tcp(), "/_ping", Judged::Tail(0));
        let captured = crate::log_format::tests::Captured::default();
        let dispatch = crate::log_format::dispatch(
            crate::config::LogLevel::Warn,
            LogFormat::Json,
            false,
            captured.clone(),
        );
        tracing::dispatcher::with_default(&dispatch, || {
            record.end(End::Answered {
                status: 200,
                bytes: 2,
                complete: true,
                stream: false,
            })
        });
        assert!(captured.json_lines().is_empty());
    }
}
