//! Compatibility with the `pulsar` crate (pulsar-rs). Every scenario runs on fmesh-broker and
//! then on Apache Pulsar when `FMESH_PULSAR_URL` / `FMESH_PULSAR_ADMIN_URL` name one.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::target::Target;
use common::{client, on_every_target, sub_backlog, within};
use futures::StreamExt;
use pulsar::consumer::{DeadLetterPolicy, InitialPosition};
use pulsar::{ConsumerOptions, SubType};

type Consumer = pulsar::Consumer<String, pulsar::TokioExecutor>;

async fn consumer(
    c: &pulsar::Pulsar<pulsar::TokioExecutor>,
    topic: &str,
    sub: &str,
    kind: SubType,
) -> Consumer {
    within(
        "subscribe",
        c.consumer()
            .with_topic(topic)
            .with_subscription(sub)
            .with_subscription_type(kind)
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build::<String>(),
    )
    .await
    .expect("consumer builds")
}

async fn produce(
    c: &pulsar::Pulsar<pulsar::TokioExecutor>,
    topic: &str,
    msgs: impl IntoIterator<Item = String>,
) -> Vec<pulsar::proto::CommandSendReceipt> {
    let mut p = within("producer", c.producer().with_topic(topic).build())
        .await
        .expect("producer");
    let mut futs = Vec::new();
    for m in msgs {
        futs.push(within("send", p.send_non_blocking(m)).await.expect("send"));
    }
    let mut out = Vec::new();
    for f in futs {
        out.push(within("receipt", f).await.expect("receipt"));
    }
    out
}

async fn next(c: &mut Consumer) -> pulsar::consumer::Message<String> {
    within("next message", c.next())
        .await
        .expect("stream open")
        .expect("message")
}

fn body(m: &pulsar::consumer::Message<String>) -> String {
    String::from_utf8(m.payload.data.clone()).expect("utf8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_in_order_with_real_ids() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("order");
        let receipts = produce(&c, &t, (0..50).map(|i| format!("m{i}"))).await;
        let ids: Vec<u64> = receipts
            .iter()
            .map(|r| r.message_id.as_ref().unwrap().entry_id)
            .collect();
        assert_eq!(
            ids,
            (0..50).collect::<Vec<_>>(),
            "entry ids are dense and ordered"
        );
        let mut cons = consumer(&c, &t, "s", SubType::Exclusive).await;
        for i in 0..50 {
            let m = next(&mut cons).await;
            assert_eq!(body(&m), format!("m{i}"));
            cons.ack(&m).await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_names_map_to_public_default() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let short = target.local("short");
        produce(&c, &short, ["x".to_string()]).await;
        let mut cons = consumer(&c, &target.topic("short"), "s", SubType::Exclusive).await;
        assert_eq!(body(&next(&mut cons).await), "x");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_are_not_redelivered_to_a_new_consumer() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("acks");
        produce(&c, &t, (0..20).map(|i| format!("m{i}"))).await;
        let mut cons = consumer(&c, &t, "s", SubType::Exclusive).await;
        for _ in 0..10 {
            let m = next(&mut cons).await;
            cons.ack(&m).await.unwrap();
        }
        // The acks are fire-and-forget: wait until the broker applied them.
        sub_backlog(target, &t, "s", 10).await;
        cons.close().await.unwrap();
        drop(cons);
        let mut cons = consumer(&c, &t, "s", SubType::Exclusive).await;
        assert_eq!(body(&next(&mut cons).await), "m10");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_second_consumer_gets_consumer_busy_and_connection_survives() {
    on_every_target(async |target: &Target| {
        // pulsar-rs retries ConsumerBusy by default; fail fast here.
        let c = common::client_without_retries(&target.service_url()).await;
        let t = target.topic("busy");
        let _first = consumer(&c, &t, "s", SubType::Exclusive).await;
        let second = within(
            "second subscribe",
            c.consumer()
                .with_topic(&t)
                .with_subscription("s")
                .with_subscription_type(SubType::Exclusive)
                .build::<String>(),
        )
        .await;
        let err = second
            .err()
            .expect("second exclusive consumer is refused")
            .to_string();
        assert!(
            err.contains("ConsumerBusy") || err.contains("busy"),
            "{err}"
        );
        // Same client, same connection: still usable.
        produce(&c, &t, ["after".to_string()]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_spreads_messages_over_two_consumers() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("shared");
        let mut a = consumer(&c, &t, "s", SubType::Shared).await;
        let mut bb = consumer(&c, &t, "s", SubType::Shared).await;
        produce(&c, &t, (0..40).map(|i| format!("m{i}"))).await;
        let mut seen = HashSet::new();
        let (mut na, mut nb) = (0, 0);
        while seen.len() < 40 {
            tokio::select! {
                m = a.next() => { let m = m.unwrap().unwrap(); a.ack(&m).await.unwrap(); seen.insert(body(&m)); na += 1; }
                m = bb.next() => { let m = m.unwrap().unwrap(); bb.ack(&m).await.unwrap(); seen.insert(body(&m)); nb += 1; }
                _ = tokio::time::sleep(common::STEP) => panic!("timed out with {} messages", seen.len()),
            }
        }
        assert!(na > 0 && nb > 0, "both consumers got messages: {na} / {nb}");
        assert_eq!(na + nb, 40, "no duplicates");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_sends_everything_to_the_active_consumer() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("failover");
        let mut a = within(
            "a",
            c.consumer()
                .with_topic(&t)
                .with_subscription("s")
                .with_consumer_name("a")
                .with_subscription_type(SubType::Failover)
                .build::<String>(),
        )
        .await
        .unwrap();
        let mut z = within(
            "z",
            c.consumer()
                .with_topic(&t)
                .with_subscription("s")
                .with_consumer_name("z")
                .with_subscription_type(SubType::Failover)
                .build::<String>(),
        )
        .await
        .unwrap();
        // Which one is active depends on where the topic's name falls on the consumers' hash
        // ring, as in Pulsar (murmur3.rs).
        let hash = fmesh_broker::murmur3::failover_topic_hash(&t);
        if fmesh_broker::murmur3::failover_ring_index(&["a", "z"], hash) == 1 {
            std::mem::swap(&mut a, &mut z);
        }
        produce(&c, &t, (0..10).map(|i| format!("m{i}"))).await;
        for i in 0..10 {
            let m = next(&mut a).await;
            assert_eq!(
                body(&m),
                format!("m{i}"),
                "active consumer gets all, in order"
            );
            a.ack(&m).await.unwrap();
        }
        let idle = tokio::time::timeout(Duration::from_millis(300), z.next()).await;
        assert!(idle.is_err(), "the standby consumer receives nothing");
        // The active one leaves: the standby takes over.
        a.close().await.unwrap();
        drop(a);
        produce(&c, &t, ["after".to_string()]).await;
        assert_eq!(body(&next(&mut z).await), "after");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_shared_keeps_each_key_on_one_consumer_in_order() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("keyshared");
        let mut a = consumer(&c, &t, "s", SubType::KeyShared).await;
        let mut bb = consumer(&c, &t, "s", SubType::KeyShared).await;
        let mut p = c.producer().with_topic(&t).build().await.unwrap();
        let mut futs = Vec::new();
        for i in 0..60 {
            // Thirty keys: with six, the hash ring sometimes put every key on one consumer.
            let key = format!("k{}", i % 30);
            let f = p
                .create_message()
                .with_content(format!("{key}:{i}"))
                .with_key(key)
                .send_non_blocking()
                .await
                .unwrap();
            futs.push(f);
        }
        for f in futs {
            within("receipt", f).await.unwrap();
        }
        let mut by_consumer: HashMap<String, usize> = HashMap::new();
        let mut last_index: HashMap<String, i32> = HashMap::new();
        let mut got = 0;
        let (mut na, mut nb) = (0, 0);
        while got < 60 {
            let (who, m) = tokio::select! {
                m = a.next() => { let m = m.unwrap().unwrap(); a.ack(&m).await.unwrap(); na += 1; ("a", m) }
                m = bb.next() => { let m = m.unwrap().unwrap(); bb.ack(&m).await.unwrap(); nb += 1; ("b", m) }
                _ = tokio::time::sleep(common::STEP) => panic!("timed out at {got}"),
            };
            let text = body(&m);
            let (key, idx) = text.split_once(':').unwrap();
            let idx: i32 = idx.parse().unwrap();
            let owner = if who == "a" { 0 } else { 1 };
            let prev = by_consumer.insert(key.to_string(), owner);
            assert!(
                prev.is_none_or(|p| p == owner),
                "key {key} moved between consumers"
            );
            let last = last_index.insert(key.to_string(), idx).unwrap_or(-1);
            assert!(idx > last, "key {key} out of order");
            got += 1;
        }
        assert!(
            na > 0 && nb > 0,
            "keys spread over both consumers: {na}/{nb}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_redelivers_with_a_count_and_dead_letters() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("nack");
        let dlq = target.topic("nack-dlq");
        let mut dead = consumer(&c, &dlq, "d", SubType::Exclusive).await;
        let mut cons: Consumer = within(
            "consumer",
            c.consumer()
                .with_topic(&t)
                .with_subscription("s")
                .with_subscription_type(SubType::Shared)
                .with_unacked_message_resend_delay(Some(Duration::from_millis(100)))
                .with_dead_letter_policy(DeadLetterPolicy {
                    max_redeliver_count: 2,
                    dead_letter_topic: dlq.clone(),
                })
                .build::<String>(),
        )
        .await
        .unwrap();
        produce(&c, &t, ["poison".to_string()]).await;
        for _ in 0..2 {
            let m = next(&mut cons).await;
            assert_eq!(body(&m), "poison");
            cons.nack(&m).await.unwrap();
        }
        let d = next(&mut dead).await;
        assert_eq!(
            body(&d),
            "poison",
            "after max redeliveries the client dead-letters it"
        );
        // The client acknowledges what it dead-lettered: the source subscription is clear.
        sub_backlog(target, &t, "s", 0).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacked_message_comes_back_until_acked() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("nackcount");
        let mut cons: Consumer = within(
            "consumer",
            c.consumer()
                .with_topic(&t)
                .with_subscription("s")
                .with_subscription_type(SubType::Shared)
                .with_unacked_message_resend_delay(Some(Duration::from_millis(50)))
                .build::<String>(),
        )
        .await
        .unwrap();
        produce(&c, &t, ["again".to_string()]).await;
        for _ in 0..3 {
            let m = next(&mut cons).await;
            assert_eq!(body(&m), "again");
            cons.nack(&m).await.unwrap();
        }
        let m = next(&mut cons).await;
        assert_eq!(body(&m), "again");
        let stats = common::stats_path(&t);
        common::admin_until(target, &stats, |st| {
            let s = &st["subscriptions"]["s"];
            s["msgBacklog"] == 1 && s["unackedMessages"] == 1
        })
        .await;
        cons.ack(&m).await.unwrap();
        common::admin_until(target, &stats, |st| {
            let s = &st["subscriptions"]["s"];
            s["msgBacklog"] == 0 && s["unackedMessages"] == 0
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cumulative_ack_acknowledges_everything_up_to_the_message() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("cumulative");
        produce(&c, &t, (0..10).map(|i| format!("m{i}"))).await;
        let mut cons = consumer(&c, &t, "s", SubType::Exclusive).await;
        let mut last = None;
        for _ in 0..6 {
            last = Some(next(&mut cons).await);
        }
        cons.cumulative_ack(&last.unwrap()).await.unwrap();
        sub_backlog(target, &t, "s", 4).await;
        cons.close().await.unwrap();
        drop(cons);
        let mut cons = consumer(&c, &t, "s", SubType::Exclusive).await;
        assert_eq!(body(&next(&mut cons).await), "m6");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_shared_three_consumers_batched_keyed_producer_no_duplicates() {
    on_every_target(async |target: &Target| {
        let c = client(&target.service_url()).await;
        let t = target.topic("keyshared3");
        let mut cons = Vec::new();
        for i in 0..3 {
            cons.push(
                within(
                    "sub",
                    c.consumer()
                        .with_topic(&t)
                        .with_subscription("s")
                        .with_consumer_name(format!("c{i}"))
                        .with_subscription_type(SubType::KeyShared)
                        .with_options(
                            ConsumerOptions::default()
                                .with_initial_position(InitialPosition::Earliest),
                        )
                        .build::<String>(),
                )
                .await
                .unwrap(),
            );
        }
        let mut p = within(
            "producer",
            c.producer()
                .with_topic(&t)
                .with_options(pulsar::ProducerOptions {
                    batch_size: Some(20),
                    batch_timeout: Some(Duration::from_millis(5)),
                    ..Default::default()
                })
                .build(),
        )
        .await
        .unwrap();
        let mut futs = Vec::new();
        for i in 0..600 {
            let key = format!("k{}", i % 12);
            futs.push(
                p.create_message()
                    .with_content(format!("{key}:{i}"))
                    .with_key(key)
                    .send_non_blocking()
                    .await
                    .unwrap(),
            );
        }
        for f in futs {
            within("receipt", f).await.unwrap();
        }
        let (a, rest) = cons.split_first_mut().unwrap();
        let (bb, rest) = rest.split_first_mut().unwrap();
        let cc = &mut rest[0];
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut total = 0;
        loop {
            let m = tokio::select! {
                m = a.next() => { let m = m.unwrap().unwrap(); a.ack(&m).await.unwrap(); m }
                m = bb.next() => { let m = m.unwrap().unwrap(); bb.ack(&m).await.unwrap(); m }
                m = cc.next() => { let m = m.unwrap().unwrap(); cc.ack(&m).await.unwrap(); m }
                _ = tokio::time::sleep(Duration::from_millis(if total >= 600 { 500 } else { 20_000 })) => break,
            };
            *seen.entry(body(&m)).or_default() += 1;
            total += 1;
        }
        assert_eq!(seen.len(), 600, "every message arrives");
        assert_eq!(total, 600, "no duplicates");
    })
    .await;
}
