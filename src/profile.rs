//! A grant as one value: the route flags and the body switches a connection's requests are judged
//! by, and its effective form in the environment's vocabulary (what `dockgate check` prints and
//! what a refusal tells the operator to add). Limits (`MAX_BODY`, `MAX_CONNECTIONS`) are not
//! grants and stay apart.

use crate::inspect::BodyPolicy;
use crate::policy::{Flag, Flags, Policy};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The routes it opens.
    pub policy: Policy,
    /// What request bodies may ask for on them.
    pub body: BodyPolicy,
}

impl Profile {
    /// What every grant starts from: the environment's defaults (`EVENTS=1 PING=1 VERSION=1`,
    /// logs, top and changes with `CONTAINERS`), nothing else.
    pub fn defaults() -> Profile {
        Profile {
            policy: Policy::new(Flags::defaults()),
            body: BodyPolicy::default(),
        }
    }

    /// No grant at all: every request is refused.
    pub fn nothing() -> Profile {
        Profile {
            policy: Policy::new(Flags::default()),
            body: BodyPolicy::default(),
        }
    }

    /// The grant as `NAME=value` entries: every flag that is on, every default-on flag that is
    /// off (`ALLOW_LOGS=0`), and every body grant that is set. Applied over
    /// [`Profile::defaults`], these give this profile back.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let granted = self.policy.granted();
        let mut out: Vec<(&'static str, String)> = vec![];
        for flag in Flag::all() {
            match (granted.has(flag), flag.default_on()) {
                (true, _) => out.push((flag.var(), "1".into())),
                (false, true) => out.push((flag.var(), "0".into())),
                (false, false) => {}
            }
        }
        let body = &self.body;
        let switches = [
            ("ALLOW_PRIVILEGED", body.privileged),
            ("ALLOW_HOST_NAMESPACES", body.host_namespaces),
            ("ALLOW_DEVICES", body.devices),
            ("ALLOW_SECURITY_OPTS", body.security_opts),
            ("ALLOW_REMOTE_FETCH", body.remote_fetch),
        ];
        for (name, on) in switches {
            if on {
                out.push((name, "1".into()));
            }
        }
        if !body.caps.is_empty() {
            out.push(("ALLOW_CAPS", body.caps.join(",")));
        }
        if !body.bind_mounts.is_empty() {
            let prefixes: Vec<String> = body.bind_mounts.iter().map(|p| p.to_string()).collect();
            out.push(("ALLOW_BIND_MOUNTS", prefixes.join(",")));
        }
        out
    }

    /// The entries on one line, as an environment block's values read: `CONTAINERS=1 POST=1`.
    pub fn describe(&self) -> String {
        let entries: Vec<String> = self
            .entries()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        entries.join(" ")
    }
}
