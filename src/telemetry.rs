//! What each finished request tells besides its log line. [`crate::access::Record::end`], the one
//! place a request ends, hands every record here with how it ended, so counters, the learned
//! grants and other records of decisions each hook in once, beside the log, not in the walk.

use crate::access::{End, Record};

/// The consumers of finished requests; none yet.
#[derive(Debug, Default)]
pub struct Telemetry {}

impl Telemetry {
    pub fn observe(&self, _record: &Record, _end: &End<'_>) {}
}
