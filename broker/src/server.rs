//! Listeners: the binary protocol (plain or TLS) and the admin HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};

/// A running broker.
#[derive(Debug)]
pub struct RunningBroker {
    /// Shared state.
    pub broker: Arc<Broker>,
    /// Where the binary protocol listens.
    pub addr: SocketAddr,
    /// Where the admin HTTP server listens.
    pub admin_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningBroker {
    /// `pulsar://host:port` of this broker.
    pub fn service_url(&self) -> String {
        let scheme = if self.broker.config.tls.is_some() {
            "pulsar+ssl"
        } else {
            "pulsar"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// `http://host:port` of the admin server.
    pub fn admin_url(&self) -> Option<String> {
        self.admin_addr.map(|a| format!("http://{a}"))
    }

    /// Stops accepting connections (open ones end with the runtime).
    pub fn shutdown(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Opens the data directory, binds the listeners and serves in the background.
pub async fn start(mut config: BrokerConfig) -> Result<RunningBroker> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| BrokerError::io(config.listen.to_string(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BrokerError::io(config.listen.to_string(), e))?;
    // Port 0 resolves now, so lookups advertise the real port.
    config.listen = addr;
    let admin = match config.admin_listen {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .map_err(|e| BrokerError::io(a.to_string(), e))?,
        ),
        None => None,
    };
    let admin_addr = admin.as_ref().and_then(|l| l.local_addr().ok());
    config.admin_listen = admin_addr;
    let tls = match &config.tls {
        Some(t) => Some(crate::tls::acceptor(t)?),
        None => None,
    };
    let data_dir = config.data_dir.clone();
    let broker = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .map_err(|e| BrokerError::NotReady(format!("opening data dir: {e}")))??;
    broker.spawn_maintenance();
    tracing::info!(%addr, ?admin_addr, data_dir = %data_dir.display(), "broker listening");
    let mut tasks = Vec::new();
    let b = broker.clone();
    tasks.push(tokio::spawn(accept_loop(b, listener, tls)));
    if let Some(l) = admin {
        tasks.push(tokio::spawn(crate::admin::serve(broker.clone(), l)));
    }
    Ok(RunningBroker {
        broker,
        addr,
        admin_addr,
        tasks,
    })
}

/// Accepts clients: at most `max_connections` at once (the rest get an Error
/// naming the setting), and backs off while the process is out of descriptors
/// or memory instead of spinning.
async fn accept_loop(
    b: Arc<Broker>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(b.config.max_connections));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(s) => {
                backoff = ACCEPT_BACKOFF_MIN;
                s
            }
            Err(e) => {
                // EMFILE/ENFILE/ENOMEM persist until something closes: wait, log once per wait.
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "accept failed");
                b.metrics.limit_hit("open_files");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            b.metrics.limit_hit("max_connections");
            tracing::warn!(%peer, limit = b.config.max_connections, "connection refused: max_connections reached");
            tokio::spawn(refuse(sock, b.config.max_connections));
            continue;
        };
        let _ = sock.set_nodelay(true);
        let sock = crate::quickack::QuickAck::new(sock);
        let b = b.clone();
        match &tls {
            Some(acc) => {
                let acc = acc.clone();
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(b.config.frame_timeout, acc.accept(sock));
                    match handshake.await {
                        Ok(Ok(s)) => crate::connection::serve(b, s, peer).await,
                        Ok(Err(e)) => tracing::warn!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::warn!(%peer, "TLS handshake timed out (frame_timeout)"),
                    }
                    drop(slot);
                });
            }
            None => {
                tokio::spawn(async move {
                    crate::connection::serve(b, sock, peer).await;
                    drop(slot);
                });
            }
        }
    }
}

const ACCEPT_BACKOFF_MIN: std::time::Duration = std::time::Duration::from_millis(20);
const ACCEPT_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// Tells a client over the connection limit why, then closes.
async fn refuse(mut sock: tokio::net::TcpStream, limit: usize) {
    use futures::SinkExt;
    use pulsar::proto::{CommandError, ServerError, base_command::Type};
    let mut cmd = crate::codec::base(Type::Error);
    cmd.error = Some(CommandError {
        request_id: 0,
        error: ServerError::TooManyRequests as i32,
        message: format!("connection limit reached (max_connections = {limit})"),
    });
    let mut out =
        tokio_util::codec::FramedWrite::new(&mut sock, crate::codec::FrameCodec::new(1 << 16));
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        out.send(crate::codec::Frame::command(cmd)),
    )
    .await;
}
