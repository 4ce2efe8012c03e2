//! The local volume driver's options, read as the driver reads them: `type`, `device` and `o` go
//! to mount(2) as they are (moby `volume/local/local_unix.go`), so every key and every value
//! decides what the engine mounts, as root, in the host's mount namespace.
//!
//! What passes without a grant: no options, a `size` quota, or a tmpfs. A bind (`o=bind`) is a
//! host path and needs `ALLOW_BIND_MOUNTS` for its `device`. A block device needs
//! `ALLOW_DEVICES`; a network filesystem (the engine connects out, from the host's network)
//! `ALLOW_REMOTE_FETCH`; anything else (proc, sysfs, cgroup, overlay with host layers, ...) can
//! show the host's own kernel state or files, and only `ALLOW_PRIVILEGED` covers it.

use super::json::{Ambiguous, Json};
use super::{paths, Judge};
use crate::needs::Grant;

/// The flags moby's `mount.ParseOptions` takes out of `o`; every other item is handed to the
/// filesystem as data.
const MOUNT_FLAGS: &[&str] = &[
    "defaults",
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "sync",
    "async",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "bind",
    "rbind",
    "unbindable",
    "runbindable",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
];

const NETWORK_FILESYSTEMS: &[&str] = &["nfs", "nfs4", "cifs", "smb3"];

impl Judge<'_> {
    /// Judges a volume driver's options; `what` names them in messages, `read_only` says the
    /// mount that uses them is read-only anyway.
    pub(super) fn driver_options(
        &mut self,
        driver: &str,
        options: &[(String, &str)],
        what: &str,
        read_only: bool,
    ) {
        // Other drivers are plugins the operator installed; their options mean what the plugin
        // makes of them.
        if !matches!(driver, "" | "local") || options.is_empty() {
            return;
        }
        let option = |name: &str| options.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let unknown: Vec<&str> = options
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !matches!(*k, "type" | "device" | "o" | "size"))
            .collect();
        if !unknown.is_empty() {
            // The driver refuses them; nothing to judge, nothing to fear.
            return;
        }
        let kind = option("type").unwrap_or("");
        let device = option("device").unwrap_or("");
        let o = option("o").unwrap_or("");
        if kind.is_empty() && device.is_empty() {
            // Only a size quota: an ordinary volume.
            return;
        }
        let items: Vec<&str> = o.split(',').filter(|i| !i.is_empty()).collect();
        let is_bind = items.iter().any(|i| matches!(*i, "bind" | "rbind"));
        let o_read_only = items.contains(&"ro");
        let described = format!("{what} (type={kind:?} device={device:?} o={o:?})");
        if is_bind {
            let read_only = read_only || o_read_only;
            if device.starts_with('/') {
                self.host_path(format!("{what} device={device}"), device, read_only);
            } else {
                // mount(2) resolves it against the engine's working directory, which dockgate
                // cannot know: only a grant of the whole host covers it.
                let whole = paths::judge(&self.policy.bind_mounts, "/", read_only);
                let grant = if read_only { "/:ro" } else { "/" };
                self.refuse(
                    format!("{what} device={device:?} is a relative path, which the engine resolves against its own \
                             working directory; set ALLOW_BIND_MOUNTS={grant}"),
                    Grant::value("ALLOW_BIND_MOUNTS", grant),
                    whole == paths::PathVerdict::Allowed,
                );
            }
            // A bind takes no data; anything else in `o` would be a filesystem's.
            if let Some(data) = items.iter().find(|i| !MOUNT_FLAGS.contains(i)) {
                self.refuse(
                    format!("{described} mixes a bind with the option {data:?}, which dockgate does not judge; \
                             set ALLOW_PRIVILEGED=1"),
                    Grant::on("ALLOW_PRIVILEGED"),
                    self.policy.privileged,
                );
            }
            return;
        }
        if kind == "tmpfs" {
            return;
        }
        if NETWORK_FILESYSTEMS.contains(&kind) {
            self.refuse(
                format!("{described} mounts a network filesystem, which the engine reaches from the host's network; \
                         set ALLOW_REMOTE_FETCH=1"),
                Grant::on("ALLOW_REMOTE_FETCH"),
                self.policy.remote_fetch,
            );
            return;
        }
        if device.starts_with("/dev/") {
            self.refuse(
                format!("{described} mounts a host device; set ALLOW_DEVICES=1"),
                Grant::on("ALLOW_DEVICES"),
                self.policy.devices,
            );
            return;
        }
        self.refuse(
            format!("{described} mounts a {kind:?} filesystem, which can expose the host's kernel state or files; \
                     set ALLOW_PRIVILEGED=1"),
            Grant::on("ALLOW_PRIVILEGED"),
            self.policy.privileged,
        );
    }

    /// `DriverOpts`, `DriverConfig.Options`: a map of strings, read from a request body.
    pub(super) fn driver_options_json(
        &mut self,
        driver: &str,
        options: &Json,
        what: &str,
        read_only: bool,
    ) -> Result<(), Ambiguous> {
        let mut pairs = vec![];
        for (key, value) in options.as_map(what)? {
            if *value == Json::Null {
                continue;
            }
            pairs.push((key.clone(), value.as_str(what)?));
        }
        self.driver_options(driver, &pairs, what, read_only);
        Ok(())
    }

    /// A named volume a container mounts: as powerful as the options it was created with.
    pub(super) fn named_volume(&mut self, name: &str, what: &str, read_only: bool) {
        use super::facts::{Found, Ref};
        match self.facts.volume(name) {
            Found::Yes(volume) => {
                let options: Vec<(String, &str)> = volume
                    .options
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str()))
                    .collect();
                let driver = volume.driver.clone();
                self.driver_options(
                    &driver,
                    &options,
                    &format!("{what}: volume {name:?}"),
                    read_only,
                );
            }
            Found::No => {}
            Found::Unknown => self.unresolved(Ref::Volume(name.to_string())),
        }
    }
}
