//! A small HTTP/1.1 client on hyper for the http and elasticsearch sinks: one kept-alive
//! connection per sink (requests are sequential per batch), re-opened when it breaks.
//! Plain `http://` only (TLS to the peer is left to a mesh sidecar for now).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Not an `http://host[:port]/…` URL.
    #[error("bad url {0}: {1}")]
    Url(String, String),
    /// Connecting or talking failed.
    #[error("connection: {0}")]
    Connection(String),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// An answer.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// `Retry-After` in seconds, when given.
    pub retry_after: Option<u64>,
    /// The body.
    pub body: Bytes,
}

/// A client for one origin.
pub struct HttpClient {
    authority: String,
    timeout: Duration,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl HttpClient {
    /// A client for the origin of `url`.
    pub fn new(url: &str, timeout: Duration) -> Result<HttpClient, HttpError> {
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| HttpError::Url(url.into(), e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(HttpError::Url(
                url.into(),
                "only http:// is supported".into(),
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| HttpError::Url(url.into(), "no host".into()))?;
        let port = authority.port_u16().unwrap_or(80);
        Ok(HttpClient {
            authority: format!("{}:{port}", authority.host()),
            timeout,
            conn: None,
        })
    }

    /// Sends `req` (its URI may be just a path), reconnecting once if the kept-alive
    /// connection turned out closed.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Response, HttpError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.send_inner(req)).await {
            Ok(r) => r,
            Err(_) => {
                self.conn = None;
                Err(HttpError::Timeout(timeout))
            }
        }
    }

    async fn send_inner(&mut self, req: Request<Full<Bytes>>) -> Result<Response, HttpError> {
        let reusable = match self.conn.take() {
            Some(mut s) => s.ready().await.is_ok().then_some(s),
            None => None,
        };
        let mut sender = match reusable {
            Some(s) => s,
            None => self.connect().await?,
        };
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| HttpError::Connection(e.to_string()))?;
        let status = res.status();
        let retry_after = res
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| HttpError::Connection(e.to_string()))?
            .to_bytes();
        self.conn = Some(sender);
        Ok(Response {
            status,
            retry_after,
            body,
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, HttpError> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| HttpError::Connection(format!("{}: {e}", self.authority)))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| HttpError::Connection(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%error, "http connection closed");
            }
        });
        Ok(sender)
    }

    /// `host:port`, for the `Host` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

/// Whether a status is worth retrying: overload, timeouts and server errors.
pub fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}
