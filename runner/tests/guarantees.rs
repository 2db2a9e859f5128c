//! Processing guarantees with the runner binary killed (`kill -9`) mid-stream and restarted,
//! and per-key ordering with retainKeyOrdering across parallel instances.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use tokio::process::Child;

const N: usize = 1500;

fn spawn_runner(spec: &Path, url: &str, port: u16) -> Child {
    tokio::process::Command::new(runner_bin())
        .arg("--spec-file")
        .arg(spec)
        .args(["--pulsar-url", url, "--metrics-bind", "127.0.0.1"])
        .args(["--metrics-port", &port.to_string()])
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("runner starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `pulsar_function_received_total` as served, or 0 while the runner is not up.
async fn received(port: u16) -> u64 {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if tokio::net::TcpStream::connect(addr).await.is_err() {
        return 0;
    }
    let (_, body) = http_get(addr, "/metrics").await;
    body.lines()
        .find(|l| l.starts_with("pulsar_function_received_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// Produces N messages at a steady pace, kills the runner once it has taken some, restarts
/// it, and returns how many times each payload reached the output.
async fn crash_run(t: &Target, guarantee: &str) -> HashMap<String, usize> {
    eprintln!("{guarantee}: against {}", t.name());
    let dir = tempfile::tempdir().unwrap();
    let url = t.service_url();
    let (input, output) = (topic("g-in"), topic("g-out"));
    let spec = dir.path().join("spec.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{"kind":"Function","objectName":"g","input":{{"topics":["{input}"]}},
                "output":{{"topic":"{output}"}},"subscriptionPosition":"earliest",
                "processingGuarantee":"{guarantee}","builtin":{{"name":"identity"}}}}"#
        ),
    )
    .unwrap();
    let mut out = subscribe(&url, &output, "check").await;
    let port = free_port();
    let mut runner = spawn_runner(&spec, &url, port);
    let producer_url = url.clone();
    let feeding = tokio::spawn(async move {
        let pulsar = client(&producer_url).await;
        let mut p = pulsar
            .producer()
            .with_topic(&input)
            .build()
            .await
            .expect("producer");
        for i in 0..N {
            p.send_non_blocking(format!("m{i}").into_bytes())
                .await
                .expect("send")
                .await
                .expect("receipt");
            if i % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    within("runner takes some", async {
        while received(port).await < 200 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let before = received(port).await;
    runner.start_kill().expect("kill -9");
    runner.wait().await.expect("reaped");
    assert!(
        (before as usize) < N,
        "{guarantee}: killed mid-stream ({before} of {N})"
    );
    let port = free_port();
    let mut again = spawn_runner(&spec, &url, port);
    within("producer done", feeding).await.expect("feeder");
    let mut counts = HashMap::new();
    for m in drain(&mut out, Duration::from_secs(3)).await {
        *counts.entry(m.as_str()).or_insert(0) += 1;
    }
    again.start_kill().ok();
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atleast_once_loses_nothing_across_kill_9() {
    for t in targets().await {
        let counts = crash_run(&t, "atleast_once").await;
        let missing: Vec<usize> = (0..N)
            .filter(|i| !counts.contains_key(&format!("m{i}")))
            .collect();
        assert!(
            missing.is_empty(),
            "lost {} messages: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effectively_once_loses_and_duplicates_nothing_across_kill_9() {
    for t in targets().await {
        let counts = crash_run(&t, "effectively_once").await;
        let missing: Vec<usize> = (0..N)
            .filter(|i| !counts.contains_key(&format!("m{i}")))
            .collect();
        assert!(
            missing.is_empty(),
            "lost {}: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        let dups: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            dups.is_empty(),
            "duplicated {}: {:?}",
            dups.len(),
            &dups[..dups.len().min(10)]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atmost_once_never_redelivers_across_kill_9() {
    for t in targets().await {
        let counts = crash_run(&t, "atmost_once").await;
        let dups: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            dups.is_empty(),
            "redelivered {}: {:?}",
            dups.len(),
            &dups[..dups.len().min(10)]
        );
        assert!(
            counts.len() > N / 2,
            "most messages still flow ({})",
            counts.len()
        );
    }
}

// Three Key_Shared instances: every message processed once, each key's messages in order, the
// keys spread over the instances. Redeliveries have been seen here without a cause found:
// a failure is a lead to follow, not noise to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_key_ordering_keeps_per_key_order_across_instances() {
    for t in targets().await {
        eprintln!(
            "retain_key_ordering_keeps_per_key_order_across_instances: against {}",
            t.name()
        );
        let url = t.service_url();
        let (input, output) = (topic("ko-in"), topic("ko-out"));
        let spec = format!(
            r#"{{"kind":"Function","objectName":"ko","input":{{"topics":["{input}"]}},
                "output":{{"topic":"{output}"}},"subscriptionPosition":"earliest",
                "retainKeyOrdering":true,"replicas":3,"builtin":{{"name":"identity"}}}}"#
        );
        let mut out = subscribe(&url, &output, "check").await;
        let mut runners = Vec::new();
        for id in 0..3 {
            runners.push(start(&url, &spec, id, 3).await);
        }
        // Key ranges are assigned as consumers join: produce once all three have.
        for r in &runners {
            let m = r.metrics.clone();
            until("subscribed", || m.subscribed.get() == 1).await;
        }
        py_client(&["produce_keyed", &url, &input, "600", "12"]).await;
        let got = consume(&mut out, 600).await;
        let extra = drain(&mut out, Duration::from_millis(500)).await;
        assert!(
            extra.is_empty(),
            "{} duplicates, e.g. {:?}",
            extra.len(),
            extra.first()
        );
        let per_instance: Vec<u64> = runners.iter().map(|r| r.metrics.received.get()).collect();
        eprintln!("received per instance: {per_instance:?}");
        assert_eq!(
            per_instance.iter().sum::<u64>(),
            600,
            "a steady Key_Shared subscription redelivers nothing"
        );
        let distinct: std::collections::HashSet<String> = got.iter().map(Msg::as_str).collect();
        eprintln!("distinct outputs: {}", distinct.len());
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        for m in &got {
            let text = m.as_str();
            let (key, seq) = text.split_once(':').expect("key:seq");
            let seq: i64 = seq.parse().expect("seq");
            let prev = last.insert(key.to_string(), seq).unwrap_or(-1);
            assert!(seq > prev, "key {key}: {seq} after {prev}");
            assert_eq!(m.key.as_deref(), Some(key), "key carried to the output");
        }
        let busy = runners
            .iter()
            .filter(|r| r.metrics.received.get() > 0)
            .count();
        assert!(busy >= 2, "work spread over instances ({busy} busy)");
        for r in runners {
            stop(r).await;
        }
    }
}
