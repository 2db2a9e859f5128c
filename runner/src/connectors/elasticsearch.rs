//! `elasticsearch` sink: documents through the `_bulk` API of Elasticsearch and OpenSearch
//! (fmesh_crds::connectors::elasticsearch). A message's key is the document `_id`; an empty
//! payload deletes that document. Per-item failures are retried when the cluster says they
//! may pass (429, 5xx) and dead-lettered when it rejects them (mapping errors, 4xx).

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use fmesh_crds::connectors::ConnectorKind;
use fmesh_crds::connectors::elasticsearch::{
    API_KEY, ElasticsearchConfig, EmptyPayload, PASSWORD, USERNAME,
};
use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::{Method, Request, Uri};
use serde_json::{Value, json};

use super::batch::{BatchWriter, Batcher, RetryPolicy, Verdict};
use super::http_client::{HttpClient, retryable};
use super::{SinkConnector, Written};
use crate::error::RunnerError;
use crate::record::Record;
use crate::spec::Plan;

struct ElasticsearchSink {
    batcher: Batcher,
}

struct Writer {
    client: HttpClient,
    config: ElasticsearchConfig,
    path: String,
    authorization: Option<String>,
}

/// Builds the sink from `sinkConfig` and the `username`/`password` or `apiKey` secrets.
pub fn build(plan: &Plan) -> Result<Box<dyn SinkConnector>, RunnerError> {
    let config: ElasticsearchConfig = super::config(plan, ConnectorKind::Sink, "elasticsearch")?;
    let tls = super::tls::for_sink(plan, &config.url, &config.ssl)?;
    let client = HttpClient::with_tls(&config.url, Duration::from_millis(config.timeout_ms), tls)
        .map_err(|e| RunnerError::spec("spec.sinkConfig.url", e.to_string()))?;
    let uri: Uri = config
        .url
        .parse()
        .map_err(|_| RunnerError::spec("spec.sinkConfig.url", "not a URL"))?;
    let base = uri.path().trim_end_matches('/');
    let mut path = format!("{base}/_bulk");
    if let Some(r) = config.refresh {
        path.push_str(&format!("?refresh={}", r.as_str()));
    }
    let s = &plan.secrets;
    let authorization = match (s.get(API_KEY), s.get(USERNAME), s.get(PASSWORD)) {
        (Some(key), _, _) => Some(format!("ApiKey {key}")),
        (None, Some(u), Some(p)) => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )),
        _ => None,
    };
    let retry = RetryPolicy {
        max_retries: config.max_retries,
        backoff: Duration::from_millis(config.retry_backoff_ms),
        max_backoff: Duration::from_millis(config.max_backoff_ms),
    };
    let (size, linger) = (config.batch_size, Duration::from_millis(config.linger_ms));
    let writer = Writer {
        client,
        config,
        path,
        authorization,
    };
    Ok(Box::new(ElasticsearchSink {
        batcher: Batcher::spawn(writer, size, linger, retry),
    }))
}

impl SinkConnector for ElasticsearchSink {
    fn write(&mut self, record: Record) -> BoxFuture<'_, Written> {
        Box::pin(self.batcher.submit(record))
    }
}

impl BatchWriter for Writer {
    fn write_batch<'a>(&'a mut self, batch: &'a [Record]) -> BoxFuture<'a, Vec<Verdict>> {
        Box::pin(self.bulk(batch))
    }
}

/// What one record becomes in a `_bulk` body.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Index this document (under the key as `_id`, if any).
    Index { id: Option<String>, doc: Value },
    /// Delete the document with this `_id`.
    Delete { id: String },
    /// Nothing to send (an ignored empty payload).
    Skip,
}

/// The action for `record`, or why it cannot be sent (a verdict with no request).
pub fn action(record: &Record, empty: EmptyPayload) -> Result<Action, String> {
    if record.payload.is_empty() {
        return match (empty, &record.key) {
            (EmptyPayload::Ignore, _) => Ok(Action::Skip),
            (EmptyPayload::Delete, Some(k)) => Ok(Action::Delete { id: k.clone() }),
            (EmptyPayload::Delete, None) => {
                Err("an empty payload deletes by key, and this message has none".into())
            }
        };
    }
    match serde_json::from_slice::<Value>(&record.payload) {
        Ok(doc @ Value::Object(_)) => Ok(Action::Index {
            id: record.key.clone(),
            doc,
        }),
        Ok(_) => Err("the payload is JSON but not an object; a document must be one".into()),
        Err(e) => Err(format!("the payload is not JSON: {e}")),
    }
}

/// The NDJSON `_bulk` body for `actions` (Skip sends nothing).
pub fn bulk_body(index: &str, actions: &[&Action]) -> Vec<u8> {
    let mut body = Vec::new();
    for a in actions {
        let (meta, doc) = match a {
            Action::Index { id: Some(id), doc } => {
                (json!({"index": {"_index": index, "_id": id}}), Some(doc))
            }
            Action::Index { id: None, doc } => (json!({"index": {"_index": index}}), Some(doc)),
            Action::Delete { id } => (json!({"delete": {"_index": index, "_id": id}}), None),
            Action::Skip => continue,
        };
        body.extend_from_slice(meta.to_string().as_bytes());
        body.push(b'\n');
        if let Some(doc) = doc {
            body.extend_from_slice(doc.to_string().as_bytes());
            body.push(b'\n');
        }
    }
    body
}

/// One verdict per sent action from a `_bulk` response (`items` in request order).
pub fn item_verdicts(response: &Value, sent: usize) -> Vec<Verdict> {
    let Some(items) = response
        .get("items")
        .and_then(Value::as_array)
        .filter(|i| i.len() == sent)
    else {
        return vec![Verdict::Retry(format!("_bulk answered without {sent} items")); sent];
    };
    items
        .iter()
        .map(|item| {
            let (op, result) = match item.as_object().and_then(|o| o.iter().next()) {
                Some((op, r)) => (op.as_str(), r),
                None => return Verdict::Retry("empty item in _bulk response".into()),
            };
            let status = result.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
            if (200..300).contains(&status) || (op == "delete" && status == 404) {
                return Verdict::Done;
            }
            let reason = match result.get("error") {
                Some(e) => format!(
                    "{op} {status} {}: {}",
                    e.get("type").and_then(Value::as_str).unwrap_or("error"),
                    e.get("reason").and_then(Value::as_str).unwrap_or("")
                ),
                None => format!("{op} {status}"),
            };
            match hyper::StatusCode::from_u16(status) {
                Ok(s) if retryable(s) => Verdict::Retry(reason),
                Ok(_) => Verdict::Fail(reason),
                Err(_) => Verdict::Retry(reason),
            }
        })
        .collect()
}

impl Writer {
    async fn bulk(&mut self, batch: &[Record]) -> Vec<Verdict> {
        let prepared: Vec<Result<Action, String>> = batch
            .iter()
            .map(|r| action(r, self.config.empty_payload))
            .collect();
        let to_send: Vec<&Action> = prepared
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .filter(|a| **a != Action::Skip)
            .collect();
        let mut sent = if to_send.is_empty() {
            Vec::new()
        } else {
            self.send(&to_send).await
        }
        .into_iter();
        prepared
            .iter()
            .map(|p| match p {
                Err(reason) => Verdict::Fail(reason.clone()),
                Ok(Action::Skip) => Verdict::Done,
                Ok(_) => sent
                    .next()
                    .unwrap_or_else(|| Verdict::Retry("no verdict".into())),
            })
            .collect()
    }

    async fn send(&mut self, actions: &[&Action]) -> Vec<Verdict> {
        let n = actions.len();
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(&self.path)
            .header(hyper::header::HOST, self.client.authority())
            .header(hyper::header::CONTENT_TYPE, "application/x-ndjson");
        if let Some(a) = &self.authorization {
            req = req.header(hyper::header::AUTHORIZATION, a);
        }
        let req = match req.body(Full::new(Bytes::from(bulk_body(
            &self.config.index,
            actions,
        )))) {
            Ok(r) => r,
            Err(e) => return vec![Verdict::Fail(format!("cannot build the request: {e}")); n],
        };
        match self.client.send(req).await {
            Ok(res) if res.status.is_success() => {
                match serde_json::from_slice::<Value>(&res.body) {
                    Ok(v) => item_verdicts(&v, n),
                    Err(e) => vec![Verdict::Retry(format!("_bulk response is not JSON: {e}")); n],
                }
            }
            Ok(res) => {
                let reason = format!(
                    "_bulk {} {}",
                    res.status,
                    String::from_utf8_lossy(&res.body[..res.body.len().min(200)])
                );
                let v = if retryable(res.status) {
                    Verdict::Retry(reason)
                } else {
                    Verdict::Fail(reason)
                };
                vec![v; n]
            }
            Err(e) => vec![Verdict::Retry(e.to_string()); n],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: Option<&str>, payload: &str) -> Record {
        Record {
            key: key.map(str::to_string),
            payload: payload.as_bytes().to_vec(),
            ..Record::default()
        }
    }

    #[test]
    fn actions_from_records() {
        assert_eq!(
            action(&rec(Some("k"), r#"{"a":1}"#), EmptyPayload::Delete),
            Ok(Action::Index {
                id: Some("k".into()),
                doc: json!({"a": 1})
            })
        );
        assert_eq!(
            action(&rec(Some("k"), ""), EmptyPayload::Delete),
            Ok(Action::Delete { id: "k".into() })
        );
        assert_eq!(
            action(&rec(Some("k"), ""), EmptyPayload::Ignore),
            Ok(Action::Skip)
        );
        assert!(action(&rec(None, ""), EmptyPayload::Delete).is_err());
        assert!(action(&rec(None, "[1]"), EmptyPayload::Delete).is_err());
        assert!(action(&rec(None, "nope"), EmptyPayload::Delete).is_err());
    }

    #[test]
    fn bulk_body_is_ndjson_with_a_trailing_newline() {
        let (a, b) = (
            Action::Index {
                id: Some("1".into()),
                doc: json!({"x": 1}),
            },
            Action::Delete { id: "2".into() },
        );
        let body = String::from_utf8(bulk_body("idx", &[&a, &b])).unwrap();
        assert_eq!(
            body,
            "{\"index\":{\"_index\":\"idx\",\"_id\":\"1\"}}\n{\"x\":1}\n{\"delete\":{\"_index\":\"idx\",\"_id\":\"2\"}}\n"
        );
    }

    #[test]
    fn item_statuses_map_to_verdicts() {
        let res = json!({"took": 3, "errors": true, "items": [
            {"index": {"_id": "1", "status": 201, "result": "created"}},
            {"delete": {"_id": "2", "status": 404, "result": "not_found"}},
            {"index": {"_id": "3", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
            {"index": {"_id": "4", "status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad field"}}}
        ]});
        let v = item_verdicts(&res, 4);
        assert_eq!(v[0], Verdict::Done);
        assert_eq!(v[1], Verdict::Done, "deleting a missing document is done");
        assert!(
            matches!(&v[2], Verdict::Retry(r) if r.contains("es_rejected_execution_exception"))
        );
        assert!(
            matches!(&v[3], Verdict::Fail(r) if r.contains("mapper_parsing_exception: bad field"))
        );
        assert!(
            item_verdicts(&json!({"items": []}), 2)
                .iter()
                .all(|v| matches!(v, Verdict::Retry(_)))
        );
    }
}
