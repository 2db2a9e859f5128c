//! A subscription's durable position: every entry below `mark_delete` is
//! acknowledged, plus the individually acknowledged entries above it.
//!
//! On disk: `DIR/<hex(subscription)>.cursor`, a log of records replayed at
//! start; periodically rewritten as one snapshot record.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::record;
use crate::error::{BrokerError, Result};

const EXT: &str = "cursor";
const KIND_ACK: u8 = 1;
const KIND_RESET: u8 = 2;

/// In-memory acknowledgement state of a subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CursorState {
    /// All entries below this id are acknowledged.
    pub mark_delete: u64,
    /// Acknowledged entries at or above `mark_delete`.
    pub acked: BTreeSet<u64>,
}

impl CursorState {
    /// A cursor positioned so that `next` is the first unacknowledged entry.
    pub fn at(next: u64) -> Self {
        CursorState {
            mark_delete: next,
            acked: BTreeSet::new(),
        }
    }

    /// Whether `id` is acknowledged.
    pub fn is_acked(&self, id: u64) -> bool {
        id < self.mark_delete || self.acked.contains(&id)
    }

    /// Acknowledges one entry; returns false if it already was.
    pub fn ack(&mut self, id: u64) -> bool {
        if self.is_acked(id) {
            return false;
        }
        self.acked.insert(id);
        self.compact();
        true
    }

    /// Acknowledges every entry up to and including `id`.
    pub fn ack_through(&mut self, id: u64) -> bool {
        if id < self.mark_delete {
            return false;
        }
        self.mark_delete = id + 1;
        self.compact();
        true
    }

    /// Moves the cursor: nothing at or above `next` is acknowledged.
    pub fn reset(&mut self, next: u64) {
        *self = CursorState::at(next);
    }

    fn compact(&mut self) {
        self.acked = self.acked.split_off(&self.mark_delete);
        while self.acked.remove(&self.mark_delete) {
            self.mark_delete += 1;
        }
    }

    /// Applies a record read back from disk.
    fn apply(&mut self, body: &[u8]) -> Result<()> {
        let (kind, rest) = body
            .split_first()
            .ok_or_else(|| BrokerError::Corrupt("empty cursor record".into()))?;
        let ids = rest.chunks_exact(8).map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_be_bytes(b)
        });
        match *kind {
            KIND_ACK => {
                for id in ids {
                    self.ack(id);
                }
            }
            KIND_RESET => {
                let mut ids = ids;
                let next = ids
                    .next()
                    .ok_or_else(|| BrokerError::Corrupt("reset without position".into()))?;
                self.reset(next);
                for id in ids {
                    self.ack(id);
                }
            }
            k => return Err(BrokerError::Corrupt(format!("cursor record kind {k}"))),
        }
        Ok(())
    }
}

/// Record acknowledging the given entries.
pub fn ack_record(ids: &[u64]) -> Vec<u8> {
    let mut body = Vec::with_capacity(1 + 8 * ids.len());
    body.push(KIND_ACK);
    for id in ids {
        body.extend_from_slice(&id.to_be_bytes());
    }
    framed(&body)
}

/// Record replacing the whole state (used for seek and for snapshots).
pub fn snapshot_record(state: &CursorState) -> Vec<u8> {
    let mut body = Vec::with_capacity(9 + 8 * state.acked.len());
    body.push(KIND_RESET);
    body.extend_from_slice(&state.mark_delete.to_be_bytes());
    for id in &state.acked {
        body.extend_from_slice(&id.to_be_bytes());
    }
    framed(&body)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record::HEADER + body.len());
    record::frame(body, &mut out);
    out
}

/// File holding the cursor of `subscription` under `dir`.
pub fn cursor_path(dir: &Path, subscription: &str) -> PathBuf {
    dir.join(format!("{}.{EXT}", hex::encode(subscription)))
}

/// Reads every cursor in `dir`: `(subscription, state, records)`, truncating corrupt tails.
pub fn load_all(dir: &Path) -> Result<Vec<(String, CursorState, usize)>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(BrokerError::io(dir, e)),
    };
    for ent in rd {
        let ent = ent.map_err(|e| BrokerError::io(dir, e))?;
        let name = ent.file_name().to_string_lossy().to_string();
        let Some(sub) = name
            .strip_suffix(&format!(".{EXT}"))
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| String::from_utf8(b).ok())
        else {
            continue;
        };
        let path = ent.path();
        let buf = record::read_all(&path).map_err(|e| BrokerError::io(&path, e))?;
        let scan = record::scan(&buf, 64 << 20);
        let mut state = CursorState::default();
        for (_, body) in &scan.records {
            state.apply(body)?;
        }
        if let Some(reason) = scan.corrupt {
            tracing::warn!(path = %path.display(), reason, kept_bytes = scan.valid_len, "truncating corrupt cursor tail");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| BrokerError::io(&path, e))?;
            f.set_len(scan.valid_len)
                .and_then(|_| f.sync_all())
                .map_err(|e| BrokerError::io(&path, e))?;
        }
        out.push((sub, state, scan.records.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_advance_mark_delete() {
        let mut c = CursorState::at(0);
        c.ack(1);
        c.ack(2);
        assert_eq!(c.mark_delete, 0);
        c.ack(0);
        assert_eq!(c.mark_delete, 3);
        assert!(c.acked.is_empty());
        c.ack(5);
        c.ack_through(3);
        assert_eq!(c.mark_delete, 4);
        assert!(c.is_acked(5) && !c.is_acked(4));
    }

    #[test]
    fn records_replay_to_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = cursor_path(dir.path(), "sub/1");
        let mut c = CursorState::at(10);
        let mut file = Vec::new();
        file.extend(snapshot_record(&c));
        for ids in [&[10u64, 12][..], &[11], &[20]] {
            for id in ids {
                c.ack(*id);
            }
            file.extend(ack_record(ids));
        }
        file.extend_from_slice(&[0, 0, 0, 9, 1]);
        std::fs::write(&path, &file).unwrap();
        let all = load_all(dir.path()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, "sub/1");
        assert_eq!(all[0].1, c);
        assert_eq!(c.mark_delete, 13);
        assert!(
            std::fs::metadata(&path).unwrap().len() < file.len() as u64,
            "torn tail truncated"
        );
    }
}
