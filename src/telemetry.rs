//! What each finished request tells besides its log line. [`crate::access::Record::end`], the one
//! place a request ends, hands every record here with how it ended, so counters, the learned
//! grants and other records of decisions each hook in once, beside the log, not in the walk.

use std::sync::Arc;

use crate::access::{End, Record};
use crate::metrics::{self, Metrics};

/// The consumers of finished requests.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Kept while ADMIN_LISTEN serves them.
    pub metrics: Option<Arc<Metrics>>,
}

impl Telemetry {
    pub fn observe(&self, record: &Record, end: &End<'_>) {
        if let Some(metrics) = &self.metrics {
            metrics.observe(record, end);
        }
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

    /// The config file was reloaded (`ok`), or read and not put in force.
    pub fn reloaded(&self, ok: bool) {
        if let Some(metrics) = &self.metrics {
            metrics.reloaded(ok);
        }
    }
}
