//! What each finished request tells besides its log line. [`crate::access::Record::end`], the one
//! place a request ends, hands every record here with how it ended, so counters, the learned
//! grants and other records of decisions each hook in once, beside the log, not in the walk.

use crate::access::{End, Record};
use crate::learn::Learned;
use crate::refusal::Refusal;

/// The consumers of finished requests.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Per client, what its grant refused and what would allow it.
    pub learned: Learned,
}

impl Telemetry {
    pub fn observe(&self, record: &Record, end: &End<'_>) {
        if let End::Refused(refusal) = end {
            self.learned
                .record(&record.who, &record.method, &record.path, refusal);
        }
    }

    /// A refusal `MODE=warn|learn` let through: learned as if refused; the request goes on and
    /// ends as any other.
    pub fn waived(&self, record: &Record, refusal: &Refusal) {
        self.learned
            .record(&record.who, &record.method, &record.path, refusal);
    }
}
