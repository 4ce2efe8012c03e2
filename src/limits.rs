//! Process limits at start-up: as many file descriptors as the hard limit allows.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Below this, a busy host (one descriptor per client and per engine connection) runs out.
const LOW: u64 = 4096;

/// Raises the soft open-file limit to the hard limit; returns the limit in force and a warning
/// when it is low. Only raises: nothing is sized from it.
pub fn raise_open_files() -> (u64, Option<String>) {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return (0, Some("cannot read the open-file limit".into()));
    };
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let warning = (limit < LOW).then(|| {
        format!("the open-file limit is {limit} (hard limit {hard}): at most about {} clients; raise it with ulimit -n or the container's nofile", limit / 2)
    });
    (limit, warning)
}
