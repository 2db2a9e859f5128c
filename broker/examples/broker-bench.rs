//! `broker-bench` (`cargo run --release -p fmesh-broker --example broker-bench`): loopback figures for the embedded broker with pulsar-rs,
//! beside the floors of this machine (raw TCP copy, the disk's own fsync rate).
//!
//! Usage: `broker-bench [--secs N] [--dir DIR]` (an in-process broker per fsync policy).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use fmesh_broker::{BrokerConfig, FsyncPolicy};
use futures::StreamExt;
use pulsar::consumer::InitialPosition;
use pulsar::{ConsumerOptions, ProducerOptions, Pulsar, TokioExecutor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

const IN_FLIGHT: usize = 1000;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Publishes for `secs`; returns messages per second (receipts counted).
async fn publish(
    client: &Pulsar<TokioExecutor>,
    topic: &str,
    size: usize,
    batching: bool,
    secs: f64,
) -> anyhow::Result<(f64, u64)> {
    let opts = if batching {
        ProducerOptions {
            batch_size: Some(200),
            batch_timeout: Some(Duration::from_millis(2)),
            ..Default::default()
        }
    } else {
        ProducerOptions::default()
    };
    let mut p = client
        .producer()
        .with_topic(topic)
        .with_options(opts)
        .build()
        .await?;
    let body = vec![b'x'; size];
    let window = Arc::new(Semaphore::new(IN_FLIGHT));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        let permit = window.clone().acquire_owned().await?;
        let f = loop {
            match p.send_non_blocking(body.clone()).await {
                Ok(f) => break f,
                Err(e) if e.to_string().contains("SlowDown") => {
                    tokio::time::sleep(Duration::from_micros(200)).await
                }
                Err(e) => return Err(e.into()),
            }
        };
        let done = done.clone();
        tokio::spawn(async move {
            if f.await.is_ok() {
                done.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
    }
    if batching {
        p.send_batch().await?;
    }
    let _ = window.acquire_many(IN_FLIGHT as u32).await?;
    let n = done.load(Ordering::Relaxed);
    Ok((n as f64 / start.elapsed().as_secs_f64(), n))
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| {
        v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    (pct(0.50), pct(0.99))
}

/// Sends at `rate`/s for `secs`; returns (p50, p99) of publish→receive and of
/// send→receipt latency, in ms.
async fn latency(
    client: &Pulsar<TokioExecutor>,
    topic: &str,
    rate: u64,
    secs: f64,
) -> anyhow::Result<((f64, f64), (f64, f64))> {
    let mut cons = client
        .consumer()
        .with_topic(topic)
        .with_subscription("lat")
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Latest))
        .build::<Vec<u8>>()
        .await?;
    let total = (rate as f64 * secs) as usize;
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(total);
        while lat.len() < total {
            let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(10), cons.next()).await
            else {
                break;
            };
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&m.payload.data[..8]);
            lat.push((now_us().saturating_sub(u64::from_be_bytes(ts))) as f64 / 1000.0);
            let _ = cons.ack(&m).await;
        }
        lat
    });
    let mut p = client.producer().with_topic(topic).build().await?;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let receipts = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total)));
    let mut waiters = Vec::with_capacity(total);
    for _ in 0..total {
        tick.tick().await;
        let sent = now_us();
        let mut body = sent.to_be_bytes().to_vec();
        body.resize(1024, b'x');
        let f = p.send_non_blocking(body).await?;
        let receipts = receipts.clone();
        waiters.push(tokio::spawn(async move {
            if f.await.is_ok() {
                let ms = now_us().saturating_sub(sent) as f64 / 1000.0;
                receipts.lock().unwrap_or_else(|e| e.into_inner()).push(ms);
            }
        }));
    }
    for w in waiters {
        w.await?;
    }
    let e2e = percentiles(reader.await?);
    let receipt = percentiles(std::mem::take(
        &mut *receipts.lock().unwrap_or_else(|e| e.into_inner()),
    ));
    Ok((e2e, receipt))
}

/// Consumes `n` pre-published messages from the start; returns messages per second.
async fn consume(client: &Pulsar<TokioExecutor>, topic: &str, n: u64) -> anyhow::Result<f64> {
    let mut cons = client
        .consumer()
        .with_topic(topic)
        .with_subscription("drain")
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Earliest))
        .with_batch_size(1000)
        .build::<Vec<u8>>()
        .await?;
    let start = Instant::now();
    let mut got = 0;
    while got < n {
        let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(10), cons.next()).await
        else {
            break;
        };
        cons.ack(&m).await?;
        got += 1;
    }
    Ok(got as f64 / start.elapsed().as_secs_f64())
}

/// Floor: the same bytes over a loopback TCP socket, no broker.
async fn tcp_floor(size: usize, secs: f64) -> anyhow::Result<f64> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let sink = tokio::spawn(async move {
        let (mut s, _) = l.accept().await?;
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return anyhow::Ok(total);
            }
            total += n as u64;
        }
    });
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let msg = vec![b'x'; size];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..64 {
            s.write_all(&msg).await?;
            n += 1;
        }
    }
    s.shutdown().await?;
    drop(s);
    sink.await??;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Floor: 1 KiB appends with fdatasync after each, on the data directory's disk.
fn fsync_floor(dir: &std::path::Path, secs: f64) -> anyhow::Result<(f64, (f64, f64))> {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let block = vec![0u8; 1024];
    let start = Instant::now();
    let mut lat = Vec::new();
    while start.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    std::fs::remove_file(&path)?;
    let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
    Ok((rate, percentiles(lat)))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let secs: f64 = arg("--secs").map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let base = match arg("--dir") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir(),
    };
    let root = tempfile::Builder::new()
        .prefix("fmesh-bench-")
        .tempdir_in(&base)
        .context("bench dir")?;
    println!(
        "fmesh-broker-bench: {secs}s per figure, data under {}",
        root.path().display()
    );
    println!(
        "floor  raw TCP loopback 1 KiB : {:>10.0} msg/s",
        tcp_floor(1024, secs).await?
    );
    println!(
        "floor  raw TCP loopback 100 B : {:>10.0} msg/s",
        tcp_floor(100, secs).await?
    );
    let (fs_rate, (fs50, fs99)) = fsync_floor(root.path(), secs)?;
    println!(
        "floor  disk append+fdatasync (1 KiB): {fs_rate:>10.0} /s  (p50 {fs50:.3} ms  p99 {fs99:.3} ms)"
    );
    for policy in [FsyncPolicy::EveryEntry, FsyncPolicy::Grouped] {
        let name = if policy == FsyncPolicy::EveryEntry {
            "every"
        } else {
            "grouped"
        };
        let mut cfg = BrokerConfig::for_tests(root.path().join(name));
        cfg.fsync = policy;
        cfg.admin_listen = None;
        let b = fmesh_broker::start(cfg).await?;
        let client = Pulsar::builder(b.service_url(), TokioExecutor)
            .build()
            .await?;
        for (size, label) in [(1024, "1 KiB"), (100, "100 B")] {
            for batching in [false, true] {
                let t = format!("pub-{size}-{batching}");
                let (rate, _) = publish(&client, &t, size, batching, secs).await?;
                println!(
                    "fsync={name:<7} publish {label} batching={:<3}: {rate:>10.0} msg/s  {:>7.1} MiB/s",
                    if batching { "on" } else { "off" },
                    rate * size as f64 / 1048576.0
                );
            }
        }
        let ((p50, p99), (r50, r99)) = latency(&client, "latency", 1000, secs).await?;
        println!(
            "fsync={name:<7} e2e latency 1 KiB @1000/s : p50 {p50:.2} ms  p99 {p99:.2} ms (send→receipt p50 {r50:.2} p99 {r99:.2})"
        );
        let (_, n) = publish(&client, "drain", 1024, true, secs).await?;
        let rate = consume(&client, "drain", n).await?;
        println!("fsync={name:<7} consume 1 KiB ({n} msgs)     : {rate:>10.0} msg/s");
        b.shutdown();
    }
    Ok(())
}
