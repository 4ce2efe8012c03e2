//! What each finished request tells besides its log line. [`crate::access::Record::end`], the one
//! place a request ends, hands every record here with how it ended, so counters, the learned
//! grants and other records of decisions each hook in once, beside the log, not in the walk.

use std::sync::Arc;

use crate::access::{End, Record};
use crate::config::Config;
use crate::learn::Learned;
use crate::metrics::{self, Metrics};
use crate::refusal::Refusal;

/// The consumers of finished requests.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Per client, what its grant refused and what would allow it.
    pub learned: Learned,
    /// Kept while ADMIN_LISTEN serves them.
    pub metrics: Option<Arc<Metrics>>,
}

impl Telemetry {
    /// What `config` asks to be kept: the metrics only when ADMIN_LISTEN serves them.
    pub fn new(config: &Config) -> Telemetry {
        Telemetry {
            metrics: config.admin_listen.is_some().then(Arc::default),
            ..Telemetry::default()
        }
    }

    pub fn observe(&self, record: &Record, end: &End<'_>) {
        if let End::Refused(refusal) = end {
            self.learned
                .record(&record.who, &record.method, &record.path, refusal);
        }
        if let Some(metrics) = &self.metrics {
            metrics.observe(record, end);
        }
    }

    /// A refusal `MODE=warn|learn` let through: learned as if refused; the request goes on and
    /// ends as any other.
    pub fn waived(&self, record: &Record, refusal: &Refusal) {
        self.learned
            .record(&record.who, &record.method, &record.path, refusal);
    }

    /// A client connection opened; it counts as open until the guard is dropped.
    pub fn connection_opened(&self) -> Option<metrics::Open> {
        self.metrics.as_ref().map(|m| m.connection_opened())
    }

    /// A response body started; [`Telemetry::observe`] hears of its end.
    pub fn stream_opened(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.stream_opened();
        }
    }

    /// A connection upgraded; [`Telemetry::observe`] hears of the tunnel's end.
    pub fn tunnel_opened(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.tunnel_opened();
        }
    }

    /// What the engine probe found.
    pub fn engine_reachable(&self, up: bool) {
        if let Some(metrics) = &self.metrics {
            metrics.engine_reachable(up);
        }
    }

    /// The config file was reloaded (`ok`), or read and not put in force.
    pub fn reloaded(&self, ok: bool) {
        if let Some(metrics) = &self.metrics {
            metrics.reloaded(ok);
        }
    }
}
