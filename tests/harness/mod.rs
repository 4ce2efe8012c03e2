//! Shared test harness: the one way tests start dockgate ([`Proxy`]), the fake engine, and what the
//! real-engine tests need (the engine, the test image, the docker CLI).
//!
//! # Starting a proxy
//!
//! Every test that needs a running dockgate gets it from [`Proxy::start`] (or, for timeout tests,
//! [`Proxy::start_paused`], the same start with the clock paused). It does what `main` does
//! between parsing and serving: reads its variables with `Config::from_env`, binds each LISTEN
//! address with `Listener::bind` and the SOCKET_OWNER/GROUP/MODE access, and runs
//! `server::serve` on a **current-thread** tokio runtime built as `main` builds it, in a thread
//! of its own, so the proxy under test runs on the runtime production runs on, with the test's
//! client and fake engine outside it as they would be.
//!
//! It runs in the test process rather than as the built binary because:
//! - timeout tests need the proxy's clock paused, with the fake engine and the client on the same
//!   runtime ([`Proxy::run`]), to see minutes pass in no time; a process's clock cannot be paused;
//! - each start costs a thread, not a process and a log line to parse for the port, and a failed
//!   test cannot leave a proxy process behind;
//! - a panic in dockgate fails the test that caused it, with its backtrace.
//!
//! What it leaves out of `main` is what only the binary does: privilege dropping, the open-file
//! limit, stderr and signals (shutdown is [`Proxy::stop`]). Its log, in the LOG_FORMAT and
//! LOG_LEVEL it was given, is kept in memory ([`Proxy::log`]). `tests/cli.rs` runs the built binary
//! for exactly those, which are its subject, and `tests/e2e_image.rs` runs the image.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod docker;
pub mod fake_engine;

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use dockgate::config::{Config, ListenAddr, Overrides};
use dockgate::learn::Learned;
use dockgate::server::{serve, Listener};
use dockgate::telemetry::Telemetry;
use tokio::sync::oneshot;

/// A dockgate serving from a thread of its own until [`Proxy::stop`] or drop.
///
/// It listens on an ephemeral loopback port ([`Proxy::addr`]) and on every unix socket LISTEN
/// names ([`Proxy::socket`]); TCP addresses in LISTEN are replaced by the ephemeral port, so
/// parallel tests never meet. With a unix LISTEN that makes two listeners; an idle one holds no
/// MAX_CONNECTIONS slot (`an_idle_listener_holds_no_connection_slot` in fake_engine.rs).
pub struct Proxy {
    pub addr: SocketAddr,
    sockets: Vec<PathBuf>,
    log: Log,
    runtime: tokio::runtime::Handle,
    shutdown: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<io::Result<()>>>,
    thread: Option<JoinHandle<()>>,
    telemetry: Arc<Telemetry>,
}

impl Proxy {
    /// Starts a proxy configured by `env` exactly as the binary would read it.
    pub fn start(env: &[(&str, &str)]) -> Proxy {
        Proxy::start_on(env, false)
    }

    /// [`Proxy::start`] with the proxy's clock paused: when its runtime has nothing to do, time
    /// jumps to the next timer. Run the fake engine and the client on the same runtime with
    /// [`Proxy::run`], and listen on a unix socket (LISTEN=unix://...): it delivers within the
    /// write call, where loopback TCP may leave the runtime idle, and a timer firing, while bytes
    /// are on their way.
    pub fn start_paused(env: &[(&str, &str)]) -> Proxy {
        Proxy::start_on(env, true)
    }

    fn start_on(env: &[(&str, &str)], paused: bool) -> Proxy {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut config =
            Config::from_env(&env, &Overrides::default()).expect("a valid test configuration");
        let loopback = ListenAddr::Tcp {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dual_stack: false,
        };
        let mut listen = vec![loopback];
        let mut sockets = vec![];
        for addr in std::mem::take(&mut config.listen) {
            if let ListenAddr::Unix(path) = &addr {
                sockets.push(path.clone());
                listen.push(addr);
            }
        }
        let listeners: Vec<Listener> = listen
            .iter()
            .map(|addr| Listener::bind(addr, &config.unix_socket))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("the test proxy cannot listen: {e}"));
        let Listener::Tcp(tcp) = &listeners[0] else {
            unreachable!("the loopback listener is TCP")
        };
        let addr = tcp.local_addr().unwrap();

        // As main builds it; only the paused clock is the test's.
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.enable_all();
        if paused {
            builder.start_paused(true);
        }
        let runtime = builder.build().expect("a runtime for the test proxy");
        let handle = runtime.handle().clone();
        let log = Log::default();
        let dispatch =
            dockgate::log_format::dispatch(config.log_level, config.log_format, false, log.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let (finished, done) = oneshot::channel();
        let telemetry = Arc::new(Telemetry::new(&config));
        let told = telemetry.clone();
        let thread = std::thread::Builder::new()
            .name("dockgate".into())
            .spawn(move || {
                // The proxy's runtime runs on this thread only: its log is this thread's.
                let served = tracing::dispatcher::with_default(&dispatch, || {
                    runtime.block_on(serve(listeners, &config, told, async {
                        let _ = stopped.await;
                    }))
                });
                let _ = finished.send(served);
            })
            .expect("a thread for the test proxy");
        Proxy {
            addr,
            sockets,
            log,
            runtime: handle,
            shutdown: Some(shutdown),
            done: Some(done),
            thread: Some(thread),
            telemetry,
        }
    }

    /// What the proxy has learned so far (`MODE=warn|learn`, and refusals in any mode).
    pub fn learned(&self) -> &Learned {
        &self.telemetry.learned
    }

    /// The proxy's log, to read now or after [`Proxy::stop`] (by which every request has ended
    /// and been logged).
    pub fn log(&self) -> Log {
        self.log.clone()
    }

    /// Sends raw request bytes on a new connection and reads the answer until the proxy closes
    /// it (or 30 s pass).
    pub fn exchange_raw(&self, request: &[u8]) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut answer = vec![];
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// `tcp://127.0.0.1:PORT`, for DOCKER_HOST.
    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT`, for HTTP clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The first unix socket LISTEN named.
    pub fn socket(&self) -> &Path {
        self.sockets
            .first()
            .expect("LISTEN names no unix socket for this proxy")
    }

    /// Runs `test` on the proxy's runtime and returns what it returns; a panic in it is the
    /// caller's. With [`Proxy::start_paused`] this is how the fake engine and the client share
    /// the proxy's clock.
    pub fn run<T: Send + 'static>(&self, test: impl Future<Output = T> + Send + 'static) -> T {
        let (send, receive) = std::sync::mpsc::channel();
        let task = self.runtime.spawn(test);
        self.runtime.spawn(async move {
            let _ = send.send(task.await);
        });
        match receive.recv().expect("the proxy's runtime stopped") {
            Ok(output) => output,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Begins a graceful shutdown, as SIGTERM does: no new connections, open requests get the
    /// grace period.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits, from async code, until serve() has returned; [`Proxy::begin_shutdown`] first.
    pub async fn stopped(mut self) -> io::Result<()> {
        let done = self.done.take().expect("stopped once");
        let served = done.await.expect("the proxy thread panicked");
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the proxy thread panicked");
        }
        served
    }

    /// Begins a graceful shutdown and waits until serve() has returned.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.begin_shutdown();
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        if thread.join().is_err() && !std::thread::panicking() {
            panic!("the proxy thread panicked");
        }
        // Sent by the thread just before it ended; none when it panicked.
        self.done
            .take()
            .and_then(|mut done| done.try_recv().ok())
            .unwrap_or(Ok(()))
    }
}

/// A proxy's log lines, as the binary would write them to stderr.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl io::Write for &Log {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = &'a Log;

    fn make_writer(&'a self) -> &'a Log {
        self
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// True when `CI=true`: what is skipped elsewhere fails there.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says loudly why a test does not run (the caller then returns); in CI, fails it instead.
pub fn skip_or_fail(why: &str) {
    if in_ci() {
        panic!("{why}: real-engine tests are required in CI");
    }
    // Straight to stderr: the test harness captures eprintln!, and a skip must be seen.
    let line = format!("\n*** SKIPPED: {why}; run scripts/test to set it up ***\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// The real engine, when the test script has one running. In CI (`CI=true`) a missing engine is a
/// failure; elsewhere the caller skips, saying so loudly.
pub fn real_engine() -> Option<PathBuf> {
    let socket = PathBuf::from(
        std::env::var("DOCKGATE_TEST_SOCKET").unwrap_or("/var/run/docker.sock".into()),
    );
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return Some(socket);
    }
    skip_or_fail(&format!("no Docker engine at {}", socket.display()));
    None
}

/// The real engine, when it runs and has every one of `images` (which the test script builds);
/// otherwise as [`real_engine`]: a loud skip, or a failure in CI.
pub fn real_engine_with_images(images: &[&str]) -> Option<PathBuf> {
    let socket = real_engine()?;
    let missing: Vec<&str> = images
        .iter()
        .copied()
        .filter(|image| {
            !docker::engine(&socket)
                .args(["image", "inspect", "--format", "{{.Id}}", image])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
        .collect();
    if missing.is_empty() {
        return Some(socket);
    }
    skip_or_fail(&format!(
        "the engine at {} has no image {}",
        socket.display(),
        missing.join(", ")
    ));
    None
}

/// The test image the test script builds `FROM scratch` with a static busybox.
pub fn test_image() -> String {
    std::env::var("DOCKGATE_TEST_IMAGE").unwrap_or("dockgate-test-busybox:latest".into())
}
