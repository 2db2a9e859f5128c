//! Compatibility with the official Pulsar client (`pip install pulsar-client`,
//! the C++ core under every Pulsar SDK). The venv is created on first use by
//! `tests/py/setup-venv.sh` (python3 with venv, PyPI reachable).

mod common;

use std::time::Duration;

use common::http::request;
use common::py::python;
use common::target::targets;
use common::{broker, topic};
use fmesh_broker::topic_name::TopicName;

/// Runs one scenario against `url`, bounded in time, and asserts it passed.
async fn scenario(name: &str, url: &str, topic: &str, extra: &[&str]) -> Result<(), String> {
    let py = python().clone();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/scenarios.py");
    let mut cmd = tokio::process::Command::new(py);
    cmd.arg(script)
        .arg(name)
        .arg(url)
        .arg(topic)
        .args(extra)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| format!("scenario {name} timed out"))?
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "scenario {name} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs scenario `$name` against every target (fmesh-broker, then Apache Pulsar when set):
/// the same assertions must hold on both.
macro_rules! scenario_test {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for target in targets().await {
                let t = target.topic(concat!("py-", stringify!($name)));
                if let Err(e) = scenario(stringify!($name), &target.service_url(), &t, &[]).await {
                    panic!("on {}: {e}", target.name());
                }
            }
        }
    };
}

scenario_test!(produce_consume);
scenario_test!(shared);
scenario_test!(failover);
scenario_test!(key_shared);
scenario_test!(cumulative_ack);
scenario_test!(individual_ack);
scenario_test!(nack);
scenario_test!(seek);
scenario_test!(reader);
scenario_test!(dedup);
scenario_test!(schema);
scenario_test!(pattern);
scenario_test!(access_modes);
scenario_test!(key_shared_sticky);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_shared_in_order_holds_a_moved_key_and_out_of_order_does_not() {
    for target in targets().await {
        for ooo in ["false", "true"] {
            let t = target.topic(&format!("py-ks-order-{ooo}"));
            if let Err(e) = scenario("key_shared_order", &target.service_url(), &t, &[ooo]).await {
                panic!("on {}, allowOutOfOrderDelivery={ooo}: {e}", target.name());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_index_acks_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = topic("py-batch-index");
    let name = TopicName::parse(&t).unwrap();
    {
        let b = broker(dir.path(), |_| {}).await;
        scenario("batch_ack_part1", &b.service_url(), &t, &[])
            .await
            .unwrap();
        // Wait for the cursor file, not the memory: that is what a restart reads.
        let topic_dir = b.broker.existing_topic(&name).unwrap().dir().to_path_buf();
        common::batch_index_acks_on_disk(&topic_dir, "s", 0, &[0b10_0101]).await;
        b.shutdown();
    }
    let b = broker(dir.path(), |_| {}).await;
    scenario("batch_ack_part2", &b.service_url(), &t, &[])
        .await
        .unwrap();
    let st = b.broker.existing_topic(&name).unwrap();
    common::within("the batch is acknowledged whole", async {
        while st.lock().subscriptions["s"].cursor.mark_delete < 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(st.lock().subscriptions["s"].cursor.partial.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned() {
    for target in targets().await {
        let local = target.local("py-partitioned");
        let base = "/admin/v2/persistent/public/default";
        let (status, body) = request(
            target.admin(),
            "PUT",
            &format!("{base}/{local}/partitions"),
            &[("Content-Type", "application/json")],
            b"3",
        )
        .await;
        assert_eq!(
            status,
            204,
            "on {}: {}",
            target.name(),
            String::from_utf8_lossy(&body)
        );
        let t = target.topic("py-partitioned");
        if let Err(e) = scenario("partitioned", &target.service_url(), &t, &[]).await {
            panic!("on {}: {e}", target.name());
        }
        for i in 0..3 {
            let path = format!("{base}/{local}-partition-{i}/stats");
            let (status, body) = request(target.admin(), "GET", &path, &[], b"").await;
            let stats: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(status, 200, "on {}: {path}", target.name());
            assert!(
                stats["msgInCounter"].as_u64() > Some(0),
                "on {}: partition {i} got no messages: {stats}",
                target.name()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_accepts_and_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let secret = b"py-secret".to_vec();
    let b = broker(dir.path(), |c| {
        c.auth = fmesh_broker::AuthConfig::Token {
            static_tokens: [("static-token".to_string(), "ops".to_string())].into(),
            hs256_secret: Some(secret.clone()),
        };
    })
    .await;
    let url = b.service_url();
    let t = topic("py-auth");
    let jwt = fmesh_broker::auth::mint_hs256(&secret, "alice", None);
    scenario("auth_ok", &url, &t, &["static-token"])
        .await
        .unwrap();
    scenario("auth_ok", &url, &t, &[&jwt]).await.unwrap();
    scenario("auth_refused", &url, &t, &["wrong"])
        .await
        .unwrap();
    let forged = fmesh_broker::auth::mint_hs256(b"other", "alice", None);
    scenario("auth_refused", &url, &t, &[&forged])
        .await
        .unwrap();
}
