//! Running without root: the Docker socket's ownership, the plan to drop privileges, applying it,
//! and explaining in one line why a process cannot reach the socket, with advice that fits where
//! it runs (a container or a host).
//!
//! `connect()` on a unix socket checks numeric ids only, so nothing here reads or needs
//! `/etc/passwd` or `/etc/group`: a `FROM scratch` image on a read-only filesystem works.

use std::fmt;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use nix::unistd::{Gid, Uid};

/// A user and group by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

impl fmt::Display for Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// Who owns a unix socket and who may connect to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketOwnership {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits only.
    pub mode: u32,
}

impl SocketOwnership {
    pub fn of(path: &Path) -> io::Result<SocketOwnership> {
        let meta = std::fs::metadata(path)?;
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a unix socket",
            ));
        }
        Ok(SocketOwnership {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
        })
    }

    /// Whether a process with these ids and supplementary groups may connect (read and write).
    pub fn admits(&self, uid: u32, gids: &[u32]) -> bool {
        let rw = |shift: u32| (self.mode >> shift) & 0o6 == 0o6;
        uid == 0 || (uid == self.uid && rw(6)) || (gids.contains(&self.gid) && rw(3)) || rw(0)
    }

    /// Whether membership in the socket's group is a usable, non-root way in.
    pub fn group_grants_access(&self) -> bool {
        self.gid != 0 && (self.mode >> 3) & 0o6 == 0o6
    }
}

impl fmt::Display for SocketOwnership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "owned by {}:{} with mode {:04o}",
            self.uid, self.gid, self.mode
        )
    }
}

/// What to do with the process's own privileges at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Not started as root: nothing to switch.
    Keep,
    /// Started as root and told to stay root with `RUN_AS=0`.
    StayRoot,
    /// Become `ids` with `groups` as the only supplementary groups.
    Drop { ids: Ids, groups: Vec<u32> },
}

/// Why privileges cannot be dropped safely.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DropError {
    #[error(
        "cannot read the Docker socket {path} to learn its group ({reason}); it must exist before \
         dockgate starts as root, or start dockgate as a user that can reach it"
    )]
    SocketUnreadable { path: String, reason: String },
    #[error(
        "the Docker socket {path} is {ownership}: only root can use it, so dropping to {run_as} \
         would lose access. Make the socket group-accessible with a non-root group (the usual \
         root:docker 0660), or set RUN_AS=0 to run dockgate as root"
    )]
    RootOnlySocket {
        path: String,
        ownership: SocketOwnership,
        run_as: Ids,
    },
}

/// Decides how to drop privileges; pure, so every case is a unit test.
pub fn plan(
    euid: u32,
    run_as: Ids,
    socket_path: &Path,
    socket: Result<SocketOwnership, String>,
) -> Result<Plan, DropError> {
    if euid != 0 {
        return Ok(Plan::Keep);
    }
    if run_as.uid == 0 {
        return Ok(Plan::StayRoot);
    }
    let path = socket_path.display().to_string();
    let ownership = socket.map_err(|reason| DropError::SocketUnreadable {
        path: path.clone(),
        reason,
    })?;
    if ownership.admits(run_as.uid, &[run_as.gid]) {
        return Ok(Plan::Drop {
            ids: run_as,
            groups: vec![],
        });
    }
    if !ownership.group_grants_access() {
        return Err(DropError::RootOnlySocket {
            path,
            ownership,
            run_as,
        });
    }
    Ok(Plan::Drop {
        ids: run_as,
        groups: vec![ownership.gid],
    })
}

/// Switches the whole process to `ids` with exactly `groups`, and checks it took.
///
/// Call before any other thread exists: the libc wrappers nix uses change every thread, but a
/// single thread leaves no doubt. After `setuid` from root to non-zero ids the kernel clears the
/// permitted and effective capability sets; `no_new_privs` keeps it that way across any exec.
pub fn drop_to(ids: Ids, groups: &[u32]) -> io::Result<()> {
    let gids: Vec<Gid> = groups.iter().copied().map(Gid::from_raw).collect();
    nix::unistd::setgroups(&gids).map_err(|e| io::Error::other(format!("setgroups: {e}")))?;
    nix::unistd::setgid(Gid::from_raw(ids.gid))
        .map_err(|e| io::Error::other(format!("setgid: {e}")))?;
    nix::unistd::setuid(Uid::from_raw(ids.uid))
        .map_err(|e| io::Error::other(format!("setuid: {e}")))?;
    nix::sys::prctl::set_no_new_privs()
        .map_err(|e| io::Error::other(format!("no_new_privs: {e}")))?;
    verify(ids, groups)
}

fn verify(ids: Ids, groups: &[u32]) -> io::Result<()> {
    let uid = nix::unistd::getresuid().map_err(io::Error::other)?;
    let gid = nix::unistd::getresgid().map_err(io::Error::other)?;
    let uids = [uid.real, uid.effective, uid.saved].map(Uid::as_raw);
    let gids = [gid.real, gid.effective, gid.saved].map(Gid::as_raw);
    let mut held: Vec<u32> = nix::unistd::getgroups()
        .map_err(io::Error::other)?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    held.sort_unstable();
    let mut wanted = groups.to_vec();
    wanted.sort_unstable();
    if uids != [ids.uid; 3] || gids != [ids.gid; 3] || held != wanted {
        return Err(io::Error::other(format!(
            "privileges did not drop as planned: uids {uids:?}, gids {gids:?}, groups {held:?}"
        )));
    }
    if ids.uid != 0 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let caps_left = status
            .lines()
            .filter(|l| l.starts_with("CapEff:") || l.starts_with("CapPrm:"))
            .any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|v| !v.trim_start_matches('0').is_empty())
            });
        if caps_left {
            return Err(io::Error::other(
                "capabilities remain after dropping privileges",
            ));
        }
    }
    Ok(())
}

/// The current process's uid and supplementary groups (with its gid), for explanations.
pub fn current_ids() -> (u32, Vec<u32>) {
    let uid = nix::unistd::geteuid().as_raw();
    let mut groups: Vec<u32> = nix::unistd::getgroups()
        .unwrap_or_default()
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    let gid = nix::unistd::getegid().as_raw();
    if !groups.contains(&gid) {
        groups.insert(0, gid);
    }
    (uid, groups)
}

/// One line saying why this process cannot use the socket and how to fix it in a container, or
/// None when the permissions are not the problem.
pub fn explain_denied(
    socket_path: &Path,
    ownership: SocketOwnership,
    uid: u32,
    groups: &[u32],
) -> Option<String> {
    explain_denied_in(Place::Container, socket_path, ownership, uid, groups)
}

/// One line saying why this process cannot use the socket and how to fix it where it runs, or
/// None when the permissions are not the problem. Pure, so every case is a unit test.
pub fn explain_denied_in(
    place: Place,
    socket_path: &Path,
    ownership: SocketOwnership,
    uid: u32,
    groups: &[u32],
) -> Option<String> {
    if ownership.admits(uid, groups) {
        return None;
    }
    let path = socket_path.display();
    let who = format!("dockgate runs as uid {uid} with groups {groups:?}");
    let gid = ownership.gid;
    let fix = match (ownership.group_grants_access(), place) {
        (true, Place::Container) => {
            format!("add the socket's group to the container: group_add: [\"{gid}\"]")
        }
        (true, Place::Host) => format!(
            "add the user to the socket's group {gid} (usermod -aG, then log in again), or start \
             dockgate as root: it then runs as RUN_AS with that group (or keep uid {uid} with \
             dockgate exec --user {uid} -- dockgate)"
        ),
        (false, _) => "only root can use this socket; run dockgate as root with RUN_AS=0, or make \
                       the socket group-accessible with a non-root group"
            .to_string(),
    };
    Some(format!(
        "the Docker socket {path} is {ownership} and {who}; {fix}"
    ))
}

/// Where dockgate runs, for advice on how to give it the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Container,
    Host,
}

impl Place {
    /// A container, by what engines leave in it: `/.dockerenv` (Docker), `/run/.containerenv`
    /// (Podman), or a container's cgroup in `/proc/1/cgroup`.
    pub fn detect() -> Place {
        let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
        Place::from_facts(
            Path::new("/.dockerenv").exists() || Path::new("/run/.containerenv").exists(),
            &cgroup,
        )
    }

    /// Pure: `marker_file` is whether `/.dockerenv` or `/run/.containerenv` exists.
    pub fn from_facts(marker_file: bool, init_cgroup: &str) -> Place {
        let markers = ["docker", "kubepods", "containerd", "libpod", "lxc", "/ecs/"];
        if marker_file || markers.iter().any(|m| init_cgroup.contains(m)) {
            Place::Container
        } else {
            Place::Host
        }
    }
}

/// Whether a `dockerd` process is visible in `/proc` (from a container, usually none is, even
/// when the engine runs).
pub fn engine_process_seen() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit());
        is_pid
            && std::fs::read_to_string(entry.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == "dockerd")
    })
}

/// What is at the socket's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketState {
    Socket(SocketOwnership),
    Missing,
    Directory,
    /// A file of another kind.
    NotASocket,
    /// The path cannot be looked at (a directory on the way is closed to this process).
    Unreadable(String),
}

impl SocketState {
    pub fn of(path: &Path) -> SocketState {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => SocketState::Missing,
            Err(e) => SocketState::Unreadable(e.to_string()),
            Ok(meta) if meta.is_dir() => SocketState::Directory,
            Ok(meta) if !meta.file_type().is_socket() => SocketState::NotASocket,
            Ok(meta) => SocketState::Socket(SocketOwnership {
                uid: meta.uid(),
                gid: meta.gid(),
                mode: meta.mode() & 0o7777,
            }),
        }
    }
}

/// Why dockgate cannot start when no socket is at `SOCKET_PATH`, with the fix where it runs, or
/// None when there is a socket (or the path cannot be looked at). Root or not, the same: there is
/// nothing to serve until the path is right. Pure, so every case is a unit test.
pub fn explain_absent(
    socket_path: &Path,
    state: &SocketState,
    place: Place,
    engine_seen: bool,
) -> Option<String> {
    let path = socket_path.display();
    let what = match state {
        SocketState::Missing => "does not exist",
        SocketState::Directory => "is a directory, not the engine's socket",
        SocketState::NotASocket => "is not a unix socket",
        SocketState::Socket(_) | SocketState::Unreadable(_) => return None,
    };
    let engine = match (engine_seen, place) {
        (true, _) => "a dockerd process is running, so its socket is elsewhere: set SOCKET_PATH \
                      to it (dockerd's -H/--host, or docker context inspect, shows where)"
            .to_string(),
        (false, Place::Host) => "no dockerd process runs on this host: start the engine \
                                 (systemctl start docker), or set SOCKET_PATH to the socket of \
                                 the one you use (rootless Docker: $XDG_RUNTIME_DIR/docker.sock)"
            .to_string(),
        (false, Place::Container) if *state == SocketState::Directory => format!(
            "Docker creates a directory when a bind mount's source is missing, so the engine's \
             socket was not at the host path mounted here: mount the engine's socket, e.g. -v \
             /var/run/docker.sock:{path}"
        ),
        (false, Place::Container) => format!(
            "whether a dockerd runs cannot be seen from this container: mount the engine's \
             socket, e.g. -v /var/run/docker.sock:{path}, or set SOCKET_PATH to where it is \
             mounted"
        ),
    };
    Some(format!("SOCKET_PATH={path} {what}; {engine}"))
}

#[cfg(test)]
mod tests;
