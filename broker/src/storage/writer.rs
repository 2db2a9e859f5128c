//! The single writer of a partition: appends entries and cursor records and
//! makes them durable before anyone is told they were written (group commit).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::segment::{Appended, NewSegment, SegmentWriter};
use crate::config::FsyncPolicy;
use crate::error::{BrokerError, Result};
use crate::metrics::Metrics;

/// One thing to write.
#[derive(Debug)]
pub enum WriteOp<T> {
    /// Append an entry to the segment log.
    Entry {
        /// Producer payload.
        payload: Bytes,
        /// Handed back with the result.
        ctx: T,
    },
    /// Append (or with `replace`, rewrite the file with) a cursor record.
    Cursor {
        /// Cursor file.
        path: PathBuf,
        /// Framed record bytes.
        record: Vec<u8>,
        /// Rewrite the file instead of appending (snapshots).
        replace: bool,
        /// Handed back with the result, when someone waits for it.
        ctx: Option<T>,
    },
    /// Complete `ctx` in order with the entries, writing nothing (duplicates, waits).
    Barrier {
        /// Handed back as an entry result of `Ok(None)`.
        ctx: T,
    },
    /// Remove a cursor file (unsubscribe).
    DeleteCursor {
        /// Cursor file.
        path: PathBuf,
    },
}

/// Outcome of one group commit, in submission order.
#[derive(Debug)]
pub struct Committed<T> {
    /// Entries with where they landed (None for barriers), or the error.
    pub entries: Vec<(EntryResult, T)>,
    /// Cursor writes somebody waits for.
    pub cursors: Vec<(Result<()>, T)>,
}

/// Where an entry landed (and the segment it opened), None for a barrier.
pub type EntryResult = Result<Option<(Appended, Option<NewSegment>)>>;

struct State {
    seg: SegmentWriter,
    cursors: HashMap<PathBuf, File>,
    policy: FsyncPolicy,
}

/// Runs the writer until every sender is dropped; `sink` gets each commit.
pub async fn run<T: Send + 'static>(
    seg: SegmentWriter,
    mut rx: mpsc::UnboundedReceiver<WriteOp<T>>,
    policy: FsyncPolicy,
    metrics: Arc<Metrics>,
    sink: impl Fn(Committed<T>) + Send + Sync + 'static,
) {
    let mut state = State {
        seg,
        cursors: HashMap::new(),
        policy,
    };
    let mut ops = Vec::new();
    loop {
        ops.clear();
        if rx.recv_many(&mut ops, 4096).await == 0 {
            break;
        }
        let batch = std::mem::take(&mut ops);
        let m = metrics.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let out = state.process(batch, &m);
            (state, out)
        })
        .await;
        match joined {
            Ok((s, out)) => {
                state = s;
                sink(out);
            }
            Err(e) => {
                // The writer state is gone with the panicked task; stop rather than lose order.
                tracing::error!(error = %e, "segment writer task failed; topic stops accepting writes");
                return;
            }
        }
    }
}

impl State {
    fn process<T>(&mut self, ops: Vec<WriteOp<T>>, metrics: &Metrics) -> Committed<T> {
        let every = matches!(self.policy, FsyncPolicy::EveryEntry);
        let mut entries = Vec::new();
        let mut cursors = Vec::new();
        let mut dirty_cursors: Vec<PathBuf> = Vec::new();
        let mut wrote_entry = false;
        let batch_mark = self.seg.mark();
        // After a failed write (a full disk) the rest of the batch fails too, so a
        // producer never gets a receipt for a message stored after one that was not.
        let mut failed: Option<String> = None;
        for op in ops {
            match op {
                WriteOp::Entry { payload, ctx } => {
                    if let Some(why) = &failed {
                        entries.push((Err(BrokerError::NotReady(why.clone())), ctx));
                        continue;
                    }
                    let mark = self.seg.mark();
                    let r = self.seg.append(&payload).and_then(|a| {
                        if every && let Err(e) = timed_sync(metrics, || self.seg.sync()) {
                            self.seg.rollback(mark);
                            return Err(e);
                        }
                        Ok(Some(a))
                    });
                    if let Err(e) = &r {
                        metrics.storage_write_errors.inc();
                        failed = Some(format!("an earlier write of the batch failed: {e}"));
                    }
                    wrote_entry |= r.is_ok();
                    entries.push((r, ctx));
                }
                WriteOp::Cursor {
                    path,
                    record,
                    replace,
                    ctx,
                } => {
                    let r = self.write_cursor(&path, &record, replace, every, metrics);
                    if r.is_ok() && !every && !dirty_cursors.contains(&path) {
                        dirty_cursors.push(path);
                    }
                    if let Some(ctx) = ctx {
                        cursors.push((r, ctx));
                    } else if let Err(e) = r {
                        tracing::error!(error = %e, "cursor write failed");
                    }
                }
                WriteOp::Barrier { ctx } => entries.push((Ok(None), ctx)),
                WriteOp::DeleteCursor { path } => {
                    self.cursors.remove(&path);
                    if let Err(e) = std::fs::remove_file(&path)
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        tracing::error!(path = %path.display(), error = %e, "removing cursor failed");
                    }
                }
            }
        }
        if !every
            && wrote_entry
            && let Err(e) = timed_sync(metrics, || self.seg.sync())
        {
            metrics.storage_write_errors.inc();
            self.seg.rollback(batch_mark);
            let msg = e.to_string();
            for (r, _) in entries.iter_mut() {
                if matches!(r, Ok(Some(_))) {
                    *r = Err(BrokerError::NotReady(format!("fsync failed: {msg}")));
                }
            }
        }
        for path in dirty_cursors {
            if let Some(f) = self.cursors.get(&path)
                && let Err(e) = timed_sync(metrics, || {
                    f.sync_data().map_err(|e| BrokerError::io(&path, e))
                })
            {
                tracing::error!(error = %e, "cursor fsync failed");
                for (r, _) in cursors.iter_mut() {
                    *r = Err(BrokerError::NotReady("cursor fsync failed".into()));
                }
            }
        }
        Committed { entries, cursors }
    }

    fn write_cursor(
        &mut self,
        path: &PathBuf,
        record: &[u8],
        replace: bool,
        sync: bool,
        metrics: &Metrics,
    ) -> Result<()> {
        if replace {
            let tmp = path.with_extension("tmp");
            let mut f = File::create(&tmp).map_err(|e| BrokerError::io(&tmp, e))?;
            if let Err(e) = f.write_all(record).and_then(|_| f.sync_all()) {
                // The old file stays whole; drop the partial copy so it takes no space.
                let _ = std::fs::remove_file(&tmp);
                metrics.storage_write_errors.inc();
                return Err(BrokerError::io(&tmp, e));
            }
            std::fs::rename(&tmp, path).map_err(|e| BrokerError::io(path, e))?;
            if let Some(dir) = path.parent() {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| BrokerError::io(dir, e))?;
            }
            self.cursors.remove(path);
            return Ok(());
        }
        let f = match self.cursors.get_mut(path) {
            Some(f) => f,
            None => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| BrokerError::io(path, e))?;
                // A new file's directory entry must be durable too.
                if let Some(dir) = path.parent() {
                    File::open(dir)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| BrokerError::io(dir, e))?;
                }
                self.cursors.entry(path.clone()).or_insert(f)
            }
        };
        let before = f.metadata().map_err(|e| BrokerError::io(path, e))?.len();
        if let Err(e) = f.write_all(record) {
            // Cut a short write (ENOSPC) so later records follow the last whole one.
            if let Err(cut) = f.set_len(before) {
                tracing::error!(path = %path.display(), error = %cut, "cannot cut a failed cursor write; recovery will skip it");
            }
            metrics.storage_write_errors.inc();
            return Err(BrokerError::io(path, e));
        }
        if sync {
            timed_sync(metrics, || {
                f.sync_data().map_err(|e| BrokerError::io(path, e))
            })?;
        }
        Ok(())
    }
}

fn timed_sync(metrics: &Metrics, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let start = Instant::now();
    let r = f();
    metrics.fsync_seconds.observe(start.elapsed().as_secs_f64());
    r
}
