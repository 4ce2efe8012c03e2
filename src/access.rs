//! One log record per request: who asked, what, the decision, and what came of it.
//!
//! A record is written when the response body ends (or the client hangs up), so streams are
//! logged with their real duration and size. Only the path is logged: queries can carry build
//! arguments, and headers can carry registry credentials.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::Method;

use crate::api::{Section, Upgrade};
use crate::refusal::Refusal;
use crate::session::Who;
use crate::telemetry::Telemetry;

/// The client end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    /// A unix-socket client, known by its credentials where the kernel gives them.
    Unix {
        pid: Option<i32>,
        uid: Option<u32>,
        gid: Option<u32>,
    },
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Unix { pid, uid, gid } => {
                f.write_str("unix")?;
                if let Some(pid) = pid {
                    write!(f, ":pid={pid}")?;
                }
                if let Some(uid) = uid {
                    write!(f, ":uid={uid}")?;
                }
                if let Some(gid) = gid {
                    write!(f, ":gid={gid}")?;
                }
                Ok(())
            }
        }
    }
}

/// How a request ended: what its one log line is made from, in [`Record::end`], the one place
/// it is written (and where counters will hook in).
#[derive(Debug)]
pub enum End<'a> {
    /// Refused by policy or as malformed; never forwarded.
    Refused(&'a Refusal),
    /// Allowed, but the engine could not be reached or failed.
    EngineError(&'a Refusal),
    /// Allowed and answered; the body complete, or abandoned by the client. `stream`: the
    /// engine sent it without a length (follow streams, and whatever it did not size first).
    Answered {
        status: u16,
        bytes: u64,
        complete: bool,
        stream: bool,
    },
    /// Upgraded, and the tunnel has closed.
    Tunnel {
        from_client: u64,
        from_engine: u64,
        error: Option<&'a std::io::Error>,
    },
}

/// The request side of a record, taken before the request is forwarded.
#[derive(Clone, Debug)]
pub struct Record {
    /// The client and the grant it was judged by.
    pub who: Arc<Who>,
    pub method: Method,
    /// A copy: sharing the request's bytes would keep the whole buffer the head was read into
    /// alive for as long as the response streams (hours, for an event stream).
    pub path: Box<str>,
    /// The canonical path the request was judged by.
    pub judged: Judged,
    /// The protocol the request asked to switch to (on a route that takes it).
    pub upgrade: Option<Upgrade>,
    /// The API section of the route, when the path names one.
    pub section: Option<Section>,
    pub start: Instant,
    /// Told of the request when it ends, after its log line.
    pub telemetry: Arc<Telemetry>,
}

/// Where a record's canonical path is: most often the raw path past its version prefix, so
/// nothing is copied for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judged {
    /// The raw path from this byte on.
    Tail(usize),
    /// Decoding changed it: `/containers/a%62c/json` was judged as `/containers/abc/json`.
    Decoded(Box<str>),
    /// The target could not be read as a path; only its form was judged.
    Unparsed,
}

impl Judged {
    /// How `canonical`, the judged form of `raw`, is kept.
    pub fn of(raw: &str, canonical: &str) -> Judged {
        match raw.strip_suffix(canonical) {
            Some(prefix) => Judged::Tail(prefix.len()),
            None => Judged::Decoded(canonical.into()),
        }
    }
}

impl Record {
    /// The canonical path: decoded, without its version prefix, as the policy judged it.
    pub fn judged_path(&self) -> Option<&str> {
        match &self.judged {
            Judged::Tail(at) => self.path.get(*at..),
            Judged::Decoded(path) => Some(path),
            Judged::Unparsed => None,
        }
    }

    /// Microseconds since the request's head arrived.
    pub fn micros(&self) -> u64 {
        self.start
            .elapsed()
            .as_micros()
            .try_into()
            .unwrap_or(u64::MAX)
    }

    /// Logs a refusal `MODE=warn|learn` lets through, at warn with what would allow it
    /// (`decision=warn`), and tells telemetry; the request's own line follows when it ends.
    pub fn waived(&self, refusal: &Refusal) {
        if crate::log_format::json() {
            crate::audit::waived(self, refusal);
            self.telemetry.waived(self, refusal);
            return;
        }
        let (peer, method, path) = (&self.who.identity.peer, &self.method, &*self.path);
        let (container, profile) = (
            self.who.container().map(tracing::field::display),
            self.who.profile().map(tracing::field::display),
        );
        let (status, needs, text) = (refusal.status.as_u16(), &refusal.needs, refusal.text());
        tracing::warn!(
            target: "access", client = %peer, container, profile, %method, %path, decision = %"warn", status, %needs, reason = ?text
        );
        self.telemetry.waived(self, refusal);
    }

    /// Writes the request's one log line, in the log's format, and tells telemetry.
    pub fn end(&self, end: End<'_>) {
        if crate::log_format::json() {
            crate::audit::log(self, &end);
        } else {
            self.log_text(&end);
        }
        self.telemetry.observe(self, &end);
    }

    /// The text line. Refusals carry the message in a quoted `reason=` field and `needs=` as
    /// `crate::needs` writes it.
    fn log_text(&self, end: &End<'_>) {
        let (peer, method, path, us) = (
            &self.who.identity.peer,
            &self.method,
            &*self.path,
            self.micros(),
        );
        let (container, profile) = (
            self.who.container().map(tracing::field::display),
            self.who.profile().map(tracing::field::display),
        );
        match *end {
            End::Refused(refusal) | End::EngineError(refusal) => {
                let status = refusal.status.as_u16();
                let text = refusal.text();
                let needs = &refusal.needs;
                match end {
                    End::EngineError(_) => tracing::error!(
                        target: "access", client = %peer, container, profile, %method, %path, decision = %"error", status, us, reason = ?text
                    ),
                    _ if needs.is_empty() => tracing::warn!(
                        target: "access", client = %peer, container, profile, %method, %path, decision = %"deny", status, us, reason = ?text
                    ),
                    _ => tracing::warn!(
                        target: "access", client = %peer, container, profile, %method, %path, decision = %"deny", status, %needs, us, reason = ?text
                    ),
                }
            }
            End::Answered {
                status,
                bytes,
                complete,
                ..
            } => tracing::info!(
                target: "access", client = %peer, container, profile, %method, %path, decision = %"allow", status, bytes, us, complete
            ),
            End::Tunnel {
                from_client,
                from_engine,
                error: None,
            } => tracing::info!(
                target: "access", client = %peer, container, profile, %method, %path, decision = %"allow", status = 101,
                bytes_in = from_client, bytes = from_engine, us
            ),
            End::Tunnel {
                from_client,
                from_engine,
                error: Some(error),
            } => tracing::info!(
                target: "access", client = %peer, container, profile, %method, %path, decision = %"allow", status = 101,
                bytes_in = from_client, bytes = from_engine, us, %error
            ),
        }
    }
}

/// A response body that counts what it passes and logs the record when dropped.
pub struct LoggedBody<B> {
    inner: B,
    record: Record,
    status: u16,
    bytes: u64,
    complete: bool,
    stream: bool,
}

impl<B> LoggedBody<B> {
    pub fn new(inner: B, record: Record, status: u16) -> LoggedBody<B>
    where
        B: Body,
    {
        // An empty body may never be polled; it is complete from the start.
        let complete = inner.is_end_stream();
        record.telemetry.stream_opened();
        let stream = inner.size_hint().exact().is_none();
        LoggedBody {
            inner,
            record,
            status,
            bytes: 0,
            complete,
            stream,
        }
    }
}

impl<B> Drop for LoggedBody<B> {
    fn drop(&mut self) {
        self.record.end(End::Answered {
            status: self.status,
            bytes: self.bytes,
            complete: self.complete,
            stream: self.stream,
        });
    }
}

impl<B> Body for LoggedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                // hyper stops polling a body whose length it knows once the last byte is out.
                this.complete = this.inner.is_end_stream();
            }
            Poll::Ready(None) => this.complete = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
