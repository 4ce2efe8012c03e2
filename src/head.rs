//! Request heads checked byte by byte before hyper parses them: hyper accepts a bare LF as a line
//! end, so a head with a bare CR or LF is refused here, with a 400, before it is read at all.
//!
//! One thing is mended rather than refused: bytes in a request target that the engine (Go's
//! server) takes as they are but hyper's URI parser rejects, such as the raw JSON filters curl
//! scripts send (`?filters={"health":["unhealthy"]}`, Autoheal's). They are percent-encoded
//! here, which the engine decodes to the same bytes, so the client gets the engine's answer
//! instead of a bare 400 from the parser.
//!
//! The scanner follows the connection's framing as hyper does (head, then a Content-Length or
//! chunked body, then the next head) so that bodies, which may hold any byte, are never judged.
//! Where it cannot follow (an upgrade, framing it does not understand) it stops judging and leaves
//! the bytes to hyper, which refuses malformed framing itself.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::refusal::Refusal;

/// Why a request head was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    BareLf,
    BareCr,
    /// A header line continued on the next (obsolete line folding).
    Folded,
    /// More than one Content-Length, equal or not.
    RepeatedLength,
    /// Both Content-Length and Transfer-Encoding: two parsers may frame it two ways.
    LengthAndEncoding,
}

/// Where the scanner is in the connection's byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Reading a request head, kept (bounded) in the scanner's `head` to learn the body's framing.
    Head {
        after_cr: bool,
    },
    /// Skipping a body of known length.
    Body(u64),
    /// A chunk-size line (`line`), then `Chunk(n)`, its CRLF, and so on until the last chunk.
    ChunkSize {
        line: Vec<u8>,
    },
    Chunk(u64),
    ChunkEnd(u8),
    /// Trailer lines after the last chunk, until an empty line.
    Trailers {
        line_len: usize,
        after_cr: bool,
    },
    /// Upgraded, or framing we do not follow: nothing more is judged.
    Passthrough,
}

/// The longest head kept for framing; hyper refuses longer ones with 431 anyway.
const MAX_HEAD: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct HeadScanner {
    state: State,
    /// The head being read; its allocation is reused for every request on the connection.
    head: Vec<u8>,
}

impl Default for HeadScanner {
    fn default() -> HeadScanner {
        HeadScanner {
            state: NEXT_HEAD,
            head: Vec::new(),
        }
    }
}

const NEXT_HEAD: State = State::Head { after_cr: false };

/// Bytes of a request target that Go's server takes as they are and hyper's URI parser refuses
/// (in the path, the query, or both).
fn needs_encoding(b: u8) -> bool {
    matches!(
        b,
        b'"' | b'<' | b'>' | b'`' | b'\\' | b'^' | b'{' | b'|' | b'}'
    )
}

impl HeadScanner {
    /// Feeds the next bytes of the connection, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), HeadError> {
        self.feed_mending(bytes, &mut Vec::new()).map(|_| ())
    }

    /// [`HeadScanner::feed`], percent-encoding what hyper's URI parser would refuse in request
    /// targets: when something was encoded, returns true with the bytes to use instead in `out`.
    pub fn feed_mending(&mut self, whole: &[u8], out: &mut Vec<u8>) -> Result<bool, HeadError> {
        let (mut bytes, mut offset, mut mending) = (whole, 0, false);
        while !bytes.is_empty() {
            let request_line =
                matches!(self.state, State::Head { .. }) && !self.head.contains(&b'\n');
            let mut spaces = if request_line {
                self.head.iter().filter(|b| **b == b' ').count()
            } else {
                0
            };
            let used = self.step(bytes)?;
            let taken = &bytes[..used];
            if request_line {
                for (i, &b) in taken.iter().enumerate() {
                    spaces += usize::from(b == b' ');
                    // The target is what lies between the request line's first two spaces.
                    let encode = spaces == 1 && needs_encoding(b);
                    if encode && !mending {
                        mending = true;
                        out.extend_from_slice(&whole[..offset + i]);
                    }
                    if encode {
                        out.extend_from_slice(format!("%{b:02X}").as_bytes());
                    } else if mending {
                        out.push(b);
                    }
                }
            } else if mending {
                out.extend_from_slice(taken);
            }
            offset += used;
            bytes = &bytes[used..];
        }
        Ok(mending)
    }

    /// Consumes some of `bytes` in the current state; returns how many.
    fn step(&mut self, bytes: &[u8]) -> Result<usize, HeadError> {
        match &mut self.state {
            State::Passthrough => Ok(bytes.len()),
            State::Body(left) => {
                let n = (*left).min(bytes.len() as u64);
                *left -= n;
                if *left == 0 {
                    self.state = NEXT_HEAD;
                }
                Ok(n as usize)
            }
            State::Chunk(left) => {
                let n = (*left).min(bytes.len() as u64);
                *left -= n;
                if *left == 0 {
                    self.state = State::ChunkEnd(0);
                }
                Ok(n as usize)
            }
            State::ChunkEnd(seen) => {
                let expected = if *seen == 0 { b'\r' } else { b'\n' };
                if bytes[0] != expected {
                    self.state = State::Passthrough;
                } else if *seen == 0 {
                    *seen = 1;
                } else {
                    self.state = State::ChunkSize { line: vec![] };
                }
                Ok(1)
            }
            State::ChunkSize { line } => {
                let b = bytes[0];
                if b == b'\n' {
                    let size = line.strip_suffix(b"\r").and_then(chunk_size);
                    self.state = match size {
                        Some(0) => State::Trailers {
                            line_len: 0,
                            after_cr: false,
                        },
                        Some(n) => State::Chunk(n),
                        None => State::Passthrough,
                    };
                } else if line.len() > 1024 {
                    self.state = State::Passthrough;
                } else {
                    line.push(b);
                }
                Ok(1)
            }
            State::Trailers { line_len, after_cr } => {
                let b = bytes[0];
                match (b, *after_cr) {
                    (b'\n', true) if *line_len == 0 => self.state = NEXT_HEAD,
                    (b'\n', true) => (*line_len, *after_cr) = (0, false),
                    (b'\n', false) => return Err(HeadError::BareLf),
                    (_, true) => return Err(HeadError::BareCr),
                    (b'\r', false) => *after_cr = true,
                    _ => *line_len += 1,
                }
                Ok(1)
            }
            State::Head { after_cr } => {
                // The bytes up to the next line end are taken in one go.
                let run = bytes
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .unwrap_or(bytes.len());
                let b = bytes[0];
                let used = match (b, *after_cr) {
                    (b'\n', false) => return Err(HeadError::BareLf),
                    (b'\r', true) => return Err(HeadError::BareCr),
                    (b'\n', true) => {
                        *after_cr = false;
                        1
                    }
                    (b'\r', false) => {
                        *after_cr = true;
                        1
                    }
                    (_, true) => return Err(HeadError::BareCr),
                    _ => run,
                };
                let room = MAX_HEAD.saturating_sub(self.head.len());
                self.head.extend_from_slice(&bytes[..used.min(room)]);
                if b == b'\n' {
                    // Empty lines before the request line are allowed (RFC 9112 2.2).
                    if self.head == b"\r\n" {
                        self.head.clear();
                    } else if self.head.ends_with(b"\r\n\r\n") {
                        self.state = after_head(&self.head)?;
                        self.head.clear();
                    }
                }
                Ok(used)
            }
        }
    }
}

/// What follows a complete head: its body's framing, or passthrough for upgrades and anything
/// this scanner does not follow (hyper decides about those).
fn after_head(head: &[u8]) -> Result<State, HeadError> {
    let Ok(text) = std::str::from_utf8(head) else {
        return Ok(State::Passthrough);
    };
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    if request_line.starts_with("CONNECT ") {
        return Ok(State::Passthrough);
    }
    let mut length = None;
    let mut next = None;
    // Spelled exactly, with no space before the colon: what a second parser would read as
    // chunked framing beside a length.
    let names_encoding = |line: &str| {
        const ENCODING: &[u8] = b"transfer-encoding:";
        line.as_bytes()
            .get(..ENCODING.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(ENCODING))
    };
    let mut encoded = names_encoding(request_line);
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(HeadError::Folded);
        }
        encoded |= names_encoding(line);
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("upgrade") {
            next = next.or(Some(State::Passthrough));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if value.eq_ignore_ascii_case("chunked") {
                next = next.or(Some(State::ChunkSize { line: vec![] }));
            } else {
                next = Some(State::Passthrough);
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            match (length, value.parse::<u64>()) {
                (None, Ok(n)) => length = Some(n),
                // Equal or not: the same rule as `proxy::check_framing`, one Content-Length.
                (Some(_), _) => return Err(HeadError::RepeatedLength),
                (None, Err(_)) => next = Some(State::Passthrough),
            }
        }
    }
    if encoded && length.is_some() {
        return Err(HeadError::LengthAndEncoding);
    }
    Ok(next.unwrap_or(match length {
        Some(n) if n > 0 => State::Body(n),
        _ => NEXT_HEAD,
    }))
}

fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|b| *b == b';').next()?;
    let text = std::str::from_utf8(digits).ok()?.trim();
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// A client connection whose request heads are checked before hyper reads them. A refused head
/// gets a 400 in Docker's error shape, written here, and the connection ends.
pub struct Guarded<IO> {
    io: IO,
    scanner: HeadScanner,
    /// The refusal still to be written, then end of stream.
    refusal: Option<(Vec<u8>, usize)>,
    /// Mended bytes (scanned already) that did not fit the last read's buffer.
    spill: Vec<u8>,
}

impl<IO> Guarded<IO> {
    pub fn new(io: IO) -> Guarded<IO> {
        Guarded {
            io,
            scanner: HeadScanner::default(),
            refusal: None,
            spill: Vec::new(),
        }
    }
}

impl HeadError {
    /// The 400 the client gets.
    pub fn refusal(self) -> Refusal {
        let what = match self {
            HeadError::BareLf => "its head has a line ending in a bare LF",
            HeadError::BareCr => "its head has a bare CR",
            HeadError::Folded => "its head folds a header over two lines (obsolete line folding)",
            HeadError::RepeatedLength => "it has more than one Content-Length",
            HeadError::LengthAndEncoding => "it has both Content-Length and Transfer-Encoding",
        };
        Refusal::bad_request(format!("the request is refused: {what}"))
    }
}

fn refusal_response(error: HeadError) -> Vec<u8> {
    error.refusal().http1_bytes()
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some((response, written)) = &mut this.refusal {
            while *written < response.len() {
                *written += ready!(Pin::new(&mut this.io).poll_write(cx, &response[*written..]))?;
            }
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            // End of stream: hyper stops reading and closes, having forwarded nothing of it.
            return Poll::Ready(Ok(()));
        }
        if !this.spill.is_empty() {
            let n = this.spill.len().min(buf.remaining());
            buf.put_slice(&this.spill[..n]);
            this.spill.drain(..n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let mut mended = Vec::new();
        match this
            .scanner
            .feed_mending(&buf.filled()[before..], &mut mended)
        {
            Ok(false) => {}
            Ok(true) => {
                buf.set_filled(before);
                let n = mended.len().min(buf.remaining());
                buf.put_slice(&mended[..n]);
                this.spill.extend_from_slice(&mended[n..]);
            }
            Err(error) => {
                tracing::warn!("refused a request head with {error:?}");
                buf.set_filled(before);
                this.refusal = Some((refusal_response(error), 0));
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(bytes: &[u8]) -> Result<(), HeadError> {
        HeadScanner::default().feed(bytes)
    }

    #[test]
    fn well_formed_heads_pass() {
        assert_eq!(scan(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(()));
        assert_eq!(
            scan(b"\r\nGET /_ping HTTP/1.1\r\nHost: x\r\n\r\nGET /info HTTP/1.1\r\n\r\n"),
            Ok(())
        );
    }

    #[test]
    fn bare_lf_and_bare_cr_in_a_head_are_refused() {
        assert_eq!(
            scan(b"GET /_ping HTTP/1.1\nHost: x\n\n"),
            Err(HeadError::BareLf)
        );
        assert_eq!(
            scan(b"GET /_ping HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"),
            Err(HeadError::BareCr)
        );
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nA: b\n\r\n"),
            Err(HeadError::BareLf)
        );
    }

    #[test]
    fn bodies_may_hold_any_byte() {
        let mut request =
            b"POST /containers/create HTTP/1.1\r\nContent-Length: 9\r\n\r\n{\"a\":\n\r1}".to_vec();
        request.extend(b"GET /_ping HTTP/1.1\r\n\r\n");
        assert_eq!(scan(&request), Ok(()));
        let chunked = b"POST /build HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n\n\r\r\n\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\nX: y\r\n\r\n";
        assert_eq!(
            scan(chunked),
            Err(HeadError::BareLf),
            "the head after the chunked body is judged"
        );
    }

    #[test]
    fn bytes_split_anywhere_give_the_same_verdict() {
        let stream = b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na\nb\r\n0\r\n\r\nGET / HTTP/1.1\r\nA: b\n\r\n";
        for split in 0..stream.len() {
            let mut s = HeadScanner::default();
            let verdict = s
                .feed(&stream[..split])
                .and_then(|()| s.feed(&stream[split..]));
            assert_eq!(verdict, Err(HeadError::BareLf), "split at {split}");
        }
    }

    #[test]
    fn folding_and_conflicting_lengths_are_refused() {
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"),
            Err(HeadError::Folded)
        );
        assert_eq!(
            scan(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"),
            Err(HeadError::RepeatedLength)
        );
        assert_eq!(
            scan(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"),
            Err(HeadError::RepeatedLength)
        );
    }

    #[test]
    fn raw_json_in_a_target_is_percent_encoded_and_nothing_else_changes() {
        let stream = b"GET /containers/json?filters={\"health\":[\"unhealthy\"]} HTTP/1.1\r\nX: {\"a\"}\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /_ping HTTP/1.1\r\n\r\n";
        let expected = b"GET /containers/json?filters=%7B%22health%22:[%22unhealthy%22]%7D HTTP/1.1\r\nX: {\"a\"}\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /_ping HTTP/1.1\r\n\r\n";
        for split in 0..stream.len() {
            let mut scanner = HeadScanner::default();
            let mut out = vec![];
            for part in [&stream[..split], &stream[split..]] {
                let mut mended = vec![];
                if scanner.feed_mending(part, &mut mended).unwrap() {
                    out.extend(mended);
                } else {
                    out.extend_from_slice(part);
                }
            }
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(expected),
                "split at {split}"
            );
        }
        let mut untouched = vec![];
        assert!(!HeadScanner::default()
            .feed_mending(
                b"GET /containers/json?all=1 HTTP/1.1\r\n\r\n",
                &mut untouched
            )
            .unwrap());
        assert!(untouched.is_empty());
    }

    #[test]
    fn upgraded_connections_are_not_judged() {
        let upgrade = b"POST /exec/e/start HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\nraw\nstdin\r";
        assert_eq!(scan(upgrade), Ok(()));
    }
}
