//! Body codecs of the three entry types ("simple" encoding, flag 1), see format.md.
//!
//! Encoders append to a byte vector; decoders read a body whose CRC already matched and
//! fail with a `DecodeError` on anything malformed. Decoders never allocate more than the
//! body could hold, whatever counts it claims.

use std::fmt;

use crate::record::{Label, Sample, Series, Tombstone};

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(msg.into()))
}

// ---- primitive encoders -------------------------------------------------------------

#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push(x as u8 | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, x: i64) {
    put_uvarint(out, zigzag(x));
}

// ---- primitive decoders -------------------------------------------------------------

/// A cursor over a body. Every read checks bounds; none panics.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    pub(crate) fn be64(&mut self) -> Option<u64> {
        let bytes = self.buf.get(self.pos..self.pos + 8)?;
        self.pos += 8;
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }

    /// Go's `binary.Uvarint`: at most 10 bytes, and the 10th may only be 0 or 1.
    #[inline(always)]
    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        // One- and two-byte values (most deltas) are read from one 8-byte load.
        if let Some(w) = self.buf.get(self.pos..self.pos + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            let w = u64::from_le_bytes(word);
            if w & 0x80 == 0 {
                self.pos += 1;
                return Some(w & 0x7f);
            }
            if w & 0x8000 == 0 {
                self.pos += 2;
                return Some((w & 0x7f) | ((w >> 1) & 0x3f80));
            }
        }
        self.uvarint_slow()
    }

    #[inline(never)]
    fn uvarint_slow(&mut self) -> Option<u64> {
        let mut x = 0u64;
        let mut shift = 0u32;
        for i in 0..10 {
            let b = *self.buf.get(self.pos + i)?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return None;
                }
                self.pos += i + 1;
                return Some(x | (b as u64) << shift);
            }
            x |= ((b & 0x7f) as u64) << shift;
            shift += 7;
        }
        None
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Option<i64> {
        self.uvarint().map(unzigzag)
    }

    /// A label: name and value, each a uvarint length and that many bytes.
    #[inline(always)]
    fn label(&mut self) -> Option<Label<'a>> {
        let rest = &self.buf[self.pos..];
        // Both lengths under 128 (one-byte varints): nearly every label.
        let name_len = rest.first().map_or(0x80, |&b| usize::from(b));
        if name_len < 0x80 {
            let name_end = 1 + name_len;
            let value_len = rest.get(name_end).map_or(0x80, |&b| usize::from(b));
            let end = name_end + 1 + value_len;
            if value_len < 0x80 && end <= rest.len() {
                self.pos += end;
                return Some(Label {
                    name: &rest[1..name_end],
                    value: &rest[name_end + 1..end],
                });
            }
        }
        let name = self.uvarint().and_then(|len| self.bytes(len))?;
        let value = self.uvarint().and_then(|len| self.bytes(len))?;
        Some(Label { name, value })
    }

    #[inline]
    pub(crate) fn bytes(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        if n > self.remaining() {
            return None;
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Some(s)
    }
}

// ---- series -------------------------------------------------------------------------

/// Appends the series body.
pub(crate) fn encode_series(out: &mut Vec<u8>, series: &[Series<'_>]) {
    for s in series {
        out.extend_from_slice(&s.series_ref.to_be_bytes());
        put_uvarint(out, s.labels.len() as u64);
        for l in s.labels {
            put_uvarint(out, l.name.len() as u64);
            out.extend_from_slice(l.name);
            put_uvarint(out, l.value.len() as u64);
            out.extend_from_slice(l.value);
        }
    }
}

/// Bytes `x` takes as a uvarint.
#[inline]
pub(crate) fn uvarint_len(x: u64) -> u64 {
    u64::from(64 - (x | 1).leading_zeros()).div_ceil(7)
}

/// The exact body length `encode_series` gives, without encoding (so that an entry too
/// large for the format is refused before any of it is copied).
pub(crate) fn series_body_len(series: &[Series<'_>]) -> u64 {
    series
        .iter()
        .map(|s| {
            let labels: u64 = s
                .labels
                .iter()
                .map(|l| {
                    let (n, v) = (l.name.len() as u64, l.value.len() as u64);
                    uvarint_len(n) + n + uvarint_len(v) + v
                })
                .sum();
            8 + uvarint_len(s.labels.len() as u64) + labels
        })
        .sum()
}

/// A decoded series whose labels are `labels[start..start + len]` of the label arena.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesSpan {
    pub series_ref: u64,
    pub start: usize,
    pub len: usize,
}

/// `a <= b`, deciding on the first bytes where they differ (label names usually do)
/// without a call to `memcmp`.
#[inline(always)]
fn name_le(a: &[u8], b: &[u8]) -> bool {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a <= b,
    }
}

/// Decodes a series body; labels of each series are sorted by name (stable).
pub(crate) fn decode_series<'a>(
    body: &'a [u8],
    spans: &mut Vec<SeriesSpan>,
    labels: &mut Vec<Label<'a>>,
) -> Result<(), DecodeError> {
    let mut c = Cursor::new(body);
    while c.remaining() > 0 {
        let Some(series_ref) = c.be64() else {
            return err(format!(
                "series body: {} bytes left, too few for a series ref",
                c.remaining()
            ));
        };
        let Some(n) = c.uvarint() else {
            return err(format!("series {series_ref}: bad label count varint"));
        };
        // Each label takes at least two bytes (two zero lengths).
        if n > (c.remaining() / 2) as u64 {
            return err(format!(
                "series {series_ref}: {n} labels claimed but only {} bytes left",
                c.remaining()
            ));
        }
        let start = labels.len();
        labels.reserve(n as usize);
        for _ in 0..n {
            let Some(label) = c.label() else {
                return err(format!("series {series_ref}: label cut short"));
            };
            labels.push(label);
        }
        // Label sets usually arrive sorted; checking is cheaper than sorting.
        if !labels[start..].is_sorted_by(|a, b| name_le(a.name, b.name)) {
            labels[start..].sort_by(|a, b| a.name.cmp(b.name));
        }
        spans.push(SeriesSpan {
            series_ref,
            start,
            len: n as usize,
        });
    }
    Ok(())
}

// ---- samples ------------------------------------------------------------------------

/// Most bytes one encoded sample can take: two 10-byte varints and the value.
const MAX_SAMPLE_LEN: usize = 28;
/// Most bytes a sample the fast path decodes can take: two 2-byte varints and the value.
const SHORT_SAMPLE_LEN: usize = 12;

#[inline(always)]
fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

/// Appends the samples body; returns the highest timestamp (`i64::MIN` if empty).
pub(crate) fn encode_samples(out: &mut Vec<u8>, samples: &[Sample]) -> i64 {
    let Some(first) = samples.first() else {
        return i64::MIN;
    };
    // Encode into room for the worst case, then keep what was used: no per-byte
    // capacity or bounds checks (they were a third of the loop), and the room is not
    // zeroed first.
    let room = samples_body_bound(samples.len());
    out.reserve(room);
    let start = out.len();
    let mut max_t = i64::MIN;
    // SAFETY: `reserve` made `room` bytes of capacity available from `start`. The base
    // takes 16 of them and each sample at most MAX_SAMPLE_LEN (two varints of at most 10
    // bytes and the 8-byte value). A short varint is stored as 8 bytes of which 1 or 2
    // count; the extra bytes land where the next varint or the value goes, inside that
    // sample's MAX_SAMPLE_LEN, so no store goes past `room`. Every byte up to the final
    // `p` was written, so `set_len` exposes only initialised bytes.
    unsafe {
        let base = out.as_mut_ptr().add(start);
        store8(base, first.series_ref.to_be_bytes());
        store8(base.add(8), first.t.to_be_bytes());
        let mut p = base.add(16);
        for s in samples {
            let dref = (s.series_ref as i64).wrapping_sub(first.series_ref as i64);
            p = put_uvarint_raw(p, zigzag(dref));
            p = put_uvarint_raw(p, zigzag(s.t.wrapping_sub(first.t)));
            store8(p, s.v.to_bits().to_be_bytes());
            p = p.add(8);
            max_t = max_t.max(s.t);
        }
        out.set_len(start + p.offset_from(base) as usize);
    }
    max_t
}

/// Most body bytes `n` samples can take.
pub(crate) const fn samples_body_bound(n: usize) -> usize {
    n.saturating_mul(MAX_SAMPLE_LEN).saturating_add(16)
}

/// The exact body length `encode_samples` gives, without encoding.
pub(crate) fn samples_body_len(samples: &[Sample]) -> u64 {
    let Some(first) = samples.first() else {
        return 0;
    };
    16 + samples
        .iter()
        .map(|s| {
            let dref = (s.series_ref as i64).wrapping_sub(first.series_ref as i64);
            uvarint_len(zigzag(dref)) + uvarint_len(zigzag(s.t.wrapping_sub(first.t))) + 8
        })
        .sum::<u64>()
}

/// The exact body length `encode_deletes` gives, without encoding.
pub(crate) fn deletes_body_len(tombstones: &[Tombstone]) -> u64 {
    tombstones
        .iter()
        .map(|d| 8 + uvarint_len(zigzag(d.mint)) + uvarint_len(zigzag(d.maxt)))
        .sum()
}

/// Most body bytes `n` tombstones can take.
pub(crate) const fn deletes_body_bound(n: usize) -> usize {
    n.saturating_mul(MAX_SAMPLE_LEN)
}

/// Stores 8 bytes at `p`.
///
/// # Safety
/// `p..p + 8` must be writable memory of one allocation.
#[inline(always)]
unsafe fn store8(p: *mut u8, bytes: [u8; 8]) {
    // SAFETY: the caller's contract; unaligned stores are fine for `[u8; 8]`.
    unsafe { p.cast::<[u8; 8]>().write_unaligned(bytes) }
}

/// Writes `x` as a uvarint at `p`; returns the position after it. One- and two-byte
/// values (nearly all deltas) take one 8-byte store.
///
/// # Safety
/// `p..p + 10` must be writable memory of one allocation (`p..p + 8` suffices when
/// `x < 2^14`).
#[inline(always)]
unsafe fn put_uvarint_raw(p: *mut u8, mut x: u64) -> *mut u8 {
    // SAFETY (all three branches): the caller's contract covers every byte written.
    unsafe {
        if x < 0x80 {
            store8(p, x.to_le_bytes());
            return p.add(1);
        }
        if x < 0x4000 {
            store8(p, ((x & 0x7f) | 0x80 | ((x >> 7) << 8)).to_le_bytes());
            return p.add(2);
        }
        let mut q = p;
        while x >= 0x80 {
            q.write(x as u8 | 0x80);
            x >>= 7;
            q = q.add(1);
        }
        q.write(x as u8);
        q.add(1)
    }
}

/// `unzigzag` of every one-byte varint, so the commonest deltas (timestamps a few
/// milliseconds apart) cost one load instead of five operations.
static UNZIGZAG_7BIT: [i8; 128] = {
    let mut t = [0i8; 128];
    let mut x = 0;
    while x < 128 {
        t[x] = unzigzag(x as u64) as i8;
        x += 1;
    }
    t
};

/// `unzigzag` of the one-byte varint in the low byte of `w` (its top bit clear).
#[inline(always)]
fn unzigzag_7bit(w: u64) -> i64 {
    UNZIGZAG_7BIT[(w & 0x7f) as usize].into()
}

#[inline(always)]
const fn unzigzag(ux: u64) -> i64 {
    ((ux >> 1) as i64) ^ -((ux & 1) as i64)
}

/// Loads 8 bytes at `p`.
///
/// # Safety
/// `p..p + 8` must be readable memory of one allocation.
#[inline(always)]
unsafe fn load8(p: *const u8) -> [u8; 8] {
    // SAFETY: the caller's contract; unaligned loads are fine for `[u8; 8]`.
    unsafe { p.cast::<[u8; 8]>().read_unaligned() }
}

/// `unzigzag` of the two-byte varint in the low bytes of `w` (the first byte's top bit
/// set, the second's clear).
#[inline(always)]
fn unzigzag_14bit(w: u64) -> i64 {
    unzigzag((w & 0x7f) | ((w >> 1) & 0x3f80))
}

/// The continuation bits of a sample whose varints take `n1` and `n2` bytes (1 or 2),
/// as (which bits of its first 8 bytes to test, what they must be).
const fn shape_bits(n1: usize, n2: usize) -> (u64, u64) {
    let mask = 0x8080_8080 & ((1u64 << (8 * (n1 + n2))) - 1);
    let first = if n1 == 2 { 0x80 } else { 0 };
    let second = if n2 == 2 { 0x80 << (8 * n1) } else { 0 };
    (mask, first | second)
}

/// Decodes consecutive samples whose varints take `N1` and `N2` bytes, from `p` while
/// `p <= end`, into `slot` onwards; returns where it stopped and the highest timestamp.
/// In a samples entry the deltas' widths change rarely (refs of one batch are close,
/// timestamps a scrape apart), so one test per sample checks both widths and the
/// offsets are constants.
///
/// # Safety
/// `p` and `end` point into one body, with `end + SHORT_SAMPLE_LEN <= ` its end, and
/// `slot` has room for every sample that starts at or before `end`: with `slot` the
/// `k`-th slot of an `out` of `(body.len() - 16) / 10` slots, `p` is at least
/// `16 + 10 * k` bytes into the body (the base, then `k` samples of at least 10 bytes
/// each), so the last sample that can start at `end` lands at most in slot
/// `(body.len() - 28) / 10`, within `out`.
#[inline(always)]
unsafe fn decode_shape_run<const N1: usize, const N2: usize>(
    mut p: *const u8,
    end: *const u8,
    mut slot: *mut Sample,
    base: (i64, i64),
    mut max: i64,
) -> (*const u8, *mut Sample, i64) {
    let (mask, want) = const { shape_bits(N1, N2) };
    while p <= end {
        // SAFETY (both loads): the caller's contract; the bytes read lie within the
        // first 12 from `p`.
        let w = u64::from_le_bytes(unsafe { load8(p) });
        if w & mask != want {
            break;
        }
        let d1 = if N1 == 1 {
            unzigzag_7bit(w)
        } else {
            unzigzag_14bit(w)
        };
        let w2 = w >> (8 * N1);
        let d2 = if N2 == 1 {
            unzigzag_7bit(w2)
        } else {
            unzigzag_14bit(w2)
        };
        let v = u64::from_be_bytes(unsafe { load8(p.add(N1 + N2)) });
        let t = base.1.wrapping_add(d2);
        max = max.max(t);
        // SAFETY: the caller's contract: this sample starts at or before `end`.
        unsafe {
            slot.write(Sample {
                series_ref: base.0.wrapping_add(d1) as u64,
                t,
                v: f64::from_bits(v),
            });
            slot = slot.add(1);
            p = p.add(N1 + N2 + 8);
        }
    }
    (p, slot, max)
}

/// Decodes samples with short deltas (one or two bytes each) into `out[n..]` from
/// `body[pos..]` for as long as such a sample, however long, fits in the rest of the
/// body; returns where it stopped (`n`, `pos`).
///
/// Every sample takes at least 10 bytes, and `pos >= 16 + 10 * n` on entry (the base,
/// then `n` samples); `out` has room for `(body.len() - 16) / 10` samples.
#[inline(always)]
fn decode_short_run(
    body: &[u8],
    pos: usize,
    out: &mut [Sample],
    n: usize,
    base: (i64, i64),
    max_t: &mut i64,
) -> (usize, usize) {
    let fast_end = body.len().saturating_sub(SHORT_SAMPLE_LEN);
    if pos > fast_end || pos < 16 + 10 * n || out.len() < body.len().saturating_sub(16) / 10 {
        return (n, pos);
    }
    let mut max = *max_t;
    let start = body.as_ptr();
    // SAFETY: `pos <= fast_end < body.len()`, and `n <= out.len()`: `n` samples
    // took at least `10 * n` bytes after the base, which `pos` is past.
    let (mut p, mut slot) = unsafe { (start.add(pos), out.as_mut_ptr().add(n)) };
    // SAFETY: `fast_end <= body.len()`.
    let end = unsafe { start.add(fast_end) };
    while p <= end {
        // SAFETY (the load and the runs): `p <= end`, so `p + SHORT_SAMPLE_LEN` (more
        // than the 8 bytes loaded here) is within the body; `p >= start + 16 + 10 * k`
        // for slot `k` (checked on entry, and each sample moves `p` by at least 10 and
        // `slot` by one) and `out` has `(body.len() - 16) / 10` slots (checked on entry),
        // as `decode_shape_run` requires.
        let w = u64::from_le_bytes(unsafe { load8(p) });
        let shape = |n1, n2| {
            let (mask, want) = shape_bits(n1, n2);
            w & mask == want
        };
        (p, slot, max) = unsafe {
            if shape(1, 1) {
                decode_shape_run::<1, 1>(p, end, slot, base, max)
            } else if shape(2, 1) {
                decode_shape_run::<2, 1>(p, end, slot, base, max)
            } else if shape(1, 2) {
                decode_shape_run::<1, 2>(p, end, slot, base, max)
            } else if shape(2, 2) {
                decode_shape_run::<2, 2>(p, end, slot, base, max)
            } else {
                // A longer varint: the caller decodes this sample.
                break;
            }
        };
    }
    *max_t = max;
    // SAFETY: both pointers moved forward within their allocations.
    unsafe {
        (
            slot.offset_from(out.as_ptr()) as usize,
            p.offset_from(start) as usize,
        )
    }
}

/// Decodes a samples body into `out` (appending); returns the highest timestamp.
#[cfg(test)]
pub(crate) fn decode_samples(body: &[u8], out: &mut Vec<Sample>) -> Result<i64, DecodeError> {
    let start = out.len();
    let mut slots = std::mem::take(out);
    let result = decode_samples_into(body, &mut slots, start);
    let (n, max_t) = match result {
        Ok(r) => r,
        Err(e) => {
            slots.truncate(start);
            *out = slots;
            return Err(e);
        }
    };
    slots.truncate(start + n);
    *out = slots;
    Ok(max_t)
}

#[cold]
fn malformed_sample(n: usize) -> DecodeError {
    DecodeError(format!("samples body: sample {n} cut short or malformed"))
}

/// Decodes a samples body into `slots[at..]`, growing `slots` if it is too short but
/// never shrinking it, so a buffer reused between entries is not cleared each time.
/// Returns how many samples were decoded and the highest timestamp.
pub(crate) fn decode_samples_into(
    body: &[u8],
    slots: &mut Vec<Sample>,
    at: usize,
) -> Result<(usize, i64), DecodeError> {
    let mut max_t = i64::MIN;
    if body.is_empty() {
        return Ok((0, max_t));
    }
    let mut c = Cursor::new(body);
    let (Some(base_ref), Some(base_t)) = (c.be64(), c.be64()) else {
        return err(format!("samples body of {} bytes has no base", body.len()));
    };
    // Room for as many samples as could fit (each takes at least 10 bytes).
    let most = at + c.remaining() / 10;
    if slots.len() < most {
        let zero = Sample {
            series_ref: 0,
            t: 0,
            v: 0.0,
        };
        slots.resize(most, zero);
    }
    let out = &mut slots[at..most];
    let (base_ref, base_t) = (base_ref as i64, base_t as i64);
    let mut n = 0;
    let mut pos = c.pos;
    loop {
        (n, pos) = decode_short_run(body, pos, out, n, (base_ref, base_t), &mut max_t);
        if pos == body.len() {
            break;
        }
        // A long delta, or the last few samples: one sample with every read checked.
        let mut c = Cursor { buf: body, pos };
        let (Some(dref), Some(dt), Some(v), Some(slot)) =
            (c.varint(), c.varint(), c.be64(), out.get_mut(n))
        else {
            return Err(malformed_sample(n));
        };
        let t = base_t.wrapping_add(dt);
        max_t = max_t.max(t);
        *slot = Sample {
            series_ref: base_ref.wrapping_add(dref) as u64,
            t,
            v: f64::from_bits(v),
        };
        n += 1;
        pos = c.pos;
    }
    Ok((n, max_t))
}

// ---- deletes ------------------------------------------------------------------------

/// Appends the deletes body; returns the highest `maxt`.
pub(crate) fn encode_deletes(out: &mut Vec<u8>, tombstones: &[Tombstone]) -> i64 {
    let mut max_t = i64::MIN;
    for d in tombstones {
        out.extend_from_slice(&d.series_ref.to_be_bytes());
        put_varint(out, d.mint);
        put_varint(out, d.maxt);
        max_t = max_t.max(d.maxt);
    }
    max_t
}

/// Decodes a deletes body into `out` (appending); returns the highest `maxt`.
pub(crate) fn decode_deletes(body: &[u8], out: &mut Vec<Tombstone>) -> Result<i64, DecodeError> {
    let mut max_t = i64::MIN;
    let mut c = Cursor::new(body);
    while c.remaining() > 0 {
        let (Some(series_ref), Some(mint), Some(maxt)) = (c.be64(), c.varint(), c.varint()) else {
            return err(format!(
                "deletes body: tombstone {} cut short or malformed",
                out.len()
            ));
        };
        max_t = max_t.max(maxt);
        out.push(Tombstone {
            series_ref,
            mint,
            maxt,
        });
    }
    Ok(max_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_edges() {
        for &x in &[0i64, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 300, -300] {
            let mut b = Vec::new();
            put_varint(&mut b, x);
            let mut c = Cursor::new(&b);
            assert_eq!(c.varint(), Some(x));
            assert_eq!(c.remaining(), 0);
        }
    }

    #[test]
    fn body_lengths_match_the_encoded_bodies() {
        for x in [0, 1, 127, 128, 16383, 16384, u64::MAX >> 1, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, x);
            assert_eq!(uvarint_len(x), b.len() as u64, "{x}");
        }
        let edges = [0i64, 1, -1, 63, -64, 64, 8191, -8192, i64::MAX, i64::MIN];
        let samples: Vec<Sample> = edges
            .iter()
            .flat_map(|&a| edges.iter().map(move |&b| (a, b)))
            .map(|(a, b)| Sample {
                series_ref: a as u64,
                t: b,
                v: 0.5,
            })
            .collect();
        let tombstones: Vec<Tombstone> = samples
            .iter()
            .map(|s| Tombstone {
                series_ref: s.series_ref,
                mint: s.t,
                maxt: s.series_ref as i64,
            })
            .collect();
        let (name, value) = (vec![b'n'; 200], vec![b'v'; 20000]);
        let labels = [Label::new("a", ""), Label::new(&name, &value)];
        let series = [
            Series {
                series_ref: 7,
                labels: &labels,
            },
            Series {
                series_ref: u64::MAX,
                labels: &[],
            },
        ];
        for n in [0, 1, 2, samples.len()] {
            let mut b = Vec::new();
            encode_samples(&mut b, &samples[..n]);
            assert_eq!(
                samples_body_len(&samples[..n]),
                b.len() as u64,
                "{n} samples"
            );
            b.clear();
            encode_deletes(&mut b, &tombstones[..n]);
            assert_eq!(deletes_body_len(&tombstones[..n]), b.len() as u64);
        }
        for n in 0..=series.len() {
            let mut b = Vec::new();
            encode_series(&mut b, &series[..n]);
            assert_eq!(series_body_len(&series[..n]), b.len() as u64, "{n} series");
        }
    }

    #[test]
    fn uvarint_rejects_overflow_and_short_input() {
        let mut c = Cursor::new(&[0xff; 10]);
        assert_eq!(c.uvarint(), None);
        let mut c = Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
        assert_eq!(c.uvarint(), None);
        let mut c = Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(c.uvarint(), Some(u64::MAX));
        let mut c = Cursor::new(&[0x80]);
        assert_eq!(c.uvarint(), None);
    }

    #[test]
    fn series_round_trip_with_names_and_values_of_every_varint_width() {
        // Lengths on both sides of the one-byte varint limit (127/128) and beyond.
        // Miri runs this too: the two-byte-varint lengths past 16 K only natively.
        let lens: &[usize] = if cfg!(miri) {
            &[0, 1, 127, 128, 300]
        } else {
            &[0, 1, 2, 126, 127, 128, 129, 300, 16383, 16384]
        };
        let texts: Vec<Vec<u8>> = lens
            .iter()
            .map(|&n| (0..n).map(|i| b'a' + (i % 26) as u8).collect())
            .collect();
        // Names share their first bytes and differ later (or only in length).
        let mut labels = Vec::new();
        for name in &texts {
            for value in &texts {
                labels.push(Label { name, value });
            }
        }
        let reversed: Vec<Label<'_>> = labels.iter().rev().copied().collect();
        let series = [
            Series {
                series_ref: 1,
                labels: &labels,
            },
            Series {
                series_ref: u64::MAX,
                labels: &reversed,
            },
            Series {
                series_ref: 3,
                labels: &[],
            },
        ];
        let mut body = Vec::new();
        encode_series(&mut body, &series);
        let (mut spans, mut got) = (Vec::new(), Vec::new());
        decode_series(&body, &mut spans, &mut got).unwrap();
        assert_eq!(spans.len(), 3);
        let mut sorted = labels.clone();
        sorted.sort_by(|a, b| a.name.cmp(b.name));
        let mut sorted_rev = reversed.clone();
        sorted_rev.sort_by(|a, b| a.name.cmp(b.name));
        for (span, (want_ref, want)) in
            spans
                .iter()
                .zip([(1, &sorted), (u64::MAX, &sorted_rev), (3, &Vec::new())])
        {
            assert_eq!(span.series_ref, want_ref);
            assert_eq!(&got[span.start..span.start + span.len], &want[..]);
        }
        // Every cut of a smaller body is an error, or at a series boundary fewer
        // series; never a panic or a label past the end.
        let small: Vec<Label<'_>> = labels
            .iter()
            .filter(|l| l.name.len() <= 300 && l.value.len() <= 300)
            .copied()
            .collect();
        let series = [
            Series {
                series_ref: 1,
                labels: &small,
            },
            Series {
                series_ref: 2,
                labels: &small[..3],
            },
        ];
        let mut body = Vec::new();
        encode_series(&mut body, &series);
        let (mut full_spans, mut full) = (Vec::new(), Vec::new());
        decode_series(&body, &mut full_spans, &mut full).unwrap();
        let first_len = full_spans[0].len;
        let step = if cfg!(miri) { 61 } else { 1 };
        for cut in (0..body.len()).step_by(step) {
            let (mut spans, mut got) = (Vec::new(), Vec::new());
            if decode_series(&body[..cut], &mut spans, &mut got).is_ok() {
                // Only a cut between the two series decodes: to the first, whole.
                match spans.len() {
                    0 => assert_eq!(cut, 0),
                    1 => assert_eq!(got, full[..first_len], "cut at {cut}"),
                    n => panic!("{n} series from a cut at {cut}"),
                }
            }
        }
    }

    #[test]
    fn name_le_agrees_with_slice_order() {
        let names: [&[u8]; 9] = [
            b"",
            b"a",
            b"ab",
            b"abc",
            b"b",
            b"ba",
            b"\xff",
            b"a\xff",
            b"__name__",
        ];
        for a in names {
            for b in names {
                assert_eq!(name_le(a, b), a <= b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn huge_label_count_does_not_allocate() {
        let mut body = 7u64.to_be_bytes().to_vec();
        put_uvarint(&mut body, u64::MAX >> 1);
        let (mut spans, mut labels) = (Vec::new(), Vec::new());
        assert!(decode_series(&body, &mut spans, &mut labels).is_err());
        assert!(labels.capacity() < 1024);
    }

    #[test]
    fn samples_round_trip_with_wrapping_deltas() {
        let input = [
            Sample {
                series_ref: u64::MAX,
                t: i64::MAX,
                v: 1.5,
            },
            Sample {
                series_ref: 0,
                t: i64::MIN,
                v: -0.0,
            },
            Sample {
                series_ref: 1 << 63,
                t: -1,
                v: f64::INFINITY,
            },
        ];
        let mut body = Vec::new();
        assert_eq!(encode_samples(&mut body, &input), i64::MAX);
        let mut out = Vec::new();
        assert_eq!(decode_samples(&body, &mut out), Ok(i64::MAX));
        assert_eq!(out.len(), 3);
        for (a, b) in input.iter().zip(&out) {
            assert_eq!(
                (a.series_ref, a.t, a.v.to_bits()),
                (b.series_ref, b.t, b.v.to_bits())
            );
        }
    }

    /// A reproducible stream of pseudo-random numbers (xorshift64) from `seed`.
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn samples_round_trip_in_runs_of_every_short_shape() {
        // Runs of samples whose two deltas take 1 or 2 bytes each (the four shapes the
        // fast path decodes with constant offsets), switching shape after runs of
        // random length, sometimes through a sample with a 3-byte delta.
        let mut next = xorshift(0x2545_F491_4F6C_DD1Du64);
        let (base_ref, base_t) = (1_000_000i64, 1_700_000_000_000i64);
        // A delta whose zigzag varint takes `width` bytes, of either sign.
        let delta = |width: u64, r: u64| -> i64 {
            let magnitude = match width {
                1 => r % 64,
                2 => 64 + r % (8192 - 64),
                _ => 8192 + r % 100_000,
            } as i64;
            if r & (1 << 40) != 0 {
                -magnitude - 1
            } else {
                magnitude
            }
        };
        for _ in 0..if cfg!(miri) { 2 } else { 100 } {
            let mut samples = vec![Sample {
                series_ref: base_ref as u64,
                t: base_t,
                v: 0.5,
            }];
            let mut encoded_len = 16 + 10; // the base, then a sample of two 0 deltas
            while samples.len() < 300 {
                let rare = next() % 8 == 0;
                let (w1, w2) = if rare {
                    (3, 1)
                } else {
                    (1 + next() % 2, 1 + next() % 2)
                };
                for _ in 0..1 + next() % 20 {
                    let (d1, d2) = (delta(w1, next()), delta(w2, next()));
                    samples.push(Sample {
                        series_ref: (base_ref + d1) as u64,
                        t: base_t + d2,
                        v: f64::from_bits(next()),
                    });
                    encoded_len += (w1 + w2 + 8) as usize;
                }
            }
            let mut body = Vec::new();
            let max_t = encode_samples(&mut body, &samples);
            assert_eq!(body.len(), encoded_len, "deltas of the intended widths");
            let mut out = Vec::new();
            assert_eq!(decode_samples(&body, &mut out), Ok(max_t));
            assert_eq!(out.len(), samples.len());
            for (i, (a, b)) in samples.iter().zip(&out).enumerate() {
                assert_eq!(
                    (a.series_ref, a.t, a.v.to_bits()),
                    (b.series_ref, b.t, b.v.to_bits()),
                    "sample {i}"
                );
            }
        }
    }

    #[test]
    fn samples_round_trip_for_deltas_of_every_width() {
        // Deltas from 0 to the full 64-bit range exercise both the short-delta fast path
        // and the general varint path, at every position within a body.
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15u64);
        // Fewer rounds under Miri, which interprets every instruction.
        for round in 0..if cfg!(miri) { 3 } else { 200 } {
            let n = 1 + (next() % 50) as usize;
            let samples: Vec<Sample> = (0..n)
                .map(|_| {
                    let width = next() % 65;
                    let mask = if width == 64 {
                        u64::MAX
                    } else {
                        (1u64 << width) - 1
                    };
                    Sample {
                        series_ref: next() & mask,
                        t: (next() & (mask >> (round % 3))) as i64,
                        v: f64::from_bits(next()),
                    }
                })
                .collect();
            let mut body = Vec::new();
            let max_t = encode_samples(&mut body, &samples);
            let mut out = vec![Sample {
                series_ref: 1,
                t: 1,
                v: 1.0,
            }];
            assert_eq!(decode_samples(&body, &mut out), Ok(max_t));
            assert_eq!(out.len(), n + 1, "appends after what was there");
            for (a, b) in samples.iter().zip(&out[1..]) {
                assert_eq!(
                    (a.series_ref, a.t, a.v.to_bits()),
                    (b.series_ref, b.t, b.v.to_bits())
                );
            }
            // Every cut-short body is an error, never a panic or a wrong sample count.
            for cut in (17..body.len()).step_by(if cfg!(miri) { 13 } else { 1 }) {
                let mut partial = Vec::new();
                if decode_samples(&body[..cut], &mut partial).is_ok() {
                    assert!(partial.len() < n);
                }
            }
        }
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut body = Vec::new();
        encode_deletes(
            &mut body,
            &[Tombstone {
                series_ref: 1,
                mint: 2,
                maxt: 3,
            }],
        );
        body.push(0x80);
        assert!(decode_deletes(&body, &mut Vec::new()).is_err());

        // Fewer than the 10 bytes a sample takes at least, after whole samples: no slot
        // is left for them, and they must not be ignored.
        let samples = [Sample {
            series_ref: 1,
            t: 2,
            v: 3.0,
        }];
        for extra in 1..10 {
            let mut body = Vec::new();
            encode_samples(&mut body, &samples);
            body.extend(std::iter::repeat_n(0u8, extra));
            assert!(decode_samples(&body, &mut Vec::new()).is_err(), "{extra}");
        }
    }
}
