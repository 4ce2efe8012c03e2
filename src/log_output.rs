//! Log lines to stderr, gathered while the proxy is busy: a line after a quiet moment is written
//! at once, and the lines that follow within [`FLUSH_INTERVAL`] go out together in one write.
//!
//! An access line per request made the write (and, on a log pipe, the reader's wake-up) one of
//! the largest costs of a small request; nginx's `access_log ... buffer= flush=` answers the same
//! way. Batching runs as a task on the proxy's runtime, so it adds no thread; outside that task's
//! life (start-up, shutdown, the subcommands) lines are written as they come.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tracing_subscriber::fmt::MakeWriter;

/// How long lines may wait to be written while more are coming.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Past this, a writer writes what is pending itself: stderr's back-pressure reaches the proxy
/// instead of memory growing without bound.
const MAX_PENDING: usize = 256 << 10;

/// Stderr, with batching while [`LogOutput::batch_writes`] runs.
#[derive(Clone)]
pub struct LogOutput {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Signalled when the first line lands in an empty `pending`.
    arrived: Notify,
    batching: AtomicBool,
    sink: fn(&[u8]),
}

impl Default for LogOutput {
    fn default() -> LogOutput {
        LogOutput::with_sink(write_to_stderr)
    }
}

impl LogOutput {
    fn with_sink(sink: fn(&[u8])) -> LogOutput {
        LogOutput {
            shared: Arc::new(Shared {
                pending: Mutex::new(Vec::new()),
                arrived: Notify::new(),
                batching: AtomicBool::new(false),
                sink,
            }),
        }
    }

    /// Writes pending lines until the returned future is dropped (with its runtime), at most
    /// once per [`FLUSH_INTERVAL`]; what is pending then is written too.
    pub async fn batch_writes(&self) {
        struct Stop<'a>(&'a LogOutput);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.shared.batching.store(false, Ordering::SeqCst);
                self.0.flush();
            }
        }
        self.shared.batching.store(true, Ordering::SeqCst);
        let _stop = Stop(self);
        loop {
            self.shared.arrived.notified().await;
            self.flush();
            tokio::time::sleep(FLUSH_INTERVAL).await;
        }
    }

    /// Writes what is pending now.
    pub fn flush(&self) {
        let mut pending = self.shared.pending.lock().expect("never poisoned");
        self.write_out(&pending);
        pending.clear();
    }

    fn write_out(&self, bytes: &[u8]) {
        if !bytes.is_empty() {
            (self.shared.sink)(bytes);
        }
    }

    fn write_line(&self, line: &[u8]) {
        if !self.shared.batching.load(Ordering::SeqCst) {
            self.write_out(line);
            return;
        }
        let mut pending = self.shared.pending.lock().expect("never poisoned");
        let first = pending.is_empty();
        pending.extend_from_slice(line);
        if pending.len() > MAX_PENDING {
            self.write_out(&pending);
            pending.clear();
        } else if first {
            drop(pending);
            self.shared.arrived.notify_one();
        }
    }
}

/// A log line that cannot be written has nowhere else to go; it is dropped.
fn write_to_stderr(bytes: &[u8]) {
    let _ = io::stderr().lock().write_all(bytes);
}

/// One event's writer: tracing-subscriber formats a whole line and writes it through here.
pub struct LineWriter<'a> {
    output: &'a LogOutput,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.write_line(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogOutput {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter { output: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(output: &LogOutput) -> Vec<u8> {
        output.shared.pending.lock().unwrap().clone()
    }

    #[test]
    fn lines_outside_the_batching_task_are_written_at_once() {
        let output = LogOutput::with_sink(|_| {});
        output.write_line(b"start-up\n");
        assert!(pending(&output).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn lines_that_follow_a_written_one_wait_for_the_interval_then_go_together() {
        let output = LogOutput::with_sink(|_| {});
        let batching = tokio::spawn({
            let output = output.clone();
            async move { output.batch_writes().await }
        });
        tokio::task::yield_now().await;
        output.write_line(b"first\n");
        tokio::task::yield_now().await;
        assert!(pending(&output).is_empty(), "the first line goes at once");
        output.write_line(b"second\n");
        output.write_line(b"third\n");
        assert_eq!(pending(&output), b"second\nthird\n");
        tokio::time::sleep(FLUSH_INTERVAL + Duration::from_millis(1)).await;
        assert!(pending(&output).is_empty());
        output.write_line(b"fourth\n");
        batching.abort();
        let _ = batching.await;
        assert!(pending(&output).is_empty(), "stopping writes what is left");
        assert!(!output.shared.batching.load(Ordering::SeqCst));
    }

    #[test]
    fn a_backed_up_buffer_is_written_by_the_writer_itself() {
        let output = LogOutput::with_sink(|_| {});
        output.shared.batching.store(true, Ordering::SeqCst);
        let line = vec![b'x'; 1024];
        for _ in 0..(MAX_PENDING / line.len()) + 1 {
            output.write_line(&line);
        }
        assert!(pending(&output).len() <= MAX_PENDING);
    }
}
