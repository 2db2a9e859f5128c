//! One topic partition: its log, producers, subscriptions and writer.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pulsar::proto::{
    CommandAckResponse, CommandCloseProducer, CommandProducerSuccess, CommandSendError,
    CommandSendReceipt, MessageIdData, ProducerAccessMode, ServerError, base_command::Type,
    command_subscribe::SubType,
};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use crate::codec::{Frame, base, parse_metadata};
use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::storage::cursor::{self, CursorState};
use crate::storage::segment::{self, EntryInfo, SegmentLog};
use crate::storage::writer::{self, Committed, WriteOp};
use crate::subscription::{
    ConsumerKey, ConsumerSlot, KeySharedPolicy, OutboundGauge, Subscription,
};
use crate::topic_name::TopicName;

/// Cursor records between snapshots (bounds cursor file size and replay time).
const SNAPSHOT_EVERY: usize = 10_000;

/// What to do once a write is durable.
#[derive(Debug)]
pub enum WriteCtx {
    /// Answer a Send with a receipt.
    Publish {
        /// Producer's connection.
        reply: Outbox,
        /// Producer id on that connection.
        producer_id: u64,
        /// First sequence id of the send.
        sequence_id: u64,
        /// Last sequence id of the send (batches).
        highest_sequence_id: u64,
        /// Producer name (dedup key).
        producer_name: String,
        /// Entry info derived from the metadata.
        info: EntryInfo,
        /// Payload bytes (metrics).
        bytes: usize,
        /// Memory held until durable (back-pressure).
        permits: Vec<OwnedSemaphorePermit>,
    },
    /// Answer an Ack that asked for a receipt.
    AckReply {
        /// Consumer's connection.
        reply: Outbox,
        /// Consumer id.
        consumer_id: u64,
        /// Request id of the ack.
        request_id: u64,
    },
    /// Wake a waiting request.
    Notify(oneshot::Sender<Result<()>>),
}

/// Outcome of registering a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerGrant {
    /// Publishing may start; the last stored sequence id of the name (-1 if none).
    Ready(i64),
    /// Queued behind the current producers (WaitForExclusive).
    Waiting,
}

/// Who is publishing.
#[derive(Debug, Clone)]
pub struct ProducerInfo {
    /// Producer name (unique per topic while connected).
    pub name: String,
    /// Access mode asked for.
    pub access_mode: ProducerAccessMode,
    /// Frames to the producer's connection (to fence it).
    pub out: Outbox,
}

/// How a consumer wants to start.
#[derive(Debug, Clone)]
pub struct SubscribeRequest {
    /// Subscription name.
    pub subscription: String,
    /// Subscription type.
    pub kind: SubType,
    /// Consumer name.
    pub consumer_name: String,
    /// Failover priority.
    pub priority: i32,
    /// Persist the cursor (false for readers).
    pub durable: bool,
    /// Start at the earliest entry when the subscription is new.
    pub earliest: bool,
    /// Reader start position (entry id) when given.
    pub start_entry: Option<u64>,
    /// Key_Shared: mode, hash ranges and ordering wish.
    pub key_shared: KeySharedPolicy,
}

/// A cursor file found damaged at recovery (shown in the topic's stats).
#[derive(Debug, Clone)]
pub struct CursorDamage {
    /// Subscription of the cursor.
    pub subscription: String,
    /// Damaged bytes skipped.
    pub damaged_bytes: u64,
    /// No intact position was left: the cursor restarted from the log's start.
    pub position_lost: bool,
}

/// Mutable state of a partition, behind one lock.
#[derive(Debug)]
pub struct TopicState {
    /// The log's index and read side.
    pub log: SegmentLog,
    producers: HashMap<(u64, u64), ProducerInfo>,
    waiting: std::collections::VecDeque<((u64, u64), ProducerInfo, u64)>,
    dedup_pushed: HashMap<String, u64>,
    dedup_persisted: HashMap<String, u64>,
    /// Subscriptions by name.
    pub subscriptions: BTreeMap<String, Subscription>,
    /// Cursor files found damaged when the topic was opened.
    pub cursor_damage: Vec<CursorDamage>,
    /// Messages stored since start.
    pub msg_in: u64,
    /// Bytes stored since start.
    pub bytes_in: u64,
    /// Rates over the last maintenance interval: (msg in, bytes in, msg out, bytes out) per second.
    pub rates: (f64, f64, f64, f64),
    last_counts: (u64, u64, u64, u64),
}

/// A topic partition (or a non-partitioned topic).
#[derive(Debug)]
pub struct Topic {
    /// Full name of this partition.
    pub name: TopicName,
    partition: i32,
    dir: PathBuf,
    state: Mutex<TopicState>,
    writer: mpsc::UnboundedSender<WriteOp<WriteCtx>>,
    /// The writer task, awaited when the topic closes so no two writers share its files.
    writer_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Since when nothing has used the topic (see [`Topic::unused_for`]).
    unused_since: Mutex<Option<Instant>>,
    metrics: Arc<Metrics>,
    dedup: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Topic {
    /// Opens (or creates) the partition's storage and starts its writer.
    pub fn open(name: TopicName, cfg: &BrokerConfig, metrics: Arc<Metrics>) -> Result<Arc<Topic>> {
        let dir = cfg.data_dir.join("topics").join(name.storage_path());
        let mut persisted: HashMap<String, u64> = HashMap::new();
        let (mut log, mut seg_writer) = segment::open(
            &dir.join("ledger"),
            cfg.segment_bytes,
            cfg.max_frame_size(),
            |_, md| {
                let hi = md.sequence_id.max(md.highest_sequence_id.unwrap_or(0));
                let e = persisted.entry(md.producer_name.clone()).or_insert(hi);
                *e = (*e).max(hi);
            },
        )?;
        let cursor_dir = dir.join("cursors");
        std::fs::create_dir_all(&cursor_dir).map_err(|e| BrokerError::io(&cursor_dir, e))?;
        let mut subscriptions = BTreeMap::new();
        let mut cursor_damage = Vec::new();
        for c in cursor::recover_all(&cursor_dir)? {
            // A cursor that acknowledged ids past the log's end saw entries a damaged
            // tail took: those ids are never given to new messages (which would be
            // born acknowledged).
            log.lose_through(c.state.next_unreferenced());
            seg_writer.skip_to(log.end_entry());
            if c.damaged_bytes > 0 || c.position_lost {
                metrics.storage_damaged_bytes.inc_by(c.damaged_bytes);
                cursor_damage.push(CursorDamage {
                    subscription: c.subscription.clone(),
                    damaged_bytes: c.damaged_bytes,
                    position_lost: c.position_lost,
                });
            }
            let path = cursor::cursor_path(&cursor_dir, &c.subscription);
            let mut s = Subscription::new(
                c.subscription.clone(),
                SubType::Exclusive,
                true,
                c.state,
                path,
            );
            s.records_since_snapshot = c.records;
            s.topic_hash = crate::murmur3::failover_topic_hash(&name.to_string());
            subscriptions.insert(c.subscription, s);
        }
        for d in log.damage() {
            metrics.storage_lost_entries.inc_by(d.lost_entries());
            metrics.storage_damaged_bytes.inc_by(d.bytes);
        }
        // Lost ids are acknowledged in memory so cursors move past them (nothing is there to deliver).
        let lost: Vec<(u64, u64)> = log.damage().iter().filter_map(|d| d.entries).collect();
        for s in subscriptions.values_mut() {
            for (a, b) in &lost {
                s.cursor.ack_range(*a, *b);
            }
        }
        tracing::info!(topic = %name, entries = log.end_entry() - log.first_entry(), subscriptions = subscriptions.len(), "opened topic");
        let (tx, rx) = mpsc::unbounded_channel();
        let topic = Arc::new(Topic {
            partition: name.partition_index(),
            name,
            dir,
            state: Mutex::new(TopicState {
                log,
                producers: HashMap::new(),
                waiting: std::collections::VecDeque::new(),
                dedup_pushed: persisted.clone(),
                dedup_persisted: persisted,
                subscriptions,
                cursor_damage,
                msg_in: 0,
                bytes_in: 0,
                rates: (0.0, 0.0, 0.0, 0.0),
                last_counts: (0, 0, 0, 0),
            }),
            writer: tx,
            writer_task: Mutex::new(None),
            unused_since: Mutex::new(None),
            metrics: metrics.clone(),
            dedup: cfg.deduplication,
        });
        let weak: Weak<Topic> = Arc::downgrade(&topic);
        let task = tokio::spawn(writer::run(seg_writer, rx, cfg.fsync, metrics, move |c| {
            if let Some(t) = weak.upgrade() {
                t.committed(c);
            }
        }));
        *lock(&topic.writer_task) = Some(task);
        Ok(topic)
    }

    /// How long nothing has used this topic: no producer, no consumer, and
    /// `in_use` false (the caller saw no other holder of it). Zero while used.
    pub fn unused_for(&self, in_use: bool, now: Instant) -> Duration {
        let st = self.lock();
        let used = in_use
            || !st.producers.is_empty()
            || !st.waiting.is_empty()
            || st.subscriptions.values().any(|s| !s.consumers().is_empty());
        drop(st);
        let mut since = lock(&self.unused_since);
        if used {
            *since = None;
            return Duration::ZERO;
        }
        now.saturating_duration_since(*since.get_or_insert(now))
    }

    /// Backlog (entries over all subscriptions) and bytes stored, for metrics.
    pub fn backlog_and_size(&self) -> (i64, i64) {
        let st = self.lock();
        let end = st.log.end_entry();
        let backlog = st
            .subscriptions
            .values()
            .map(|s| s.backlog(end) as i64)
            .sum::<i64>();
        (backlog, st.log.size_bytes() as i64)
    }

    /// Drops this (last) handle of the topic and waits until its writer has
    /// written what was queued and closed the files.
    pub async fn close(self: Arc<Self>) {
        let task = lock(&self.writer_task).take();
        drop(self);
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "topic writer failed while closing");
        }
    }

    /// Locks the partition state (a poisoned lock means a bug; keep serving).
    pub fn lock(&self) -> MutexGuard<'_, TopicState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Partition index (-1 when not partitioned).
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Directory holding this partition's files.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn write(&self, op: WriteOp<WriteCtx>) -> Result<()> {
        self.writer
            .send(op)
            .map_err(|_| BrokerError::NotReady(format!("writer of {} stopped", self.name)))
    }

    fn committed(&self, c: Committed<WriteCtx>) {
        let mut st = self.lock();
        let st = &mut *st;
        for (r, ctx) in c.entries {
            let WriteCtx::Publish {
                reply,
                producer_id,
                sequence_id,
                highest_sequence_id,
                producer_name,
                info,
                bytes,
                permits,
            } = ctx
            else {
                if let WriteCtx::Notify(tx) = ctx {
                    let _ = tx.send(r.map(|_| ()));
                }
                continue;
            };
            drop(permits);
            let mut cmd;
            match r {
                Ok(Some((at, rolled))) => {
                    if let Some(seg) = rolled {
                        st.log.register(seg);
                    }
                    st.log.push(at, info);
                    let e = st
                        .dedup_persisted
                        .entry(producer_name)
                        .or_insert(highest_sequence_id);
                    *e = (*e).max(highest_sequence_id);
                    st.msg_in += u64::from(info.num_messages);
                    st.bytes_in += bytes as u64;
                    self.metrics
                        .messages_in
                        .inc_by(u64::from(info.num_messages));
                    self.metrics.bytes_in.inc_by(bytes as u64);
                    cmd = base(Type::SendReceipt);
                    cmd.send_receipt = Some(CommandSendReceipt {
                        producer_id,
                        sequence_id,
                        message_id: Some(MessageIdData {
                            ledger_id: at.segment_base,
                            entry_id: at.entry_id,
                            partition: Some(self.partition),
                            ..Default::default()
                        }),
                        highest_sequence_id: Some(highest_sequence_id),
                    });
                }
                Ok(None) => {
                    // A duplicate: acknowledged without being stored again.
                    cmd = base(Type::SendReceipt);
                    cmd.send_receipt = Some(CommandSendReceipt {
                        producer_id,
                        sequence_id,
                        message_id: Some(MessageIdData {
                            ledger_id: u64::MAX,
                            entry_id: u64::MAX,
                            ..Default::default()
                        }),
                        highest_sequence_id: Some(highest_sequence_id),
                    });
                }
                Err(e) => {
                    tracing::error!(topic = %self.name, error = %e, "append failed");
                    let persisted = st.dedup_persisted.get(&producer_name).copied();
                    match persisted {
                        Some(p) => st.dedup_pushed.insert(producer_name, p),
                        None => st.dedup_pushed.remove(&producer_name),
                    };
                    cmd = base(Type::SendError);
                    cmd.send_error = Some(CommandSendError {
                        producer_id,
                        sequence_id,
                        error: ServerError::PersistenceError as i32,
                        message: e.to_string(),
                    });
                }
            }
            let _ = reply.send(Frame::command(cmd));
        }
        for (r, ctx) in c.cursors {
            match ctx {
                WriteCtx::AckReply {
                    reply,
                    consumer_id,
                    request_id,
                } => {
                    let mut cmd = base(Type::AckResponse);
                    cmd.ack_response = Some(CommandAckResponse {
                        consumer_id,
                        request_id: Some(request_id),
                        error: r.as_ref().err().map(|e| e.server_error() as i32),
                        message: r.as_ref().err().map(|e| e.to_string()),
                        ..Default::default()
                    });
                    let _ = reply.send(Frame::command(cmd));
                }
                WriteCtx::Notify(tx) => {
                    let _ = tx.send(r);
                }
                WriteCtx::Publish { .. } => {}
            }
        }
        self.dispatch_all(st);
    }

    /// Retries dispatch (e.g. once a stalled connection drained).
    pub fn redispatch(&self) {
        let mut st = self.lock();
        self.dispatch_all(&mut st);
    }

    fn dispatch_all(&self, st: &mut TopicState) {
        for sub in st.subscriptions.values_mut() {
            let sent = sub.dispatch(&st.log, self.partition);
            self.metrics.messages_out.inc_by(sent);
        }
    }

    /// Registers a producer: ready with the last stored sequence id of its
    /// name (-1 if none), or queued (WaitForExclusive while others publish).
    pub fn add_producer(
        &self,
        key: (u64, u64),
        info: ProducerInfo,
        request_id: u64,
    ) -> Result<ProducerGrant> {
        let mut st = self.lock();
        if st.producers.values().any(|p| p.name == info.name) {
            return Err(BrokerError::ProducerBusy(format!(
                "producer {} is already connected to {}",
                info.name, self.name
            )));
        }
        let exclusive_held = st
            .producers
            .values()
            .any(|p| p.access_mode != ProducerAccessMode::Shared);
        match info.access_mode {
            ProducerAccessMode::Shared if exclusive_held => {
                return Err(BrokerError::ProducerBusy(format!(
                    "{} has an exclusive producer",
                    self.name
                )));
            }
            ProducerAccessMode::WaitForExclusive if !st.producers.is_empty() => {
                st.waiting.push_back((key, info, request_id));
                return Ok(ProducerGrant::Waiting);
            }
            ProducerAccessMode::Exclusive if !st.producers.is_empty() => {
                return Err(BrokerError::ProducerBusy(format!(
                    "{} already has producers",
                    self.name
                )));
            }
            ProducerAccessMode::ExclusiveWithFencing => {
                for ((_, pid), p) in st.producers.drain() {
                    let mut cmd = base(Type::CloseProducer);
                    cmd.close_producer = Some(CommandCloseProducer {
                        producer_id: pid,
                        request_id: u64::MAX,
                    });
                    let _ = p.out.send(Frame::command(cmd));
                    self.metrics.producers.dec();
                }
            }
            _ => {}
        }
        let last = st.dedup_persisted.get(&info.name).map_or(-1, |v| *v as i64);
        st.producers.insert(key, info);
        self.metrics.producers.inc();
        Ok(ProducerGrant::Ready(last))
    }

    /// Forgets a producer (or a queued one); the first queued producer gets
    /// the topic once nobody else publishes.
    pub fn remove_producer(&self, key: (u64, u64)) {
        let mut st = self.lock();
        st.waiting.retain(|(k, _, _)| *k != key);
        if st.producers.remove(&key).is_some() {
            self.metrics.producers.dec();
        }
        if !st.producers.is_empty() {
            return;
        }
        if let Some((k, info, request_id)) = st.waiting.pop_front() {
            let last = st.dedup_persisted.get(&info.name).map_or(-1, |v| *v as i64);
            let mut cmd = base(Type::ProducerSuccess);
            cmd.producer_success = Some(CommandProducerSuccess {
                request_id,
                producer_name: info.name.clone(),
                last_sequence_id: Some(last),
                topic_epoch: Some(0),
                producer_ready: Some(true),
                ..Default::default()
            });
            let _ = info.out.send(Frame::command(cmd));
            st.producers.insert(k, info);
            self.metrics.producers.inc();
        }
    }

    /// Queues a payload for storage; the receipt goes to `reply` once durable.
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &self,
        producer_name: &str,
        producer_id: u64,
        sequence_id: u64,
        highest_sequence_id: u64,
        payload: Bytes,
        reply: Outbox,
        permits: Vec<OwnedSemaphorePermit>,
    ) -> Result<()> {
        let md = parse_metadata(&payload)?;
        let info = EntryInfo::from_metadata(&md);
        let highest = highest_sequence_id.max(sequence_id);
        let mut st = self.lock();
        let duplicate = self.dedup
            && st
                .dedup_pushed
                .get(producer_name)
                .is_some_and(|p| sequence_id <= *p);
        let ctx = WriteCtx::Publish {
            reply,
            producer_id,
            sequence_id,
            highest_sequence_id: highest,
            producer_name: producer_name.to_string(),
            info,
            bytes: payload.len(),
            permits,
        };
        if duplicate {
            tracing::debug!(topic = %self.name, producer = producer_name, sequence_id, "duplicate send dropped");
            return self.write(WriteOp::Barrier { ctx });
        }
        st.dedup_pushed.insert(producer_name.to_string(), highest);
        self.write(WriteOp::Entry { payload, ctx })
    }

    /// Attaches a consumer, creating the subscription if needed.
    pub fn subscribe(
        &self,
        key: ConsumerKey,
        req: &SubscribeRequest,
        out: Outbox,
        gauge: Arc<OutboundGauge>,
    ) -> Result<()> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let end = st.log.end_entry();
        let first = st.log.first_entry();
        if !st.subscriptions.contains_key(&req.subscription) {
            let start = match req.start_entry {
                Some(e) => e.clamp(first, end),
                None if req.earliest => first,
                None => end,
            };
            let state = CursorState::at(start);
            let path = cursor::cursor_path(&self.dir.join("cursors"), &req.subscription);
            if req.durable {
                self.write(WriteOp::Cursor {
                    path: path.clone(),
                    record: cursor::snapshot_file(&state),
                    replace: true,
                    ctx: None,
                })?;
            }
            let mut sub =
                Subscription::new(req.subscription.clone(), req.kind, req.durable, state, path);
            sub.topic_hash = crate::murmur3::failover_topic_hash(&self.name.to_string());
            st.subscriptions.insert(req.subscription.clone(), sub);
        }
        let sub = st
            .subscriptions
            .get_mut(&req.subscription)
            .ok_or_else(|| BrokerError::SubscriptionNotFound(req.subscription.clone()))?;
        sub.add_consumer(
            ConsumerSlot::new(key, req.consumer_name.clone(), req.priority, out, gauge)
                .with_key_shared(req.key_shared.clone()),
            req.kind,
            self.partition,
        )?;
        self.metrics.consumers.inc();
        let sent = sub.dispatch(&st.log, self.partition);
        self.metrics.messages_out.inc_by(sent);
        Ok(())
    }

    /// Runs `f` on a subscription that has consumer `key`, then dispatches.
    fn with_sub<R>(
        &self,
        sub: &str,
        f: impl FnOnce(&mut Subscription, &SegmentLog) -> R,
    ) -> Result<R> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let s = st
            .subscriptions
            .get_mut(sub)
            .ok_or_else(|| BrokerError::SubscriptionNotFound(sub.to_string()))?;
        let r = f(s, &st.log);
        let sent = s.dispatch(&st.log, self.partition);
        self.metrics.messages_out.inc_by(sent);
        Ok(r)
    }

    /// Adds permits.
    pub fn flow(&self, sub: &str, key: ConsumerKey, permits: u32) -> Result<()> {
        self.with_sub(sub, |s, _| s.flow(key, permits))
    }

    /// Applies acknowledgements; `receipt` (connection, request id) is answered once durable.
    pub fn ack(
        &self,
        sub: &str,
        key: ConsumerKey,
        ids: &[MessageIdData],
        cumulative: bool,
        receipt: Option<(Outbox, u64)>,
    ) -> Result<()> {
        let op = self.with_sub(sub, |s, log| {
            let out = s.ack(ids, cumulative, log);
            if !s.durable
                || (out.individual.is_empty() && !out.cumulative && out.partial.is_empty())
            {
                return None;
            }
            s.records_since_snapshot += 1;
            let (record, replace) = if s.records_since_snapshot > SNAPSHOT_EVERY {
                s.records_since_snapshot = 0;
                (cursor::snapshot_file(&s.cursor), true)
            } else if out.cumulative {
                (cursor::snapshot_record(&s.cursor), false)
            } else {
                // Batch-index acks are durable like entry acks: same record, same fsync.
                let mut record = Vec::new();
                if !out.individual.is_empty() {
                    record = cursor::ack_record(&out.individual);
                }
                for e in &out.partial {
                    if let Some(words) = s.cursor.acked_indexes(*e) {
                        record.extend(cursor::batch_record(*e, words));
                    }
                }
                (record, false)
            };
            Some((s.cursor_path.clone(), record, replace))
        })?;
        let ctx = receipt.map(|(reply, request_id)| WriteCtx::AckReply {
            reply,
            consumer_id: key.1,
            request_id,
        });
        match op {
            Some((path, record, replace)) => self.write(WriteOp::Cursor {
                path,
                record,
                replace,
                ctx,
            }),
            None => {
                if let Some(WriteCtx::AckReply {
                    reply,
                    consumer_id,
                    request_id,
                }) = ctx
                {
                    let mut cmd = base(Type::AckResponse);
                    cmd.ack_response = Some(CommandAckResponse {
                        consumer_id,
                        request_id: Some(request_id),
                        ..Default::default()
                    });
                    let _ = reply.send(Frame::command(cmd));
                }
                Ok(())
            }
        }
    }

    /// Puts unacknowledged entries up for redelivery.
    pub fn redeliver(&self, sub: &str, key: ConsumerKey, ids: &[MessageIdData]) -> Result<()> {
        self.with_sub(sub, |s, _| s.redeliver(key, ids))
    }

    /// Detaches a consumer; a reader's subscription goes with its last consumer.
    pub fn close_consumer(&self, sub: &str, key: ConsumerKey) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(s) = st.subscriptions.get_mut(sub) else {
            return;
        };
        if s.remove_consumer(key, self.partition) {
            self.metrics.consumers.dec();
        }
        if !s.durable && s.consumers().is_empty() {
            st.subscriptions.remove(sub);
        } else {
            let sent = s.dispatch(&st.log, self.partition);
            self.metrics.messages_out.inc_by(sent);
        }
    }

    /// Deletes a subscription (only its last consumer, or the admin, may).
    pub async fn unsubscribe(&self, sub: &str, key: Option<ConsumerKey>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.lock();
            let s = st
                .subscriptions
                .get(sub)
                .ok_or_else(|| BrokerError::SubscriptionNotFound(sub.to_string()))?;
            let others = s.consumers().iter().filter(|c| Some(c.key) != key).count();
            if others > 0 {
                return Err(BrokerError::ConsumerBusy(format!(
                    "subscription {sub} has other consumers"
                )));
            }
            if let Some(s) = st.subscriptions.remove(sub) {
                if key.is_some() {
                    self.metrics.consumers.dec();
                }
                self.write(WriteOp::DeleteCursor {
                    path: s.cursor_path,
                })?;
                self.write(WriteOp::Barrier {
                    ctx: WriteCtx::Notify(tx),
                })?;
            }
        }
        rx.await
            .map_err(|_| BrokerError::NotReady("writer stopped".into()))?
    }

    /// Deletes a subscription after closing its consumers (the admin's `?force=true`).
    pub async fn force_unsubscribe(&self, sub: &str) -> Result<()> {
        {
            let mut st = self.lock();
            let s = st
                .subscriptions
                .get_mut(sub)
                .ok_or_else(|| BrokerError::SubscriptionNotFound(sub.to_string()))?;
            let closed = s.close_all_consumers();
            self.metrics.consumers.dec_by(closed as i64);
        }
        self.unsubscribe(sub, None).await
    }

    /// Moves a subscription to an entry id or a publish time.
    pub async fn seek(
        &self,
        sub: &str,
        entry: Option<u64>,
        publish_time: Option<u64>,
    ) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            let target = match (entry, publish_time) {
                (Some(e), _) => e.clamp(st.log.first_entry(), st.log.end_entry()),
                (None, Some(ts)) => st.log.find_by_time(ts),
                (None, None) => {
                    return Err(BrokerError::Protocol("seek without a position".into()));
                }
            };
            let s = st
                .subscriptions
                .get_mut(sub)
                .ok_or_else(|| BrokerError::SubscriptionNotFound(sub.to_string()))?;
            let closed = s.consumers().len();
            s.reset(target);
            for _ in 0..closed {
                self.metrics.consumers.dec();
            }
            if s.durable {
                self.write(WriteOp::Cursor {
                    path: s.cursor_path.clone(),
                    record: cursor::snapshot_file(&s.cursor),
                    replace: true,
                    ctx: Some(WriteCtx::Notify(tx)),
                })?;
            } else {
                let _ = tx.send(Ok(()));
            }
        }
        rx.await
            .map_err(|_| BrokerError::NotReady("writer stopped".into()))?
    }

    /// Last stored entry (ledger, entry, batch index) and a subscription's mark-delete.
    pub fn last_message_id(&self, sub: &str) -> (MessageIdData, Option<MessageIdData>) {
        let st = self.lock();
        let end = st.log.end_entry();
        let id = |entry: Option<u64>, batch: Option<i32>| match entry {
            Some(e) => MessageIdData {
                ledger_id: st.log.ledger_of(e),
                entry_id: e,
                partition: Some(self.partition),
                batch_index: batch,
                ..Default::default()
            },
            None => MessageIdData {
                ledger_id: u64::MAX,
                entry_id: u64::MAX,
                partition: Some(self.partition),
                batch_index: Some(-1),
                ..Default::default()
            },
        };
        let last = end.checked_sub(1).filter(|e| *e >= st.log.first_entry());
        let batch = last.and_then(|e| st.log.info(e)).map(|i| {
            if i.batched {
                i.num_messages as i32 - 1
            } else {
                -1
            }
        });
        let md = st
            .subscriptions
            .get(sub)
            .map(|s| id(s.cursor.mark_delete.checked_sub(1), None));
        (id(last, batch), md)
    }

    /// Consumers of a subscription that `key` belongs to (used to validate requests).
    pub fn has_consumer(&self, sub: &str, key: ConsumerKey) -> bool {
        self.lock()
            .subscriptions
            .get(sub)
            .is_some_and(|s| s.has_consumer(key))
    }

    /// Periodic work: rates, retention.
    pub fn maintain(&self, interval: Duration, retention: Duration) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let out: (u64, u64) = st
            .subscriptions
            .values()
            .fold((0, 0), |a, s| (a.0 + s.msg_out, a.1 + s.bytes_out));
        let now = (st.msg_in, st.bytes_in, out.0, out.1);
        let secs = interval.as_secs_f64().max(0.001);
        let d = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
        st.rates = (
            d(now.0, st.last_counts.0),
            d(now.1, st.last_counts.1),
            d(now.2, st.last_counts.2),
            d(now.3, st.last_counts.3),
        );
        st.last_counts = now;
        let end = st.log.end_entry();
        let min_md = st
            .subscriptions
            .values()
            .filter(|s| s.durable)
            .map(|s| s.cursor.mark_delete)
            .min()
            .unwrap_or(end);
        let cutoff = now_ms().saturating_sub(retention.as_millis() as u64);
        for base in st.log.deletable_segments(min_md, cutoff) {
            if let Err(e) = st.log.delete_oldest(base) {
                tracing::error!(topic = %self.name, error = %e, "retention delete failed");
                break;
            }
        }
    }
}
