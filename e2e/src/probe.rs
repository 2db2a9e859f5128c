//! Reading what runs in the cluster from the host: plain HTTP GETs to pod IPs (the host reaches
//! the pod bridge) and Prometheus text metrics, e.g. a runner's `pulsar_function_*` counters.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// `GET http://{addr}{path}` (HTTP/1.0, so the server closes); the body of a 200 answer.
pub async fn http_get(addr: &str, path: &str, timeout: Duration) -> Result<String> {
    let fail = |detail: String| Error::Command {
        command: format!("GET http://{addr}{path}"),
        detail,
    };
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| fail(format!("no answer within {timeout:?}")))?
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("malformed HTTP answer".into()))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(fail(status.to_owned()));
    }
    Ok(body.to_owned())
}

/// The sum of every sample of metric `name` (all label sets) in Prometheus text format; counters
/// may carry the `_total` suffix. `None` when the metric is absent.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let total = format!("{name}_total");
    let mut sum = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(parts) => parts,
            None => continue,
        };
        let metric = series.split('{').next().unwrap_or_default();
        if (metric == name || metric == total)
            && let Ok(v) = value.trim().parse::<f64>()
        {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP pulsar_function_received Messages received\n\
        # TYPE pulsar_function_received counter\n\
        pulsar_function_received_total{tenant=\"public\",instance_id=\"0\"} 12\n\
        pulsar_function_received_total{tenant=\"public\",instance_id=\"1\"} 30\n\
        pulsar_function_processed_successfully_total 41\n\
        fmesh_runner_subscribed 1\n";

    #[test]
    fn sums_every_label_set_and_accepts_the_total_suffix() {
        assert_eq!(metric_sum(TEXT, "pulsar_function_received"), Some(42.0));
        assert_eq!(
            metric_sum(TEXT, "pulsar_function_processed_successfully"),
            Some(41.0)
        );
        assert_eq!(metric_sum(TEXT, "fmesh_runner_subscribed"), Some(1.0));
    }

    #[test]
    fn absent_metric_is_none_not_zero() {
        assert_eq!(metric_sum(TEXT, "pulsar_function_user_exceptions"), None);
        // A prefix of a longer name is not a match.
        assert_eq!(metric_sum(TEXT, "pulsar_function"), None);
    }

    #[tokio::test]
    async fn http_get_returns_the_body_and_refuses_other_statuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            for answer in [
                "HTTP/1.0 200 OK\r\n\r\nhello",
                "HTTP/1.0 404 Not Found\r\n\r\n",
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let t = Duration::from_secs(5);
        assert_eq!(http_get(&addr, "/metrics", t).await.unwrap(), "hello");
        let err = http_get(&addr, "/x", t).await.unwrap_err().to_string();
        assert!(err.contains("404"), "{err}");
    }
}
