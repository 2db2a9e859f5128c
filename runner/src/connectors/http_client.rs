//! A small HTTP/1.1 client on hyper for the http and elasticsearch sinks: one kept-alive
//! connection per sink (requests are sequential per batch), re-opened when it breaks.
//! `http://`, or `https://` over rustls (see `connectors::tls`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use super::tls;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Not an `http(s)://host[:port]/…` URL.
    #[error("bad url {0}: {1}")]
    Url(String, String),
    /// The TLS handshake failed (certificate refused, not TLS, …).
    #[error("TLS handshake with {authority}: {reason} ({hint})")]
    Tls {
        authority: String,
        reason: String,
        hint: &'static str,
    },
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
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl HttpClient {
    /// A client for the origin of `url`; `https://` trusts the default roots.
    pub fn new(url: &str, timeout: Duration) -> Result<HttpClient, HttpError> {
        HttpClient::with_tls(url, timeout, None)
    }

    /// A client for the origin of `url`; an `https://` url uses `tls` (None: the default
    /// roots, with hostname verification).
    pub fn with_tls(
        url: &str,
        timeout: Duration,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<HttpClient, HttpError> {
        let bad = |why: &str| HttpError::Url(url.into(), why.into());
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let tls = match uri.scheme_str() {
            Some("http") => None,
            Some("https") => {
                let config = match tls {
                    Some(c) => c,
                    None => tls::client_config(&Default::default(), None)
                        .map_err(|e| bad(&e.to_string()))?,
                };
                let name = tls::server_name(authority.host()).map_err(|e| bad(&e))?;
                Some((TlsConnector::from(config), name))
            }
            _ => return Err(bad("only http:// and https:// are supported")),
        };
        let port = authority
            .port_u16()
            .unwrap_or(if tls.is_some() { 443 } else { 80 });
        Ok(HttpClient {
            authority: format!("{}:{port}", authority.host()),
            tls,
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
        let Some((connector, name)) = &self.tls else {
            return handshake(stream).await;
        };
        match connector.connect(name.clone(), stream).await {
            Ok(tls) => handshake(tls).await,
            Err(e) => {
                let rustls_error = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                Err(HttpError::Tls {
                    authority: self.authority.clone(),
                    reason: e.to_string(),
                    hint: rustls_error.map_or("check that the url's port speaks TLS", tls::hint),
                })
            }
        }
    }

    /// `host:port`, for the `Host` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

/// HTTP/1.1 over `io`; the connection is driven by a task that ends with it.
async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, HttpError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| HttpError::Connection(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(error) = conn.await {
            tracing::debug!(%error, "http connection closed");
        }
    });
    Ok(sender)
}

/// Whether a status is worth retrying: overload, timeouts and server errors.
pub fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}
