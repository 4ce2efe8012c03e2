//! `dockgate healthcheck`: for `HEALTHCHECK` in an image with no shell or curl.
//!
//! Healthy means the proxy answers and the engine behind it answers `/_ping`. Blocking std I/O
//! with short timeouts: no runtime for a process that lives a few milliseconds.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::config::{Config, ListenAddr};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Checks the first listener of `config`; Ok with a one-line summary, or Err with the reason.
pub fn check(config: &Config) -> Result<String, String> {
    let listen = config
        .listen
        .first()
        .ok_or("no listen address configured")?;
    let status = match listen {
        ListenAddr::Tcp { addr, .. } => {
            let addr = reachable(*addr);
            let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
                .map_err(|e| format!("proxy at {addr}: {e}"))?;
            ping(stream).map_err(|e| format!("proxy at {addr}: {e}"))?
        }
        ListenAddr::Unix(path) => {
            let stream = UnixStream::connect(path)
                .map_err(|e| format!("proxy at {}: {e}", path.display()))?;
            ping(stream).map_err(|e| format!("proxy at {}: {e}", path.display()))?
        }
    };
    match status {
        200 => Ok(format!("proxy at {listen} and engine answer /_ping")),
        // PING=0: the proxy is up but will not forward the ping, so ask the engine directly.
        403 => ping_engine(&config.socket_path)
            .map(|()| format!("proxy at {listen} answers; engine answers /_ping")),
        status => Err(format!(
            "proxy at {listen} answered /_ping with {status}: the engine is not reachable"
        )),
    }
}

fn ping_engine(socket: &Path) -> Result<(), String> {
    let stream =
        UnixStream::connect(socket).map_err(|e| format!("engine at {}: {e}", socket.display()))?;
    match ping(stream) {
        Ok(200) => Ok(()),
        Ok(status) => Err(format!(
            "engine at {} answered /_ping with {status}",
            socket.display()
        )),
        Err(e) => Err(format!("engine at {}: {e}", socket.display())),
    }
}

/// An all-interfaces listener is reached over 127.0.0.1: a dual-stack `[::]` accepts IPv4 too,
/// and containers often have no `::1` at all.
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

trait Stream: Read + Write {
    fn set_timeouts(&self) -> std::io::Result<()>;
}

impl Stream for TcpStream {
    fn set_timeouts(&self) -> std::io::Result<()> {
        self.set_read_timeout(Some(TIMEOUT))?;
        self.set_write_timeout(Some(TIMEOUT))
    }
}

impl Stream for UnixStream {
    fn set_timeouts(&self) -> std::io::Result<()> {
        self.set_read_timeout(Some(TIMEOUT))?;
        self.set_write_timeout(Some(TIMEOUT))
    }
}

/// Sends `GET /_ping` and returns the status code.
fn ping(mut stream: impl Stream) -> Result<u16, String> {
    stream.set_timeouts().map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: dockgate\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        match stream.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    parse_status(&head[..len]).ok_or_else(|| "no HTTP answer".to_string())
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_is_parsed() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 403 Forbidden"), Some(403));
        assert_eq!(parse_status(b"SSH-2.0-x"), None);
        assert_eq!(parse_status(b"HTTP/1.1"), None);
    }

    #[test]
    fn all_interfaces_are_reached_over_loopback() {
        assert_eq!(
            reachable("0.0.0.0:2375".parse().unwrap()),
            "127.0.0.1:2375".parse().unwrap()
        );
        assert_eq!(
            reachable("[::]:2375".parse().unwrap()),
            "127.0.0.1:2375".parse().unwrap()
        );
        assert_eq!(
            reachable("10.1.2.3:2375".parse().unwrap()),
            "10.1.2.3:2375".parse().unwrap()
        );
    }
}
