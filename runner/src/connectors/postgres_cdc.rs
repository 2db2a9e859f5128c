//! `postgres-cdc`: a table's changes, as Debezium-shaped JSON events keyed by primary key, in
//! commit order (fmesh_crds::connectors::postgres).
//!
//! Reads the replication slot with `pg_logical_slot_peek_binary_changes` (pgoutput, whole
//! transactions) on a plain SQL connection, publishes every event, waits for all of Pulsar's
//! receipts, and only then moves the slot with `pg_replication_slot_advance` to the end of
//! the last transaction published. A kill at any point therefore loses nothing: the next
//! start peeks again from the confirmed position (what was published but not yet confirmed
//! is published again — at-least-once; `source.lsn` tells the copies apart).
//!
//! The initial snapshot (`snapshotMode: initial`, on a start with no slot): a replication
//! session creates a *temporary* slot exporting its snapshot; the tables are read in a
//! REPEATABLE READ transaction on that snapshot and published as `op: "r"` events; once every
//! receipt is in, the temporary slot is copied to the permanent one, which therefore streams
//! exactly the transactions the snapshot did not see. A kill mid-snapshot ends the session,
//! which drops the temporary slot: no permanent slot exists, so the next start takes the
//! snapshot again from the beginning (rows already published come again: at-least-once, never
//! lost). Progress is not recorded because it could not be resumed: an exported snapshot dies
//! with its session, and a new one sees another state at another position.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fmesh_crds::connectors::ConnectorKind;
use fmesh_crds::connectors::postgres::{PostgresCdcConfig, SnapshotMode};
use futures::future::{BoxFuture, try_join_all};
use tokio_postgres::{Client, SimpleQueryMessage};

use super::postgres::{
    RETRY_MAX, RETRY_START, Target, db_message, object_name, quote_ident, quote_table,
};
use super::postgres_pgoutput::{
    Column, Datum, Decoder, Origin, Relation, Transaction, event, lsn_text, parse_lsn, read_event,
};
use super::postgres_walsender::Walsender;
use super::{OutMessage, SourceConnector, SourceContext};
use crate::error::RunnerError;
use crate::spec::Plan;

struct Cdc {
    config: PostgresCdcConfig,
    target: Target,
    name: String,
    slot: String,
    publication: String,
}

/// Builds the source from `sourceConfig`.
pub fn build(plan: &Plan) -> Result<Box<dyn SourceConnector>, RunnerError> {
    let config: PostgresCdcConfig = super::config(plan, ConnectorKind::Source, "postgres-cdc")?;
    let target = Target::new(
        plan,
        &config.host,
        config.port,
        &config.database,
        &config.user,
    );
    let default_name = object_name("fmesh_", &plan.name);
    Ok(Box::new(Cdc {
        slot: config.slot.clone().unwrap_or_else(|| default_name.clone()),
        publication: config.publication.clone().unwrap_or(default_name),
        name: plan.name.clone(),
        target,
        config,
    }))
}

impl SourceConnector for Cdc {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), RunnerError>> {
        Box::pin(self.capture(ctx))
    }
}

/// Why a round of capture stopped.
enum Failure {
    /// Postgres went away or refused a query: reconnect and go on from the slot.
    Database(tokio_postgres::Error),
    /// Pulsar refused a message: nothing is confirmed; start the round again.
    Publish(String),
    /// The replication session of the snapshot failed: start again.
    Snapshot(String),
    /// Bad pgoutput data: nothing to retry.
    Decode(String),
}

impl Cdc {
    async fn capture(self, ctx: SourceContext) -> Result<(), RunnerError> {
        if ctx.identity.instance_count > 1 {
            // Two readers of one slot would publish the same changes and race to advance it.
            return Err(RunnerError::spec(
                "spec.replicas",
                "postgres-cdc reads one replication slot, so it runs as one replica: set replicas: 1",
            ));
        }
        tracing::info!(slot = %self.slot, publication = %self.publication, tables = ?self.config.tables, "postgres-cdc started");
        let mut backoff = RETRY_START;
        while !ctx.stop.is_cancelled() {
            let failure = match self.target.connect(&format!("fmesh {}", self.name)).await {
                Ok(client) => match self.prepare(&client, &ctx).await {
                    Ok(()) => {
                        backoff = RETRY_START;
                        match self.stream(&client, &ctx).await {
                            Ok(()) => return Ok(()),
                            Err(f) => f,
                        }
                    }
                    Err(f) => f,
                },
                Err(e) => Failure::Database(e),
            };
            let reason = match failure {
                Failure::Decode(e) => {
                    return Err(RunnerError::RuntimeStart(format!("postgres-cdc: {e}")));
                }
                Failure::Database(e) => format!("postgres: {}", db_message(&e)),
                Failure::Publish(e) => format!("pulsar: {e}"),
                Failure::Snapshot(e) => format!("snapshot: {e}"),
            };
            tracing::warn!(%reason, retry_in_ms = backoff.as_millis() as u64, "postgres-cdc round failed; resuming from the slot");
            tokio::select! {
                () = ctx.stop.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
        Ok(())
    }

    /// Creates the publication and the slot when they do not exist yet (the slot after the
    /// initial snapshot, when there is one).
    async fn prepare(&self, client: &Client, ctx: &SourceContext) -> Result<(), Failure> {
        self.publication(client).await.map_err(Failure::Database)?;
        let has_slot = client
            .query_opt(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.slot],
            )
            .await
            .map_err(Failure::Database)?
            .is_some();
        if has_slot {
            return Ok(());
        }
        match self.config.snapshot_mode {
            SnapshotMode::Initial => self.snapshot(client, ctx).await,
            SnapshotMode::Never => {
                client
                    .query_one(
                        "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
                        &[&self.slot],
                    )
                    .await
                    .map_err(Failure::Database)?;
                tracing::info!(slot = %self.slot, "replication slot created");
                Ok(())
            }
        }
    }

    /// Creates the publication (for `tables`) when it does not exist.
    async fn publication(&self, client: &Client) -> Result<(), tokio_postgres::Error> {
        let has_pub = client
            .query_opt(
                "SELECT 1 FROM pg_publication WHERE pubname = $1",
                &[&self.publication],
            )
            .await?
            .is_some();
        if !has_pub {
            let tables: Vec<String> = self.config.tables.iter().map(|t| quote_table(t)).collect();
            let sql = format!(
                "CREATE PUBLICATION {} FOR TABLE {}",
                super::postgres::quote_ident(&self.publication),
                tables.join(", ")
            );
            client.batch_execute(&sql).await?;
            tracing::info!(publication = %self.publication, "publication created");
        }
        Ok(())
    }

    /// The initial snapshot (see the module notes): every row of `tables` at the snapshot
    /// of a temporary slot, published and confirmed, then that slot copied to the permanent one.
    async fn snapshot(&self, client: &Client, ctx: &SourceContext) -> Result<(), Failure> {
        let snap = |e: super::postgres_walsender::WalsenderError| Failure::Snapshot(e.to_string());
        let temp = format!("{}_snap", self.slot.chars().take(58).collect::<String>());
        let mut wal = Walsender::connect(&self.target, &format!("fmesh {} snapshot", self.name))
            .await
            .map_err(snap)?;
        let exported = wal.create_temporary_slot(&temp).await.map_err(snap)?;
        let lsn = parse_lsn(&exported.lsn)
            .ok_or_else(|| Failure::Snapshot(format!("bad consistent point {}", exported.lsn)))?;
        tracing::info!(slot = %temp, lsn = %exported.lsn, snapshot = %exported.snapshot, "snapshot started");
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
                exported.snapshot.replace('\'', "''")
            ))
            .await
            .map_err(Failure::Database)?;
        let mut rows = 0;
        for table in &self.config.tables {
            rows += self.snapshot_table(client, table, lsn, ctx).await?;
        }
        client
            .batch_execute("COMMIT")
            .await
            .map_err(Failure::Database)?;
        client
            .query_one(
                "SELECT 1 FROM pg_copy_logical_replication_slot($1, $2, false)",
                &[&temp, &self.slot],
            )
            .await
            .map_err(Failure::Database)?;
        wal.close().await;
        tracing::info!(rows, slot = %self.slot, lsn = %exported.lsn, "snapshot published; replication slot created");
        Ok(())
    }

    /// Publishes every row of `table` (in the snapshot's transaction) as read events, a
    /// batch at a time, each batch's receipts awaited before the next is fetched.
    async fn snapshot_table(
        &self,
        client: &Client,
        table: &str,
        lsn: u64,
        ctx: &SourceContext,
    ) -> Result<u64, Failure> {
        let relation = relation(client, table).await.map_err(Failure::Database)?;
        let columns: Vec<String> = relation
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect();
        client
            .batch_execute(&format!(
                "DECLARE fmesh_snapshot NO SCROLL CURSOR FOR SELECT {} FROM {}",
                columns.join(", "),
                quote_table(table)
            ))
            .await
            .map_err(Failure::Database)?;
        let origin = Origin {
            name: &self.name,
            database: &self.config.database,
        };
        let fetch = format!(
            "FETCH {} FROM fmesh_snapshot",
            self.config.max_changes_per_poll
        );
        let mut published = 0;
        loop {
            if ctx.stop.is_cancelled() {
                return Err(Failure::Snapshot(
                    "stopped before the snapshot was complete; the next start takes it again"
                        .into(),
                ));
            }
            let messages = client
                .simple_query(&fetch)
                .await
                .map_err(Failure::Database)?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let mut receipts = Vec::new();
            for m in &messages {
                let SimpleQueryMessage::Row(row) = m else {
                    continue;
                };
                let datums: Vec<Datum> = (0..relation.columns.len())
                    .map(|i| {
                        row.get(i)
                            .map_or(Datum::Null, |t| Datum::Text(t.to_string()))
                    })
                    .collect();
                let (key, payload) = read_event(&relation, &datums, &origin, lsn, now);
                let msg = OutMessage {
                    payload: payload.to_string().into_bytes(),
                    key: Some(key),
                    properties: Default::default(),
                    event_time: None,
                };
                receipts.push(
                    ctx.output
                        .send(msg)
                        .await
                        .map_err(|e| Failure::Publish(e.to_string()))?,
                );
            }
            if receipts.is_empty() {
                break;
            }
            published += receipts.len() as u64;
            try_join_all(receipts).await.map_err(Failure::Publish)?;
            tracing::debug!(table, published, "snapshot rows confirmed");
        }
        client
            .batch_execute("CLOSE fmesh_snapshot")
            .await
            .map_err(Failure::Database)?;
        Ok(published)
    }

    /// Peek, publish, wait for receipts, advance; until stopped.
    async fn stream(&self, client: &Client, ctx: &SourceContext) -> Result<(), Failure> {
        let peek = client
            .prepare(
                "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, \
                 'proto_version', '1', 'publication_names', $3)",
            )
            .await
            .map_err(Failure::Database)?;
        let limit = i32::try_from(self.config.max_changes_per_poll).unwrap_or(i32::MAX);
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let origin = Origin {
            name: &self.name,
            database: &self.config.database,
        };
        let mut decoder = Decoder::default();
        while !ctx.stop.is_cancelled() {
            let rows = client
                .query(&peek, &[&self.slot, &limit, &self.publication])
                .await
                .map_err(Failure::Database)?;
            let mut txs: Vec<Transaction> = Vec::new();
            for row in &rows {
                let data: &[u8] = row.get(0);
                if let Some(tx) = decoder
                    .feed(data)
                    .map_err(|e| Failure::Decode(e.to_string()))?
                {
                    txs.push(tx);
                }
            }
            let Some(last) = txs.last().map(|t| t.end_lsn) else {
                tokio::select! {
                    () = ctx.stop.cancelled() => {}
                    () = tokio::time::sleep(poll) => {}
                }
                continue;
            };
            self.publish(&decoder, &txs, &origin, ctx).await?;
            client
                .query_one(
                    "SELECT 1 FROM pg_replication_slot_advance($1, $2::text::pg_lsn)",
                    &[&self.slot, &lsn_text(last)],
                )
                .await
                .map_err(Failure::Database)?;
            tracing::debug!(lsn = %lsn_text(last), transactions = txs.len(), "confirmed");
        }
        Ok(())
    }

    /// Sends every change of the transactions in order and waits for all receipts.
    async fn publish(
        &self,
        decoder: &Decoder,
        txs: &[Transaction],
        origin: &Origin<'_>,
        ctx: &SourceContext,
    ) -> Result<(), Failure> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut receipts = Vec::new();
        for tx in txs {
            for change in &tx.changes {
                let (key, payload) = event(decoder, tx, change, origin, now)
                    .map_err(|e| Failure::Decode(e.to_string()))?;
                let msg = OutMessage {
                    payload: payload.to_string().into_bytes(),
                    key: Some(key),
                    properties: Default::default(),
                    event_time: u64::try_from(tx.commit_ms).ok(),
                };
                receipts.push(
                    ctx.output
                        .send(msg)
                        .await
                        .map_err(|e| Failure::Publish(e.to_string()))?,
                );
            }
        }
        try_join_all(receipts).await.map_err(Failure::Publish)?;
        Ok(())
    }
}

/// A table's columns as pgoutput would describe them: names, type OIDs, and which are the
/// replica identity (the primary key; the identity index; all columns under FULL).
async fn relation(client: &Client, table: &str) -> Result<Relation, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, a.attname::text, a.atttypid, \
             CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false ELSE EXISTS ( \
               SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid \
               AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END \
               AND a.attnum = ANY (i.indkey::int2[])) END \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE c.oid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attgenerated = '' \
             ORDER BY a.attnum",
            &[&quote_table(table)],
        )
        .await?;
    let (schema, table) = rows
        .first()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .unwrap_or_default();
    Ok(Relation {
        schema,
        table,
        columns: rows
            .iter()
            .map(|r| Column {
                name: r.get(2),
                type_oid: r.get(3),
                key: r.get(4),
            })
            .collect(),
    })
}
