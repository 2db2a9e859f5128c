//! The webhook's benchmark: admission latency and throughput over TLS on loopback, side by side
//! with a plain hyper + rustls echo server (the floor), the webhook's RSS idle and under load,
//! and its CPU cost per review. Run it with `cargo bench -p fmesh-webhook --bench admission --
//! [MODE] [--rate 500] [--seconds 10] [--connections 8]` (webhook/README.md).
//!
//! No mode: spawns two child processes (the `fmesh-webhook` binary, in files mode without
//! reference checks, and this program in `echo` mode), then drives each with an open-loop load
//! generator: every connection sends on a fixed schedule and, when the server's previous answer
//! came late, latency counts from the scheduled send time, so a stall is not hidden (no
//! coordinated omission); otherwise from the actual send, so the client's timer slop (up to
//! 1 ms) is not counted against either server. Connections are kept alive, as the apiserver
//! keeps them. The requests are the four AdmissionReviews a `kubectl apply` of a 20-member
//! FunctionMesh and a later edit of it make the apiserver send (mutate and validate, CREATE and
//! UPDATE, with the metadata the apiserver adds); each is run right after the floor echoing that
//! same body, and the table gives the webhook's p50 and p99 as multiples of the floor's. The
//! last column is the webhook's own p50 time to decide (from its log): the body received to the
//! answer decided; the rest is transport.
//!
//! `cpu`: the CPU cost of each of those requests in this process, without TLS or sockets
//! (`4 × rate` iterations each); then `rate` more with the caches evicted before each (cold),
//! which is closer to what a request costs in the server, where the load generator and TLS run
//! between two requests; and the cost of the largest review the server accepts (a mesh at the
//! body limit).
//!
//! `phases`: each stage of a request timed on its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use fmesh_webhook::metrics::Metrics;
use fmesh_webhook::references::NoReferences;
use fmesh_webhook::server::{App, Listener};
use fmesh_webhook::{Admission, Settings};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// The allocator the `fmesh-webhook` binary uses, so `cpu` and `phases` measure what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Options {
    rate: u32,
    seconds: u64,
    connections: u32,
}

fn options() -> Result<(Option<String>, Options, Vec<String>)> {
    // `cargo bench` appends `--bench`.
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = matches!(
        args.first().map(String::as_str),
        Some("echo" | "cpu" | "phases")
    )
    .then(|| args.remove(0));
    let mut o = Options {
        rate: 500,
        seconds: 10,
        connections: 8,
    };
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut next = || it.next().context("flag needs a value");
        match a.as_str() {
            "--rate" => o.rate = next()?.parse()?,
            "--seconds" => o.seconds = next()?.parse()?,
            "--connections" => o.connections = next()?.parse()?,
            _ => rest.push(a),
        }
    }
    Ok((mode, o, rest))
}

fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (mode, opts, rest) = options()?;
    let rt = tokio::runtime::Runtime::new()?;
    match mode.as_deref() {
        Some("echo") => rt.block_on(echo(&rest)),
        Some("phases") => phases(&opts),
        // One thread: what is measured is the handler, not wake-ups of idle workers.
        Some(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(cpu(&opts)),
        None => rt.block_on(bench(opts)),
    }
}

/// The floor: a plain hyper + rustls echo server (TLS, HTTP/1.1, the body read and sent back).
async fn echo(args: &[String]) -> Result<()> {
    let listen = args.first().context("echo <addr> <cert-dir>")?;
    let dir = PathBuf::from(args.get(1).context("echo <addr> <cert-dir>")?);
    let resolver = fmesh_certs::HotResolver::new();
    fmesh_certs::files::CertFiles::in_dir(&dir).load(&resolver)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(resolver.server_config());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(
                |req: hyper::Request<hyper::body::Incoming>| async move {
                    let body = req.into_body().collect().await?.to_bytes();
                    let mut answer = hyper::Response::new(Full::new(body));
                    answer.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, hyper::Error>(answer)
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// A 20-member mesh as a user writes it: a source, 18 chained functions, a sink; realistic
/// fields on each.
fn mesh_object() -> Value {
    mesh_of(18)
}

/// A mesh of a source, `count` chained functions and a sink.
fn mesh_of(count: usize) -> Value {
    let pulsar = json!({"pulsarConfig": "pulsar", "authSecret": "pulsar-auth"});
    let resources = json!({"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}});
    let topic = |i: usize| format!("persistent://acme/orders/stage-{i}");
    let mut functions = Vec::new();
    for i in 1..=count {
        functions.push(json!({
            "name": format!("step-{i}"), "wasm": {"module": format!("/fmesh/step-{i}.wasm")},
            "input": {"topics": [topic(i - 1)]}, "output": {"topic": topic(i)},
            "tenant": "acme", "namespace": "orders", "replicas": 2, "maxReplicas": 6,
            "resources": resources, "funcConfig": {"stage": i, "currency": "EUR"},
            "secretsMap": {"API_KEY": {"path": "enrich-keys", "key": "api-key"}}, "pulsar": pulsar,
        }));
    }
    json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "FunctionMesh",
        "metadata": {"name": "orders-pipeline", "namespace": "shop", "labels": {"team": "orders"}},
        "spec": {
            "sources": [{"name": "cdc", "builtin": {"name": "datagen"}, "output": {"topic": topic(0)},
                "tenant": "acme", "namespace": "orders", "resources": resources, "pulsar": pulsar}],
            "functions": functions,
            "sinks": [{"name": "index", "builtin": {"name": "log"}, "input": {"topics": [topic(count)]},
                "tenant": "acme", "namespace": "orders", "resources": resources, "pulsar": pulsar,
                "secretsMap": {"PASSWORD": {"path": "es-credentials", "key": "password"}}}],
        }
    })
}

/// `doc` as `kubectl apply` leaves it in the apiserver: the last-applied annotation (the whole
/// document again, as a string), server-set metadata and a managedFields entry. For a defaulted
/// `doc` the annotation holds the defaulted text, a little longer than what kubectl writes (the
/// user's text): the bodies err on the large side.
fn as_stored(doc: &Value, generation: u64, resource_version: &str) -> Value {
    let mut out = doc.clone();
    let meta = &mut out["metadata"];
    meta["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": format!("{doc}\n")});
    meta["uid"] = json!("9b0c1a7e-4d51-4a53-9f0e-2c6f3e1d8a11");
    meta["creationTimestamp"] = json!("2026-11-27T10:00:00Z");
    meta["generation"] = json!(generation);
    meta["resourceVersion"] = json!(resource_version);
    meta["managedFields"] = json!([{
        "apiVersion": "compute.functionmesh.io/v1alpha1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
            "f:labels": {".": {}, "f:team": {}}},
            "f:spec": {".": {}, "f:functions": {}, "f:sinks": {}, "f:sources": {}}},
        "manager": "kubectl-client-side-apply", "operation": "Update", "time": "2026-11-27T10:00:00Z"}]);
    out
}

/// `doc` with the webhook's own defaults applied: what validating admission sees after the
/// mutating webhook answered.
fn defaulted(doc: &Value) -> Result<Value> {
    let fmesh_crds::Parsed::Resource(res, _) = fmesh_crds::Resource::parse(doc) else {
        bail!("the bench mesh does not parse");
    };
    let mut out = doc.clone();
    if let Some(patch) = fmesh_webhook::mutate::defaults_patch(&res)? {
        let patch: json_patch::Patch = serde_json::from_value(patch)?;
        json_patch::patch(&mut out, &patch)?;
    }
    Ok(out)
}

/// The AdmissionReview the apiserver sends, with every request field it fills in.
fn review(operation: &str, object: &Value, old: Option<&Value>) -> Value {
    let options = if operation == "CREATE" {
        json!({"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-client-side-apply"})
    } else {
        json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-client-side-apply"})
    };
    let gvk =
        json!({"group": "compute.functionmesh.io", "version": "v1alpha1", "kind": "FunctionMesh"});
    let gvr = json!({"group": "compute.functionmesh.io", "version": "v1alpha1", "resource": "functionmeshes"});
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "4f8c2f3e-5b7a-4c1e-9d2f-7a6b5c4d3e2f", "kind": gvk, "resource": gvr,
        "requestKind": gvk, "requestResource": gvr, "name": "orders-pipeline", "namespace": "shop",
        "operation": operation,
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
        "object": object, "oldObject": old, "dryRun": false, "options": options}})
}

/// The four bodies one `kubectl apply` of the mesh (then of an edit of it) makes the apiserver
/// send: (label, path, body).
fn bodies() -> Result<Vec<(&'static str, &'static str, Bytes)>> {
    let created = as_stored(&mesh_object(), 1, "");
    let stored = as_stored(&defaulted(&mesh_object())?, 1, "48213");
    // The edit: more replicas for one member, a changed setting for another.
    let mut edited = mesh_object();
    edited["spec"]["functions"][6]["replicas"] = json!(4);
    edited["spec"]["functions"][2]["funcConfig"]["currency"] = json!("USD");
    // kubectl's three-way merge patch lands on the stored object: defaults stay, edits apply.
    let mut updated = stored.clone();
    updated["spec"]["functions"][6]["replicas"] = json!(4);
    updated["spec"]["functions"][2]["funcConfig"]["currency"] = json!("USD");
    updated["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!(format!("{edited}\n"));
    let updated_defaulted = defaulted(&updated)?;
    let body = |v: Value| Bytes::from(v.to_string());
    Ok(vec![
        (
            "create /mutate",
            "/mutate/functionmesh",
            body(review("CREATE", &created, None)),
        ),
        (
            "create /validate",
            "/validate/functionmesh",
            body(review(
                "CREATE",
                &as_stored(&defaulted(&mesh_object())?, 1, ""),
                None,
            )),
        ),
        (
            "update /mutate",
            "/mutate/functionmesh",
            body(review("UPDATE", &updated, Some(&stored))),
        ),
        (
            "update /validate",
            "/validate/functionmesh",
            body(review("UPDATE", &updated_defaulted, Some(&stored))),
        ),
    ])
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_listening(port: u16) -> Result<()> {
    for _ in 0..1200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nothing listens on {port}")
}

fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(der?)?;
    }
    let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(c))
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(port: u16, tls: Arc<rustls::ClientConfig>) -> Result<Sender> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send(sender: &mut Sender, path: &str, body: &Bytes) -> Result<Bytes> {
    sender.ready().await?;
    let req = hyper::Request::post(path)
        .header("content-type", "application/json")
        .header("host", "127.0.0.1")
        .body(Full::new(body.clone()))?;
    let resp = sender.send_request(req).await?;
    if !resp.status().is_success() {
        bail!("status {}", resp.status());
    }
    Ok(resp.into_body().collect().await?.to_bytes())
}

/// What one open-loop run measured.
struct OpenLoop {
    /// Latencies in µs (from the scheduled send time when the server held it back), sorted.
    latencies: Vec<u64>,
    errors: u64,
    /// Answers per second over the run (falls short of the offered rate when the server lags).
    achieved: f64,
}

/// Open loop at `rate`/s for `seconds` over `connections` keep-alive connections.
async fn open_loop(
    port: u16,
    path: &str,
    body: &Bytes,
    tls: &Arc<rustls::ClientConfig>,
    o: &Options,
) -> Result<OpenLoop> {
    let interval = Duration::from_secs_f64(f64::from(o.connections) / f64::from(o.rate));
    let per_conn = (o.seconds as f64 / interval.as_secs_f64()) as u64;
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for c in 0..o.connections {
        let mut sender = connect(port, tls.clone()).await?;
        let (path, body) = (path.to_string(), body.clone());
        let offset = interval.mul_f64(f64::from(c) / f64::from(o.connections));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_conn as usize);
            let mut errors = 0u64;
            let mut answered = start;
            for i in 0..per_conn {
                let due = start + offset + interval.mul_f64(i as f64);
                tokio::time::sleep_until(due.into()).await;
                // Answered before `due`: the connection was free, so any lateness since is
                // this client's timer (tokio rounds sleeps up to the next millisecond), not
                // the server; count from now. Answered after: the server held the send back,
                // so count from `due` (no coordinated omission).
                let from = if answered <= due { Instant::now() } else { due };
                match send(&mut sender, &path, &body).await {
                    Ok(_) => lat.push(from.elapsed().as_micros() as u64),
                    Err(_) => errors += 1,
                }
                answered = Instant::now();
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let achieved = all.len() as f64 / start.elapsed().as_secs_f64();
    all.sort_unstable();
    Ok(OpenLoop {
        latencies: all,
        errors,
        achieved,
    })
}

/// Closed loop: as fast as `connections` connections go for `seconds`; requests per second.
async fn closed_loop(
    port: u16,
    path: &str,
    body: &Bytes,
    tls: &Arc<rustls::ClientConfig>,
    o: &Options,
) -> Result<f64> {
    let end = Instant::now() + Duration::from_secs(o.seconds.min(5));
    let mut tasks = Vec::new();
    for _ in 0..o.connections {
        let mut sender = connect(port, tls.clone()).await?;
        let (path, body) = (path.to_string(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < end {
                if send(&mut sender, &path, &body).await.is_ok() {
                    n += 1;
                }
            }
            n
        }));
    }
    let started = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

async fn bench(o: Options) -> Result<()> {
    let exe = std::env::current_exe()?;
    // Cargo builds the package's binary for its benches, with the same profile.
    let webhook_bin = PathBuf::from(env!("CARGO_BIN_EXE_fmesh-webhook"));
    let certs = std::env::temp_dir().join(format!("fmesh-webhook-bench-{}", std::process::id()));
    std::fs::create_dir_all(&certs)?;
    let ca = fmesh_certs::pki::generate_ca("bench CA", Duration::from_secs(86_400))?;
    let serving = fmesh_certs::pki::issue_serving(
        &ca,
        "bench",
        &["127.0.0.1".into()],
        Duration::from_secs(86_400),
    )?;
    std::fs::write(certs.join("tls.crt"), &serving.cert_pem)?;
    std::fs::write(certs.join("tls.key"), &serving.key_pem)?;
    let tls = client_config(&ca.cert_pem)?;

    let (wport, eport) = (free_port()?, free_port()?);
    let webhook = Killed(spawn_webhook(&webhook_bin, wport, &certs)?);
    let echo = Killed(
        Command::new(&exe)
            .args([
                "echo",
                &format!("127.0.0.1:{eport}"),
                &certs.to_string_lossy(),
            ])
            .stdout(Stdio::null())
            .spawn()?,
    );
    if let Err(e) = wait_listening(wport).await {
        let err = std::fs::read_to_string(certs.join("webhook.err")).unwrap_or_default();
        bail!("{e}; fmesh-webhook said: {err}");
    }
    wait_listening(eport).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(webhook.0.id(), "VmRSS:");
    let echo_idle = rss_kib(echo.0.id(), "VmRSS:");

    let bodies = bodies()?;
    // Sanity: every review is answered 200 and admitted (the mesh is valid).
    let mut s = connect(wport, tls.clone()).await?;
    println!(
        "requests: AdmissionReviews of a 20-member FunctionMesh (kubectl apply, then an edit)"
    );
    for (label, path, body) in &bodies {
        let answer = send(&mut s, path, body).await?;
        let v: Value = serde_json::from_slice(&answer)?;
        if v["response"]["allowed"] != true {
            bail!("{label} was not admitted: {v}");
        }
        println!(
            "  {label:<18} {:>6} B in, {:>6} B out",
            body.len(),
            answer.len()
        );
    }
    println!(
        "load: open loop {} req/s for {} s over {} TLS keep-alive connections; then closed loop for throughput",
        o.rate, o.seconds, o.connections
    );
    println!("load average before: {}", load_average());
    println!();
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>8} {:>7} {:>10} {:>10} {:>12} {:>10}",
        "target",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
        "achieved/s",
        "max req/s",
        "p50/p99 ×floor",
        "decided ms"
    );
    let mut peak = 0;
    // Each request beside the floor echoing that same body, one after the other.
    for (label, path, body) in bodies {
        let mut floor = None;
        for (target, port, path) in [("  echo, same body", eport, "/"), (label, wport, path)] {
            let log_from = log_len(&certs);
            let run = open_loop(port, path, &body, &tls, &o).await?;
            let in_server = server_micros(&certs, log_from);
            peak = peak.max(rss_kib(webhook.0.id(), "VmRSS:"));
            let rps = closed_loop(port, path, &body, &tls, &o).await?;
            peak = peak.max(rss_kib(webhook.0.id(), "VmRSS:"));
            let lat = &run.latencies;
            let (p50, p99) = (pct(lat, 0.5), pct(lat, 0.99));
            let ratio = match floor {
                Some((f50, f99)) => format!("{:.1} / {:.1}", p50 / f50, p99 / f99),
                None => String::new(),
            };
            let in_server = if in_server.is_empty() {
                String::new()
            } else {
                format!("{:.3}", pct(&in_server, 0.5))
            };
            println!(
                "{target:<26} {p50:>8.3} {:>8.3} {p99:>8.3} {:>8.3} {:>7} {:>10.0} {:>10.0} {ratio:>14} {in_server:>10}",
                pct(lat, 0.9),
                pct(lat, 1.0),
                run.errors,
                run.achieved,
                rps,
            );
            floor.get_or_insert((p50, p99));
        }
    }
    println!();
    println!(
        "webhook RSS: idle {:.1} MiB, under load {:.1} MiB (VmHWM {:.1} MiB); echo idle {:.1} MiB",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss_kib(webhook.0.id(), "VmHWM:") as f64 / 1024.0,
        echo_idle as f64 / 1024.0
    );
    println!("load average after: {}", load_average());
    drop(webhook);
    drop(echo);
    let _ = std::fs::remove_dir_all(&certs);
    Ok(())
}

/// CPU cost of one request without TLS and sockets: the server's own `App::handle` (parse,
/// decide, metrics, encode) in a loop on this thread. Logging is off here (no subscriber).
async fn cpu(o: &Options) -> Result<()> {
    let app = App {
        admission: Arc::new(Admission::new(
            NoReferences,
            Settings {
                reference_checks: false,
                ..Settings::default()
            },
        )),
        metrics: Arc::new(Metrics::new()),
        ready: Box::new(|| true),
        deadline: Duration::from_secs(10),
    };
    fmesh_webhook::admit::warm_up();
    let iterations = o.rate.max(50) * 4;
    println!("load average before: {}", load_average());
    println!(
        "{:<18} {:>10} {:>10} {:>10} {:>12}",
        "request", "mean µs", "p50 µs", "p99 µs", "cold p50 µs"
    );
    // Written over before each request of the cold run, so the request finds its memory
    // (and the allocator's) out of the caches, as it does in the server between requests.
    let mut evictor = vec![0u8; COLD_EVICT_BYTES];
    for (label, path, body) in bodies()? {
        let mut hot = Vec::with_capacity(iterations as usize);
        let mut cold = Vec::with_capacity(iterations as usize / 4);
        for i in 0..iterations + iterations / 4 + 50 {
            let is_cold = i >= iterations + 50;
            if is_cold {
                for (j, b) in evictor.iter_mut().enumerate().step_by(64) {
                    *b = b.wrapping_add(j as u8);
                }
                std::hint::black_box(&evictor);
            }
            let req = hyper::Request::post(path).body(Full::new(body.clone()))?;
            let t = Instant::now();
            let resp = app.handle(req, Listener::Tls).await;
            let answer = resp.into_body().collect().await?.to_bytes();
            let micros = t.elapsed().as_nanos() as u64;
            if answer.is_empty() {
                bail!("{label}: empty answer");
            }
            if is_cold {
                cold.push(micros);
            } else if i >= 50 {
                hot.push(micros);
            }
        }
        let mean = hot.iter().sum::<u64>() as f64 / hot.len() as f64 / 1000.0;
        hot.sort_unstable();
        cold.sort_unstable();
        println!(
            "{label:<18} {mean:>10.1} {:>10.1} {:>10.1} {:>12.1}",
            pct(&hot, 0.5),
            pct(&hot, 0.99),
            pct(&cold, 0.5)
        );
    }
    // The most CPU one review can take: the server decides on the connection's task.
    let (members, body) = at_body_limit()?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let req = hyper::Request::post("/validate/functionmesh").body(Full::new(body.clone()))?;
        let t = Instant::now();
        let resp = app.handle(req, Listener::Tls).await;
        let answer = resp.into_body().collect().await?.to_bytes();
        times.push(t.elapsed().as_nanos() as u64);
        let v: Value = serde_json::from_slice(&answer)?;
        if v["response"]["allowed"] != true {
            bail!("the mesh at the body limit was not admitted: {v}");
        }
    }
    times.sort_unstable();
    println!(
        "create /validate of a {members}-member mesh ({:.1} MiB; limits: {} members, {:.1} MiB): \
         p50 {:.0} ms, max {:.0} ms",
        body.len() as f64 / 1048576.0,
        fmesh_crds::limits::MAX_MESH_MEMBERS,
        fmesh_webhook::review::MAX_BODY_BYTES as f64 / 1048576.0,
        pct(&times, 0.5) / 1000.0,
        pct(&times, 1.0) / 1000.0
    );
    println!("load average after: {}", load_average());
    Ok(())
}

/// The create /validate review of the largest bench mesh the server decides on: within the
/// body limit and `fmesh_crds`'s member limit (a larger mesh is refused before it is decoded).
fn at_body_limit() -> Result<(usize, Bytes)> {
    let body = |functions: usize| -> Result<Bytes> {
        let doc = as_stored(&defaulted(&mesh_of(functions))?, 1, "");
        Ok(Bytes::from(review("CREATE", &doc, None).to_string()))
    };
    let (small, large) = (body(18)?.len(), body(36)?.len());
    let per_function = (large - small) / 18;
    let limit = fmesh_webhook::review::MAX_BODY_BYTES;
    let members = fmesh_crds::limits::MAX_MESH_MEMBERS;
    let mut functions = (18 + (limit - small) / per_function).min(members - 2);
    loop {
        let b = body(functions)?;
        if b.len() <= limit {
            return Ok((functions + 2, b));
        }
        functions -= functions / 100 + 1;
    }
}

/// Where a request's CPU goes: each stage of the handlers timed on its own (p50 µs).
fn phases(o: &Options) -> Result<()> {
    use fmesh_crds::Parsed;
    use fmesh_webhook::review::{self, Webhook};
    fmesh_webhook::admit::warm_up();
    let iterations = (o.rate.max(50) * 4) as usize;
    let p50 = |f: &mut dyn FnMut()| {
        let mut times: Vec<u64> = (0..iterations)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_nanos() as u64
            })
            .collect();
        times.sort_unstable();
        pct(&times, 0.5)
    };
    println!(
        "p50 µs per stage: the body read as JSON values, the review parsed (JSON + typed objects),"
    );
    println!("defaults on a copy, validation of the defaulted copy, the defaults patch");
    for (label, path, body) in bodies()? {
        let webhook = if path.starts_with("/validate") {
            Webhook::Validate
        } else {
            Webhook::Mutate
        };
        let json = p50(&mut || {
            let _: Value = serde_json::from_slice(&body).unwrap();
        });
        let parse = p50(&mut || {
            review::parse(&body, webhook).unwrap();
        });
        let req = review::parse(&body, webhook)?;
        let Some(Parsed::Resource(res, _)) = req.object.map(|o| o.parsed) else {
            bail!("{label}: does not parse")
        };
        let defaults = p50(&mut || {
            let mut r = (*res).clone();
            r.apply_defaults();
        });
        let mut defaulted = (*res).clone();
        defaulted.apply_defaults();
        let validate = p50(&mut || {
            defaulted.validate_defaulted();
        });
        let patch = p50(&mut || {
            fmesh_webhook::mutate::defaults_patch(&res).unwrap();
        });
        println!(
            "{label:<18} json {json:>4.0}, parse {parse:>4.0}, defaults {defaults:>3.0}, \
             validate {validate:>3.0}, patch {patch:>3.0}"
        );
    }
    Ok(())
}

/// What the cold run of `cpu` writes over before each request: more than a core's L2 and much
/// of a shared L3, as the load generator's and TLS's work between two requests does.
const COLD_EVICT_BYTES: usize = 16 << 20;

/// How many bytes the webhook's log has.
fn log_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("webhook.log")).map_or(0, |m| m.len())
}

/// The webhook's own time to decide each request (µs, sorted, from the `decided_micros` of
/// its `answered` log lines written after byte `from`): from the body received to the answer
/// decided, so the rest of the latency is transport (TLS, HTTP, scheduling).
fn server_micros(dir: &Path, from: u64) -> Vec<u64> {
    let log = std::fs::read(dir.join("webhook.log")).unwrap_or_default();
    let mut micros: Vec<u64> = log
        .get(from as usize..)
        .unwrap_or_default()
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .filter_map(|v| v["fields"]["decided_micros"].as_u64())
        .collect();
    micros.sort_unstable();
    micros
}

fn spawn_webhook(bin: &Path, port: u16, certs: &Path) -> Result<Child> {
    Ok(Command::new(bin)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--cert-mode",
            "files",
            "--cert-dir",
            &certs.to_string_lossy(),
            "--reference-checks",
            "false",
            "--log-format",
            "json",
        ])
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(std::fs::File::create(certs.join("webhook.log"))?)
        .stderr(std::fs::File::create(certs.join("webhook.err"))?)
        .spawn()?)
}
