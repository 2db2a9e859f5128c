//! `datagen`: messages from templates at a fixed rate (fmesh_crds::connectors::datagen).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fmesh_crds::connectors::ConnectorKind;
use fmesh_crds::connectors::datagen::{DatagenConfig, Template, Vars};
use futures::FutureExt;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;

use super::{OutMessage, SourceConnector, SourceContext};
use crate::error::RunnerError;
use crate::spec::Plan;

/// Receipts awaited at once; more waits (so a slow broker slows the generator, not memory).
const MAX_UNCONFIRMED: usize = 2000;

struct Datagen {
    config: DatagenConfig,
    payload: Template,
    key: Option<Template>,
    properties: Vec<(String, Template)>,
}

/// Builds the source from `sourceConfig`.
pub fn build(plan: &Plan) -> Result<Box<dyn SourceConnector>, RunnerError> {
    let config: DatagenConfig = super::config(plan, ConnectorKind::Source, "datagen")?;
    let parse = |field: &str, t: &str| {
        Template::parse(t).map_err(|e| RunnerError::spec(format!("spec.sourceConfig.{field}"), e))
    };
    Ok(Box::new(Datagen {
        payload: parse("template", &config.template)?,
        key: config.key.as_deref().map(|k| parse("key", k)).transpose()?,
        properties: config
            .properties
            .iter()
            .map(|(k, v)| Ok((k.clone(), parse(&format!("properties.{k}"), v)?)))
            .collect::<Result<_, RunnerError>>()?,
        config,
    }))
}

impl SourceConnector for Datagen {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), RunnerError>> {
        Box::pin(self.generate(ctx))
    }
}

impl Datagen {
    async fn generate(self, ctx: SourceContext) -> Result<(), RunnerError> {
        let mut random = Xorshift::seeded(ctx.identity.instance_id);
        let mut unconfirmed = FuturesUnordered::new();
        let started = Instant::now();
        let mut seq = 0u64;
        tracing::info!(rate = self.config.rate, count = ?self.config.count, "datagen started");
        'generating: while self.config.count.is_none_or(|c| seq < c) && !ctx.stop.is_cancelled() {
            // Receipts are taken as they come (metrics and failures now, not 2000 sends later).
            while let Some(Some(r)) = unconfirmed.next().now_or_never() {
                confirm(Some(r));
            }
            if let Some(wait) = self.wait_before(seq, started.elapsed()) {
                let due = tokio::time::sleep(wait);
                tokio::pin!(due);
                loop {
                    tokio::select! {
                        () = ctx.stop.cancelled() => break 'generating,
                        () = &mut due => break,
                        Some(r) = unconfirmed.next(), if !unconfirmed.is_empty() => confirm(Some(r)),
                    }
                }
            }
            while unconfirmed.len() >= MAX_UNCONFIRMED {
                confirm(unconfirmed.next().await);
            }
            let vars = Vars {
                seq,
                instance: ctx.identity.instance_id,
                name: &ctx.plan.name,
                timestamp_ms: now_ms(),
            };
            let mut rnd = || random.next();
            let msg = OutMessage {
                payload: self.payload.render(&vars, &mut rnd).into_bytes(),
                key: self.key.as_ref().map(|k| k.render(&vars, &mut rnd)),
                properties: self
                    .properties
                    .iter()
                    .map(|(k, t)| (k.clone(), t.render(&vars, &mut rnd)))
                    .collect(),
                event_time: Some(vars.timestamp_ms),
            };
            let receipt = ctx.output.send(msg).await?;
            unconfirmed.push(receipt);
            seq += 1;
        }
        while let Some(r) = unconfirmed.next().await {
            confirm(Some(r));
        }
        tracing::info!(sent = seq, "datagen finished");
        Ok(())
    }

    /// How long to wait before message `seq` so that `rate` per second holds on average
    /// (None: it is due). Bursts catch up after a stall instead of drifting.
    fn wait_before(&self, seq: u64, elapsed: Duration) -> Option<Duration> {
        if self.config.rate <= 0.0 {
            return None;
        }
        let due = Duration::from_secs_f64(seq as f64 / self.config.rate);
        due.checked_sub(elapsed).filter(|d| !d.is_zero())
    }
}

fn confirm(r: Option<Result<(), String>>) {
    if let Some(Err(error)) = r {
        tracing::warn!(%error, "datagen message not stored");
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// xorshift64*: fast, good enough for test data, no dependency.
struct Xorshift(u64);

impl Xorshift {
    fn seeded(instance: u32) -> Self {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Xorshift((t ^ (u64::from(instance) << 32)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}
