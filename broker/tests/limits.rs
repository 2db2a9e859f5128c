//! Abuse on the binary protocol while a well-behaved producer/consumer pair
//! is measured alongside: a client that never reads its replies, frames too
//! large before Connect, half-sent frames, more connections than allowed.

mod common;

use std::time::{Duration, Instant};

use common::{broker, topic, within};
use fmesh_broker::codec::{Frame, FrameCodec, base};
use futures::{SinkExt, StreamExt};
use pulsar::proto::{CommandConnect, CommandPing, base_command::Type};
use pulsar::{ConsumerOptions, SubType, consumer::InitialPosition};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

fn connect_frame() -> Frame {
    let mut c = base(Type::Connect);
    c.connect = Some(CommandConnect {
        client_version: "abuse".into(),
        protocol_version: Some(21),
        ..Default::default()
    });
    Frame::command(c)
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// Sends `n` messages one at a time and returns each send-to-receive latency.
async fn well_behaved_pair(url: &str, t: &str, n: usize) -> Vec<Duration> {
    let c = common::client(url).await;
    let mut cons: pulsar::Consumer<String, _> = within(
        "consumer",
        c.consumer()
            .with_topic(t)
            .with_subscription("ok")
            .with_subscription_type(SubType::Exclusive)
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build(),
    )
    .await
    .unwrap();
    let mut p = within("producer", c.producer().with_topic(t).build())
        .await
        .unwrap();
    let mut lat = Vec::new();
    for i in 0..n {
        let start = Instant::now();
        within(
            "send",
            p.send_non_blocking(format!("ok-{i}")).await.unwrap(),
        )
        .await
        .unwrap();
        let m = within("receive", cons.next()).await.unwrap().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&m.payload.data),
            format!("ok-{i}"),
            "nothing lost, in order"
        );
        cons.ack(&m).await.unwrap();
        lat.push(start.elapsed());
    }
    lat
}

fn summary(mut lat: Vec<Duration>) -> (Duration, Duration) {
    lat.sort();
    (lat[lat.len() / 2], *lat.last().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_pongs_holds_bounded_memory() {
    // The broker runs as its own process so its memory is measured alone.
    let dir = tempfile::tempdir().unwrap();
    let b = common::process::BrokerProcess::start(dir.path(), &[]);
    let addr: std::net::SocketAddr = b.url.trim_start_matches("pulsar://").parse().unwrap();
    let before = b.rss_bytes();
    let mut floods = Vec::new();
    for _ in 0..4 {
        floods.push(tokio::spawn(async move {
            let mut s = Framed::new(
                TcpStream::connect(addr).await.unwrap(),
                FrameCodec::new(1 << 20),
            );
            s.send(connect_frame()).await.unwrap();
            let mut ping = base(Type::Ping);
            ping.ping = Some(CommandPing {});
            let mut enc = FrameCodec::new(1 << 20);
            let mut raw = bytes::BytesMut::new();
            for _ in 0..8192 {
                tokio_util::codec::Encoder::encode(
                    &mut enc,
                    Frame::command(ping.clone()),
                    &mut raw,
                )
                .unwrap();
            }
            let mut sock = s.into_inner();
            let mut sent = 0u64;
            // Never reads: the broker must stop reading this socket, so these writes block.
            let deadline = Instant::now() + Duration::from_secs(8);
            while Instant::now() < deadline {
                match tokio::time::timeout(Duration::from_millis(200), sock.write_all(&raw)).await {
                    Ok(Ok(())) => sent += raw.len() as u64,
                    Ok(Err(_)) => break,
                    Err(_) => {}
                }
            }
            (sent, sock)
        }));
    }
    let lat = well_behaved_pair(&b.url, &topic("beside-pings"), 200).await;
    let mut sent = 0;
    let mut socks = Vec::new();
    for f in floods {
        let (n, s) = f.await.unwrap();
        sent += n;
        socks.push(s);
    }
    let grown = b.rss_bytes().saturating_sub(before);
    let (p50, max) = summary(lat);
    println!(
        "ping flood: {} MiB of PINGs written by 4 clients that never read; broker grew {} MiB; \
         well-behaved pair beside it: 200/200 messages, latency p50 {p50:?} max {max:?}",
        sent >> 20,
        grown >> 20
    );
    assert!(grown < 64 << 20, "memory grew by {} MiB", grown >> 20);
    assert!(max < Duration::from_secs(5), "latency bounded: {max:?}");
    drop(socks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_frame_before_connect_is_refused_at_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |_| {}).await;
    let before = rss_bytes();
    let mut socks = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(b.addr).await.unwrap();
        // A header announcing 5.3 MB, then 1 MB of it: the old broker buffered it all per connection.
        s.write_all(&(5_300_000u32).to_be_bytes()).await.unwrap();
        let _ = s.write_all(&vec![0u8; 1 << 20]).await;
        socks.push(s);
    }
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "300 connections each announcing a 5.3 MB frame before Connect: broker grew {} MiB",
        grown >> 20
    );
    let mut s = socks.pop().unwrap();
    let mut buf = vec![0u8; 4096];
    let n = within("refused", async {
        let mut got = Vec::new();
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&n);
    assert!(
        text.contains("65536"),
        "the error names the limit: {text:?}"
    );
    assert!(grown < 200 << 20, "memory grew by {} MiB", grown >> 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_frame_is_dropped_after_the_frame_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |c| c.frame_timeout = Duration::from_millis(500)).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    s.write_all(&100u32.to_be_bytes()).await.unwrap();
    s.write_all(&[0u8; 10]).await.unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    within("closed", s.read_to_end(&mut got)).await.unwrap();
    let text = String::from_utf8_lossy(&got);
    println!("half-sent frame closed after {:?}", start.elapsed());
    assert!(
        text.contains("frame_timeout"),
        "the error names the setting: {text:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |c| c.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut f = Framed::new(
            TcpStream::connect(b.addr).await.unwrap(),
            FrameCodec::new(1 << 20),
        );
        f.send(connect_frame()).await.unwrap();
        assert!(
            within("connected", f.next())
                .await
                .unwrap()
                .unwrap()
                .command
                .connected
                .is_some()
        );
        held.push(f);
    }
    let mut f = Framed::new(
        TcpStream::connect(b.addr).await.unwrap(),
        FrameCodec::new(1 << 20),
    );
    let _ = f.send(connect_frame()).await;
    let e = within("refused", f.next()).await.unwrap().unwrap();
    let msg = e.command.error.expect("an Error").message;
    assert!(msg.contains("max_connections = 3"), "{msg}");
    drop(held.pop());
    // A slot freed: the next client gets in.
    let got_in = within("slot freed", async {
        loop {
            let mut f = Framed::new(
                TcpStream::connect(b.addr).await.unwrap(),
                FrameCodec::new(1 << 20),
            );
            let _ = f.send(connect_frame()).await;
            if let Some(Ok(r)) = f.next().await
                && r.command.connected.is_some()
            {
                break true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(got_in);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_topics_close_their_files_and_reopen_with_their_data() {
    const TOPICS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let b = common::process::BrokerProcess::start(dir.path(), &["--topic-idle-close-secs", "1"]);
    let before = b.open_fds();
    let pulsar = common::client(&b.url).await;
    for i in 0..TOPICS {
        let mut p = within(
            "producer",
            pulsar
                .producer()
                .with_topic(topic(&format!("idle-{i}")))
                .build(),
        )
        .await
        .unwrap();
        within("send", async {
            p.send_non_blocking(format!("m{i}")).await.unwrap().await
        })
        .await
        .unwrap();
        p.close().await.unwrap();
    }
    let busy = b.open_fds();
    // Maintenance runs every 5 s; a topic unused for 1 s closes on the tick after.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut idle = busy;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        idle = b.open_fds();
        if idle < before + 20 {
            break;
        }
    }
    println!(
        "open fds: {before} at start, {busy} with {TOPICS} topics used, {idle} once they were idle"
    );
    assert!(
        busy >= before + TOPICS,
        "each open topic holds files ({busy} fds)"
    );
    assert!(
        idle < before + 20,
        "idle topics keep {idle} fds open (start: {before})"
    );
    // A closed topic is still listed, and reopens with what it stored.
    let (status, body) = common::http::request(
        b.admin_addr(),
        "GET",
        "/admin/v2/persistent/public/default",
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let listed: Vec<String> = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        listed.iter().filter(|t| t.contains("/idle-")).count(),
        TOPICS,
        "{listed:?}"
    );
    let mut c: pulsar::Consumer<String, _> = within(
        "consumer",
        pulsar
            .consumer()
            .with_topic(topic("idle-7"))
            .with_subscription("s")
            .with_options(ConsumerOptions {
                initial_position: InitialPosition::Earliest,
                ..Default::default()
            })
            .build(),
    )
    .await
    .unwrap();
    let m = within("message after reopening", c.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.deserialize().unwrap(), "m7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_accept_loop_backs_off_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let b = common::process::BrokerProcess::start(dir.path(), &[]);
    let addr: std::net::SocketAddr = b.url.trim_start_matches("pulsar://").parse().unwrap();
    b.limit_open_files(b.open_fds() + 4);
    // More clients than descriptors left: the kernel completes their handshakes,
    // accept() then fails with EMFILE while they wait in the backlog.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let logged_before = b.log_lines.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let logged = b.log_lines.load(std::sync::atomic::Ordering::Relaxed) - logged_before;
    println!("out of descriptors for 5 s: {logged} log lines");
    assert!(logged <= 30, "the accept loop logged {logged} lines in 5 s");
    drop(held);
    b.limit_open_files(1024);
    let connected = within("a client gets in once descriptors are free", async {
        loop {
            let mut f = Framed::new(
                TcpStream::connect(addr).await.unwrap(),
                FrameCodec::new(1 << 20),
            );
            let _ = f.send(connect_frame()).await;
            if let Ok(Some(Ok(r))) = tokio::time::timeout(Duration::from_secs(2), f.next()).await
                && r.command.connected.is_some()
            {
                break true;
            }
        }
    })
    .await;
    assert!(connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_uploads_and_downloads_stream_through_flat_memory() {
    const SIZE: usize = 128 << 20;
    let dir = tempfile::tempdir().unwrap();
    let b = common::process::BrokerProcess::start(dir.path(), &[]);
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 + i / 4093) as u8).collect();
    let (ctype, body) = common::http::multipart(&[("file", &data), ("metadata", b"{}")]);
    let url = "/admin/v3/packages/function/public/default/big/v1";
    let rss_before = b.peak_rss_bytes();
    let (status, resp) = common::http::request(
        b.admin_addr(),
        "POST",
        url,
        &[("Content-Type", &ctype)],
        &body,
    )
    .await;
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&resp));
    let rss_upload = b.peak_rss_bytes();
    let (status, got) = common::http::request(b.admin_addr(), "GET", url, &[], b"").await;
    let rss_download = b.peak_rss_bytes();
    assert_eq!(status, 200);
    assert!(
        got == data,
        "downloaded {} bytes differ from the {SIZE} uploaded",
        got.len()
    );
    let mib = |n: u64| n as f64 / f64::from(1 << 20);
    println!(
        "128 MiB package: broker peak RSS {:.0} MiB before, {:.0} after the upload, {:.0} after the download",
        mib(rss_before),
        mib(rss_upload),
        mib(rss_download)
    );
    let grew = rss_upload.max(rss_download).saturating_sub(rss_before);
    assert!(grew < 32 << 20, "the broker grew by {:.0} MiB", mib(grew));
    let staged: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert!(staged.is_empty(), "staged files left: {staged:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
