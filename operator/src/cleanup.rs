//! Subscription cleanup at deletion (`cleanupSubscription: true`): delete the workload's
//! subscription on each input topic through the Pulsar admin REST API.

use std::str::FromStr;

use fmesh_crds::topic::TopicName;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::workload::Workload;

/// The admin URLs to `DELETE`: one per named input topic (patterns are skipped: their topics
/// are not known here).
pub fn subscription_urls(web_service_url: &str, w: &Workload) -> Vec<String> {
    let Some(c) = &w.consumer else {
        return Vec::new();
    };
    let Some(sub) = &c.subscription_name else {
        return Vec::new();
    };
    let base = web_service_url.trim_end_matches('/');
    let mut topics: Vec<String> = Vec::new();
    if let Some(input) = &c.input {
        for (path, t) in input.all_topics() {
            if path != "topicPattern" && !topics.iter().any(|x| x == t) {
                topics.push(t.to_string());
            }
        }
    }
    topics
        .iter()
        .filter_map(|t| TopicName::from_str(t).ok())
        .map(|t| {
            let full = t.to_string().replacen("://", "/", 1);
            format!(
                "{base}/admin/v2/{full}/subscription/{}?force=true",
                encode(sub)
            )
        })
        .collect()
}

/// Percent-encodes a path segment (a subscription like `public/default/fn` has slashes).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Deletes each subscription; 404 (no topic or subscription) counts as done.
pub async fn delete(urls: &[String], token: Option<&str>) -> Result<(), String> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    for url in urls {
        if !url.starts_with("http://") {
            return Err(format!(
                "{url}: only http:// admin URLs are supported so far"
            ));
        }
        let mut req = hyper::Request::delete(url.as_str());
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        if !(status.is_success() || status.as_u16() == 404) {
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(format!(
                "{url}: {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
    }
    Ok(())
}
