//! TLS for the sinks that call out over HTTP: a rustls client configuration (ring only, the
//! one crypto provider of the workspace) from a sink's `ssl` settings
//! (fmesh_crds::connectors::tls) and, when given, PEM CA certificates.

use std::sync::Arc;

use fmesh_crds::connectors::tls::{CA_CERT, SslConfig};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::RunnerError;
use crate::spec::Plan;

/// Why no TLS configuration could be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA PEM holds no certificate, or a broken one.
    #[error("{0}")]
    Ca(String),
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Config(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The trust roots: the CAs of `ca_pem` when given, else the Mozilla roots (webpki-roots).
pub fn roots(ca_pem: Option<&[u8]>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let Some(pem) = ca_pem else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| TlsError::Ca(format!("not a PEM certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| TlsError::Ca(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(TlsError::Ca(
            "no certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(roots)
}

/// The client configuration for `ssl`, trusting `ca_pem` (or the default roots).
pub fn client_config(
    ssl: &SslConfig,
    ca_pem: Option<&[u8]>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if ssl.disable_certificate_validation {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth()
    } else if !ssl.hostname_verification {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider)
            .build()
            .map_err(|e| TlsError::Ca(e.to_string()))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(inner)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(ca_pem)?)
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A sink's TLS configuration for `url`: none for `http://`; for `https://`, `ssl` with the CA
/// from `ssl.caFile` or `secretsMap.caCert` (read now, so a bad one stops the start).
pub fn for_sink(
    plan: &Plan,
    url: &str,
    ssl: &SslConfig,
) -> Result<Option<Arc<ClientConfig>>, RunnerError> {
    if !url.starts_with("https://") {
        return Ok(None);
    }
    let (pem, at) = match (&ssl.ca_file, plan.secrets.get(CA_CERT)) {
        (Some(_), Some(_)) => {
            return Err(RunnerError::spec(
                "spec.sinkConfig.ssl.caFile",
                "two CA sources (ssl.caFile and secretsMap.caCert): keep one",
            ));
        }
        (Some(path), None) => {
            let pem = std::fs::read(path).map_err(|e| {
                RunnerError::spec(
                    "spec.sinkConfig.ssl.caFile",
                    format!("cannot read {path}: {e} (mount the CA's Secret or ConfigMap there)"),
                )
            })?;
            (Some(pem), "spec.sinkConfig.ssl.caFile")
        }
        (None, Some(pem)) => (Some(pem.clone().into_bytes()), "spec.secretsMap.caCert"),
        (None, None) => (None, "spec.sinkConfig.ssl"),
    };
    client_config(ssl, pem.as_deref())
        .map(Some)
        .map_err(|e| RunnerError::spec(at, e.to_string()))
}

/// What to do about a failed handshake, for the error message.
pub fn hint(error: &rustls::Error) -> &'static str {
    match error {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => {
            "the server's certificate is not signed by a trusted CA: give its CA in ssl.caFile or secretsMap.caCert"
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {
            "the server's certificate does not name the url's host: fix the url, or set ssl.hostnameVerification: false"
        }
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired: renew it",
        rustls::Error::InvalidCertificate(_) => "the server's certificate was refused",
        _ => "check that the url's port speaks TLS",
    }
}

/// The server name to verify: the url's host, without an IPv6 literal's brackets.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|e| format!("{host} is not a TLS server name: {e}"))
}

/// Chain checked against the roots, any name accepted (`ssl.hostnameVerification: false`).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Any certificate accepted (`ssl.disableCertificateValidation: true`); the handshake's
/// signatures are still checked, so the peer holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_pem_must_hold_a_certificate() {
        assert!(roots(None).unwrap().len() > 100, "the Mozilla roots");
        let err = roots(Some(b"not a pem")).unwrap_err().to_string();
        assert!(err.contains("no certificate"), "{err}");
        let broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(roots(Some(broken)).is_err());
    }

    #[test]
    fn server_names_take_hosts_and_ip_literals() {
        assert!(server_name("es.example.com").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("[::1]").is_ok());
        assert!(server_name("bad host").is_err());
    }
}
