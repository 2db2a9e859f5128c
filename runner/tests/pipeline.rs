//! The consume → process → produce → ack loop with the builtin identity function, the
//! metrics/health endpoint, and the binary's contract (flags, exit codes, SIGTERM).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

fn identity_spec(name: &str, input: &str, output: &str, guarantee: &str) -> String {
    format!(
        r#"{{"kind":"Function","objectName":"{name}","input":{{"topics":["{input}"]}},
            "output":{{"topic":"{output}"}},"subscriptionPosition":"earliest",
            "processingGuarantee":"{guarantee}","builtin":{{"name":"identity"}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_forwards_payload_key_and_properties() {
    for t in targets().await {
        eprintln!(
            "identity_forwards_payload_key_and_properties: against {}",
            t.name()
        );
        let url = t.service_url();
        let (input, output) = (topic("id-in"), topic("id-out"));
        let runner = start(
            &url,
            &identity_spec("id", &input, &output, "atleast_once"),
            0,
            1,
        )
        .await;
        let msgs: Vec<Msg> = (0..50)
            .map(|i| Msg {
                key: Some(format!("k{}", i % 3)),
                payload: format!("m{i}").into_bytes(),
                properties: HashMap::from([("n".to_string(), i.to_string())]),
            })
            .collect();
        let mut out = subscribe(&url, &output, "check").await;
        produce(&url, &input, &msgs).await;
        let got = consume(&mut out, 50).await;
        assert_eq!(got, msgs, "same payloads, keys, properties, in order");
        let m = runner.metrics.clone();
        until("all acked", || m.produced.get() == 50).await;
        assert_eq!(m.received.get(), 50);
        assert_eq!(m.processed.get(), 50);

        let addr = runner.metrics_addr.expect("metrics served");
        let (status, body) = http_get(addr, "/").await;
        assert_eq!(status, 200, "liveness answers: {body}");
        let (status, body) = http_get(addr, "/metrics").await;
        assert_eq!(status, 200);
        for name in [
            "pulsar_function_received_total",
            "pulsar_function_processed_successfully_total",
            "pulsar_function_user_exceptions_total",
            "pulsar_function_system_exceptions_total",
            "pulsar_function_process_latency_ms",
            "pulsar_function_last_invocation",
        ] {
            assert!(body.contains(name), "{name} missing from:\n{body}");
        }
        assert!(body.contains(r#"fqfn="public/default/id""#), "{body}");
        stop(runner).await;

        // Everything was acknowledged: a new runner on the same subscription gets nothing again.
        let again = start(
            &url,
            &identity_spec("id", &input, &output, "atleast_once"),
            0,
            1,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            again.metrics.received.get(),
            0,
            "nothing redelivered after acks"
        );
        stop(again).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_input_topics() {
    for t in targets().await {
        eprintln!("multiple_input_topics: against {}", t.name());
        let url = t.service_url();
        let output = topic("multi-out");
        let spec = format!(
            r#"{{"kind":"Function","objectName":"multi","input":{{"topics":["{}","{}"]}},
                "output":{{"topic":"{output}"}},"subscriptionPosition":"earliest",
                "builtin":{{"name":"identity"}}}}"#,
            topic("multi-a"),
            topic("multi-b")
        );
        let runner = start(&url, &spec, 0, 1).await;
        let mut out = subscribe(&url, &output, "check").await;
        produce(&url, &topic("multi-a"), &[Msg::text("a1"), Msg::text("a2")]).await;
        produce(&url, &topic("multi-b"), &[Msg::text("b1")]).await;
        let mut got: Vec<String> = consume(&mut out, 3).await.iter().map(Msg::as_str).collect();
        got.sort();
        assert_eq!(got, ["a1", "a2", "b1"]);
        stop(runner).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_outside_the_binary_with_sigterm() {
    for t in targets().await {
        eprintln!(
            "python_client_outside_the_binary_with_sigterm: against {}",
            t.name()
        );
        let dir = tempfile::tempdir().unwrap();
        let url = t.service_url();
        let (input, output) = (topic("bin-in"), topic("bin-out"));
        let spec_path = dir.path().join("spec.json");
        std::fs::write(
            &spec_path,
            identity_spec("bin", &input, &output, "atleast_once"),
        )
        .unwrap();
        let port = free_port();
        let started = std::time::Instant::now();
        let mut child = tokio::process::Command::new(runner_bin())
            .arg("--spec-file")
            .arg(&spec_path)
            .args(["--pulsar-url", &url, "--metrics-port", &port.to_string()])
            .args(["--metrics-bind", "127.0.0.1", "--instance-count", "1"])
            .env("POD_NAME", "bin-0")
            .kill_on_drop(true)
            .spawn()
            .expect("runner starts");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        within("liveness", async {
            loop {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        eprintln!("metrics port up after {:?}", started.elapsed());
        assert_eq!(http_get(addr, "/").await.0, 200);
        py_client(&["produce", &url, &input, "hello", "world"]).await;
        let lines = py_client(&["consume", &url, &output, "py", "2", "20"]).await;
        assert!(lines[0].contains(r#""text": "hello""#), "{lines:?}");
        assert!(lines[1].contains(r#""text": "world""#), "{lines:?}");
        assert!(
            lines[0].contains(r#""origin": "python""#),
            "properties forwarded: {lines:?}"
        );
        let (_, metrics) = http_get(addr, "/metrics").await;
        assert!(metrics.contains(r#"instance_id="0""#), "{metrics}");

        let pid = child.id().expect("pid") as i32;
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = within("graceful exit", child.wait()).await.expect("wait");
        assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
    }
}

#[tokio::test]
async fn bad_spec_exits_2_with_the_field_path() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.json");
    std::fs::write(
        &spec_path,
        r#"{"kind":"Function","objectName":"x","input":{"topics":["a"]},"java":{"jar":"f.jar"}}"#,
    )
    .unwrap();
    let out = tokio::process::Command::new(runner_bin())
        .arg("--spec-file")
        .arg(&spec_path)
        .args(["--pulsar-url", "pulsar://127.0.0.1:1"])
        .output()
        .await
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.java"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
