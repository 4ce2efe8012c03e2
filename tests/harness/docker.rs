//! The real `docker` CLI, pointed at dockgate or straight at the engine, with bounded waits and
//! clean-up of everything a test creates.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long any one docker command may take before the test calls it hung. Only a guard against
/// hangs: nothing is asserted about how long a command takes.
pub const LIMIT: Duration = Duration::from_secs(120);

/// A docker CLI talking to `host` (`tcp://...` or `unix://...`), isolated from the user's
/// contexts and settings.
pub fn docker(host: &str) -> Command {
    // An empty config directory: no context, credential helper or alias of the user's applies.
    static CONFIG: OnceLock<PathBuf> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docker-config");
        std::fs::create_dir_all(&dir).expect("a docker config directory");
        dir
    });
    let mut command = Command::new("docker");
    command
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config)
        .env("DOCKER_CLI_HINTS", "false")
        // The engine's builder is the legacy one: `docker build` uploads its context to POST /build.
        .env("DOCKER_BUILDKIT", "0");
    for var in [
        "DOCKER_CONTEXT",
        "DOCKER_API_VERSION",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
    ] {
        command.env_remove(var);
    }
    command
}

/// A docker CLI talking straight to the engine, for set-up and checks no proxy config should
/// stand in the way of.
pub fn engine(socket: &Path) -> Command {
    docker(&format!("unix://{}", socket.display()))
}

/// Runs `command` to its end with `stdin` as its input.
pub fn run(command: &mut Command, stdin: &[u8]) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    // Dropping the pipe when written is the end of input the command waits for.
    let writer = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let stdout = read_to_end(child.stdout.take());
    let stderr = read_to_end(child.stderr.take());
    let status = wait_bounded(&mut child, &format!("{command:?}"));
    let _ = writer.join();
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Runs `command` and fails the test unless it succeeds; its stdout.
pub fn ok(command: &mut Command) -> String {
    let out = run(command, b"");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read_to_end(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    let mut pipe = pipe.expect("a piped output");
    thread::spawn(move || {
        let mut all = vec![];
        let _ = pipe.read_to_end(&mut all);
        all
    })
}

fn wait_bounded(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} was still running after {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A command whose output is read line by line while it runs (`logs -f`, `events`, `attach`),
/// its stdin open until it finishes; killed when dropped.
pub struct Streaming {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Streaming {
    pub fn spawn(command: &mut Command) -> Streaming {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(read_to_end(child.stderr.take()));
        Streaming {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// Sends `input` to the command's stdin, which stays open. A command that has already ended
    /// (refused) cannot take it; what it said is in its stderr.
    pub fn send(&mut self, input: &[u8]) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(input).and_then(|()| stdin.flush());
        }
    }

    /// The next line of output; `None` once the output has ended.
    pub fn next_line(&self) -> Option<String> {
        match self.lines.recv_timeout(LIMIT) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no output for {LIMIT:?}"),
        }
    }

    /// Waits for the command to end by itself: its exit status and stderr.
    pub fn finish(mut self) -> (ExitStatus, String) {
        self.stdin = None;
        let status = wait_bounded(&mut self.child, "a streaming docker command");
        let stderr = self.stderr.take().expect("stderr").join().expect("reader");
        (status, String::from_utf8_lossy(&stderr).into_owned())
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Names for what one test creates on the engine, and their removal when it goes out of scope,
/// pass or fail. Names are unique per process and call, so concurrent tests and colleagues'
/// runs on the same engine never meet.
pub struct Scope {
    socket: PathBuf,
    containers: Mutex<Vec<String>>,
    networks: Mutex<Vec<String>>,
    images: Mutex<Vec<String>>,
    volumes: Mutex<Vec<String>>,
    dirs: Mutex<Vec<PathBuf>>,
}

impl Scope {
    pub fn new(socket: &Path) -> Scope {
        Scope {
            socket: socket.to_path_buf(),
            containers: Mutex::default(),
            networks: Mutex::default(),
            images: Mutex::default(),
            volumes: Mutex::default(),
            dirs: Mutex::default(),
        }
    }

    /// A name nothing else uses: `dg-cli-PID-N-what`.
    pub fn unique(what: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("dg-cli-{}-{n}-{what}", std::process::id())
    }

    /// The engine, for set-up and checks.
    pub fn engine(&self) -> Command {
        engine(&self.socket)
    }

    /// Registers a container name for removal.
    pub fn container(&self, name: &str) -> String {
        self.containers.lock().unwrap().push(name.into());
        name.into()
    }

    pub fn network(&self, name: &str) -> String {
        self.networks.lock().unwrap().push(name.into());
        name.into()
    }

    pub fn image(&self, name: &str) -> String {
        self.images.lock().unwrap().push(name.into());
        name.into()
    }

    pub fn volume(&self, name: &str) -> String {
        self.volumes.lock().unwrap().push(name.into());
        name.into()
    }

    /// A new empty host directory, removed with the scope.
    pub fn dir(&self, name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        self.dirs.lock().unwrap().push(dir.clone());
        dir
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // Removal that fails is what a test already removed itself.
        let remove = |args: &[&str], names: &Mutex<Vec<String>>| {
            let names = std::mem::take(&mut *names.lock().unwrap_or_else(|e| e.into_inner()));
            if !names.is_empty() {
                let _ = self
                    .engine()
                    .args(args)
                    .args(&names)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        };
        remove(&["rm", "-f"], &self.containers);
        remove(&["network", "rm"], &self.networks);
        remove(&["rmi", "-f"], &self.images);
        remove(&["volume", "rm", "-f"], &self.volumes);
        for dir in self
            .dirs
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `docker ARGS` talking to `host` inside a pseudo-terminal, as a user at a shell would run it:
/// `script` gives the CLI a terminal for stdin and stdout, so `-it` works.
pub fn in_terminal(host: &str, args: &str) -> Command {
    let template = docker(host);
    let mut command = Command::new("script");
    // -e: the exit status of docker; -q: no banner; the typescript goes nowhere.
    command.args(["-qec", &format!("docker {args}"), "/dev/null"]);
    for (key, value) in template.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
}
