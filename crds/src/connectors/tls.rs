//! `ssl` of the sinks that call out over HTTP (`http`, `elasticsearch`): how an `https://`
//! peer is verified. The keys follow Pulsar's Elasticsearch sink (`ssl.enabled`,
//! `ssl.hostnameVerification`, `ssl.disableCertificateValidation`), with a PEM CA bundle
//! (`caFile`, or the `caCert` Secret) where Pulsar takes a Java truststore.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Checked;
use crate::diagnostic::Report;

/// The `secretsMap` key holding PEM CA certificates (e.g. the `ca.crt` of a cluster's
/// certificate Secret), an alternative to `ssl.caFile`.
pub const CA_CERT: &str = "caCert";

/// How an `https://` url's server is verified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SslConfig {
    /// Whether TLS is used. The url's scheme decides; when set, this must agree with it
    /// (accepted so that Pulsar sink configs carry over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// PEM file of the CA certificates that sign the server's certificate (e.g. a mounted
    /// Secret's `ca.crt`). Default: the Mozilla root CAs built into the runner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub ca_file: Option<String>,
    /// Check that the certificate names the url's host.
    #[serde(default = "yes")]
    pub hostname_verification: bool,
    /// Accept any certificate: encrypted, but the server is not authenticated. Tests only.
    #[serde(default)]
    pub disable_certificate_validation: bool,
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig {
            enabled: None,
            ca_file: None,
            hostname_verification: true,
            disable_certificate_validation: false,
        }
    }
}

impl SslConfig {
    /// Nothing set: the url's scheme and the default roots decide.
    pub fn is_default(&self) -> bool {
        *self == SslConfig::default()
    }
}

fn yes() -> bool {
    true
}

/// Checks a schema cannot express: `ssl` agrees with the url's scheme, one CA source; a
/// warning for disabled validation.
pub(super) fn check(config: &Map<String, Value>, secrets: &[&str], at: &Checked, r: &mut Report) {
    let https = config
        .get("url")
        .and_then(Value::as_str)
        .is_some_and(|u| u.starts_with("https://"));
    let ssl = config.get("ssl").and_then(Value::as_object);
    let ssl_at = at.config.field("ssl");
    if let Some(enabled) = ssl.and_then(|s| s.get("enabled")).and_then(Value::as_bool)
        && enabled != https
    {
        let (msg, fix) = if enabled {
            (
                "ssl.enabled is true but the url is http://",
                "use an https:// url (the scheme decides)",
            )
        } else {
            (
                "ssl.enabled is false but the url is https://",
                "use an http:// url, or drop ssl.enabled",
            )
        };
        r.error(&ssl_at.field("enabled"), msg, fix);
    }
    let ca_file = ssl.is_some_and(|s| s.contains_key("caFile"));
    if ca_file && secrets.contains(&CA_CERT) {
        r.error(
            &ssl_at.field("caFile"),
            "two CA sources: ssl.caFile and secretsMap.caCert",
            "keep one of them",
        );
    }
    if (ca_file || secrets.contains(&CA_CERT)) && !https {
        r.warn(
            &at.config.field("url"),
            "a CA is given but the url is http://, so it is not used",
            "use an https:// url",
        );
    }
    let Some(ssl) = ssl else { return };
    if ssl.get("disableCertificateValidation") == Some(&Value::Bool(true)) {
        r.warn(
            &ssl_at.field("disableCertificateValidation"),
            "any certificate is accepted: the connection is encrypted but the server is not authenticated",
            "give the server's CA in ssl.caFile or secretsMap.caCert instead",
        );
    }
}
