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

/// Why one `/_ping` got no status.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("no HTTP answer")]
    NoAnswer,
}

/// Why the proxy is unhealthy; the line `dockgate healthcheck` prints.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("no listen address configured")]
    NoListener,
    /// `at`: the address dialled.
    #[error("proxy at {at}: {error}")]
    Proxy { at: String, error: PingError },
    #[error("proxy at {listen} answered /_ping with {status}: the engine is not reachable")]
    ProxyStatus { listen: ListenAddr, status: u16 },
    #[error("engine at {at}: {error}")]
    Engine { at: String, error: PingError },
    #[error("engine at {at} answered /_ping with {status}")]
    EngineStatus { at: String, status: u16 },
}

/// Checks the first listener of `config`; Ok with a one-line summary, or Err with the reason.
pub fn check(config: &Config) -> Result<String, HealthError> {
    let listen = config.listen.first().ok_or(HealthError::NoListener)?;
    let status = match listen {
        ListenAddr::Tcp { addr, .. } => {
            let addr = reachable(*addr);
            let proxy = |error| HealthError::Proxy {
                at: addr.to_string(),
                error,
            };
            let stream =
                TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| proxy(PingError::Io(e)))?;
            ping(stream).map_err(proxy)?
        }
        ListenAddr::Unix(path) => {
            let proxy = |error| HealthError::Proxy {
                at: path.display().to_string(),
                error,
            };
            let stream = UnixStream::connect(path).map_err(|e| proxy(PingError::Io(e)))?;
            ping(stream).map_err(proxy)?
        }
    };
    match status {
        200 => Ok(format!("proxy at {listen} and engine answer /_ping")),
        // PING=0: the proxy is up but will not forward the ping, so ask the engine directly.
        403 => ping_engine(&config.socket_path)
            .map(|()| format!("proxy at {listen} answers; engine answers /_ping")),
        status => Err(HealthError::ProxyStatus {
            listen: listen.clone(),
            status,
        }),
    }
}

fn ping_engine(socket: &Path) -> Result<(), HealthError> {
    let at = socket.display().to_string();
    let stream = UnixStream::connect(socket).map_err(|e| HealthError::Engine {
        at: at.clone(),
        error: PingError::Io(e),
    })?;
    match ping(stream) {
        Ok(200) => Ok(()),
        Ok(status) => Err(HealthError::EngineStatus { at, status }),
        Err(error) => Err(HealthError::Engine { at, error }),
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
fn ping(mut stream: impl Stream) -> Result<u16, PingError> {
    stream.set_timeouts()?;
    stream.write_all(b"GET /_ping HTTP/1.1\r\nHost: dockgate\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        match stream.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) => return Err(e.into()),
        }
    }
    parse_status(&head[..len]).ok_or(PingError::NoAnswer)
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

    #[test]
    fn a_closed_port_is_unhealthy_naming_the_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let env = [("LISTEN".to_string(), format!("tcp://127.0.0.1:{port}"))].into();
        let config = Config::from_env(&env, &Default::default()).unwrap();
        let error = check(&config).unwrap_err();
        assert!(matches!(error, HealthError::Proxy { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("proxy at 127.0.0.1:{port}: ")),
            "{error}"
        );
    }

    #[test]
    fn a_bad_status_names_the_listener() {
        let error = HealthError::ProxyStatus {
            listen: ListenAddr::Unix("/run/dockgate.sock".into()),
            status: 503,
        };
        assert_eq!(
            error.to_string(),
            "proxy at unix:///run/dockgate.sock answered /_ping with 503: the engine is not \
             reachable"
        );
    }
}
