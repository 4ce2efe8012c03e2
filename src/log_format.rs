//! The log's two shapes (`LOG_FORMAT`): tracing's text lines, as they always were, or one JSON
//! object a line. Builds the subscriber for either, writing through any writer (stderr's
//! [`crate::log_output::LogOutput`] in the binary, a buffer in tests).
//!
//! The JSON shape is a formatter of its own rather than tracing-subscriber's `json` feature: that
//! one names its fields `timestamp` and `fields.message`, upper-cases levels and nests whatever an
//! event carries, while the audit log promises flat, documented names (docs/audit-log.md) for
//! request objects and start-up events alike. Request objects come whole from [`crate::audit`]
//! in one field, [`REQUEST_FIELD`], and pass through as they are.

use std::fmt::{self, Debug, Display};
use std::io;

use serde::ser::{SerializeMap, Serializer as _};
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogFormat, LogLevel};

/// The field of an `access` event that holds a whole request object ([`crate::audit`]).
pub(crate) const REQUEST_FIELD: &str = "request";

/// The subscriber for `level` and `format`, writing each line through `writer` in one write.
pub fn dispatch<W>(level: LogLevel, format: LogFormat, ansi: bool, writer: W) -> Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = match level {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Trace => Level::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(writer);
    match format {
        LogFormat::Text => Dispatch::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Dispatch::new(builder.with_ansi(false).event_format(Json).finish()),
    }
}

/// Whether the log in force writes JSON. The subscriber is asked rather than told: the format is
/// then set in one place, and a test's own subscriber is honoured as the binary's is. It is one
/// thread-local read and a type comparison, per request.
pub fn json() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.is::<Json>())
}

/// The JSON line formatter: events as `{"time","level","kind":"event","target","message",
/// "fields"}`, request objects as [`crate::audit`] wrote them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Json;

impl<S, N> FormatEvent<S, N> for Json
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() == "access" && meta.fields().field(REQUEST_FIELD).is_some() {
            let mut raw = Raw {
                writer: &mut writer,
                result: Ok(()),
            };
            event.record(&mut raw);
            raw.result?;
        } else {
            let mut serializer = serde_json::Serializer::new(FmtIo(&mut writer));
            let mut map = serializer.serialize_map(None).map_err(|_| fmt::Error)?;
            let entries = (|| {
                map.serialize_entry("time", &Now)?;
                map.serialize_entry("level", level_name(meta.level()))?;
                map.serialize_entry("kind", "event")?;
                map.serialize_entry("target", meta.target())?;
                let mut message = Message(None);
                event.record(&mut message);
                match message.0 {
                    Some(text) => map.serialize_entry("message", &text)?,
                    None => map.serialize_entry("message", "")?,
                }
                if meta.fields().iter().any(|f| f.name() != "message") {
                    map.serialize_entry("fields", &Fields(event))?;
                }
                SerializeMap::end(map)
            })();
            entries.map_err(|_| fmt::Error)?;
        }
        writeln!(writer)
    }
}

/// The level as the JSON log names it: `error`, `warn`, `info`, `debug`, `trace`.
pub(crate) fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// The wall-clock time now, in RFC 3339 UTC with microseconds (`2026-12-01T18:08:32.123456Z`).
pub(crate) struct Now;

impl Display for Now {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SystemTime.format_time(&mut Writer::new(f))
    }
}

impl Serialize for Now {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A value's `Display` as a JSON string, escaped as it is written, with no copy.
pub(crate) struct Shown<T>(pub T);

impl<T: Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// A tracing value, shown as its `Debug` (which is its `Display` for `%` fields and messages).
struct Debugged<'a>(&'a dyn Debug);

impl Display for Debugged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// serde_json writes bytes; the line is a `fmt::Write`. serde_json writes whole UTF-8 pieces
/// (escapes are ASCII, and it splits text only at them), so each write is a `str`.
pub(crate) struct FmtIo<'a, W: fmt::Write + ?Sized>(pub &'a mut W);

impl<W: fmt::Write + ?Sized> io::Write for FmtIo<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = std::str::from_utf8(buf).map_err(io::Error::other)?;
        self.0.write_str(text).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the request object as it comes.
struct Raw<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Visit for Raw<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == REQUEST_FIELD {
            self.result = write!(self.writer, "{value:?}");
        }
    }
}

/// Takes an event's message.
struct Message(Option<String>);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// An event's fields but its message, as a JSON object: numbers and booleans as such, anything
/// else as its text.
struct Fields<'a>(&'a Event<'a>);

impl Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Entries<M: SerializeMap> {
            map: M,
            result: Result<(), M::Error>,
        }
        impl<M: SerializeMap> Entries<M> {
            fn entry<V: Serialize + ?Sized>(&mut self, field: &Field, value: &V) {
                if self.result.is_ok() && field.name() != "message" {
                    self.result = self.map.serialize_entry(field.name(), value);
                }
            }
        }
        impl<M: SerializeMap> Visit for Entries<M> {
            fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
                self.entry(field, &Shown(Debugged(value)));
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                self.entry(field, &value);
            }
            fn record_i64(&mut self, field: &Field, value: i64) {
                self.entry(field, &value);
            }
            fn record_u64(&mut self, field: &Field, value: u64) {
                self.entry(field, &value);
            }
            fn record_bool(&mut self, field: &Field, value: bool) {
                self.entry(field, &value);
            }
            fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
                self.entry(field, &Shown(value));
            }
        }
        let mut entries = Entries {
            map: serializer.serialize_map(None)?,
            result: Ok(()),
        };
        self.0.record(&mut entries);
        entries.result?;
        entries.map.end()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Lines written, for tests of what the log says.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub(crate) fn json_lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().unwrap();
            std::str::from_utf8(&bytes)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).expect(line))
                .collect()
        }
    }

    impl io::Write for &Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = &'a Captured;
        fn make_writer(&'a self) -> &'a Captured {
            self
        }
    }

    /// Runs `f` with a subscriber of `format` and returns what it wrote.
    pub(crate) fn captured(format: LogFormat, f: impl FnOnce()) -> Captured {
        let captured = Captured::default();
        let dispatch = dispatch(LogLevel::Info, format, false, captured.clone());
        tracing::dispatcher::with_default(&dispatch, f);
        captured
    }

    #[test]
    fn the_format_in_force_is_the_subscribers() {
        assert!(!json(), "no subscriber writes text (nothing)");
        captured(LogFormat::Text, || assert!(!json()));
        captured(LogFormat::Json, || assert!(json()));
    }

    #[test]
    fn events_are_objects_with_their_message_and_fields() {
        let lines = captured(LogFormat::Json, || {
            let peer = "127.0.0.1:4000";
            tracing::warn!(client = %peer, tries = 3u64, "refused \"HTTP/2\"\n");
            tracing::info!("listening");
            tracing::debug!("below the level: not written");
        })
        .json_lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        let warn = &lines[0];
        assert_eq!(warn["level"], "warn");
        assert_eq!(warn["kind"], "event");
        assert_eq!(warn["target"], "dockgate::log_format::tests");
        assert_eq!(warn["message"], "refused \"HTTP/2\"\n");
        assert_eq!(
            warn["fields"],
            serde_json::json!({"client": "127.0.0.1:4000", "tries": 3})
        );
        let time = warn["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == "2026-12-01T18:08:32.123456Z".len());
        assert_eq!(
            lines[1].as_object().unwrap().keys().collect::<Vec<_>>(),
            ["kind", "level", "message", "target", "time"],
            "no fields member without fields"
        );
    }

    #[test]
    fn a_request_object_passes_through_whole() {
        let lines = captured(LogFormat::Json, || {
            tracing::info!(target: "access", request = %r#"{"kind":"request","n":1}"#);
        })
        .json_lines();
        assert_eq!(lines, [serde_json::json!({"kind": "request", "n": 1})]);
    }
}
