//! TLS for the binary protocol (rustls with the ring provider).

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{
    self,
    pki_types::pem::PemObject,
    pki_types::{CertificateDer, PrivateKeyDer},
};

use crate::config::TlsConfig;
use crate::error::{BrokerError, Result};

/// Builds an acceptor from PEM files.
pub fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert_pem)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| BrokerError::Io {
            path: cfg.cert_pem.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let key = PrivateKeyDer::from_pem_file(&cfg.key_pem).map_err(|e| BrokerError::Io {
        path: cfg.key_pem.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e: rustls::Error| BrokerError::NotReady(format!("TLS config: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
