//! The wasm runtime end to end: the ABI's host functions, fuel/time and memory limits,
//! retries and the dead letter topic, with WAT guests (tests/guests/functions.wat).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

/// Modules are compiled by the runner binary in a child, as the binary itself does (every
/// test here sets it, so none depends on another's order).
fn compile_in_runner_child() {
    fmesh_runner::runtime::wasm::compile_out_of_process(runner_bin());
}

fn wasm_spec(name: &str, export: &str, extra: &str) -> String {
    compile_in_runner_child();
    format!(
        r#"{{"kind":"Function","objectName":"{name}","input":{{"topics":["{}"]}},
            "output":{{"topic":"{}"}},"subscriptionPosition":"earliest",
            "wasm":{{"module":"{}","export":"{export}"{extra}}}}}"#,
        topic(&format!("{name}-in")),
        topic(&format!("{name}-out")),
        asset("guests/functions.wat"),
    )
}

fn with_top(spec: String, top: &str) -> String {
    let mut s = spec;
    s.pop();
    format!("{s},{top}}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upper_uses_config_properties_counters_logs_and_publish() {
    for t in targets().await {
        eprintln!(
            "upper_uses_config_properties_counters_logs_and_publish: against {}",
            t.name()
        );
        let url = t.service_url();
        let spec = with_top(
            wasm_spec("upper", "upper", ""),
            &format!(
                r#""funcConfig":{{"suffix":"!","audit":"{}"}}"#,
                topic("upper-audit")
            ),
        );
        let runner = start(&url, &spec, 0, 1).await;
        let mut out = subscribe(&url, &topic("upper-out"), "check").await;
        let mut audit = subscribe(&url, &topic("upper-audit"), "check").await;
        let tagged = Msg {
            payload: b"hello".to_vec(),
            properties: HashMap::from([("tag".to_string(), "#t".to_string())]),
            ..Msg::default()
        };
        produce(&url, &topic("upper-in"), &[tagged, Msg::text("World 42")]).await;
        let got: Vec<String> = consume(&mut out, 2).await.iter().map(Msg::as_str).collect();
        assert_eq!(got, ["HELLO!#t", "WORLD 42!"]);
        let originals: Vec<String> = consume(&mut audit, 2)
            .await
            .iter()
            .map(Msg::as_str)
            .collect();
        assert_eq!(originals, ["hello", "World 42"]);
        assert_eq!(runner.metrics.user_exceptions.get(), 0);
        stop(runner).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_function_is_cut_off_by_fuel_and_by_time() {
    for t in targets().await {
        eprintln!(
            "runaway_function_is_cut_off_by_fuel_and_by_time: against {}",
            t.name()
        );
        let url = t.service_url();
        for (name, extra, top) in [
            (
                "fuel",
                r#","fuelPerMessage":1000000"#,
                r#""maxMessageRetry":0"#,
            ),
            ("clock", "", r#""maxMessageRetry":0,"timeout":300"#),
        ] {
            let dlq = topic(&format!("{name}-dlq"));
            let spec = with_top(
                wasm_spec(name, "runaway", extra),
                &format!(r#"{top},"deadLetterTopic":"{dlq}""#),
            );
            let runner = start(&url, &spec, 0, 1).await;
            let mut out = subscribe(&url, &topic(&format!("{name}-out")), "check").await;
            let mut dead = subscribe(&url, &dlq, "check").await;
            let started = std::time::Instant::now();
            produce(
                &url,
                &topic(&format!("{name}-in")),
                &[Msg::text("loop"), Msg::text("ok")],
            )
            .await;
            assert_eq!(consume(&mut out, 1).await[0].as_str(), "ok");
            assert_eq!(consume(&mut dead, 1).await[0].as_str(), "loop");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{name}: cut off quickly"
            );
            assert_eq!(
                runner.metrics.user_exceptions.get(),
                1,
                "{name}: counted as a user error"
            );
            stop(runner).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_is_stopped_at_the_cap() {
    for t in targets().await {
        eprintln!("memory_hog_is_stopped_at_the_cap: against {}", t.name());
        let url = t.service_url();
        let dlq = topic("hog-dlq");
        let spec = with_top(
            wasm_spec("hog", "hog", r#","maxMemory":"4Mi""#),
            &format!(r#""maxMessageRetry":0,"deadLetterTopic":"{dlq}""#),
        );
        let runner = start(&url, &spec, 0, 1).await;
        let mut out = subscribe(&url, &topic("hog-out"), "check").await;
        let mut dead = subscribe(&url, &dlq, "check").await;
        produce(
            &url,
            &topic("hog-in"),
            &[Msg::text("hog"), Msg::text("fine")],
        )
        .await;
        assert_eq!(consume(&mut out, 1).await[0].as_str(), "fine");
        assert_eq!(consume(&mut dead, 1).await[0].as_str(), "hog");
        assert_eq!(runner.metrics.user_exceptions.get(), 1);
        stop(runner).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_after_retries_keeps_payload_and_properties() {
    for t in targets().await {
        eprintln!(
            "dead_letter_after_retries_keeps_payload_and_properties: against {}",
            t.name()
        );
        let url = t.service_url();
        let dlq = topic("fail-dlq");
        let spec = with_top(
            wasm_spec("fail", "fail", ""),
            &format!(r#""maxMessageRetry":2,"deadLetterTopic":"{dlq}""#),
        );
        let runner = start(&url, &spec, 0, 1).await;
        let mut out = subscribe(&url, &topic("fail-out"), "check").await;
        let mut dead = subscribe(&url, &dlq, "check").await;
        let bad = Msg {
            key: Some("user-7".into()),
            payload: b"bad payload".to_vec(),
            properties: HashMap::from([("trace".to_string(), "abc".to_string())]),
        };
        produce(&url, &topic("fail-in"), &[bad.clone(), Msg::text("good")]).await;
        assert_eq!(consume(&mut out, 1).await[0].as_str(), "good");
        assert_eq!(
            consume(&mut dead, 1).await,
            vec![bad],
            "original payload, key, properties"
        );
        assert_eq!(
            runner.metrics.user_exceptions.get(),
            3,
            "one attempt plus two retries"
        );
        assert_eq!(runner.metrics.dead_lettered.get(), 1);
        stop(runner).await;
        // The failed message was acknowledged once dead-lettered: nothing comes back.
        let again = start(&url, &spec, 0, 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(again.metrics.received.get(), 0);
        stop(again).await;
    }
}

#[tokio::test]
async fn a_module_without_the_abi_fails_at_start() {
    compile_in_runner_child();
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("bad.wat");
    std::fs::write(&wat, r#"(module (memory (export "memory") 1))"#).unwrap();
    let err = start_err(&wat).await;
    assert!(err.contains("alloc"), "{err}");
    // Text that is not a module: the compiler child's error names the file.
    std::fs::write(&wat, "(module (func (export \"f\") (result i32)))").unwrap();
    let err = start_err(&wat).await;
    assert!(err.contains("bad.wat"), "{err}");
}

async fn start_err(wat: &std::path::Path) -> String {
    let spec = format!(
        r#"{{"kind":"Function","objectName":"bad","input":{{"topics":["x"]}},"wasm":{{"module":"{}"}}}}"#,
        wat.display()
    );
    let plan = fmesh_runner::spec::parse(&spec, &|_| None).unwrap();
    let cfg = fmesh_runner::InstanceConfig {
        plan,
        connection: fmesh_runner::Connection {
            url: "pulsar://127.0.0.1:1".into(),
            ..Default::default()
        },
        identity: fmesh_runner::InstanceIdentity {
            instance_id: 0,
            instance_count: 1,
        },
        metrics_addr: None,
        drain_timeout: Duration::from_secs(1),
    };
    fmesh_runner::start_instance(cfg)
        .await
        .unwrap_err()
        .to_string()
}
