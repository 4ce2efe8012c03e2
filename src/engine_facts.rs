//! Asks the engine what a request's judgement depends on: its defaults (`/info`, `/version`),
//! and the containers, networks and volumes a request borrows from. dockgate already holds the
//! socket; these are read-only GETs on the client connection's own engine connection (idle until
//! the request is forwarded), made only for requests that borrow or that the strictest defaults
//! would refuse, never on the path of an ordinary request.

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::{Request, StatusCode};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use tokio::sync::OnceCell;

use crate::inspect::facts::{ContainerFacts, NetworkFacts, VolumeFacts};
use crate::inspect::json::{self, Json};
use crate::inspect::{EngineDefaults, Facts, Ref};
use crate::upstream::{EngineLink, UpstreamError};

/// Who asks, in the engine's logs (and for tests that tell dockgate's lookups from requests).
pub const USER_AGENT: &str = concat!("dockgate/", env!("CARGO_PKG_VERSION"));

/// The largest engine answer read for a lookup; inspect output is a few KiB.
const MAX_ANSWER: usize = 4 << 20;

/// Why a lookup failed; the request it was for is refused rather than judged on a guess.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("the engine answered GET {path} with {status}")]
    Status { path: String, status: StatusCode },
    #[error("the engine's answer to GET {path} could not be read: {why}")]
    Unreadable { path: String, why: String },
}

/// The engine's facts, with its defaults learnt once.
#[derive(Default)]
pub struct EngineFacts {
    defaults: OnceCell<EngineDefaults>,
}

impl EngineFacts {
    /// Facts holding the engine's defaults; an engine that cannot be asked now is held to the
    /// strictest defaults, and asked again next time.
    pub async fn facts(&self, link: &EngineLink) -> Facts {
        let defaults = match self.defaults.get_or_try_init(|| read_defaults(link)).await {
            Ok(defaults) => defaults.clone(),
            Err(error) => {
                tracing::debug!(%error, "engine defaults unknown; judging by the strictest");
                EngineDefaults::strictest()
            }
        };
        Facts::new(defaults)
    }

    /// Adds what the engine says of each of `refs` to `facts`.
    pub async fn resolve(
        &self,
        link: &EngineLink,
        facts: &mut Facts,
        refs: &[Ref],
    ) -> Result<(), LookupError> {
        for r in refs {
            match r {
                Ref::Container(name) => {
                    let path = format!("/containers/{}/json", encode(name));
                    let found = get(link, &path).await?;
                    let container = found
                        .map(|c| container_facts(&c, name))
                        .transpose()
                        .map_err(|why| LookupError::Unreadable { path, why })?;
                    facts.add_container(name, container);
                }
                Ref::Network(name) => {
                    let path = format!("/networks/{}", encode(name));
                    let found = get(link, &path).await?;
                    let network = found
                        .map(|n| network_facts(&n))
                        .transpose()
                        .map_err(|why| LookupError::Unreadable { path, why })?;
                    facts.add_network(name, network);
                }
                Ref::Volume(name) => {
                    let path = format!("/volumes/{}", encode(name));
                    let found = get(link, &path).await?;
                    let volume = found
                        .map(|v| volume_facts(&v))
                        .transpose()
                        .map_err(|why| LookupError::Unreadable { path, why })?;
                    facts.add_volume(name, volume);
                }
            }
        }
        Ok(())
    }
}

async fn read_defaults(link: &EngineLink) -> Result<EngineDefaults, LookupError> {
    let info = get(link, "/info")
        .await?
        .ok_or_else(|| LookupError::Status {
            path: "/info".into(),
            status: StatusCode::NOT_FOUND,
        })?;
    let version = get(link, "/version").await?;
    let text = |json: &Json, field: &str| -> Option<String> {
        match json.field("", field).ok()?? {
            Json::String(s) => Some(s.clone()),
            _ => None,
        }
    };
    let release = version.as_ref().and_then(|v| text(v, "Version"));
    let cgroup_v1 = text(&info, "CgroupVersion").as_deref() == Some("1");
    let runtime = text(&info, "DefaultRuntime").unwrap_or_else(|| "runc".into());
    Ok(EngineDefaults::for_release(
        release.as_deref(),
        cgroup_v1,
        &runtime,
    ))
}

fn encode(name: &str) -> String {
    utf8_percent_encode(name, NON_ALPHANUMERIC).to_string()
}

/// GETs `path`; `None` when the engine has no such object.
async fn get(link: &EngineLink, path: &str) -> Result<Option<Json>, LookupError> {
    let request = Request::get(path)
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .body(Either::Right(Full::new(Bytes::new())))
        .expect("a GET with a path is a valid request");
    let response = link.send(request).await?;
    let status = response.status();
    let unreadable = |why: String| LookupError::Unreadable {
        path: path.into(),
        why,
    };
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| unreadable(e.to_string()))?
        .to_bytes();
    match status {
        StatusCode::OK => json::parse(&body)
            .map(Some)
            .map_err(|e| unreadable(e.to_string())),
        StatusCode::NOT_FOUND => Ok(None),
        status => Err(LookupError::Status {
            path: path.into(),
            status,
        }),
    }
}

fn string(json: &Json, field: &str) -> Result<String, String> {
    match json.field("", field).map_err(|e| e.to_string())? {
        Some(Json::String(s)) => Ok(s.clone()),
        None => Ok(String::new()),
        Some(_) => Err(format!("{field} is not a string")),
    }
}

fn container_facts(inspect: &Json, asked: &str) -> Result<ContainerFacts, String> {
    let name = string(inspect, "Name")?;
    let name = name.strip_prefix('/').unwrap_or(&name);
    Ok(ContainerFacts {
        name: if name.is_empty() { asked } else { name }.to_string(),
        host_config: inspect
            .field("", "HostConfig")
            .map_err(|e| e.to_string())?
            .cloned()
            .unwrap_or(Json::Null),
    })
}

fn network_facts(inspect: &Json) -> Result<NetworkFacts, String> {
    Ok(NetworkFacts {
        name: string(inspect, "Name")?,
        driver: string(inspect, "Driver")?,
    })
}

fn volume_facts(inspect: &Json) -> Result<VolumeFacts, String> {
    let mut options = vec![];
    if let Some(map) = inspect.field("", "Options").map_err(|e| e.to_string())? {
        for (key, value) in map.as_map("Options").map_err(|e| e.to_string())? {
            let value = value.as_str("Options").map_err(|e| e.to_string())?;
            options.push((key.clone(), value.to_string()));
        }
    }
    Ok(VolumeFacts {
        driver: string(inspect, "Driver")?,
        options,
    })
}
