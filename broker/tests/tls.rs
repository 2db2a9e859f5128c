//! TLS on the binary protocol (rustls, ring provider).

mod common;

use common::{broker, topic, within};
use futures::StreamExt;
use pulsar::ConsumerOptions;
use pulsar::consumer::InitialPosition;

/// A CA and a broker certificate for 127.0.0.1 under `dir`: (ca pem, cert path, key path).
fn certificates(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    // Distinct names: OpenSSL treats a leaf whose subject equals its issuer as self-signed.
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fmesh test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let mut params = params;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fmesh-broker");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let cert_path = dir.join("tls.crt");
    let key_path = dir.join("tls.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca.pem(), cert_path, key_path)
}

#[tokio::test]
async fn pulsar_rs_produces_and_consumes_over_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert_path, key_path) = certificates(dir.path());
    let b = broker(&dir.path().join("data"), |c| {
        c.tls = Some(fmesh_broker::config::TlsConfig {
            cert_pem: cert_path.clone(),
            key_pem: key_path.clone(),
        });
    })
    .await;
    assert!(b.service_url().starts_with("pulsar+ssl://"));
    let c = within(
        "tls client",
        pulsar::Pulsar::builder(b.service_url(), pulsar::TokioExecutor)
            .with_certificate_chain(ca_pem.into_bytes())
            .build(),
    )
    .await
    .expect("TLS handshake with the broker's certificate");
    let t = topic("tls");
    let mut p = within("producer", c.producer().with_topic(&t).build())
        .await
        .unwrap();
    within("send", p.send_non_blocking("secret".to_string()))
        .await
        .unwrap()
        .await
        .unwrap();
    let mut cons = within(
        "consumer",
        c.consumer()
            .with_topic(&t)
            .with_subscription("s")
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build::<String>(),
    )
    .await
    .unwrap();
    let m = within("next", cons.next()).await.unwrap().unwrap();
    assert_eq!(m.payload.data, b"secret");
    // A plaintext client cannot talk to the TLS listener.
    let plain = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        pulsar::Pulsar::builder(format!("pulsar://{}", b.addr), pulsar::TokioExecutor)
            .with_connection_retry_options(pulsar::ConnectionRetryOptions {
                max_retries: 0,
                ..Default::default()
            })
            .build(),
    )
    .await;
    assert!(!matches!(plain, Ok(Ok(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_produces_and_consumes_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert_path, key_path) = certificates(dir.path());
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();
    let b = broker(&dir.path().join("data"), |c| {
        c.tls = Some(fmesh_broker::config::TlsConfig {
            cert_pem: cert_path.clone(),
            key_pem: key_path.clone(),
        });
    })
    .await;
    let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/setup-venv.sh");
    let out = std::process::Command::new("bash")
        .arg(setup)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut cmd = tokio::process::Command::new(py);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/scenarios.py"
    ))
    .args([
        "tls",
        &b.service_url(),
        &topic("py-tls"),
        &ca_path.display().to_string(),
    ])
    .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
