//! JSON read the way the engine's Go decoder reads it, or refused.
//!
//! Go matches struct fields case-insensitively (with Unicode folding: `ſ` is `s`, `K` is `k`)
//! and lets the last duplicate win; serde_json's `Value` silently keeps one duplicate. So objects
//! keep every key in order, exact duplicates are refused while parsing, and a lookup on an object
//! the engine decodes as a struct refuses non-ASCII keys and keys equal under case folding.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value with every object key kept, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Why a body cannot be judged the way the engine would read it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ambiguous {
    #[error("the body is not one JSON value: {0}")]
    Syntax(String),
    #[error("the key {0:?} appears twice")]
    Duplicate(String),
    #[error("the keys {0:?} and {1:?} differ only by case, and the engine reads them as one")]
    CaseVariants(String, String),
    #[error("the key {0:?} is not ASCII, and the engine may fold it onto a field")]
    NonAscii(String),
    #[error("{0} has the wrong type for the engine")]
    WrongType(String),
    #[error("{0}")]
    Query(String),
}

/// Parses one JSON value; trailing data, exact duplicate keys and invalid UTF-8 are refused.
pub fn parse(body: &[u8]) -> Result<Json, Ambiguous> {
    let value: Json = serde_json::from_slice(body).map_err(|e| Ambiguous::Syntax(e.to_string()))?;
    match value.first_duplicate() {
        Some(key) => Err(Ambiguous::Duplicate(key.to_string())),
        None => Ok(value),
    }
}

impl Json {
    /// The first key that appears twice in one object, anywhere in the value.
    fn first_duplicate(&self) -> Option<&str> {
        match self {
            Json::Array(items) => items.iter().find_map(Json::first_duplicate),
            Json::Object(entries) => {
                let mut seen = std::collections::HashSet::with_capacity(entries.len());
                entries
                    .iter()
                    .find(|(key, _)| !seen.insert(key.as_str()))
                    .map(|(key, _)| key.as_str())
                    .or_else(|| entries.iter().find_map(|(_, v)| v.first_duplicate()))
            }
            _ => None,
        }
    }

    /// The field `name` of an object the engine decodes as a Go struct: matched
    /// case-insensitively, refusing what Go could read differently. `where_` names the object in
    /// messages (e.g. `HostConfig`).
    pub fn field(&self, where_: &str, name: &str) -> Result<Option<&Json>, Ambiguous> {
        let Json::Object(entries) = self else {
            return Ok(None);
        };
        let mut found: Option<&(String, Json)> = None;
        // Linear in the keys: a body may hold an object with very many of them.
        let mut folded: std::collections::HashMap<String, &str> =
            std::collections::HashMap::with_capacity(entries.len());
        for entry in entries {
            let key = &entry.0;
            if !key.is_ascii() {
                return Err(Ambiguous::NonAscii(format!("{where_}.{key}")));
            }
            if let Some(other) = folded.insert(key.to_ascii_lowercase(), key) {
                return Err(Ambiguous::CaseVariants(
                    format!("{where_}.{other}"),
                    format!("{where_}.{key}"),
                ));
            }
            if key.eq_ignore_ascii_case(name) {
                found = Some(entry);
            }
        }
        Ok(found.map(|(_, v)| v).filter(|v| **v != Json::Null))
    }

    pub fn as_bool(&self, what: &str) -> Result<bool, Ambiguous> {
        match self {
            Json::Bool(b) => Ok(*b),
            _ => Err(Ambiguous::WrongType(what.into())),
        }
    }

    pub fn as_str(&self, what: &str) -> Result<&str, Ambiguous> {
        match self {
            Json::String(s) => Ok(s),
            _ => Err(Ambiguous::WrongType(what.into())),
        }
    }

    pub fn as_array(&self, what: &str) -> Result<&[Json], Ambiguous> {
        match self {
            Json::Array(items) => Ok(items),
            _ => Err(Ambiguous::WrongType(what.into())),
        }
    }

    /// The entries of a Go map (exact, case-sensitive keys).
    pub fn as_map(&self, what: &str) -> Result<&[(String, Json)], Ambiguous> {
        match self {
            Json::Object(entries) => Ok(entries),
            _ => Err(Ambiguous::WrongType(what.into())),
        }
    }

    /// Whether a list or map holds anything (null and absent hold nothing).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Json::Array(items) => items.is_empty(),
            Json::Object(entries) => entries.is_empty(),
            Json::Null => true,
            _ => false,
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = vec![];
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = vec![];
        // Duplicates are kept here and refused by `parse`, as a typed error.
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded_not_matched_textually() {
        let body = parse(br#"{"HostConfig":{"Privil\u0065ged":true}}"#).unwrap();
        let host = body.field("", "HostConfig").unwrap().unwrap();
        assert_eq!(
            host.field("HostConfig", "Privileged").unwrap(),
            Some(&Json::Bool(true))
        );
    }

    #[test]
    fn lower_case_keys_are_read_like_the_canonical_ones() {
        let body = parse(br#"{"hostconfig":{"PRIVILEGED":true}}"#).unwrap();
        let host = body.field("", "HostConfig").unwrap().unwrap();
        assert_eq!(
            host.field("HostConfig", "Privileged").unwrap(),
            Some(&Json::Bool(true))
        );
    }

    #[test]
    fn exact_duplicates_are_refused_anywhere() {
        assert_eq!(
            parse(br#"{"Labels":{"a":"1","a":"2"}}"#),
            Err(Ambiguous::Duplicate("a".into()))
        );
        assert!(matches!(
            parse(br#"{"HostConfig":{},"HostConfig":{"Privileged":true}}"#),
            Err(Ambiguous::Duplicate(_))
        ));
    }

    #[test]
    fn case_variants_on_a_struct_are_refused() {
        let body = parse(br#"{"HostConfig":{"Privileged":false,"privileged":true}}"#).unwrap();
        let host = body.field("", "HostConfig").unwrap().unwrap();
        assert!(matches!(
            host.field("HostConfig", "Privileged"),
            Err(Ambiguous::CaseVariants(..))
        ));
    }

    #[test]
    fn non_ascii_keys_on_a_struct_are_refused() {
        // U+212A KELVIN SIGN folds to k in Go; U+017F LONG S folds to s.
        for body in [
            "{\"HostConfig\":{\"Bind\u{17f}\":[\"/:/h\"]}}",
            "{\"HostConfig\":{\"Mas\u{212a}edPaths\":[]}}",
        ] {
            let body = parse(body.as_bytes()).unwrap();
            let host = body.field("", "HostConfig").unwrap().unwrap();
            assert!(
                matches!(
                    host.field("HostConfig", "Binds"),
                    Err(Ambiguous::NonAscii(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn trailing_data_and_bad_utf8_are_refused() {
        assert!(matches!(
            parse(br#"{"Image":"x"}{"HostConfig":{"Privileged":true}}"#),
            Err(Ambiguous::Syntax(_))
        ));
        assert!(matches!(
            parse(b"{\"Image\":\"\xff\"}"),
            Err(Ambiguous::Syntax(_))
        ));
    }

    #[test]
    fn null_is_absent() {
        let body = parse(br#"{"HostConfig":null}"#).unwrap();
        assert_eq!(body.field("", "HostConfig").unwrap(), None);
    }
}
