//! `dockgate exec`: the entrypoint helper that replaces `groupadd`/`usermod`/`su` scripts.
//!
//! Started as root, it reads the Docker socket's group id, becomes the user with that group added
//! to the user's own, and `execve`s the command: the command keeps the PID, the TTY, its argv
//! untouched, and receives signals directly. Nothing of dockgate remains after the exec.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::privilege::{self, Ids, SocketOwnership};

/// dockgate's own failures, as `docker run` reports its own.
pub const EXIT_OWN_ERROR: u8 = 125;

/// Why the helper could not run the command; the one line printed before exiting 125.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("--user {0:?} is not valid: expected UID[:GID] or NAME[:GROUP]")]
    BadUser(String),
    #[error("no user named {0:?} in /etc/passwd; give a numeric UID")]
    NoSuchUser(String),
    #[error("no group named {0:?} in /etc/group; give a numeric GID")]
    NoSuchGroup(String),
    #[error("--user 0 would run the command as root; dockgate exec is for stepping down")]
    WouldBeRoot,
    #[error(
        "the Docker socket {path} is {socket}: only root can use it, so no group can give uid \
         {uid} access. Run dockgate as a proxy in front of it and give this container the \
         proxy's unix socket instead (LISTEN=unix:///run/dockgate/docker.sock, \
         DOCKER_HOST=unix:///run/dockgate/docker.sock)"
    )]
    RootOnlySocket {
        path: String,
        socket: SocketOwnership,
        uid: u32,
    },
    #[error(
        "dockgate exec must start as root to switch users, but runs as uid {0}; start the \
         container as root (the helper steps down), or give it the socket's group with group_add"
    )]
    NotRoot(u32),
    #[error("the Docker socket {path} is not usable: {reason}{hint}")]
    SocketUnusable {
        path: String,
        reason: String,
        /// How to wait for it, when the helper did not.
        hint: &'static str,
    },
    #[error("the command has an argument with a NUL byte")]
    NulInArgument,
    #[error("no command given: dockgate exec --user UID[:GID] -- CMD [ARGS...]")]
    NoCommand,
    #[error("cannot switch to {ids}: {reason}")]
    Switch { ids: Ids, reason: String },
    #[error("cannot run {command:?}: {reason}")]
    Run { command: OsString, reason: String },
}

/// The `--user` argument: `UID[:GID]` or `NAME[:GROUP]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    user: String,
    group: Option<String>,
}

impl UserSpec {
    pub fn parse(text: &str) -> Result<UserSpec, ExecError> {
        let (user, group) = match text.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (text, None),
        };
        if user.is_empty() || group.is_some_and(str::is_empty) {
            return Err(ExecError::BadUser(text.into()));
        }
        Ok(UserSpec {
            user: user.into(),
            group: group.map(Into::into),
        })
    }
}

/// Who the command runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecPlan {
    pub ids: Ids,
    /// Supplementary groups: the user's own, plus the socket's.
    pub groups: Vec<u32>,
    /// The user's home directory, when `/etc/passwd` names one.
    pub home: Option<String>,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        Some(PasswdEntry {
            name: f.first()?,
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
            home: f.get(5)?,
        })
    })
}

/// `(name, gid, members)` of each line of `/etc/group`.
fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let members = f
            .get(3)
            .map(|m| m.split(',').filter(|m| !m.is_empty()).collect())
            .unwrap_or_default();
        Some((*f.first()?, f.get(2)?.parse().ok()?, members))
    })
}

/// Works out ids and groups from the user spec, the (optional) account files and the socket.
/// Numbers need no account files; names do. Pure, so every case is a unit test.
pub fn plan(
    spec: &UserSpec,
    passwd: Option<&str>,
    group: Option<&str>,
    socket_path: &Path,
    socket: SocketOwnership,
) -> Result<ExecPlan, ExecError> {
    let by_uid = |uid: u32| passwd.and_then(|p| passwd_entries(p).find(|e| e.uid == uid));
    let entry = match spec.user.parse::<u32>() {
        Ok(uid) => by_uid(uid)
            .map(|e| (e.name, e.uid, e.gid, e.home))
            .ok_or(uid),
        Err(_) => match passwd.and_then(|p| passwd_entries(p).find(|e| e.name == spec.user)) {
            Some(e) => Ok((e.name, e.uid, e.gid, e.home)),
            None => return Err(ExecError::NoSuchUser(spec.user.clone())),
        },
    };
    let (name, uid, passwd_gid, home) = match entry {
        Ok((name, uid, gid, home)) => (Some(name), uid, Some(gid), Some(home.to_string())),
        Err(uid) => (None, uid, None, None),
    };
    let gid = match &spec.group {
        None => passwd_gid.unwrap_or(uid),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group
                .and_then(|file| {
                    group_entries(file)
                        .find(|(n, _, _)| n == g)
                        .map(|(_, gid, _)| gid)
                })
                .ok_or_else(|| ExecError::NoSuchGroup(g.clone()))?,
        },
    };
    if uid == 0 {
        return Err(ExecError::WouldBeRoot);
    }

    let mut groups = vec![gid];
    if let (Some(name), Some(file)) = (name, group) {
        for (_, member_gid, members) in group_entries(file) {
            if members.contains(&name) && !groups.contains(&member_gid) {
                groups.push(member_gid);
            }
        }
    }
    if !socket.admits(uid, &groups) {
        if !socket.group_grants_access() {
            return Err(ExecError::RootOnlySocket {
                path: socket_path.display().to_string(),
                socket,
                uid,
            });
        }
        groups.push(socket.gid);
    }
    Ok(ExecPlan {
        ids: Ids { uid, gid },
        groups,
        home,
    })
}

/// The socket the command will use: `--socket`, else a unix `DOCKER_HOST`, else the default.
pub fn socket_path(flag: Option<PathBuf>, docker_host: Option<&str>) -> PathBuf {
    flag.or_else(|| {
        docker_host
            .and_then(|h| h.strip_prefix("unix://"))
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// Waits up to `wait` for the socket to appear, then reads its ownership.
fn wait_for_socket(path: &Path, wait: Duration) -> Result<SocketOwnership, ExecError> {
    let deadline = Instant::now() + wait;
    loop {
        match SocketOwnership::of(path) {
            Ok(ownership) => return Ok(ownership),
            Err(e) if Instant::now() >= deadline => {
                let hint = if wait.is_zero() {
                    "; --wait 30s waits for it"
                } else {
                    ""
                };
                return Err(ExecError::SocketUnusable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                    hint,
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Runs the helper: on success this never returns (the process becomes `command`); on failure it
/// returns why, for the one line dockgate prints before exiting 125.
pub fn run(spec: &UserSpec, socket: &Path, wait: Duration, command: &[OsString]) -> ExecError {
    let euid = nix::unistd::geteuid().as_raw();
    if euid != 0 {
        return ExecError::NotRoot(euid);
    }
    let ownership = match wait_for_socket(socket, wait) {
        Ok(ownership) => ownership,
        Err(e) => return e,
    };
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let (passwd, group) = (read("/etc/passwd"), read("/etc/group"));
    let plan = match plan(spec, passwd.as_deref(), group.as_deref(), socket, ownership) {
        Ok(plan) => plan,
        Err(e) => return e,
    };
    if command.iter().any(|a| a.as_bytes().contains(&0)) {
        return ExecError::NulInArgument;
    }
    let Some((program, args)) = command.split_first() else {
        return ExecError::NoCommand;
    };
    if let Err(e) = privilege::drop_to(plan.ids, &plan.groups) {
        return ExecError::Switch {
            ids: plan.ids,
            reason: e.to_string(),
        };
    }
    // The command's environment is dockgate's, with the user's HOME: built for the child, not
    // by changing this process's own. exec() searches PATH as execvp does, and replaces this
    // process (same PID); it returns only on failure.
    let mut child = Command::new(program);
    child.args(args);
    if let Some(home) = &plan.home {
        child.env("HOME", home);
    }
    let error = child.exec();
    ExecError::Run {
        command: program.clone(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\ndocker:x:999:app\nusers:x:100:\napp:x:1000:\nvideo:x:44:app\n";

    fn socket(gid: u32, mode: u32) -> SocketOwnership {
        SocketOwnership { uid: 0, gid, mode }
    }

    fn plan_for(
        user: &str,
        passwd: Option<&str>,
        group: Option<&str>,
        s: SocketOwnership,
    ) -> Result<ExecPlan, ExecError> {
        plan(
            &UserSpec::parse(user).unwrap(),
            passwd,
            group,
            Path::new("/var/run/docker.sock"),
            s,
        )
    }

    #[test]
    fn numeric_user_needs_no_account_files() {
        let p = plan_for("1000", None, None, socket(4242, 0o660)).unwrap();
        assert_eq!(
            p,
            ExecPlan {
                ids: Ids {
                    uid: 1000,
                    gid: 1000
                },
                groups: vec![1000, 4242],
                home: None
            }
        );
        let p = plan_for("1000:50", None, None, socket(4242, 0o660)).unwrap();
        assert_eq!((p.ids.gid, p.groups), (50, vec![50, 4242]));
    }

    #[test]
    fn socket_gid_taken_by_another_group_name_still_works() {
        // gid 100 is "users" here; names never matter to connect().
        let p = plan_for("app", Some(PASSWD), Some(GROUP), socket(100, 0o660)).unwrap();
        assert_eq!(p.groups, vec![1000, 999, 44, 100]);
        assert_eq!(p.home.as_deref(), Some("/home/app"));
    }

    #[test]
    fn docker_group_with_another_id_is_not_trusted() {
        // The image's "docker" group is 999, the host's socket group is 4242: both are kept, and
        // the socket's is what gives access.
        let p = plan_for("app", Some(PASSWD), Some(GROUP), socket(4242, 0o660)).unwrap();
        assert!(p.groups.contains(&4242));
    }

    #[test]
    fn users_own_groups_come_from_etc_group() {
        let p = plan_for("1000", Some(PASSWD), Some(GROUP), socket(999, 0o660)).unwrap();
        assert_eq!(p.groups, vec![1000, 999, 44]);
    }

    #[test]
    fn root_only_socket_points_to_the_proxys_unix_socket() {
        for s in [socket(0, 0o755), socket(0, 0o660), socket(999, 0o600)] {
            let e = plan_for("1000", None, None, s).unwrap_err().to_string();
            assert!(e.contains("only root can use it"), "{e}");
            assert!(e.contains("LISTEN=unix:///run/dockgate/docker.sock"), "{e}");
        }
    }

    #[test]
    fn names_without_account_files_are_errors() {
        assert!(plan_for("app", None, None, socket(999, 0o660))
            .unwrap_err()
            .to_string()
            .contains("numeric UID"));
        assert!(plan_for("1000:nogroup", None, None, socket(999, 0o660))
            .unwrap_err()
            .to_string()
            .contains("numeric GID"));
    }

    #[test]
    fn stepping_to_root_is_refused() {
        assert!(plan_for("0", None, None, socket(999, 0o660))
            .unwrap_err()
            .to_string()
            .contains("root"));
    }

    #[test]
    fn user_spec_rejects_empty_parts() {
        for bad in ["", ":1", "1:"] {
            assert!(UserSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn socket_path_prefers_flag_then_unix_docker_host() {
        assert_eq!(
            socket_path(Some("/a".into()), Some("unix:///b")),
            PathBuf::from("/a")
        );
        assert_eq!(socket_path(None, Some("unix:///b")), PathBuf::from("/b"));
        assert_eq!(
            socket_path(None, Some("tcp://x:1")),
            PathBuf::from("/var/run/docker.sock")
        );
    }
}
