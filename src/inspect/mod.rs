//! Request bodies and query strings that decide privilege, judged before anything is forwarded.
//!
//! With `CONTAINERS=1 POST=1` a client may create containers, but not ones that own the host:
//! privileged mode, host namespaces, added capabilities, devices, weakened confinement and host
//! mounts each need their own variable. What a body means is what the engine's decoder makes of
//! it, for every API version it still serves (docs/body-policy.md has the table, from moby's
//! source): HostConfig fields at the top level of a create body, a HostConfig in a legacy start
//! body, every local volume option, and objects a request borrows from (`container:` modes,
//! `VolumesFrom`, networks and volumes by name or id) are judged as what they give.
//!
//! Pure: a request, a grant and [`Facts`] in; a [`Judgement`] out. A request that borrows from
//! an object not in the facts comes back with it in `unresolved`; the caller asks the engine and
//! judges again. Every finding is collected, so one refusal names all of them.

pub mod facts;
pub mod json;
pub mod paths;
mod query;

mod container;
mod service;
mod volume;

use crate::api::Inspection;
use crate::needs::{Grant, Item, Needs};
pub use facts::{EngineDefaults, Facts, Ref};
use json::{Ambiguous, Json};
use paths::Prefix;

/// The body-level switches, from `ALLOW_PRIVILEGED` and its siblings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyPolicy {
    pub privileged: bool,
    pub host_namespaces: bool,
    pub devices: bool,
    pub security_opts: bool,
    pub remote_fetch: bool,
    /// Capabilities `CapAdd` may name, normalised (`NET_ADMIN`); `ALL` allows any.
    pub caps: Vec<String>,
    pub bind_mounts: Vec<Prefix>,
}

impl BodyPolicy {
    /// Every switch on, every capability, the whole host: what the HAProxy proxies allow with
    /// `POST=1`, and the grant the fuzzer and property tests hold the strict one against.
    pub fn everything() -> BodyPolicy {
        BodyPolicy {
            privileged: true,
            host_namespaces: true,
            devices: true,
            security_opts: true,
            remote_fetch: true,
            caps: vec!["ALL".into()],
            bind_mounts: vec![Prefix::parse("/").expect("/ is a prefix")],
        }
    }
}

/// `net_admin`, `CAP_NET_ADMIN` → `NET_ADMIN`, as the engine normalises them.
pub fn normalise_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

/// One thing a request asks for that its grant does not name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// A whole sentence in the client's words, naming the field and what would allow it.
    pub text: String,
    pub needs: Item,
}

/// The request as inspection sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub inspection: Inspection,
    /// The object the path names (`/containers/{id}/exec` → `id`), if the route has one.
    pub subject: Option<&'a str>,
    pub query: &'a str,
    /// The parsed body, for routes whose body is judged.
    pub body: Option<&'a Json>,
}

/// What judging found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    pub findings: Vec<Finding>,
    /// Objects to ask the engine about before the judgement is final.
    pub unresolved: Vec<Ref>,
}

impl Judgement {
    /// Everything that would allow the request; none when a finding no grant allows is there.
    pub fn needs(&self) -> Needs {
        if self.findings.iter().any(|f| f.needs.choices.is_empty()) {
            return Needs::none();
        }
        let mut needs = Needs::none();
        for finding in &self.findings {
            needs.push(finding.needs.clone());
        }
        needs
    }

    /// The refusal's text: the one finding as it is, or all of them with what allows them all.
    pub fn message(&self) -> String {
        match self.findings.as_slice() {
            [] => String::new(),
            [one] => one.text.clone(),
            many if self.needs().is_empty() => {
                let texts: Vec<&str> = many.iter().map(|f| f.text.as_str()).collect();
                format!(
                    "{} problems: {}. No grant allows all of it",
                    many.len(),
                    texts.join(". ")
                )
            }
            many => {
                let texts: Vec<&str> = many.iter().map(|f| f.text.as_str()).collect();
                let all: Vec<String> = self
                    .needs()
                    .first_choices()
                    .iter()
                    .map(|g| g.to_string())
                    .collect();
                format!(
                    "{} problems: {}. To allow all of it: {}",
                    many.len(),
                    texts.join(". "),
                    all.join(" ")
                )
            }
        }
    }
}

/// Judges one request. Ambiguity (a body the engine could read another way) does not depend on
/// the grant or the facts: the whole request is read before any finding counts.
pub fn judge(
    request: Request<'_>,
    policy: &BodyPolicy,
    facts: &Facts,
) -> Result<Judgement, Ambiguous> {
    let mut judge = Judge {
        policy,
        facts,
        judgement: Judgement::default(),
        borrowing: vec![],
    };
    judge.request(request)?;
    Ok(judge.judgement)
}

/// Parses a body for [`judge`], refusing what the engine could read differently; `None` when
/// the route judges no body, or a start comes without one (as every client's since API 1.24).
pub fn parse_body(inspection: Inspection, body: &[u8]) -> Result<Option<Json>, Ambiguous> {
    if !inspection.reads_body() || (body.is_empty() && inspection == Inspection::ContainerStart) {
        return Ok(None);
    }
    json::parse(body).map(Some)
}

/// [`parse_body`] and [`judge`] in one, for callers that hold bytes (tests, fuzzing).
pub fn check(
    inspection: Inspection,
    subject: Option<&str>,
    query: &str,
    body: &[u8],
    policy: &BodyPolicy,
    facts: &Facts,
) -> Result<Judgement, Ambiguous> {
    let parsed = parse_body(inspection, body)?;
    let request = Request {
        inspection,
        subject,
        query,
        body: parsed.as_ref(),
    };
    judge(request, policy, facts)
}

/// The walk over one request, collecting findings.
pub(crate) struct Judge<'a> {
    policy: &'a BodyPolicy,
    facts: &'a Facts,
    judgement: Judgement,
    /// Containers being judged as borrowed, outermost first: a cycle is judged once.
    borrowing: Vec<String>,
}

impl<'a> Judge<'a> {
    fn request(&mut self, request: Request<'_>) -> Result<(), Ambiguous> {
        let body = request.body.unwrap_or(&Json::Null);
        match request.inspection {
            Inspection::ContainerCreate => {
                self.create_body(body)?;
            }
            // Before API 1.24 a start body is a whole HostConfig, decoded like a create body.
            Inspection::ContainerStart => {
                self.create_body(body)?;
                self.start_query(request.query)?;
            }
            Inspection::ContainerUpdate => self.resources(body, "")?,
            Inspection::ExecCreate => {
                self.flag(body, "", "Privileged", "ALLOW_PRIVILEGED", self.policy.privileged)?;
                self.borrowed_subject(request.subject, "an exec", Aspects::ALL);
            }
            Inspection::IntoContainer => {
                self.borrowed_subject(request.subject, "reaching into a container", Aspects::ALL)
            }
            Inspection::VolumeCreate => self.volume_create(body)?,
            Inspection::ServiceSpec => self.service_spec(body)?,
            Inspection::NetworkConnect => {
                if let Some(network) = request.subject {
                    self.network(network, &format!("POST /networks/{network}/connect"));
                }
            }
            Inspection::Build => self.build_query(request.query)?,
            Inspection::ImageCreate => self.image_create_query(request.query)?,
            Inspection::PluginInstall => self.refuse(
                "installing or configuring a plugin (plugins run as root) is not allowed; set ALLOW_PRIVILEGED=1"
                    .into(),
                Grant::on("ALLOW_PRIVILEGED"),
                self.policy.privileged,
            ),
        }
        Ok(())
    }

    /// Records a finding unless `granted`.
    /// A finding no grant allows.
    fn forbid(&mut self, text: String) {
        if !self.judgement.findings.iter().any(|f| f.text == text) {
            let needs = Item { choices: vec![] };
            self.judgement.findings.push(Finding { text, needs });
        }
    }

    /// Labels dockgate reserves: a client's own `dockgate.profile` label would choose its grant,
    /// so a client that may create containers could label itself into more.
    fn reserved_labels(&mut self, object: &Json, at: &str) -> Result<(), Ambiguous> {
        let Some(labels) = object.field(at, "Labels")? else {
            return Ok(());
        };
        let what = path(at, "Labels");
        for (key, _) in labels.as_map(&what)? {
            if key
                .to_ascii_lowercase()
                .starts_with(crate::clients::LABEL_PREFIX)
            {
                self.forbid(format!(
                    "{what} {key:?} is refused: dockgate.* labels choose client grants, so only \
                     the operator sets them, on the host (compose, docker run), never through \
                     dockgate"
                ));
            }
        }
        Ok(())
    }

    fn refuse(&mut self, text: String, grant: Grant, granted: bool) {
        if granted {
            return;
        }
        let needs = Item::one(grant);
        if !self
            .judgement
            .findings
            .iter()
            .any(|f| f.text == text && f.needs == needs)
        {
            self.judgement.findings.push(Finding { text, needs });
        }
    }

    fn unresolved(&mut self, what: Ref) {
        if !self.judgement.unresolved.contains(&what) {
            self.judgement.unresolved.push(what);
        }
    }

    /// A boolean field that needs a variable when true.
    fn flag(
        &mut self,
        object: &Json,
        at: &str,
        field: &str,
        var: &'static str,
        granted: bool,
    ) -> Result<(), Ambiguous> {
        let what = path(at, field);
        if let Some(value) = object.field(at, field)? {
            if value.as_bool(&what)? {
                self.refuse(
                    format!("{what}=true is not allowed; set {var}=1"),
                    Grant::on(var),
                    granted,
                );
            }
        }
        Ok(())
    }

    /// Mounting a host path, judged against `ALLOW_BIND_MOUNTS`.
    fn host_path(&mut self, what: String, source: &str, read_only: bool) {
        use paths::PathVerdict;
        let clean = paths::clean_text(source);
        let wanted = if read_only {
            format!("{clean}:ro")
        } else {
            clean.clone()
        };
        let (text, grant) = match paths::judge(&self.policy.bind_mounts, source, read_only) {
            PathVerdict::Allowed => return,
            PathVerdict::ReadOnlyWouldDo => (
                format!("{what} mounts host path {source} read-write; ALLOW_BIND_MOUNTS allows it read-only"),
                Grant::value("ALLOW_BIND_MOUNTS", clean),
            ),
            PathVerdict::BelowWritable(writable) => (
                format!(
                    "{what} mounts host path {source}, which lies below {writable}: ALLOW_BIND_MOUNTS lets \
                     clients write there, so it could be a link to anywhere on the host; mount {writable} \
                     itself, or grant {writable}:ro"
                ),
                Grant::value("ALLOW_BIND_MOUNTS", format!("{writable}:ro")),
            ),
            PathVerdict::NotAllowed => (
                format!("{what} mounts host path {source}, which is not allowed; add it to ALLOW_BIND_MOUNTS"),
                Grant::value("ALLOW_BIND_MOUNTS", wanted),
            ),
        };
        self.refuse(text, grant, false);
    }
}

/// `HostConfig.` + `Privileged`, or just the field at the top level.
fn path(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_string()
    } else {
        format!("{at}.{field}")
    }
}

/// What a request takes from a container it borrows from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Aspects {
    network: bool,
    pid: bool,
    ipc: bool,
    mounts: bool,
    /// Privilege, capabilities, devices, confinement: what a process inside it has.
    process: bool,
}

impl Aspects {
    /// Running in it (exec, attach, archive): everything it has.
    const ALL: Aspects = Aspects {
        network: true,
        pid: true,
        ipc: true,
        mounts: true,
        process: true,
    };
    const NETWORK: Aspects = Aspects {
        network: true,
        pid: false,
        ipc: false,
        mounts: false,
        process: false,
    };
    /// Its processes, and through `/proc/PID/root` their mounts.
    const PID: Aspects = Aspects {
        network: false,
        pid: true,
        ipc: false,
        mounts: true,
        process: true,
    };
    const IPC: Aspects = Aspects {
        network: false,
        pid: false,
        ipc: true,
        mounts: false,
        process: false,
    };
    const MOUNTS: Aspects = Aspects {
        network: false,
        pid: false,
        ipc: false,
        mounts: true,
        process: false,
    };
}

#[cfg(test)]
mod tests;
