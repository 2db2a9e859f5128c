//! `fmesh run` as a user runs it: the binary, real brokers (its embedded one, or one started
//! here), messages counted on the topics with pulsar-rs consumers.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt as _;
use pulsar::consumer::{ConsumerOptions, InitialPosition};
use pulsar::{Consumer, Pulsar, SubType, TokioExecutor};

const STEP: Duration = Duration::from_secs(60);

fn fmesh() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fmesh"));
    c.env("RUST_LOG", "warn");
    c
}

fn guest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runner/tests/guests/functions.wat")
}

/// datagen → `export` of the test guest → `mid`; a log sink reads `mid` unless `sink` is false.
fn mesh(count: Option<u64>, rate: u32, export: &str, sink: bool) -> String {
    let count = count.map(|c| format!(", count: {c}")).unwrap_or_default();
    let sink = if sink {
        "  sinks:
    - name: print
      builtin: {name: log}
      input: {topics: [mid]}
      pulsar: {pulsarConfig: local}
"
    } else {
        ""
    };
    format!(
        "apiVersion: compute.functionmesh.io/v1alpha1
kind: FunctionMesh
metadata: {{name: demo}}
spec:
  sources:
    - name: gen
      builtin: {{name: datagen}}
      sourceConfig: {{rate: {rate}{count}}}
      output: {{topic: raw}}
      pulsar: {{pulsarConfig: local}}
  functions:
    - name: shout
      wasm: {{module: {}, export: {export}}}
      input: {{topics: [raw]}}
      output: {{topic: mid}}
      pulsar: {{pulsarConfig: local}}
{sink}",
        guest().display()
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write manifest");
    p
}

/// Runs to completion, killed after `STEP`.
fn output(mut cmd: Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fmesh runs");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(STEP) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("fmesh run did not finish within {STEP:?}");
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `processed` of the `[final]` line of `label`.
fn final_processed(stdout: &str, label: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("[final]") && l.split_whitespace().nth(1) == Some(label))
        .unwrap_or_else(|| panic!("no final line for {label} in:\n{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "processed")
        .expect("processed");
    words[at + 1].parse().expect("a count")
}

async fn client(url: &str) -> Pulsar<TokioExecutor> {
    Pulsar::builder(url, TokioExecutor)
        .build()
        .await
        .expect("client")
}

async fn subscribe(
    p: &Pulsar<TokioExecutor>,
    topic: &str,
    sub: &str,
) -> Consumer<Vec<u8>, TokioExecutor> {
    p.consumer()
        .with_topic(topic)
        .with_subscription(sub)
        .with_subscription_type(SubType::Shared)
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Earliest))
        .build()
        .await
        .expect("consumer")
}

/// Every message until the topic stays quiet for `quiet`.
async fn drain(c: &mut Consumer<Vec<u8>, TokioExecutor>, quiet: Duration) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(quiet, c.next()).await {
        c.ack(&m).await.expect("ack");
        out.push(text(&m.payload.data));
    }
    out
}

/// The `seq` of a datagen message, upper-cased by the guest or not.
fn seq(msg: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&msg.to_lowercase()).expect("json");
    v["seq"].as_u64().expect("seq")
}

async fn broker(dir: &Path) -> fmesh_broker::RunningBroker {
    fmesh_broker::start(fmesh_broker::BrokerConfig::for_tests(dir))
        .await
        .expect("broker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_runs_datagen_through_wasm_into_a_sink() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(&dir.path().join("broker")).await;
    let url = broker.service_url();
    let pulsar = client(&url).await;
    // Subscribed before the run, so every message the function writes is counted here.
    let mut watch = subscribe(&pulsar, "mid", "test-watch").await;
    let file = write(dir.path(), "mesh.yaml", &mesh(Some(40), 400, "upper", true));
    let mut cmd = fmesh();
    cmd.arg("run").arg(&file).args([
        "--pulsar-url",
        &url,
        "--messages",
        "40",
        "--status-interval-ms",
        "100",
    ]);
    let out = tokio::task::spawn_blocking(move || output(cmd))
        .await
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(final_processed(&stdout, "demo/gen"), 40, "{stdout}");
    assert_eq!(final_processed(&stdout, "demo/shout"), 40, "{stdout}");
    assert_eq!(final_processed(&stdout, "demo/print"), 40, "{stdout}");
    // Live lines came before the totals.
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("demo/shout") && l.ends_with("msg/s") && !l.starts_with("[final]"))
    );
    let got = drain(&mut watch, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 40, "{got:?}");
    assert!(
        got.iter()
            .all(|m| m.starts_with("{\"SEQ\":") && m.contains("\"GEN\"")),
        "{got:?}"
    );
    let seqs: BTreeSet<u64> = got.iter().map(|m| seq(m)).collect();
    assert_eq!(seqs, (0..40).collect());
}

#[test]
fn invalid_input_is_refused_with_validates_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let bad = mesh(Some(1), 1, "upper", true).replace(
        "    - name: shout\n",
        "    - name: shout\n      replicas: -1\n",
    );
    let file = write(dir.path(), "bad.yaml", &bad);
    let run = output({
        let mut c = fmesh();
        c.arg("run").arg(&file);
        c
    });
    let validate = output({
        let mut c = fmesh();
        c.arg("validate").arg(&file);
        c
    });
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    assert_eq!(validate.status.code(), Some(1));
    assert!(
        text(&run.stdout).contains("spec.functions[0].replicas"),
        "{}",
        text(&run.stdout)
    );
    assert_eq!(text(&run.stdout), text(&validate.stdout));
    assert!(
        text(&run.stderr).contains("not running"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn members_the_runner_cannot_run_are_named_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let java = mesh(Some(1), 1, "upper", true).replace(
        &format!(
            "      wasm: {{module: {}, export: upper}}\n",
            guest().display()
        ),
        "      className: org.example.Shout\n      java: {jar: shout.jar}\n",
    );
    let file = write(dir.path(), "java.yaml", &java);
    let run = output({
        let mut c = fmesh();
        c.arg("run").arg(&file);
        c
    });
    let stdout = text(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&run.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("spec.functions[0].java"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.starts_with(&format!("{}:", file.display())), "{line}");
    assert!(
        line.contains("FunctionMesh/demo") && line.contains("fmesh run cannot run this member"),
        "{line}"
    );
}

/// Ctrl-C stops the source, lets in-flight messages finish, exits 0: every message the function
/// counted as processed is on its output topic, and every input it did not process is still
/// waiting on its subscription, so nothing was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_drains_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = write(dir.path(), "mesh.yaml", &mesh(None, 300, "process", false));
    let mut child: Child = fmesh()
        .arg("run")
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .args(["--status-interval-ms", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fmesh runs");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let pid = child.id() as i32;
    let reader = tokio::task::spawn_blocking(move || {
        let mut seen = String::new();
        let mut signalled = false;
        for line in stdout.lines() {
            let line = line.expect("utf-8 line");
            seen.push_str(&line);
            seen.push('\n');
            let busy = line.contains("demo/shout")
                && !line.starts_with("[final]")
                && line
                    .split_whitespace()
                    .skip_while(|w| *w != "processed")
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n >= 100);
            if busy && !signalled {
                // SAFETY: kill(2) on our own child's pid.
                unsafe { libc::kill(pid, libc::SIGINT) };
                signalled = true;
            }
        }
        (seen, signalled)
    });
    let status = tokio::task::spawn_blocking(move || {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait()));
        rx.recv_timeout(STEP)
            .map_err(|_| unsafe { libc::kill(pid, libc::SIGKILL) })
    })
    .await
    .unwrap()
    .expect("exits after Ctrl-C")
    .unwrap();
    let (stdout, signalled) = reader.await.unwrap();
    assert!(signalled, "never busy:\n{stdout}");
    assert!(status.success(), "{status:?}\n{stdout}");
    let published = final_processed(&stdout, "demo/gen");
    let processed = final_processed(&stdout, "demo/shout");
    assert!(processed >= 100 && published >= processed, "{stdout}");

    // The data survives in --data-dir; read it back with a broker of our own.
    let broker = broker(&data).await;
    let pulsar = client(&broker.service_url()).await;
    let out = drain(
        &mut subscribe(&pulsar, "mid", "check").await,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(
        out.len() as u64,
        processed,
        "every processed message was written before exit"
    );
    let written: BTreeSet<u64> = out.iter().map(|m| seq(m)).collect();
    assert_eq!(written.len(), out.len(), "no duplicates");
    // The function's own subscription holds what it had not processed (redelivered, not lost).
    let left = drain(
        &mut subscribe(&pulsar, "raw", "public/default/shout").await,
        Duration::from_secs(2),
    )
    .await;
    let mut all = written;
    all.extend(left.iter().map(|m| seq(m)));
    assert_eq!(all, (0..published).collect(), "nothing lost");
}

/// The example mesh (`examples/mesh.yaml`, unchanged but for run-unique topic names) with
/// `fmesh run --pulsar-url` against fmesh-broker and against Apache Pulsar: every generated
/// order reaches the sink enriched, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_mesh_runs_against_an_external_broker() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let yaml = std::fs::read_to_string(examples.join("mesh.yaml")).expect("examples/mesh.yaml");
    for target in fmesh_broker::testing::targets().await {
        eprintln!("example mesh: against {}", target.name());
        let url = target.service_url();
        // Apache Pulsar keeps topics and subscriptions between runs.
        let orders = target.topic("orders");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("wasm")).unwrap();
        std::fs::copy(
            examples.join("wasm/enrich.wat"),
            dir.path().join("wasm/enrich.wat"),
        )
        .expect("copy the example's module");
        let file = write(
            dir.path(),
            "mesh.yaml",
            &yaml.replace("persistent://public/default/orders", &orders),
        );
        let pulsar = client(&url).await;
        let mut watch = subscribe(&pulsar, &format!("{orders}-enriched"), "test-watch").await;
        let mut cmd = fmesh();
        cmd.arg("run").arg(&file).args([
            "--pulsar-url",
            &url,
            "--messages",
            "30",
            "--status-interval-ms",
            "100",
        ]);
        let out = tokio::task::spawn_blocking(move || output(cmd))
            .await
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {:?}\n{stdout}\n{}",
            target.name(),
            out.status,
            text(&out.stderr)
        );
        let generated = final_processed(&stdout, "orders/generator");
        let enriched = final_processed(&stdout, "orders/enrich");
        let logged = final_processed(&stdout, "orders/log");
        assert!(logged >= 30, "{}: {stdout}", target.name());
        let got = drain(&mut watch, Duration::from_secs(2)).await;
        let ids: BTreeSet<u64> = got
            .iter()
            .map(|m| {
                let v: serde_json::Value = serde_json::from_str(m).expect("json");
                assert_eq!(v["currency"], "EUR", "{m}");
                assert_eq!(v["enriched_by"], "fmesh-wasm", "{m}");
                v["order_id"].as_u64().expect("order_id")
            })
            .collect();
        assert_eq!(ids.len(), got.len(), "{}: no duplicates", target.name());
        assert_eq!(got.len() as u64, enriched, "{}: {stdout}", target.name());
        assert!(
            generated >= enriched && enriched >= logged && ids == (0..enriched).collect(),
            "{}: orders 0..{enriched} enriched, got {ids:?}",
            target.name()
        );
    }
}
