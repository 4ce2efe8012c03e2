//! A connection's client and its grant. Who the client is (listener, peer, container) is worked
//! out once, when the connection is accepted; which grant it gets is looked up again only when
//! something it depends on changed (a reload, or the engine reporting a container change), which
//! a request learns from one atomic load. Open streams keep going; the next request on any
//! connection is judged by what holds now.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio_util::sync::CancellationToken;

use crate::access::Peer;
use crate::clients::{Assignment, Clients, Identity, DEFAULT_PROFILE};
use crate::directory::Directory;
use crate::needs::Needs;
use crate::refusal::Refusal;
use crate::upstream::Upstream;

/// What a request is judged and logged as: the client, and the grant it has now.
#[derive(Debug)]
pub struct Who {
    pub identity: Identity,
    pub assignment: Assignment,
}

impl Who {
    /// The container's name, when the client is one.
    pub fn container(&self) -> Option<&str> {
        self.identity.container.as_deref().map(|c| c.name.as_str())
    }

    /// The profile's name, once a config file is in use.
    pub fn profile(&self) -> Option<&str> {
        self.assignment.name.as_deref()
    }

    /// A route refusal's message: as the drop-in words it, or naming the client and profile.
    pub fn not_granted(&self, request: &str, hint: &str) -> String {
        match self.profile() {
            None => format!("{request} is not allowed; set {hint}"),
            Some(profile) => format!(
                "{request} is not allowed for {} (profile {profile}); {}",
                self.identity,
                add(profile, hint)
            ),
        }
    }

    /// Any other refusal, with who asked and where the fix goes once profiles are in use.
    pub fn explain(&self, refusal: Refusal, request: &str) -> Refusal {
        if let Some(undefined) = &self.assignment.undefined {
            return Refusal::forbidden(
                format!(
                    "{request} is refused for {}: its container's {} label names profile \
                     {undefined:?}, which the config file does not define (define it, or correct \
                     the label)",
                    self.identity,
                    crate::clients::PROFILE_LABEL
                ),
                Needs::none(),
            );
        }
        let Some(profile) = self.profile() else {
            return refusal;
        };
        if refusal.message.contains("(profile ") {
            return refusal;
        }
        let grants: Vec<String> = refusal
            .needs
            .first_choices()
            .iter()
            .map(ToString::to_string)
            .collect();
        let message = if grants.is_empty() {
            format!(
                "{} (client {}, profile {profile})",
                refusal.message, self.identity
            )
        } else {
            format!(
                "{}. For {} (profile {profile}): {}",
                refusal.message,
                self.identity,
                add(profile, &grants.join(" "))
            )
        };
        Refusal { message, ..refusal }
    }
}

/// Where a grant goes, in a refusal's words: the default profile's is the environment.
pub fn add(profile: &str, grants: &str) -> String {
    if profile == DEFAULT_PROFILE {
        format!("set {grants} in the environment (the default grant)")
    } else {
        format!("add {grants} to profile {profile}")
    }
}

/// The rules in force, and the directory of containers they may need.
pub struct Sessions {
    clients: RwLock<Arc<Clients>>,
    /// Bumped by reloads and by the directory: a connection's grant is current while its epoch
    /// is this one.
    epoch: Arc<AtomicU64>,
    directory: Arc<Directory>,
    cancel: CancellationToken,
}

/// One connection's client, and the grant it had at an epoch.
pub struct Session {
    listener: Arc<str>,
    peer: Peer,
    current: Mutex<(u64, Arc<Who>)>,
}

impl Sessions {
    /// `cancel` ends the directory's watch of the engine, if one is started.
    pub fn new(clients: Clients, upstream: Upstream, cancel: CancellationToken) -> Sessions {
        let epoch = Arc::new(AtomicU64::new(0));
        Sessions {
            directory: Arc::new(Directory::new(upstream, epoch.clone())),
            clients: RwLock::new(Arc::new(clients)),
            epoch,
            cancel,
        }
    }

    /// Starts what the rules need; call once inside the runtime.
    pub fn start(&self) {
        if self.clients().needs_containers() {
            self.directory.start(self.cancel.clone());
        }
    }

    fn clients(&self) -> Arc<Clients> {
        self.clients.read().expect("never poisoned").clone()
    }

    /// A new connection's session: who it is, and its grant now.
    pub async fn open(&self, listener: Arc<str>, peer: Peer) -> Session {
        let epoch = self.epoch.load(Ordering::Acquire);
        let clients = self.clients();
        let container = match (clients.needs_containers(), peer) {
            (true, Peer::Tcp(addr)) => self.directory.lookup_fresh(addr.ip()).await,
            _ => None,
        };
        let identity = Identity {
            listener: listener.clone(),
            peer,
            container,
        };
        let who = Arc::new(Who {
            assignment: clients.assign(&identity),
            identity,
        });
        Session {
            listener,
            peer,
            current: Mutex::new((epoch, who)),
        }
    }

    /// The session's client and grant as they stand now.
    pub fn current(&self, session: &Session) -> Arc<Who> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut current = session.current.lock().expect("never poisoned");
        if current.0 != epoch {
            let clients = self.clients();
            let container = match (clients.needs_containers(), session.peer) {
                (true, Peer::Tcp(addr)) => self.directory.lookup(addr.ip()),
                _ => None,
            };
            let identity = Identity {
                listener: session.listener.clone(),
                peer: session.peer,
                container,
            };
            *current = (
                epoch,
                Arc::new(Who {
                    assignment: clients.assign(&identity),
                    identity,
                }),
            );
        }
        current.1.clone()
    }

    /// Puts `clients` in force for every next request; returns what changed, for the log.
    pub fn replace(&self, clients: Clients) -> String {
        let old = self.clients();
        let changes = changes(&old, &clients);
        let needs_containers = clients.needs_containers();
        *self.clients.write().expect("never poisoned") = Arc::new(clients);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if needs_containers {
            self.directory.start(self.cancel.clone());
        }
        changes
    }

    /// The container at an address, as the directory knows it now (for tests and tools).
    pub fn container_at(&self, ip: IpAddr) -> Option<Arc<crate::clients::Container>> {
        self.directory.lookup(ip)
    }
}

/// `profiles added: a; removed: b; changed: c; rules: 3 → 4`, or `nothing changed`.
fn changes(old: &Clients, new: &Clients) -> String {
    let names = |c: &Clients| -> BTreeSet<String> { c.profiles.keys().cloned().collect() };
    let (before, after) = (names(old), names(new));
    let added: Vec<&String> = after.difference(&before).collect();
    let removed: Vec<&String> = before.difference(&after).collect();
    let changed: Vec<&String> = before
        .intersection(&after)
        .filter(|n| old.profiles[*n] != new.profiles[*n])
        .collect();
    let mut parts = vec![];
    let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    if !added.is_empty() {
        parts.push(format!("profiles added: {}", list(&added)));
    }
    if !removed.is_empty() {
        parts.push(format!("profiles removed: {}", list(&removed)));
    }
    if !changed.is_empty() {
        parts.push(format!("profiles changed: {}", list(&changed)));
    }
    if old.rules != new.rules {
        parts.push(format!("rules: {} → {}", old.rules.len(), new.rules.len()));
    }
    if old.profile_label != new.profile_label {
        parts.push(format!("profile_label: {}", new.profile_label));
    }
    if parts.is_empty() {
        "nothing changed".into()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    fn clients(profiles: &[(&str, Profile)]) -> Clients {
        let mut clients = Clients::env_only(Profile::defaults());
        for (name, profile) in profiles {
            clients
                .profiles
                .insert(name.to_string(), Arc::new(profile.clone()));
        }
        clients
    }

    #[test]
    fn a_reload_says_what_changed() {
        let old = clients(&[("a", Profile::defaults()), ("b", Profile::defaults())]);
        let new = clients(&[("b", Profile::nothing()), ("c", Profile::defaults())]);
        assert_eq!(
            changes(&old, &new),
            "profiles added: c; profiles removed: a; profiles changed: b"
        );
        assert_eq!(changes(&old, &old), "nothing changed");
    }

    #[tokio::test]
    async fn a_session_is_judged_by_the_rules_in_force_at_each_request() {
        let upstream = Upstream::new(std::path::Path::new("/nonexistent/docker.sock"));
        let sessions = Sessions::new(clients(&[]), upstream, CancellationToken::new());
        let peer = Peer::Tcp("127.0.0.1:4000".parse().unwrap());
        let session = sessions.open("tcp://127.0.0.1:2375".into(), peer).await;
        assert_eq!(sessions.current(&session).profile(), None);
        let mut next = clients(&[("local", Profile::nothing())]);
        next.from_file = true;
        next.rules.push(crate::clients::Rule {
            matchers: vec![crate::clients::Matcher::Cidr(
                "127.0.0.1/32".parse().unwrap(),
            )],
            profile: "local".into(),
            line: 1,
        });
        sessions.replace(next);
        let now = sessions.current(&session);
        assert_eq!(now.profile(), Some("local"));
        assert_eq!(*now.assignment.profile, Profile::nothing());
    }
}
