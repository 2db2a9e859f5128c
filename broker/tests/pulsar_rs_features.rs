//! pulsar-rs: seek, readers, last message id, topic patterns, partitions, schemas,
//! deduplication and batches. The scenarios run on fmesh-broker and then on Apache Pulsar when
//! `FMESH_PULSAR_URL` / `FMESH_PULSAR_ADMIN_URL` name one; those about fmesh's own files and
//! settings run on fmesh-broker only.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::http::request;
use common::target::Target;
use common::{broker, client, on_every_target, sub_backlog, topic, within};
use fmesh_broker::topic_name::TopicName;
use futures::StreamExt;
use pulsar::consumer::InitialPosition;
use pulsar::proto::{Schema, schema::Type as SchemaType};
use pulsar::{ConsumerOptions, ProducerOptions, SubType};

type Client = pulsar::Pulsar<pulsar::TokioExecutor>;

async fn produce(
    c: &Client,
    topic: &str,
    name: Option<&str>,
    n: usize,
) -> Vec<pulsar::proto::CommandSendReceipt> {
    let mut b = c.producer().with_topic(topic);
    if let Some(n) = name {
        b = b.with_name(n);
    }
    let mut p = within("producer", b.build()).await.expect("producer");
    let mut out = Vec::new();
    for i in 0..n {
        let f = within("send", p.send_non_blocking(format!("m{i}")))
            .await
            .expect("send");
        out.push(within("receipt", f).await.expect("receipt"));
    }
    within("close", p.close()).await.expect("close");
    out
}

fn body<T>(m: &pulsar::consumer::Message<T>) -> String {
    String::from_utf8(m.payload.data.clone()).expect("utf8")
}

async fn earliest(
    c: &Client,
    topic: &str,
    sub: &str,
) -> pulsar::Consumer<String, pulsar::TokioExecutor> {
    within(
        "subscribe",
        c.consumer()
            .with_topic(topic)
            .with_subscription(sub)
            .with_subscription_type(SubType::Exclusive)
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build::<String>(),
    )
    .await
    .expect("consumer")
}

async fn next_body(c: &mut pulsar::Consumer<String, pulsar::TokioExecutor>) -> String {
    let m = within("next", c.next())
        .await
        .expect("open")
        .expect("message");
    c.ack(&m).await.expect("ack");
    body(&m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_by_message_id_and_by_publish_time() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("seek");
        let receipts = produce(&c, &t, None, 10).await;
        // Failover, not Exclusive: pulsar-rs subscribes a new consumer before it drops the one
        // it seeked with, which the broker disconnected and the client reconnects; on an
        // Exclusive subscription Apache Pulsar then refuses the new one (ConsumerBusy) forever.
        let mut cons = within(
            "subscribe",
            c.consumer()
                .with_topic(&t)
                .with_subscription("s")
                .with_subscription_type(SubType::Failover)
                .with_options(
                    ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
                )
                .build::<String>(),
        )
        .await
        .expect("consumer");
        for i in 0..10 {
            assert_eq!(next_body(&mut cons).await, format!("m{i}"));
        }
        let id = receipts[3].message_id.clone().unwrap();
        within("seek", cons.seek(None, Some(id), None, c.clone()))
            .await
            .unwrap();
        assert_eq!(
            next_body(&mut cons).await,
            "m3",
            "seek rewinds to the message itself"
        );
        within("seek by time", cons.seek(None, None, Some(0), c.clone()))
            .await
            .unwrap();
        assert_eq!(next_body(&mut cons).await, "m0");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_reads_from_earliest_and_from_an_id_without_a_durable_cursor() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("reader");
        let receipts = produce(&c, &t, None, 5).await;
        let mut r = within(
            "reader",
            c.reader()
                .with_topic(&t)
                .with_options(
                    ConsumerOptions::default()
                        .durable(false)
                        .with_initial_position(InitialPosition::Earliest),
                )
                .into_reader::<String>(),
        )
        .await
        .unwrap();
        for i in 0..5 {
            let m = within("read", r.next()).await.unwrap().unwrap();
            assert_eq!(body(&m), format!("m{i}"));
        }
        let mut r2 = within(
            "reader from id",
            c.reader()
                .with_topic(&t)
                .with_options(
                    ConsumerOptions::default()
                        .durable(false)
                        .starting_on_message(receipts[2].message_id.clone().unwrap()),
                )
                .into_reader::<String>(),
        )
        .await
        .unwrap();
        let m = within("read", r2.next()).await.unwrap().unwrap();
        // Both brokers start a reader at its start id's own entry and leave it to the client
        // to drop it; the official clients do, pulsar-rs does not.
        assert_eq!(body(&m), "m2", "a reader starts at its start id's entry");
        let stats = common::stats_path(&t);
        let st = common::admin_until(target, &stats, |st| {
            st["subscriptions"].as_object().map(|s| s.len()) == Some(2)
        })
        .await;
        let subs = st["subscriptions"].as_object().unwrap();
        assert!(
            subs.values().all(|s| s["isDurable"] == false),
            "readers hold non-durable subscriptions: {st}"
        );
        if let Target::Fmesh { broker, .. } = target {
            // fmesh's own files: a non-durable subscription never writes a cursor.
            let st = broker.broker.existing_topic(&TopicName::parse(&t).unwrap());
            let cursors = st.unwrap().dir().join("cursors");
            let files = std::fs::read_dir(cursors).unwrap().count();
            assert_eq!(files, 0, "readers leave no cursor on disk");
        }
        // A reader's subscription goes with it: nothing is left to hold the backlog.
        drop(r);
        drop(r2);
        common::admin_until(target, &stats, |st| {
            st["subscriptions"]
                .as_object()
                .is_some_and(|s| s.is_empty())
        })
        .await;
        let subs = stats.replace("/stats", "/subscriptions");
        let (status, body) = request(target.admin(), "GET", &subs, &[], b"").await;
        assert_eq!((status, body.as_slice()), (200, &b"[]"[..]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_message_id_is_the_last_receipt() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("lastid");
        let receipts = produce(&c, &t, None, 7).await;
        let mut cons = earliest(&c, &t, "s").await;
        let ids = within("last id", cons.get_last_message_id()).await.unwrap();
        let last = receipts.last().unwrap().message_id.clone().unwrap();
        assert_eq!(
            (ids[0].ledger_id, ids[0].entry_id),
            (last.ledger_id, last.entry_id)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_pattern_consumer_sees_matching_topics() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        // `rx-<run>-a`: the pattern must not match another run's topics on Apache Pulsar.
        let rx = target.local("rx");
        let (ta, tb) = (topic(&format!("{rx}-a")), topic(&format!("{rx}-b")));
        produce(&c, &ta, None, 2).await;
        produce(&c, &tb, None, 2).await;
        produce(&c, &target.topic("other"), None, 2).await;
        let pattern = format!("persistent://public/default/{rx}-.*");
        let mut cons = within(
            "pattern",
            c.consumer()
                .with_topic_regex(regex::Regex::new(&pattern).unwrap())
                .with_lookup_namespace("public/default")
                .with_subscription("s")
                .with_options(
                    ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
                )
                .build::<String>(),
        )
        .await
        .unwrap();
        let mut topics = HashSet::new();
        for _ in 0..4 {
            let m = within("next", cons.next()).await.unwrap().unwrap();
            topics.insert(m.topic.clone());
            cons.ack(&m).await.unwrap();
        }
        assert_eq!(topics, HashSet::from([ta, tb]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_topic_round_trip() {
    on_every_target(async |target: &Target| {
        let t = target.topic("parts");
        let path = format!("/admin/v2/{}/partitions", t.replacen("://", "/", 1));
        let (status, reason) = request(
            target.admin(),
            "PUT",
            &path,
            &[("Content-Type", "application/json")],
            b"4",
        )
        .await;
        assert_eq!(status, 204, "{}", String::from_utf8_lossy(&reason));
        let c = client(&target.service_url()).await;
        let mut cons = earliest(&c, &t, "s").await;
        let mut p = within("producer", c.producer().with_topic(&t).build())
            .await
            .unwrap();
        let mut futs = Vec::new();
        for i in 0..40 {
            futs.push(
                p.create_message()
                    .with_content(format!("m{i}"))
                    .with_key(format!("k{i}"))
                    .send_non_blocking()
                    .await
                    .unwrap(),
            );
        }
        for f in futs {
            within("receipt", f).await.unwrap();
        }
        let stats = path.replace("/partitions", "/partitioned-stats");
        let st = common::admin_until(target, &stats, |st| st["msgInCounter"] == 40).await;
        let used = st["partitions"]
            .as_object()
            .unwrap()
            .values()
            .filter(|p| p["msgInCounter"].as_u64() > Some(0))
            .count();
        assert!(used > 1, "keys spread over partitions: {st}");
        let mut seen = HashSet::new();
        for _ in 0..40 {
            let m = within("next", cons.next()).await.unwrap().unwrap();
            seen.insert(body(&m));
            cons.ack(&m).await.unwrap();
        }
        assert_eq!(seen.len(), 40);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_is_registered_and_get_schema_returns_it() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("schema");
        let schema = Schema {
            name: "reading".into(),
            schema_data: br#"{"type":"record","name":"R","fields":[{"name":"v","type":"int"}]}"#
                .to_vec(),
            r#type: SchemaType::Json as i32,
            properties: vec![],
        };
        let mut p = within(
            "producer",
            c.producer()
                .with_topic(&t)
                .with_options(ProducerOptions {
                    schema: Some(schema.clone()),
                    ..Default::default()
                })
                .build(),
        )
        .await
        .unwrap();
        within("send", p.send_non_blocking(r#"{"v":1}"#.to_string()))
            .await
            .unwrap()
            .await
            .unwrap();
        let mut cons = earliest(&c, &t, "s").await;
        let got = within("get schema", cons.get_schema(&t, None))
            .await
            .unwrap()
            .expect("schema present");
        assert_eq!(got.schema_data, schema.schema_data);
        assert_eq!(got.r#type, SchemaType::Json as i32);
        // An incompatible type is refused.
        let other = Schema {
            r#type: SchemaType::String as i32,
            ..schema
        };
        let refused = within(
            "producer",
            common::client_without_retries(&target.service_url())
                .await
                .producer()
                .with_topic(&t)
                .with_options(ProducerOptions {
                    schema: Some(other),
                    ..Default::default()
                })
                .build(),
        )
        .await;
        assert!(refused.is_err());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deduplication_stores_a_sequence_id_once() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("dedup");
        let first = produce(&c, &t, Some("p1"), 3).await;
        assert!(
            first
                .iter()
                .all(|r| r.message_id.as_ref().unwrap().entry_id < 3)
        );
        // pulsar-rs restarts sequence ids at 0: the same (name, sequence id) again.
        let again = produce(&c, &t, Some("p1"), 4).await;
        let stored: Vec<bool> = again
            .iter()
            .map(|r| r.message_id.as_ref().unwrap().ledger_id != u64::MAX)
            .collect();
        assert_eq!(
            stored,
            vec![false, false, false, true],
            "only sequence id 3 is new"
        );
        // Four messages are stored: m0, m1, m2 and the second run's m3.
        let mut cons = earliest(&c, &t, "s").await;
        for i in 0..4 {
            assert_eq!(next_body(&mut cons).await, format!("m{i}"));
        }
        sub_backlog(target, &t, "s", 0).await;
        let more = tokio::time::timeout(Duration::from_millis(300), cons.next()).await;
        assert!(more.is_err(), "nothing after m3: {more:?}");
    })
    .await;
}

// fmesh-only: restarts the in-process broker on its own data directory.
#[tokio::test]
async fn acks_survive_a_broker_restart_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let t = topic("restart");
    {
        let b = broker(dir.path(), |_| {}).await;
        let c = client(&b.service_url()).await;
        produce(&c, &t, None, 10).await;
        let mut cons = earliest(&c, &t, "s").await;
        for _ in 0..4 {
            next_body(&mut cons).await;
        }
        let st = b
            .broker
            .existing_topic(&TopicName::parse(&t).unwrap())
            .unwrap();
        within("acks durable", async {
            while st.lock().subscriptions["s"].cursor.mark_delete < 4 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        // Let the grouped cursor fsync land.
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.shutdown();
    }
    let b = broker(dir.path(), |_| {}).await;
    let c = client(&b.service_url()).await;
    let mut cons = earliest(&c, &t, "s").await;
    assert_eq!(next_body(&mut cons).await, "m4");
}

// fmesh-only: needs fmesh's segment size and retention settings and drives its maintenance pass
// (Apache Pulsar rolls ledgers by size and time minimums no test can wait for).
#[tokio::test]
async fn retention_deletes_segments_only_once_every_subscription_acked_them() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |c| {
        c.segment_bytes = 400;
        c.retention = Duration::ZERO;
    })
    .await;
    let c = client(&b.service_url()).await;
    let t = topic("retention");
    let _lazy = earliest(&c, &t, "lazy").await;
    let mut fast = earliest(&c, &t, "fast").await;
    produce(&c, &t, None, 30).await;
    for _ in 0..30 {
        next_body(&mut fast).await;
    }
    let topic = b
        .broker
        .existing_topic(&TopicName::parse(&t).unwrap())
        .unwrap();
    within("acks applied", async {
        while topic.lock().subscriptions["fast"].cursor.mark_delete < 30 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let segments = || {
        std::fs::read_dir(topic.dir().join("ledger"))
            .unwrap()
            .count()
    };
    let before = segments();
    assert!(before > 3, "small segments rolled: {before}");
    topic.maintain(Duration::from_secs(5), Duration::ZERO);
    assert_eq!(segments(), before, "the lazy subscription still needs them");
    drop(_lazy);
    within("lazy gone", async {
        while !topic.lock().subscriptions["lazy"].consumers().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    topic.unsubscribe("lazy", None).await.unwrap();
    topic.maintain(Duration::from_secs(5), Duration::ZERO);
    assert!(segments() < before, "acknowledged segments deleted");
    assert!(topic.lock().log.first_entry() > 0);
    // Reading still works from what is left.
    let mut again = earliest(&c, &t, "late").await;
    let first = next_body(&mut again).await;
    assert_ne!(first, "m0", "deleted entries are gone");
}

// fmesh-only: a broker setting (the shared Apache Pulsar auto-creates topics).
#[tokio::test]
async fn auto_creation_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |c| c.auto_create_topics = false).await;
    let c = common::client_without_retries(&b.service_url()).await;
    let refused = within("producer", c.producer().with_topic(topic("absent")).build()).await;
    assert!(
        refused.is_err(),
        "unknown topic refused without auto-creation"
    );
    let name = TopicName::parse(&topic("present")).unwrap();
    b.broker.create_partitioned(&name, 2).unwrap();
    let mut p = within(
        "producer",
        c.producer().with_topic(topic("present")).build(),
    )
    .await
    .unwrap();
    within("send", p.send_non_blocking("x".to_string()))
        .await
        .unwrap()
        .await
        .unwrap();
}

/// Publishes `m0`..`m9` through a batching producer and waits for every receipt; the
/// producer is returned so that it stays open while the test goes on.
async fn publish_batched(
    c: &Client,
    t: &str,
    batch_size: u32,
    batch_timeout: Duration,
) -> pulsar::Producer<pulsar::TokioExecutor> {
    let mut p = within(
        "producer",
        c.producer()
            .with_topic(t)
            .with_options(ProducerOptions {
                batch_size: Some(batch_size),
                batch_timeout: Some(batch_timeout),
                ..Default::default()
            })
            .build(),
    )
    .await
    .unwrap();
    let mut futs = Vec::new();
    for i in 0..10 {
        futs.push(
            within("send", p.send_non_blocking(format!("m{i}")))
                .await
                .unwrap(),
        );
    }
    for f in futs {
        within("receipt", f).await.unwrap();
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_pass_through_and_a_partly_acked_batch_comes_back_whole() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("batches");
        let _p = publish_batched(&c, &t, 5, Duration::from_millis(50)).await;
        let mut cons = earliest(&c, &t, "s").await;
        let mut entries = HashSet::new();
        for i in 0..10 {
            let m = within("next", cons.next()).await.unwrap().unwrap();
            assert_eq!(body(&m), format!("m{i}"));
            entries.insert(m.message_id.id.entry_id);
            if i != 7 {
                cons.ack(&m).await.unwrap();
            }
        }
        assert_eq!(entries.len(), 2, "two batch entries of five: {entries:?}");
        // pulsar-rs acks a batched message by its batch index, without an ack set. fmesh-broker
        // counts it for that message alone: the second entry stays in the backlog. Apache Pulsar
        // reads only ack sets: the first ack of an entry acknowledges all of it (README,
        // "Differences from Apache Pulsar").
        let backlog = if target.is_pulsar() { 0 } else { 1 };
        sub_backlog(target, &t, "s", backlog).await;
        cons.close().await.unwrap();
        drop(cons);
        let mut again = earliest(&c, &t, "s").await;
        if target.is_pulsar() {
            let more = tokio::time::timeout(Duration::from_millis(500), again.next()).await;
            assert!(more.is_err(), "every entry was acknowledged: {more:?}");
        } else {
            // The first batch is fully acked; the second is redelivered as a whole.
            assert_eq!(next_body(&mut again).await, "m5");
        }
    })
    .await;
}

/// pulsar-rs acks a batch message with its `batch_index` (it ignores the
/// `ack_set` a redelivered batch carries, so it gets all ten back): the three
/// indexes acked before the restart still count after it.
// fmesh-only: restarts the broker and reads its cursor file.
#[tokio::test]
async fn batch_index_acks_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = topic("batch-index-restart");
    let name = TopicName::parse(&t).unwrap();
    {
        let b = broker(dir.path(), |_| {}).await;
        let c = client(&b.service_url()).await;
        let _p = publish_batched(&c, &t, 10, Duration::from_millis(200)).await;
        let st = b.broker.existing_topic(&name).unwrap();
        assert_eq!(st.lock().log.end_entry(), 1, "one batch entry of ten");
        let mut cons = earliest(&c, &t, "s").await;
        for i in 0..10 {
            let m = within("next", cons.next()).await.unwrap().unwrap();
            if [0, 2, 5].contains(&i) {
                cons.ack(&m).await.unwrap();
            }
        }
        common::batch_index_acks_on_disk(st.dir(), "s", 0, &[0b10_0101]).await;
        b.shutdown();
    }
    let b = broker(dir.path(), |_| {}).await;
    let c = client(&b.service_url()).await;
    let mut cons = earliest(&c, &t, "s").await;
    for i in 0..10 {
        let m = within("next", cons.next()).await.unwrap().unwrap();
        assert_eq!(body(&m), format!("m{i}"));
        if ![0, 2, 5].contains(&i) {
            cons.ack(&m).await.unwrap();
        }
    }
    let st = b.broker.existing_topic(&name).unwrap();
    within("the 7 acks complete the batch", async {
        while st.lock().subscriptions["s"].cursor.mark_delete < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
