//! Length-prefixed, CRC-checked records shared by segments and cursors.

use std::io::Read;

/// Bytes of record header: length then CRC32C of the body.
pub const HEADER: usize = 8;

/// Appends one framed record for `body` to `out`.
pub fn frame(body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
    out.extend_from_slice(body);
}

/// A byte range that held no valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// Offset of the first damaged byte.
    pub start: u64,
    /// Offset just after the damaged bytes (the next valid record, or the end).
    pub end: u64,
}

/// Result of scanning a buffer of records.
#[derive(Debug)]
pub struct Scan<'a> {
    /// Valid records in order, with the offset of each header.
    pub records: Vec<(u64, &'a [u8])>,
    /// Offset just after the last valid record.
    pub valid_len: u64,
    /// Why scanning stopped before the end, if it did.
    pub corrupt: Option<String>,
    /// Damaged ranges skipped over, in order; the last one may run to the end (a torn tail).
    pub damage: Vec<Damage>,
}

impl Scan<'_> {
    /// Whether the buffer ends in bytes that are no valid record (a torn or damaged tail).
    pub fn damaged_tail(&self, len: usize) -> bool {
        self.damage.last().is_some_and(|d| d.end == len as u64)
    }
}

/// The record at `pos` if it is whole, within `max_body`, passes `plausible`
/// (a cheap look at the body, tried before the CRC) and its CRC matches.
fn record_at<'a>(
    buf: &'a [u8],
    pos: usize,
    max_body: usize,
    plausible: &mut impl FnMut(&[u8]) -> bool,
) -> Option<&'a [u8]> {
    let head = buf.get(pos..pos + HEADER)?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if len > max_body {
        return None;
    }
    let body = buf.get(pos + HEADER..pos + HEADER + len)?;
    (plausible(body) && crc32c::crc32c(body) == crc).then_some(body)
}

/// Splits `buf` into records, stopping at the first torn or corrupt one.
pub fn scan(buf: &[u8], max_body: usize) -> Scan<'_> {
    let mut records = Vec::new();
    let mut pos = 0usize;
    let mut corrupt = None;
    while pos < buf.len() {
        match record_at(buf, pos, max_body, &mut |_| true) {
            Some(body) => {
                records.push((pos as u64, body));
                pos += HEADER + body.len();
            }
            None => {
                corrupt = Some(format!("torn or corrupt record at offset {pos}"));
                break;
            }
        }
    }
    let damage = corrupt
        .as_ref()
        .map(|_| Damage {
            start: pos as u64,
            end: buf.len() as u64,
        })
        .into_iter()
        .collect();
    Scan {
        records,
        valid_len: pos as u64,
        corrupt,
        damage,
    }
}

/// Splits `buf` into records, skipping damaged bytes: after a record that fails
/// its length or CRC check, the scan looks byte by byte for the next position
/// holding a whole record whose CRC matches and that `plausible` accepts, and
/// carries on from there. `plausible` sees each candidate body before its CRC
/// is computed (segments check the entry id, so a resync costs almost nothing
/// per byte and a payload that happens to contain a framed record is not taken
/// unless its id also fits).
/// `accept` sees each CRC-checked record in order and may still refuse it
/// (an entry id that does not follow on); a refused record counts as damage.
pub fn scan_resync<'a>(
    buf: &'a [u8],
    max_body: usize,
    plausible: impl Fn(&[u8]) -> bool,
    mut accept: impl FnMut(&[u8]) -> bool,
) -> Scan<'a> {
    let mut check = |b: &[u8]| plausible(b);
    let mut valid = |p: usize| record_at(buf, p, max_body, &mut check).filter(|body| accept(body));
    let mut records = Vec::new();
    let mut damage = Vec::new();
    let mut pos = 0usize;
    let mut valid_len = 0u64;
    while pos < buf.len() {
        let start = pos;
        let found = (start..buf.len().saturating_sub(HEADER - 1))
            .find_map(|p| valid(p).map(|body| (p, body)));
        let Some((at, body)) = found else {
            damage.push(Damage {
                start: start as u64,
                end: buf.len() as u64,
            });
            break;
        };
        if at > start {
            damage.push(Damage {
                start: start as u64,
                end: at as u64,
            });
        }
        records.push((at as u64, body));
        pos = at + HEADER + body.len();
        valid_len = pos as u64;
    }
    let corrupt = damage.first().map(|d| {
        format!(
            "{} damaged range(s), the first at offset {}",
            damage.len(),
            d.start
        )
    });
    Scan {
        records,
        valid_len,
        corrupt,
        damage,
    }
}

/// Reads a whole file into memory (used only at recovery).
pub fn read_all(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_stops_at_corruption() {
        let mut buf = Vec::new();
        frame(b"one", &mut buf);
        frame(b"two", &mut buf);
        let good = buf.len();
        frame(b"three", &mut buf);
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let s = scan(&buf, 1024);
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.records[1].1, b"two");
        assert_eq!(s.valid_len as usize, good);
        assert!(s.corrupt.is_some());
    }

    #[test]
    fn scan_reports_torn_tail() {
        let mut buf = Vec::new();
        frame(b"one", &mut buf);
        buf.extend_from_slice(&[0, 0, 0]);
        let s = scan(&buf, 1024);
        assert_eq!(s.records.len(), 1);
        assert!(s.corrupt.is_some());
        assert!(s.damaged_tail(buf.len()));
    }

    #[test]
    fn resync_keeps_every_record_after_a_damaged_one() {
        for flip in 0..(3 * (HEADER + 5)) {
            let mut buf = Vec::new();
            for body in [b"alpha", b"bravo", b"charl"] {
                frame(body, &mut buf);
            }
            buf[flip] ^= 0x40;
            let s = scan_resync(&buf, 1024, |_| true, |_| true);
            let bodies: Vec<&[u8]> = s.records.iter().map(|r| r.1).collect();
            let hit = flip / (HEADER + 5);
            let mut want: Vec<&[u8]> = vec![b"alpha", b"bravo", b"charl"];
            want.remove(hit);
            assert_eq!(bodies, want, "flip at {flip}");
            assert_eq!(s.damage.len(), 1);
            assert_eq!(s.damage[0].start as usize, hit * (HEADER + 5));
            assert_eq!(s.damaged_tail(buf.len()), hit == 2, "flip at {flip}");
        }
    }
}
