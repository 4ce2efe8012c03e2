//! The numbers `/metrics` shows (docs/metrics.md lists each): kept with `prometheus-client`, fed
//! by [`crate::telemetry::Telemetry`] as each request ends and as connections, streams and
//! tunnels open, by the engine probe and by reloads.
//!
//! Counting a request is on the hot path, so a request's series is looked up by its labels once
//! and kept: after the first request of a (decision, section, profile), counting another is a
//! hash of the profile's name, a read lock and atomic adds, with no allocation. Label values are
//! bounded: sections and grants are fixed sets, profiles are the operator's names, and neither
//! client addresses nor paths are ever labels.

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

use prometheus_client::encoding::{text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::access::{End, Record};
use crate::api::Section;
use crate::clients::DEFAULT_PROFILE;
use crate::refusal::Refusal;
use crate::session::Who;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The profile label of a client whose own container label names a profile nobody defined: the
/// name comes from whoever created the container, so it never becomes a label value.
const UNDEFINED_PROFILE: &str = "(undefined)";

/// The section label of a request whose path names no section (`/debug`, a malformed target).
const NO_SECTION: &str = "none";

/// The grant label of a refusal no grant can lift (a malformed request, `/debug`).
const NO_GRANT: &str = "none";

/// Upper bounds of the duration buckets, in seconds: from a refusal (tens of µs) to a stream
/// held open for minutes, which ends in the last buckets.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
    30.0, 300.0,
];

/// What happened to a request, as its log line's `decision=` says it.
#[derive(Clone, Copy)]
enum Decision {
    Allow,
    Deny,
    Error,
}

impl Decision {
    const ALL: [Decision; 3] = [Decision::Allow, Decision::Deny, Decision::Error];

    fn of(end: &End<'_>) -> Decision {
        match end {
            End::Refused(_) => Decision::Deny,
            End::EngineError(_) => Decision::Error,
            End::Answered { .. } | End::Tunnel { .. } => Decision::Allow,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    decision: &'static str,
    section: &'static str,
    profile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    grant: &'static str,
    profile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// One slot per section, and one for requests with none.
const SECTION_SLOTS: usize = Section::ALL.len() + 1;

/// One profile's request counters, each resolved at its first request.
struct ProfileSeries {
    requests: [[OnceLock<Counter>; SECTION_SLOTS]; Decision::ALL.len()],
}

/// Every metric, and the registry that writes them out.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    by_profile: RwLock<HashMap<Box<str>, Box<ProfileSeries>>>,
    refusals: Family<RefusalLabels, Counter>,
    /// By [`Decision`], resolved at start.
    durations: [Histogram; Decision::ALL.len()],
    connections: Gauge,
    streams: Gauge,
    tunnels: Gauge,
    engine_errors: Counter,
    engine_up: Gauge,
    reloads: Family<ResultLabels, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dockgate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests by decision (allow, deny, error), API section and client profile; counted \
             when the request ends (a stream or tunnel when it closes)",
            requests.clone(),
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "refusals",
            "Refused requests by a variable that would allow them (the first choice of each \
             needed grant) and client profile; grant=\"none\" when no grant can",
            refusals.clone(),
        );
        let duration =
            Family::<DecisionLabels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
                Histogram::new(BUCKETS)
            });
        registry.register(
            "request_duration_seconds",
            "Time from a request's head to its end (the last byte of the response, or a refusal \
             sent), by decision; tunnels are not included",
            duration.clone(),
        );
        let durations = Decision::ALL.map(|d| {
            duration.get_or_create_owned(&DecisionLabels {
                decision: d.label(),
            })
        });
        let connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections open now",
            connections.clone(),
        );
        let streams = Gauge::default();
        registry.register(
            "open_streams",
            "Allowed responses still being sent now (event and log streams stay here while they \
             follow)",
            streams.clone(),
        );
        let tunnels = Gauge::default();
        registry.register(
            "open_tunnels",
            "Upgraded connections (attach, exec) open now",
            tunnels.clone(),
        );
        let engine_errors = Counter::default();
        registry.register(
            "engine_errors",
            "Allowed requests the engine could not be reached for or failed to answer",
            engine_errors.clone(),
        );
        let engine_up = Gauge::default();
        registry.register(
            "engine_up",
            "1 while the engine answers dockgate's ping (every 500 ms), else 0",
            engine_up.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Reloads of the CONFIG file by result: ok (in force) or failed (the previous policy \
             stays)",
            reloads.clone(),
        );
        // Both shown from the start, so that a failed reload is a change a rule can see.
        for result in ["ok", "failed"] {
            let _ = reloads.get_or_create_owned(&ResultLabels { result });
        }
        registry.register(
            "build",
            "dockgate's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Metrics {
            registry,
            requests,
            by_profile: RwLock::default(),
            refusals,
            durations,
            connections,
            streams,
            tunnels,
            engine_errors,
            engine_up,
            reloads,
        }
    }

    /// Counts a request that ended.
    pub fn observe(&self, record: &Record, end: &End<'_>) {
        let decision = Decision::of(end);
        let profile = profile_label(&record.who);
        let slot = record
            .section
            .map_or(SECTION_SLOTS - 1, |section| section as usize);
        self.with_profile(profile, |series| {
            series.requests[decision as usize][slot]
                .get_or_init(|| {
                    self.requests.get_or_create_owned(&RequestLabels {
                        decision: decision.label(),
                        section: record.section.map_or(NO_SECTION, Section::segment),
                        profile: profile.into(),
                    })
                })
                .inc();
        });
        match end {
            End::Refused(refusal) => self.refused(refusal, profile),
            End::EngineError(_) => {
                self.engine_errors.inc();
            }
            End::Answered { .. } => {
                self.streams.dec();
            }
            End::Tunnel { .. } => {
                // A tunnel's lifetime is a session's, not a request's duration.
                self.tunnels.dec();
                return;
            }
        }
        self.durations[decision as usize].observe(record.start.elapsed().as_secs_f64());
    }

    fn with_profile(&self, profile: &str, count: impl FnOnce(&ProfileSeries)) {
        if let Some(series) = self.by_profile.read().expect("never poisoned").get(profile) {
            return count(series);
        }
        let mut by_profile = self.by_profile.write().expect("never poisoned");
        let series = by_profile.entry(profile.into()).or_insert_with(|| {
            Box::new(ProfileSeries {
                requests: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            })
        });
        count(series)
    }

    /// Counts a refusal once under each variable that would lift it.
    fn refused(&self, refusal: &Refusal, profile: &str) {
        let mut counted: Vec<&'static str> = vec![];
        let first_choices = refusal
            .needs
            .items
            .iter()
            .filter_map(|item| item.choices.first())
            .flatten();
        for grant in first_choices {
            if !counted.contains(&grant.var) {
                counted.push(grant.var);
            }
        }
        if counted.is_empty() {
            counted.push(NO_GRANT);
        }
        for grant in counted {
            self.refusals
                .get_or_create(&RefusalLabels {
                    grant,
                    profile: profile.into(),
                })
                .inc();
        }
    }

    /// A client connection opened; it counts until the guard is dropped.
    pub fn connection_opened(&self) -> Open {
        self.connections.inc();
        Open(self.connections.clone())
    }

    /// A response started streaming; [`Metrics::observe`] sees it end.
    pub fn stream_opened(&self) {
        self.streams.inc();
    }

    /// A connection upgraded; [`Metrics::observe`] sees the tunnel close.
    pub fn tunnel_opened(&self) {
        self.tunnels.inc();
    }

    /// What the engine probe found.
    pub fn engine_reachable(&self, up: bool) {
        self.engine_up.set(i64::from(up));
    }

    /// A reload of the config file, put in force or not.
    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    /// The exposition, in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// The profile a request is counted under.
fn profile_label(who: &Who) -> &str {
    if who.assignment.undefined.is_some() {
        return UNDEFINED_PROFILE;
    }
    who.profile().unwrap_or(DEFAULT_PROFILE)
}

/// An open client connection, counted until dropped.
pub struct Open(Gauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests;
