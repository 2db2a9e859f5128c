//! A subscription's durable position: every entry below `mark_delete` is
//! acknowledged, plus the individually acknowledged entries above it.
//!
//! On disk: `DIR/<hex(subscription)>.cursor`, a log of records replayed at
//! start; periodically rewritten as one snapshot (a reset record followed by
//! the batch-index records of partially acknowledged batches). Files written
//! before batch-index records existed simply have none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::record;
use crate::error::{BrokerError, Result};

const EXT: &str = "cursor";
const KIND_ACK: u8 = 1;
const KIND_RESET: u8 = 2;
/// Acknowledged batch indexes of one entry: `[entry id][bit words…]`, the whole state of that entry.
const KIND_BATCH: u8 = 3;

/// What acknowledging some batch indexes of an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexAck {
    /// Nothing new (already acknowledged).
    Unchanged,
    /// More indexes acknowledged, some still outstanding.
    Partial,
    /// Every index is now acknowledged: the entry is acknowledged.
    Whole,
}

/// In-memory acknowledgement state of a subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CursorState {
    /// All entries below this id are acknowledged.
    pub mark_delete: u64,
    /// Acknowledged entries at or above `mark_delete`.
    pub acked: BTreeSet<u64>,
    /// Batch indexes acknowledged one by one in entries not yet wholly
    /// acknowledged: bit i of the words is message i of the batch.
    pub partial: BTreeMap<u64, Vec<u64>>,
}

impl CursorState {
    /// A cursor positioned so that `next` is the first unacknowledged entry.
    pub fn at(next: u64) -> Self {
        CursorState {
            mark_delete: next,
            ..Default::default()
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
        self.partial.remove(&id);
        self.compact();
        true
    }

    /// Acknowledges the batch indexes whose bits are set in `acked` of entry
    /// `id`, a batch of `size` messages; the entry itself once all are.
    pub fn ack_indexes(&mut self, id: u64, acked: &[u64], size: u32) -> IndexAck {
        if self.is_acked(id) {
            return IndexAck::Unchanged;
        }
        let words = self.partial.entry(id).or_default();
        let before = count_bits(words);
        merge_bits(words, acked, size);
        let now = count_bits(words);
        if now >= size {
            self.ack(id);
            IndexAck::Whole
        } else if now == before {
            if now == 0 {
                self.partial.remove(&id);
            }
            IndexAck::Unchanged
        } else {
            IndexAck::Partial
        }
    }

    /// Acknowledged batch indexes of entry `id` (bit words), if some but not all are.
    pub fn acked_indexes(&self, id: u64) -> Option<&[u64]> {
        self.partial.get(&id).map(Vec::as_slice)
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

    /// Acknowledges entries `first..=last` (ids lost to damage: nothing to deliver).
    pub fn ack_range(&mut self, first: u64, last: u64) {
        if first <= self.mark_delete {
            self.mark_delete = self.mark_delete.max(last.saturating_add(1));
        } else {
            self.acked.extend(first..=last);
        }
        self.compact();
    }

    /// One past the highest entry id this state refers to.
    pub fn next_unreferenced(&self) -> u64 {
        let top = |id: Option<&u64>| id.map_or(0, |i| i + 1);
        self.mark_delete
            .max(top(self.acked.last()))
            .max(top(self.partial.keys().next_back()))
    }

    /// Moves the cursor: nothing at or above `next` is acknowledged.
    pub fn reset(&mut self, next: u64) {
        *self = CursorState::at(next);
    }

    fn compact(&mut self) {
        self.acked = self.acked.split_off(&self.mark_delete);
        self.partial = self.partial.split_off(&self.mark_delete);
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
            KIND_BATCH => {
                let mut words = ids;
                let id = words
                    .next()
                    .ok_or_else(|| BrokerError::Corrupt("batch record without entry".into()))?;
                if !self.is_acked(id) {
                    self.partial.insert(id, words.collect());
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

/// Record holding the acknowledged batch indexes (bit words) of entry `id`.
pub fn batch_record(id: u64, words: &[u64]) -> Vec<u8> {
    let mut body = Vec::with_capacity(9 + 8 * words.len());
    body.push(KIND_BATCH);
    body.extend_from_slice(&id.to_be_bytes());
    for w in words {
        body.extend_from_slice(&w.to_be_bytes());
    }
    framed(&body)
}

/// Records replacing the whole state (used for seek and for snapshots): a
/// reset, then one batch record per partially acknowledged batch.
pub fn snapshot_record(state: &CursorState) -> Vec<u8> {
    let mut body = Vec::with_capacity(9 + 8 * state.acked.len());
    body.push(KIND_RESET);
    body.extend_from_slice(&state.mark_delete.to_be_bytes());
    for id in &state.acked {
        body.extend_from_slice(&id.to_be_bytes());
    }
    let mut out = framed(&body);
    for (id, words) in &state.partial {
        out.extend(batch_record(*id, words));
    }
    out
}

/// ORs `add` into `words`, keeping only the first `size` bits.
fn merge_bits(words: &mut Vec<u64>, add: &[u64], size: u32) {
    let n = size.div_ceil(64) as usize;
    words.resize(n, 0);
    for (w, a) in words.iter_mut().zip(add) {
        *w |= a;
    }
    mask_to_size(words, size);
}

fn count_bits(words: &[u64]) -> u32 {
    words.iter().map(|w| w.count_ones()).sum()
}

/// Bit words of a batch of `size` with the given bits cleared: what Pulsar
/// sends as a message's `ack_set` (set = still to deliver) from acked bits.
pub fn unacked_words(acked: &[u64], size: u32) -> Vec<u64> {
    let n = size.div_ceil(64) as usize;
    let mut out: Vec<u64> = (0..n)
        .map(|i| !acked.get(i).copied().unwrap_or(0))
        .collect();
    mask_to_size(&mut out, size);
    out
}

/// Acked bits from a client's `ack_set` (set = not yet acknowledged).
pub fn acked_from_ack_set(ack_set: &[i64], size: u32) -> Vec<u64> {
    let n = size.div_ceil(64) as usize;
    let mut out: Vec<u64> = (0..n)
        .map(|i| !(ack_set.get(i).copied().unwrap_or(0) as u64))
        .collect();
    mask_to_size(&mut out, size);
    out
}

/// Bit `index` alone, for a batch of `size` (nothing if past the batch).
pub fn single_bit(index: u32, size: u32) -> Vec<u64> {
    let mut out = vec![0u64; size.div_ceil(64) as usize];
    if index < size {
        out[(index / 64) as usize] = 1 << (index % 64);
    }
    out
}

/// Bits 0..=`index` set, for a batch of `size`.
pub fn bits_through(index: u32, size: u32) -> Vec<u64> {
    let n = size.div_ceil(64) as usize;
    let mut out = vec![0u64; n];
    for i in 0..=index.min(size.saturating_sub(1)) {
        out[(i / 64) as usize] |= 1 << (i % 64);
    }
    out
}

fn mask_to_size(words: &mut [u64], size: u32) {
    if !size.is_multiple_of(64)
        && let Some(last) = words.last_mut()
    {
        *last &= (1u64 << (size % 64)) - 1;
    }
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

/// The bytes of a whole cursor file holding `state`: the snapshot twice, so a
/// damaged byte in one copy leaves the other to restore the position from.
pub fn snapshot_file(state: &CursorState) -> Vec<u8> {
    let one = snapshot_record(state);
    [one.as_slice(), one.as_slice()].concat()
}

/// A cursor read back at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredCursor {
    /// Subscription name.
    pub subscription: String,
    /// Acknowledgement state from the intact records.
    pub state: CursorState,
    /// Intact records read.
    pub records: usize,
    /// Damaged bytes skipped (the file was then rewritten as a clean snapshot).
    pub damaged_bytes: u64,
    /// No intact reset record was left, so the position fell back to the
    /// start of the log (everything not individually acknowledged is redelivered).
    pub position_lost: bool,
}

/// Whether `body` can be a cursor record (checked before the CRC while resyncing).
fn plausible(body: &[u8]) -> bool {
    match body.split_first() {
        Some((&KIND_ACK, rest)) => rest.len().is_multiple_of(8),
        Some((&(KIND_RESET | KIND_BATCH), rest)) => {
            !rest.is_empty() && rest.len().is_multiple_of(8)
        }
        _ => false,
    }
}

/// Reads every cursor in `dir`: `(subscription, state, records)` (see [`recover_all`]).
pub fn load_all(dir: &Path) -> Result<Vec<(String, CursorState, usize)>> {
    Ok(recover_all(dir)?
        .into_iter()
        .map(|c| (c.subscription, c.state, c.records))
        .collect())
}

/// Reads every cursor in `dir`, keeping every intact record.
///
/// A damaged record is skipped and the scan resyncs on the next intact one.
/// Losing an ack record only causes redelivery; losing a reset (a snapshot)
/// is covered by its second copy, and with no intact reset left the position
/// falls back to entry 0 (the start of what is stored), never past an
/// unacknowledged entry. A damaged file is rewritten as a clean snapshot.
pub fn recover_all(dir: &Path) -> Result<Vec<RecoveredCursor>> {
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
        out.push(recover_file(&ent.path(), sub)?);
    }
    Ok(out)
}

fn recover_file(path: &Path, subscription: String) -> Result<RecoveredCursor> {
    let buf = record::read_all(path).map_err(|e| BrokerError::io(path, e))?;
    let scan = record::scan_resync(&buf, 64 << 20, plausible, |_| true);
    let mut state = CursorState::default();
    let mut reset_seen = false;
    for (_, body) in &scan.records {
        reset_seen |= body.first() == Some(&KIND_RESET);
        state.apply(body)?;
    }
    let damaged_bytes: u64 = scan.damage.iter().map(|d| d.end - d.start).sum();
    let position_lost = !reset_seen && !buf.is_empty();
    if damaged_bytes > 0 {
        tracing::error!(path = %path.display(), subscription, damaged_bytes, ranges = scan.damage.len(), position_lost, mark_delete = state.mark_delete, "cursor damage found at recovery; intact records kept, file rewritten");
        rewrite(path, &snapshot_file(&state))?;
    }
    Ok(RecoveredCursor {
        subscription,
        state,
        records: scan.records.len(),
        damaged_bytes,
        position_lost,
    })
}

/// Replaces `path` atomically with `bytes`.
fn rewrite(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| BrokerError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| BrokerError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| BrokerError::io(path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| BrokerError::io(dir, e))?;
    }
    Ok(())
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
    fn batch_indexes_accumulate_until_the_entry_is_acked() {
        let mut c = CursorState::at(0);
        assert_eq!(c.ack_indexes(0, &[0b101], 3), IndexAck::Partial);
        assert_eq!(c.ack_indexes(0, &[0b001], 3), IndexAck::Unchanged);
        assert_eq!(c.acked_indexes(0), Some(&[0b101u64][..]));
        assert_eq!(c.ack_indexes(0, &[0b010], 3), IndexAck::Whole);
        assert_eq!(c.mark_delete, 1);
        assert!(c.partial.is_empty());
        // Bits past the batch are ignored, not counted.
        assert_eq!(c.ack_indexes(1, &[u64::MAX << 3], 3), IndexAck::Unchanged);
        assert_eq!(unacked_words(&[0b101], 10), vec![0b11_1111_1010]);
        assert_eq!(acked_from_ack_set(&[0b11_1111_1010], 10), vec![0b101]);
        assert_eq!(bits_through(2, 70), vec![0b111, 0]);
        assert_eq!(unacked_words(&[], 70), vec![u64::MAX, 0b11_1111]);
    }

    #[test]
    fn batch_records_survive_snapshots_and_old_files_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = cursor_path(dir.path(), "s");
        let mut c = CursorState::at(4);
        c.ack_indexes(5, &[0b111], 10);
        c.ack_indexes(6, &[0b1], 2);
        c.ack(7);
        let mut file = snapshot_record(&c);
        c.ack_indexes(5, &[0b1000], 10);
        file.extend(batch_record(5, c.acked_indexes(5).unwrap()));
        std::fs::write(&path, &file).unwrap();
        let all = load_all(dir.path()).unwrap();
        assert_eq!(all[0].1, c);
        assert_eq!(all[0].1.acked_indexes(5), Some(&[0b1111u64][..]));
        // A file written before batch records existed: reset + acks only.
        let old = [
            framed(&[&[KIND_RESET][..], &3u64.to_be_bytes(), &9u64.to_be_bytes()].concat()),
            ack_record(&[3]),
        ]
        .concat();
        std::fs::write(&path, old).unwrap();
        let all = load_all(dir.path()).unwrap();
        assert_eq!(all[0].1.mark_delete, 4);
        assert!(all[0].1.is_acked(9) && all[0].1.partial.is_empty());
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

    #[test]
    fn a_flip_in_any_byte_of_a_snapshot_keeps_the_position_or_falls_back_to_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = cursor_path(dir.path(), "s");
        let mut c = CursorState::at(40);
        c.ack(45);
        let file = [snapshot_file(&c), ack_record(&[41])].concat();
        let mut want = c.clone();
        want.ack(41);
        for i in 0..file.len() {
            let mut bytes = file.clone();
            bytes[i] ^= 0x21;
            std::fs::write(&path, &bytes).unwrap();
            let got = recover_all(dir.path()).unwrap().remove(0);
            assert!(got.damaged_bytes > 0, "flip at {i} noticed");
            // Only the ack record can be lost (redelivery of 41), never the position.
            assert!(
                got.state == want || got.state == c,
                "flip at {i}: {:?}",
                got.state
            );
            assert!(!got.position_lost);
            let clean = recover_all(dir.path()).unwrap().remove(0);
            assert_eq!(clean.damaged_bytes, 0, "rewritten clean");
            assert_eq!(clean.state, got.state);
        }
        // Both copies gone: the position falls back to 0 (redeliver, never skip).
        let mut bytes = file.clone();
        bytes[4] ^= 1;
        let second = snapshot_record(&c).len() + 4;
        bytes[second] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let got = recover_all(dir.path()).unwrap().remove(0);
        assert!(got.position_lost);
        assert_eq!(got.state.mark_delete, 0);
        assert!(!got.state.is_acked(42));
    }
}
