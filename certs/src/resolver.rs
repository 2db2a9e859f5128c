//! A rustls server-certificate resolver whose certificate can be replaced while the server runs:
//! new handshakes get the new certificate, connections already open keep theirs.

use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result};
use crate::pki;

/// The certificate currently served and its fingerprint.
#[derive(Default)]
struct Current {
    key: Option<Arc<CertifiedKey>>,
    fingerprint: String,
}

/// Hot-swappable serving certificate. Until one is set, handshakes fail (no certificate).
#[derive(Default)]
pub struct HotResolver {
    current: RwLock<Current>,
}

impl std::fmt::Debug for HotResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotResolver")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl HotResolver {
    /// An empty resolver.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Serves `cert_pem` (leaf first, then any intermediates) with `key_pem` from the next
    /// handshake on. Returns whether the certificate changed.
    pub fn set_pem(&self, cert_pem: &str, key_pem: &str) -> Result<bool> {
        let fingerprint = pki::fingerprint(cert_pem)?;
        if self.fingerprint().as_deref() == Some(fingerprint.as_str()) {
            return Ok(false);
        }
        let key = certified_key(cert_pem, key_pem)?;
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Current {
            key: Some(Arc::new(key)),
            fingerprint: fingerprint.clone(),
        };
        tracing::info!(fingerprint = %fingerprint, "serving certificate loaded");
        Ok(true)
    }

    /// The served certificate's SHA-256 fingerprint, once one is loaded.
    pub fn fingerprint(&self) -> Option<String> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.key.as_ref().map(|_| current.fingerprint.clone())
    }

    /// Whether a certificate is loaded (the server is ready to handshake).
    pub fn is_loaded(&self) -> bool {
        self.fingerprint().is_some()
    }

    /// A rustls server configuration (HTTP/1.1 and HTTP/2 by ALPN) that asks this resolver.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions");
        let mut config = builder
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ResolvesServerCert for HotResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .key
            .clone()
    }
}

fn certified_key(cert_pem: &str, key_pem: &str) -> Result<CertifiedKey> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem {
            what: "the serving certificate".into(),
            reason: e.to_string(),
        })?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| Error::Pem {
        what: "the serving key".into(),
        reason: e.to_string(),
    })?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)?;
    Ok(CertifiedKey::new(chain, signer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn swaps_and_reports_changes() {
        let ca = pki::generate_ca("ca", Duration::from_secs(3600)).unwrap();
        let sans = vec!["localhost".to_string()];
        let a = pki::issue_serving(&ca, "s", &sans, Duration::from_secs(600)).unwrap();
        let b = pki::issue_serving(&ca, "s", &sans, Duration::from_secs(600)).unwrap();
        let r = HotResolver::new();
        assert!(!r.is_loaded());
        assert!(r.set_pem(&a.cert_pem, &a.key_pem).unwrap());
        assert!(!r.set_pem(&a.cert_pem, &a.key_pem).unwrap());
        assert!(r.set_pem(&b.cert_pem, &b.key_pem).unwrap());
        assert_eq!(
            r.fingerprint(),
            Some(pki::fingerprint(&b.cert_pem).unwrap())
        );
        assert!(r.set_pem(&a.cert_pem, "garbage").is_err());
        assert_eq!(
            r.fingerprint(),
            Some(pki::fingerprint(&b.cert_pem).unwrap())
        );
    }
}
