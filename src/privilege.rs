//! Running without root: the Docker socket's ownership, the plan to drop privileges, applying it,
//! and explaining in one line why a process cannot reach the socket.
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

/// One line saying why this process cannot use the socket and how to fix it, or None when the
/// permissions are not the problem.
pub fn explain_denied(
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
    let fix = if ownership.group_grants_access() {
        format!(
            "add the socket's group to the container: group_add: [\"{}\"]",
            ownership.gid
        )
    } else {
        "only root can use this socket; run dockgate as root with RUN_AS=0, or make the socket \
         group-accessible with a non-root group"
            .to_string()
    };
    Some(format!(
        "the Docker socket {path} is {ownership} and {who}; {fix}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: Ids = Ids {
        uid: 65534,
        gid: 65534,
    };

    fn sock(uid: u32, gid: u32, mode: u32) -> Result<SocketOwnership, String> {
        Ok(SocketOwnership { uid, gid, mode })
    }

    fn path() -> &'static Path {
        Path::new("/var/run/docker.sock")
    }

    #[test]
    fn non_root_never_switches() {
        assert_eq!(
            plan(1000, NOBODY, path(), sock(0, 999, 0o660)),
            Ok(Plan::Keep)
        );
        assert_eq!(
            plan(1000, NOBODY, path(), Err("missing".into())),
            Ok(Plan::Keep)
        );
    }

    #[test]
    fn root_drops_to_run_as_with_only_the_socket_group() {
        assert_eq!(
            plan(0, NOBODY, path(), sock(0, 999, 0o660)),
            Ok(Plan::Drop {
                ids: NOBODY,
                groups: vec![999]
            })
        );
        let ids = Ids {
            uid: 1234,
            gid: 5678,
        };
        assert_eq!(
            plan(0, ids, path(), sock(0, 121, 0o660)),
            Ok(Plan::Drop {
                ids,
                groups: vec![121]
            })
        );
    }

    #[test]
    fn world_accessible_socket_needs_no_group() {
        assert_eq!(
            plan(0, NOBODY, path(), sock(0, 0, 0o666)),
            Ok(Plan::Drop {
                ids: NOBODY,
                groups: vec![]
            })
        );
    }

    #[test]
    fn docker_desktop_socket_is_refused_unless_run_as_root() {
        let err = plan(0, NOBODY, path(), sock(0, 0, 0o755)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("owned by 0:0 with mode 0755"), "{text}");
        assert!(text.contains("RUN_AS=0"), "{text}");
        assert_eq!(
            plan(0, Ids { uid: 0, gid: 0 }, path(), sock(0, 0, 0o755)),
            Ok(Plan::StayRoot)
        );
    }

    #[test]
    fn group_zero_is_refused_even_when_group_writable() {
        let err = plan(0, NOBODY, path(), sock(0, 0, 0o660)).unwrap_err();
        assert!(matches!(err, DropError::RootOnlySocket { .. }));
    }

    #[test]
    fn socket_without_group_write_is_refused() {
        assert!(plan(0, NOBODY, path(), sock(0, 999, 0o640)).is_err());
    }

    #[test]
    fn missing_socket_as_root_is_explained() {
        let err = plan(0, NOBODY, path(), Err("No such file or directory".into())).unwrap_err();
        assert!(err.to_string().contains("/var/run/docker.sock"));
        assert!(err.to_string().contains("No such file"));
    }

    #[test]
    fn denial_explanation_names_owner_mode_ids_and_fix() {
        let o = SocketOwnership {
            uid: 0,
            gid: 998,
            mode: 0o660,
        };
        let line = explain_denied(path(), o, 1000, &[1000]).unwrap();
        assert_eq!(
            line,
            "the Docker socket /var/run/docker.sock is owned by 0:998 with mode 0660 and dockgate \
             runs as uid 1000 with groups [1000]; add the socket's group to the container: \
             group_add: [\"998\"]"
        );
        assert_eq!(explain_denied(path(), o, 1000, &[1000, 998]), None);
        let desktop = SocketOwnership {
            uid: 0,
            gid: 0,
            mode: 0o755,
        };
        assert!(explain_denied(path(), desktop, 1000, &[1000])
            .unwrap()
            .contains("only root"));
    }

    #[test]
    fn admits_follows_unix_permission_order() {
        let o = SocketOwnership {
            uid: 10,
            gid: 20,
            mode: 0o660,
        };
        assert!(o.admits(10, &[]));
        assert!(o.admits(11, &[20]));
        assert!(!o.admits(11, &[21]));
        assert!(o.admits(0, &[]));
        assert!(SocketOwnership {
            uid: 10,
            gid: 20,
            mode: 0o606
        }
        .admits(99, &[]));
    }
}
