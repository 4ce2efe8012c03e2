//! The containers behind client addresses: listed from the engine when a rule needs them, and
//! kept current from the engine's event stream (start, die, rename, network connect/disconnect),
//! so telling which container a connection comes from is a map lookup, never a request.
//!
//! While the event stream is down the directory knows nothing: a client is then only its
//! address, and gets what an address gets (an address reused by another container must not
//! inherit the old one's grant).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::{Request, StatusCode};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::clients::{canonical, Container, LABEL_PREFIX};
use crate::engine_facts::USER_AGENT;
use crate::upstream::{EngineLink, Upstream};

/// The events that change which container has which address, name or labels.
const EVENTS: &str = "/events?filters=%7B%22type%22%3A%5B%22container%22%2C%22network%22%5D%7D";

/// The largest list answer read (a few KiB a container).
const MAX_LIST: usize = 64 << 20;

/// How long a burst of events (a compose project starting) is gathered before listing again.
const SETTLE: Duration = Duration::from_millis(100);

/// How long a connection from an unknown address waits for the directory to be listed again.
const MISS_WAIT: Duration = Duration::from_secs(2);

/// The containers by address.
pub struct Directory {
    upstream: Upstream,
    by_ip: RwLock<Option<HashMap<IpAddr, Arc<Container>>>>,
    /// Bumped on each change, so connections know to look again.
    epoch: Arc<AtomicU64>,
    running: AtomicBool,
    /// One re-list at a time; connections from unknown addresses wait on it.
    relist: tokio::sync::Mutex<()>,
    /// Addresses a fresh list did not know, until the next change: a host-network client's
    /// every connection would otherwise list the engine's containers again.
    misses: std::sync::Mutex<std::collections::HashSet<IpAddr>>,
}

impl Directory {
    pub fn new(upstream: Upstream, epoch: Arc<AtomicU64>) -> Directory {
        Directory {
            upstream,
            by_ip: RwLock::new(None),
            epoch,
            running: AtomicBool::new(false),
            relist: tokio::sync::Mutex::new(()),
            misses: Default::default(),
        }
    }

    /// The container at `ip`, from what is known now.
    pub fn lookup(&self, ip: IpAddr) -> Option<Arc<Container>> {
        self.by_ip
            .read()
            .expect("never poisoned")
            .as_ref()?
            .get(&canonical(ip))
            .cloned()
    }

    /// The container at `ip`; when none is known but the directory is live, lists once more
    /// (a container that started a moment ago), waiting at most [`MISS_WAIT`].
    pub async fn lookup_fresh(&self, ip: IpAddr) -> Option<Arc<Container>> {
        let ip = canonical(ip);
        if let Some(found) = self.lookup(ip) {
            return Some(found);
        }
        if self.by_ip.read().expect("never poisoned").is_none()
            || self.misses.lock().expect("never poisoned").contains(&ip)
        {
            return None;
        }
        let seen = self.epoch.load(Ordering::Acquire);
        let _ = tokio::time::timeout(MISS_WAIT, async {
            let _one = self.relist.lock().await;
            // Someone else listed while this waited: their answer is as fresh.
            if self.epoch.load(Ordering::Acquire) == seen {
                let link = self.upstream.link();
                if let Ok(map) = list(&link).await {
                    self.replace(Some(map));
                }
            }
        })
        .await;
        let found = self.lookup(ip);
        if found.is_none() {
            self.misses.lock().expect("never poisoned").insert(ip);
        }
        found
    }

    /// Starts following the engine, once; until `cancel`.
    pub fn start(self: &Arc<Self>, cancel: CancellationToken) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = this.follow() => {}
            }
        });
    }

    fn replace(&self, map: Option<HashMap<IpAddr, Arc<Container>>>) {
        *self.by_ip.write().expect("never poisoned") = map;
        self.misses.lock().expect("never poisoned").clear();
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    async fn follow(&self) {
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.follow_once().await {
                Ok(()) => tracing::warn!("the engine ended its event stream; client containers are unknown until it is back"),
                Err(why) => tracing::warn!("cannot follow the engine's events ({why}); client containers are unknown until it can"),
            }
            self.replace(None);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Subscribes to events first, then lists, so nothing that happens between is missed.
    async fn follow_once(&self) -> Result<(), String> {
        let events = self.upstream.link();
        let response = events.send(get(EVENTS)).await.map_err(|e| e.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(format!("GET /events answered {}", response.status()));
        }
        let link = self.upstream.link();
        self.replace(Some(list(&link).await?));
        tracing::debug!("following the engine's events for client containers");
        let mut body = response.into_body();
        let mut pending = Vec::new();
        loop {
            let frame = match body.frame().await {
                None => return Ok(()),
                Some(frame) => frame.map_err(|e| e.to_string())?,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            if !complete_events(&mut pending).into_iter().any(relevant) {
                continue;
            }
            // A burst (a compose project starting) comes as many events: gather them, list once.
            let _ = tokio::time::timeout(SETTLE, async {
                while let Some(Ok(frame)) = body.frame().await {
                    if let Ok(data) = frame.into_data() {
                        pending.extend_from_slice(&data);
                        complete_events(&mut pending);
                    }
                }
            })
            .await;
            let _one = self.relist.lock().await;
            self.replace(Some(list(&link).await?));
        }
    }
}

/// Takes the whole lines (one event each) off the front of `pending`.
fn complete_events(pending: &mut Vec<u8>) -> Vec<Event> {
    let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
        return vec![];
    };
    let lines: Vec<u8> = pending.drain(..=end).collect();
    lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Action", default)]
    action: String,
}

fn relevant(event: Event) -> bool {
    match event.kind.as_str() {
        "container" => matches!(
            event.action.as_str(),
            "start" | "die" | "destroy" | "rename" | "restart" | "unpause"
        ),
        "network" => matches!(event.action.as_str(), "connect" | "disconnect"),
        _ => false,
    }
}

fn get(path: &str) -> Request<crate::upstream::RequestBody> {
    Request::get(path)
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .body(Either::Right(Full::new(Bytes::new())))
        .expect("a GET with a path is a valid request")
}

#[derive(Deserialize)]
struct Listed {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Names", default)]
    names: Vec<String>,
    #[serde(rename = "Image", default)]
    image: String,
    #[serde(rename = "ImageID", default)]
    image_id: String,
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "NetworkSettings", default)]
    network_settings: Option<ListedNetworks>,
}

#[derive(Deserialize)]
struct ListedNetworks {
    #[serde(rename = "Networks", default)]
    networks: Option<BTreeMap<String, ListedEndpoint>>,
}

#[derive(Deserialize)]
struct ListedEndpoint {
    #[serde(rename = "IPAddress", default)]
    ip: String,
    #[serde(rename = "GlobalIPv6Address", default)]
    ipv6: String,
}

#[derive(Deserialize)]
struct ImageInspect {
    #[serde(rename = "Config", default)]
    config: Option<ImageConfig>,
}

#[derive(Deserialize)]
struct ImageConfig {
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

async fn read_json<T: for<'de> Deserialize<'de>>(
    link: &EngineLink,
    path: &str,
) -> Result<T, String> {
    let response = link.send(get(path)).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_LIST)
        .collect()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(format!("GET {path} answered {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}"))
}

/// The running containers by each of their addresses.
async fn list(link: &EngineLink) -> Result<HashMap<IpAddr, Arc<Container>>, String> {
    let listed: Vec<Listed> = read_json(link, "/containers/json").await?;
    let mut image_labels: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut map = HashMap::new();
    for c in listed {
        let labels = c.labels.unwrap_or_default();
        let mut own = BTreeMap::new();
        let ours: Vec<(&String, &String)> = labels
            .iter()
            .filter(|(k, _)| k.starts_with(LABEL_PREFIX))
            .collect();
        if !ours.is_empty() {
            if !image_labels.contains_key(&c.image_id) {
                let path = format!("/images/{}/json", c.image_id);
                let inherited = read_json::<ImageInspect>(link, &path)
                    .await?
                    .config
                    .and_then(|c| c.labels)
                    .unwrap_or_default();
                image_labels.insert(c.image_id.clone(), inherited);
            }
            let inherited = &image_labels[&c.image_id];
            for (k, v) in ours {
                if inherited.get(k) != Some(v) {
                    own.insert(k.clone(), v.clone());
                }
            }
        }
        let name = c
            .names
            .first()
            .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
            .unwrap_or_else(|| c.id.chars().take(12).collect());
        let container = Arc::new(Container {
            id: c.id,
            name,
            image: c.image,
            labels,
            own_dockgate_labels: own,
        });
        let endpoints = c
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default();
        for endpoint in endpoints.values() {
            for ip in [&endpoint.ip, &endpoint.ipv6] {
                if let Ok(ip) = ip.parse::<IpAddr>() {
                    map.insert(ip, container.clone());
                }
            }
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_taken_whole_lines_at_a_time() {
        let mut pending = br#"{"Type":"container","Action":"start"}
{"Type":"network","Action":"connect"}
{"Type":"container","Act"#
            .to_vec();
        let events = complete_events(&mut pending);
        assert_eq!(events.len(), 2);
        assert_eq!(pending, br#"{"Type":"container","Act"#);
        pending.extend_from_slice(b"ion\":\"exec_create: sh\"}\n");
        let events = complete_events(&mut pending);
        assert!(pending.is_empty());
        assert!(
            !events.into_iter().any(relevant),
            "an exec changes no address"
        );
    }

    #[test]
    fn what_changes_an_address_name_or_label_is_relevant() {
        let event = |kind: &str, action: &str| Event {
            kind: kind.into(),
            action: action.into(),
        };
        for (kind, action) in [
            ("container", "start"),
            ("container", "die"),
            ("container", "rename"),
            ("network", "connect"),
            ("network", "disconnect"),
        ] {
            assert!(relevant(event(kind, action)), "{kind} {action}");
        }
        for (kind, action) in [
            ("container", "exec_start: sh"),
            ("image", "pull"),
            ("volume", "create"),
        ] {
            assert!(!relevant(event(kind, action)), "{kind} {action}");
        }
    }
}
