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
    tasks.push(tokio::spawn(async move {
        loop {
            let (sock, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            let sock = crate::quickack::QuickAck::new(sock);
            let b = b.clone();
            match &tls {
                Some(acc) => {
                    let acc = acc.clone();
                    tokio::spawn(async move {
                        match acc.accept(sock).await {
                            Ok(s) => crate::connection::serve(b, s, peer).await,
                            Err(e) => tracing::warn!(%peer, error = %e, "TLS handshake failed"),
                        }
                    });
                }
                None => {
                    tokio::spawn(crate::connection::serve(b, sock, peer));
                }
            }
        }
    }));
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
