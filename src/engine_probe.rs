//! Whether the engine answers, for `/readyz` and `dockgate_engine_up`: `GET /_ping` on the
//! engine's socket every 500 ms over one kept connection (dialled again when the engine closed
//! it), each with a 1 s limit. An engine that goes away is seen at the next ping (its socket
//! refuses at once); one that hangs, within 1.5 s; either way within 2 s. Runs only while
//! ADMIN_LISTEN serves what it finds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::{Request, StatusCode};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine_facts::USER_AGENT;
use crate::telemetry::Telemetry;
use crate::upstream::{EngineLink, Upstream};

pub const INTERVAL: Duration = Duration::from_millis(500);
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// How old the last answer may be for the engine to count as reachable: a probe that stopped
/// running must not leave `/readyz` ready.
const FRESH: Duration = Duration::from_secs(2);

/// `_ping` answers `OK`; more than this is not the engine.
const MAX_ANSWER: usize = 4096;

/// What the last ping found.
#[derive(Debug, Default)]
pub struct Reachability {
    last: Mutex<Last>,
}

#[derive(Debug, Default)]
enum Last {
    #[default]
    NotYet,
    Answered(Instant),
    Failed(String),
}

impl Reachability {
    /// `Ok` while the engine answered a ping within the last 2 s; else why not, in one line.
    pub fn check(&self) -> Result<(), String> {
        match &*self.last.lock().expect("never poisoned") {
            Last::Answered(at) if at.elapsed() <= FRESH => Ok(()),
            Last::Answered(at) => Err(format!(
                "the engine last answered its ping {:.1} s ago",
                at.elapsed().as_secs_f64()
            )),
            Last::NotYet => Err("the engine has not answered a ping yet".into()),
            Last::Failed(why) => Err(why.clone()),
        }
    }

    /// Records a ping's outcome; says so in the log when reachability changes.
    fn record(&self, outcome: Result<(), String>) {
        let mut last = self.last.lock().expect("never poisoned");
        match outcome {
            Ok(()) => {
                if matches!(*last, Last::Failed(_)) {
                    tracing::info!("the engine answers its ping again");
                }
                *last = Last::Answered(Instant::now());
            }
            Err(why) => {
                if !matches!(*last, Last::Failed(_)) {
                    tracing::warn!("{why}; /readyz answers 503 until it answers again");
                }
                *last = Last::Failed(why);
            }
        }
    }
}

/// Starts pinging the engine until `stop`.
pub fn start(
    upstream: &Upstream,
    reachability: Arc<Reachability>,
    telemetry: Arc<Telemetry>,
    tasks: &TaskTracker,
    stop: CancellationToken,
) {
    let link = upstream.link();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                outcome = async {
                    tick.tick().await;
                    tokio::time::timeout(TIMEOUT, ping(&link)).await
                } => outcome,
            };
            let outcome = outcome.unwrap_or_else(|_| {
                Err(format!(
                    "the engine did not answer its ping within {} s",
                    TIMEOUT.as_secs()
                ))
            });
            telemetry.engine_reachable(outcome.is_ok());
            reachability.record(outcome);
        }
    });
}

async fn ping(link: &EngineLink) -> Result<(), String> {
    let request = Request::get("/_ping")
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .body(Either::Right(Full::new(Bytes::new())))
        .expect("a GET with a path is a valid request");
    let response = link.send(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    // Read to its end, so the connection is kept for the next ping.
    Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("the engine's answer to its ping could not be read: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!("the engine answered its ping with {status}"));
    }
    Ok(())
}
