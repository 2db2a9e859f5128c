//! One client connection: handshake, then commands until the socket closes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pulsar::proto::{
    self, BaseCommand, CommandConnected, CommandError, CommandGetLastMessageIdResponse,
    CommandGetOrCreateSchemaResponse, CommandGetSchemaResponse,
    CommandGetTopicsOfNamespaceResponse, CommandLookupTopicResponse,
    CommandPartitionedTopicMetadataResponse, CommandPong, CommandProducerSuccess, CommandSendError,
    CommandSuccess, MessageIdData, ProducerAccessMode, ServerError,
    base_command::Type,
    command_ack::AckType,
    command_lookup_topic_response, command_partitioned_topic_metadata_response,
    command_subscribe::{InitialPosition, SubType},
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::auth;
use crate::broker::{Broker, schema_version};
use crate::codec::{Frame, FrameCodec, base};
use crate::error::{BrokerError, Result};
use crate::outbox::{self, Outbox};
use crate::subscription::{KeySharedPolicy, OutboundGauge};
use crate::topic::{ProducerGrant, ProducerInfo, SubscribeRequest, Topic};
use crate::topic_name::TopicName;

/// Highest protocol version this broker speaks.
const PROTOCOL_VERSION: i32 = 19;
/// Ledger id clients send for "earliest" (-1 as unsigned).
const EARLIEST_LEDGER: u64 = u64::MAX;
/// Ledger id clients send for "latest" (i64::MAX).
const LATEST_LEDGER: u64 = i64::MAX as u64;

struct ProducerRef {
    topic: Arc<Topic>,
    name: String,
}

struct ConsumerRef {
    topic: Arc<Topic>,
    sub: String,
}

struct Connection {
    id: u64,
    broker: Arc<Broker>,
    out: Outbox,
    peer: SocketAddr,
    connected: bool,
    producers: HashMap<u64, ProducerRef>,
    consumers: HashMap<u64, ConsumerRef>,
    pending: Arc<Semaphore>,
    gauge: Arc<OutboundGauge>,
}

/// Payload bytes of a dispatched message (what the outbound gauge counts).
fn message_bytes(f: &Frame) -> usize {
    match (&f.command.message, &f.payload) {
        (Some(_), Some(p)) => p.len(),
        _ => 0,
    }
}

/// Why the read loop stopped waiting for the client.
enum Stall {
    /// No frame at all for the idle timeout.
    Idle,
    /// A frame was started and not finished within the frame timeout.
    SlowFrame,
    /// Replies piled up unread for the idle timeout.
    RepliesUnread,
}

impl Stall {
    fn limit(&self) -> &'static str {
        match self {
            Stall::Idle => "idle_timeout",
            Stall::SlowFrame => "frame_timeout",
            Stall::RepliesUnread => "max_queued_reply_bytes",
        }
    }
}

/// Serves one client until it disconnects or breaks the protocol.
pub async fn serve<S>(broker: Arc<Broker>, stream: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let cfg = &broker.config;
    let (read, write) = tokio::io::split(stream);
    // Before Connect (and authentication) a frame may be only a small fraction of the data limit.
    let mut frames = FramedRead::new(read, FrameCodec::new(cfg.max_frame_size_before_connect));
    let mut sink = FramedWrite::new(write, FrameCodec::new(cfg.max_frame_size()));
    let (tx, mut rx) = outbox::channel();
    let gauge = Arc::new(OutboundGauge::new(broker.outbound_global.clone()));
    let (wb, wg) = (broker.clone(), gauge.clone());
    let writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            let mut written = message_bytes(&f);
            rx.written(&f);
            if sink.feed(f).await.is_err() {
                return;
            }
            while let Some(f) = rx.try_recv() {
                written += message_bytes(&f);
                rx.written(&f);
                if sink.feed(f).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
            if wg.written(written) {
                // This connection had stopped taking messages; let dispatch resume.
                for t in wb.all_topics() {
                    t.redispatch();
                }
            }
        }
    });
    broker.metrics.connections.inc();
    let mut conn = Connection {
        gauge,
        id: broker.next_id(),
        pending: Arc::new(Semaphore::new(cfg.max_pending_bytes_per_connection)),
        broker: broker.clone(),
        out: tx,
        peer,
        connected: false,
        producers: HashMap::new(),
        consumers: HashMap::new(),
    };
    tracing::debug!(conn = conn.id, %peer, "connection opened");
    let reason = loop {
        let frame = match conn.next_frame(&mut frames).await {
            Ok(f) => f,
            Err(stall) => {
                let limit = stall.limit();
                broker.metrics.limit_hit(limit);
                let msg = match stall {
                    Stall::Idle => format!("no frame for {:?} (idle_timeout)", cfg.idle_timeout),
                    Stall::SlowFrame => format!(
                        "a frame took longer than {:?} to arrive (frame_timeout)",
                        cfg.frame_timeout
                    ),
                    Stall::RepliesUnread => format!(
                        "more than {} bytes of replies unread for {:?} (max_queued_reply_bytes)",
                        cfg.max_queued_reply_bytes, cfg.idle_timeout
                    ),
                };
                conn.error(0, ServerError::ServiceNotReady, &msg);
                break msg;
            }
        };
        match frame {
            None => break "closed by client".to_string(),
            Some(Err(e)) => {
                broker.metrics.protocol_errors.inc();
                if matches!(e, BrokerError::FrameTooLarge { .. }) {
                    broker.metrics.limit_hit(if conn.connected {
                        "max_message_size"
                    } else {
                        "max_frame_size_before_connect"
                    });
                }
                conn.error(0, ServerError::UnknownError, &e.to_string());
                break format!("unreadable frame: {e}");
            }
            Some(Ok(frame)) => {
                let was_connected = conn.connected;
                if let Err(e) = conn.handle(frame).await {
                    broker.metrics.protocol_errors.inc();
                    conn.error(0, e.server_error(), &e.to_string());
                    break e.to_string();
                }
                if conn.connected && !was_connected {
                    frames
                        .decoder_mut()
                        .set_max_frame_size(cfg.max_frame_size());
                }
            }
        }
    };
    tracing::info!(conn = conn.id, %peer, reason, "connection closed");
    conn.cleanup();
    // Give queued answers (e.g. the error above) a moment to reach the client.
    let gauge = conn.gauge.clone();
    drop(conn);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    gauge.release();
    broker.metrics.connections.dec();
}

fn topic_name(raw: &str) -> Result<TopicName> {
    TopicName::parse(raw)
}

impl Connection {
    /// The next frame, unless the client stalls: replies it does not read
    /// stop the reading of its requests (back-pressure through TCP), and
    /// idle or half-sent frames end the connection after their timeouts.
    async fn next_frame<R>(
        &self,
        frames: &mut FramedRead<R, FrameCodec>,
    ) -> std::result::Result<Option<Result<Frame>>, Stall>
    where
        R: AsyncRead + Unpin,
    {
        let cfg = &self.broker.config;
        if self.out.queued_bytes() >= cfg.max_queued_reply_bytes {
            tokio::time::timeout(
                cfg.idle_timeout,
                self.out.wait_below(cfg.max_queued_reply_bytes / 2),
            )
            .await
            .map_err(|_| Stall::RepliesUnread)?;
        }
        let idle_deadline = tokio::time::Instant::now() + cfg.idle_timeout;
        let mut partial_since: Option<tokio::time::Instant> = None;
        // Wake up often enough to notice a half-sent frame; FramedRead keeps its buffer across polls.
        let tick = (cfg.frame_timeout / 4).max(Duration::from_millis(10));
        loop {
            if let Ok(f) = tokio::time::timeout(tick, frames.next()).await {
                return Ok(f);
            }
            let now = tokio::time::Instant::now();
            if frames.read_buffer().is_empty() {
                partial_since = None;
                if now >= idle_deadline {
                    return Err(Stall::Idle);
                }
            } else if now - *partial_since.get_or_insert(now) >= cfg.frame_timeout {
                return Err(Stall::SlowFrame);
            }
        }
    }

    fn send(&self, cmd: BaseCommand) {
        let _ = self.out.send(Frame::command(cmd));
    }

    fn error(&self, request_id: u64, code: ServerError, message: &str) {
        let mut cmd = base(Type::Error);
        cmd.error = Some(CommandError {
            request_id,
            error: code as i32,
            message: message.to_string(),
        });
        self.send(cmd);
    }

    fn success(&self, request_id: u64) {
        let mut cmd = base(Type::Success);
        cmd.success = Some(CommandSuccess {
            request_id,
            schema: None,
        });
        self.send(cmd);
    }

    fn cleanup(&mut self) {
        for (pid, p) in self.producers.drain() {
            p.topic.remove_producer((self.id, pid));
        }
        for (cid, c) in self.consumers.drain() {
            c.topic.close_consumer(&c.sub, (self.id, cid));
        }
    }

    /// Handles one frame; an error return closes the connection.
    async fn handle(&mut self, frame: Frame) -> Result<()> {
        let Ok(kind) = Type::try_from(frame.command.r#type) else {
            // Unknown commands are answered, not fatal: newer clients may probe.
            self.error(0, ServerError::UnknownError, "unknown command");
            return Ok(());
        };
        if !self.connected {
            return match (kind, frame.command.connect) {
                (Type::Connect, Some(c)) => self.connect(c),
                _ => Err(BrokerError::Protocol(format!("{kind:?} before Connect"))),
            };
        }
        let cmd = frame.command;
        let missing = || BrokerError::Protocol(format!("{kind:?} without its body"));
        match kind {
            Type::Connect => return Err(BrokerError::Protocol("second Connect".into())),
            Type::Ping => {
                let mut pong = base(Type::Pong);
                pong.pong = Some(CommandPong {});
                self.send(pong);
            }
            Type::Pong | Type::AuthResponse => {}
            Type::PartitionedMetadata => {
                self.partitioned_metadata(cmd.partition_metadata.ok_or_else(missing)?)
            }
            Type::Lookup => self.lookup(cmd.lookup_topic.ok_or_else(missing)?),
            Type::Producer => self.producer(cmd.producer.ok_or_else(missing)?),
            Type::Send => {
                let send = cmd.send.ok_or_else(missing)?;
                let payload = frame
                    .payload
                    .ok_or_else(|| BrokerError::Protocol("Send without payload".into()))?;
                self.publish(send, payload, frame.checksum_ok).await;
            }
            Type::CloseProducer => {
                let c = cmd.close_producer.ok_or_else(missing)?;
                if let Some(p) = self.producers.remove(&c.producer_id) {
                    p.topic.remove_producer((self.id, c.producer_id));
                }
                self.success(c.request_id);
            }
            Type::Subscribe => self.subscribe(cmd.subscribe.ok_or_else(missing)?),
            Type::Flow => {
                let f = cmd.flow.ok_or_else(missing)?;
                if let Some(c) = self.consumers.get(&f.consumer_id) {
                    let _ = c
                        .topic
                        .flow(&c.sub, (self.id, f.consumer_id), f.message_permits);
                }
            }
            Type::Ack => {
                let a = cmd.ack.ok_or_else(missing)?;
                let cumulative = a.ack_type == AckType::Cumulative as i32;
                let receipt = a.request_id.map(|r| (self.out.clone(), r));
                if let Some(c) = self.consumers.get(&a.consumer_id)
                    && let Err(e) = c.topic.ack(
                        &c.sub,
                        (self.id, a.consumer_id),
                        &a.message_id,
                        cumulative,
                        receipt,
                    )
                {
                    tracing::warn!(conn = self.id, error = %e, "ack failed");
                }
            }
            Type::RedeliverUnacknowledgedMessages => {
                let r = cmd.redeliver_unacknowledged_messages.ok_or_else(missing)?;
                if let Some(c) = self.consumers.get(&r.consumer_id) {
                    let _ = c
                        .topic
                        .redeliver(&c.sub, (self.id, r.consumer_id), &r.message_ids);
                }
            }
            Type::CloseConsumer => {
                let c = cmd.close_consumer.ok_or_else(missing)?;
                if let Some(cr) = self.consumers.remove(&c.consumer_id) {
                    cr.topic.close_consumer(&cr.sub, (self.id, c.consumer_id));
                }
                self.success(c.request_id);
            }
            Type::Unsubscribe => {
                let u = cmd.unsubscribe.ok_or_else(missing)?;
                self.unsubscribe(u.consumer_id, u.request_id).await;
            }
            Type::Seek => self.seek(cmd.seek.ok_or_else(missing)?).await,
            Type::GetLastMessageId => {
                let g = cmd.get_last_message_id.ok_or_else(missing)?;
                match self.consumers.get(&g.consumer_id) {
                    Some(c) => {
                        let (last, md) = c.topic.last_message_id(&c.sub);
                        let mut r = base(Type::GetLastMessageIdResponse);
                        r.get_last_message_id_response = Some(CommandGetLastMessageIdResponse {
                            last_message_id: last,
                            request_id: g.request_id,
                            consumer_mark_delete_position: md,
                        });
                        self.send(r);
                    }
                    None => self.error(
                        g.request_id,
                        ServerError::ConsumerNotFound,
                        "unknown consumer",
                    ),
                }
            }
            Type::GetTopicsOfNamespace => {
                let g = cmd.get_topics_of_namespace.ok_or_else(missing)?;
                let (tenant, ns) = g.namespace.split_once('/').unwrap_or(("public", "default"));
                let domain = match g.mode.unwrap_or(0) {
                    0 => Some("persistent"),
                    1 => Some("non-persistent"),
                    _ => None,
                };
                let mut r = base(Type::GetTopicsOfNamespaceResponse);
                r.get_topics_of_namespace_response = Some(CommandGetTopicsOfNamespaceResponse {
                    request_id: g.request_id,
                    topics: self.broker.topics_of_namespace(tenant, ns, domain),
                    filtered: Some(false),
                    topics_hash: None,
                    changed: Some(true),
                });
                self.send(r);
            }
            Type::GetSchema => self.get_schema(cmd.get_schema.ok_or_else(missing)?),
            Type::GetOrCreateSchema => {
                let g = cmd.get_or_create_schema.ok_or_else(missing)?;
                let res =
                    topic_name(&g.topic).and_then(|t| self.broker.register_schema(&t, &g.schema));
                let mut r = base(Type::GetOrCreateSchemaResponse);
                r.get_or_create_schema_response = Some(match res {
                    Ok(v) => CommandGetOrCreateSchemaResponse {
                        request_id: g.request_id,
                        schema_version: Some(schema_version(v)),
                        ..Default::default()
                    },
                    Err(e) => CommandGetOrCreateSchemaResponse {
                        request_id: g.request_id,
                        error_code: Some(e.server_error() as i32),
                        error_message: Some(e.to_string()),
                        schema_version: None,
                    },
                });
                self.send(r);
            }
            other => {
                tracing::debug!(conn = self.id, command = ?other, "unsupported command");
                self.error(
                    request_id_of(&cmd),
                    ServerError::NotAllowedError,
                    &format!("{other:?} is not supported"),
                );
            }
        }
        Ok(())
    }

    fn connect(&mut self, c: proto::CommandConnect) -> Result<()> {
        let method = c.auth_method_name.clone().unwrap_or_default();
        if let Err(e) =
            auth::authenticate(&self.broker.config.auth, &method, c.auth_data.as_deref())
        {
            tracing::warn!(conn = self.id, peer = %self.peer, error = %e, "authentication refused");
            self.error(0, ServerError::AuthenticationError, &e.to_string());
            return Err(e);
        }
        self.connected = true;
        let mut r = base(Type::Connected);
        r.connected = Some(CommandConnected {
            server_version: format!("fmesh-broker-{}", env!("CARGO_PKG_VERSION")),
            protocol_version: Some(c.protocol_version.unwrap_or(0).min(PROTOCOL_VERSION)),
            max_message_size: Some(self.broker.config.max_message_size as i32),
        });
        self.send(r);
        tracing::debug!(
            conn = self.id,
            client = c.client_version,
            "client connected"
        );
        Ok(())
    }

    fn partitioned_metadata(&self, m: proto::CommandPartitionedTopicMetadata) {
        use command_partitioned_topic_metadata_response::LookupType;
        let result = topic_name(&m.topic).and_then(|t| match self.broker.partitions(&t) {
            Some(n) => Ok(n),
            None if t.partition_of().is_some() || self.broker.topic_exists(&t) => Ok(0),
            None if self.broker.config.auto_create_topics => Ok(0),
            None => Err(BrokerError::TopicNotFound(t.to_string())),
        });
        let mut r = base(Type::PartitionedMetadataResponse);
        r.partition_metadata_response = Some(match result {
            Ok(n) => CommandPartitionedTopicMetadataResponse {
                partitions: Some(n),
                request_id: m.request_id,
                response: Some(LookupType::Success as i32),
                ..Default::default()
            },
            Err(e) => CommandPartitionedTopicMetadataResponse {
                request_id: m.request_id,
                response: Some(LookupType::Failed as i32),
                error: Some(e.server_error() as i32),
                message: Some(e.to_string()),
                ..Default::default()
            },
        });
        self.send(r);
    }

    /// URLs lookups hand out: those of the named listener if the client asked for one, else
    /// the advertised URL; with TLS both point at the TLS listener (it is the only one).
    /// `Err` names the listeners there are when the client asked for another.
    fn advertised(&self, listener: Option<&str>) -> Result<(String, Option<String>), String> {
        let cfg = &self.broker.config;
        let url = match listener.filter(|l| !l.is_empty()) {
            Some(name) => match cfg.advertised_listeners.iter().find(|(n, _)| n == name) {
                Some((_, url)) => url.clone(),
                None => {
                    let known: Vec<&str> = cfg
                        .advertised_listeners
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect();
                    return Err(format!(
                        "the broker has no listener named `{name}` (listeners: {known:?}; \
                         set FMESH_BROKER_ADVERTISED_LISTENERS)"
                    ));
                }
            },
            None => cfg
                .advertised_url
                .clone()
                .unwrap_or_else(|| format!("pulsar://{}", cfg.listen)),
        };
        Ok(match &cfg.tls {
            Some(_) => {
                let tls = url.replacen("pulsar://", "pulsar+ssl://", 1);
                (tls.clone(), Some(tls))
            }
            None => (url, None),
        })
    }

    fn lookup(&self, l: proto::CommandLookupTopic) {
        use command_lookup_topic_response::LookupType;
        let mut r = base(Type::LookupResponse);
        let listener = l.advertised_listener_name.as_deref();
        r.lookup_topic_response = Some(match (topic_name(&l.topic), self.advertised(listener)) {
            (Ok(_), Err(message)) => CommandLookupTopicResponse {
                response: Some(LookupType::Failed as i32),
                request_id: l.request_id,
                error: Some(proto::ServerError::ServiceNotReady as i32),
                message: Some(message),
                ..Default::default()
            },
            (Ok(_), Ok((url, tls))) => CommandLookupTopicResponse {
                broker_service_url: Some(url),
                broker_service_url_tls: tls,
                response: Some(LookupType::Connect as i32),
                request_id: l.request_id,
                authoritative: Some(true),
                proxy_through_service_url: Some(false),
                ..Default::default()
            },
            (Err(e), _) => CommandLookupTopicResponse {
                response: Some(LookupType::Failed as i32),
                request_id: l.request_id,
                error: Some(e.server_error() as i32),
                message: Some(e.to_string()),
                ..Default::default()
            },
        });
        self.send(r);
    }

    fn producer(&mut self, p: proto::CommandProducer) {
        if let Some(existing) = self.producers.get(&p.producer_id) {
            // A retried create of a producer that already exists on this connection.
            let mut r = base(Type::ProducerSuccess);
            r.producer_success = Some(CommandProducerSuccess {
                request_id: p.request_id,
                producer_name: existing.name.clone(),
                producer_ready: Some(true),
                ..Default::default()
            });
            self.send(r);
            return;
        }
        match self.create_producer(&p) {
            Ok((name, grant, version, topic)) => {
                tracing::debug!(conn = self.id, topic = %topic.name, producer = %name, ?grant, "producer created");
                let (last, ready) = match grant {
                    ProducerGrant::Ready(last) => (last, true),
                    // Answered again with producer_ready=true once the topic is free.
                    ProducerGrant::Waiting => (-1, false),
                };
                self.producers.insert(
                    p.producer_id,
                    ProducerRef {
                        topic,
                        name: name.clone(),
                    },
                );
                let mut r = base(Type::ProducerSuccess);
                r.producer_success = Some(CommandProducerSuccess {
                    request_id: p.request_id,
                    producer_name: name,
                    last_sequence_id: Some(last),
                    schema_version: version.map(schema_version),
                    topic_epoch: Some(0),
                    producer_ready: Some(ready),
                });
                self.send(r);
            }
            Err(e) => self.error(p.request_id, e.server_error(), &e.to_string()),
        }
    }

    fn create_producer(
        &self,
        p: &proto::CommandProducer,
    ) -> Result<(String, ProducerGrant, Option<usize>, Arc<Topic>)> {
        let name = topic_name(&p.topic)?;
        let topic = self.broker.topic(&name, true)?;
        let version = match &p.schema {
            Some(s) => Some(self.broker.register_schema(&name, s)?),
            None => None,
        };
        let producer_name = match p.producer_name.as_deref() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => self.broker.generate_producer_name(),
        };
        let mode = ProducerAccessMode::try_from(p.producer_access_mode.unwrap_or(0))
            .unwrap_or(ProducerAccessMode::Shared);
        let last = topic.add_producer(
            (self.id, p.producer_id),
            ProducerInfo {
                name: producer_name.clone(),
                access_mode: mode,
                out: self.out.clone(),
            },
            p.request_id,
        )?;
        Ok((producer_name, last, version, topic))
    }

    fn send_error(&self, s: &proto::CommandSend, code: ServerError, message: &str) {
        let mut r = base(Type::SendError);
        r.send_error = Some(CommandSendError {
            producer_id: s.producer_id,
            sequence_id: s.sequence_id,
            error: code as i32,
            message: message.to_string(),
        });
        self.send(r);
    }

    async fn publish(&self, s: proto::CommandSend, payload: bytes::Bytes, checksum_ok: bool) {
        let Some(p) = self.producers.get(&s.producer_id) else {
            return self.send_error(&s, ServerError::UnknownError, "unknown producer");
        };
        if !checksum_ok {
            return self.send_error(&s, ServerError::ChecksumError, "payload checksum mismatch");
        }
        if payload.len() > self.broker.config.max_message_size {
            return self.send_error(&s, ServerError::NotAllowedError, "message too large");
        }
        // Back-pressure: stop reading this socket while too much awaits fsync.
        let n = payload.len().max(1) as u32;
        let permits = match (
            self.pending.clone().acquire_many_owned(n).await,
            self.broker
                .pending_global
                .clone()
                .acquire_many_owned(n)
                .await,
        ) {
            (Ok(a), Ok(b)) => vec![a, b],
            _ => return self.send_error(&s, ServerError::ServiceNotReady, "shutting down"),
        };
        if let Err(e) = p.topic.publish(
            &p.name,
            s.producer_id,
            s.sequence_id,
            s.highest_sequence_id.unwrap_or(0),
            payload,
            self.out.clone(),
            permits,
        ) {
            self.send_error(&s, e.server_error(), &e.to_string());
        }
    }

    fn subscribe(&mut self, s: proto::CommandSubscribe) {
        match self.create_consumer(&s) {
            Ok(topic) => {
                tracing::debug!(conn = self.id, topic = %topic.name, subscription = %s.subscription, "consumer created");
                self.consumers.insert(
                    s.consumer_id,
                    ConsumerRef {
                        topic,
                        sub: s.subscription.clone(),
                    },
                );
                self.success(s.request_id);
            }
            // ConsumerBusy and friends are answered; the socket stays open.
            Err(e) => self.error(s.request_id, e.server_error(), &e.to_string()),
        }
    }

    fn create_consumer(&self, s: &proto::CommandSubscribe) -> Result<Arc<Topic>> {
        let name = topic_name(&s.topic)?;
        let topic = self
            .broker
            .topic(&name, s.force_topic_creation.unwrap_or(true))?;
        let key = (self.id, s.consumer_id);
        if self.consumers.contains_key(&s.consumer_id) && topic.has_consumer(&s.subscription, key) {
            return Ok(topic);
        }
        if let Some(schema) = &s.schema
            && schema.r#type != proto::schema::Type::None as i32
        {
            self.broker.register_schema(&name, schema)?;
        }
        let start_entry = s
            .start_message_id
            .as_ref()
            .and_then(|id| match id.ledger_id {
                EARLIEST_LEDGER => None,
                LATEST_LEDGER => Some(u64::MAX),
                // As Pulsar: a reader starts at its start id's own entry (Pulsar steps one entry
                // back, in case the id is in a partly read batch); clients drop what they saw.
                _ => Some(id.entry_id),
            });
        let durable = s.durable.unwrap_or(true);
        let earliest = s.initial_position == Some(InitialPosition::Earliest as i32)
            || (!durable
                && s.start_message_id
                    .as_ref()
                    .is_some_and(|id| id.ledger_id == EARLIEST_LEDGER));
        let req = SubscribeRequest {
            subscription: s.subscription.clone(),
            kind: SubType::try_from(s.sub_type).unwrap_or(SubType::Exclusive),
            consumer_name: s.consumer_name.clone().unwrap_or_default(),
            priority: s.priority_level.unwrap_or(0),
            durable,
            earliest,
            start_entry: if durable { None } else { start_entry },
            key_shared: key_shared_policy(s.key_shared_meta.as_ref()),
        };
        topic.subscribe(key, &req, self.out.clone(), self.gauge.clone())?;
        Ok(topic)
    }

    async fn unsubscribe(&mut self, consumer_id: u64, request_id: u64) {
        let Some(c) = self.consumers.get(&consumer_id) else {
            return self.error(
                request_id,
                ServerError::ConsumerNotFound,
                "unknown consumer",
            );
        };
        match c
            .topic
            .unsubscribe(&c.sub, Some((self.id, consumer_id)))
            .await
        {
            Ok(()) => {
                self.consumers.remove(&consumer_id);
                self.success(request_id);
            }
            Err(e) => self.error(request_id, e.server_error(), &e.to_string()),
        }
    }

    async fn seek(&mut self, s: proto::CommandSeek) {
        let Some(c) = self.consumers.get(&s.consumer_id) else {
            return self.error(
                s.request_id,
                ServerError::ConsumerNotFound,
                "unknown consumer",
            );
        };
        let entry = s
            .message_id
            .as_ref()
            .map(|id: &MessageIdData| match id.ledger_id {
                EARLIEST_LEDGER => 0,
                LATEST_LEDGER => u64::MAX,
                _ => id.entry_id,
            });
        match c.topic.seek(&c.sub, entry, s.message_publish_time).await {
            Ok(()) => {
                // The subscription closed its consumers; the client subscribes again.
                self.consumers.remove(&s.consumer_id);
                self.success(s.request_id);
            }
            Err(e) => self.error(s.request_id, e.server_error(), &e.to_string()),
        }
    }

    fn get_schema(&self, g: proto::CommandGetSchema) {
        let version = g.schema_version.as_deref().and_then(|v| {
            let b: [u8; 8] = v.try_into().ok()?;
            usize::try_from(u64::from_be_bytes(b)).ok()
        });
        let found = topic_name(&g.topic)
            .ok()
            .and_then(|t| self.broker.schema(&t, version));
        let mut r = base(Type::GetSchemaResponse);
        r.get_schema_response = Some(match found {
            Some((schema, v)) => CommandGetSchemaResponse {
                request_id: g.request_id,
                schema: Some(schema),
                schema_version: Some(schema_version(v)),
                ..Default::default()
            },
            None => CommandGetSchemaResponse {
                request_id: g.request_id,
                error_code: Some(ServerError::TopicNotFound as i32),
                error_message: Some("schema not found".into()),
                ..Default::default()
            },
        });
        self.send(r);
    }
}

/// Best-effort request id of a command we do not implement.
/// A Key_Shared consumer's policy; absent meta (pulsar-rs) is AUTO_SPLIT in order, as in Pulsar.
fn key_shared_policy(meta: Option<&proto::KeySharedMeta>) -> KeySharedPolicy {
    let Some(m) = meta else {
        return KeySharedPolicy::default();
    };
    KeySharedPolicy {
        sticky: (m.key_shared_mode == proto::KeySharedMode::Sticky as i32)
            .then(|| m.hash_ranges.iter().map(|r| (r.start, r.end)).collect()),
        allow_out_of_order: m.allow_out_of_order_delivery.unwrap_or(false),
    }
}

fn request_id_of(cmd: &BaseCommand) -> u64 {
    cmd.new_txn
        .as_ref()
        .map(|c| c.request_id)
        .or(cmd.consumer_stats.as_ref().map(|c| c.request_id))
        .or(cmd.tc_client_connect_request.as_ref().map(|c| c.request_id))
        .unwrap_or(0)
}
