//! Admin REST subset, package registry and metrics.

mod common;

use common::http::{multipart, request};
use common::{broker, client, topic, within};
use futures::StreamExt;
use pulsar::ConsumerOptions;
use pulsar::consumer::InitialPosition;
use serde_json::Value;

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

// fmesh-only: compares whole namespace listings, which on the shared Apache Pulsar hold other
// runs' topics; admin_endpoints_answer_alike_on_both_brokers compares the rest.
#[tokio::test]
async fn topics_partitions_stats_and_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |_| {}).await;
    let a = b.admin_addr.unwrap();
    let base = "/admin/v2/persistent/public/default";
    assert_eq!(
        request(a, "PUT", &format!("{base}/plain"), &[], b"")
            .await
            .0,
        204
    );
    assert_eq!(
        request(a, "PUT", &format!("{base}/plain"), &[], b"")
            .await
            .0,
        409,
        "exists"
    );
    assert_eq!(
        request(a, "PUT", &format!("{base}/parted/partitions"), &[], b"3")
            .await
            .0,
        204
    );
    let (s, body) = request(a, "GET", &format!("{base}/parted/partitions"), &[], b"").await;
    assert_eq!((s, json(&body)["partitions"].as_u64()), (200, Some(3)));
    let (_, body) = request(a, "GET", base, &[], b"").await;
    let list: Vec<String> = serde_json::from_slice(&body).unwrap();
    assert!(
        list.contains(&topic("plain")) && list.contains(&topic("parted-partition-2")),
        "{list:?}"
    );
    let (_, body) = request(a, "GET", &format!("{base}/partitioned"), &[], b"").await;
    assert_eq!(json(&body), serde_json::json!([topic("parted")]));

    // Traffic, then stats.
    let c = client(&b.service_url()).await;
    let mut cons = within(
        "sub",
        c.consumer()
            .with_topic(topic("plain"))
            .with_subscription("sub1")
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build::<String>(),
    )
    .await
    .unwrap();
    let mut p = within("producer", c.producer().with_topic(topic("plain")).build())
        .await
        .unwrap();
    for i in 0..5 {
        within("send", p.send_non_blocking(format!("m{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let m = within("next", cons.next()).await.unwrap().unwrap();
    cons.ack(&m).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (s, body) = request(a, "GET", &format!("{base}/plain/stats"), &[], b"").await;
    assert_eq!(s, 200);
    let st = json(&body);
    assert_eq!(st["msgInCounter"], 5);
    assert_eq!(st["subscriptions"]["sub1"]["msgBacklog"], 4);
    assert_eq!(
        st["subscriptions"]["sub1"]["type"], "Shared",
        "pulsar-rs defaults to Shared"
    );
    assert!(st["storageSize"].as_u64().unwrap() > 0);
    let (_, body) = request(
        a,
        "GET",
        &format!("{base}/parted/partitioned-stats"),
        &[],
        b"",
    )
    .await;
    assert_eq!(json(&body)["metadata"]["partitions"], 3);
    let (_, body) = request(a, "GET", &format!("{base}/plain/subscriptions"), &[], b"").await;
    assert_eq!(json(&body), serde_json::json!(["sub1"]));
    // A subscription with a connected consumer cannot be deleted...
    assert_eq!(
        request(
            a,
            "DELETE",
            &format!("{base}/plain/subscription/sub1"),
            &[],
            b""
        )
        .await
        .0,
        412
    );
    cons.close().await.unwrap();
    drop(cons);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // ...without one it can.
    assert_eq!(
        request(
            a,
            "DELETE",
            &format!("{base}/plain/subscription/sub1"),
            &[],
            b""
        )
        .await
        .0,
        204
    );
    let (_, body) = request(a, "GET", &format!("{base}/plain/subscriptions"), &[], b"").await;
    assert_eq!(json(&body), serde_json::json!([]));
    assert_eq!(
        request(a, "DELETE", &format!("{base}/parted/partitions"), &[], b"")
            .await
            .0,
        204
    );
    assert_eq!(
        request(a, "GET", &format!("{base}/nope/stats"), &[], b"")
            .await
            .0,
        404
    );
}

// fmesh-only: reads the upload back through fmesh's own package store on disk.
#[tokio::test]
async fn package_registry_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |_| {}).await;
    let a = b.admin_addr.unwrap();
    let url = "/admin/v3/packages/function/public/default/wordcount/v1";
    let (ctype, body) = multipart(&[
        ("file", b"\x7fELF-binary-bytes"),
        (
            "metadata",
            br#"{"description":"counts words","contact":"ops","properties":{"lang":"rust"}}"#,
        ),
    ]);
    let (s, resp) = request(a, "POST", url, &[("Content-Type", &ctype)], &body).await;
    assert_eq!(s, 204, "{}", String::from_utf8_lossy(&resp));
    assert_eq!(
        request(a, "POST", url, &[("Content-Type", &ctype)], &body)
            .await
            .0,
        409
    );
    let (s, data) = request(a, "GET", url, &[], b"").await;
    assert_eq!((s, data.as_slice()), (200, &b"\x7fELF-binary-bytes"[..]));
    let (_, meta) = request(a, "GET", &format!("{url}/metadata"), &[], b"").await;
    let meta = json(&meta);
    assert_eq!(meta["description"], "counts words");
    assert_eq!(meta["properties"]["lang"], "rust");
    assert!(meta["createTime"].as_u64().unwrap() > 0);
    let (s, _) = request(
        a,
        "PUT",
        &format!("{url}/metadata"),
        &[("Content-Type", "application/json")],
        br#"{"description":"v1 of wordcount"}"#,
    )
    .await;
    assert_eq!(s, 204);
    let (_, meta) = request(a, "GET", &format!("{url}/metadata"), &[], b"").await;
    assert_eq!(json(&meta)["description"], "v1 of wordcount");
    let (_, versions) = request(
        a,
        "GET",
        "/admin/v3/packages/function/public/default/wordcount",
        &[],
        b"",
    )
    .await;
    assert_eq!(json(&versions), serde_json::json!(["v1"]));
    let (_, pkgs) = request(
        a,
        "GET",
        "/admin/v3/packages/function/public/default",
        &[],
        b"",
    )
    .await;
    assert_eq!(json(&pkgs), serde_json::json!(["wordcount"]));
    // function://public/default/wordcount@v1 resolves to the same bytes.
    let pkg = fmesh_broker::packages::PackageName::parse("function://public/default/wordcount@v1")
        .unwrap();
    let store = fmesh_broker::packages::PackageStore::new(dir.path().join("packages"));
    assert_eq!(store.download(&pkg).unwrap(), b"\x7fELF-binary-bytes");
    assert_eq!(
        request(
            a,
            "GET",
            "/admin/v3/packages/function/public/default/..%2F..%2Fetc/v1",
            &[],
            b""
        )
        .await
        .0 / 100,
        4
    );
    assert_eq!(request(a, "DELETE", url, &[], b"").await.0, 204);
    assert_eq!(request(a, "GET", url, &[], b"").await.0, 404);
}

// fmesh-only: a broker setting (token auth) and fmesh's own metric names.
#[tokio::test]
async fn admin_requires_the_token_when_auth_is_on_and_metrics_count_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |c| {
        c.auth = fmesh_broker::AuthConfig::Token {
            static_tokens: [("admin-token".to_string(), "admin".to_string())].into(),
            hs256_secret: None,
        };
    })
    .await;
    let a = b.admin_addr.unwrap();
    let base = "/admin/v2/persistent/public/default";
    assert_eq!(request(a, "GET", base, &[], b"").await.0, 401);
    assert_eq!(
        request(a, "GET", base, &[("Authorization", "Bearer wrong")], b"")
            .await
            .0,
        401
    );
    assert_eq!(
        request(
            a,
            "GET",
            base,
            &[("Authorization", "Bearer admin-token")],
            b""
        )
        .await
        .0,
        200
    );
    // The binary protocol refuses a client without the token...
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        pulsar::Pulsar::builder(b.service_url(), pulsar::TokioExecutor)
            .with_connection_retry_options(pulsar::ConnectionRetryOptions {
                max_retries: 0,
                ..Default::default()
            })
            .build(),
    )
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "connect without token must fail"
    );
    // ...and accepts one with it.
    let c = within(
        "client with token",
        pulsar::Pulsar::builder(b.service_url(), pulsar::TokioExecutor)
            .with_auth(pulsar::Authentication {
                name: "token".into(),
                data: b"admin-token".to_vec(),
            })
            .build(),
    )
    .await
    .unwrap();
    let mut p = within(
        "producer",
        c.producer().with_topic(topic("metered")).build(),
    )
    .await
    .unwrap();
    for i in 0..3 {
        within("send", p.send_non_blocking(format!("m{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let (s, body) = request(a, "GET", "/metrics", &[], b"").await;
    assert_eq!(s, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("fmesh_broker_messages_in_total 3"), "{text}");
    assert!(text.contains("fmesh_broker_connections 1"), "{text}");
    assert!(text.contains("fmesh_broker_producers 1"), "{text}");
    assert!(text.contains("fmesh_broker_fsync_seconds_count"), "{text}");
}

/// Polls `path` on `target` until `ok` holds for its JSON (Pulsar updates some counters a
/// moment after the traffic), and returns it.
async fn stats_until(
    target: &common::target::Target,
    path: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    within(&format!("{path} on {}", target.name()), async {
        loop {
            let (status, body) = request(target.admin(), "GET", path, &[], b"").await;
            if status == 200 {
                let st = json(&body);
                if ok(&st) {
                    return st;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
}

/// The endpoints the operator (subscription cleanup), the CLI and the runner's users call, on
/// fmesh-broker and Apache Pulsar: same status codes, same counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_answer_alike_on_both_brokers() {
    for target in common::target::targets().await {
        let on = target.name();
        let a = target.admin();
        let base = "/admin/v2/persistent/public/default";
        let plain = target.local("adm-plain");
        let parted = target.local("adm-parted");
        let missing = target.local("adm-missing");
        let status = |path: String, method: &'static str, body: &'static [u8]| async move {
            request(
                a,
                method,
                &path,
                &[("Content-Type", "application/json")],
                body,
            )
            .await
            .0
        };
        assert_eq!(
            status(format!("{base}/{plain}"), "PUT", b"").await,
            204,
            "{on}"
        );
        assert_eq!(
            status(format!("{base}/{plain}"), "PUT", b"").await,
            409,
            "{on}"
        );
        let parts = format!("{base}/{parted}/partitions");
        assert_eq!(status(parts.clone(), "PUT", b"3").await, 204, "{on}");
        assert_eq!(status(parts.clone(), "PUT", b"3").await, 409, "{on}");
        let (s, body) = request(a, "GET", &parts, &[], b"").await;
        assert_eq!(
            (s, json(&body)["partitions"].as_u64()),
            (200, Some(3)),
            "{on}"
        );
        let (s, body) = request(a, "GET", &format!("{base}/{plain}/partitions"), &[], b"").await;
        assert_eq!(
            (s, json(&body)["partitions"].as_u64()),
            (200, Some(0)),
            "{on}"
        );
        for path in ["partitions", "stats", "partitioned-stats", "subscriptions"] {
            let p = format!("{base}/{missing}/{path}");
            assert_eq!(status(p.clone(), "GET", b"").await, 404, "{on}: {p}");
        }

        // Traffic: 5 in, 1 acknowledged.
        let c = client(&target.service_url()).await;
        let mut cons = within(
            "subscribe",
            c.consumer()
                .with_topic(target.topic("adm-plain"))
                .with_subscription("sub1")
                .with_options(
                    ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
                )
                .build::<String>(),
        )
        .await
        .unwrap();
        let mut p = within(
            "producer",
            c.producer().with_topic(target.topic("adm-plain")).build(),
        )
        .await
        .unwrap();
        for i in 0..5 {
            within("send", p.send_non_blocking(format!("m{i}")))
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let m = within("next", cons.next()).await.unwrap().unwrap();
        within("ack", cons.ack(&m)).await.unwrap();
        let st = stats_until(&target, &format!("{base}/{plain}/stats"), |st| {
            st["msgInCounter"] == 5 && st["subscriptions"]["sub1"]["msgBacklog"] == 4
        })
        .await;
        assert_eq!(
            st["subscriptions"]["sub1"]["type"], "Shared",
            "{on}: pulsar-rs defaults to Shared"
        );
        assert_eq!(
            st["subscriptions"]["sub1"]["consumers"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "{on}"
        );
        assert!(st["storageSize"].as_u64() > Some(0), "{on}: {st}");
        let (_, body) = request(
            a,
            "GET",
            &format!("{base}/{parted}/partitioned-stats"),
            &[],
            b"",
        )
        .await;
        assert_eq!(json(&body)["metadata"]["partitions"], 3, "{on}");
        let (_, body) = request(a, "GET", &format!("{base}/{plain}/subscriptions"), &[], b"").await;
        assert_eq!(json(&body), serde_json::json!(["sub1"]), "{on}");

        // The operator's cleanup: DELETE …/subscription/{sub}?force=true. Without force a
        // connected consumer keeps it; with force it goes (the consumer is disconnected).
        let sub = format!("{base}/{plain}/subscription/sub1");
        assert_eq!(status(sub.clone(), "DELETE", b"").await, 412, "{on}");
        assert_eq!(
            status(format!("{sub}?force=true"), "DELETE", b"").await,
            204,
            "{on}"
        );
        // The disconnected client may subscribe again before it is dropped (both brokers let
        // it): once it is gone, the subscription is deleted for good.
        // Its reconnect may still be under way when it is dropped: delete until none is left.
        drop(cons);
        drop(p);
        within(&format!("subscription deleted on {on}"), async {
            loop {
                let again = status(format!("{sub}?force=true"), "DELETE", b"").await;
                assert!(again == 204 || again == 404, "{on}: {again}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let subs = format!("{base}/{plain}/subscriptions");
                let (_, body) = request(a, "GET", &subs, &[], b"").await;
                if json(&body) == serde_json::json!([]) {
                    break;
                }
            }
        })
        .await;
        for p in [
            format!("{base}/{plain}/subscription/none?force=true"),
            format!("{base}/{missing}/subscription/none?force=true"),
        ] {
            assert_eq!(status(p.clone(), "DELETE", b"").await, 404, "{on}: {p}");
        }
        assert_eq!(status(parts.clone(), "DELETE", b"").await, 204, "{on}");
        assert_eq!(status(parts, "GET", b"").await, 404, "{on}: deleted");
    }
}

// fmesh-only: fmesh's body-size and header-timeout settings.
#[tokio::test]
async fn admin_bodies_are_bounded_per_route_and_slow_headers_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path(), |c| {
        c.admin_max_body_bytes = 1024;
        c.admin_max_upload_bytes = 64 * 1024;
        c.admin_header_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let a = b.admin_addr.unwrap();
    let big = vec![b'1'; 4096];
    let (status, _) = request(
        a,
        "PUT",
        "/admin/v2/persistent/public/default/t/partitions",
        &[],
        &big,
    )
    .await;
    assert_eq!(
        status, 413,
        "a topic route takes at most admin_max_body_bytes"
    );
    // The upload route has its own, larger limit.
    let pkg = "/admin/v3/packages/function/public/default/f/v1";
    let (ct, body) = multipart(&[("file", &[7u8; 8 * 1024][..]), ("metadata", b"{}")]);
    let (status, _) = request(a, "POST", pkg, &[("Content-Type", &ct)], &body).await;
    assert_eq!(status, 204, "8 KiB upload under a 64 KiB limit");
    let (ct, body) = multipart(&[("file", &vec![7u8; 128 * 1024][..]), ("metadata", b"{}")]);
    let (status, reason) = request(a, "POST", pkg, &[("Content-Type", &ct)], &body).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&reason));
    assert!(String::from_utf8_lossy(&reason).contains("admin_max_upload_bytes"));
    // Headers that never finish: the connection is closed after the header timeout.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(a).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let start = std::time::Instant::now();
    let mut rest = Vec::new();
    within("closed", s.read_to_end(&mut rest)).await.unwrap();
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// The operator's subscription cleanup with a subscription name holding slashes (Function
/// Mesh's default is `{tenant}/{namespace}/{name}`): the cleanup percent-encodes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoded_subscription_name_is_deleted_alike_on_both_brokers() {
    for target in common::target::targets().await {
        let on = target.name();
        let t = target.topic("adm-encoded");
        let sub = format!("public/default/{}", target.local("fn"));
        let c = client(&target.service_url()).await;
        let cons = within(
            "subscribe",
            c.consumer()
                .with_topic(&t)
                .with_subscription(&sub)
                .build::<String>(),
        )
        .await
        .unwrap();
        let subs = format!("/admin/v2/{}/subscriptions", t.replacen("://", "/", 1));
        let (_, body) = request(target.admin(), "GET", &subs, &[], b"").await;
        assert_eq!(json(&body), serde_json::json!([sub]), "{on}");
        drop(cons);
        let encoded = sub.replace('/', "%2F");
        let path = format!(
            "/admin/v2/{}/subscription/{encoded}?force=true",
            t.replacen("://", "/", 1)
        );
        let (status, reason) = request(target.admin(), "DELETE", &path, &[], b"").await;
        assert_eq!(status, 204, "{on}: {}", String::from_utf8_lossy(&reason));
        let (_, body) = request(target.admin(), "GET", &subs, &[], b"").await;
        assert_eq!(json(&body), serde_json::json!([]), "{on}");
        let (status, _) = request(target.admin(), "DELETE", &path, &[], b"").await;
        assert_eq!(status, 404, "{on}: deleted already");
    }
}

/// The packages API the operator's init container (`pulsarctl packages download`) and the
/// users' uploads go through: same status codes, bytes and metadata on both brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_answer_alike_on_both_brokers() {
    for target in common::target::targets().await {
        let on = target.name();
        let a = target.admin();
        let name = target.local("wordcount");
        let pkg = format!("/admin/v3/packages/function/public/default/{name}");
        let url = format!("{pkg}/v1");
        let (ctype, body) = multipart(&[
            ("file", b"\x7fELF-binary-bytes"),
            (
                "metadata",
                br#"{"description":"counts words","contact":"ops","properties":{"lang":"rust"}}"#,
            ),
        ]);
        let upload = [("Content-Type", ctype.as_str())];
        let (s, resp) = request(a, "POST", &url, &upload, &body).await;
        assert_eq!(s, 204, "{on}: {}", String::from_utf8_lossy(&resp));
        let (s, resp) = request(a, "POST", &url, &upload, &body).await;
        assert_eq!(s, 409, "{on}: {}", String::from_utf8_lossy(&resp));
        let (s, data) = request(a, "GET", &url, &[], b"").await;
        assert_eq!(
            (s, data.as_slice()),
            (200, &b"\x7fELF-binary-bytes"[..]),
            "{on}"
        );
        let (s, meta) = request(a, "GET", &format!("{url}/metadata"), &[], b"").await;
        assert_eq!(s, 200, "{on}");
        let meta = json(&meta);
        assert_eq!(meta["description"], "counts words", "{on}: {meta}");
        assert_eq!(meta["contact"], "ops", "{on}: {meta}");
        assert_eq!(meta["properties"]["lang"], "rust", "{on}: {meta}");
        assert!(meta["createTime"].as_u64() > Some(0), "{on}: {meta}");
        let (s, _) = request(
            a,
            "PUT",
            &format!("{url}/metadata"),
            &[("Content-Type", "application/json")],
            br#"{"description":"v1 of wordcount"}"#,
        )
        .await;
        assert_eq!(s, 204, "{on}");
        let (_, meta) = request(a, "GET", &format!("{url}/metadata"), &[], b"").await;
        assert_eq!(json(&meta)["description"], "v1 of wordcount", "{on}");
        let (s, versions) = request(a, "GET", &pkg, &[], b"").await;
        assert_eq!(
            (s, json(&versions)),
            (200, serde_json::json!(["v1"])),
            "{on}"
        );
        let (s, pkgs) = request(
            a,
            "GET",
            "/admin/v3/packages/function/public/default",
            &[],
            b"",
        )
        .await;
        assert_eq!(s, 200, "{on}");
        // Bare names, as Apache Pulsar lists them (other runs' packages are listed too).
        assert!(
            json(&pkgs)
                .as_array()
                .is_some_and(|l| l.iter().any(|p| p == name.as_str())),
            "{on}: {name} in {}",
            String::from_utf8_lossy(&pkgs)
        );
        for missing in [format!("{pkg}/v2"), format!("{pkg}/v2/metadata")] {
            let (s, _) = request(a, "GET", &missing, &[], b"").await;
            assert_eq!(s, 404, "{on}: {missing}");
        }
        assert_eq!(request(a, "DELETE", &url, &[], b"").await.0, 204, "{on}");
        assert_eq!(request(a, "GET", &url, &[], b"").await.0, 404, "{on}");
        assert_eq!(
            request(a, "GET", &format!("{url}/metadata"), &[], b"")
                .await
                .0,
            404,
            "{on}"
        );
    }
}
