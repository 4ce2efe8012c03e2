//! Changing grants without a restart: on SIGHUP, and when the config file changes, it is read
//! and checked again and, only if valid, put in force at once. A file that does not check out
//! leaves the running policy as it was, with one log line saying why. Open connections, streams
//! and tunnels are untouched; each next request is judged by the policy in force.
//!
//! The file is watched by polling its metadata (modified time, size, inode) once a second rather
//! than through inotify: that sees an editor's rename-over, a Kubernetes ConfigMap's symlink
//! swap and a bind mount alike, costs one `stat` a second, and needs no dependency.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::config::{file, Config, ListenAddr};
use crate::profile::Profile;
use crate::session::Sessions;
use crate::telemetry::Telemetry;

const POLL: Duration = Duration::from_secs(1);

/// What tells one version of the file from the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    // Followed through symlinks: a ConfigMap swaps the link, not the file it names.
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

/// Starts watching, until `stop`. Must run inside the runtime; the SIGHUP handler is installed
/// before this returns (without one, SIGHUP would end the process).
/// Each reload's outcome is told to `telemetry`.
pub fn watch(
    config: &Config,
    sessions: Arc<Sessions>,
    telemetry: Arc<Telemetry>,
    stop: CancellationToken,
) -> io::Result<()> {
    let mut hangup = signal(SignalKind::hangup())?;
    let Some(path) = config.config_file.clone() else {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = hangup.recv() => tracing::info!("SIGHUP: no CONFIG file to reload; the environment is read only at start"),
                }
            }
        });
        return Ok(());
    };
    let reloader = Reloader {
        path,
        default: config.profile(),
        listen: config.listen.clone(),
        sessions,
        telemetry,
    };
    tokio::spawn(async move {
        let mut seen = stamp(&reloader.path);
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = hangup.recv() => {
                    seen = stamp(&reloader.path);
                    reloader.reload("SIGHUP");
                }
                _ = tick.tick() => {
                    let now = stamp(&reloader.path);
                    if now != seen {
                        seen = now;
                        reloader.reload("the file changed");
                    }
                }
            }
        }
    });
    Ok(())
}

struct Reloader {
    path: PathBuf,
    default: Profile,
    listen: Vec<ListenAddr>,
    sessions: Arc<Sessions>,
    telemetry: Arc<Telemetry>,
}

impl Reloader {
    fn reload(&self, why: &str) {
        match file::load(&self.path, &self.default, &self.listen) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    tracing::warn!("{warning}");
                }
                let changes = self.sessions.replace(loaded.clients);
                self.telemetry.reloaded(true);
                tracing::info!("reloaded {} ({why}): {changes}", self.path.display());
            }
            Err(error) => {
                self.telemetry.reloaded(false);
                tracing::error!("not reloaded ({why}); the previous policy stays in force: {error}")
            }
        }
    }
}
