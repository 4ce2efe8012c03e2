//! Query strings read as Go's `url.ParseQuery` and the engine's handlers read them.

use percent_encoding::percent_decode_str;

/// The first value of each key (what the engine's `r.FormValue` returns), refusing what Go would
/// reject (`;` separators, bad encoding) and keys that repeat, among `inspected`.
pub fn first_values<'k>(
    query: &str,
    inspected: &[&'k str],
) -> Result<Vec<(&'k str, String)>, String> {
    let mut found: Vec<(&'k str, String)> = vec![];
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if pair.contains(';') {
            return Err("the query has a ';' separator".into());
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key)?;
        let Some(name) = inspected.iter().find(|k| **k == key) else {
            continue;
        };
        if found.iter().any(|(k, _)| k == name) {
            return Err(format!("the query parameter {key:?} repeats"));
        }
        found.push((name, decode(value)?));
    }
    Ok(found)
}

/// Every value of `wanted`, for the handlers that read `r.Form[key]` as a list.
pub fn all_values(query: &str, wanted: &str) -> Result<Vec<String>, String> {
    let mut found = vec![];
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if pair.contains(';') {
            return Err("the query has a ';' separator".into());
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(key)? == wanted {
            found.push(decode(value)?);
        }
    }
    Ok(found)
}

fn decode(text: &str) -> Result<String, String> {
    let spaced = text.replace('+', " ");
    let bytes = spaced.as_bytes();
    for (i, _) in spaced.match_indices('%') {
        let ok = bytes
            .get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        if !ok {
            return Err("the query has an invalid percent-encoding".into());
        }
    }
    Ok(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_like_go() {
        let v = first_values(
            "networkmode=h%6Fst&remote=a+b&other=1",
            &["networkmode", "remote"],
        )
        .unwrap();
        assert_eq!(
            v,
            [
                ("networkmode", "host".to_string()),
                ("remote", "a b".to_string())
            ]
        );
    }

    #[test]
    fn repeated_inspected_keys_and_semicolons_are_refused() {
        assert!(first_values("networkmode=none&networkmode=host", &["networkmode"]).is_err());
        assert!(first_values("q=1;networkmode=host", &["networkmode"]).is_err());
        assert!(first_values("networkmode=%zz", &["networkmode"]).is_err());
        assert!(first_values("t=1&t=2", &["networkmode"]).is_ok());
        // An encoded key is the same key to the engine.
        assert!(first_values("networkmode=none&network%6Dode=host", &["networkmode"]).is_err());
    }

    #[test]
    fn list_values_are_all_read() {
        assert_eq!(
            all_values("securityopt=a&t=x&security%6Fpt=b", "securityopt").unwrap(),
            ["a", "b"]
        );
    }
}
