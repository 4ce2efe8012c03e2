//! What would allow a refused request, as data: the grants a log line, a refusal and (later) learn
//! mode all print the same way.
//!
//! The log form is meant for scripts: `needs=` holds `VAR=VALUE` items separated by commas, every
//! item needed; an item that several grants satisfy lists them with `|`; a choice that takes two
//! variables together joins them with `+`. `needs=ALLOW_PRIVILEGED=1,ALLOW_BIND_MOUNTS=/srv:ro`,
//! `needs=ALLOW_STOP=1|ALLOW_RESTARTS=1|POST=1`, `needs=ALLOW_START=1|CONTAINERS=1+POST=1`. A
//! value that holds one of ` ,|+%"` (a host path with a space) has it percent-encoded there, so
//! the field splits the same way whatever the paths are.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// What a value may not hold as it is in the log's `needs=` field.
const LOG_RESERVED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b',')
    .add(b'|')
    .add(b'+')
    .add(b'%')
    .add(b'"');

/// One variable and the value that grants what was asked: `ALLOW_CAPS=NET_ADMIN`, `POST=1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Grant {
    pub var: &'static str,
    pub value: String,
}

impl Grant {
    pub fn on(var: &'static str) -> Grant {
        Grant {
            var,
            value: "1".into(),
        }
    }

    pub fn value(var: &'static str, value: impl Into<String>) -> Grant {
        Grant {
            var,
            value: value.into(),
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.var, self.value)
    }
}

/// One thing that must be granted: any one of `choices`, each a set of grants taken together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub choices: Vec<Vec<Grant>>,
}

impl Item {
    pub fn one(grant: Grant) -> Item {
        Item {
            choices: vec![vec![grant]],
        }
    }
}

/// Everything that would allow a request; empty when no grant can (a malformed request, `/debug`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub items: Vec<Item>,
}

impl Needs {
    pub fn none() -> Needs {
        Needs::default()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds an item unless an equal one is there already.
    pub fn push(&mut self, item: Item) {
        if !self.items.contains(&item) {
            self.items.push(item);
        }
    }

    /// The first choice of every item, for "to allow all of it, set ..." in a message.
    pub fn first_choices(&self) -> Vec<&Grant> {
        let mut out: Vec<&Grant> = vec![];
        for grant in self
            .items
            .iter()
            .filter_map(|i| i.choices.first())
            .flatten()
        {
            if !out.contains(&grant) {
                out.push(grant);
            }
        }
        out
    }
}

impl fmt::Display for Needs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, choice) in item.choices.iter().enumerate() {
                if j > 0 {
                    f.write_str("|")?;
                }
                for (k, grant) in choice.iter().enumerate() {
                    if k > 0 {
                        f.write_str("+")?;
                    }
                    let value = utf8_percent_encode(&grant.value, LOG_RESERVED);
                    write!(f, "{}={value}", grant.var)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_form_is_items_choices_and_conjunctions() {
        let mut needs = Needs::none();
        needs.push(Item::one(Grant::on("ALLOW_PRIVILEGED")));
        needs.push(Item::one(Grant::value("ALLOW_BIND_MOUNTS", "/srv:ro")));
        needs.push(Item::one(Grant::on("ALLOW_PRIVILEGED")));
        assert_eq!(
            needs.to_string(),
            "ALLOW_PRIVILEGED=1,ALLOW_BIND_MOUNTS=/srv:ro"
        );
        let either = Needs {
            items: vec![Item {
                choices: vec![
                    vec![Grant::on("ALLOW_START")],
                    vec![Grant::on("CONTAINERS"), Grant::on("POST")],
                ],
            }],
        };
        assert_eq!(either.to_string(), "ALLOW_START=1|CONTAINERS=1+POST=1");
        assert_eq!(Needs::none().to_string(), "");
        let spaced = Needs {
            items: vec![Item::one(Grant::value(
                "ALLOW_BIND_MOUNTS",
                "/srv/a b,c:ro",
            ))],
        };
        assert_eq!(spaced.to_string(), "ALLOW_BIND_MOUNTS=/srv/a%20b%2Cc:ro");
    }
}
