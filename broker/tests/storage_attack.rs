//! Attacks on the stored files and the disk: bytes flipped in segments and
//! cursors, a disk filled to the last byte mid-stream. After each, what is
//! read back is compared with what was acknowledged (receipts returned).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::process::BrokerProcess;
use common::{topic, within};
use futures::StreamExt;
use pulsar::consumer::InitialPosition;
use pulsar::{ConsumerOptions, SubType};

/// Small deterministic generator (xorshift), seeded per test and printed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("ATTACK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

fn body(i: usize) -> String {
    format!("m{i:05}-{}", "x".repeat(90))
}

/// Sends `range` one window at a time; returns the payloads whose receipt came back.
async fn produce(url: &str, t: &str, range: std::ops::Range<usize>) -> BTreeSet<String> {
    let c = common::client(url).await;
    let mut p = within("producer", c.producer().with_topic(t).build())
        .await
        .unwrap();
    let mut acked = BTreeSet::new();
    let ids: Vec<usize> = range.collect();
    for chunk in ids.chunks(50) {
        let mut futs = Vec::new();
        for i in chunk {
            // pulsar-rs answers SlowDown when its own queue is full: wait and retry.
            let f = loop {
                match p.send_non_blocking(body(*i)).await {
                    Ok(f) => break Some(f),
                    Err(e) if e.to_string().contains("SlowDown") => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(_) => break None,
                }
            };
            futs.extend(f.map(|f| (*i, f)));
        }
        for (i, f) in futs {
            if within("receipt", f).await.is_ok() {
                acked.insert(body(i));
            }
        }
    }
    acked
}

/// Everything a non-durable reader gets from the earliest entry.
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

/// Receives from durable subscription `sub`, acknowledging the first `ack` messages
/// (waiting until that is on disk); returns what was received.
async fn consume(url: &str, t: &str, sub: &str, ack: usize, dir: &Path) -> Vec<String> {
    let c = common::client(url).await;
    let mut cons: pulsar::Consumer<String, _> = within(
        "consumer",
        c.consumer()
            .with_topic(t)
            .with_subscription(sub)
            .with_subscription_type(SubType::Exclusive)
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), cons.next()).await {
        if out.len() < ack {
            cons.ack(&m).await.unwrap();
        }
        out.push(String::from_utf8(m.payload.data.clone()).unwrap());
        if ack > 0 && out.len() == ack {
            break;
        }
    }
    if ack > 0 {
        let cursors = topic_dir(dir, t).join("cursors");
        within("acks on disk", async {
            loop {
                let on_disk = fmesh_broker::storage::cursor::load_all(&cursors).unwrap();
                if on_disk
                    .iter()
                    .any(|(s, c, _)| s == sub && c.mark_delete >= ack as u64)
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    out
}

fn topic_dir(data: &Path, t: &str) -> PathBuf {
    let name = t.trim_start_matches("persistent://");
    data.join("topics").join(name)
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn flip(path: &Path, offset: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[offset as usize] ^= 0x5a;
    std::fs::write(path, b).unwrap();
}

async fn damage_stats(b: &BrokerProcess, t: &str) -> serde_json::Value {
    let path = format!(
        "/admin/v2/persistent/{}/stats",
        t.trim_start_matches("persistent://")
    );
    let (status, body) = common::http::request(b.admin_addr(), "GET", &path, &[], b"").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["storageDamage"].clone()
}

const SEGMENT_BYTES: &str = "40000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flipped_byte_in_segment_two_of_twelve_costs_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let t = topic("flip-one");
    let b = BrokerProcess::start(dir.path(), &["--segment-bytes", SEGMENT_BYTES]);
    let acked = produce(&b.url, &t, 0..3000).await;
    b.kill9();
    let ledger = topic_dir(dir.path(), &t).join("ledger");
    let segs = files(&ledger, "seg");
    assert!(segs.len() >= 10, "{} segments", segs.len());
    let len = std::fs::metadata(&segs[1]).unwrap().len();
    flip(&segs[1], len / 2);
    let b = BrokerProcess::start(dir.path(), &["--segment-bytes", SEGMENT_BYTES]);
    let read = read_all(&b.url, &t).await;
    let read_set: HashSet<&String> = read.iter().collect();
    let missing = acked.iter().filter(|m| !read_set.contains(m)).count();
    println!(
        "one flip in segment 2 of {}: acknowledged {} read back {} missing {missing}",
        segs.len(),
        acked.len(),
        read.len()
    );
    assert!(
        read.iter().all(|m| acked.contains(m)),
        "only acknowledged messages"
    );
    assert_eq!(read.len(), read_set.len(), "no duplicates");
    assert!(
        missing <= 1,
        "one damaged record costs at most one entry, {missing} lost"
    );
    assert_eq!(
        files(&ledger, "seg").len(),
        segs.len(),
        "no segment deleted"
    );
    let dmg = damage_stats(&b, &t).await;
    assert_eq!(dmg["lostEntries"].as_u64(), Some(missing as u64), "{dmg}");
    assert!(
        dmg["segments"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with(&*segs[1].file_name().unwrap().to_string_lossy()),
        "{dmg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_flips_in_every_segment_and_cursor_lose_only_the_hit_records() {
    let seed = seed();
    println!("ATTACK_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let t = topic("flip-many");
    let b = BrokerProcess::start(dir.path(), &["--segment-bytes", SEGMENT_BYTES]);
    let acked = produce(&b.url, &t, 0..3000).await;
    let first = consume(&b.url, &t, "s", 1500, dir.path()).await;
    assert_eq!(first.len(), 1500);
    b.kill9();
    let tdir = topic_dir(dir.path(), &t);
    let segs = files(&tdir.join("ledger"), "seg");
    const PER_SEGMENT: u64 = 3;
    for s in &segs {
        let len = std::fs::metadata(s).unwrap().len();
        for _ in 0..PER_SEGMENT {
            flip(s, rng.below(len));
        }
    }
    for c in files(&tdir.join("cursors"), "cursor") {
        let len = std::fs::metadata(&c).unwrap().len();
        flip(&c, rng.below(len));
    }
    let b = BrokerProcess::start(dir.path(), &["--segment-bytes", SEGMENT_BYTES]);
    let read = read_all(&b.url, &t).await;
    let read_set: HashSet<&String> = read.iter().collect();
    let missing: Vec<&String> = acked.iter().filter(|m| !read_set.contains(m)).collect();
    let bound = PER_SEGMENT as usize * segs.len();
    println!(
        "{} flips over {} segments + 1 per cursor: acknowledged {} read back {} missing {}",
        bound,
        segs.len(),
        acked.len(),
        read.len(),
        missing.len()
    );
    assert!(
        read.iter().all(|m| acked.contains(m)),
        "only acknowledged messages"
    );
    assert!(
        missing.len() <= bound,
        "each flip costs at most one entry: {} lost",
        missing.len()
    );
    let dmg = damage_stats(&b, &t).await;
    // A flip in the last record of the last segment looks like a torn write:
    // recovery cuts it off without knowing it was acknowledged, so it is
    // reported as a truncated tail rather than as lost ids.
    let last_read = read.iter().max();
    let cut_tail = missing.iter().filter(|m| Some(**m) > last_read).count();
    let tail_reported = dmg["segments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["truncatedTail"] == true);
    assert!(
        cut_tail == 0 || tail_reported,
        "{cut_tail} cut off unreported: {dmg}"
    );
    assert_eq!(
        dmg["lostEntries"].as_u64(),
        Some((missing.len() - cut_tail) as u64),
        "{dmg}"
    );
    // The subscription never skips a stored message it had not acknowledged.
    let acked_by_sub: HashSet<&String> = first.iter().collect();
    let delivered = consume(&b.url, &t, "s", 0, dir.path()).await;
    let delivered: HashSet<&String> = delivered.iter().collect();
    let skipped: Vec<&&String> = read_set
        .iter()
        .filter(|m| !acked_by_sub.contains(**m) && !delivered.contains(**m))
        .collect();
    println!(
        "subscription after a cursor flip: {} delivered again ({} were acknowledged before), {} skipped",
        delivered.len(),
        delivered
            .iter()
            .filter(|m| acked_by_sub.contains(**m))
            .count(),
        skipped.len()
    );
    assert!(
        skipped.is_empty(),
        "unacknowledged messages skipped: {skipped:?}"
    );
}

/// A tmpfs of `size` mounted on a fresh directory (None when mounting is not allowed here).
struct Tmpfs(tempfile::TempDir);
impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// Fills the filesystem of `path` to the last byte; returns the filler file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    for chunk in [65536usize, 4096, 1] {
        let buf = vec![0u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    path
}

/// A 2 KB payload: on a full tmpfs even the slack of the last page takes only one.
fn big_body(i: usize) -> String {
    format!("m{i:05}-{}", "y".repeat(2000))
}

/// Sends `range` one at a time; (receipted payloads, sends that failed).
async fn produce_one_by_one(
    url: &str,
    t: &str,
    range: std::ops::Range<usize>,
) -> (BTreeSet<String>, usize) {
    let c = common::client(url).await;
    let mut p = None;
    let (mut acked, mut failed) = (BTreeSet::new(), 0);
    for i in range {
        if p.is_none() {
            p = tokio::time::timeout(Duration::from_secs(10), c.producer().with_topic(t).build())
                .await
                .ok()
                .and_then(Result::ok);
        }
        let Some(prod) = p.as_mut() else {
            failed += 1;
            continue;
        };
        let sent = async {
            let f = prod.send_non_blocking(big_body(i)).await?;
            f.await
        };
        // Clients retry a send the broker refused (they reconnect and resend) until their
        // send timeout: a bounded wait stands for that timeout here.
        match tokio::time::timeout(Duration::from_secs(2), sent).await {
            Ok(Ok(_)) => {
                acked.insert(big_body(i));
            }
            Ok(Err(_)) => failed += 1,
            Err(_) => {
                failed += 1;
                p = None;
            }
        }
    }
    (acked, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_sends_and_every_receipt_survives_a_restart() {
    let Some(fs) = Tmpfs::mount("4m") else {
        println!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let data = fs.0.path().join("data");
    let t = topic("full-disk");
    let b = BrokerProcess::start(&data, &[]);
    let (mut acked, _) = produce_one_by_one(&b.url, &t, 0..200).await;
    let filler = fill(fs.0.path());
    let (during, failed) = produce_one_by_one(&b.url, &t, 200..220).await;
    std::fs::remove_file(&filler).unwrap();
    let (after, failed_after) = produce_one_by_one(&b.url, &t, 220..420).await;
    let live = read_all(&b.url, &t).await;
    b.kill9();
    let b = BrokerProcess::start(&data, &[]);
    let restarted = read_all(&b.url, &t).await;
    let stats = damage_stats(&b, &t).await;
    println!("damage after restart: {stats}");
    println!(
        "full disk: 200 sends before; while full {} receipts, {failed} errors; after freeing {} receipts, {failed_after} errors; \
         read back live {}, after restart {}",
        during.len(),
        after.len(),
        live.len(),
        restarted.len()
    );
    assert!(failed > 0, "sends fail while the disk is full");
    assert!(after.len() >= 190, "sends succeed once space returns");
    acked.extend(during);
    acked.extend(after);
    for (what, read) in [("live", &live), ("after restart", &restarted)] {
        let read: HashSet<&String> = read.iter().collect();
        let missing: Vec<&String> = acked.iter().filter(|m| !read.contains(m)).collect();
        assert!(
            missing.is_empty(),
            "{what}: {} receipted messages unreadable, first {:?}",
            missing.len(),
            missing.first()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_batches_survive_random_flips_in_every_segment() {
    let seed = seed();
    println!("ATTACK_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let t = topic("flip-official");
    let b = BrokerProcess::start(dir.path(), &["--segment-bytes", "20000"]);
    let (url, tc) = (b.url.clone(), t.clone());
    let acked: BTreeSet<String> = tokio::task::spawn_blocking(move || {
        common::py::lines("produce_print", &url, &tc, &["3000"], "ACK")
    })
    .await
    .unwrap()
    .into_iter()
    .collect();
    b.kill9();
    let segs = files(&topic_dir(dir.path(), &t).join("ledger"), "seg");
    for s in &segs {
        let len = std::fs::metadata(s).unwrap().len();
        flip(s, rng.below(len));
    }
    let b = BrokerProcess::start(dir.path(), &["--segment-bytes", "20000"]);
    let (url, tc) = (b.url.clone(), t.clone());
    let read = tokio::task::spawn_blocking(move || {
        common::py::lines("read_print", &url, &tc, &[], "READ")
    })
    .await
    .unwrap();
    let read_set: HashSet<&String> = read.iter().collect();
    let missing = acked.iter().filter(|m| !read_set.contains(m)).count();
    // A flip costs at most one entry, and an entry here is a batch of up to 20 messages.
    let bound = 20 * segs.len();
    println!(
        "official client, batches of <= 20, one flip in each of {} segments: acknowledged {} read back {} missing {missing}",
        segs.len(),
        acked.len(),
        read.len()
    );
    assert_eq!(acked.len(), 3000);
    assert!(
        read.iter().all(|m| acked.contains(m)),
        "only acknowledged messages"
    );
    let dmg = damage_stats(&b, &t).await;
    assert!(
        missing <= bound,
        "{missing} lost, at most {bound} expected: {dmg}"
    );
    assert!(
        dmg["lostEntries"].as_u64().unwrap() <= segs.len() as u64,
        "{dmg}"
    );
}
