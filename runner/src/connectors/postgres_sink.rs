//! `postgres` sink: each message upserted (or deleted, or inserted) by key into a table, in
//! batched transactions; a message is answered only after its transaction committed, so the
//! pipeline acks only what is stored (fmesh_crds::connectors::postgres).
//!
//! A message is a JSON object whose fields are columns, or a Debezium change event (`op`
//! c/r/u upserts `after`, `d` deletes `before`'s key). Within a batch the last change per key
//! wins, and each batch is one `INSERT … SELECT FROM json_populate_recordset … ON CONFLICT DO
//! UPDATE` (plus one `DELETE … USING`), so redelivered messages rewrite the same rows.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use fmesh_crds::connectors::ConnectorKind;
use fmesh_crds::connectors::postgres::{PostgresSinkConfig, WriteMode};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Client;

use super::postgres::{RETRY_MAX, RETRY_START, Target, db_message, quote_ident, quote_table};
use super::{SinkConnector, Written};
use crate::error::RunnerError;
use crate::record::Record;
use crate::spec::Plan;

/// What a message asks of the table.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Insert, or update the row with this key.
    Upsert(Map<String, Value>),
    /// Plain insert (`mode: insert`).
    Insert(Map<String, Value>),
    /// Delete the row with this key.
    Delete(Map<String, Value>),
}

/// The target table's columns and key, read from the catalogue.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The quoted name.
    pub sql_name: String,
    /// Column names in table order.
    pub columns: Vec<String>,
    /// Key columns (configured, or the primary key).
    pub key: Vec<String>,
}

/// A message's payload as an operation on the table (pure; errors name the field).
pub fn to_op(payload: &[u8], mode: WriteMode, table: &Table) -> Result<Op, String> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    let Value::Object(obj) = value else {
        return Err(
            "payload is not a JSON object (expected columns as fields, or a Debezium change event)"
                .into(),
        );
    };
    let is_event = obj.get("op").is_some_and(Value::is_string)
        && (obj.contains_key("after") || obj.contains_key("before"));
    let op = if is_event {
        let image = |field: &str| match obj.get(field) {
            Some(Value::Object(row)) => Ok(row.clone()),
            _ => Err(format!(
                "a change event with op `{}` needs an object in `{field}`",
                obj["op"].as_str().unwrap_or_default()
            )),
        };
        match obj["op"].as_str().unwrap_or_default() {
            "c" | "r" | "u" => Op::Upsert(image("after")?),
            "d" => Op::Delete(image("before")?),
            other => {
                return Err(format!(
                    "change event op `{other}` is not supported (c, r, u, d)"
                ));
            }
        }
    } else {
        Op::Upsert(obj)
    };
    let op = match (op, mode) {
        (Op::Upsert(row), WriteMode::Insert) => Op::Insert(row),
        (Op::Delete(_), WriteMode::Insert) => {
            return Err("deletes need sinkConfig.mode: upsert (a key to delete by)".into());
        }
        (op, _) => op,
    };
    check(&op, table)?;
    Ok(op)
}

fn check(op: &Op, table: &Table) -> Result<(), String> {
    let (Op::Upsert(row) | Op::Insert(row) | Op::Delete(row)) = op;
    if let Some(bad) = row.keys().find(|k| !table.columns.contains(k)) {
        return Err(format!(
            "field `{bad}` is not a column of {} (columns: {})",
            table.sql_name,
            table.columns.join(", ")
        ));
    }
    if !matches!(op, Op::Insert(_))
        && let Some(k) = table
            .key
            .iter()
            .find(|k| row.get(*k).is_none_or(Value::is_null))
    {
        return Err(format!("key column `{k}` is missing or null"));
    }
    Ok(())
}

/// The key of a row, for coalescing a batch.
fn key_of(row: &Map<String, Value>, table: &Table) -> String {
    let key: Vec<&Value> = table.key.iter().map(|k| &row[k]).collect();
    serde_json::to_string(&key).expect("values serialize")
}

/// The statements of one batch: `(sql, rows as a JSON array)`, deletes first. The last op per
/// key wins (so no statement touches a row twice); rows with the same columns share one.
pub fn statements(ops: &[&Op], table: &Table) -> Vec<(String, String)> {
    let mut last: BTreeMap<String, (usize, &Op)> = BTreeMap::new();
    let mut inserts = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Insert(_) => inserts.push(*op),
            Op::Upsert(r) | Op::Delete(r) => {
                last.insert(key_of(r, table), (i, *op));
            }
        }
    }
    let mut winners: Vec<(usize, &Op)> = last.into_values().collect();
    winners.sort_by_key(|(i, _)| *i);
    let deletes: Vec<&Map<String, Value>> = winners
        .iter()
        .filter_map(|(_, op)| match op {
            Op::Delete(r) => Some(r),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    if !deletes.is_empty() {
        let rows: Vec<Value> = deletes
            .iter()
            .map(|r| {
                Value::Object(
                    table
                        .key
                        .iter()
                        .map(|k| (k.clone(), r[k].clone()))
                        .collect(),
                )
            })
            .collect();
        let on: Vec<String> = table
            .key
            .iter()
            .map(|k| format!("t.{0} = d.{0}", quote_ident(k)))
            .collect();
        let sql = format!(
            "DELETE FROM {0} t USING json_populate_recordset(NULL::{0}, $1::text::json) d WHERE {1}",
            table.sql_name,
            on.join(" AND ")
        );
        out.push((sql, Value::Array(rows).to_string()));
    }
    let upserts = winners.iter().filter_map(|(_, op)| match op {
        Op::Upsert(r) => Some((true, r)),
        _ => None,
    });
    let plain = inserts.iter().filter_map(|op| match op {
        Op::Insert(r) => Some((false, r)),
        _ => None,
    });
    let mut groups: BTreeMap<(bool, Vec<String>), Vec<Value>> = BTreeMap::new();
    for (upsert, row) in upserts.chain(plain) {
        let cols: Vec<String> = table
            .columns
            .iter()
            .filter(|c| row.contains_key(*c))
            .cloned()
            .collect();
        groups
            .entry((upsert, cols))
            .or_default()
            .push(Value::Object(row.clone()));
    }
    for ((upsert, cols), rows) in groups {
        out.push((
            insert_sql(table, &cols, upsert),
            Value::Array(rows).to_string(),
        ));
    }
    out
}

fn insert_sql(table: &Table, cols: &[String], upsert: bool) -> String {
    let list: Vec<String> = cols.iter().map(|c| quote_ident(c)).collect();
    let list = list.join(", ");
    let mut sql = format!(
        "INSERT INTO {0} ({list}) SELECT {list} FROM json_populate_recordset(NULL::{0}, $1::text::json)",
        table.sql_name
    );
    if upsert {
        let keys: Vec<String> = table.key.iter().map(|k| quote_ident(k)).collect();
        let set: Vec<String> = cols
            .iter()
            .filter(|c| !table.key.contains(c))
            .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
            .collect();
        if set.is_empty() {
            sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                set.join(", ")
            ));
        }
    }
    sql
}

/// One message waiting for its transaction.
struct Pending {
    payload: Vec<u8>,
    done: oneshot::Sender<Result<(), String>>,
}

struct PostgresSink {
    queue: mpsc::Sender<Pending>,
}

/// Builds the sink from `sinkConfig` and starts its writer task.
pub fn build(plan: &Plan) -> Result<Box<dyn SinkConnector>, RunnerError> {
    let config: PostgresSinkConfig = super::config(plan, ConnectorKind::Sink, "postgres")?;
    let target = Target::new(
        plan,
        &config.host,
        config.port,
        &config.database,
        &config.user,
    );
    let (queue, rx) = mpsc::channel(config.batch_size.max(1) * 2);
    let writer = Writer {
        application: format!("fmesh {}", plan.name),
        target,
        config,
    };
    tokio::spawn(writer.run(rx));
    Ok(Box::new(PostgresSink { queue }))
}

impl SinkConnector for PostgresSink {
    fn write(&mut self, record: Record) -> BoxFuture<'_, Written> {
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            payload: record.payload,
            done,
        };
        let written: Written = Box::pin(async move {
            answer
                .await
                .unwrap_or_else(|_| Err("postgres sink writer stopped".into()))
        });
        // Waiting for room in the queue is the back-pressure; the answer comes after commit.
        Box::pin(self.queue.send(pending).map(move |sent| match sent {
            Ok(()) => written,
            Err(_) => Box::pin(std::future::ready(Err(
                "postgres sink writer stopped".to_string(),
            ))) as Written,
        }))
    }
}

struct Writer {
    application: String,
    target: Target,
    config: PostgresSinkConfig,
}

impl Writer {
    /// Collects batches (up to `batchSize`, or what came within `lingerMs`) and writes each in
    /// one transaction, reconnecting as long as it takes; ends when the sink is dropped.
    async fn run(self, mut rx: mpsc::Receiver<Pending>) {
        let mut conn: Option<(Client, Table)> = None;
        let mut backoff = RETRY_START;
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            let linger = tokio::time::sleep(Duration::from_millis(self.config.linger_ms));
            tokio::pin!(linger);
            while batch.len() < self.config.batch_size {
                tokio::select! {
                    more = rx.recv() => match more {
                        Some(p) => batch.push(p),
                        None => break,
                    },
                    () = &mut linger => break,
                }
            }
            loop {
                if conn.is_none() {
                    match self.open().await {
                        Ok(c) => conn = Some(c),
                        Err(reason) => {
                            tracing::warn!(%reason, retry_in_ms = backoff.as_millis() as u64, "postgres sink cannot write yet");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(RETRY_MAX);
                            continue;
                        }
                    }
                }
                let (client, table) = conn.as_mut().expect("connected above");
                match write_batch(client, table, self.config.mode, &batch).await {
                    Ok(results) => {
                        backoff = RETRY_START;
                        for (p, r) in batch.drain(..).zip(results) {
                            let _ = p.done.send(r);
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, rows = batch.len(), "postgres sink batch failed; reconnecting");
                        conn = None;
                    }
                }
            }
        }
    }

    async fn open(&self) -> Result<(Client, Table), String> {
        let client = self
            .target
            .connect(&self.application)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let table = describe(&client, &self.config).await?;
        Ok((client, table))
    }
}

/// Reads the table's columns and primary key; errors name the config field.
async fn describe(client: &Client, config: &PostgresSinkConfig) -> Result<Table, String> {
    let sql_name = quote_table(&config.table);
    let rows = client
        .query(
            "SELECT a.attname::text, coalesce(a.attnum = ANY(i.indkey::int2[]), false) \
             FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&sql_name],
        )
        .await
        .map_err(|e| format!("spec.sinkConfig.table: {}: {}", config.table, db_message(&e)))?;
    let columns: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let primary: Vec<String> = rows
        .iter()
        .filter(|r| r.get::<_, bool>(1))
        .map(|r| r.get(0))
        .collect();
    let key = config.key_columns.clone().unwrap_or(primary);
    if let Some(k) = key.iter().find(|k| !columns.contains(k)) {
        return Err(format!(
            "spec.sinkConfig.keyColumns: `{k}` is not a column of {}",
            config.table
        ));
    }
    if key.is_empty() && config.mode == WriteMode::Upsert {
        return Err(format!(
            "spec.sinkConfig.keyColumns: {} has no primary key; name the key columns or use mode: insert",
            config.table
        ));
    }
    Ok(Table {
        sql_name,
        columns,
        key,
    })
}

/// Writes a batch in one transaction; per message, `Ok` or why it was refused. `Err` only when
/// the connection failed (nothing is answered then; the batch is tried again).
async fn write_batch(
    client: &mut Client,
    table: &Table,
    mode: WriteMode,
    batch: &[Pending],
) -> Result<Vec<Result<(), String>>, tokio_postgres::Error> {
    let parsed: Vec<Result<Op, String>> = batch
        .iter()
        .map(|p| to_op(&p.payload, mode, table))
        .collect();
    let good: Vec<&Op> = parsed.iter().filter_map(|r| r.as_ref().ok()).collect();
    let tx = client.transaction().await?;
    let mut failed = None;
    for (sql, rows) in statements(&good, table) {
        if let Err(e) = tx.execute(&sql, &[&rows]).await {
            failed = Some(e);
            break;
        }
    }
    match failed {
        None => {
            tx.commit().await?;
            Ok(parsed.into_iter().map(|r| r.map(|_| ())).collect())
        }
        Some(e) if e.as_db_error().is_none() => Err(e),
        Some(_) => {
            drop(tx);
            one_by_one(client, table, parsed).await
        }
    }
}

/// A batch the database refused (one bad value fails them all): each message on its own, so
/// only the bad ones are refused, with the database's reason.
async fn one_by_one(
    client: &mut Client,
    table: &Table,
    parsed: Vec<Result<Op, String>>,
) -> Result<Vec<Result<(), String>>, tokio_postgres::Error> {
    let mut out = Vec::with_capacity(parsed.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for op in parsed {
        let op = match op {
            Ok(op) => op,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        let mut result = Ok(());
        for (sql, rows) in statements(&[&op], table) {
            if let Err(e) = client.execute(&sql, &[&rows]).await {
                if e.as_db_error().is_none() {
                    return Err(e);
                }
                *seen.entry(db_message(&e)).or_default() += 1;
                result = Err(format!("{}: {}", table.sql_name, db_message(&e)));
                break;
            }
        }
        out.push(result);
    }
    for (reason, n) in seen {
        tracing::warn!(%reason, rows = n, "postgres sink refused rows");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> Table {
        Table {
            sql_name: r#""public"."orders""#.into(),
            columns: vec!["id".into(), "item".into(), "qty".into()],
            key: vec!["id".into()],
        }
    }

    fn op(v: Value) -> Result<Op, String> {
        to_op(v.to_string().as_bytes(), WriteMode::Upsert, &table())
    }

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn payloads_become_operations() {
        assert_eq!(
            op(json!({"id": 1, "item": "a"})),
            Ok(Op::Upsert(row(json!({"id": 1, "item": "a"}))))
        );
        let ev = json!({"op": "u", "before": null, "after": {"id": 2, "qty": 3}, "source": {}});
        assert_eq!(op(ev), Ok(Op::Upsert(row(json!({"id": 2, "qty": 3})))));
        let del = json!({"op": "d", "before": {"id": 2}, "after": null});
        assert_eq!(op(del.clone()), Ok(Op::Delete(row(json!({"id": 2})))));
        let err = to_op(del.to_string().as_bytes(), WriteMode::Insert, &table()).unwrap_err();
        assert!(err.contains("mode: upsert"), "{err}");
    }

    #[test]
    fn bad_payloads_say_what_is_wrong() {
        assert!(op(json!([1])).unwrap_err().contains("not a JSON object"));
        let err = op(json!({"id": 1, "colour": "red"})).unwrap_err();
        assert!(
            err.contains("`colour` is not a column") && err.contains("id, item, qty"),
            "{err}"
        );
        assert!(
            op(json!({"item": "a"}))
                .unwrap_err()
                .contains("key column `id`")
        );
        assert!(
            op(json!({"op": "t", "after": {}}))
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            to_op(b"{", WriteMode::Upsert, &table())
                .unwrap_err()
                .contains("not JSON")
        );
    }

    #[test]
    fn a_batch_keeps_the_last_change_per_key() {
        let ops = [
            Op::Upsert(row(json!({"id": 1, "item": "a"}))),
            Op::Upsert(row(json!({"id": 2, "item": "b"}))),
            Op::Upsert(row(json!({"id": 1, "item": "c"}))),
            Op::Delete(row(json!({"id": 2}))),
            Op::Upsert(row(json!({"id": 3}))),
        ];
        let refs: Vec<&Op> = ops.iter().collect();
        let st = statements(&refs, &table());
        assert_eq!(st.len(), 3, "{st:#?}");
        assert!(
            st[0]
                .0
                .starts_with(r#"DELETE FROM "public"."orders" t USING"#),
            "{}",
            st[0].0
        );
        assert_eq!(st[0].1, r#"[{"id":2}]"#);
        let full = st
            .iter()
            .find(|(s, _)| s.contains(r#"("id", "item")"#))
            .expect("id+item group");
        assert!(
            full.0
                .ends_with(r#"ON CONFLICT ("id") DO UPDATE SET "item" = EXCLUDED."item""#),
            "{}",
            full.0
        );
        assert_eq!(full.1, r#"[{"id":1,"item":"c"}]"#);
        let key_only = st
            .iter()
            .find(|(s, _)| s.contains(r#"("id") SELECT"#))
            .expect("id-only group");
        assert!(key_only.0.ends_with("DO NOTHING"), "{}", key_only.0);
    }
}
