//! A subscription: its cursor, its consumers and the dispatcher that hands
//! entries to them according to the subscription type.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::outbox::Outbox;
use bytes::Bytes;
use pulsar::proto::{
    CommandActiveConsumerChange, CommandCloseConsumer, CommandMessage, MessageIdData,
    base_command::Type, command_subscribe::SubType,
};

use crate::codec::{Frame, base};
use crate::error::BrokerError;
use crate::murmur3::{HASH_RANGE, murmur3_32};
use crate::storage::cursor::{self, CursorState, IndexAck};
use crate::storage::segment::SegmentLog;

/// Identifies a consumer across connections: (connection id, consumer id).
pub type ConsumerKey = (u64, u64);

/// Permits a consumer may hold at once, whatever it asks for (bounds memory).
const MAX_PERMITS: u32 = 20_000;
/// Entries a Key_Shared dispatch pass parks for busy consumers before it stops looking further.
const KEY_SHARED_LOOKAHEAD: usize = 1000;
/// Entries whose hash no STICKY consumer covers that a subscription keeps aside
/// (they wait for a consumer); past this, reading further stops (bounds memory).
const UNCOVERED_LIMIT: usize = 100_000;

/// An entry's Key_Shared hash; entries without a key hash as Pulsar's fixed "NONE_KEY".
fn key_hash_of(key_hash: Option<u32>) -> u32 {
    key_hash.unwrap_or_else(|| murmur3_32(NONE_KEY, 0) % HASH_RANGE)
}

/// Points each Key_Shared consumer gets on the hash ring.
const RING_POINTS: u32 = 64;
/// Hash used for entries without a key (Pulsar hashes a fixed "NONE_KEY").
const NONE_KEY: &[u8] = b"NONE_KEY";
/// After a seek closes consumers, their immediate re-subscribe is refused
/// (retryable) for this long, so a client that re-creates its consumer under
/// a new id (pulsar-rs) is not locked out of an Exclusive subscription by the
/// automatic reconnect of the old one.
const SEEK_FENCE: Duration = Duration::from_millis(250);

/// Bytes of messages queued to one connection and not yet written to its
/// socket: a slow reader stops dispatch to it before memory grows.
#[derive(Debug, Default)]
pub struct OutboundGauge {
    queued: AtomicUsize,
    stalled: AtomicBool,
    /// The same count over every connection of the broker.
    global: Arc<AtomicUsize>,
}

/// Dispatch to a connection pauses above this many queued bytes.
pub const OUTBOUND_LIMIT: usize = 16 * 1024 * 1024;
/// Dispatch to every connection pauses above this many queued bytes in all.
pub const OUTBOUND_GLOBAL_LIMIT: usize = 256 * 1024 * 1024;

impl OutboundGauge {
    /// A gauge for one connection, counting into the broker-wide `global`.
    pub fn new(global: Arc<AtomicUsize>) -> Self {
        OutboundGauge {
            global,
            ..Default::default()
        }
    }

    fn is_full(&self) -> bool {
        let full = self.queued.load(Ordering::Relaxed) >= OUTBOUND_LIMIT
            || self.global.load(Ordering::Relaxed) >= OUTBOUND_GLOBAL_LIMIT;
        if full {
            self.stalled.store(true, Ordering::Relaxed);
        }
        full
    }

    fn queued(&self, bytes: usize) {
        self.queued.fetch_add(bytes, Ordering::Relaxed);
        self.global.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records bytes written to the socket; true when dispatch should resume.
    pub fn written(&self, bytes: usize) -> bool {
        let left = self
            .queued
            .fetch_sub(bytes, Ordering::Relaxed)
            .saturating_sub(bytes);
        let before = self.global.fetch_sub(bytes, Ordering::Relaxed);
        let global = before.saturating_sub(bytes);
        // Crossing the broker-wide low-water mark wakes everyone once.
        let global_drained =
            before >= OUTBOUND_GLOBAL_LIMIT / 2 && global < OUTBOUND_GLOBAL_LIMIT / 2;
        global_drained
            || (left < OUTBOUND_LIMIT / 2
                && global < OUTBOUND_GLOBAL_LIMIT / 2
                && self.stalled.swap(false, Ordering::Relaxed))
    }

    /// Bytes still queued when a connection ends leave the global count.
    pub fn release(&self) {
        let left = self.queued.swap(0, Ordering::Relaxed);
        self.global.fetch_sub(left, Ordering::Relaxed);
    }
}

/// How a Key_Shared consumer wants keys assigned (CommandSubscribe.keySharedMeta).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySharedPolicy {
    /// STICKY: the client-chosen inclusive hash ranges over 0..65536; None is AUTO_SPLIT.
    pub sticky: Option<Vec<(i32, i32)>>,
    /// A key moving to another consumer need not wait for the previous owner's
    /// unacknowledged messages of that key.
    pub allow_out_of_order: bool,
}

impl KeySharedPolicy {
    /// Pulsar's name of the mode (`KeySharedMode`).
    pub fn mode(&self) -> &'static str {
        if self.sticky.is_some() {
            "STICKY"
        } else {
            "AUTO_SPLIT"
        }
    }

    fn covers(&self, hash: u32) -> bool {
        let h = hash as i64;
        self.sticky.as_ref().is_some_and(|r| {
            r.iter()
                .any(|(s, e)| i64::from(*s) <= h && h <= i64::from(*e))
        })
    }
}

/// Checks a joining Key_Shared consumer against the subscription's policy and
/// (STICKY) its ranges against the other consumers', as Pulsar does: a policy
/// mismatch is ConsumerBusy, a bad or overlapping range ConsumerAssignError.
fn check_key_shared(
    sub: &str,
    joining: &KeySharedPolicy,
    others: &[ConsumerSlot],
) -> Result<(), BrokerError> {
    if let Some(first) = others.first() {
        let active = &first.key_shared;
        if active.mode() != joining.mode() {
            return Err(BrokerError::ConsumerBusy(format!(
                "Subscription is of different type. Active subscription key_shared mode of '{}' is \
                 different than the connecting consumer's key_shared mode '{}' (keySharedMeta.keySharedMode)",
                active.mode(),
                joining.mode()
            )));
        }
        if active.allow_out_of_order != joining.allow_out_of_order {
            return Err(BrokerError::ConsumerBusy(format!(
                "Subscription is of different type. Active subscription {} out of order delivery while \
                 the connecting consumer {} (keySharedMeta.allowOutOfOrderDelivery)",
                if active.allow_out_of_order {
                    "allows"
                } else {
                    "does not allow"
                },
                if joining.allow_out_of_order {
                    "allows it"
                } else {
                    "does not allow it"
                },
            )));
        }
    }
    let Some(ranges) = &joining.sticky else {
        return Ok(());
    };
    if ranges.is_empty() {
        return Err(BrokerError::ConsumerAssign(format!(
            "keySharedMeta.hashRanges: Ranges for KeyShared policy must not be empty; a STICKY \
             consumer of {sub} needs at least one [start, end] range within 0..={}",
            HASH_RANGE - 1
        )));
    }
    for (i, &(start, end)) in ranges.iter().enumerate() {
        if start > end {
            return Err(BrokerError::ConsumerAssign(format!(
                "keySharedMeta.hashRanges[{i}]: Fixed hash range start > end ({start} > {end}); swap them"
            )));
        }
        if start < 0 || end >= HASH_RANGE as i32 {
            return Err(BrokerError::ConsumerAssign(format!(
                "keySharedMeta.hashRanges[{i}]: [{start}, {end}] is outside 0..={}; key hashes are \
                 Murmur3 modulo {HASH_RANGE}",
                HASH_RANGE - 1
            )));
        }
        for c in others {
            let theirs = c.key_shared.sticky.iter().flatten();
            if let Some((s, e)) = theirs.into_iter().find(|(s, e)| start <= *e && *s <= end) {
                return Err(BrokerError::ConsumerAssign(format!(
                    "keySharedMeta.hashRanges[{i}]: Range conflict with consumer {:?} of {sub}: \
                     [{start}, {end}] overlaps its [{s}, {e}]; choose ranges no other consumer holds",
                    c.name
                )));
            }
        }
    }
    Ok(())
}

/// A connected consumer as the dispatcher sees it.
#[derive(Debug)]
pub struct ConsumerSlot {
    /// Connection and consumer id.
    pub key: ConsumerKey,
    /// Consumer name (Failover ordering, Key_Shared ring).
    pub name: String,
    /// Lower is preferred (Failover).
    pub priority: i32,
    /// Messages the consumer can still take.
    pub permits: u32,
    /// Frames to the consumer's connection.
    pub out: Outbox,
    /// Bytes queued to that connection.
    pub gauge: Arc<OutboundGauge>,
    /// Key_Shared: how this consumer wants keys assigned.
    pub key_shared: KeySharedPolicy,
}

impl ConsumerSlot {
    /// A consumer with no permits yet.
    pub fn new(
        key: ConsumerKey,
        name: String,
        priority: i32,
        out: Outbox,
        gauge: Arc<OutboundGauge>,
    ) -> Self {
        ConsumerSlot {
            key,
            name,
            priority,
            permits: 0,
            out,
            gauge,
            key_shared: KeySharedPolicy::default(),
        }
    }

    /// The same consumer with a Key_Shared policy.
    pub fn with_key_shared(mut self, policy: KeySharedPolicy) -> Self {
        self.key_shared = policy;
        self
    }
}

#[derive(Debug, Default)]
struct Pending {
    consumer: Option<ConsumerKey>,
    /// Key_Shared: the entry's key hash (tracked in `Subscription::inflight`).
    hash: Option<u32>,
}

/// A subscription and its dispatch state.
#[derive(Debug)]
pub struct Subscription {
    /// Subscription name.
    pub name: String,
    /// Exclusive, Shared, Failover or Key_Shared.
    pub kind: SubType,
    /// Whether the cursor is persisted (readers are not).
    pub durable: bool,
    /// Acknowledgement state.
    pub cursor: CursorState,
    /// Cursor file.
    pub cursor_path: PathBuf,
    /// Cursor records written since the last snapshot.
    pub records_since_snapshot: usize,
    /// Next entry never dispatched.
    read_pos: u64,
    consumers: Vec<ConsumerSlot>,
    pending: BTreeMap<u64, Pending>,
    redeliver: BTreeSet<u64>,
    redelivery_count: HashMap<u64, u32>,
    rr: usize,
    active: Option<ConsumerKey>,
    ring: Vec<(u32, ConsumerKey)>,
    /// Key_Shared: consumers holding unacknowledged entries of each key hash,
    /// with how many. A hash held by one consumer is not given to another
    /// (per-key order across ownership changes) unless out of order is allowed.
    inflight: HashMap<u32, Vec<(ConsumerKey, u32)>>,
    /// STICKY: entries whose hash no consumer covers; retried when consumers change.
    uncovered: BTreeSet<u64>,
    fenced: Vec<(ConsumerKey, Instant)>,
    /// Failover on a non-partitioned topic: where the topic's name falls on the consumers'
    /// hash ring (see [`crate::murmur3::failover_topic_hash`]).
    pub topic_hash: u32,
    /// Messages dispatched (for stats).
    pub msg_out: u64,
    /// Bytes dispatched (for stats).
    pub bytes_out: u64,
}

/// Entries newly acknowledged, for the cursor log.
#[derive(Debug, Default)]
pub struct AckOutcome {
    /// Individually acknowledged entries.
    pub individual: Vec<u64>,
    /// Whether the mark-delete moved by a cumulative ack (write a snapshot).
    pub cumulative: bool,
    /// Entries with newly acknowledged batch indexes, not yet wholly acknowledged.
    pub partial: Vec<u64>,
}

fn msg_id(ledger: u64, entry: u64, partition: i32, batch_index: Option<i32>) -> MessageIdData {
    MessageIdData {
        ledger_id: ledger,
        entry_id: entry,
        partition: Some(partition),
        batch_index,
        ..Default::default()
    }
}

impl Subscription {
    /// A subscription whose cursor is `cursor` and reads from its mark-delete.
    pub fn new(
        name: String,
        kind: SubType,
        durable: bool,
        cursor: CursorState,
        cursor_path: PathBuf,
    ) -> Self {
        Subscription {
            name,
            kind,
            durable,
            read_pos: cursor.mark_delete,
            cursor,
            cursor_path,
            records_since_snapshot: 0,
            consumers: Vec::new(),
            pending: BTreeMap::new(),
            redeliver: BTreeSet::new(),
            redelivery_count: HashMap::new(),
            rr: 0,
            active: None,
            ring: Vec::new(),
            inflight: HashMap::new(),
            uncovered: BTreeSet::new(),
            fenced: Vec::new(),
            topic_hash: 0,
            msg_out: 0,
            bytes_out: 0,
        }
    }

    /// Connected consumers.
    pub fn consumers(&self) -> &[ConsumerSlot] {
        &self.consumers
    }

    /// Unacknowledged entries between the cursor and `end`.
    pub fn backlog(&self, end: u64) -> u64 {
        end.saturating_sub(self.cursor.mark_delete)
            .saturating_sub(self.cursor.acked.len() as u64)
    }

    /// Entries dispatched and not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.pending.len()
    }

    /// Adds a consumer; refuses a second one on Exclusive.
    pub fn add_consumer(
        &mut self,
        slot: ConsumerSlot,
        kind: SubType,
        partition: i32,
    ) -> Result<(), BrokerError> {
        self.fenced.retain(|(_, until)| *until > Instant::now());
        if self.fenced.iter().any(|(k, _)| *k == slot.key) {
            return Err(BrokerError::NotReady(format!(
                "subscription {} is being reset",
                self.name
            )));
        }
        if !self.consumers.is_empty() {
            if self.kind != kind {
                return Err(BrokerError::ConsumerBusy(format!(
                    "subscription {} is {:?}, not {:?}",
                    self.name, self.kind, kind
                )));
            }
            if kind == SubType::Exclusive {
                return Err(BrokerError::ConsumerBusy(format!(
                    "exclusive subscription {} already has a consumer",
                    self.name
                )));
            }
        }
        if kind == SubType::KeyShared {
            check_key_shared(&self.name, &slot.key_shared, &self.consumers)?;
        }
        self.kind = kind;
        self.consumers.push(slot);
        self.membership_changed(partition);
        Ok(())
    }

    /// Removes a consumer; its unacknowledged entries go to the others.
    pub fn remove_consumer(&mut self, key: ConsumerKey, partition: i32) -> bool {
        let before = self.consumers.len();
        self.consumers.retain(|c| c.key != key);
        if before == self.consumers.len() {
            return false;
        }
        self.release_pending(|c| c == Some(key), true);
        self.membership_changed(partition);
        true
    }

    /// Whether a consumer belongs here.
    pub fn has_consumer(&self, key: ConsumerKey) -> bool {
        self.consumers.iter().any(|c| c.key == key)
    }

    fn release_pending(&mut self, which: impl Fn(Option<ConsumerKey>) -> bool, count: bool) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| which(p.consumer))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.take_pending(id);
            self.redeliver.insert(id);
            if count {
                *self.redelivery_count.entry(id).or_default() += 1;
            }
        }
    }

    /// Forgets that `id` is in flight (and its hash with it).
    fn take_pending(&mut self, id: u64) -> Option<Pending> {
        let p = self.pending.remove(&id)?;
        self.untrack(&p);
        Some(p)
    }

    fn untrack(&mut self, p: &Pending) {
        if let (Some(h), Some(c)) = (p.hash, p.consumer)
            && let Some(holders) = self.inflight.get_mut(&h)
        {
            if let Some(i) = holders.iter().position(|(k, _)| *k == c) {
                holders[i].1 -= 1;
                if holders[i].1 == 0 {
                    holders.swap_remove(i);
                }
            }
            if holders.is_empty() {
                self.inflight.remove(&h);
            }
        }
    }

    fn put_pending(&mut self, id: u64, consumer: ConsumerKey, hash: Option<u32>) {
        if let Some(h) = hash {
            let holders = self.inflight.entry(h).or_default();
            match holders.iter_mut().find(|(k, _)| *k == consumer) {
                Some((_, n)) => *n += 1,
                None => holders.push((consumer, 1)),
            }
        }
        self.pending.insert(
            id,
            Pending {
                consumer: Some(consumer),
                hash,
            },
        );
    }

    /// Whether a consumer other than `owner` still holds unacknowledged entries of `hash`.
    fn draining_elsewhere(&self, hash: u32, owner: ConsumerKey) -> bool {
        let ooo = self
            .consumers
            .first()
            .is_some_and(|c| c.key_shared.allow_out_of_order);
        !ooo && self
            .inflight
            .get(&hash)
            .is_some_and(|h| h.iter().any(|(k, _)| *k != owner))
    }

    fn membership_changed(&mut self, partition: i32) {
        // A newcomer may cover hashes nobody did (or be of another type): look
        // at those entries again.
        self.redeliver.append(&mut self.uncovered);
        match self.kind {
            SubType::Failover => self.elect_active(partition),
            SubType::KeyShared => self.rebuild_ring(),
            _ => {}
        }
    }

    fn elect_active(&mut self, partition: i32) {
        let mut order: Vec<&ConsumerSlot> = self.consumers.iter().collect();
        order.sort_by(|a, b| (a.priority, &a.name, a.key).cmp(&(b.priority, &b.name, b.key)));
        let new = if order.is_empty() {
            None
        } else {
            // Partitions spread over consumers of the best priority level.
            let top = order[0].priority;
            let best: Vec<_> = order.iter().filter(|c| c.priority == top).collect();
            // Partition i goes to consumer i; a non-partitioned topic to the consumer its
            // name hashes to on a ring of the consumers' names, as Pulsar's dispatcher does
            // (so the same consumer is active on both brokers).
            let idx = if partition >= 0 {
                partition as usize % best.len()
            } else {
                let names: Vec<&str> = best.iter().map(|c| c.name.as_str()).collect();
                crate::murmur3::failover_ring_index(&names, self.topic_hash)
            };
            Some(best[idx].key)
        };
        if new != self.active {
            let old = self.active;
            self.active = new;
            // Entries the previous active consumer holds go to the new one.
            self.release_pending(|c| c.is_some() && c == old, false);
        }
        for c in &self.consumers {
            let mut cmd = base(Type::ActiveConsumerChange);
            cmd.active_consumer_change = Some(CommandActiveConsumerChange {
                consumer_id: c.key.1,
                is_active: Some(Some(c.key) == self.active),
            });
            let _ = c.out.send(Frame::command(cmd));
        }
    }

    fn rebuild_ring(&mut self) {
        self.ring.clear();
        for c in self
            .consumers
            .iter()
            .filter(|c| c.key_shared.sticky.is_none())
        {
            for i in 0..RING_POINTS {
                let point = format!("{}-{}-{}-{i}", c.name, c.key.0, c.key.1);
                self.ring
                    .push((murmur3_32(point.as_bytes(), 0) % HASH_RANGE, c.key));
            }
        }
        self.ring.sort_unstable();
    }

    fn owner_of(&self, hash: u32) -> Option<ConsumerKey> {
        if self
            .consumers
            .first()
            .is_some_and(|c| c.key_shared.sticky.is_some())
        {
            return self
                .consumers
                .iter()
                .find(|c| c.key_shared.covers(hash))
                .map(|c| c.key);
        }
        let i = self.ring.partition_point(|(p, _)| *p < hash);
        self.ring
            .get(i)
            .or_else(|| self.ring.first())
            .map(|(_, k)| *k)
    }

    /// Adds permits to a consumer.
    pub fn flow(&mut self, key: ConsumerKey, permits: u32) {
        if let Some(c) = self.consumers.iter_mut().find(|c| c.key == key) {
            c.permits = c.permits.saturating_add(permits).min(MAX_PERMITS);
        }
    }

    /// Applies acknowledgements from a consumer.
    pub fn ack(&mut self, ids: &[MessageIdData], cumulative: bool, log: &SegmentLog) -> AckOutcome {
        let mut out = AckOutcome::default();
        for id in ids {
            let entry = id.entry_id;
            let size = log.info(entry).map_or(1, |i| i.num_messages);
            // Batch-index acks: the official client sends `ack_set` (bits still set are
            // messages not yet acknowledged), pulsar-rs a `batch_index` per message.
            let acked_part = if size <= 1 {
                None
            } else if !id.ack_set.is_empty() {
                Some(cursor::acked_from_ack_set(&id.ack_set, size))
            } else if let Ok(i) = u32::try_from(id.batch_index.unwrap_or(-1)) {
                Some(if cumulative {
                    cursor::bits_through(i, size)
                } else {
                    cursor::single_bit(i, size)
                })
            } else {
                None
            };
            if cumulative {
                // A cumulative ack inside a batch covers the entries before it and
                // that batch's acknowledged indexes.
                let through = match &acked_part {
                    Some(bits) => match self.cursor.ack_indexes(entry, bits, size) {
                        IndexAck::Whole => Some(entry),
                        IndexAck::Partial => {
                            out.partial.push(entry);
                            entry.checked_sub(1)
                        }
                        IndexAck::Unchanged => entry.checked_sub(1),
                    },
                    None => Some(entry),
                };
                if let Some(t) = through
                    && self.cursor.ack_through(t)
                {
                    out.cumulative = true;
                    let kept = self.pending.split_off(&(t + 1));
                    for p in std::mem::replace(&mut self.pending, kept).into_values() {
                        self.untrack(&p);
                    }
                    self.redeliver = self.redeliver.split_off(&(t + 1));
                    self.uncovered = self.uncovered.split_off(&(t + 1));
                    self.redelivery_count.retain(|k, _| *k > t);
                }
                continue;
            }
            let whole = match &acked_part {
                Some(bits) => match self.cursor.ack_indexes(entry, bits, size) {
                    IndexAck::Whole => true,
                    IndexAck::Partial => {
                        out.partial.push(entry);
                        false
                    }
                    IndexAck::Unchanged => false,
                },
                None => self.cursor.ack(entry),
            };
            if whole {
                out.individual.push(entry);
                self.take_pending(entry);
                self.redeliver.remove(&entry);
                self.uncovered.remove(&entry);
                self.redelivery_count.remove(&entry);
            }
        }
        // One record per entry, whatever the number of its indexes in this ack.
        out.partial.sort_unstable();
        out.partial.dedup();
        out
    }

    /// Puts a consumer's unacknowledged entries (all, or those listed) up for redelivery.
    pub fn redeliver(&mut self, key: ConsumerKey, ids: &[MessageIdData]) {
        if ids.is_empty() {
            self.release_pending(|c| c == Some(key), true);
            return;
        }
        for id in ids {
            let e = id.entry_id;
            if self
                .pending
                .get(&e)
                .is_some_and(|p| p.consumer == Some(key))
            {
                self.take_pending(e);
                self.redeliver.insert(e);
                *self.redelivery_count.entry(e).or_default() += 1;
            }
        }
    }

    /// Moves the cursor (seek): everything from `next` on is unacknowledged
    /// and consumers are closed so that clients reconnect at the new position.
    pub fn reset(&mut self, next: u64) {
        self.cursor.reset(next);
        self.read_pos = next;
        self.pending.clear();
        self.inflight.clear();
        self.uncovered.clear();
        self.redeliver.clear();
        self.redelivery_count.clear();
        let until = Instant::now() + SEEK_FENCE;
        for c in self.consumers.drain(..) {
            self.fenced.push((c.key, until));
            let mut cmd = base(Type::CloseConsumer);
            cmd.close_consumer = Some(CommandCloseConsumer {
                consumer_id: c.key.1,
                // Broker-initiated closes carry -1, never a client's request id.
                request_id: u64::MAX,
            });
            let _ = c.out.send(Frame::command(cmd));
        }
        self.active = None;
        self.ring.clear();
    }

    /// Closes every consumer (broker-initiated CloseConsumer, as for a forced delete) and
    /// returns how many there were; their unacknowledged entries go back to the backlog.
    pub fn close_all_consumers(&mut self) -> usize {
        let n = self.consumers.len();
        for c in self.consumers.drain(..) {
            let mut cmd = base(Type::CloseConsumer);
            cmd.close_consumer = Some(CommandCloseConsumer {
                consumer_id: c.key.1,
                request_id: u64::MAX,
            });
            let _ = c.out.send(Frame::command(cmd));
        }
        self.pending.clear();
        self.inflight.clear();
        self.active = None;
        self.ring.clear();
        n
    }

    fn pick(&mut self, key_hash: Option<u32>, partition: i32) -> Option<usize> {
        let ready = |c: &ConsumerSlot| c.permits > 0 && !c.gauge.is_full();
        match self.kind {
            SubType::Exclusive => self.consumers.iter().position(ready),
            SubType::Failover => {
                if self.active.is_none() {
                    self.elect_active(partition);
                }
                let a = self.active?;
                self.consumers.iter().position(|c| c.key == a && ready(c))
            }
            SubType::Shared => {
                let n = self.consumers.len();
                (0..n)
                    .map(|i| (self.rr + i) % n)
                    .find(|&i| ready(&self.consumers[i]))
                    .inspect(|&i| self.rr = i + 1)
            }
            SubType::KeyShared => {
                let hash = key_hash_of(key_hash);
                let owner = self.owner_of(hash)?;
                if self.draining_elsewhere(hash, owner) {
                    return None;
                }
                self.consumers
                    .iter()
                    .position(|c| c.key == owner && ready(c))
            }
        }
    }

    /// Sends what can be sent now. Exclusive, Failover and Shared stop at the first entry
    /// nobody can take (total order for the first two). Key_Shared parks an entry whose owner
    /// cannot take it and looks further for other consumers' keys, so one slow consumer does
    /// not stall the rest; every later entry of a parked owner is parked too, which keeps
    /// per-key order. Parked entries are retried first on the next pass.
    pub fn dispatch(&mut self, log: &SegmentLog, partition: i32) -> u64 {
        let mut sent = 0;
        if self.consumers.is_empty() {
            return 0;
        }
        let mut busy_owners: Vec<ConsumerKey> = Vec::new();
        let mut parked = 0;
        let mut next_replay = 0;
        loop {
            let replay_entry = self.redeliver.range(next_replay..).next().copied();
            let (entry, replay) = match replay_entry {
                Some(e) => {
                    next_replay = e + 1;
                    (e, true)
                }
                None if self.read_pos < log.end_entry() => (self.read_pos, false),
                None => break,
            };
            let skip = self.cursor.is_acked(entry)
                || entry < log.first_entry()
                || (!replay && self.pending.contains_key(&entry));
            let info = log.info(entry);
            if skip || info.is_none() {
                self.advance(entry, replay);
                continue;
            }
            let Some(info) = info else { break };
            let key_shared = self.kind == SubType::KeyShared;
            let owner = key_shared
                .then(|| self.owner_of(key_hash_of(info.key_hash)))
                .flatten();
            if key_shared && owner.is_none() {
                // STICKY and no consumer covers this hash: the entry waits aside.
                self.advance(entry, replay);
                self.uncovered.insert(entry);
                if self.uncovered.len() >= UNCOVERED_LIMIT {
                    break;
                }
                continue;
            }
            let pick = match owner {
                Some(o) if busy_owners.contains(&o) => None,
                _ => self.pick(info.key_hash, partition),
            };
            let Some(ci) = pick else {
                let Some(o) = owner else { break };
                if !busy_owners.contains(&o) {
                    busy_owners.push(o);
                }
                if !replay {
                    self.redeliver.insert(entry);
                    self.read_pos = entry + 1;
                }
                parked += 1;
                if busy_owners.len() >= self.consumers.len() || parked >= KEY_SHARED_LOOKAHEAD {
                    break;
                }
                continue;
            };
            let payload = match log.read(entry) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(subscription = %self.name, entry, error = %e, "cannot read entry; skipping it");
                    self.advance(entry, replay);
                    continue;
                }
            };
            let count = self.redelivery_count.get(&entry).copied().unwrap_or(0);
            // A partly acknowledged batch goes with the indexes still to deliver
            // (the client skips the rest) and costs only those permits, as in Pulsar.
            let (ack_set, messages) = match self.cursor.acked_indexes(entry) {
                Some(acked) => {
                    let left = cursor::unacked_words(acked, info.num_messages);
                    let n = left.iter().map(|w| w.count_ones()).sum::<u32>();
                    (left.into_iter().map(|w| w as i64).collect(), n)
                }
                None => (Vec::new(), info.num_messages),
            };
            let c = &mut self.consumers[ci];
            let ledger = log.ledger_of(entry);
            let sent_ok = send_message(
                c,
                msg_id(ledger, entry, partition, None),
                ack_set,
                count,
                payload.clone(),
            );
            if !sent_ok {
                break;
            }
            c.permits = c.permits.saturating_sub(messages);
            let key = c.key;
            let hash = key_shared.then(|| key_hash_of(info.key_hash));
            self.put_pending(entry, key, hash);
            self.msg_out += u64::from(messages);
            self.bytes_out += payload.len() as u64;
            sent += u64::from(messages);
            self.advance(entry, replay);
        }
        sent
    }

    fn advance(&mut self, entry: u64, replay: bool) {
        if replay {
            self.redeliver.remove(&entry);
        } else {
            self.read_pos = entry + 1;
        }
    }
}

/// Sends one entry; `ack_set` (on the command, not in the id, as Pulsar does)
/// marks the batch indexes still to deliver when some are acknowledged.
fn send_message(
    c: &ConsumerSlot,
    message_id: MessageIdData,
    ack_set: Vec<i64>,
    redelivery_count: u32,
    payload: Bytes,
) -> bool {
    let mut cmd = base(Type::Message);
    cmd.message = Some(CommandMessage {
        consumer_id: c.key.1,
        ack_set,
        message_id,
        redelivery_count: Some(redelivery_count),
        ..Default::default()
    });
    let len = payload.len();
    let ok = c.out.send(Frame::with_payload(cmd, payload)).is_ok();
    if ok {
        c.gauge.queued(len);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::parse_metadata;
    use crate::storage::segment::{self, EntryInfo};
    use bytes::BufMut;
    use prost::Message as _;
    use pulsar::proto::MessageMetadata;

    fn append(log: &mut SegmentLog, w: &mut segment::SegmentWriter, key: &str) {
        let md = MessageMetadata {
            producer_name: "p".into(),
            publish_time: 1,
            partition_key: Some(key.into()),
            ..Default::default()
        };
        let mut b = Vec::new();
        b.put_u32(md.encoded_len() as u32);
        md.encode(&mut b).unwrap();
        b.extend_from_slice(key.as_bytes());
        let (at, rolled) = w.append(&b).unwrap();
        assert!(rolled.is_none());
        log.push(at, EntryInfo::from_metadata(&parse_metadata(&b).unwrap()));
    }

    #[test]
    fn sticky_ranges_are_checked_like_pulsar() {
        let sticky = |r: &[(i32, i32)]| KeySharedPolicy {
            sticky: Some(r.to_vec()),
            allow_out_of_order: false,
        };
        let low = slot(1).0.with_key_shared(sticky(&[(0, 99), (200, 299)]));
        let others = [low];
        let refused = |p: &KeySharedPolicy| match check_key_shared("s", p, &others) {
            Err(BrokerError::ConsumerAssign(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(check_key_shared("s", &sticky(&[(100, 199), (300, 65535)]), &others).is_ok());
        assert!(refused(&sticky(&[(100, 200)])).contains("Range conflict with consumer \"c1\""));
        assert!(refused(&sticky(&[(150, 160), (250, 250)])).contains("hashRanges[1]"));
        assert!(refused(&sticky(&[(5, 1)])).contains("start > end"));
        assert!(refused(&sticky(&[])).contains("must not be empty"));
        let busy = |p: &KeySharedPolicy| {
            matches!(
                check_key_shared("s", p, &others),
                Err(BrokerError::ConsumerBusy(_))
            )
        };
        assert!(
            busy(&KeySharedPolicy::default()),
            "AUTO_SPLIT joining STICKY"
        );
        assert!(busy(&KeySharedPolicy {
            allow_out_of_order: true,
            ..sticky(&[(400, 500)])
        }));
        let s = sticky(&[(0, 99), (200, 299)]);
        assert!(s.covers(0) && s.covers(299) && !s.covers(100) && !s.covers(65535));
    }

    #[test]
    fn a_partly_acked_batch_goes_out_with_its_ack_set_and_costs_only_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = segment::open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
        let md = MessageMetadata {
            producer_name: "p".into(),
            publish_time: 1,
            num_messages_in_batch: Some(10),
            ..Default::default()
        };
        let mut b = Vec::new();
        b.put_u32(md.encoded_len() as u32);
        md.encode(&mut b).unwrap();
        let (at, _) = w.append(&b).unwrap();
        log.push(at, EntryInfo::from_metadata(&md));
        let mut s = sub(SubType::Exclusive);
        let ids: Vec<MessageIdData> = [0, 2, 5]
            .into_iter()
            .map(|i| MessageIdData {
                entry_id: 0,
                batch_index: Some(i),
                ..Default::default()
            })
            .collect();
        let out = s.ack(&ids, false, &log);
        assert_eq!((out.individual.len(), out.partial), (0, vec![0]));
        let (a, mut arx) = slot(1);
        s.add_consumer(a, SubType::Exclusive, -1).unwrap();
        s.flow((1, 1), 100);
        assert_eq!(s.dispatch(&log, -1), 7);
        let m = arx.try_recv().expect("a frame").command.message.unwrap();
        assert_eq!(m.ack_set, vec![0b11_1101_1010], "set = still to deliver");
        assert!(
            m.message_id.ack_set.is_empty(),
            "not in the id (clients echo it)"
        );
        assert_eq!(s.consumers()[0].permits, 93);
    }

    fn slot(id: u64) -> (ConsumerSlot, crate::outbox::OutboxRx) {
        let (tx, rx) = crate::outbox::channel();
        (
            ConsumerSlot::new((1, id), format!("c{id}"), 0, tx, Arc::default()),
            rx,
        )
    }

    fn received(rx: &mut crate::outbox::OutboxRx) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(f) = rx.try_recv() {
            if let Some(m) = f.command.message {
                out.push(m.message_id.entry_id);
            }
        }
        out
    }

    fn sub(kind: SubType) -> Subscription {
        Subscription::new(
            "s".into(),
            kind,
            false,
            CursorState::at(0),
            PathBuf::from("unused"),
        )
    }

    #[test]
    fn key_shared_holds_a_moved_key_until_earlier_messages_are_acked() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = segment::open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
        let mut s = sub(SubType::KeyShared);
        let (a, mut arx) = slot(1);
        s.add_consumer(a, SubType::KeyShared, -1).unwrap();
        s.flow((1, 1), 100);
        // Find a key that the second consumer will own once it joins.
        let (probe, _prx) = slot(2);
        let mut probe_sub = sub(SubType::KeyShared);
        probe_sub
            .add_consumer(slot(1).0, SubType::KeyShared, -1)
            .unwrap();
        probe_sub
            .add_consumer(probe, SubType::KeyShared, -1)
            .unwrap();
        let key = (0..1000)
            .map(|i| format!("key-{i}"))
            .find(|k| probe_sub.owner_of(murmur3_32(k.as_bytes(), 0) % HASH_RANGE) == Some((1, 2)))
            .expect("some key moves to the new consumer");
        for _ in 0..3 {
            append(&mut log, &mut w, &key);
        }
        s.dispatch(&log, -1);
        assert_eq!(received(&mut arx), vec![0, 1, 2]);
        let (b, mut brx) = slot(2);
        s.add_consumer(b, SubType::KeyShared, -1).unwrap();
        s.flow((1, 2), 100);
        append(&mut log, &mut w, &key);
        s.dispatch(&log, -1);
        assert!(
            received(&mut brx).is_empty(),
            "the new owner waits for the old one's acks"
        );
        assert!(received(&mut arx).is_empty());
        let ids: Vec<MessageIdData> = (0..3)
            .map(|e| MessageIdData {
                ledger_id: 0,
                entry_id: e,
                ..Default::default()
            })
            .collect();
        s.ack(&ids, false, &log);
        s.dispatch(&log, -1);
        assert_eq!(
            received(&mut brx),
            vec![3],
            "key order kept across the hand-over"
        );
    }

    /// Keys owned by consumer (1, `id`) of a subscription with consumers 1 and 2.
    fn keys_of(id: u64, n: usize) -> Vec<String> {
        let mut probe = sub(SubType::KeyShared);
        probe
            .add_consumer(slot(1).0, SubType::KeyShared, -1)
            .unwrap();
        probe
            .add_consumer(slot(2).0, SubType::KeyShared, -1)
            .unwrap();
        (0..10_000)
            .map(|i| format!("key-{i}"))
            .filter(|k| probe.owner_of(murmur3_32(k.as_bytes(), 0) % HASH_RANGE) == Some((1, id)))
            .take(n)
            .collect()
    }

    #[test]
    fn key_shared_busy_consumer_does_not_stall_the_others_and_keeps_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = segment::open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
        let (ka, kb) = (keys_of(1, 1).remove(0), keys_of(2, 1).remove(0));
        // a b a b a b …: entries 0,2,4,… are consumer 1's, 1,3,5,… consumer 2's.
        for _ in 0..5 {
            append(&mut log, &mut w, &ka);
            append(&mut log, &mut w, &kb);
        }
        let mut s = sub(SubType::KeyShared);
        let (a, mut arx) = slot(1);
        let (b, mut brx) = slot(2);
        s.add_consumer(a, SubType::KeyShared, -1).unwrap();
        s.add_consumer(b, SubType::KeyShared, -1).unwrap();
        s.flow((1, 1), 1);
        s.flow((1, 2), 100);
        s.dispatch(&log, -1);
        assert_eq!(received(&mut arx), vec![0], "one permit, one message");
        assert_eq!(
            received(&mut brx),
            vec![1, 3, 5, 7, 9],
            "the busy consumer's keys do not hold the others back"
        );
        s.flow((1, 1), 100);
        append(&mut log, &mut w, &ka);
        s.dispatch(&log, -1);
        assert_eq!(
            received(&mut arx),
            vec![2, 4, 6, 8, 10],
            "parked entries come first, in order"
        );
        assert!(received(&mut brx).is_empty());
        assert_eq!(s.redelivery_count.len(), 0, "parking is not a redelivery");
    }

    #[test]
    fn permits_bound_what_is_in_flight_and_disconnect_hands_over() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut w) = segment::open(dir.path(), 1 << 20, 1 << 20, |_, _| {}).unwrap();
        for _ in 0..20 {
            append(&mut log, &mut w, "k");
        }
        let mut s = sub(SubType::Shared);
        let (a, mut arx) = slot(1);
        let (b, mut brx) = slot(2);
        s.add_consumer(a, SubType::Shared, -1).unwrap();
        s.add_consumer(b, SubType::Shared, -1).unwrap();
        s.flow((1, 1), 3);
        s.dispatch(&log, -1);
        assert_eq!(
            received(&mut arx),
            vec![0, 1, 2],
            "no more than the permits"
        );
        assert!(received(&mut brx).is_empty(), "no permits, nothing sent");
        s.remove_consumer((1, 1), -1);
        s.flow((1, 2), 2);
        s.dispatch(&log, -1);
        assert_eq!(
            received(&mut brx),
            vec![0, 1],
            "a gone consumer's messages go to the others first"
        );
        s.flow((1, 2), 10);
        let sent = s.dispatch(&log, -1);
        assert_eq!(sent, 10);
        assert_eq!(s.redelivery_count.get(&2), Some(&1));
    }

    #[test]
    fn failover_elects_by_priority_then_name_and_announces_it() {
        let mut s = sub(SubType::Failover);
        let (z, mut zrx) = slot(1);
        let z = ConsumerSlot {
            name: "z".into(),
            ..z
        };
        let (a, mut arx) = slot(2);
        let a = ConsumerSlot {
            name: "a".into(),
            ..a
        };
        // Partition 0 goes to the first of the sorted consumers (a non-partitioned topic to
        // its place on the ring: murmur3.rs).
        s.add_consumer(z, SubType::Failover, 0).unwrap();
        s.add_consumer(a, SubType::Failover, 0).unwrap();
        let active = |rx: &mut crate::outbox::OutboxRx| {
            let mut last = None;
            while let Some(f) = rx.try_recv() {
                if let Some(c) = f.command.active_consumer_change {
                    last = c.is_active;
                }
            }
            last
        };
        assert_eq!(active(&mut arx), Some(true));
        assert_eq!(active(&mut zrx), Some(false));
        assert!(
            s.add_consumer(slot(3).0, SubType::Exclusive, -1).is_err(),
            "type mismatch refused"
        );
    }
}

#[cfg(test)]
mod outbound_tests {
    use super::*;

    #[test]
    fn gauge_stalls_above_the_limit_and_resumes_below_half() {
        let g = OutboundGauge::default();
        g.queued(OUTBOUND_LIMIT);
        assert!(g.is_full());
        assert!(!g.written(OUTBOUND_LIMIT / 4), "still above half");
        assert!(g.written(OUTBOUND_LIMIT / 2), "resume once below half");
        assert!(!g.is_full());
        assert!(!g.written(0), "only one wake-up per stall");
    }

    #[test]
    fn the_global_count_stalls_every_connection() {
        let global = Arc::new(AtomicUsize::new(0));
        let a = OutboundGauge::new(global.clone());
        let b = OutboundGauge::new(global.clone());
        a.queued(OUTBOUND_GLOBAL_LIMIT);
        assert!(b.is_full(), "b queued nothing but the broker is full");
        a.release();
        assert!(!b.is_full());
        assert_eq!(global.load(Ordering::Relaxed), 0);
    }
}
