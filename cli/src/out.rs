//! Writing to stdout, and the text and JSON forms of labels, values and timestamps.

use std::fmt::Write as _;
use std::io::{self, BufWriter, StdoutLock, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use tswal::Label;

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write found stdout closed (the reader went away, as `head` does).
pub(crate) fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Buffered stdout that notes a closed pipe, so that the command can end quietly.
pub(crate) struct Out(BufWriter<StdoutLock<'static>>);

impl Out {
    pub(crate) fn new() -> Out {
        Out(BufWriter::with_capacity(1 << 16, io::stdout().lock()))
    }

    /// Writes `s`; an error is the command's (a closed pipe is noted).
    pub(crate) fn put(&mut self, s: &str) -> io::Result<()> {
        self.0.write_all(s.as_bytes()).map_err(noted)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(noted)
    }
}

fn noted(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
    e
}

/// Writes one line to stdout (a report that comes out as its work goes on).
pub(crate) fn say(line: std::fmt::Arguments<'_>) -> crate::Result<()> {
    let mut out = Out::new();
    out.put(&format!("{line}\n"))
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing to stdout: {e}").into())
}

/// Writes a whole report to stdout.
pub(crate) fn print(text: &str) -> io::Result<()> {
    let mut out = Out::new();
    out.put(text)?;
    out.flush()
}

/// Prometheus's stale marker, a NaN with these bits.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// A sample value in decimal: the shortest form that reads back the same (`1`, `0.25`,
/// `1e300`), or `NaN`, `StaleNaN`, `+Inf`, `-Inf`.
pub(crate) fn value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str(if v.to_bits() == STALE_NAN {
            "StaleNaN"
        } else {
            "NaN"
        });
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let start = out.len();
        let _ = write!(out, "{v:?}");
        if out.ends_with(".0") && !out[start..].contains('e') {
            out.truncate(out.len() - 2);
        }
    }
}

/// A sample value as JSON: a number, or a string for the values JSON has no number for.
pub(crate) fn json_value(out: &mut String, v: f64) {
    if v.is_finite() {
        value(out, v);
    } else {
        out.push('"');
        value(out, v);
        out.push('"');
    }
}

/// How timestamps (milliseconds since 1970) are written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Time {
    /// Milliseconds since 1970-01-01, as stored
    Ms,
    /// RFC 3339 in UTC, with milliseconds (ms where out of its range)
    Rfc3339,
}

pub(crate) fn time(out: &mut String, t: i64, how: Time) {
    // humantime formats years 1970 to 9999.
    if how == Time::Rfc3339 && (0..253_402_300_800_000).contains(&t) {
        let at = UNIX_EPOCH + Duration::from_millis(t as u64);
        let _ = write!(out, "{}", humantime::format_rfc3339_millis(at));
    } else {
        let _ = write!(out, "{t}");
    }
}

/// Labels as people read them: `{__name__="up", job="node"}` (names that are not
/// identifiers are quoted too; bytes that are not UTF-8, and control bytes, as `\xHH`).
pub(crate) fn labels(out: &mut String, labels: &[Label<'_>]) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match std::str::from_utf8(l.name) {
            Ok(n) if is_identifier(n) => out.push_str(n),
            _ => tswal::dump::quote(out, l.name),
        }
        out.push('=');
        tswal::dump::quote(out, l.value);
    }
    out.push('}');
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A JSON string of `bytes` (bytes that are not UTF-8 become U+FFFD; the canonical
/// format keeps them exactly).
pub(crate) fn json_string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `1 entry`, `2 entries`.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A segment's file name, from its path.
pub(crate) fn name(path: &std::path::Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Reports each damaged region on stderr.
pub(crate) fn report_damage(damage: &[tswal::Damaged]) {
    for d in damage {
        eprintln!("{}", damage_line(d));
    }
}

/// How the commands name a damaged region.
pub(crate) fn damage_line(d: &tswal::Damaged) -> String {
    let hole = if d.hole {
        ", read as the segment's end and left as it is"
    } else {
        ""
    };
    format!(
        "damage: segment {} at offset {} ({} bytes{hole}): {}",
        name(&d.segment),
        d.offset,
        d.len,
        d.reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_the_same() {
        for (v, want) in [
            (1.0, "1"),
            (-0.25, "-0.25"),
            (1e300, "1e300"),
            (0.1, "0.1"),
            (f64::INFINITY, "+Inf"),
            (f64::from_bits(STALE_NAN), "StaleNaN"),
            (f64::NAN, "NaN"),
        ] {
            let mut s = String::new();
            value(&mut s, v);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn times_in_rfc3339_and_out_of_its_range() {
        let mut s = String::new();
        time(&mut s, 1_700_000_000_123, Time::Rfc3339);
        assert_eq!(s, "2023-11-14T22:13:20.123Z");
        s.clear();
        time(&mut s, -5, Time::Rfc3339);
        assert_eq!(s, "-5");
    }

    #[test]
    fn labels_for_people_and_for_json() {
        let mut s = String::new();
        labels(
            &mut s,
            &[
                Label::new("__name__", "up"),
                Label::new("a-b", "say \"hi\"\n"),
            ],
        );
        assert_eq!(s, r#"{__name__="up", "a-b"="say \"hi\"\x0a"}"#);
        s.clear();
        json_string(&mut s, b"a\"\\\n\x01\xff");
        assert_eq!(s, "\"a\\\"\\\\\\n\\u0001\u{fffd}\"");
    }
}
