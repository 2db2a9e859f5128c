//! A CA and the serving certificates it signs (rcgen, ECDSA P-256), and the facts read back
//! from a PEM certificate that rotation needs. Pure: no I/O.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// Certificates start this long before "now", so a peer whose clock is a little behind accepts them.
pub(crate) const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for KeyedCert {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedCert")
            .field(
                "fingerprint",
                &fingerprint(&self.cert_pem).unwrap_or_default(),
            )
            .finish_non_exhaustive()
    }
}

/// Makes a self-signed CA named `common_name`, valid for `validity` from now.
pub fn generate_ca(common_name: &str, validity: Duration) -> Result<KeyedCert> {
    let key = KeyPair::generate()?;
    let params = ca_params(common_name, validity)?;
    let cert = params.self_signed(&key)?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Makes a serving certificate for `sans` (DNS names or IP addresses) signed by `ca`.
pub fn issue_serving(
    ca: &KeyedCert,
    common_name: &str,
    sans: &[String],
    validity: Duration,
) -> Result<KeyedCert> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| pem_error("the CA key", e))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca_key)
        .map_err(|e| pem_error("the CA certificate", e))?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(sans.to_vec())?;
    params.distinguished_name = name(common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Names the CA's key, so rotation can tell which CA signed the certificate it serves.
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, validity);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn ca_params(common_name: &str, validity: Duration) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, validity);
    Ok(params)
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn pem_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Pem {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

/// The validity window (`notBefore`, `notAfter`) of the first certificate in `cert_pem`.
pub fn validity(cert_pem: &str) -> Result<(SystemTime, SystemTime)> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|e| pem_error("a certificate", e))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| pem_error("a certificate", e))?;
    let v = cert.validity();
    Ok((
        to_system_time(v.not_before.timestamp()),
        to_system_time(v.not_after.timestamp()),
    ))
}

fn to_system_time(unix: i64) -> SystemTime {
    match u64::try_from(unix) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

/// SHA-256 of the first certificate's DER, hex: names a certificate in logs without showing it.
pub fn fingerprint(cert_pem: &str) -> Result<String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|e| pem_error("a certificate", e))?;
    Ok(hex::encode(Sha256::digest(&pem.contents)))
}

/// Whether `cert_pem` was signed by the CA of `ca_pem`: its authority key identifier against
/// the CA's subject key identifier. A certificate without the extension (issued before fmesh
/// wrote it) counts as signed by it.
pub fn issued_by(cert_pem: &str, ca_pem: &str) -> Result<bool> {
    use x509_parser::extensions::ParsedExtension;
    let parse = |what: &str, text: &str| {
        x509_parser::pem::parse_x509_pem(text.as_bytes())
            .map(|(_, pem)| pem)
            .map_err(|e| pem_error(what, e))
    };
    let (cert_pem, ca_pem) = (parse("a certificate", cert_pem)?, parse("the CA", ca_pem)?);
    let cert = cert_pem
        .parse_x509()
        .map_err(|e| pem_error("a certificate", e))?;
    let ca = ca_pem.parse_x509().map_err(|e| pem_error("the CA", e))?;
    let authority = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        });
    let subject = ca
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0),
            _ => None,
        });
    Ok(match (authority, subject) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    })
}

/// Every certificate in a PEM bundle, in order (a CA bundle may hold the current and previous CA).
pub fn split_bundle(bundle_pem: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    bundle_pem
        .split_inclusive(END)
        .filter(|part| part.contains("-----BEGIN CERTIFICATE-----"))
        .map(|part| format!("{}\n", part.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn ca_signs_a_serving_certificate_with_the_asked_validity() {
        let ca = generate_ca("test CA", 365 * DAY).unwrap();
        let sans = vec![
            "fmesh-webhook.fmesh.svc".to_string(),
            "127.0.0.1".to_string(),
        ];
        let serving = issue_serving(&ca, "fmesh-webhook", &sans, 30 * DAY).unwrap();
        let (nb, na) = validity(&serving.cert_pem).unwrap();
        let now = SystemTime::now();
        assert!(nb < now);
        let left = na.duration_since(now).unwrap();
        assert!(left > 29 * DAY && left <= 30 * DAY, "{left:?}");
        assert_ne!(
            fingerprint(&ca.cert_pem).unwrap(),
            fingerprint(&serving.cert_pem).unwrap()
        );
        assert!(!format!("{serving:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_certificate_names_the_ca_that_signed_it() {
        let (a, b) = (
            generate_ca("a", DAY).unwrap(),
            generate_ca("a", DAY).unwrap(),
        );
        let serving = issue_serving(&a, "s", &["127.0.0.1".into()], DAY).unwrap();
        assert!(issued_by(&serving.cert_pem, &a.cert_pem).unwrap());
        // Same name, other key: not the issuer.
        assert!(!issued_by(&serving.cert_pem, &b.cert_pem).unwrap());
    }

    #[test]
    fn bundle_splits_into_certificates() {
        let a = generate_ca("a", DAY).unwrap().cert_pem;
        let b = generate_ca("b", DAY).unwrap().cert_pem;
        let parts = split_bundle(&format!("{a}{b}"));
        assert_eq!(parts.len(), 2);
        assert_eq!(fingerprint(&parts[1]).unwrap(), fingerprint(&b).unwrap());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(validity("not a certificate").is_err());
        let ca = KeyedCert {
            cert_pem: "x".into(),
            key_pem: "y".into(),
        };
        assert!(issue_serving(&ca, "s", &[], DAY).is_err());
    }
}
