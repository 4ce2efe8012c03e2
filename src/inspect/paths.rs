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

/// Whether mounting host `path` (read-only or not) is allowed by `prefixes`.
pub fn allowed(prefixes: &[Prefix], path: &str, read_only: bool) -> bool {
    let path = clean(path);
    prefixes
        .iter()
        .any(|p| p.covers(&path) && (read_only || !p.read_only))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(list: &[&str]) -> Vec<Prefix> {
        list.iter().map(|p| Prefix::parse(p).unwrap()).collect()
    }

    #[test]
    fn prefixes_match_whole_components_of_clean_paths() {
        let p = prefixes(&["/srv/data", "/var/log:ro"]);
        assert!(allowed(&p, "/srv/data", false));
        assert!(allowed(&p, "/srv/data/x/y", false));
        assert!(!allowed(&p, "/srv/database", false));
        assert!(!allowed(&p, "/srv/data/../../etc", false));
        assert!(!allowed(&p, "/srv", false));
        assert!(!allowed(&p, "/", false));
        assert!(allowed(&p, "//srv/./data/", false));
    }

    #[test]
    fn read_only_prefixes_allow_only_read_only_mounts() {
        let p = prefixes(&["/var/log:ro"]);
        assert!(allowed(&p, "/var/log/nginx", true));
        assert!(!allowed(&p, "/var/log/nginx", false));
    }

    #[test]
    fn root_prefix_allows_everything() {
        assert!(allowed(&prefixes(&["/"]), "/etc", false));
        assert_eq!(Prefix::parse("relative"), None);
    }
}
