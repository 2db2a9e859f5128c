//! `fmesh run` of the mesh postgres-cdc → wasm enrichment → postgres sink, end to end against
//! a real Postgres (scripts/postgres-test.sh) and the embedded broker.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres-test.sh");

/// A throwaway Postgres; stopped on drop.
struct Pg {
    dir: tempfile::TempDir,
    port: u16,
}

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

fn mesh(port: u16, guest: &Path) -> String {
    format!(
        "apiVersion: compute.functionmesh.io/v1alpha1
kind: FunctionMesh
metadata: {{name: shop}}
spec:
  sources:
    - name: cdc
      builtin: {{name: postgres-cdc}}
      sourceConfig: {{host: 127.0.0.1, port: {port}, database: postgres, tables: [public.orders], pollIntervalMs: 20}}
      output: {{topic: orders-changes}}
      pulsar: {{pulsarConfig: local}}
  functions:
    - name: enrich
      wasm: {{module: {}, export: enrich}}
      input: {{topics: [orders-changes]}}
      output: {{topic: orders-enriched}}
      pulsar: {{pulsarConfig: local}}
  sinks:
    - name: copy
      builtin: {{name: postgres}}
      sinkConfig: {{host: 127.0.0.1, port: {port}, database: postgres, table: public.orders_copy, batchSize: 50}}
      input: {{topics: [orders-enriched]}}
      pulsar: {{pulsarConfig: local}}
",
        guest.display()
    )
}

type Rows = BTreeMap<i32, (String, i32, Option<String>)>;

async fn copied(db: &Client) -> Rows {
    db.query("SELECT id, item, qty, region FROM orders_copy", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect()
}

async fn wait_for(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_through_wasm_into_postgres_with_fmesh_run() {
    let pg = Pg::start();
    let db = pg.client().await;
    db.batch_execute(
        "CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int NOT NULL);
         CREATE TABLE orders_copy (id int PRIMARY KEY, item text NOT NULL, qty int NOT NULL, region text);",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_enrich.wat");
    let file = dir.path().join("shop.yaml");
    std::fs::write(&file, mesh(pg.port, &guest)).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fmesh"))
        .arg("run")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("broker"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("fmesh runs");
    // Changes count from the slot's creation (no snapshot), so write once it exists.
    wait_for("the slot", async || {
        db.query_opt(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'fmesh_cdc'",
            &[],
        )
        .await
        .unwrap()
        .is_some()
    })
    .await;
    db.batch_execute(
        "INSERT INTO orders SELECT g, 'item-' || g, g FROM generate_series(1, 200) g;
         UPDATE orders SET qty = qty * 10 WHERE id % 2 = 0;
         DELETE FROM orders WHERE id % 5 = 0;
         BEGIN; INSERT INTO orders VALUES (1000, 'late', 1); UPDATE orders SET item = 'later' WHERE id = 1000; COMMIT;",
    )
    .await
    .unwrap();
    let mut want: Rows = (1..=200)
        .filter(|id| id % 5 != 0)
        .map(|id| {
            (
                id,
                (
                    format!("item-{id}"),
                    if id % 2 == 0 { id * 10 } else { id },
                    Some("EU".to_string()),
                ),
            )
        })
        .collect();
    want.insert(1000, ("later".into(), 1, Some("EU".into())));
    wait_for("orders_copy mirrors orders, enriched", async || {
        copied(&db).await == want
    })
    .await;
    // Ctrl-C: drain and exit 0.
    let pid = child.id().expect("running") as i32;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let mirrored: BTreeMap<i32, (String, i32)> = db
        .query("SELECT id, item, qty FROM orders", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let copy: BTreeMap<i32, (String, i32)> = copied(&db)
        .await
        .into_iter()
        .map(|(k, (i, q, _))| (k, (i, q)))
        .collect();
    assert_eq!(mirrored, copy);
}
