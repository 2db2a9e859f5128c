//! `http` sink: POSTs (or PUTs) each message, or an NDJSON batch, with retries and backoff;
//! what still fails goes to the dead letter topic (fmesh_crds::connectors::http).

use std::time::Duration;

use bytes::Bytes;
use fmesh_crds::connectors::ConnectorKind;
use fmesh_crds::connectors::http::{HttpMethod, HttpSinkConfig, TOKEN};
use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::{Method, Request, Uri};

use super::batch::{BatchWriter, Batcher, RetryPolicy, Verdict};
use super::http_client::{HttpClient, retryable};
use super::{SinkConnector, Written};
use crate::error::RunnerError;
use crate::record::Record;
use crate::spec::Plan;

struct HttpSink {
    batcher: Batcher,
}

struct Writer {
    client: HttpClient,
    config: HttpSinkConfig,
    path: String,
    token: Option<String>,
}

/// Builds the sink from `sinkConfig` and `secretsMap.token`.
pub fn build(plan: &Plan) -> Result<Box<dyn SinkConnector>, RunnerError> {
    let config: HttpSinkConfig = super::config(plan, ConnectorKind::Sink, "http")?;
    let tls = super::tls::for_sink(plan, &config.url, &config.ssl)?;
    let client = HttpClient::with_tls(&config.url, Duration::from_millis(config.timeout_ms), tls)
        .map_err(|e| RunnerError::spec("spec.sinkConfig.url", e.to_string()))?;
    let uri: Uri = config
        .url
        .parse()
        .map_err(|_| RunnerError::spec("spec.sinkConfig.url", "not a URL"))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let retry = RetryPolicy {
        max_retries: config.max_retries,
        backoff: Duration::from_millis(config.retry_backoff_ms),
        max_backoff: Duration::from_millis(config.max_backoff_ms),
    };
    let (size, linger) = (config.batch_size, Duration::from_millis(config.linger_ms));
    let writer = Writer {
        client,
        path,
        token: plan.secrets.get(TOKEN).cloned(),
        config,
    };
    Ok(Box::new(HttpSink {
        batcher: Batcher::spawn(writer, size, linger, retry),
    }))
}

impl SinkConnector for HttpSink {
    fn write(&mut self, record: Record) -> BoxFuture<'_, Written> {
        Box::pin(self.batcher.submit(record))
    }
}

impl BatchWriter for Writer {
    fn write_batch<'a>(&'a mut self, batch: &'a [Record]) -> BoxFuture<'a, Vec<Verdict>> {
        Box::pin(self.post(batch))
    }
}

impl Writer {
    async fn post(&mut self, batch: &[Record]) -> Vec<Verdict> {
        let single = self.config.batch_size == 1;
        // NDJSON frames by newline: a payload containing one cannot be sent in a batch.
        let mut verdicts: Vec<Option<Verdict>> = batch
            .iter()
            .map(|r| (!single && r.payload.contains(&b'\n')).then(|| Verdict::Fail("payload contains a newline; NDJSON batches cannot carry it (use batchSize: 1)".into())))
            .collect();
        let sendable: Vec<&Record> = batch
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.is_none())
            .map(|(r, _)| r)
            .collect();
        if sendable.is_empty() {
            return verdicts
                .into_iter()
                .map(|v| v.unwrap_or(Verdict::Done))
                .collect();
        }
        let verdict = match self.request(&sendable, single) {
            Ok(req) => match self.client.send(req).await {
                Ok(res) if res.status.is_success() => Verdict::Done,
                Ok(res) => {
                    let reason = format!(
                        "{} {}",
                        res.status,
                        String::from_utf8_lossy(&res.body[..res.body.len().min(200)])
                    );
                    if retryable(res.status) {
                        Verdict::Retry(reason)
                    } else {
                        Verdict::Fail(reason)
                    }
                }
                Err(e) => Verdict::Retry(e.to_string()),
            },
            Err(e) => Verdict::Fail(e),
        };
        for v in verdicts.iter_mut().filter(|v| v.is_none()) {
            *v = Some(verdict.clone());
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or(Verdict::Done))
            .collect()
    }

    fn request(&self, records: &[&Record], single: bool) -> Result<Request<Full<Bytes>>, String> {
        let method = match self.config.method {
            HttpMethod::Post => Method::POST,
            HttpMethod::Put => Method::PUT,
        };
        let mut req = Request::builder()
            .method(method)
            .uri(&self.path)
            .header(hyper::header::HOST, self.client.authority());
        let body = if single {
            let r = records[0];
            req = req
                .header("x-pulsar-topic", &r.topic)
                .header("x-pulsar-message-id", &r.message_id);
            if let Some(k) = &r.key {
                req = req.header("x-pulsar-key", k);
            }
            if !self
                .config
                .headers
                .keys()
                .any(|h| h.eq_ignore_ascii_case("content-type"))
            {
                req = req.header(hyper::header::CONTENT_TYPE, "application/octet-stream");
            }
            r.payload.clone()
        } else {
            if !self
                .config
                .headers
                .keys()
                .any(|h| h.eq_ignore_ascii_case("content-type"))
            {
                req = req.header(hyper::header::CONTENT_TYPE, "application/x-ndjson");
            }
            let mut body = Vec::new();
            for r in records {
                body.extend_from_slice(&r.payload);
                body.push(b'\n');
            }
            body
        };
        for (k, v) in &self.config.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(t) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        req.body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("cannot build the request: {e}"))
    }
}
