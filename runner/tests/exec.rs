//! The exec runtime (runner/PROTOCOL.md) and the Python shim running Pulsar-style functions.

mod common;

use std::time::Duration;

use common::*;

fn spec(name: &str, runtime: &str, extra: &str) -> String {
    format!(
        r#"{{"kind":"Function","objectName":"{name}","input":{{"topics":["{}"]}},
            "output":{{"topic":"{}"}},"subscriptionPosition":"earliest",{runtime}{extra}}}"#,
        topic(&format!("{name}-in")),
        topic(&format!("{name}-out")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_child_effects_and_restart_after_crash_loses_nothing() {
    for t in targets().await {
        eprintln!(
            "exec_child_effects_and_restart_after_crash_loses_nothing: against {}",
            t.name()
        );
        let dir = tempfile::tempdir().unwrap();
        let url = t.service_url();
        let marker = dir.path().join("crashed-once");
        // The child inherits the runner's environment; the marker makes it crash exactly once.
        // SAFETY: set before any thread of this test reads the environment for this variable.
        unsafe { std::env::set_var("FMESH_TEST_MARKER", &marker) };
        let runtime = format!(
            r#""exec":{{"command":["python3","{}"]}}"#,
            asset("guests/exec_upper.py")
        );
        let extra = format!(r#","funcConfig":{{"audit":"{}"}}"#, topic("ex-audit"));
        let runner = start(&url, &spec("ex", &runtime, &extra), 0, 1).await;
        let mut out = subscribe(&url, &topic("ex-out"), "check").await;
        let mut audit = subscribe(&url, &topic("ex-audit"), "check").await;
        let msgs: Vec<Msg> = ["one", "crash", "three"]
            .iter()
            .map(|s| Msg::text(s))
            .collect();
        produce(&url, &topic("ex-in"), &msgs).await;
        let got: Vec<String> = consume(&mut out, 3).await.iter().map(Msg::as_str).collect();
        assert_eq!(
            got,
            ["ONE", "CRASH", "THREE"],
            "the crashed message was retried, in order"
        );
        let audited = consume(&mut audit, 3).await;
        assert_eq!(
            audited[0].properties.get("from").map(String::as_str),
            Some("exec")
        );
        assert!(marker.exists(), "the child did crash");
        assert!(runner.metrics.runtime_restarts.get() >= 1);
        assert_eq!(runner.metrics.user_exceptions.get(), 0);
        stop(runner).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_user_error_goes_to_dead_letter() {
    for t in targets().await {
        eprintln!("exec_user_error_goes_to_dead_letter: against {}", t.name());
        let url = t.service_url();
        let runtime = format!(
            r#""exec":{{"command":["python3","{}"]}}"#,
            asset("guests/exec_upper.py")
        );
        let extra = format!(
            r#","maxMessageRetry":1,"deadLetterTopic":"{}""#,
            topic("exf-dlq")
        );
        let runner = start(&url, &spec("exf", &runtime, &extra), 0, 1).await;
        let mut dead = subscribe(&url, &topic("exf-dlq"), "check").await;
        produce(&url, &topic("exf-in"), &[Msg::text("fail")]).await;
        assert_eq!(consume(&mut dead, 1).await[0].as_str(), "fail");
        assert_eq!(runner.metrics.user_exceptions.get(), 2);
        stop(runner).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulsar_python_exclamation_runs_unchanged_without_the_sdk() {
    for t in targets().await {
        eprintln!(
            "pulsar_python_exclamation_runs_unchanged_without_the_sdk: against {}",
            t.name()
        );
        let url = t.service_url();
        for (name, file, class, first, second) in [
            (
                "excl",
                "exclamation.py",
                "exclamation.ExclamationFunction",
                "hello",
                "world",
            ),
            (
                "native",
                "native_exclamation.py",
                "native_exclamation.process",
                "hello",
                "42",
            ),
        ] {
            let runtime = format!(
                r#""python":{{"py":"{}"}},"className":"{class}""#,
                asset(&format!("py/functions/{file}"))
            );
            let runner = start(&url, &spec(name, &runtime, ""), 0, 1).await;
            let mut out = subscribe(&url, &topic(&format!("{name}-out")), "check").await;
            // "42" reaches a function as the int 42, as Pulsar's IdentitySerDe decodes it
            // (so Pulsar's own exclamation example would raise on it: `42 + '!'`).
            produce(
                &url,
                &topic(&format!("{name}-in")),
                &[Msg::text(first), Msg::text(second)],
            )
            .await;
            let got: Vec<String> = consume(&mut out, 2).await.iter().map(Msg::as_str).collect();
            assert_eq!(got, [format!("{first}!"), format!("{second}!")]);
            stop(runner).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulsar_python_wordcount_with_the_official_sdk_and_client() {
    for t in targets().await {
        eprintln!(
            "pulsar_python_wordcount_with_the_official_sdk_and_client: against {}",
            t.name()
        );
        let dir = tempfile::tempdir().unwrap();
        let url = t.service_url();
        let (input, output, counts) = (topic("wc-in"), topic("wc-out"), topic("wc-counts"));
        let spec_json = format!(
            r#"{{"kind":"Function","objectName":"wc","input":{{"topics":["{input}"]}},
                "output":{{"topic":"{output}"}},"subscriptionPosition":"earliest",
                "python":{{"py":"{}"}},"className":"wordcount.WordCountFunction",
                "funcConfig":{{"separator":" ","counts-topic":"{counts}"}},
                "secretsMap":{{"GREETING":{{"path":"s","key":"greeting"}}}}}}"#,
            asset("py/functions/wordcount.py")
        );
        let spec_path = dir.path().join("wc.json");
        std::fs::write(&spec_path, spec_json).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The runner binary, with the venv's python: the real `pulsar` package is used.
        let mut child = tokio::process::Command::new(runner_bin())
            .arg("--spec-file")
            .arg(&spec_path)
            .args(["--pulsar-url", &url, "--metrics-bind", "127.0.0.1"])
            .args(["--metrics-port", &port.to_string()])
            .env("FMESH_PYTHON", python())
            .env("GREETING", "hi")
            .kill_on_drop(true)
            .spawn()
            .expect("runner");
        py_client(&["produce", &url, &input, "a b a", "b c"]).await;
        let lines = py_client(&["consume", &url, &output, "py", "2", "30"]).await;
        assert!(lines[0].contains(r#""text": "hi:3:""#), "{lines:?}");
        assert!(lines[1].contains(r#""text": "hi:2:""#), "{lines:?}");
        let counted = py_client(&["consume", &url, &counts, "py", "2", "30"]).await;
        assert!(counted[0].contains(r#""text": "a=2,b=1""#), "{counted:?}");
        assert!(counted[1].contains(r#""text": "b=2,c=1""#), "{counted:?}");
        assert!(counted[0].contains(r#""function": "wc""#), "{counted:?}");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let (_, metrics) = http_get(addr, "/metrics").await;
        assert!(
            metrics.contains(r#"pulsar_function_user_metric{"#),
            "{metrics}"
        );
        assert!(
            metrics.contains("pulsar_function_processed_successfully_total"),
            "{metrics}"
        );
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id().expect("pid") as i32, libc::SIGTERM) };
        let status = within("exit", child.wait()).await.unwrap();
        assert_eq!(status.code(), Some(0));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
