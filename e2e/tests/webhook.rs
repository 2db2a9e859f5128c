//! Proves the webhook harness: the real apiserver calls a validating and a mutating webhook
//! served on 127.0.0.1 with a certificate from `ServingCert`, and obeys their answers.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use fmesh_e2e::webhook::{self, ServingCert, WebhookTarget};
use fmesh_e2e::{Cluster, wait};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

const DENY_LABEL: &str = "e2e.fmesh.io/deny";

/// Answers AdmissionReviews: `/validate` denies objects labelled `e2e.fmesh.io/deny=yes`,
/// `/mutate` adds the label `e2e.fmesh.io/mutated=yes`. Counts the reviews it gets.
async fn admit(
    request: Request<Incoming>,
    calls: Arc<AtomicUsize>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    calls.fetch_add(1, Ordering::SeqCst);
    let path = request.uri().path().to_owned();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return Ok(Response::builder()
                .status(400)
                .body(Full::default())
                .unwrap_or_default());
        }
    };
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let uid = review["request"]["uid"].clone();
    let response = match path.as_str() {
        "/validate" if review["request"]["object"]["metadata"]["labels"][DENY_LABEL] == "yes" => {
            json!({
                "uid": uid, "allowed": false,
                "status": { "code": 403, "message": "denied by the e2e webhook" },
            })
        }
        "/mutate" => {
            let patch = json!([{ "op": "add", "path": "/metadata/labels/e2e.fmesh.io~1mutated", "value": "yes" }]);
            json!({
                "uid": uid, "allowed": true, "patchType": "JSONPatch",
                "patch": base64::engine::general_purpose::STANDARD.encode(patch.to_string()),
            })
        }
        _ => json!({ "uid": uid, "allowed": true }),
    };
    let answer = json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer.to_string())))
        .unwrap_or_default())
}

/// Serves HTTPS on an ephemeral 127.0.0.1 port; returns the port and the call counter.
async fn serve(cert: &ServingCert) -> (u16, Arc<AtomicUsize>) {
    let chain =
        vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).expect("certificate PEM")];
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("key PEM");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, calls) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |r| admit(r, calls.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, calls)
}

fn config_map(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(
        json!({ "metadata": { "name": name, "labels": labels }, "data": { "k": "v" } }),
    )
    .expect("ConfigMap manifest")
}

#[tokio::test]
async fn apiserver_calls_validating_and_mutating_webhooks_on_localhost() {
    let cluster = Cluster::ensure().await.expect("cluster up");
    let ns = cluster.namespace("webhook").await.expect("namespace");
    let client = cluster.client();
    let cert = ServingCert::localhost().expect("serving certificate");
    let (port, calls) = serve(&cert).await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let suffix = ns.name().to_owned();

    let validating = WebhookTarget::local(
        &format!("deny.{suffix}.e2e.fmesh.io"),
        port,
        "/validate",
        &cert.ca_pem,
    )
    .rule(&["CREATE"], "", "v1", &["configmaps"])
    .in_namespace(ns.name());
    let validating = webhook::register_validating(&client, &validating)
        .await
        .expect("register validating");

    // The apiserver picks configurations up from an informer: retry until the denial shows.
    let mut attempt = 0;
    let denied = wait::until(
        "the validating webhook to deny",
        Duration::from_secs(30),
        || {
            attempt += 1;
            let (maps, name) = (maps.clone(), format!("denied-{attempt}"));
            async move {
                match maps
                    .create(
                        &PostParams::default(),
                        &config_map(&name, json!({ DENY_LABEL: "yes" })),
                    )
                    .await
                {
                    Err(kube::Error::Api(status))
                        if status.message.contains("denied by the e2e webhook") =>
                    {
                        Ok(Some(status.message))
                    }
                    Ok(_) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        },
    )
    .await
    .expect("apiserver calls the validating webhook");
    assert!(
        denied.contains("deny."),
        "denial names the webhook: {denied}"
    );
    maps.create(
        &PostParams::default(),
        &config_map("allowed", json!({ "x": "y" })),
    )
    .await
    .expect("an unlabelled ConfigMap is allowed");
    validating.remove().await.expect("remove validating");

    let mutating = WebhookTarget::local(
        &format!("mutate.{suffix}.e2e.fmesh.io"),
        port,
        "/mutate",
        &cert.ca_pem,
    )
    .rule(&["CREATE"], "", "v1", &["configmaps"])
    .in_namespace(ns.name());
    let mutating = webhook::register_mutating(&client, &mutating)
        .await
        .expect("register mutating");
    let mut attempt = 0;
    wait::until(
        "the mutating webhook to patch",
        Duration::from_secs(30),
        || {
            attempt += 1;
            let (maps, name) = (maps.clone(), format!("mutated-{attempt}"));
            async move {
                let created = maps
                    .create(
                        &PostParams::default(),
                        &config_map(&name, json!({ "x": "y" })),
                    )
                    .await?;
                let labels = created.metadata.labels.unwrap_or_default();
                maps.delete(&name, &DeleteParams::default()).await?;
                Ok(
                    (labels.get("e2e.fmesh.io/mutated").map(String::as_str) == Some("yes"))
                        .then_some(()),
                )
            }
        },
    )
    .await
    .expect("apiserver applies the mutating webhook's patch");
    mutating.remove().await.expect("remove mutating");
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "the server saw the reviews"
    );
}
