//! The consume → process → produce → ack loop, with Pulsar Functions' processing guarantees.
//!
//! Functions run one message at a time, in arrival order, so ordering within an instance is
//! kept; sends are pipelined and a message is acknowledged when every send it caused has its
//! receipt (atleast_once), on receipt (atmost_once), or when the function says so (manual).
//! Messages waiting for receipts are polled by this loop itself ([`Settling`]), not by a
//! task each.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fmesh_crds::common::{ProcessingGuarantee, SubscriptionPosition};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use pulsar::consumer::{ConsumerOptions, InitialPosition, Message};
use pulsar::message::proto::MessageIdData;
use pulsar::producer::{self, MultiTopicProducer};
use pulsar::{Consumer, Pulsar, SubType, TokioExecutor};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::dedup::DedupProducer;
use crate::error::{FunctionError, RunnerError};
use crate::metrics::Metrics;
use crate::receipt::{Receipt, Settled, Settling};
use crate::record::{Effects, Level, Record};
use crate::runtime::Runtime;
use crate::spec::{Plan, SubscriptionKind};
use crate::{Connection, connect};

/// A failed message is handed back to Pulsar after this delay, so a poison message does not spin.
const NACK_DELAY: Duration = Duration::from_secs(1);
/// Pause between local retries of a failed invocation.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

enum AckCmd {
    Ack(String, MessageIdData),
    Nack(String, MessageIdData),
    /// A sink connector gave up on the record: dead-letter it (then ack) or nack it.
    GaveUp(String, MessageIdData, Box<Record>),
}

/// Why the consume loop returned.
pub(crate) enum Exit {
    /// Shutdown was requested and in-flight work drained.
    Stopped,
    /// The connection failed; reconnect.
    Lost(String),
}

/// The long-lived state of a consuming instance, kept across reconnects.
pub(crate) struct Pipeline {
    pub(crate) plan: Arc<Plan>,
    pub(crate) runtime: Runtime,
    pub(crate) metrics: Metrics,
    pub(crate) instance_id: u32,
    pub(crate) drain_timeout: Duration,
    /// Sink connectors' writes awaiting their verdict (a permit each).
    pending: Arc<Semaphore>,
    /// Processed messages awaiting their receipts; at most `plan.max_pending`.
    settling: FuturesUnordered<Settling>,
    acks_tx: mpsc::UnboundedSender<AckCmd>,
    acks_rx: mpsc::UnboundedReceiver<AckCmd>,
}

struct Session {
    consumer: Consumer<Vec<u8>, TokioExecutor>,
    producer: MultiTopicProducer<TokioExecutor>,
    dedup: Option<DedupProducer>,
}

impl Pipeline {
    pub(crate) fn new(
        plan: Arc<Plan>,
        runtime: Runtime,
        metrics: Metrics,
        instance_id: u32,
        drain_timeout: Duration,
    ) -> Self {
        let (acks_tx, acks_rx) = mpsc::unbounded_channel();
        Pipeline {
            pending: Arc::new(Semaphore::new(plan.max_pending)),
            settling: FuturesUnordered::new(),
            plan,
            runtime,
            metrics,
            instance_id,
            drain_timeout,
            acks_tx,
            acks_rx,
        }
    }

    /// Subscribes and runs until `stop` or until the connection is lost.
    pub(crate) async fn run(
        &mut self,
        conn: &Connection,
        stop: &CancellationToken,
    ) -> Result<Exit, RunnerError> {
        let pulsar = connect(conn).await?;
        let mut session = Session {
            consumer: self.subscribe(&pulsar).await?,
            // Wait for room rather than fail a send when pulsar-rs's queue is full.
            producer: pulsar
                .producer()
                .with_options(producer::ProducerOptions {
                    block_queue_if_full: true,
                    ..Default::default()
                })
                .build_multi_topic(),
            dedup: match (&self.plan.guarantee, &self.plan.output_topic) {
                (ProcessingGuarantee::EffectivelyOnce, Some(topic)) => {
                    Some(DedupProducer::connect(conn, topic, &self.dedup_name()).await?)
                }
                _ => None,
            },
        };
        self.metrics.subscribed.set(1);
        tracing::info!(
            subscription = %self.plan.subscription,
            receiver_queue = self.plan.receiver_queue_size,
            outstanding_sends = self.plan.max_pending,
            inputs = ?self.plan.inputs,
            pattern = ?self.plan.topic_pattern,
            "subscribed"
        );
        let exit = loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break Exit::Stopped,
                Some(cmd) = self.acks_rx.recv() => self.apply(&mut session, cmd).await,
                Some(done) = self.settling.next(), if !self.settling.is_empty() => {
                    self.settle(&mut session, done).await;
                }
                // Full: wait for receipts before taking more (back-pressure to the broker).
                next = session.consumer.next(), if self.settling.len() < self.plan.max_pending => match next {
                    None => break Exit::Lost("consumer stream ended".into()),
                    Some(Err(e)) => break Exit::Lost(e.to_string()),
                    Some(Ok(msg)) => {
                        self.handle(&mut session, msg).await;
                        // A wasm or builtin function never awaits: give the connection's
                        // tasks (writes, receipts, flow) their turn between messages.
                        if self.runtime.runs_inline() {
                            tokio::task::yield_now().await;
                        }
                    }
                },
            }
        };
        if matches!(exit, Exit::Stopped) {
            self.drain(&mut session).await;
        }
        self.metrics.subscribed.set(0);
        Ok(exit)
    }

    /// Producer name for effectively_once: stable across restarts of the same instance.
    fn dedup_name(&self) -> String {
        format!(
            "{}-{}",
            self.plan.fqfn().replace('/', "-"),
            self.instance_id
        )
    }

    async fn subscribe(
        &self,
        pulsar: &Pulsar<TokioExecutor>,
    ) -> Result<Consumer<Vec<u8>, TokioExecutor>, RunnerError> {
        let plan = &self.plan;
        let sub_type = match plan.subscription_kind {
            SubscriptionKind::Shared => SubType::Shared,
            SubscriptionKind::Failover => SubType::Failover,
            SubscriptionKind::KeyShared => SubType::KeyShared,
        };
        let position = match plan.position {
            SubscriptionPosition::Earliest => InitialPosition::Earliest,
            SubscriptionPosition::Latest => InitialPosition::Latest,
        };
        let mut builder = pulsar
            .consumer()
            .with_subscription(&plan.subscription)
            .with_subscription_type(sub_type)
            .with_consumer_name(format!("{}-{}", plan.fqfn(), self.instance_id))
            // receiverQueueSize bounds both the broker's permits and pulsar-rs's local queue.
            .with_batch_size(plan.receiver_queue_size)
            .with_options(
                ConsumerOptions::default()
                    .with_initial_position(position)
                    .with_receiver_queue_size(plan.receiver_queue_size),
            );
        builder = match &plan.topic_pattern {
            Some(p) => {
                let re = regex::Regex::new(p)
                    .map_err(|e| RunnerError::spec("spec.input.topicPattern", e.to_string()))?;
                builder
                    .with_topic_regex(re)
                    .with_lookup_namespace(format!("{}/{}", plan.tenant, plan.namespace))
                    .with_topic_refresh(Duration::from_secs(5))
            }
            None => builder.with_topics(&plan.inputs),
        };
        Ok(builder.build().await?)
    }

    async fn handle(&mut self, session: &mut Session, msg: Message<Vec<u8>>) {
        self.metrics.received.inc();
        let record = to_record(&msg);
        let id = (msg.topic.clone(), msg.message_id.id.clone());
        let guarantee = self.plan.guarantee;
        if guarantee == ProcessingGuarantee::AtmostOnce {
            apply(
                &mut session.consumer,
                AckCmd::Ack(id.0.clone(), id.1.clone()),
            )
            .await;
        }
        if matches!(self.runtime, Runtime::Sink(_)) {
            return self.handle_sink(record, id).await;
        }
        let started = Instant::now();
        let outcome = self.process_with_retries(&record).await;
        self.metrics
            .latency_ms
            .observe(started.elapsed().as_secs_f64() * 1000.0);
        self.metrics.last_invocation.set(now_ms() as i64);
        let (sends, ack_after) = match outcome {
            Ok(effects) => {
                self.metrics.processed.inc();
                let ack = match guarantee {
                    ProcessingGuarantee::AtmostOnce => false,
                    ProcessingGuarantee::Manual => effects.acked,
                    _ => self.plan.auto_ack || effects.acked,
                };
                (
                    self.send_effects(session, &record, &msg, effects).await,
                    ack,
                )
            }
            Err(error) => {
                tracing::warn!(message_id = %record.message_id, topic = %record.topic, %error, "message failed");
                match (&self.plan.dead_letter_topic, guarantee) {
                    (_, ProcessingGuarantee::AtmostOnce) => (Vec::new(), false),
                    (Some(dlq), _) => {
                        self.metrics.dead_lettered.inc();
                        let send = send(&mut session.producer, dlq, original(&record)).await;
                        (vec![send], true)
                    }
                    (None, _) => {
                        let tx = self.acks_tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(NACK_DELAY).await;
                            let _ = tx.send(AckCmd::Nack(id.0, id.1));
                        });
                        return;
                    }
                }
            }
        };
        self.settling
            .push(Settling::new(sends, id.0, id.1, ack_after));
    }

    /// Counts a message's receipts and acks it (or nacks it when a send failed).
    async fn settle(&mut self, session: &mut Session, done: Settled) {
        self.metrics.produced.inc_by(u64::from(done.produced));
        for error in &done.failures {
            self.metrics.system_exceptions.inc();
            tracing::warn!(%error, "send failed");
        }
        if done.ack_after {
            let cmd = if done.failures.is_empty() {
                AckCmd::Ack(done.topic, done.id)
            } else {
                AckCmd::Nack(done.topic, done.id)
            };
            apply(&mut session.consumer, cmd).await;
        }
    }

    /// Hands the record to the sink connector; acks, dead-letters or nacks on its answer.
    async fn handle_sink(&mut self, record: Record, id: (String, MessageIdData)) {
        let Runtime::Sink(sink) = &mut self.runtime else {
            return;
        };
        let Ok(permit) = self.pending.clone().acquire_owned().await else {
            return;
        };
        let started = Instant::now();
        let written = sink.write(record.clone()).await;
        let (tx, metrics) = (self.acks_tx.clone(), self.metrics.clone());
        let atmost_once = self.plan.guarantee == ProcessingGuarantee::AtmostOnce;
        tokio::spawn(async move {
            let outcome = written.await;
            metrics
                .latency_ms
                .observe(started.elapsed().as_secs_f64() * 1000.0);
            metrics.last_invocation.set(now_ms() as i64);
            let cmd = match outcome {
                Ok(()) => {
                    metrics.processed.inc();
                    AckCmd::Ack(id.0, id.1)
                }
                Err(reason) => {
                    metrics.system_exceptions.inc();
                    tracing::warn!(message_id = %record.message_id, topic = %record.topic, %reason, "sink gave up on a message");
                    AckCmd::GaveUp(id.0, id.1, Box::new(record))
                }
            };
            if !atmost_once {
                let _ = tx.send(cmd);
            }
            drop(permit);
        });
    }

    /// Applies an ack decision; a record a sink gave up on goes to the dead letter topic
    /// (acked after its receipt) or is nacked for redelivery.
    async fn apply(&mut self, session: &mut Session, cmd: AckCmd) {
        let AckCmd::GaveUp(topic, id, record) = cmd else {
            return apply(&mut session.consumer, cmd).await;
        };
        let tx = self.acks_tx.clone();
        match &self.plan.dead_letter_topic {
            Some(dlq) => {
                self.metrics.dead_lettered.inc();
                let receipt = send(&mut session.producer, dlq, original(&record)).await;
                tokio::spawn(async move {
                    let cmd = match receipt.await {
                        Ok(()) => AckCmd::Ack(topic, id),
                        Err(error) => {
                            tracing::warn!(%error, "dead letter send failed; redelivering");
                            AckCmd::Nack(topic, id)
                        }
                    };
                    let _ = tx.send(cmd);
                });
            }
            None => {
                tokio::spawn(async move {
                    tokio::time::sleep(NACK_DELAY).await;
                    let _ = tx.send(AckCmd::Nack(topic, id));
                });
            }
        }
    }

    /// Runs the function, retrying up to `maxMessageRetry` more times after a failure.
    async fn process_with_retries(&mut self, record: &Record) -> Result<Effects, FunctionError> {
        let mut failures = 0u32;
        loop {
            match self.runtime.process(record).await {
                Ok(effects) => return Ok(effects),
                Err(e) => {
                    match &e {
                        FunctionError::User(_) => self.metrics.user_exceptions.inc(),
                        _ => self.metrics.system_exceptions.inc(),
                    };
                    failures += 1;
                    if failures > self.plan.max_message_retry.unwrap_or(0) {
                        return Err(e);
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    /// Sends the output and the function's publishes; returns one receipt future per send.
    async fn send_effects(
        &mut self,
        session: &mut Session,
        record: &Record,
        msg: &Message<Vec<u8>>,
        effects: Effects,
    ) -> Vec<Receipt> {
        let mut sends = Vec::new();
        self.log_effects(session, &effects).await;
        for (name, value) in &effects.metrics {
            self.metrics.user_metric(name, *value);
        }
        if let (Some(output), Some(topic)) = (effects.output, &self.plan.output_topic) {
            let mut out = producer::Message {
                payload: output,
                partition_key: record.key.clone(),
                event_time: record.event_time,
                ..Default::default()
            };
            if self.plan.forward_properties {
                out.properties = record.properties.clone().into_iter().collect();
            }
            match &mut session.dedup {
                Some(dedup) => sends.push(dedup.send(&msg.topic, sequence_id(msg), out).await),
                None => sends.push(send(&mut session.producer, topic, out).await),
            }
        }
        for p in effects.publishes {
            if p.topic.is_empty() {
                tracing::warn!("publish without a topic ignored");
                continue;
            }
            let out = producer::Message {
                payload: p.payload,
                partition_key: p.key,
                properties: p.properties.into_iter().collect(),
                ..Default::default()
            };
            sends.push(send(&mut session.producer, &p.topic, out).await);
        }
        sends
    }

    async fn log_effects(&mut self, session: &mut Session, effects: &Effects) {
        let fqfn = self.plan.fqfn();
        for (level, line) in &effects.logs {
            match level {
                Level::Debug => tracing::debug!(function = %fqfn, "{line}"),
                Level::Info => tracing::info!(function = %fqfn, "{line}"),
                Level::Warn => tracing::warn!(function = %fqfn, "{line}"),
                Level::Error => tracing::error!(function = %fqfn, "{line}"),
            }
            if let Some(topic) = &self.plan.log_topic {
                let out = producer::Message {
                    payload: line.clone().into_bytes(),
                    properties: HashMap::from([
                        ("loglevel".to_string(), level.as_str().to_string()),
                        ("fqn".to_string(), fqfn.clone()),
                        ("instance".to_string(), self.instance_id.to_string()),
                    ]),
                    ..Default::default()
                };
                // Logs are best effort: their receipt does not hold up the message's ack.
                drop(send(&mut session.producer, topic, out).await);
            }
        }
    }

    /// Stops fetching, waits (bounded) for outstanding receipts, applies their acks, closes.
    async fn drain(&mut self, session: &mut Session) {
        let deadline = tokio::time::Instant::now() + self.drain_timeout;
        let all = u32::try_from(self.plan.max_pending).unwrap_or(u32::MAX);
        let pending = self.pending.clone();
        let everything = pending.acquire_many(all);
        tokio::pin!(everything);
        let mut sinks_done = false;
        while !(sinks_done && self.settling.is_empty()) {
            tokio::select! {
                Some(cmd) = self.acks_rx.recv() => self.apply(session, cmd).await,
                Some(done) = self.settling.next(), if !self.settling.is_empty() => {
                    self.settle(session, done).await;
                }
                _ = &mut everything, if !sinks_done => sinks_done = true,
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!("drain deadline passed with sends outstanding");
                    break;
                }
            }
        }
        while let Ok(cmd) = self.acks_rx.try_recv() {
            self.apply(session, cmd).await;
        }
        if let Err(error) = session.consumer.close().await {
            tracing::debug!(%error, "consumer close");
        }
        tracing::info!("drained and closed");
    }
}

async fn send(
    producer: &mut MultiTopicProducer<TokioExecutor>,
    topic: &str,
    msg: producer::Message,
) -> Receipt {
    match producer.send_non_blocking(topic, msg).await {
        Ok(fut) => Receipt::Pulsar(fut),
        Err(e) => Receipt::failed(e.to_string()),
    }
}

async fn apply(consumer: &mut Consumer<Vec<u8>, TokioExecutor>, cmd: AckCmd) {
    let result = match cmd {
        AckCmd::Ack(topic, id) => consumer.ack_with_id(&topic, id).await,
        AckCmd::Nack(topic, id) => consumer.nack_with_id(&topic, id).await,
        AckCmd::GaveUp(topic, id, _) => consumer.nack_with_id(&topic, id).await,
    };
    if let Err(error) = result {
        // The message stays unacknowledged and is redelivered: at-least-once holds.
        tracing::warn!(%error, "ack failed");
    }
}

/// The input as it was, for the dead letter topic.
fn original(record: &Record) -> producer::Message {
    producer::Message {
        payload: record.payload.clone(),
        partition_key: record.key.clone(),
        properties: record.properties.clone().into_iter().collect(),
        event_time: record.event_time,
        ..Default::default()
    }
}

/// Sequence id derived from the input position, as Pulsar Functions does for effectively_once:
/// the same input always yields the same id, so a replay is dropped by broker deduplication.
pub(crate) fn sequence_id(msg: &Message<Vec<u8>>) -> u64 {
    let id = &msg.message_id.id;
    let batch = id.batch_index.unwrap_or(0).max(0) as u64;
    (id.ledger_id << 44) | ((id.entry_id & 0xFFFF_FFFF) << 12) | (batch & 0xFFF)
}

fn to_record(msg: &Message<Vec<u8>>) -> Record {
    let meta = &msg.payload.metadata;
    let id = &msg.message_id.id;
    Record {
        topic: msg.topic.clone(),
        message_id: format!(
            "{}:{}:{}:{}",
            id.ledger_id,
            id.entry_id,
            id.partition.unwrap_or(-1),
            id.batch_index.unwrap_or(-1)
        ),
        key: meta.partition_key.clone(),
        properties: meta
            .properties
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone()))
            .collect::<BTreeMap<_, _>>(),
        event_time: meta.event_time.filter(|t| *t > 0),
        publish_time: meta.publish_time,
        payload: msg.payload.data.clone(),
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
