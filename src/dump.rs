//! A text form of WAL entries, one block per entry (the fixtures' dump format):
//!
//! ```text
//! series <n>
//!   <ref> "<name>"="<value>" ...
//! samples <n>
//!   <ref> <t> <16 lowercase hex digits of the value's IEEE-754 bits>
//! deletes <n>
//!   <ref> <mint> <maxt>
//! ```
//!
//! Strings are double-quoted; `"` and `\` are escaped with a backslash; bytes below 0x20,
//! 0x7f and bytes that are not valid UTF-8 are written `\xHH`.

use std::fmt::Write;

use crate::read::Entry;

/// Appends `bytes` as a quoted, escaped string.
pub fn quote(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
}

/// Appends the dump block of one entry.
pub fn write_entry(out: &mut String, entry: Entry<'_>) {
    match entry {
        Entry::Series(series) => {
            let _ = writeln!(out, "series {}", series.len());
            for s in series {
                let _ = write!(out, "  {}", s.series_ref);
                for l in s.labels {
                    out.push(' ');
                    quote(out, l.name);
                    out.push('=');
                    quote(out, l.value);
                }
                out.push('\n');
            }
        }
        Entry::Samples(samples) => {
            let _ = writeln!(out, "samples {}", samples.len());
            for s in samples {
                let _ = writeln!(out, "  {} {} {:016x}", s.series_ref, s.t, s.v.to_bits());
            }
        }
        Entry::Deletes(tombstones) => {
            let _ = writeln!(out, "deletes {}", tombstones.len());
            for d in tombstones {
                let _ = writeln!(out, "  {} {} {}", d.series_ref, d.mint, d.maxt);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_as_the_fixtures_do() {
        let mut s = String::new();
        quote(&mut s, b"say \"hi\" \\ \n\x7f caf\xc3\xa9 \xff\xc3");
        assert_eq!(s, r#""say \"hi\" \\ \x0a\x7f café \xff\xc3""#);
    }
}
