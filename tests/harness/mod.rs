//! Shared test harness: an in-process dockgate on port 0, and what the real-engine tests need.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod docker;
pub mod fake_engine;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;

use dockgate::config::{Config, Overrides};
use dockgate::server::{serve, Listener};
use tokio::sync::oneshot;

/// A dockgate serving on an ephemeral loopback port from a thread of its own, stopped on drop.
pub struct Proxy {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Proxy {
    /// Starts a proxy configured by `env` exactly as the binary would read it (LISTEN is ignored:
    /// the harness binds 127.0.0.1:0).
    pub fn start(env: &[(&str, &str)]) -> Proxy {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config =
            Config::from_env(&env, &Overrides::default()).expect("a valid test configuration");
        let std = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = std.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(serve(vec![Listener::Tcp(std)], &config, async {
                let _ = stopped.await;
            }))
        });
        Proxy {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `tcp://127.0.0.1:PORT`, for DOCKER_HOST.
    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT`, for HTTP clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Begins a graceful shutdown and waits until serve() has returned.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().expect("the proxy thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
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
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "no Docker engine at {}: real-engine tests are required in CI",
            socket.display()
        );
    }
    eprintln!(
        "\n*** SKIPPED: no Docker engine at {}; run scripts/test to start one ***\n",
        socket.display()
    );
    None
}

/// The test image the test script builds `FROM scratch` with a static busybox.
pub fn test_image() -> String {
    std::env::var("DOCKGATE_TEST_IMAGE").unwrap_or("dockgate-test-busybox:latest".into())
}
