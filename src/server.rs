//! Listeners and connections: bind, accept, serve HTTP/1 with upgrades, and shut down gracefully.
//!
//! Binding is separate from serving so the caller can bind while privileged and serve after
//! dropping privileges, and so tests can bind port 0.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::Peer;
use crate::admin;
use crate::config::{Config, ListenAddr, UnixSocketAccess};
use crate::head::Guarded;
use crate::proxy::Proxy;
use crate::reload;
use crate::session::Sessions;
use crate::telemetry::Telemetry;
use crate::upstream::Upstream;

/// A bound listening socket, not yet serving.
#[derive(Debug)]
pub enum Listener {
    Tcp(std::net::TcpListener),
    Unix {
        listener: std::os::unix::net::UnixListener,
        path: PathBuf,
    },
}

impl Listener {
    /// Binds one address. An all-interfaces IPv6 address falls back to IPv4 where the host has no
    /// IPv6, with a warning, rather than failing to start. A unix socket gets `access`.
    pub fn bind(addr: &ListenAddr, access: &UnixSocketAccess) -> io::Result<Listener> {
        match addr {
            ListenAddr::Tcp { addr, dual_stack } => match bind_tcp(*addr, *dual_stack) {
                Err(e) if *dual_stack => {
                    let v4 = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port());
                    tracing::warn!("cannot listen on {addr} ({e}); listening on {v4} (IPv4 only)");
                    bind_tcp(v4, false).map(Listener::Tcp)
                }
                bound => bound.map(Listener::Tcp),
            },
            ListenAddr::Unix(path) => bind_unix(path, access),
        }
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
    }

    /// The address as it is bound, with the port the kernel chose for port 0.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(addr) => format!("tcp://{addr}"),
                Err(_) => "tcp://?".into(),
            },
            Listener::Unix { path, .. } => format!("unix://{}", path.display()),
        }
    }
}

fn bind_tcp(addr: SocketAddr, dual_stack: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(!dual_stack)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Binds a unix socket, replacing a stale socket file left by a crash, but never deleting a path
/// that is not a socket or one that something still listens on.
fn bind_unix(path: &Path, access: &UnixSocketAccess) -> io::Result<Listener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket; it is left alone",
            ));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process is listening there",
                ))
            }
            Err(_) => std::fs::remove_file(path)?,
        }
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    // Until these two calls the umask decides; with the usual 022 only the owner can connect.
    std::os::unix::fs::chown(path, access.owner, access.group)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.mode))?;
    Ok(Listener::Unix {
        listener,
        path: path.to_path_buf(),
    })
}

/// Serves the listeners (bound from `config.listen`, in its order: a rule names a listener as
/// LISTEN does) until `shutdown` completes, then stops accepting, lets open requests finish for
/// the configured grace period, ends what is left, and returns. Meanwhile the config file, if
/// any, is reloaded on SIGHUP and when it changes. Finished requests are told to `telemetry`.
pub async fn serve(
    listeners: Vec<Listener>,
    config: &Config,
    telemetry: Arc<Telemetry>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let tasks = TaskTracker::new();
    let stop = CancellationToken::new();
    let kill = CancellationToken::new();
    let upstream = Upstream::new(&config.socket_path);
    let sessions = Arc::new(Sessions::new(
        config.clients.clone(),
        upstream.clone(),
        stop.clone(),
    ));
    sessions.start();
    reload::watch(config, sessions.clone(), telemetry.clone(), stop.clone())?;
    if let Some(addr) = &config.admin_listen {
        admin::start(
            addr,
            config,
            &upstream,
            telemetry.clone(),
            &tasks,
            (&stop, &kill),
        )?;
    }
    let proxy = Arc::new(Proxy::new(
        sessions,
        telemetry.clone(),
        config.mode,
        config.max_body,
        upstream,
        tasks.clone(),
        kill.clone(),
    ));
    let conns = Connections {
        slots: Arc::new(Semaphore::new(config.max_connections)),
        head_timeout: (!config.head_timeout.is_zero()).then_some(config.head_timeout),
        proxy,
        telemetry,
        tasks: tasks.clone(),
        stop: stop.clone(),
        kill: kill.clone(),
    };

    let mut socket_files = vec![];
    for (i, listener) in listeners.into_iter().enumerate() {
        let described = listener.describe();
        let name: Arc<str> = match config.listen.get(i) {
            Some(addr) => addr.to_string().into(),
            None => described.clone().into(),
        };
        match listener {
            Listener::Tcp(std) => {
                std.set_nonblocking(true)?;
                let listener = TcpListener::from_std(std)?;
                tasks.spawn(conns.clone().accept_loop(listener, name));
            }
            Listener::Unix {
                listener: std,
                path,
            } => {
                std.set_nonblocking(true)?;
                let listener = UnixListener::from_std(std)?;
                tasks.spawn(conns.clone().accept_loop(listener, name));
                socket_files.push(path);
            }
        }
        tracing::info!(
            "listening on {described}, forwarding to {}",
            config.socket_path.display()
        );
    }

    shutdown.await;
    tracing::info!(
        "shutting down: no new connections; open requests have {:?} to finish",
        config.shutdown_grace
    );
    stop.cancel();
    tasks.close();
    if tokio::time::timeout(config.shutdown_grace, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "grace period over: closing {} open connections and streams",
            tasks.len()
        );
        kill.cancel();
        tasks.wait().await;
    }
    for path in socket_files {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("stopped");
    Ok(())
}

/// A listener the accept loop can take connections from.
pub(crate) trait Accept: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept_peer(&self) -> impl Future<Output = io::Result<(Self::Io, Peer)>> + Send;
}

impl Accept for TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept_peer(&self) -> io::Result<(Self::Io, Peer)> {
        let (stream, addr) = self.accept().await?;
        // Interactive exec and small API calls should not wait on Nagle.
        stream.set_nodelay(true)?;
        Ok((stream, Peer::Tcp(addr)))
    }
}

impl Accept for UnixListener {
    type Io = tokio::net::UnixStream;
    async fn accept_peer(&self) -> io::Result<(Self::Io, Peer)> {
        let (stream, _) = self.accept().await?;
        let cred = stream.peer_cred().ok();
        let peer = Peer::Unix {
            pid: cred.and_then(|c| c.pid()),
            uid: cred.map(|c| c.uid()),
            gid: cred.map(|c| c.gid()),
        };
        Ok((stream, peer))
    }
}

/// What every connection task shares.
#[derive(Clone)]
struct Connections {
    /// One permit per client connection being served (MAX_CONNECTIONS).
    slots: Arc<Semaphore>,
    /// How long a client may take to send a request head (HEAD_TIMEOUT). hyper runs this timer
    /// only while it waits for a head, which includes an idle keep-alive connection between
    /// requests; nothing times out once a request is under way, and an upgraded connection has
    /// left hyper altogether.
    head_timeout: Option<Duration>,
    proxy: Arc<Proxy>,
    telemetry: Arc<Telemetry>,
    tasks: TaskTracker,
    /// Stop accepting; finish the requests under way.
    stop: CancellationToken,
    /// The grace period is over: end everything.
    kill: CancellationToken,
}

impl Connections {
    async fn accept_loop(self, listener: impl Accept, name: Arc<str>) {
        loop {
            let accepted = tokio::select! {
                _ = self.stop.cancelled() => return,
                accepted = listener.accept_peer() => accepted,
            };
            match accepted {
                Ok((io, peer)) => {
                    // A slot is taken once a client is there, so an idle listener holds none. At
                    // the limit this one waits for a slot, and the next ones wait in the
                    // kernel's backlog instead of being dropped.
                    let slot = tokio::select! {
                        _ = self.stop.cancelled() => return,
                        slot = self.slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    };
                    let conn = self.clone().serve_connection(io, peer, name.clone());
                    self.tasks.spawn(async move {
                        conn.await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn serve_connection(
        self,
        io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
        peer: Peer,
        listener: Arc<str>,
    ) {
        let _open = self.telemetry.connection_opened();
        let proxy = self.proxy.clone();
        let link = proxy.link();
        let session = Arc::new(proxy.open(listener, peer).await);
        // Boxed: hyper keeps room for the service's future in every connection, and this one is
        // about 3 KiB; an event stream held open for hours should not carry it once answered.
        let service = service_fn(move |req| {
            Box::pin(proxy.clone().handle(session.clone(), link.clone(), req))
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.head_timeout)
            .serve_connection(TokioIo::new(Guarded::new(io)), service)
            .with_upgrades();
        tokio::pin!(conn);
        let ended = tokio::select! {
            ended = conn.as_mut() => ended,
            _ = self.stop.cancelled() => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    ended = conn.as_mut() => ended,
                    _ = self.kill.cancelled() => Ok(()),
                }
            }
        };
        if let Err(e) = ended {
            if e.is_parse_version_h2() {
                tracing::warn!(client = %peer, "refused HTTP/2 prior knowledge: dockgate speaks HTTP/1.1");
            } else {
                tracing::debug!(client = %peer, "connection ended: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> UnixSocketAccess {
        UnixSocketAccess {
            owner: None,
            group: None,
            mode: 0o600,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dockgate-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("docker.sock")
    }

    #[test]
    fn stale_socket_left_by_a_crash_is_replaced() {
        let path = scratch("stale");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let listener = Listener::bind(&ListenAddr::Unix(path.clone()), &access()).unwrap();
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        drop(listener);
    }

    #[test]
    fn a_path_that_is_not_a_socket_is_never_deleted() {
        let path = scratch("file");
        std::fs::write(&path, "precious").unwrap();
        let error = Listener::bind(&ListenAddr::Unix(path.clone()), &access()).unwrap_err();
        assert!(error.to_string().contains("is not a socket"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }

    #[test]
    fn a_socket_something_listens_on_is_left_alone() {
        let path = scratch("live");
        let _live = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let error = Listener::bind(&ListenAddr::Unix(path.clone()), &access()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("another process is listening there"),
            "{error}"
        );
    }

    #[test]
    fn unix_socket_gets_the_configured_mode() {
        use std::os::unix::fs::PermissionsExt;
        let path = scratch("mode");
        let _listener = Listener::bind(&ListenAddr::Unix(path.clone()), &access()).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
