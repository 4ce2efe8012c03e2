//! Request bodies and query strings that decide privilege, judged before anything is forwarded.
//!
//! With `CONTAINERS=1 POST=1` a client may create containers, but not ones that own the host:
//! privileged mode, host namespaces, added capabilities, devices, weakened confinement and host
//! bind mounts each need their own variable. Pure: bytes and policy in, a verdict out.

pub mod json;
pub mod paths;
mod query;

use crate::api::{Method, Route, Section, Seg};
use json::{Ambiguous, Json};
use paths::Prefix;

/// The body-level switches, from `ALLOW_PRIVILEGED` and its siblings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyPolicy {
    pub privileged: bool,
    pub host_namespaces: bool,
    pub devices: bool,
    pub security_opts: bool,
    pub remote_fetch: bool,
    /// Capabilities `CapAdd` may name, normalised (`NET_ADMIN`); `ALL` allows any.
    pub caps: Vec<String>,
    pub bind_mounts: Vec<Prefix>,
    /// The largest body read for inspection.
    pub max_body: usize,
}

impl Default for BodyPolicy {
    fn default() -> BodyPolicy {
        BodyPolicy {
            privileged: false,
            host_namespaces: false,
            devices: false,
            security_opts: false,
            remote_fetch: false,
            caps: vec![],
            bind_mounts: vec![],
            max_body: 1 << 20,
        }
    }
}

/// `net_admin`, `CAP_NET_ADMIN` → `NET_ADMIN`, as the engine normalises them.
pub fn normalise_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

/// What dockgate reads of a route before forwarding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inspection {
    ContainerCreate,
    ContainerUpdate,
    ExecCreate,
    VolumeCreate,
    ServiceSpec,
    Build,
    ImageCreate,
    PluginInstall,
}

impl Inspection {
    /// Whether the JSON body must be read; the others are judged on the query alone (their
    /// bodies are tar streams or nothing).
    pub fn reads_body(self) -> bool {
        matches!(
            self,
            Inspection::ContainerCreate
                | Inspection::ContainerUpdate
                | Inspection::ExecCreate
                | Inspection::VolumeCreate
                | Inspection::ServiceSpec
        )
    }
}

/// The inspection a route needs, if any.
pub fn inspection(section: Section, route: &Route) -> Option<Inspection> {
    use Seg::{Lit as L, Rest as R, Var as V};
    if route.method != Method::Post {
        return None;
    }
    Some(match (section, route.pattern) {
        (Section::Containers, [L("create")]) => Inspection::ContainerCreate,
        (Section::Containers, [V, L("update")]) => Inspection::ContainerUpdate,
        (Section::Containers, [V, L("exec")]) => Inspection::ExecCreate,
        (Section::Volumes, [L("create")]) => Inspection::VolumeCreate,
        (Section::Services, [L("create")] | [V, L("update")]) => Inspection::ServiceSpec,
        (Section::Build, []) => Inspection::Build,
        (Section::Images, [L("create")]) => Inspection::ImageCreate,
        (Section::Plugins, [L("pull")] | [L("create")] | [R, L("upgrade")] | [R, L("set")]) => {
            Inspection::PluginInstall
        }
        _ => return None,
    })
}

/// A refused body or query: 403 with the variable that would allow it, or 400 when the request
/// could be read two ways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyRefusal {
    pub status: u16,
    pub message: String,
    /// The variable to set, for the log.
    pub needs: String,
}

impl From<Ambiguous> for BodyRefusal {
    fn from(why: Ambiguous) -> BodyRefusal {
        BodyRefusal {
            status: 400,
            message: why.to_string(),
            needs: String::new(),
        }
    }
}

fn needs(what: impl std::fmt::Display, var: &str) -> BodyRefusal {
    BodyRefusal {
        status: 403,
        message: format!("{what} is not allowed; set {var}=1"),
        needs: var.into(),
    }
}

type Verdict = Result<(), BodyRefusal>;

/// Judges the query string of an inspected route.
pub fn check_query(inspection: Inspection, query: &str, policy: &BodyPolicy) -> Verdict {
    let ambiguous = |why: String| BodyRefusal {
        status: 400,
        message: why,
        needs: String::new(),
    };
    match inspection {
        Inspection::Build => {
            for (key, value) in
                query::first_values(query, &["networkmode", "remote", "cgroupparent"])
                    .map_err(ambiguous)?
            {
                match key {
                    "networkmode" if value == "host" && !policy.host_namespaces => {
                        return Err(needs(
                            "POST /build?networkmode=host",
                            "ALLOW_HOST_NAMESPACES",
                        ))
                    }
                    "remote" if !value.is_empty() && !policy.remote_fetch => {
                        return Err(needs(
                            "POST /build?remote= (the engine fetches a URL)",
                            "ALLOW_REMOTE_FETCH",
                        ))
                    }
                    "cgroupparent" if !value.is_empty() && !policy.security_opts => {
                        return Err(needs("POST /build?cgroupparent=", "ALLOW_SECURITY_OPTS"))
                    }
                    _ => {}
                }
            }
        }
        Inspection::ImageCreate => {
            for (_, value) in query::first_values(query, &["fromSrc"]).map_err(ambiguous)? {
                if !value.is_empty() && value != "-" && !policy.remote_fetch {
                    return Err(needs(
                        "POST /images/create?fromSrc=<url> (the engine fetches a URL)",
                        "ALLOW_REMOTE_FETCH",
                    ));
                }
            }
        }
        Inspection::PluginInstall if !policy.privileged => {
            return Err(needs(
                "installing or configuring a plugin (plugins run as root)",
                "ALLOW_PRIVILEGED",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Judges the JSON body of an inspected route.
pub fn check_body(inspection: Inspection, body: &[u8], policy: &BodyPolicy) -> Verdict {
    let body = json::parse(body)?;
    let judge = Judge { policy };
    match inspection {
        Inspection::ContainerCreate => match body.field("", "HostConfig")? {
            Some(host) => judge.host_config(host),
            None => Ok(()),
        },
        Inspection::ContainerUpdate => judge.resources(&body, ""),
        Inspection::ExecCreate => judge.privileged(&body, "Privileged"),
        Inspection::VolumeCreate => judge.volume_create(&body),
        Inspection::ServiceSpec => judge.service_spec(&body),
        Inspection::Build | Inspection::ImageCreate | Inspection::PluginInstall => Ok(()),
    }
}

struct Judge<'a> {
    policy: &'a BodyPolicy,
}

/// `HostConfig.` + `Privileged`, or just the field at the top level.
fn path(where_: &str, field: &str) -> String {
    if where_.is_empty() {
        field.to_string()
    } else {
        format!("{where_}.{field}")
    }
}

impl Judge<'_> {
    fn privileged(&self, object: &Json, where_: &str) -> Verdict {
        let (parent, field) = where_.rsplit_once('.').unwrap_or(("", where_));
        if let Some(value) = object.field(parent, field)? {
            if value.as_bool(where_)? && !self.policy.privileged {
                return Err(needs(format!("{where_}=true"), "ALLOW_PRIVILEGED"));
            }
        }
        Ok(())
    }

    fn host_config(&self, host: &Json) -> Verdict {
        let at = "HostConfig";
        self.privileged(host, "HostConfig.Privileged")?;
        for mode in [
            "PidMode",
            "IpcMode",
            "UTSMode",
            "UsernsMode",
            "CgroupnsMode",
            "NetworkMode",
        ] {
            let what = path(at, mode);
            if let Some(value) = host.field(at, mode)? {
                if value.as_str(&what)? == "host" && !self.policy.host_namespaces {
                    return Err(needs(format!("{what}=host"), "ALLOW_HOST_NAMESPACES"));
                }
            }
        }
        self.caps(host, at, "CapAdd")?;
        self.resources(host, at)?;
        if let Some(opts) = host.field(at, "SecurityOpt")? {
            for opt in opts.as_array("HostConfig.SecurityOpt")? {
                let opt = opt.as_str("HostConfig.SecurityOpt")?;
                let harmless = matches!(
                    opt,
                    "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true"
                );
                if !harmless && !self.policy.security_opts {
                    return Err(needs(
                        format!("HostConfig.SecurityOpt {opt:?}"),
                        "ALLOW_SECURITY_OPTS",
                    ));
                }
            }
        }
        // An explicit list, even an empty one, replaces the engine's masking of /proc and /sys.
        for field in ["MaskedPaths", "ReadonlyPaths"] {
            if host.field(at, field)?.is_some() && !self.policy.security_opts {
                return Err(needs(
                    format!("an explicit HostConfig.{field}"),
                    "ALLOW_SECURITY_OPTS",
                ));
            }
        }
        for field in ["Sysctls", "Annotations"] {
            if let Some(value) = host.field(at, field)? {
                if !value.as_map(&path(at, field))?.is_empty() && !self.policy.security_opts {
                    return Err(needs(path(at, field), "ALLOW_SECURITY_OPTS"));
                }
            }
        }
        if let Some(runtime) = host.field(at, "Runtime")? {
            let runtime = runtime.as_str("HostConfig.Runtime")?;
            if !runtime.is_empty() && runtime != "runc" && !self.policy.security_opts {
                return Err(needs(
                    format!("HostConfig.Runtime={runtime}"),
                    "ALLOW_SECURITY_OPTS",
                ));
            }
        }
        if let Some(binds) = host.field(at, "Binds")? {
            for bind in binds.as_array("HostConfig.Binds")? {
                self.bind(bind.as_str("HostConfig.Binds")?)?;
            }
        }
        if let Some(mounts) = host.field(at, "Mounts")? {
            for mount in mounts.as_array("HostConfig.Mounts")? {
                self.mount(mount, "HostConfig.Mounts")?;
            }
        }
        if let Some(from) = host.field(at, "VolumesFrom")? {
            if !from.is_empty_collection() && self.policy.bind_mounts.is_empty() {
                return Err(BodyRefusal {
                    status: 403,
                    message: "HostConfig.VolumesFrom is not allowed: the containers it names may mount host \
                              paths dockgate cannot see; set ALLOW_BIND_MOUNTS"
                        .into(),
                    needs: "ALLOW_BIND_MOUNTS".into(),
                });
            }
        }
        Ok(())
    }

    /// The fields of the engine's `Resources`, embedded in HostConfig and in update bodies.
    fn resources(&self, object: &Json, at: &str) -> Verdict {
        for field in ["Devices", "DeviceCgroupRules", "DeviceRequests"] {
            if let Some(value) = object.field(at, field)? {
                if !value.is_empty_collection() && !self.policy.devices {
                    return Err(needs(path(at, field), "ALLOW_DEVICES"));
                }
            }
        }
        if let Some(parent) = object.field(at, "CgroupParent")? {
            if !parent.as_str(&path(at, "CgroupParent"))?.is_empty() && !self.policy.security_opts {
                return Err(needs(path(at, "CgroupParent"), "ALLOW_SECURITY_OPTS"));
            }
        }
        Ok(())
    }

    fn caps(&self, object: &Json, at: &str, field: &str) -> Verdict {
        let what = path(at, field);
        let Some(caps) = object.field(at, field)? else {
            return Ok(());
        };
        let all = self.policy.caps.iter().any(|c| c == "ALL");
        for cap in caps.as_array(&what)? {
            let cap = normalise_cap(cap.as_str(&what)?);
            if !all && !self.policy.caps.contains(&cap) {
                return Err(BodyRefusal {
                    status: 403,
                    message: format!("{what} {cap} is not allowed; add it to ALLOW_CAPS"),
                    needs: format!("ALLOW_CAPS={cap}"),
                });
            }
        }
        Ok(())
    }

    fn host_path(&self, what: String, source: &str, read_only: bool) -> Verdict {
        if paths::allowed(&self.policy.bind_mounts, source, read_only) {
            return Ok(());
        }
        let read_only_would_do = paths::allowed(&self.policy.bind_mounts, source, true);
        let message = if read_only_would_do {
            format!("{what} mounts host path {source} read-write; ALLOW_BIND_MOUNTS allows it read-only")
        } else {
            format!("{what} mounts host path {source}, which is not allowed; add it to ALLOW_BIND_MOUNTS")
        };
        Err(BodyRefusal {
            status: 403,
            message,
            needs: "ALLOW_BIND_MOUNTS".into(),
        })
    }

    /// `src:dst[:opts]` as the engine's Linux parser splits it; a source starting with `/` is a
    /// host path, anything else a named volume.
    fn bind(&self, spec: &str) -> Verdict {
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() > 3 {
            return Err(Ambiguous::WrongType(format!("HostConfig.Binds {spec:?}")).into());
        }
        if parts.len() < 2 || !parts[0].starts_with('/') {
            return Ok(());
        }
        let read_only = parts
            .get(2)
            .is_some_and(|opts| opts.split(',').any(|o| o == "ro"));
        self.host_path(format!("HostConfig.Binds {spec:?}"), parts[0], read_only)
    }

    fn mount(&self, mount: &Json, at: &str) -> Verdict {
        let kind = match mount.field(at, "Type")? {
            Some(kind) => kind.as_str(&path(at, "Type"))?,
            None => "",
        };
        let read_only = match mount.field(at, "ReadOnly")? {
            Some(ro) => ro.as_bool(&path(at, "ReadOnly"))?,
            None => false,
        };
        match kind {
            "bind" => {
                let source = match mount.field(at, "Source")? {
                    Some(source) => source.as_str(&path(at, "Source"))?,
                    None => "",
                };
                self.host_path(format!("{at} bind of {source:?}"), source, read_only)
            }
            "volume" => {
                let Some(options) = mount.field(at, "VolumeOptions")? else {
                    return Ok(());
                };
                let Some(driver) = options.field(at, "DriverConfig")? else {
                    return Ok(());
                };
                let name = match driver.field(at, "Name")? {
                    Some(name) => name.as_str(&path(at, "DriverConfig.Name"))?,
                    None => "",
                };
                match driver.field(at, "Options")? {
                    Some(opts) => {
                        self.local_device(name, opts, &format!("{at} volume options"), read_only)
                    }
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// The local driver's `device` option mounts a host path (with `o=bind`) or a host block
    /// device: either way, host access.
    fn local_device(&self, driver: &str, options: &Json, what: &str, read_only: bool) -> Verdict {
        if !matches!(driver, "" | "local") {
            return Ok(());
        }
        let options = options.as_map(what)?;
        let option = |name: &str| options.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let Some(device) = option("device") else {
            return Ok(());
        };
        let device = device.as_str(what)?;
        if !device.starts_with('/') {
            return Ok(());
        }
        let o_read_only = match option("o") {
            Some(o) => o.as_str(what)?.split(',').any(|o| o == "ro"),
            None => false,
        };
        self.host_path(
            format!("{what} device={device}"),
            device,
            read_only || o_read_only,
        )
    }

    fn volume_create(&self, body: &Json) -> Verdict {
        let driver = match body.field("", "Driver")? {
            Some(driver) => driver.as_str("Driver")?,
            None => "",
        };
        match body.field("", "DriverOpts")? {
            Some(opts) => self.local_device(driver, opts, "DriverOpts", false),
            None => Ok(()),
        }
    }

    fn service_spec(&self, spec: &Json) -> Verdict {
        if let Some(networks) = spec.field("", "Networks")? {
            self.service_networks(networks, "Networks")?;
        }
        let Some(task) = spec.field("", "TaskTemplate")? else {
            return Ok(());
        };
        let at = "TaskTemplate";
        if task.field(at, "PluginSpec")?.is_some() && !self.policy.privileged {
            return Err(needs(
                "TaskTemplate.PluginSpec (plugins run as root)",
                "ALLOW_PRIVILEGED",
            ));
        }
        if let Some(networks) = task.field(at, "Networks")? {
            self.service_networks(networks, "TaskTemplate.Networks")?;
        }
        let Some(container) = task.field(at, "ContainerSpec")? else {
            return Ok(());
        };
        let at = "TaskTemplate.ContainerSpec";
        self.caps(container, at, "CapabilityAdd")?;
        if let Some(mounts) = container.field(at, "Mounts")? {
            for mount in mounts.as_array(&path(at, "Mounts"))? {
                self.mount(mount, &path(at, "Mounts"))?;
            }
        }
        if let Some(privileges) = container.field(at, "Privileges")? {
            let at = "TaskTemplate.ContainerSpec.Privileges";
            for field in ["Seccomp", "AppArmor", "SELinuxContext"] {
                if privileges.field(at, field)?.is_some() && !self.policy.security_opts {
                    return Err(needs(path(at, field), "ALLOW_SECURITY_OPTS"));
                }
            }
        }
        if let Some(sysctls) = container.field(at, "Sysctls")? {
            if !sysctls.is_empty_collection() && !self.policy.security_opts {
                return Err(needs(path(at, "Sysctls"), "ALLOW_SECURITY_OPTS"));
            }
        }
        Ok(())
    }

    fn service_networks(&self, networks: &Json, at: &str) -> Verdict {
        for network in networks.as_array(at)? {
            if let Some(target) = network.field(at, "Target")? {
                if target.as_str(&path(at, "Target"))? == "host" && !self.policy.host_namespaces {
                    return Err(needs(format!("{at} Target=host"), "ALLOW_HOST_NAMESPACES"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
