//! Entry framing: `type u8 | flag u8 | length u32 | body | crc32c u32`, all big-endian.

use crate::error::{Error, Result};

/// Bytes before the body.
pub(crate) const HEADER_LEN: usize = 6;
/// Bytes after the body.
pub(crate) const CRC_LEN: usize = 4;
/// The only encoding variant the format defines.
pub(crate) const FLAG_SIMPLE: u8 = 1;

/// The entry types that may appear in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryType {
    /// Series definitions.
    Series = 2,
    /// Samples.
    Samples = 3,
    /// Tombstones.
    Deletes = 4,
}

/// What the type byte at an entry position says.
pub(crate) enum TypeByte {
    /// Zero: the rest of the segment is preallocated space.
    End,
    Entry(EntryType),
    /// 1 (reserved "symbols") or anything above 4.
    Invalid(u8),
}

pub(crate) fn classify(type_byte: u8) -> TypeByte {
    match type_byte {
        0 => TypeByte::End,
        2 => TypeByte::Entry(EntryType::Series),
        3 => TypeByte::Entry(EntryType::Samples),
        4 => TypeByte::Entry(EntryType::Deletes),
        other => TypeByte::Invalid(other),
    }
}

/// Body length from an entry header.
#[inline]
pub(crate) fn body_len(header: &[u8; HEADER_LEN]) -> u32 {
    u32::from_be_bytes([header[2], header[3], header[4], header[5]])
}

/// Length of an entry with a body of `body` bytes.
pub(crate) const fn framed_len(body: usize) -> usize {
    HEADER_LEN.saturating_add(body).saturating_add(CRC_LEN)
}

/// Refuses a body of `len` bytes if it exceeds the u32 length field (checked before
/// encoding, so that nothing the size of such an entry is ever built).
pub(crate) fn check_body_len(len: u64) -> Result<()> {
    if len > u64::from(u32::MAX) {
        return Err(too_large(len, u32::MAX));
    }
    Ok(())
}

fn too_large(body: impl std::fmt::Display, max_body: u32) -> Error {
    Error::invalid(format!(
        "entry body of {body} bytes exceeds the format's limit of {max_body} bytes \
         (u32 length field); log a smaller batch"
    ))
}

/// Appends one complete entry to `out`: the body is appended by `encode`, then the
/// header and CRC are filled in. Fails, leaving `out` as it was, if the body exceeds the
/// u32 length field.
pub(crate) fn frame<R>(
    out: &mut Vec<u8>,
    entry_type: EntryType,
    encode: impl FnOnce(&mut Vec<u8>) -> R,
) -> Result<R> {
    frame_limited(out, entry_type, u32::MAX, encode)
}

fn frame_limited<R>(
    out: &mut Vec<u8>,
    entry_type: EntryType,
    max_body: u32,
    encode: impl FnOnce(&mut Vec<u8>) -> R,
) -> Result<R> {
    let start = out.len();
    out.extend_from_slice(&[entry_type as u8, FLAG_SIMPLE, 0, 0, 0, 0]);
    let r = encode(out);
    let body = out.len() - start - HEADER_LEN;
    let len = match u32::try_from(body) {
        Ok(len) if len <= max_body => len,
        _ => {
            out.truncate(start);
            return Err(too_large(body, max_body));
        }
    };
    out[start + 2..start + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    let crc = crc_fast::crc32_iscsi(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(r)
}

/// Checks the CRC of a complete entry (`header | body | crc`).
#[inline]
pub(crate) fn crc_matches(entry: &[u8]) -> bool {
    match entry.len().checked_sub(CRC_LEN) {
        Some(n) => crc_fast::crc32_iscsi(&entry[..n]).to_be_bytes() == entry[n..],
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_over_the_length_limit_is_refused() {
        let mut out = Vec::new();
        frame_limited(&mut out, EntryType::Samples, 100, |b| {
            b.resize(b.len() + 100, 7)
        })
        .unwrap();
        assert_eq!(out.len(), HEADER_LEN + 100 + CRC_LEN);
        assert!(crc_matches(&out));
        let e = frame_limited(&mut out, EntryType::Samples, 100, |b| {
            b.resize(b.len() + 101, 7)
        });
        match e {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("101 bytes"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
