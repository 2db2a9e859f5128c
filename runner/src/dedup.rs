//! effectively_once output: a producer whose sequence ids are chosen by the runner (derived
//! from the input position), so the broker's deduplication drops what a crashed instance
//! already wrote before it is replayed. pulsar-rs numbers sends itself, so this speaks the
//! producer side of the protocol directly (plain TCP to the service URL; no lookup).

use std::collections::HashMap;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use pulsar::message::proto::{self, base_command::Type};
use pulsar::message::{Codec, Message as Frame, Payload};
use pulsar::producer;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::codec::Framed;

use crate::Connection;
use crate::error::RunnerError;
use crate::receipt::Receipt;

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<(), String>>>>>;

/// One deduplicating producer per input topic (sequence ids are monotonic per input).
pub(crate) struct DedupProducer {
    conn: Connection,
    output: String,
    base_name: String,
    per_input: HashMap<String, RawProducer>,
}

struct RawProducer {
    tx: mpsc::UnboundedSender<(u64, producer::Message)>,
    last_stored: Option<u64>,
    waiters: Waiters,
}

impl DedupProducer {
    /// Checks the URL; producers are created on the first message from each input.
    pub(crate) async fn connect(
        conn: &Connection,
        output: &str,
        base_name: &str,
    ) -> Result<Self, RunnerError> {
        if !conn.url.starts_with("pulsar://") {
            return Err(RunnerError::spec(
                "processingGuarantee",
                "effectively_once needs a plain pulsar:// service URL in fmesh-runner so far",
            ));
        }
        Ok(DedupProducer {
            conn: conn.clone(),
            output: output.to_string(),
            base_name: base_name.to_string(),
            per_input: HashMap::new(),
        })
    }

    /// Sends `msg` as `sequence_id` for a message from `input`. A sequence id the broker
    /// already stored resolves at once.
    pub(crate) async fn send(
        &mut self,
        input: &str,
        sequence_id: u64,
        msg: producer::Message,
    ) -> Receipt {
        if !self.per_input.contains_key(input) {
            let name = format!("{}-{:016x}", self.base_name, fnv1a(input.as_bytes()));
            match RawProducer::open(&self.conn, &self.output, &name).await {
                Ok(p) => {
                    self.per_input.insert(input.to_string(), p);
                }
                Err(e) => return Receipt::failed(e),
            }
        }
        let Some(p) = self.per_input.get_mut(input) else {
            return Receipt::failed("producer vanished");
        };
        if p.last_stored.is_some_and(|last| sequence_id <= last) {
            tracing::debug!(sequence_id, "already stored before a restart; not resent");
            return Receipt::Ready(Some(Ok(())));
        }
        let (tx, rx) = oneshot::channel();
        p.waiters.lock().await.insert(sequence_id, tx);
        if p.tx.send((sequence_id, msg)).is_err() {
            self.per_input.remove(input);
            return Receipt::failed("dedup producer connection closed");
        }
        Receipt::Dedup(rx)
    }
}

impl RawProducer {
    async fn open(conn: &Connection, topic: &str, name: &str) -> Result<Self, String> {
        let addr = conn
            .url
            .trim_start_matches("pulsar://")
            .trim_end_matches('/');
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let mut framed = Framed::new(tcp, Codec);
        let (auth_method_name, auth_data) = match &conn.token {
            Some(t) => (Some("token".to_string()), Some(t.clone().into_bytes())),
            None => (None, None),
        };
        let connect = proto::BaseCommand {
            r#type: Type::Connect as i32,
            connect: Some(proto::CommandConnect {
                client_version: "fmesh-runner".into(),
                protocol_version: Some(12),
                auth_method_name,
                auth_data,
                ..Default::default()
            }),
            ..Default::default()
        };
        framed
            .send(command(connect))
            .await
            .map_err(|e| e.to_string())?;
        await_reply(&mut framed, |c| c.connected.is_some()).await?;
        let create = proto::BaseCommand {
            r#type: Type::Producer as i32,
            producer: Some(proto::CommandProducer {
                topic: topic.to_string(),
                producer_id: 1,
                request_id: 1,
                producer_name: Some(name.to_string()),
                user_provided_producer_name: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        framed
            .send(command(create))
            .await
            .map_err(|e| e.to_string())?;
        let ok = await_reply(&mut framed, |c| c.producer_success.is_some()).await?;
        let last = ok
            .producer_success
            .and_then(|s| s.last_sequence_id)
            .filter(|l| *l >= 0)
            .map(|l| l as u64);
        tracing::info!(producer = name, last_sequence_id = ?last, "effectively_once producer ready");
        let waiters: Waiters = Arc::default();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(pump(framed, rx, waiters.clone(), name.to_string()));
        Ok(RawProducer {
            tx,
            last_stored: last,
            waiters,
        })
    }
}

async fn pump(
    framed: Framed<TcpStream, Codec>,
    mut rx: mpsc::UnboundedReceiver<(u64, producer::Message)>,
    waiters: Waiters,
    name: String,
) {
    let (mut sink, mut stream) = framed.split();
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some((seq, msg)) = out else { break };
                if sink.send(send_frame(&name, seq, msg)).await.is_err() {
                    break;
                }
            }
            incoming = stream.next() => {
                let Some(Ok(frame)) = incoming else { break };
                let c = frame.command;
                if let Some(r) = c.send_receipt {
                    if let Some(w) = waiters.lock().await.remove(&r.sequence_id) {
                        let _ = w.send(Ok(()));
                    }
                } else if let Some(e) = c.send_error {
                    if let Some(w) = waiters.lock().await.remove(&e.sequence_id) {
                        let _ = w.send(Err(e.message));
                    }
                } else if c.ping.is_some() {
                    let pong = proto::BaseCommand {
                        r#type: Type::Pong as i32,
                        pong: Some(proto::CommandPong {}),
                        ..Default::default()
                    };
                    if sink.send(command(pong)).await.is_err() {
                        break;
                    }
                } else if c.close_producer.is_some() {
                    break;
                }
            }
        }
    }
    // Everyone still waiting learns that the connection is gone; their messages are nacked.
    for (_, w) in waiters.lock().await.drain() {
        let _ = w.send(Err("dedup producer connection lost".into()));
    }
}

fn send_frame(name: &str, seq: u64, msg: producer::Message) -> Frame {
    let metadata = proto::MessageMetadata {
        producer_name: name.to_string(),
        sequence_id: seq,
        publish_time: crate::pipeline::now_ms(),
        properties: msg
            .properties
            .into_iter()
            .map(|(key, value)| proto::KeyValue { key, value })
            .collect(),
        partition_key: msg.partition_key,
        event_time: msg.event_time,
        uncompressed_size: Some(msg.payload.len() as u32),
        ..Default::default()
    };
    Frame {
        command: proto::BaseCommand {
            r#type: Type::Send as i32,
            send: Some(proto::CommandSend {
                producer_id: 1,
                sequence_id: seq,
                num_messages: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        },
        payload: Some(Payload {
            metadata,
            data: msg.payload,
        }),
    }
}

fn command(c: proto::BaseCommand) -> Frame {
    Frame {
        command: c,
        payload: None,
    }
}

async fn await_reply(
    framed: &mut Framed<TcpStream, Codec>,
    wanted: impl Fn(&proto::BaseCommand) -> bool,
) -> Result<proto::BaseCommand, String> {
    let wait = async {
        while let Some(frame) = framed.next().await {
            let c = frame.map_err(|e| e.to_string())?.command;
            if wanted(&c) {
                return Ok(c);
            }
            if let Some(e) = c.error {
                return Err(format!("broker refused: {}", e.message));
            }
        }
        Err("connection closed".to_string())
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .map_err(|_| "broker did not answer".to_string())?
}

/// FNV-1a: a stable hash for producer names (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
