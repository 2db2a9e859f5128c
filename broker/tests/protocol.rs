//! Bad input on the binary protocol: answered with errors or a logged close,
//! never a panic, and the broker keeps serving.

mod common;

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use common::{broker, within};
use fmesh_broker::codec::{Frame, FrameCodec, base};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use pulsar::proto::{
    CommandConnect, CommandFlow, CommandPing, CommandProducer, CommandSend, CommandSubscribe,
    IntRange, KeySharedMeta, KeySharedMode, MessageMetadata, ServerError, base_command::Type,
    command_subscribe::SubType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

type Conn = Framed<TcpStream, FrameCodec>;

async fn connect(b: &fmesh_broker::RunningBroker) -> Conn {
    let addr = b.addr;
    let s = TcpStream::connect(addr).await.unwrap();
    let mut f = Framed::new(s, FrameCodec::new(16 << 20));
    let mut c = base(Type::Connect);
    c.connect = Some(CommandConnect {
        client_version: "raw-test".into(),
        protocol_version: Some(21),
        ..Default::default()
    });
    f.send(Frame::command(c)).await.unwrap();
    let r = recv(&mut f).await;
    let connected = r.command.connected.expect("Connected");
    assert_eq!(connected.protocol_version, Some(19));
    assert_eq!(
        connected.max_message_size,
        Some(b.broker.config.max_message_size as i32),
        "limits are reported"
    );
    f
}

async fn recv(f: &mut Conn) -> Frame {
    within("frame", f.next())
        .await
        .expect("open")
        .expect("decodes")
}

async fn ping_pong(f: &mut Conn) {
    let mut p = base(Type::Ping);
    p.ping = Some(CommandPing {});
    f.send(Frame::command(p)).await.unwrap();
    assert!(recv(f).await.command.pong.is_some());
}

fn payload() -> bytes::Bytes {
    let md = MessageMetadata {
        producer_name: "p".into(),
        sequence_id: 0,
        publish_time: 1,
        ..Default::default()
    };
    let mut b = BytesMut::new();
    b.put_u32(md.encoded_len() as u32);
    md.encode(&mut b).unwrap();
    b.put_slice(b"hello");
    b.freeze()
}

#[tokio::test]
async fn unknown_command_is_answered_and_the_connection_stays() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |_| {}).await;
    let mut f = connect(&b).await;
    let mut weird = base(Type::Ping);
    weird.r#type = 999;
    f.send(Frame::command(weird)).await.unwrap();
    let e = recv(&mut f).await.command.error.expect("Error");
    assert_eq!(e.error, ServerError::UnknownError as i32);
    ping_pong(&mut f).await;
}

#[tokio::test]
async fn bad_checksum_gets_a_send_error_and_the_connection_stays() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |_| {}).await;
    let mut f = connect(&b).await;
    let mut p = base(Type::Producer);
    p.producer = Some(CommandProducer {
        topic: "crc".into(),
        producer_id: 1,
        request_id: 1,
        ..Default::default()
    });
    f.send(Frame::command(p)).await.unwrap();
    assert!(recv(&mut f).await.command.producer_success.is_some());
    // Encode a valid Send, then flip a payload byte on the wire.
    let mut s = base(Type::Send);
    s.send = Some(CommandSend {
        producer_id: 1,
        sequence_id: 0,
        ..Default::default()
    });
    let mut buf = BytesMut::new();
    tokio_util::codec::Encoder::encode(
        &mut FrameCodec::new(1 << 20),
        Frame::with_payload(s, payload()),
        &mut buf,
    )
    .unwrap();
    let last = buf.len() - 1;
    buf[last] ^= 0xff;
    f.get_mut().write_all(&buf).await.unwrap();
    let e = recv(&mut f).await.command.send_error.expect("SendError");
    assert_eq!(e.error, ServerError::ChecksumError as i32);
    ping_pong(&mut f).await;
    let t = b
        .broker
        .existing_topic(&fmesh_broker::topic_name::TopicName::parse("crc").unwrap())
        .unwrap();
    assert_eq!(t.lock().log.end_entry(), 0, "nothing corrupt was stored");
}

#[tokio::test]
async fn oversized_frame_closes_the_connection_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |c| c.max_message_size = 1024).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&(64u32 << 20).to_be_bytes()).await.unwrap();
    let mut out = Vec::new();
    within("close", s.read_to_end(&mut out)).await.unwrap();
    let mut codec = FrameCodec::new(1 << 20);
    let mut buf = BytesMut::from(&out[..]);
    let f = tokio_util::codec::Decoder::decode(&mut codec, &mut buf)
        .unwrap()
        .expect("an Error frame");
    assert!(f.command.error.unwrap().message.contains("exceeds"));
    // The broker still serves others.
    let mut f = connect(&b).await;
    ping_pong(&mut f).await;
}

#[tokio::test]
async fn commands_before_connect_are_a_protocol_violation() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |_| {}).await;
    let s = TcpStream::connect(b.addr).await.unwrap();
    let mut f = Framed::new(s, FrameCodec::new(1 << 20));
    let mut p = base(Type::Ping);
    p.ping = Some(CommandPing {});
    f.send(Frame::command(p)).await.unwrap();
    assert!(recv(&mut f).await.command.error.is_some());
    assert!(
        within("closed", f.next()).await.is_none(),
        "connection closed"
    );
}

#[tokio::test]
async fn random_garbage_never_takes_the_broker_down() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |_| {}).await;
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for round in 0..50 {
        let mut s = TcpStream::connect(b.addr).await.unwrap();
        let mut junk = Vec::new();
        if round % 2 == 0 {
            // Plausible small frame sizes, random bodies.
            junk.extend_from_slice(&((round * 7 + 5) as u32).to_be_bytes());
        }
        for _ in 0..(64 + round * 13) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.push(seed as u8);
        }
        let _ = s.write_all(&junk).await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_millis(200), s.read_to_end(&mut sink)).await;
    }
    let mut f = connect(&b).await;
    ping_pong(&mut f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_reading_does_not_make_the_broker_buffer_everything() {
    use pulsar::proto::{CommandFlow, CommandSubscribe};
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |_| {}).await;
    let mut f = connect(&b).await;
    let mut s = base(Type::Subscribe);
    s.subscribe = Some(CommandSubscribe {
        topic: "slow".into(),
        subscription: "s".into(),
        consumer_id: 1,
        request_id: 1,
        initial_position: Some(1),
        ..Default::default()
    });
    f.send(Frame::command(s)).await.unwrap();
    assert!(recv(&mut f).await.command.success.is_some());
    let mut flow = base(Type::Flow);
    flow.flow = Some(CommandFlow {
        consumer_id: 1,
        message_permits: 100_000,
    });
    f.send(Frame::command(flow)).await.unwrap();
    // 400 x 100 KiB = 40 MiB published while the consumer reads nothing.
    let c = common::client(&b.service_url()).await;
    let mut p = within("producer", c.producer().with_topic("slow").build())
        .await
        .unwrap();
    let body = vec![7u8; 100 * 1024];
    for _ in 0..400 {
        within("send", p.send_non_blocking(body.clone()))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = b
        .broker
        .existing_topic(&fmesh_broker::topic_name::TopicName::parse("slow").unwrap())
        .unwrap();
    let in_flight = t.lock().subscriptions["s"].unacked();
    // Queued bytes are capped (16 MiB) plus what the kernel socket buffers hold.
    assert!(
        in_flight < 300,
        "{in_flight} messages pushed at a consumer that reads nothing"
    );
    // Reading again resumes delivery of everything.
    let mut got = 0;
    while got < 400 {
        if recv(&mut f).await.command.message.is_some() {
            got += 1;
        }
    }
}

/// A Key_Shared STICKY subscribe with the given inclusive hash ranges.
fn sticky_subscribe(topic: &str, id: u64, name: &str, ranges: &[(i32, i32)]) -> Frame {
    let mut s = base(Type::Subscribe);
    s.subscribe = Some(CommandSubscribe {
        topic: topic.into(),
        subscription: "s".into(),
        sub_type: SubType::KeyShared as i32,
        consumer_id: id,
        request_id: id,
        consumer_name: Some(name.into()),
        key_shared_meta: Some(KeySharedMeta {
            key_shared_mode: KeySharedMode::Sticky as i32,
            hash_ranges: ranges
                .iter()
                .map(|&(start, end)| IntRange { start, end })
                .collect(),
            allow_out_of_order_delivery: Some(false),
        }),
        ..Default::default()
    });
    Frame::command(s)
}

/// pulsar-rs cannot send a KeySharedMeta (it subscribes as AUTO_SPLIT), so the
/// STICKY side is raw frames here; pulsar-rs produces and is refused as a consumer.
#[tokio::test]
async fn key_shared_sticky_routes_by_range_and_refuses_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |_| {}).await;
    let t = "persistent://public/default/sticky-raw";
    let mut f = connect(&b).await;
    f.send(sticky_subscribe(t, 1, "low", &[(0, 32767)]))
        .await
        .unwrap();
    assert!(recv(&mut f).await.command.success.is_some());
    for (id, ranges, field, why) in [
        (2, vec![(500, 100)], "hashRanges[0]", "start > end"),
        (
            3,
            vec![(40000, 65535), (32000, 33000)],
            "hashRanges[1]",
            "Range conflict with consumer \"low\"",
        ),
        (
            4,
            vec![(60000, 70000)],
            "hashRanges[0]",
            "outside 0..=65535",
        ),
        (5, vec![], "hashRanges", "must not be empty"),
    ] {
        f.send(sticky_subscribe(t, id, "x", &ranges)).await.unwrap();
        let e = recv(&mut f).await.command.error.expect("Error");
        assert_eq!(
            e.error,
            ServerError::ConsumerAssignError as i32,
            "{}",
            e.message
        );
        assert!(
            e.message.contains(field) && e.message.contains(why),
            "{:?}: {}",
            ranges,
            e.message
        );
    }
    let c = common::client_without_retries(&b.service_url()).await;
    let refused = within(
        "pulsar-rs subscribe",
        c.consumer()
            .with_topic(t)
            .with_subscription("s")
            .with_subscription_type(pulsar::SubType::KeyShared)
            .build::<String>(),
    )
    .await;
    let err = refused
        .err()
        .expect("AUTO_SPLIT refused on a STICKY subscription");
    assert!(err.to_string().contains("ConsumerBusy"), "{err}");
    let mut p = within("producer", c.producer().with_topic(t).build())
        .await
        .unwrap();
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let hash = |k: &str| fmesh_broker::murmur3::murmur3_32(k.as_bytes(), 0) % 65536;
    for k in &keys {
        let m = pulsar::producer::Message {
            payload: k.clone().into_bytes(),
            partition_key: Some(k.clone()),
            ..Default::default()
        };
        within("send", p.send_non_blocking(m))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut flow = base(Type::Flow);
    flow.flow = Some(CommandFlow {
        consumer_id: 1,
        message_permits: 100,
    });
    f.send(Frame::command(flow)).await.unwrap();
    let want: Vec<&String> = keys.iter().filter(|k| hash(k) < 32768).collect();
    let mut got = Vec::new();
    while got.len() < want.len() {
        let m = recv(&mut f).await;
        if m.command.message.is_some() {
            let md = fmesh_broker::codec::parse_metadata(&m.payload.unwrap()).unwrap();
            got.push(md.partition_key.unwrap());
        }
    }
    assert_eq!(
        got.iter().collect::<Vec<_>>(),
        want,
        "exactly the low half, in order"
    );
    let idle = tokio::time::timeout(Duration::from_millis(300), f.next()).await;
    assert!(idle.is_err(), "keys above 32767 wait: nobody covers them");
    // A consumer covering the upper half joins: the waiting messages were kept for it.
    f.send(sticky_subscribe(t, 9, "high", &[(32768, 65535)]))
        .await
        .unwrap();
    assert!(recv(&mut f).await.command.success.is_some());
    let mut flow = base(Type::Flow);
    flow.flow = Some(CommandFlow {
        consumer_id: 9,
        message_permits: 100,
    });
    f.send(Frame::command(flow)).await.unwrap();
    let want: Vec<&String> = keys.iter().filter(|k| hash(k) >= 32768).collect();
    let mut got = Vec::new();
    while got.len() < want.len() {
        let m = recv(&mut f).await;
        if let Some(cmd) = m.command.message {
            assert_eq!(cmd.consumer_id, 9);
            let md = fmesh_broker::codec::parse_metadata(&m.payload.unwrap()).unwrap();
            got.push(md.partition_key.unwrap());
        }
    }
    assert_eq!(
        got.iter().collect::<Vec<_>>(),
        want,
        "the upper half, in order"
    );
    let (status, body) = common::http::request(
        b.admin_addr.expect("admin"),
        "GET",
        "/admin/v2/persistent/public/default/sticky-raw/stats",
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let s = &stats["subscriptions"]["s"];
    assert_eq!(s["keySharedMode"], "STICKY");
    assert_eq!(s["allowOutOfOrderDelivery"], false);
    let ranges: Vec<&serde_json::Value> = s["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["keyHashRanges"])
        .collect();
    assert_eq!(
        ranges,
        [
            &serde_json::json!(["[0, 32767]"]),
            &serde_json::json!(["[32768, 65535]"])
        ]
    );
}

fn lookup(topic: &str, request_id: u64, listener: Option<&str>) -> Frame {
    let mut l = base(Type::Lookup);
    l.lookup_topic = Some(pulsar::proto::CommandLookupTopic {
        topic: topic.into(),
        request_id,
        advertised_listener_name: listener.map(str::to_owned),
        ..Default::default()
    });
    Frame::command(l)
}

/// Pulsar's advertised listeners: a lookup naming a listener (the client's `listenerName`) is
/// answered with that listener's URL, one without gets the advertised URL, an unknown name
/// fails with the listeners there are.
#[tokio::test]
async fn lookups_answer_the_named_listener() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |c| {
        c.advertised_url = Some("pulsar://inside.svc:6650".into());
        c.advertised_listeners = vec![("external".into(), "pulsar://10.0.0.1:30650".into())];
    })
    .await;
    let mut f = connect(&b).await;
    let t = "persistent://public/default/listeners";
    for (id, listener, expected) in [
        (1, None, "pulsar://inside.svc:6650"),
        (2, Some(""), "pulsar://inside.svc:6650"),
        (3, Some("external"), "pulsar://10.0.0.1:30650"),
    ] {
        f.send(lookup(t, id, listener)).await.unwrap();
        let r = recv(&mut f)
            .await
            .command
            .lookup_topic_response
            .expect("LookupResponse");
        assert_eq!(r.request_id, id);
        assert_eq!(
            r.broker_service_url.as_deref(),
            Some(expected),
            "{listener:?}"
        );
    }
    f.send(lookup(t, 4, Some("other"))).await.unwrap();
    let r = recv(&mut f)
        .await
        .command
        .lookup_topic_response
        .expect("LookupResponse");
    assert_eq!(r.error, Some(ServerError::ServiceNotReady as i32));
    let message = r.message.unwrap_or_default();
    assert!(
        message.contains("`other`") && message.contains("external"),
        "{message}"
    );
    ping_pong(&mut f).await;
}
