//! Crash and restart: the `fmesh-broker` binary is killed with SIGKILL
//! (`kill -9`) and restarted on the same data directory.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{topic, within};
use futures::StreamExt;
use pulsar::consumer::InitialPosition;
use pulsar::{ConsumerOptions, SubType};

struct BrokerProcess {
    child: Child,
    url: String,
    port: u16,
}

impl BrokerProcess {
    /// Starts the binary; `port` 0 lets the OS choose.
    fn start(dir: &Path, port: u16, fsync: &str) -> BrokerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fmesh-broker"))
            .args(["--data-dir", &dir.display().to_string()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-listen", "127.0.0.1:0"])
            .args(["--fsync", fsync])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn fmesh-broker");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ready line");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("pulsar://"))
            .unwrap_or_else(|| panic!("no url in {line:?}"))
            .to_string();
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        BrokerProcess { child, url, port }
    }

    /// SIGKILL: no shutdown path runs.
    fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn read_all(url: &str, t: &str) -> Vec<String> {
    let c = common::client(url).await;
    let mut r = within(
        "reader",
        c.reader()
            .with_topic(t)
            .with_options(
                ConsumerOptions::default()
                    .durable(false)
                    .with_initial_position(InitialPosition::Earliest),
            )
            .into_reader::<String>(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), r.next()).await {
        out.push(String::from_utf8(m.payload.data.clone()).unwrap());
    }
    out
}

async fn burst_then_kill(fsync: &str) {
    let dir = tempfile::tempdir().unwrap();
    let b = BrokerProcess::start(dir.path(), 0, fsync);
    let t = topic("burst");
    let c = common::client(&b.url).await;
    let mut p = within("producer", c.producer().with_topic(&t).build())
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sender = tokio::spawn(async move {
        // Bounded in flight, like a real producer's pending queue.
        let window = std::sync::Arc::new(tokio::sync::Semaphore::new(500));
        for i in 0..100_000u32 {
            let Ok(permit) = window.clone().acquire_owned().await else {
                break;
            };
            // pulsar-rs answers SlowDown when its own queue is full: wait and retry.
            let mut tries = 0;
            let f = loop {
                match p.send_non_blocking(format!("m{i}")).await {
                    Ok(f) => break Some(f),
                    Err(e) if e.to_string().contains("SlowDown") && tries < 1000 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    Err(_) => break None,
                }
            };
            let Some(f) = f else { break };
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(r) = f.await {
                    let _ = tx.send((i, r.message_id.map_or(0, |m| m.entry_id)));
                }
                drop(permit);
            });
        }
    });
    let mut receipted = HashSet::new();
    while receipted.len() < 500 {
        let (i, _) = within("receipts", rx.recv()).await.unwrap();
        receipted.insert(format!("m{i}"));
    }
    b.kill9();
    // Receipts already in flight when the process died still count.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok((i, _)) = rx.try_recv() {
        receipted.insert(format!("m{i}"));
    }
    sender.abort();
    drop(c);
    let b = BrokerProcess::start(dir.path(), 0, fsync);
    let stored = read_all(&b.url, &t).await;
    let stored_set: HashSet<_> = stored.iter().cloned().collect();
    let missing: Vec<_> = receipted.difference(&stored_set).collect();
    assert!(
        missing.is_empty(),
        "{} receipted messages lost, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    // Stored order is send order.
    let idx: Vec<u32> = stored.iter().map(|s| s[1..].parse().unwrap()).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "order kept");
    assert!(stored.len() >= receipted.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_burst_keeps_every_receipted_message_grouped_fsync() {
    burst_then_kill("grouped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_burst_keeps_every_receipted_message_fsync_per_entry() {
    burst_then_kill("every").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_consumption_loses_no_acknowledged_message_and_consumer_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let b = BrokerProcess::start(dir.path(), 0, "grouped");
    let port = b.port;
    let t = topic("resume");
    let c = common::client(&b.url).await;
    let mut p = within("producer", c.producer().with_topic(&t).build())
        .await
        .unwrap();
    for i in 0..100 {
        within("send", p.send_non_blocking(format!("m{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut cons = within(
        "consumer",
        c.consumer()
            .with_topic(&t)
            .with_subscription("s")
            .with_subscription_type(SubType::Exclusive)
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build::<String>(),
    )
    .await
    .unwrap();
    let mut acked = Vec::new();
    for _ in 0..40 {
        let m = within("next", cons.next()).await.unwrap().unwrap();
        cons.ack(&m).await.unwrap();
        acked.push(String::from_utf8(m.payload.data.clone()).unwrap());
    }
    // Acks carry no receipt in pulsar-rs: give the broker a moment to apply them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.kill9();
    let _b = BrokerProcess::start(dir.path(), port, "grouped");
    // The same consumer reconnects by itself and continues after the acknowledged ones.
    let mut rest = HashSet::new();
    while rest.len() < 60 {
        let m = within("after restart", cons.next()).await.unwrap().unwrap();
        let body = String::from_utf8(m.payload.data.clone()).unwrap();
        assert!(
            !acked.contains(&body),
            "acknowledged {body} came back after restart"
        );
        cons.ack(&m).await.unwrap();
        rest.insert(body);
    }
    let expected: HashSet<String> = (40..100).map(|i| format!("m{i}")).collect();
    assert_eq!(rest, expected);
}

/// The python script prints one line per receipt; the C++ core logs to stdout too.
fn is_message(line: &str) -> bool {
    let l = line.trim();
    l.len() > 1 && l.starts_with('m') && l[1..].bytes().all(|b| b.is_ascii_digit())
}

fn python() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/setup-venv.sh");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("setup-venv.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_kill9_during_burst_keeps_every_receipted_message() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let b = BrokerProcess::start(dir.path(), 0, "grouped");
    let t = topic("py-burst");
    let mut child = tokio::process::Command::new(&py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/scenarios.py"
        ))
        .args(["produce_burst", &b.url, &t, "50000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut receipted = HashSet::new();
    let mut line = String::new();
    while receipted.len() < 300 {
        line.clear();
        use tokio::io::AsyncBufReadExt;
        let n = within("python receipts", lines.read_line(&mut line))
            .await
            .unwrap();
        assert!(n > 0, "python producer ended early");
        if is_message(&line) {
            receipted.insert(line.trim().to_string());
        }
    }
    b.kill9();
    // Collect what the client printed for receipts that arrived before the kill.
    let mut rest = String::new();
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(Duration::from_secs(8), lines.read_to_string(&mut rest)).await;
    let _ = child.kill().await;
    receipted.extend(
        rest.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| is_message(l)),
    );
    let b = BrokerProcess::start(dir.path(), 0, "grouped");
    let stored: HashSet<String> = read_all(&b.url, &t).await.into_iter().collect();
    let missing: Vec<_> = receipted.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} of {} receipted messages lost (stored {}), e.g. {:?}",
        missing.len(),
        receipted.len(),
        stored.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_consumer_resumes_across_restart() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let b = BrokerProcess::start(dir.path(), 0, "grouped");
    let port = b.port;
    let t = topic("py-resume");
    let c = common::client(&b.url).await;
    let mut p = within("producer", c.producer().with_topic(&t).build())
        .await
        .unwrap();
    for i in 0..30 {
        within("send", p.send_non_blocking(format!("m{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut child = tokio::process::Command::new(&py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/scenarios.py"
        ))
        .args(["consume_resume", &b.url, &t, "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut got = 0;
    use tokio::io::AsyncBufReadExt;
    while got < 30 {
        line.clear();
        within("python consumes", lines.read_line(&mut line))
            .await
            .unwrap();
        got += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.kill9();
    drop(p);
    drop(c);
    let b = BrokerProcess::start(dir.path(), port, "grouped");
    let c = common::client(&b.url).await;
    let mut p = within("producer", c.producer().with_topic(&t).build())
        .await
        .unwrap();
    for i in 30..60 {
        within("send", p.send_non_blocking(format!("m{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("python finishes")
        .unwrap();
    assert!(
        out.status.success(),
        "python consumer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
