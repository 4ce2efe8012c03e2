//! Host paths and the prefixes `ALLOW_BIND_MOUNTS` grants, compared on clean paths by component.

/// One allowed prefix; `read_only` means only read-only mounts of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    components: Vec<String>,
    pub read_only: bool,
}

impl Prefix {
    /// `/srv/data` or `/var/log:ro`.
    pub fn parse(text: &str) -> Option<Prefix> {
        let (path, read_only) = match text.strip_suffix(":ro") {
            Some(path) => (path, true),
            None => (text.strip_suffix(":rw").unwrap_or(text), false),
        };
        path.starts_with('/').then(|| Prefix {
            components: clean(path),
            read_only,
        })
    }

    fn covers(&self, path: &[String]) -> bool {
        path.starts_with(&self.components)
    }
}

/// `/a/./b/../c//d` → `[a, c, d]`; `..` never climbs above the root, as the kernel resolves it.
pub fn clean(path: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other.to_string()),
        }
    }
    out
}

/// What the grants make of mounting one host path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathVerdict {
    Allowed,
    /// A read-only mount would be allowed.
    ReadOnlyWouldDo,
    /// The path lies strictly below this writable grant: a client that mounts the grant
    /// read-write can replace any directory below it with a link, which the engine follows when
    /// it mounts the path (at every start), so the path could lead anywhere on the host.
    BelowWritable(String),
    NotAllowed,
}

/// Judges mounting host `path` (read-only or not) under `prefixes`.
pub fn judge(prefixes: &[Prefix], path: &str, read_only: bool) -> PathVerdict {
    let path = clean(path);
    let fits = |p: &&Prefix| read_only || !p.read_only;
    // A grant of the whole host in this mode leaves nothing a link could add.
    if prefixes
        .iter()
        .filter(fits)
        .any(|p| p.components.is_empty())
    {
        return PathVerdict::Allowed;
    }
    if let Some(writable) = prefixes
        .iter()
        .find(|p| !p.read_only && p.covers(&path) && p.components.len() < path.len())
    {
        return PathVerdict::BelowWritable(writable.to_string());
    }
    if prefixes.iter().filter(fits).any(|p| p.covers(&path)) {
        PathVerdict::Allowed
    } else if prefixes.iter().any(|p| p.covers(&path)) {
        PathVerdict::ReadOnlyWouldDo
    } else {
        PathVerdict::NotAllowed
    }
}

/// The clean absolute form of a host path, as it is judged: `//srv/./data/` → `/srv/data`.
pub fn clean_text(path: &str) -> String {
    format!("/{}", clean(path).join("/"))
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}", self.components.join("/"))?;
        if self.read_only {
            f.write_str(":ro")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(list: &[&str]) -> Vec<Prefix> {
        list.iter().map(|p| Prefix::parse(p).unwrap()).collect()
    }

    fn allowed(p: &[Prefix], path: &str, read_only: bool) -> bool {
        judge(p, path, read_only) == PathVerdict::Allowed
    }

    #[test]
    fn prefixes_match_whole_components_of_clean_paths() {
        let p = prefixes(&["/srv/data", "/var/log:ro"]);
        assert!(allowed(&p, "/srv/data", false));
        assert!(!allowed(&p, "/srv/database", false));
        assert!(!allowed(&p, "/srv/data/../../etc", false));
        assert!(!allowed(&p, "/srv", false));
        assert!(!allowed(&p, "/", false));
        assert!(allowed(&p, "//srv/./data/", false));
    }

    #[test]
    fn read_only_prefixes_allow_read_only_mounts_below_them() {
        let p = prefixes(&["/var/log:ro"]);
        assert!(allowed(&p, "/var/log/nginx", true));
        assert_eq!(
            judge(&p, "/var/log/nginx", false),
            PathVerdict::ReadOnlyWouldDo
        );
    }

    #[test]
    fn nothing_below_a_writable_grant_can_be_mounted_a_link_could_stand_there() {
        let p = prefixes(&["/srv/data", "/var/log:ro"]);
        for read_only in [false, true] {
            assert_eq!(
                judge(&p, "/srv/data/x/y", read_only),
                PathVerdict::BelowWritable("/srv/data".into())
            );
        }
        // A writable grant below a read-only one opens the read-only one to links too.
        let p = prefixes(&["/var/log:ro", "/var/log/app"]);
        assert!(allowed(&p, "/var/log/app", false));
        assert_eq!(
            judge(&p, "/var/log/app/evil", true),
            PathVerdict::BelowWritable("/var/log/app".into())
        );
        assert!(allowed(&p, "/var/log/nginx", true));
    }

    #[test]
    fn root_prefix_allows_everything() {
        assert!(allowed(&prefixes(&["/"]), "/etc", false));
        assert!(allowed(&prefixes(&["/:ro"]), "/etc/x", true));
        assert!(!allowed(&prefixes(&["/:ro"]), "/etc/x", false));
        assert_eq!(Prefix::parse("relative"), None);
        assert_eq!(Prefix::parse("/a/./b:ro").unwrap().to_string(), "/a/b:ro");
    }
}
