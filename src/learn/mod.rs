//! Learn mode: per client, what its grant refused (or, in warn and learn mode, would have
//! refused) and the smallest grant that would have allowed all of it, rendered as the operator
//! pastes it: an `environment:` block for the compose file and a profile for the config file.
//!
//! Only refusals reach here, so an allowed request costs nothing. What is kept is bounded (per
//! client, and in clients), since a client chooses its paths and so the needs it makes.

mod grant;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use hyper::Method;

pub use grant::Minimal;

use crate::access::Peer;
use crate::clients::DEFAULT_PROFILE;
use crate::needs::Item;
use crate::policy::Flag;
use crate::profile::Profile;
use crate::refusal::Refusal;
use crate::session::Who;

/// What happens to a request its grant refuses but some grant would allow (`MODE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Refused.
    #[default]
    Enforce,
    /// Logged at warn as `decision=warn` with what would allow it, and forwarded.
    Warn,
    /// As warn, and the learned grants are printed at exit too.
    Learn,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text.to_ascii_lowercase().as_str() {
            "enforce" => Some(Mode::Enforce),
            "warn" => Some(Mode::Warn),
            "learn" => Some(Mode::Learn),
            _ => None,
        }
    }

    /// Whether a refusal some grant would lift lets the request go on.
    pub fn forwards(self) -> bool {
        self != Mode::Enforce
    }
}

/// Clients kept; refusals from more are counted only.
const MAX_CLIENTS: usize = 1024;
/// Distinct needs kept per client.
const MAX_ITEMS: usize = 256;
/// Requests no grant allows kept per client.
const MAX_NO_GRANT: usize = 32;

/// The needs collected so far, by client.
#[derive(Debug, Default)]
pub struct Learned {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    clients: BTreeMap<Key, Seen>,
    /// Refusals not kept because of the bounds.
    dropped: u64,
}

/// A client as the summary names it, and the profile it was judged by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    client: Client,
    profile: Option<String>,
}

/// Who asked, as a config file's rule would match it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Client {
    Container(String),
    /// A TCP address, port left out: every connection of a client is one client.
    Address(std::net::IpAddr),
    /// A unix-socket client, by its uid, else by the listener it came in on.
    Unix {
        uid: Option<u32>,
        listener: String,
    },
}

#[derive(Debug)]
struct Seen {
    /// The grant it had at its latest refusal.
    base: Arc<Profile>,
    refused: u64,
    items: Vec<Item>,
    no_grant: Vec<String>,
}

/// One client's findings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientGrant {
    /// Its container's name, address or unix credentials.
    pub client: String,
    pub profile: Option<String>,
    /// Refusals, made or (warn, learn) waived; a request refused on its route and its body
    /// counts twice.
    pub refused: u64,
    /// What to set over its grant.
    pub minimal: Minimal,
    /// Its whole grant with that set, as differences from the defaults (`NAME`, value).
    pub grant: Vec<(&'static str, String)>,
    /// Requests no grant allows: `GET /debug/pprof/ (403 ...)`.
    pub no_grant: Vec<String>,
    profile_block: String,
}

impl Learned {
    /// Records one refusal of `who`'s request, waived or not.
    pub fn record(&self, who: &Who, method: &Method, path: &str, refusal: &Refusal) {
        let key = Key {
            client: match (who.container(), who.identity.peer) {
                (Some(name), _) => Client::Container(name.to_string()),
                (None, Peer::Tcp(addr)) => Client::Address(addr.ip()),
                (None, Peer::Unix { uid, .. }) => Client::Unix {
                    uid,
                    listener: who.identity.listener.to_string(),
                },
            },
            profile: who.profile().map(str::to_string),
        };
        let mut state = self.state.lock().expect("never poisoned");
        if !state.clients.contains_key(&key) && state.clients.len() >= MAX_CLIENTS {
            state.dropped += 1;
            return;
        }
        let seen = state.clients.entry(key).or_insert_with(|| Seen {
            base: who.assignment.profile.clone(),
            refused: 0,
            items: vec![],
            no_grant: vec![],
        });
        seen.refused += 1;
        seen.base = who.assignment.profile.clone();
        let mut kept = true;
        if refusal.needs.is_empty() {
            let line = format!(
                "{method} {path} ({} {})",
                refusal.status.as_u16(),
                refusal.message
            );
            if !seen.no_grant.contains(&line) {
                kept = seen.no_grant.len() < MAX_NO_GRANT;
                if kept {
                    seen.no_grant.push(line);
                }
            }
        }
        for item in &refusal.needs.items {
            if !seen.items.contains(item) {
                kept &= seen.items.len() < MAX_ITEMS;
                if seen.items.len() < MAX_ITEMS {
                    seen.items.push(item.clone());
                }
            }
        }
        if !kept {
            state.dropped += 1;
        }
    }

    /// Each client's findings, in the order of their names.
    pub fn clients(&self) -> Vec<ClientGrant> {
        let state = self.state.lock().expect("never poisoned");
        state
            .clients
            .iter()
            .map(|(key, seen)| client_grant(key, seen))
            .collect()
    }

    /// The summary printed on SIGUSR1 and at exit, and served at the admin endpoint's `/learned`.
    pub fn summary(&self, mode: Mode) -> String {
        let clients = self.clients();
        let dropped = self.state.lock().expect("never poisoned").dropped;
        let mut out = format!(
            "learned (MODE={}): {} with refused requests",
            match mode {
                Mode::Enforce => "enforce",
                Mode::Warn => "warn",
                Mode::Learn => "learn",
            },
            match clients.len() {
                1 => "1 client".to_string(),
                n => format!("{n} clients"),
            }
        );
        if dropped > 0 {
            let _ = write!(
                out,
                " ({dropped} refusals past the bounds of what is kept are not in it)"
            );
        }
        out.push('\n');
        for client in &clients {
            out.push_str(&client.render());
        }
        out
    }
}

impl ClientGrant {
    /// The client's part of the summary.
    pub fn render(&self) -> String {
        let mut out = format!("client {}", self.client);
        if let Some(profile) = &self.profile {
            let _ = write!(out, " (profile {profile})");
        }
        let _ = writeln!(out, ": {} refusals", self.refused);
        if self.minimal.set.is_empty() {
            out.push_str("  its grant needs nothing more\n");
        } else {
            let set: Vec<String> = self.minimal.set.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  to allow all of it, set {}", set.join(" "));
            if self
                .profile
                .as_deref()
                .map_or(true, |p| p == DEFAULT_PROFILE)
            {
                out.push_str("  in the compose file:\n    environment:\n");
                for (name, value) in &self.grant {
                    let value = serde_json::Value::String(value.clone());
                    let _ = writeln!(out, "      {name}: {value}");
                }
            }
            out.push_str("  or in the config file:\n");
            for line in self.profile_block.lines() {
                match line {
                    "" => out.push('\n'),
                    line => {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
        }
        for why in &self.minimal.uncovered {
            let _ = writeln!(out, "  not covered: {why}");
        }
        if !self.no_grant.is_empty() {
            let _ = writeln!(
                out,
                "  no grant allows these ({}), in any mode:",
                self.no_grant.len()
            );
            for line in &self.no_grant {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }
}

fn client_grant(key: &Key, seen: &Seen) -> ClientGrant {
    let mut minimal = grant::minimal(&seen.items, &seen.base);
    let set = minimal.set.iter().map(|g| (g.var, g.value.as_str()));
    let whole = match crate::config::grant::apply(&seen.base, set) {
        Ok(whole) => whole,
        Err((name, e)) => {
            minimal.uncovered.push(format!("{name}: {e}"));
            (*seen.base).clone()
        }
    };
    let grant: Vec<(&'static str, String)> = whole
        .entries()
        .into_iter()
        .filter(|(name, value)| !(value == "1" && default_on(name)))
        .collect();
    ClientGrant {
        client: match &key.client {
            Client::Container(name) => name.clone(),
            Client::Address(ip) => ip.to_string(),
            Client::Unix { uid: Some(uid), .. } => format!("unix:uid={uid}"),
            Client::Unix { listener, .. } => listener.clone(),
        },
        profile: key.profile.clone(),
        refused: seen.refused,
        profile_block: profile_block(key, &minimal, &grant),
        minimal,
        grant,
        no_grant: seen.no_grant.clone(),
    }
}

fn default_on(name: &str) -> bool {
    Flag::all().any(|f| f.default_on() && f.var() == name)
}

/// `[profiles.NAME]` with the whole grant, and the rule that gives it to the client when it has
/// none of its own: a preset's client gets the preset and what to add to it.
fn profile_block(key: &Key, minimal: &Minimal, grant: &[(&'static str, String)]) -> String {
    let own = key
        .profile
        .as_deref()
        .filter(|p| *p != DEFAULT_PROFILE && crate::presets::get(p).is_none());
    let name = match (own, &key.client) {
        (Some(profile), _) => profile.to_string(),
        (None, Client::Container(name)) => name.clone(),
        (None, Client::Address(ip)) => format!("client-{ip}").replace(['.', ':'], "-"),
        (None, Client::Unix { uid: Some(uid), .. }) => format!("uid-{uid}"),
        (None, Client::Unix { .. }) => "unix".into(),
    };
    let mut out = format!("[profiles.{}]\n", toml_key(&name));
    let preset = key
        .profile
        .as_deref()
        .filter(|p| crate::presets::get(p).is_some());
    let entries: Vec<(&str, &str)> = match preset {
        Some(preset) => {
            let _ = writeln!(out, "preset = {}", toml_string(preset));
            minimal
                .set
                .iter()
                .map(|g| (g.var, g.value.as_str()))
                .collect()
        }
        None => grant.iter().map(|(n, v)| (*n, v.as_str())).collect(),
    };
    for (name, value) in entries {
        let value = match value {
            "1" | "0" => value.to_string(),
            text => toml_string(text),
        };
        let _ = writeln!(out, "{name} = {value}");
    }
    if own.is_none() {
        let rule = match &key.client {
            Client::Container(name) => format!("container = {}", toml_string(name)),
            Client::Address(ip) => {
                let bits = if ip.is_ipv4() { 32 } else { 128 };
                format!("cidr = \"{ip}/{bits}\"")
            }
            Client::Unix { uid: Some(uid), .. } => format!("uid = {uid}"),
            // No credentials to match on: only its listener tells it apart.
            Client::Unix { listener, .. } => format!("listener = {}", toml_string(listener)),
        };
        let _ = write!(
            out,
            "\n[[clients]]\n{rule}\nprofile = {}\n",
            toml_string(&name)
        );
    }
    out
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A bare key where TOML allows one, else a quoted one.
fn toml_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        name.to_string()
    } else {
        toml_string(name)
    }
}

#[cfg(test)]
mod tests;
