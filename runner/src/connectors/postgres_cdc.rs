//! `postgres-cdc`: a table's changes, as Debezium-shaped JSON events keyed by primary key, in
//! commit order (fmesh_crds::connectors::postgres).
//!
//! Reads the replication slot with `pg_logical_slot_peek_binary_changes` (pgoutput, whole
//! transactions) on a plain SQL connection, publishes every event, waits for all of Pulsar's
//! receipts, and only then moves the slot with `pg_replication_slot_advance` to the end of
//! the last transaction published. A kill at any point therefore loses nothing: the next
//! start peeks again from the confirmed position (what was published but not yet confirmed
//! is published again — at-least-once; `source.lsn` tells the copies apart).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fmesh_crds::connectors::ConnectorKind;
use fmesh_crds::connectors::postgres::PostgresCdcConfig;
use futures::future::{BoxFuture, try_join_all};
use tokio_postgres::Client;

use super::postgres::{RETRY_MAX, RETRY_START, Target, object_name, quote_table};
use super::postgres_pgoutput::{Decoder, Origin, Transaction, event, lsn_text};
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
                Ok(client) => match self.prepare(&client).await {
                    Ok(()) => {
                        backoff = RETRY_START;
                        match self.stream(&client, &ctx).await {
                            Ok(()) => return Ok(()),
                            Err(f) => f,
                        }
                    }
                    Err(e) => Failure::Database(e),
                },
                Err(e) => Failure::Database(e),
            };
            let reason = match failure {
                Failure::Decode(e) => {
                    return Err(RunnerError::RuntimeStart(format!("postgres-cdc: {e}")));
                }
                Failure::Database(e) => format!("postgres: {e}"),
                Failure::Publish(e) => format!("pulsar: {e}"),
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

    /// Creates the publication and the slot when they do not exist yet.
    async fn prepare(&self, client: &Client) -> Result<(), tokio_postgres::Error> {
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
        let has_slot = client
            .query_opt(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.slot],
            )
            .await?
            .is_some();
        if !has_slot {
            client
                .query_one(
                    "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
                    &[&self.slot],
                )
                .await?;
            tracing::info!(slot = %self.slot, "replication slot created");
        }
        Ok(())
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
