//! `log` sink: each message to the runner's log (fmesh_crds::connectors::log).

use fmesh_crds::connectors::ConnectorKind;
use fmesh_crds::connectors::log::{LogConfig, LogLevel};
use futures::future::BoxFuture;

use super::{SinkConnector, Written};
use crate::error::RunnerError;
use crate::record::Record;
use crate::spec::Plan;

struct LogSink {
    config: LogConfig,
    fqfn: String,
}

/// Builds the sink from `sinkConfig`.
pub fn build(plan: &Plan) -> Result<Box<dyn SinkConnector>, RunnerError> {
    Ok(Box::new(LogSink {
        config: super::config(plan, ConnectorKind::Sink, "log")?,
        fqfn: plan.fqfn(),
    }))
}

impl SinkConnector for LogSink {
    fn write(&mut self, record: Record) -> BoxFuture<'_, Written> {
        let shown = record.payload.len().min(self.config.max_bytes);
        let mut text = String::from_utf8_lossy(&record.payload[..shown]).into_owned();
        if shown < record.payload.len() {
            text.push_str(&format!("… ({} bytes)", record.payload.len()));
        }
        let (sink, topic, id, key) = (
            &self.fqfn,
            &record.topic,
            &record.message_id,
            record.key.as_deref().unwrap_or(""),
        );
        match self.config.level {
            LogLevel::Debug => {
                tracing::debug!(sink = %sink, topic = %topic, message_id = %id, key, "{text}")
            }
            LogLevel::Info => {
                tracing::info!(sink = %sink, topic = %topic, message_id = %id, key, "{text}")
            }
            LogLevel::Warn => {
                tracing::warn!(sink = %sink, topic = %topic, message_id = %id, key, "{text}")
            }
            LogLevel::Error => {
                tracing::error!(sink = %sink, topic = %topic, message_id = %id, key, "{text}")
            }
        }
        let written: Written = Box::pin(std::future::ready(Ok(())));
        Box::pin(std::future::ready(written))
    }
}
