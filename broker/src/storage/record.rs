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

/// Result of scanning a buffer of records.
#[derive(Debug)]
pub struct Scan<'a> {
    /// Valid records in order, with the offset of each header.
    pub records: Vec<(u64, &'a [u8])>,
    /// Offset just after the last valid record.
    pub valid_len: u64,
    /// Why scanning stopped before the end, if it did.
    pub corrupt: Option<String>,
}

/// Splits `buf` into records, stopping at the first torn or corrupt one.
pub fn scan(buf: &[u8], max_body: usize) -> Scan<'_> {
    let mut records = Vec::new();
    let mut pos = 0usize;
    let mut corrupt = None;
    while pos < buf.len() {
        if buf.len() - pos < HEADER {
            corrupt = Some(format!("torn header at offset {pos}"));
            break;
        }
        let len = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        let crc = u32::from_be_bytes([buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]]);
        if len > max_body || buf.len() - pos - HEADER < len {
            corrupt = Some(format!("torn or oversized record at offset {pos}"));
            break;
        }
        let body = &buf[pos + HEADER..pos + HEADER + len];
        if crc32c::crc32c(body) != crc {
            corrupt = Some(format!("CRC mismatch at offset {pos}"));
            break;
        }
        records.push((pos as u64, body));
        pos += HEADER + len;
    }
    Scan {
        records,
        valid_len: pos as u64,
        corrupt,
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
        assert!(s.corrupt.unwrap().contains("CRC"));
    }

    #[test]
    fn scan_reports_torn_tail() {
        let mut buf = Vec::new();
        frame(b"one", &mut buf);
        buf.extend_from_slice(&[0, 0, 0]);
        let s = scan(&buf, 1024);
        assert_eq!(s.records.len(), 1);
        assert!(s.corrupt.is_some());
    }
}
