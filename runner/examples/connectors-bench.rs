//! Connector figures on the embedded broker, each beside its floor: datagen's maximum publish
//! rate (`rate: 0`) beside a bare pulsar-rs producer publishing the same payloads, and the
//! log sink's drain rate beside a bare pulsar-rs consumer acking the same backlog.
//! In-process, as `fmesh run` runs them. Build with `--release`.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use fmesh_runner::{Connection, InstanceConfig, InstanceIdentity, spec};
use futures::StreamExt;
use pulsar::consumer::{ConsumerOptions, InitialPosition};
use pulsar::{Pulsar, SubType, TokioExecutor, producer};

#[derive(Debug, Parser)]
#[command(name = "connectors-bench")]
struct Args {
    /// Messages per run.
    #[arg(long, default_value_t = 50_000)]
    messages: u64,
    /// Runs per scenario (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let broker = fmesh_broker::start(fmesh_broker::BrokerConfig::for_tests(
        scratch.path().join("broker"),
    ))
    .await
    .context("broker")?;
    let url = broker.service_url();
    let pulsar: Pulsar<TokioExecutor> = Pulsar::builder(&url, TokioExecutor).build().await?;
    let n = args.messages;
    let mut rows = Vec::new();
    let mut floor_pub = Vec::new();
    let mut datagen = Vec::new();
    let mut floor_sub = Vec::new();
    let mut log_sink = Vec::new();
    for run in 0..args.runs {
        floor_pub.push(publish_floor(&pulsar, &format!("floor-{run}"), n).await?);
        datagen.push(datagen_run(&url, &format!("gen-{run}"), n).await?);
        floor_sub.push(consume_floor(&pulsar, &format!("floor-{run}"), n).await?);
        log_sink.push(log_sink_run(&url, &format!("gen-{run}"), n).await?);
    }
    rows.push((
        "publish floor (pulsar-rs producer, same payloads)",
        median(floor_pub),
    ));
    rows.push(("datagen source (rate: 0)", median(datagen)));
    rows.push((
        "consume floor (pulsar-rs consumer, acking)",
        median(floor_sub),
    ));
    rows.push(("log sink (level debug, filtered out)", median(log_sink)));
    println!("{n} messages per run, median of {} runs", args.runs);
    println!("| scenario | msg/s |");
    println!("|---|---|");
    for (name, rate) in rows {
        println!("| {name} | {rate:.0} |");
    }
    broker.shutdown();
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn payload(seq: u64) -> Vec<u8> {
    format!("{{\"seq\": {seq}, \"source\": \"bench\"}}").into_bytes()
}

async fn publish_floor(pulsar: &Pulsar<TokioExecutor>, topic: &str, n: u64) -> anyhow::Result<f64> {
    let mut p = pulsar
        .producer()
        .with_topic(topic)
        .with_options(producer::ProducerOptions {
            block_queue_if_full: true,
            ..Default::default()
        })
        .build()
        .await?;
    let started = Instant::now();
    let mut receipts = futures::stream::FuturesUnordered::new();
    for seq in 0..n {
        let msg = producer::Message {
            payload: payload(seq),
            event_time: Some(1),
            ..Default::default()
        };
        receipts.push(p.send_non_blocking(msg).await?);
        while receipts.len() >= 2000 {
            receipts.next().await.context("receipt")??;
        }
    }
    while let Some(r) = receipts.next().await {
        r?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn datagen_run(url: &str, topic: &str, n: u64) -> anyhow::Result<f64> {
    let spec = serde_json::json!({"kind": "Source", "objectName": "bench", "output": {"topic": topic},
        "builtin": {"name": "datagen"}, "sourceConfig": {"rate": 0, "count": n, "template": "{\"seq\": {{seq}}, \"source\": \"{{name}}\"}"}});
    let running = start(url, &spec.to_string()).await?;
    let started = Instant::now();
    while running.metrics.processed.get() < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    running.stop.cancel();
    running.wait().await?;
    Ok(rate)
}

async fn consume_floor(pulsar: &Pulsar<TokioExecutor>, topic: &str, n: u64) -> anyhow::Result<f64> {
    let mut c: pulsar::Consumer<Vec<u8>, TokioExecutor> = pulsar
        .consumer()
        .with_topic(topic)
        .with_subscription("floor")
        .with_subscription_type(SubType::Shared)
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Earliest))
        .build()
        .await?;
    let started = Instant::now();
    for _ in 0..n {
        let m = c.next().await.context("stream ended")??;
        c.ack(&m).await?;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    c.close().await?;
    Ok(rate)
}

async fn log_sink_run(url: &str, topic: &str, n: u64) -> anyhow::Result<f64> {
    let spec = serde_json::json!({"kind": "Sink", "objectName": "bench-log", "input": {"topics": [topic]},
        "subscriptionPosition": "earliest", "builtin": {"name": "log"}, "sinkConfig": {"level": "debug"}});
    let running = start(url, &spec.to_string()).await?;
    let started = Instant::now();
    while running.metrics.processed.get() < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    running.stop.cancel();
    running.wait().await?;
    Ok(rate)
}

async fn start(url: &str, spec_json: &str) -> anyhow::Result<fmesh_runner::RunningInstance> {
    let plan = spec::parse(spec_json, &|_| None)?;
    Ok(fmesh_runner::start_instance(InstanceConfig {
        plan,
        connection: Connection {
            url: url.to_string(),
            ..Connection::default()
        },
        identity: InstanceIdentity {
            instance_id: 0,
            instance_count: 1,
        },
        metrics_addr: None,
        drain_timeout: Duration::from_secs(10),
    })
    .await?)
}
