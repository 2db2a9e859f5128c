//! The postgres-cdc source and the postgres sink against a real Postgres (Debian's, started by
//! scripts/postgres-test.sh in a temp dir on a free loopback port) and the embedded broker;
//! kills are SIGKILLs of the fmesh-runner binary. The benchmark is `--ignored`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Msg, drain, produce, runner_bin, start, stop, subscribe, targets, topic, until, within,
};
use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};

/// A throwaway Postgres; stopped on drop.
struct Pg {
    dir: tempfile::TempDir,
    port: u16,
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres-test.sh");

impl Pg {
    fn start() -> Pg {
        let dir = tempfile::Builder::new()
            .prefix("fmesh-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let out = Command::new("bash")
            .arg(SCRIPT)
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postgres-test.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a port");
        Pg { dir, port }
    }

    async fn client(&self) -> Client {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            NoTls,
        )
        .await
        .expect("connect to postgres");
        tokio::spawn(conn);
        client
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(SCRIPT)
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

fn cdc_spec(pg: &Pg, name: &str, out: &str) -> String {
    json!({
        "kind": "Source", "objectName": name,
        "builtin": {"name": "postgres-cdc"},
        "output": {"topic": topic(out)},
        "sourceConfig": {"host": "127.0.0.1", "port": pg.port, "database": "postgres",
                         "tables": ["public.orders"], "pollIntervalMs": 20},
    })
    .to_string()
}

fn sink_spec(pg: &Pg, name: &str, input: &str, batch: usize) -> String {
    json!({
        "kind": "Sink", "objectName": name,
        "builtin": {"name": "postgres"},
        "input": {"topics": [topic(input)]},
        "subscriptionPosition": "earliest",
        "sinkConfig": {"host": "127.0.0.1", "port": pg.port, "database": "postgres",
                       "table": "public.copy", "batchSize": batch, "lingerMs": 5},
    })
    .to_string()
}

const ORDERS: &str = "CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int, price numeric(10,2), tags jsonb)";

fn json_of(m: &Msg) -> Value {
    serde_json::from_slice(&m.payload).expect("event is JSON")
}

/// A child fmesh-runner for `spec`, killed on drop.
struct Runner(Child);

impl Runner {
    fn spawn(url: &str, spec: &str) -> Runner {
        let child = Command::new(runner_bin())
            .args([
                "--spec",
                spec,
                "--pulsar-url",
                url,
                "--metrics-port",
                "0",
                "--metrics-bind",
                "127.0.0.1",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("fmesh-runner starts");
        Runner(child)
    }
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_captures_inserts_updates_deletes_in_commit_order() {
    for t in targets().await {
        eprintln!(
            "cdc_captures_inserts_updates_deletes_in_commit_order: against {}",
            t.name()
        );
        let pg = Pg::start();
        let db = pg.client().await;
        db.batch_execute(ORDERS).await.unwrap();
        let url = t.service_url();
        let mut watch = subscribe(&url, &topic("changes"), "watch").await;
        let source = start(&url, &cdc_spec(&pg, "cdc", "changes"), 0, 1).await;
        // Wait for the slot: changes before it exist are not captured (as Debezium's initial
        // position without a snapshot).
        within("slot", async {
            while db
                .query_opt(
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'fmesh_cdc'",
                    &[],
                )
                .await
                .unwrap()
                .is_none()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        db.batch_execute(
            "INSERT INTO orders VALUES (1, 'apple', 3, 1.50, '{\"fresh\": true}');
             INSERT INTO orders VALUES (2, 'pear', 1, 0.80, NULL);
             UPDATE orders SET qty = 4 WHERE id = 1;
             BEGIN; DELETE FROM orders WHERE id = 2; UPDATE orders SET id = 10 WHERE id = 1; COMMIT;",
        )
        .await
        .unwrap();
        let got = common::consume(&mut watch, 5).await;
        let ops: Vec<(String, String)> = got
            .iter()
            .map(|m| {
                (
                    json_of(m)["op"].as_str().unwrap().to_string(),
                    m.key.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ops,
            [
                ("c", r#"{"id":1}"#),
                ("c", r#"{"id":2}"#),
                ("u", r#"{"id":1}"#),
                ("d", r#"{"id":2}"#),
                ("u", r#"{"id":10}"#)
            ]
            .map(|(o, k)| (o.to_string(), k.to_string()))
        );
        let first = json_of(&got[0]);
        assert_eq!(first["before"], Value::Null);
        assert_eq!(
            first["after"],
            json!({"id": 1, "item": "apple", "qty": 3, "price": "1.50", "tags": {"fresh": true}})
        );
        assert_eq!(
            (
                first["source"]["table"].as_str(),
                first["source"]["schema"].as_str()
            ),
            (Some("orders"), Some("public"))
        );
        assert!(first["ts_ms"].as_i64().unwrap() >= first["source"]["ts_ms"].as_i64().unwrap());
        assert_eq!(json_of(&got[3])["before"], json!({"id": 2}));
        // The key changed: the old key comes in `before`.
        assert_eq!(json_of(&got[4])["before"], json!({"id": 1}));
        assert_eq!(json_of(&got[4])["after"]["qty"], 4);
        // Commit order: LSNs never go back; the last two share one transaction.
        let lsns: Vec<u64> = got
            .iter()
            .map(|m| json_of(m)["source"]["lsn"].as_u64().unwrap())
            .collect();
        assert!(lsns.windows(2).all(|w| w[0] <= w[1]), "{lsns:?}");
        assert_eq!(lsns[3], lsns[4]);
        stop(source).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_refuses_a_second_replica() {
    for t in targets().await {
        eprintln!("cdc_refuses_a_second_replica: against {}", t.name());
        let spec = json!({
            "kind": "Source", "objectName": "twice",
            "builtin": {"name": "postgres-cdc"},
            "output": {"topic": "twice"},
            "sourceConfig": {"host": "127.0.0.1", "database": "postgres", "tables": ["t"]},
        });
        let source = start(&t.service_url(), &spec.to_string(), 1, 2).await;
        let err = within("the instance ends", source.wait())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("spec.replicas"), "{err}");
    }
}

/// Rows keep being inserted while the source is SIGKILLed twice; after the last restart every
/// row's event has arrived, first copies in commit order (copies of unconfirmed events are
/// allowed: at-least-once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_resumes_after_a_kill_without_gaps() {
    for t in targets().await {
        eprintln!(
            "cdc_resumes_after_a_kill_without_gaps: against {}",
            t.name()
        );
        const ROWS: i32 = 600;
        let pg = Pg::start();
        let db = pg.client().await;
        db.batch_execute(ORDERS).await.unwrap();
        let url = t.service_url();
        let mut watch = subscribe(&url, &topic("orders-cdc"), "watch").await;
        let spec = cdc_spec(&pg, "resume", "orders-cdc");
        // Slot and publication first, so that every row below is captured.
        let first = Runner::spawn(&url, &spec);
        within("slot", async {
            while db
                .query_opt(
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'fmesh_resume'",
                    &[],
                )
                .await
                .unwrap()
                .is_none()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let writer = {
            let db = pg.client().await;
            tokio::spawn(async move {
                for i in 0..ROWS / 3 {
                    let id = i * 3;
                    let sql = format!(
                        "INSERT INTO orders (id, item) VALUES ({id}, 'a'), ({}, 'b'), ({}, 'c')",
                        id + 1,
                        id + 2
                    );
                    db.batch_execute(&sql).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            })
        };
        let mut seen = Vec::new();
        seen.extend(common::consume(&mut watch, 60).await);
        first.kill();
        let second = Runner::spawn(&url, &spec);
        seen.extend(common::consume(&mut watch, 60).await);
        second.kill();
        writer.await.unwrap();
        let _last = Runner::spawn(&url, &spec);
        let want: BTreeSet<i64> = (0..ROWS as i64).collect();
        within("every row after the kills", async {
            loop {
                let ids: BTreeSet<i64> = seen
                    .iter()
                    .map(|m| json_of(m)["after"]["id"].as_i64().unwrap())
                    .collect();
                if ids == want {
                    break;
                }
                seen.extend(drain(&mut watch, Duration::from_millis(500)).await);
            }
        })
        .await;
        let mut firsts = Vec::new();
        let mut met = BTreeSet::new();
        for m in &seen {
            let id = json_of(m)["after"]["id"].as_i64().unwrap();
            if met.insert(id) {
                firsts.push(id);
            }
        }
        assert_eq!(
            firsts,
            (0..ROWS as i64).collect::<Vec<_>>(),
            "first copies in commit order"
        );
        // The slot moved: nothing older than what was published is kept.
        let row = db
            .query_one("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'fmesh_resume'", &[])
            .await
            .unwrap();
        let confirmed: String = row.get(0);
        assert_ne!(confirmed, "0/0");
    }
}

fn op_and_id(m: &Msg) -> (String, i64) {
    let v = json_of(m);
    let row = if v["after"].is_null() {
        &v["before"]
    } else {
        &v["after"]
    };
    (
        v["op"].as_str().unwrap().to_string(),
        row["id"].as_i64().unwrap(),
    )
}

/// `snapshotMode: initial` (the default) while rows are inserted and updated concurrently:
/// every row that existed comes once as a read event, every later change once as a change
/// event — never both, never neither (the slot streams from the snapshot it exported).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_snapshot_reads_existing_rows_consistently_with_the_stream() {
    for t in targets().await {
        eprintln!(
            "cdc_snapshot_reads_existing_rows_consistently_with_the_stream: against {}",
            t.name()
        );
        const OLD: i64 = 3000;
        const NEW: i64 = 300;
        let pg = Pg::start();
        let db = pg.client().await;
        db.batch_execute(ORDERS).await.unwrap();
        db.batch_execute(&format!(
            "INSERT INTO orders SELECT g, 'item-' || g, 1, g % 100, NULL FROM generate_series(0, {}) g",
            OLD - 1
        ))
        .await
        .unwrap();
        let url = t.service_url();
        let mut watch = subscribe(&url, &topic("snap"), "watch").await;
        let source = start(&url, &cdc_spec(&pg, "snap", "snap"), 0, 1).await;
        // Writes race the snapshot: some commit before the slot's snapshot, most after.
        let writer = {
            let db = pg.client().await;
            tokio::spawn(async move {
                for i in 0..NEW {
                    db.batch_execute(&format!(
                        "INSERT INTO orders (id, item) VALUES ({}, 'new'); UPDATE orders SET qty = 99 WHERE id = {i}",
                        OLD + i
                    ))
                    .await
                    .unwrap();
                }
            })
        };
        let mut seen: Vec<Msg> = Vec::new();
        within("every row and every update", async {
            loop {
                seen.extend(drain(&mut watch, Duration::from_millis(300)).await);
                let mut qty = BTreeMap::new();
                for m in &seen {
                    let v = json_of(m);
                    qty.insert(
                        v["after"]["id"].as_i64().unwrap(),
                        v["after"]["qty"].as_i64(),
                    );
                }
                let done = qty.len() as i64 == OLD + NEW
                    && (0..NEW).all(|i| qty.get(&i) == Some(&Some(99)));
                if done && writer.is_finished() {
                    break;
                }
            }
        })
        .await;
        seen.extend(drain(&mut watch, Duration::from_millis(500)).await);
        let events: Vec<(String, i64)> = seen.iter().map(op_and_id).collect();
        let reads = events.iter().filter(|(op, _)| op == "r").count();
        let last_read = events.iter().rposition(|(op, _)| op == "r").unwrap();
        assert!(
            events[..last_read].iter().all(|(op, _)| op == "r"),
            "the snapshot comes before the stream"
        );
        let mut per_id: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        for (op, id) in &events {
            per_id.entry(*id).or_default().push(op);
        }
        for id in 0..OLD + NEW {
            let ops = &per_id[&id];
            let first = json_of(&seen[events.iter().position(|(_, i)| *i == id).unwrap()]);
            let want: &[&str] = match (id < OLD, id < NEW, ops[0]) {
                // Updated after the snapshot: the old row, then the update; before: the new row.
                (true, true, "r") if first["after"]["qty"] == 1 => &["r", "u"],
                (true, _, _) => &["r"],
                (false, _, "r") => &["r"],
                (false, _, _) => &["c"],
            };
            assert_eq!(ops, want, "row {id}");
        }
        assert!(reads >= OLD as usize, "{reads} read events");
        // Whether the writes raced the snapshot (they should: 300 transactions after the start).
        println!(
            "{reads} read events, {} change events",
            events.len() - reads
        );
        let r = json_of(&seen[0]);
        assert_eq!(r["source"]["snapshot"], "true");
        assert_eq!(r["before"], Value::Null);
        stop(source).await;
    }
}

/// A kill in the middle of the snapshot leaves no slot (the temporary one dies with its
/// session); the next start takes the snapshot again: nothing lost, copies allowed, and
/// then changes stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_snapshot_restarts_after_a_kill_mid_snapshot() {
    for t in targets().await {
        eprintln!(
            "cdc_snapshot_restarts_after_a_kill_mid_snapshot: against {}",
            t.name()
        );
        const ROWS: i64 = 20_000;
        let pg = Pg::start();
        let db = pg.client().await;
        db.batch_execute(ORDERS).await.unwrap();
        db.batch_execute(&format!(
            "INSERT INTO orders SELECT g, 'item-' || g FROM generate_series(0, {}) g",
            ROWS - 1
        ))
        .await
        .unwrap();
        let url = t.service_url();
        let mut watch = subscribe(&url, &topic("snapkill"), "watch").await;
        let mut spec: Value = serde_json::from_str(&cdc_spec(&pg, "snapkill", "snapkill")).unwrap();
        spec["sourceConfig"]["maxChangesPerPoll"] = json!(500);
        let spec = spec.to_string();
        let slot = || async {
            db.query_opt(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'fmesh_snapkill'",
                &[],
            )
            .await
            .unwrap()
            .is_some()
        };
        let first = Runner::spawn(&url, &spec);
        let mut seen = common::consume(&mut watch, 1000).await;
        first.kill();
        assert!(!slot().await, "killed before the snapshot was complete");
        let _second = Runner::spawn(&url, &spec);
        within("every row after the restart", async {
            loop {
                let ids: BTreeSet<i64> = seen.iter().map(|m| op_and_id(m).1).collect();
                if ids.len() as i64 == ROWS {
                    break;
                }
                seen.extend(drain(&mut watch, Duration::from_millis(300)).await);
            }
        })
        .await;
        within("the slot", async {
            while !slot().await {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        db.batch_execute("INSERT INTO orders (id, item) VALUES (-1, 'after')")
            .await
            .unwrap();
        let after = loop {
            let m = common::consume(&mut watch, 1).await.remove(0);
            if op_and_id(&m).0 != "r" {
                break m;
            }
        };
        assert_eq!(op_and_id(&after), ("c".to_string(), -1));
        let temp: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%_snap'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(temp, 0, "temporary slots are gone with their sessions");
    }
}

/// The snapshot's replication session signs in as Postgres asks (SCRAM-SHA-256, md5,
/// cleartext) and says why it cannot; the source then snapshots with the password from
/// `secretsMap.password`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_snapshot_session_authenticates_with_a_password() {
    for t in targets().await {
        eprintln!(
            "cdc_snapshot_session_authenticates_with_a_password: against {}",
            t.name()
        );
        use fmesh_runner::connectors::postgres::Target;
        use fmesh_runner::connectors::postgres_walsender::Walsender;
        let pg = Pg::start();
        let db = pg.client().await;
        db.batch_execute(ORDERS).await.unwrap();
        db.batch_execute(
            "INSERT INTO orders VALUES (1, 'apple', 3, 1.50, NULL);
             CREATE ROLE cdc LOGIN REPLICATION PASSWORD 'pw-scram';
             ALTER TABLE orders OWNER TO cdc;
             GRANT CREATE ON DATABASE postgres TO cdc;
             SET password_encryption = 'md5';
             CREATE ROLE cdc_md5 LOGIN REPLICATION PASSWORD 'pw-md5';
             CREATE ROLE cdc_plain LOGIN REPLICATION PASSWORD 'pw-plain';",
        )
        .await
        .unwrap();
        let hba = pg.dir.path().join("data/pg_hba.conf");
        let trust = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(
            &hba,
            format!(
                "host all cdc 127.0.0.1/32 scram-sha-256\nhost all cdc_md5 127.0.0.1/32 md5\n\
                 host all cdc_plain 127.0.0.1/32 password\n{trust}"
            ),
        )
        .unwrap();
        db.query_one("SELECT pg_reload_conf()", &[]).await.unwrap();
        let target = |user: &str, password: Option<&str>| Target {
            host: "127.0.0.1".into(),
            port: pg.port,
            database: "postgres".into(),
            user: user.into(),
            password: password.map(str::to_string),
        };
        for (user, password) in [
            ("cdc", "pw-scram"),
            ("cdc_md5", "pw-md5"),
            ("cdc_plain", "pw-plain"),
        ] {
            let mut wal = Walsender::connect(&target(user, Some(password)), "test")
                .await
                .unwrap_or_else(|e| panic!("{user}: {e}"));
            let slot = wal
                .create_temporary_slot(&format!("t_{user}"))
                .await
                .unwrap();
            assert!(
                !slot.snapshot.is_empty() && slot.lsn.contains('/'),
                "{slot:?}"
            );
            wal.close().await;
            let err = Walsender::connect(&target(user, Some("wrong")), "test")
                .await
                .err()
                .map(|e| e.to_string());
            let err = err.expect("a wrong password is refused");
            assert!(
                err.contains("password authentication failed"),
                "{user}: {err}"
            );
            let err = Walsender::connect(&target(user, None), "test")
                .await
                .err()
                .map(|e| e.to_string());
            assert!(
                err.expect("refused").contains("secretsMap.password"),
                "{user}"
            );
        }

        let url = t.service_url();
        let mut watch = subscribe(&url, &topic("scram"), "watch").await;
        let mut spec: Value = serde_json::from_str(&cdc_spec(&pg, "scram", "scram")).unwrap();
        spec["sourceConfig"]["user"] = json!("cdc");
        spec["secretsMap"] = json!({"password": {"path": "pg", "key": "password"}});
        let plan = fmesh_runner::spec::parse(&spec.to_string(), &|k| {
            (k == "password").then(|| "pw-scram".to_string())
        })
        .unwrap();
        let source = within(
            "runner starts",
            fmesh_runner::start_instance(fmesh_runner::InstanceConfig {
                plan,
                connection: fmesh_runner::Connection {
                    url: url.clone(),
                    ..Default::default()
                },
                identity: fmesh_runner::InstanceIdentity {
                    instance_id: 0,
                    instance_count: 1,
                },
                metrics_addr: None,
                drain_timeout: Duration::from_secs(5),
            }),
        )
        .await
        .unwrap();
        let got = common::consume(&mut watch, 1).await;
        assert_eq!(op_and_id(&got[0]), ("r".to_string(), 1));
        stop(source).await;
    }
}

async fn copy_table(db: &Client) {
    db.batch_execute("CREATE TABLE copy (id int PRIMARY KEY, item text NOT NULL, qty int, price numeric(10,2), tags jsonb)")
        .await
        .unwrap();
}

async fn rows(db: &Client) -> BTreeMap<i32, (String, Option<i32>)> {
    db.query("SELECT id, item, qty FROM copy", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_upserts_deletes_and_refuses_bad_rows() {
    for t in targets().await {
        eprintln!(
            "sink_upserts_deletes_and_refuses_bad_rows: against {}",
            t.name()
        );
        let pg = Pg::start();
        let db = pg.client().await;
        copy_table(&db).await;
        let url = t.service_url();
        let msgs = [
            json!({"id": 1, "item": "apple", "qty": 1}),
            json!({"op": "c", "before": null, "after": {"id": 2, "item": "pear", "qty": 2, "price": "0.80", "tags": ["x"]}}),
            json!({"id": 1, "item": "apple", "qty": 5}),
            json!({"id": 3, "item": "plum", "colour": "red"}),
            json!({"op": "d", "before": {"id": 2}, "after": null}),
            json!({"id": 4, "item": "fig", "qty": "many"}),
            json!({"id": 5, "item": "kiwi"}),
        ];
        let dlq = topic("copy-dlq");
        let mut dead = subscribe(&url, &dlq, "watch").await;
        let msgs: Vec<Msg> = msgs.iter().map(|v| Msg::text(&v.to_string())).collect();
        produce(&url, &topic("rows"), &msgs).await;
        let mut spec: Value = serde_json::from_str(&sink_spec(&pg, "copier", "rows", 100)).unwrap();
        spec["deadLetterTopic"] = json!(dlq);
        spec["maxMessageRetry"] = json!(0);
        let sink = start(&url, &spec.to_string(), 0, 1).await;
        until("all answered", || {
            sink.metrics.processed.get() + sink.metrics.system_exceptions.get() >= 7
        })
        .await;
        assert_eq!(sink.metrics.processed.get(), 5);
        let want = BTreeMap::from([
            (1, ("apple".to_string(), Some(5))),
            (5, ("kiwi".to_string(), None)),
        ]);
        assert_eq!(rows(&db).await, want);
        let dead: Vec<String> = common::consume(&mut dead, 2)
            .await
            .iter()
            .map(Msg::as_str)
            .collect();
        assert!(
            dead.iter().any(|d| d.contains("colour")) && dead.iter().any(|d| d.contains("many")),
            "{dead:?}"
        );
        stop(sink).await;
    }
}

/// The sink is SIGKILLed while it writes: after a restart the table holds exactly the final
/// state, every row once, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_survives_a_kill_mid_batch() {
    for t in targets().await {
        eprintln!("sink_survives_a_kill_mid_batch: against {}", t.name());
        const KEYS: i32 = 5000;
        let pg = Pg::start();
        let db = pg.client().await;
        copy_table(&db).await;
        let url = t.service_url();
        // Every key written twice (the second wins), every tenth deleted at the end.
        let mut msgs = Vec::new();
        for round in 0..2 {
            for id in 0..KEYS {
                msgs.push(Msg::text(
                    &json!({"id": id, "item": format!("r{round}"), "qty": id}).to_string(),
                ));
            }
        }
        for id in (0..KEYS).step_by(10) {
            msgs.push(Msg::text(
                &json!({"op": "d", "before": {"id": id}, "after": null}).to_string(),
            ));
        }
        produce_many(&url, &topic("bulk"), &msgs).await;
        let spec = sink_spec(&pg, "bulk", "bulk", 200);
        let first = Runner::spawn(&url, &spec);
        within("some batches committed", async {
            loop {
                let n: i64 = db
                    .query_one("SELECT count(*) FROM copy", &[])
                    .await
                    .unwrap()
                    .get(0);
                if n >= 500 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        first.kill();
        let partial: i64 = db
            .query_one("SELECT count(*) FROM copy", &[])
            .await
            .unwrap()
            .get(0);
        let _second = Runner::spawn(&url, &spec);
        let want: BTreeMap<i32, (String, Option<i32>)> = (0..KEYS)
            .filter(|id| id % 10 != 0)
            .map(|id| (id, ("r1".to_string(), Some(id))))
            .collect();
        within("final state", async {
            while rows(&db).await != want {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            partial < (KEYS as i64),
            "killed before the end ({partial} rows)"
        );
    }
}

/// `cargo test -p fmesh-runner --release --test postgres -- --ignored --nocapture bench`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints rows/s"]
async fn bench_postgres_connectors_against_copy() {
    const N: usize = 20_000;
    let pg = Pg::start();
    let db = pg.client().await;
    db.batch_execute(ORDERS).await.unwrap();
    copy_table(&db).await;
    db.batch_execute("CREATE TABLE floor (LIKE orders INCLUDING ALL)")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let text: String = (0..N)
        .map(|i| {
            format!(
                "{i},item-{i},{},{}.25,\"{{\"\"n\"\": {i}}}\"\n",
                i % 7,
                i % 100
            )
        })
        .collect();
    std::fs::write(&csv, text).unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    // Floor: psql's \copy of the same rows.
    let t = Instant::now();
    psql(&pg, &format!("\\copy floor FROM '{}' CSV", csv.display()));
    let floor = N as f64 / t.elapsed().as_secs_f64();

    let b = fmesh_broker::testing::fmesh(|_| {}).await;
    let url = b.service_url();
    let source = start(&url, &cdc_spec(&pg, "bench", "bench-changes"), 0, 1).await;
    within("slot", async {
        while db
            .query_opt(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'fmesh_bench'",
                &[],
            )
            .await
            .unwrap()
            .is_none()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    psql(&pg, &format!("\\copy orders FROM '{}' CSV", csv.display()));
    let t = Instant::now();
    within("cdc publishes every row", async {
        while source.metrics.processed.get() < N as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let cdc = N as f64 / t.elapsed().as_secs_f64();
    stop(source).await;

    let t = Instant::now();
    let sink = start(
        &url,
        &sink_spec(&pg, "bench-sink", "bench-changes", 500),
        0,
        1,
    )
    .await;
    within("sink writes every row", async {
        while sink.metrics.processed.get() < N as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let into = N as f64 / t.elapsed().as_secs_f64();
    stop(sink).await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM copy", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, N as i64);

    // The initial snapshot of the same 20 000 rows by a new source (no slot yet).
    let t = Instant::now();
    let snap = start(&url, &cdc_spec(&pg, "bench-snap", "bench-snap"), 0, 1).await;
    within("the snapshot publishes every row", async {
        while snap.metrics.processed.get() < N as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let snapshot = N as f64 / t.elapsed().as_secs_f64();
    stop(snap).await;
    println!("rows: {N}, one COPY transaction; CDC events about 300 bytes each");
    println!("| path | rows/s | % of COPY |");
    println!("|---|---|---|");
    println!("| psql \\copy (floor) | {floor:.0} | 100% |");
    println!(
        "| postgres-cdc → topic | {cdc:.0} | {:.0}% |",
        cdc / floor * 100.0
    );
    println!(
        "| topic → postgres sink (batch 500) | {into:.0} | {:.0}% |",
        into / floor * 100.0
    );
    println!(
        "| postgres-cdc initial snapshot → topic | {snapshot:.0} | {:.0}% |",
        snapshot / floor * 100.0
    );
}

/// Publishes many messages, waiting while pulsar-rs's queue is full.
async fn produce_many(url: &str, topic: &str, msgs: &[Msg]) {
    let pulsar = common::client(url).await;
    let mut p = pulsar
        .producer()
        .with_topic(topic)
        .with_options(pulsar::producer::ProducerOptions {
            block_queue_if_full: true,
            ..Default::default()
        })
        .build()
        .await
        .expect("producer");
    let mut receipts = Vec::new();
    for m in msgs {
        receipts.push(p.send_non_blocking(m.payload.clone()).await.expect("send"));
    }
    for r in receipts {
        within("receipt", r).await.expect("receipt");
    }
}

fn psql(pg: &Pg, command: &str) {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
            "-U",
            "postgres",
            "-c",
            command,
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
