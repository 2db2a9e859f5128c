//! Append-only segment log of one topic partition.
//!
//! Files are `DIR/<base entry id, 20 digits>.seg`; each record body is
//! `[entry id u64][payload]` where the payload is what the producer sent.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use pulsar::proto::MessageMetadata;

use super::record;
use crate::codec::parse_metadata;
use crate::error::{BrokerError, Result};

const EXT: &str = "seg";

/// What the broker needs to know about an entry without reading it.
#[derive(Debug, Clone, Copy)]
pub struct EntryInfo {
    /// Producer's publish time (ms since epoch).
    pub publish_time: u64,
    /// Messages in the entry (1 unless batched).
    pub num_messages: u32,
    /// Whether the entry is a batch (message ids then carry a batch index).
    pub batched: bool,
    /// Key_Shared hash of the ordering or partition key, if any.
    pub key_hash: Option<u32>,
}

impl EntryInfo {
    /// Derives the info from the message metadata.
    pub fn from_metadata(md: &MessageMetadata) -> Self {
        let key: Option<&[u8]> = md
            .ordering_key
            .as_deref()
            .or(md.partition_key.as_deref().map(str::as_bytes));
        EntryInfo {
            publish_time: md.publish_time,
            num_messages: md.num_messages_in_batch.unwrap_or(1).max(1) as u32,
            batched: md.num_messages_in_batch.is_some(),
            key_hash: key.map(|k| crate::murmur3::murmur3_32(k, 0) % crate::murmur3::HASH_RANGE),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct EntryLoc {
    segment_base: u64,
    offset: u64,
    len: u32,
    info: EntryInfo,
}

#[derive(Debug)]
struct Segment {
    base: u64,
    path: PathBuf,
    file: Arc<File>,
    bytes: u64,
}

/// Read side and index of a partition's log (the write side is [`SegmentWriter`]).
#[derive(Debug)]
pub struct SegmentLog {
    dir: PathBuf,
    segments: Vec<Segment>,
    /// One slot per entry id from `first_entry`; None for an entry lost to damage.
    index: VecDeque<Option<EntryLoc>>,
    first_entry: u64,
    damage: Vec<Damaged>,
    /// The most entries one segment can hold (bounds recorded gaps of lost ids).
    max_entries: u64,
}

/// Where an appended entry landed.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    /// The entry id.
    pub entry_id: u64,
    /// Base id of the segment holding it.
    pub segment_base: u64,
    /// Offset of the record header.
    pub offset: u64,
    /// Record body length.
    pub len: u32,
}

/// The append side of a log: owns the active segment file.
#[derive(Debug)]
pub struct SegmentWriter {
    dir: PathBuf,
    file: File,
    base: u64,
    size: u64,
    next_entry: u64,
    max_segment_bytes: u64,
    scratch: Vec<u8>,
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.{EXT}"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut bases = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| BrokerError::io(dir, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| BrokerError::io(dir, e))?;
        let name = ent.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(&format!(".{EXT}"))
            && let Ok(base) = stem.parse::<u64>()
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// The most entries a segment of `max_segment_bytes` can hold (a record is at least its
/// header and entry id), which bounds every gap of ids recovery may record as lost.
pub fn max_entries(max_segment_bytes: u64) -> u64 {
    max_segment_bytes / (record::HEADER as u64 + 8) + 1
}

/// Damage found when a segment was read at start, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// The segment file.
    pub path: PathBuf,
    /// Offset of the first damaged byte.
    pub offset: u64,
    /// Damaged bytes (skipped, or truncated when `truncated`).
    pub bytes: u64,
    /// Entry ids lost (inclusive), when any id is known to be missing.
    pub entries: Option<(u64, u64)>,
    /// The damage was the torn tail of the last segment and was cut off.
    pub truncated: bool,
}

impl Damaged {
    /// Number of entries known lost.
    pub fn lost_entries(&self) -> u64 {
        self.entries.map_or(0, |(a, b)| b - a + 1)
    }
}

/// Opens (creating if needed) the log in `dir`, keeping every intact entry.
///
/// A record that fails its checks costs only itself: the scan resyncs on the
/// next whole record whose CRC matches and whose entry id follows on, so the
/// rest of the segment and every later segment are served. The ids between
/// the last good entry and the next one are recorded as lost (see
/// [`SegmentLog::damage`]). Only a damaged tail of the last segment (a torn
/// write) is truncated, so appends continue after the last good entry.
/// `on_entry` sees every recovered entry's metadata (to rebuild dedup state).
pub fn open(
    dir: &Path,
    max_segment_bytes: u64,
    max_entry_bytes: usize,
    mut on_entry: impl FnMut(u64, &MessageMetadata),
) -> Result<(SegmentLog, SegmentWriter)> {
    std::fs::create_dir_all(dir).map_err(|e| BrokerError::io(dir, e))?;
    let bases = list_segments(dir)?;
    let mut log = SegmentLog {
        dir: dir.to_path_buf(),
        segments: Vec::new(),
        index: VecDeque::new(),
        first_entry: bases.first().copied().unwrap_or(0),
        damage: Vec::new(),
        max_entries: max_entries(max_segment_bytes),
    };
    for (i, base) in bases.iter().copied().enumerate() {
        let bound = bases.get(i + 1).copied();
        let seg = log.recover_segment(
            base,
            bound,
            max_entry_bytes,
            max_entries(max_segment_bytes),
            &mut on_entry,
        )?;
        log.segments.push(seg);
    }
    let next_entry = log.end_entry();
    for d in &log.damage {
        tracing::error!(path = %d.path.display(), offset = d.offset, bytes = d.bytes, lost_first = d.entries.map(|e| e.0), lost_last = d.entries.map(|e| e.1), truncated = d.truncated, "segment damage found at recovery; intact entries around it are kept");
    }
    let writer = match log.segments.last() {
        Some(seg) => {
            let file = OpenOptions::new()
                .append(true)
                .open(&seg.path)
                .map_err(|e| BrokerError::io(&seg.path, e))?;
            SegmentWriter {
                dir: dir.to_path_buf(),
                file,
                base: seg.base,
                size: seg.bytes,
                next_entry,
                max_segment_bytes,
                scratch: Vec::new(),
            }
        }
        None => {
            let (writer, seg) = SegmentWriter::create(dir, next_entry, max_segment_bytes)?;
            log.segments.push(seg);
            writer
        }
    };
    sync_dir(dir)?;
    Ok((log, writer))
}

impl SegmentLog {
    /// Reads segment `base` (the next one, if any, starts at `bound`) into the
    /// index, recording damage; truncates only the last segment's damaged tail.
    fn recover_segment(
        &mut self,
        base: u64,
        bound: Option<u64>,
        max_entry_bytes: usize,
        max_entries: u64,
        on_entry: &mut impl FnMut(u64, &MessageMetadata),
    ) -> Result<Segment> {
        let path = segment_path(&self.dir, base);
        // Lost ids cost an index slot each: a gap no segment could have held is not a loss
        // to record but a file that is not this log's.
        let span = bound.map_or(0, |b| b.saturating_sub(base));
        if base.saturating_sub(self.end_entry()) > max_entries || span > max_entries {
            return Err(BrokerError::Corrupt(format!(
                "{}: its ids are {} apart from the previous or next segment's, more than a segment holds ({max_entries})",
                path.display(),
                base.saturating_sub(self.end_entry()).max(span)
            )));
        }
        if base > self.end_entry() {
            // A missing file or the lost tail of the previous one: the ids in between are gone.
            self.lose(&path, 0, 0, self.end_entry(), base, false);
        }
        let buf = record::read_all(&path).map_err(|e| BrokerError::io(&path, e))?;
        let upper = bound.unwrap_or(u64::MAX);
        let mut next = self.end_entry();
        let mut found: Vec<(u64, u64, u32, MessageMetadata)> = Vec::new();
        let scan = record::scan_resync(
            &buf,
            max_entry_bytes + 8,
            |body| entry_id(body).is_some_and(|id| id >= base && id < upper),
            |body| {
                // An id must follow on, within what one segment can hold.
                let Some(id) = entry_id(body).filter(|id| *id >= next && *id - next < max_entries)
                else {
                    return false;
                };
                match parse_metadata(&body[8..]) {
                    Ok(md) => {
                        next = id + 1;
                        found.push((id, 0, body.len() as u32, md));
                        true
                    }
                    Err(_) => false,
                }
            },
        );
        for ((offset, _), f) in scan.records.iter().zip(found.iter_mut()) {
            f.1 = *offset;
        }
        let is_last = bound.is_none();
        let mut damage = scan.damage.iter().peekable();
        let mut bytes = buf.len() as u64;
        for (id, offset, len, md) in found {
            // Damage before this record: the ids it skipped are lost (the first range takes them).
            while let Some(d) = damage.next_if(|d| d.end <= offset) {
                let from = self.end_entry();
                self.lose(&path, d.start, d.end - d.start, from, id.max(from), false);
            }
            // Ids skipped without damage were lost (and reported) before an earlier restart.
            while self.end_entry() < id {
                self.index.push_back(None);
            }
            on_entry(id, &md);
            self.index.push_back(Some(EntryLoc {
                segment_base: base,
                offset,
                len,
                info: EntryInfo::from_metadata(&md),
            }));
        }
        if let Some(d) = damage.next() {
            // Damage after the last good record, to the end of the file.
            if is_last {
                truncate(&path, d.start)?;
                bytes = d.start;
                self.lose(&path, d.start, d.end - d.start, 0, 0, true);
            } else {
                self.lose(
                    &path,
                    d.start,
                    d.end - d.start,
                    self.end_entry(),
                    upper,
                    false,
                );
            }
        }
        let file = File::open(&path).map_err(|e| BrokerError::io(&path, e))?;
        Ok(Segment {
            base,
            path,
            file: Arc::new(file),
            bytes,
        })
    }

    /// Records damage; ids `from..to` (empty when equal) become lost index slots.
    fn lose(&mut self, path: &Path, offset: u64, bytes: u64, from: u64, to: u64, truncated: bool) {
        for _ in from..to {
            self.index.push_back(None);
        }
        self.damage.push(Damaged {
            path: path.to_path_buf(),
            offset,
            bytes,
            entries: (to > from).then(|| (from, to - 1)),
            truncated,
        });
    }

    /// Damage found at recovery (empty for a clean log).
    pub fn damage(&self) -> &[Damaged] {
        &self.damage
    }

    /// Marks ids below `next` that were never stored as lost (a cursor
    /// acknowledged them, so they existed before a damaged tail was cut).
    pub fn lose_through(&mut self, next: u64) {
        let end = self.end_entry();
        // A cursor past anything a segment could have held is damaged, not evidence.
        let next = next.min(end.saturating_add(self.max_entries));
        if next > end {
            let path = self
                .segments
                .last()
                .map(|s| s.path.clone())
                .unwrap_or_default();
            self.lose(&path, 0, 0, end, next, true);
        }
    }
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| BrokerError::io(path, e))?;
    f.set_len(len)
        .and_then(|()| f.sync_all())
        .map_err(|e| BrokerError::io(path, e))
}

fn entry_id(body: &[u8]) -> Option<u64> {
    let id: [u8; 8] = body.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(id))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BrokerError::io(dir, e))
}

impl SegmentWriter {
    fn create(dir: &Path, base: u64, max_segment_bytes: u64) -> Result<(Self, Segment)> {
        let path = segment_path(dir, base);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| BrokerError::io(&path, e))?;
        let read = File::open(&path).map_err(|e| BrokerError::io(&path, e))?;
        sync_dir(dir)?;
        Ok((
            SegmentWriter {
                dir: dir.to_path_buf(),
                file,
                base,
                size: 0,
                next_entry: base,
                max_segment_bytes,
                scratch: Vec::new(),
            },
            Segment {
                base,
                path,
                file: Arc::new(read),
                bytes: 0,
            },
        ))
    }

    /// Id the next appended entry will get.
    pub fn next_entry(&self) -> u64 {
        self.next_entry
    }

    /// Writes an entry (not yet durable: call [`SegmentWriter::sync`]).
    /// Returns the location and, when the log rolled, the new segment to register.
    pub fn append(&mut self, payload: &[u8]) -> Result<(Appended, Option<NewSegment>)> {
        let mut rolled = None;
        if self.size >= self.max_segment_bytes && self.size > 0 {
            self.sync()?;
            let (w, seg) =
                SegmentWriter::create(&self.dir, self.next_entry, self.max_segment_bytes)?;
            *self = w;
            rolled = Some(NewSegment(seg));
        }
        let id = self.next_entry;
        self.scratch.clear();
        let mut body = Vec::with_capacity(8 + payload.len());
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(payload);
        record::frame(&body, &mut self.scratch);
        let path = segment_path(&self.dir, self.base);
        if let Err(e) = self.file.write_all(&self.scratch) {
            // A short write (ENOSPC) leaves a torn record: cut it so the next append lands
            // where the index expects it.
            self.cut(self.size);
            return Err(BrokerError::io(&path, e));
        }
        let appended = Appended {
            entry_id: id,
            segment_base: self.base,
            offset: self.size,
            len: body.len() as u32,
        };
        self.size += self.scratch.len() as u64;
        self.next_entry += 1;
        Ok((appended, rolled))
    }

    /// Where the log ends now, to [`SegmentWriter::rollback`] to.
    pub fn mark(&self) -> WriteMark {
        WriteMark {
            base: self.base,
            size: self.size,
            next_entry: self.next_entry,
        }
    }

    /// Forgets entries appended after `mark` that did not become durable (a
    /// failed fsync): they were never acknowledged, so the next entry reuses
    /// their ids. After a roll only the new segment's entries are cut (the
    /// roll synced the previous segment).
    pub fn rollback(&mut self, mark: WriteMark) {
        if self.base == mark.base {
            self.cut(mark.size);
            self.next_entry = mark.next_entry;
        } else {
            self.cut(0);
            self.next_entry = self.base;
        }
    }

    /// Ids below `next` are taken (a cursor refers to them): the next entry gets `next`.
    pub fn skip_to(&mut self, next: u64) {
        self.next_entry = self.next_entry.max(next);
    }

    fn cut(&mut self, len: u64) {
        let path = segment_path(&self.dir, self.base);
        match self.file.set_len(len) {
            Ok(()) => self.size = len,
            Err(e) => {
                // The file keeps the torn bytes; recovery skips them as damage at next start.
                tracing::error!(path = %path.display(), len, error = %e, "cannot cut a failed write");
                self.size = self.file.metadata().map_or(self.size, |m| m.len());
            }
        }
    }

    /// Makes everything written so far durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| BrokerError::io(segment_path(&self.dir, self.base), e))
    }
}

/// The end of the log at some moment (see [`SegmentWriter::mark`]).
#[derive(Debug, Clone, Copy)]
pub struct WriteMark {
    base: u64,
    size: u64,
    next_entry: u64,
}

/// A segment created by a roll, to be handed to [`SegmentLog::register`].
#[derive(Debug)]
pub struct NewSegment(Segment);

impl SegmentLog {
    /// First entry still stored.
    pub fn first_entry(&self) -> u64 {
        self.first_entry
    }

    /// One past the last indexed (durable) entry.
    pub fn end_entry(&self) -> u64 {
        self.first_entry + self.index.len() as u64
    }

    /// Registers a segment created by the writer.
    pub fn register(&mut self, seg: NewSegment) {
        self.segments.push(seg.0);
    }

    /// Indexes a durable entry; entries must arrive in id order (ids the
    /// writer skipped become lost slots).
    pub fn push(&mut self, at: Appended, info: EntryInfo) {
        debug_assert!(at.entry_id >= self.end_entry());
        if let Some(seg) = self
            .segments
            .iter_mut()
            .rev()
            .find(|s| s.base == at.segment_base)
        {
            seg.bytes = at.offset + record::HEADER as u64 + u64::from(at.len);
        }
        while self.end_entry() < at.entry_id {
            self.index.push_back(None);
        }
        self.index.push_back(Some(EntryLoc {
            segment_base: at.segment_base,
            offset: at.offset,
            len: at.len,
            info,
        }));
    }

    fn loc(&self, entry_id: u64) -> Option<&EntryLoc> {
        let i = entry_id.checked_sub(self.first_entry)?;
        self.index.get(usize::try_from(i).ok()?)?.as_ref()
    }

    /// Info of a stored entry (None if not stored or lost to damage).
    pub fn info(&self, entry_id: u64) -> Option<EntryInfo> {
        self.loc(entry_id).map(|l| l.info)
    }

    /// Ledger id reported for an entry: the base id of its segment, so that
    /// (ledger, entry) pairs order the same way entry ids do.
    pub fn ledger_of(&self, entry_id: u64) -> u64 {
        match self.loc(entry_id) {
            Some(l) => l.segment_base,
            None => {
                let i = self.segments.partition_point(|s| s.base <= entry_id);
                self.segments.get(i.saturating_sub(1)).map_or(0, |s| s.base)
            }
        }
    }

    /// Reads an entry's payload from disk.
    pub fn read(&self, entry_id: u64) -> Result<Bytes> {
        let i = self
            .loc(entry_id)
            .ok_or_else(|| BrokerError::Corrupt(format!("entry {entry_id} is not stored")))?;
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.base == i.segment_base)
            .ok_or_else(|| BrokerError::Corrupt(format!("segment {} missing", i.segment_base)))?;
        let mut buf = vec![0u8; i.len as usize];
        seg.file
            .read_exact_at(&mut buf, i.offset + record::HEADER as u64)
            .map_err(|e| BrokerError::io(&seg.path, e))?;
        Ok(Bytes::from(buf).slice(8..))
    }

    /// The first entry whose publish time is at or after `ts` (or the end).
    pub fn find_by_time(&self, ts: u64) -> u64 {
        // A lost slot has no time; it counts as older than `ts`.
        let pos = self
            .index
            .partition_point(|l| l.is_none_or(|l| l.info.publish_time < ts));
        self.first_entry + pos as u64
    }

    /// Base ids of whole segments (never the active one) whose entries are all
    /// below `before` and whose newest entry is older than `older_than_ms`.
    pub fn deletable_segments(&self, before: u64, older_than_ms: u64) -> Vec<u64> {
        let mut out = Vec::new();
        for w in self.segments.windows(2) {
            let (seg, next) = (&w[0], &w[1]);
            if next.base > before || next.base == seg.base {
                break;
            }
            // The newest entry still stored dates the segment (its last ids may be lost to damage).
            let newest = (seg.base..next.base).rev().find_map(|id| self.info(id));
            match newest {
                Some(info) if info.publish_time > older_than_ms => break,
                _ => out.push(seg.base),
            }
        }
        out
    }

    /// Deletes the oldest segment (which must be `base`) and its index entries.
    pub fn delete_oldest(&mut self, base: u64) -> Result<()> {
        if self.segments.len() < 2 || self.segments[0].base != base {
            return Ok(());
        }
        let seg = self.segments.remove(0);
        let next_base = self.segments[0].base;
        let drop = (next_base - self.first_entry) as usize;
        self.index.drain(..drop.min(self.index.len()));
        self.first_entry = next_base;
        std::fs::remove_file(&seg.path).map_err(|e| BrokerError::io(&seg.path, e))?;
        tracing::info!(path = %seg.path.display(), "deleted fully acknowledged segment");
        Ok(())
    }

    /// Bytes stored on disk.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// The directory of this log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;
    use bytes::BufMut;
    use prost::Message as _;

    pub fn payload(seq: u64) -> Vec<u8> {
        let md = MessageMetadata {
            producer_name: "p".into(),
            sequence_id: seq,
            publish_time: 1000 + seq,
            ..Default::default()
        };
        let mut b = Vec::new();
        b.put_u32(md.encoded_len() as u32);
        md.encode(&mut b).unwrap();
        b.extend_from_slice(format!("msg-{seq}").as_bytes());
        b
    }

    pub fn write(log: &mut SegmentLog, w: &mut SegmentWriter, seq: u64) {
        let p = payload(seq);
        let (at, rolled) = w.append(&p).unwrap();
        w.sync().unwrap();
        if let Some(seg) = rolled {
            log.register(seg);
        }
        log.push(at, EntryInfo::from_metadata(&parse_metadata(&p).unwrap()));
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    #[test]
    fn append_read_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = open(dir.path(), 100, 1 << 20, |_, _| {}).unwrap();
        for i in 0..10 {
            write(&mut log, &mut w, i);
        }
        assert!(log.segments.len() > 2, "small segments roll");
        assert_eq!(log.read(7).unwrap(), Bytes::from(payload(7)));
        drop((log, w));
        let mut seen = Vec::new();
        let (log, w) = open(dir.path(), 100, 1 << 20, |id, md| {
            seen.push((id, md.sequence_id))
        })
        .unwrap();
        assert_eq!(log.end_entry(), 10);
        assert_eq!(w.next_entry(), 10);
        assert_eq!(seen.len(), 10);
        assert_eq!(log.read(9).unwrap(), Bytes::from(payload(9)));
        assert_eq!(log.find_by_time(1004), 4);
    }

    #[test]
    fn corrupt_tail_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
        for i in 0..5 {
            write(&mut log, &mut w, i);
        }
        drop((log, w));
        let path = segment_path(dir.path(), 0);
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x55;
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let (mut log, mut w) = open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
        assert_eq!(log.end_entry(), 4, "the damaged last entry is dropped");
        write(&mut log, &mut w, 99);
        assert_eq!(log.read(4).unwrap(), Bytes::from(payload(99)));
        drop((log, w));
        let (log, _) = open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
        assert_eq!(log.end_entry(), 5);
    }

    #[test]
    fn acknowledged_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = open(dir.path(), 100, 1 << 20, |_, _| {}).unwrap();
        for i in 0..10 {
            write(&mut log, &mut w, i);
        }
        let before = log.segments.len();
        let del = log.deletable_segments(5, u64::MAX);
        assert!(!del.is_empty());
        for b in del {
            log.delete_oldest(b).unwrap();
        }
        assert!(log.segments.len() < before);
        assert!(log.first_entry() <= 5);
        assert_eq!(log.read(6).unwrap(), Bytes::from(payload(6)));
        assert!(
            log.deletable_segments(5, 0).is_empty(),
            "recent segments are retained"
        );
    }
}

#[cfg(test)]
mod recovery_tests {
    use super::tests_support::*;
    use super::*;

    #[test]
    fn a_flip_in_an_early_segment_costs_one_entry_and_keeps_later_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = open(dir.path(), 1000, 1 << 20, |_, _| {}).unwrap();
        for i in 0..300 {
            write(&mut log, &mut w, i);
        }
        let segs = log.segments.len();
        assert!(segs >= 10, "{segs} segments");
        let second = log.segments[1].path.clone();
        drop((log, w));
        let mut bytes = std::fs::read(&second).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x5a;
        std::fs::write(&second, &bytes).unwrap();
        let (log, w) = open(dir.path(), 1000, 1 << 20, |_, _| {}).unwrap();
        assert_eq!(log.segments.len(), segs, "every segment kept");
        assert_eq!(log.end_entry(), 300);
        assert_eq!(w.next_entry(), 300);
        let lost: Vec<u64> = (0..300).filter(|i| log.info(*i).is_none()).collect();
        assert_eq!(lost.len(), 1, "lost {lost:?}");
        assert_eq!(log.damage().len(), 1);
        assert_eq!(log.damage()[0].entries, Some((lost[0], lost[0])));
        for i in (0..300).filter(|i| *i != lost[0]) {
            assert_eq!(log.read(i).unwrap(), Bytes::from(payload(i)), "entry {i}");
        }
    }

    #[test]
    fn a_record_with_an_id_no_segment_could_reach_is_damage_not_a_gap_to_fill() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
        for i in 0..3 {
            write(&mut log, &mut w, i);
        }
        drop((log, w));
        // A CRC-valid record claiming id 2^40: taken at face value, recovery would
        // record 2^40 lost ids (an index slot each).
        let path = segment_path(dir.path(), 0);
        let mut bytes = std::fs::read(&path).unwrap();
        let mut body = (1u64 << 40).to_be_bytes().to_vec();
        body.extend_from_slice(&payload(3));
        record::frame(&body, &mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let (log, w) = open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
        assert_eq!(
            log.end_entry(),
            3,
            "the far record is cut as a damaged tail"
        );
        assert_eq!(w.next_entry(), 3);
        let mut log = log;
        log.lose_through(u64::MAX);
        assert!(
            log.end_entry() <= 3 + max_entries(1 << 20),
            "a cursor claiming any id extends the index by at most a segment"
        );
    }

    #[test]
    fn a_segment_whose_last_entry_is_lost_is_kept_for_its_retention() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = open(dir.path(), 100, 1 << 20, |_, _| {}).unwrap();
        for i in 0..10 {
            write(&mut log, &mut w, i);
        }
        assert!(log.segments.len() > 2);
        let first = log.segments[0].path.clone();
        drop((log, w));
        let mut bytes = std::fs::read(&first).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 0x5a;
        std::fs::write(&first, &bytes).unwrap();
        let (log, _) = open(dir.path(), 100, 1 << 20, |_, _| {}).unwrap();
        let last_of_first = log.segments[1].base - 1;
        assert!(
            log.info(last_of_first).is_none(),
            "the flip cost the segment's last entry"
        );
        assert!(
            log.deletable_segments(log.end_entry(), 0).is_empty(),
            "its other entries are as recent as ever"
        );
        assert_eq!(
            log.deletable_segments(log.end_entry(), u64::MAX).first(),
            Some(&0),
            "and it goes once they are old enough"
        );
    }
}

/// Property tests over the on-disk readers (a libFuzzer-independent stand-in
/// for `cargo fuzz`: the same entry points, random inputs, run in `cargo test`).
#[cfg(test)]
mod fuzz_tests {
    use super::tests_support::*;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_bytes_in_segment_and_cursor_files_open_without_panic(
            seg in proptest::collection::vec(any::<u8>(), 0..4096),
            cur in proptest::collection::vec(any::<u8>(), 0..1024),
        ) {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(format!("{:020}.seg", 0)), &seg).unwrap();
            let cursors = dir.path().join("cursors");
            std::fs::create_dir_all(&cursors).unwrap();
            std::fs::write(crate::storage::cursor::cursor_path(&cursors, "s"), &cur).unwrap();
            let (log, w) = open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
            prop_assert_eq!(log.end_entry(), w.next_entry());
            crate::storage::cursor::recover_all(&cursors).unwrap();
        }

        #[test]
        fn each_flipped_byte_costs_at_most_one_entry(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (mut log, mut w) = open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
            for i in 0..60 {
                write(&mut log, &mut w, i);
            }
            drop((log, w));
            let path = segment_path(dir.path(), 0);
            let mut bytes = std::fs::read(&path).unwrap();
            for (at, x) in &flips {
                let i = at.index(bytes.len());
                bytes[i] ^= x;
            }
            std::fs::write(&path, &bytes).unwrap();
            let (log, _) = open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
            let kept = (0..60).filter(|i| log.info(*i).is_some()).count();
            prop_assert!(kept + flips.len() >= 60, "kept {} of 60 after {} flips", kept, flips.len());
            for i in (0..60).filter(|i| log.info(*i).is_some()) {
                prop_assert_eq!(log.read(i).unwrap(), Bytes::from(payload(i)));
            }
        }
    }
}
