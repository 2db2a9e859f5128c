//! Admin REST subset with Pulsar's paths and JSON shapes, the package
//! registry (`/admin/v3/packages`) and `/metrics`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::auth;
use crate::broker::Broker;
use crate::config::AuthConfig;
use crate::error::BrokerError;
use crate::packages::{PackageMetadata, PackageName, PackageStore};
use crate::topic_name::TopicName;

/// Largest package accepted by upload.

#[derive(Clone)]
struct AppState {
    broker: Arc<Broker>,
    packages: PackageStore,
}

/// Serves the admin API until the task is aborted. Each request must send
/// its headers within `admin_header_timeout`; bodies are bounded per route.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener) {
    let header_timeout = broker.config.admin_header_timeout;
    let app = router(broker);
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors: wait for some to close instead of spinning.
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut b =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            b.http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout);
            let io = hyper_util::rt::TokioIo::new(sock);
            if let Err(e) = b.serve_connection_with_upgrades(io, svc).await {
                tracing::debug!(%peer, error = %e, "admin connection ended");
            }
        });
    }
}

/// The admin routes (public for tests that drive them without a socket).
pub fn router(broker: Arc<Broker>) -> Router {
    let state = AppState {
        packages: PackageStore::new(broker.config.data_dir.join("packages")),
        broker,
    };
    let (body_limit, upload_limit) = (
        state.broker.config.admin_max_body_bytes,
        state.broker.config.admin_max_upload_bytes,
    );
    let topics = "/admin/v2/persistent/{tenant}/{namespace}";
    let packages = "/admin/v3/packages/{kind}/{tenant}/{namespace}";
    let api = Router::new()
        .route(topics, get(list_topics))
        .route(&format!("{topics}/partitioned"), get(list_partitioned))
        .route(
            &format!("{topics}/{{topic}}"),
            axum::routing::put(create_topic).delete(delete_topic),
        )
        .route(
            &format!("{topics}/{{topic}}/partitions"),
            axum::routing::put(create_partitioned)
                .get(get_partitions)
                .delete(delete_topic),
        )
        .route(&format!("{topics}/{{topic}}/stats"), get(topic_stats))
        .route(
            &format!("{topics}/{{topic}}/partitioned-stats"),
            get(partitioned_stats),
        )
        .route(
            &format!("{topics}/{{topic}}/subscriptions"),
            get(list_subscriptions),
        )
        .route(
            &format!("{topics}/{{topic}}/subscription/{{sub}}"),
            axum::routing::delete(delete_subscription),
        )
        .route(packages, get(list_packages))
        .route(&format!("{packages}/{{name}}"), get(list_versions))
        .route(
            &format!("{packages}/{{name}}/{{version}}"),
            axum::routing::post(upload_package)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit))
                .get(download_package)
                .delete(delete_package),
        )
        .route(
            &format!("{packages}/{{name}}/{{version}}/metadata"),
            get(package_metadata).put(update_package_metadata),
        )
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/metrics", get(metrics))
        .merge(api)
        .with_state(state)
}

/// Pulsar's admin error shape: `{"reason": "..."}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "reason": self.1 }))).into_response()
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        let code = match &e {
            BrokerError::TopicNotFound(_)
            | BrokerError::SubscriptionNotFound(_)
            | BrokerError::NotFound(_) => StatusCode::NOT_FOUND,
            BrokerError::InvalidTopic(_) => StatusCode::PRECONDITION_FAILED,
            BrokerError::ProducerBusy(_) => StatusCode::CONFLICT,
            BrokerError::ConsumerBusy(_) => StatusCode::PRECONDITION_FAILED,
            BrokerError::Authentication(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(s.broker.config.auth, AuthConfig::None) {
        return next.run(req).await;
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match auth::authenticate(&s.broker.config.auth, "token", token.map(str::as_bytes)) {
        Ok(_) => next.run(req).await,
        Err(e) => ApiError(StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
    }
}

fn topic_of(tenant: &str, ns: &str, topic: &str) -> ApiResult<TopicName> {
    Ok(TopicName::parse(&format!(
        "persistent://{tenant}/{ns}/{topic}"
    ))?)
}

async fn list_topics(
    State(s): State<AppState>,
    Path((tenant, ns)): Path<(String, String)>,
) -> Json<Vec<String>> {
    Json(
        s.broker
            .topics_of_namespace(&tenant, &ns, Some("persistent")),
    )
}

async fn list_partitioned(
    State(s): State<AppState>,
    Path((tenant, ns)): Path<(String, String)>,
) -> Json<Vec<String>> {
    Json(
        s.broker
            .partitioned_topics()
            .into_iter()
            .filter(|(t, _)| t.tenant == tenant && t.namespace == ns)
            .map(|(t, _)| t.to_string())
            .collect(),
    )
}

async fn create_topic(
    State(s): State<AppState>,
    Path((tenant, ns, topic)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let name = topic_of(&tenant, &ns, &topic)?;
    if s.broker.topic_exists(&name) || s.broker.partitions(&name).is_some() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("{name} already exists"),
        ));
    }
    let broker = s.broker.clone();
    tokio::task::spawn_blocking(move || broker.topic(&name, true).map(drop))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_partitioned(
    State(s): State<AppState>,
    Path((tenant, ns, topic)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let name = topic_of(&tenant, &ns, &topic)?;
    let n: u32 = serde_json::from_slice(&body).map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "body must be the number of partitions".into(),
        )
    })?;
    let broker = s.broker.clone();
    tokio::task::spawn_blocking(move || broker.create_partitioned(&name, n))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_partitions(
    State(s): State<AppState>,
    Path((tenant, ns, topic)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let name = topic_of(&tenant, &ns, &topic)?;
    // As Pulsar: 0 for a non-partitioned topic, 404 for one that does not exist (the binary
    // protocol's PartitionedMetadata, which may auto-create, answers 0 instead).
    let partitions = match s.broker.partitions(&name) {
        Some(n) => n,
        None if s.broker.topic_exists(&name) => 0,
        None => return Err(BrokerError::TopicNotFound(name.to_string()).into()),
    };
    Ok(Json(json!({ "partitions": partitions, "deleted": false })))
}

async fn delete_topic(
    State(s): State<AppState>,
    Path((tenant, ns, topic)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let name = topic_of(&tenant, &ns, &topic)?;
    s.broker.delete_topic(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn sub_type_name(kind: pulsar::proto::command_subscribe::SubType) -> &'static str {
    use pulsar::proto::command_subscribe::SubType;
    match kind {
        SubType::Exclusive => "Exclusive",
        SubType::Shared => "Shared",
        SubType::Failover => "Failover",
        SubType::KeyShared => "Key_Shared",
    }
}

fn stats_of(s: &AppState, name: &TopicName) -> ApiResult<Value> {
    let t = s.broker.existing_topic(name)?;
    let st = t.lock();
    let end = st.log.end_entry();
    let mut subs = BTreeMap::new();
    for (sname, sub) in &st.subscriptions {
        let consumers: Vec<Value> = sub
            .consumers()
            .iter()
            .map(|c| {
                let mut v = json!({ "consumerName": c.name, "availablePermits": c.permits });
                if let Some(r) = &c.key_shared.sticky {
                    // Pulsar's shape: inclusive ranges as "[start, end]" strings.
                    v["keyHashRanges"] = r.iter().map(|(s, e)| format!("[{s}, {e}]")).collect();
                }
                v
            })
            .collect();
        let mut v = json!({
            "msgBacklog": sub.backlog(end),
            "unackedMessages": sub.unacked(),
            "type": sub_type_name(sub.kind),
            "isDurable": sub.durable,
            "msgOutCounter": sub.msg_out,
            "bytesOutCounter": sub.bytes_out,
            "consumers": consumers,
        });
        if let (pulsar::proto::command_subscribe::SubType::KeyShared, Some(c)) =
            (sub.kind, sub.consumers().first())
        {
            v["keySharedMode"] = json!(c.key_shared.mode());
            v["allowOutOfOrderDelivery"] = json!(c.key_shared.allow_out_of_order);
        }
        subs.insert(sname.clone(), v);
    }
    let (rin, tin, rout, tout) = st.rates;
    Ok(json!({
        "msgRateIn": rin,
        "msgThroughputIn": tin,
        "msgRateOut": rout,
        "msgThroughputOut": tout,
        "msgInCounter": st.msg_in,
        "bytesInCounter": st.bytes_in,
        "storageSize": st.log.size_bytes(),
        "backlogSize": subs.values().filter_map(|v| v["msgBacklog"].as_u64()).max().unwrap_or(0),
        "subscriptions": subs,
        "storageDamage": storage_damage(&st),
    }))
}

/// What recovery found damaged in this partition's files (empty when clean).
fn storage_damage(st: &crate::topic::TopicState) -> Value {
    let segments: Vec<Value> = st
        .log
        .damage()
        .iter()
        .map(|d| {
            json!({
                "file": d.path.display().to_string(),
                "offset": d.offset,
                "bytes": d.bytes,
                "lostEntries": d.entries.map(|(a, b)| json!([a, b])),
                "truncatedTail": d.truncated,
            })
        })
        .collect();
    let cursors: Vec<Value> = st
        .cursor_damage
        .iter()
        .map(|c| {
            json!({
                "subscription": c.subscription,
                "damagedBytes": c.damaged_bytes,
                "positionLost": c.position_lost,
            })
        })
        .collect();
    json!({
        "lostEntries": st.log.damage().iter().map(|d| d.lost_entries()).sum::<u64>(),
        "segments": segments,
        "cursors": cursors,
    })
}

async fn topic_stats(
    State(s): State<AppState>,
    Path((tenant, ns, topic)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(stats_of(&s, &topic_of(&tenant, &ns, &topic)?)?))
}

async fn partitioned_stats(
    State(s): State<AppState>,
    Path((tenant, ns, topic)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let name = topic_of(&tenant, &ns, &topic)?;
    let n = s
        .broker
        .partitions(&name)
        .ok_or_else(|| BrokerError::TopicNotFound(name.to_string()))?;
    let mut parts = BTreeMap::new();
    let (mut rin, mut rout, mut cin) = (0.0, 0.0, 0u64);
    for i in 0..n {
        let p = name.partition(i);
        let v = stats_of(&s, &p)?;
        rin += v["msgRateIn"].as_f64().unwrap_or(0.0);
        rout += v["msgRateOut"].as_f64().unwrap_or(0.0);
        cin += v["msgInCounter"].as_u64().unwrap_or(0);
        parts.insert(p.to_string(), v);
    }
    Ok(Json(json!({
        "metadata": { "partitions": n },
        "msgRateIn": rin,
        "msgRateOut": rout,
        "msgInCounter": cin,
        "partitions": parts,
    })))
}

async fn list_subscriptions(
    State(s): State<AppState>,
    Path((tenant, ns, topic)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<String>>> {
    let name = topic_of(&tenant, &ns, &topic)?;
    let parts: Vec<TopicName> = match s.broker.partitions(&name) {
        Some(n) => (0..n).map(|i| name.partition(i)).collect(),
        None => vec![name.clone()],
    };
    let mut out = std::collections::BTreeSet::new();
    for p in parts {
        let t = s.broker.existing_topic(&p)?;
        out.extend(
            t.lock()
                .subscriptions
                .iter()
                .filter(|(_, s)| s.durable)
                .map(|(k, _)| k.clone()),
        );
    }
    Ok(Json(out.into_iter().collect()))
}

/// `?force=true` on a subscription delete: close its consumers first (Pulsar's semantics).
#[derive(Debug, Default, serde::Deserialize)]
struct Force {
    #[serde(default)]
    force: bool,
}

async fn delete_subscription(
    State(s): State<AppState>,
    Path((tenant, ns, topic, sub)): Path<(String, String, String, String)>,
    Query(q): Query<Force>,
) -> ApiResult<StatusCode> {
    let name = topic_of(&tenant, &ns, &topic)?;
    let parts: Vec<TopicName> = match s.broker.partitions(&name) {
        Some(n) => (0..n).map(|i| name.partition(i)).collect(),
        None => vec![name.clone()],
    };
    for p in parts {
        let t = s.broker.existing_topic(&p)?;
        if q.force {
            t.force_unsubscribe(&sub).await?;
        } else {
            t.unsubscribe(&sub, None).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

fn package(
    kind: &str,
    tenant: &str,
    ns: &str,
    name: &str,
    version: &str,
) -> ApiResult<PackageName> {
    PackageName::new(kind, tenant, ns, name, version).ok_or_else(|| {
        ApiError(
            StatusCode::PRECONDITION_FAILED,
            "invalid package name".into(),
        )
    })
}

async fn list_packages(
    State(s): State<AppState>,
    Path((kind, tenant, ns)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(s.packages.packages(&kind, &tenant, &ns)?))
}

async fn list_versions(
    State(s): State<AppState>,
    Path((kind, tenant, ns, name)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(s.packages.versions(&kind, &tenant, &ns, &name)?))
}

/// Upload as `pulsar-admin packages upload` does: multipart with `file` and `metadata` parts.
async fn upload_package(
    State(s): State<AppState>,
    Path((kind, tenant, ns, name, version)): Path<(String, String, String, String, String)>,
    headers: axum::http::HeaderMap,
    mut form: Multipart,
) -> ApiResult<StatusCode> {
    let pkg = package(&kind, &tenant, &ns, &name, &version)?;
    let limit = s.broker.config.admin_max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("upload larger than {limit} bytes (admin_max_upload_bytes)"),
        ));
    }
    // 413 (naming the limit) when the upload exceeds admin_max_upload_bytes, else 400.
    let bad = |e: axum::extract::multipart::MultipartError| {
        let status = e.status();
        let text = e.body_text();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(status, format!("{text} (admin_max_upload_bytes)"))
        } else {
            ApiError(StatusCode::BAD_REQUEST, text)
        }
    };
    // The file part streams to a staged file: memory stays flat whatever the package's size.
    let store = s.packages.clone();
    let (p, st) = (pkg.clone(), store.clone());
    let staged = tokio::task::spawn_blocking(move || st.stage(&p))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let received = receive_upload(&mut form, &staged, bad).await;
    let (has_file, meta) = match received {
        Ok(r) => r,
        Err(e) => {
            let _ = tokio::fs::remove_file(&staged).await;
            return Err(e);
        }
    };
    if !has_file {
        let _ = tokio::fs::remove_file(&staged).await;
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "missing file part".into(),
        ));
    }
    tokio::task::spawn_blocking(move || store.commit(&pkg, &staged, meta))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads the multipart form: the `file` part into `staged`, the `metadata` part parsed.
async fn receive_upload(
    form: &mut Multipart,
    staged: &std::path::Path,
    bad: impl Fn(axum::extract::multipart::MultipartError) -> ApiError,
) -> ApiResult<(bool, PackageMetadata)> {
    use tokio::io::AsyncWriteExt;
    let io_error = |e: std::io::Error| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}: {e}", staged.display()),
        )
    };
    let (mut has_file, mut meta) = (false, PackageMetadata::default());
    while let Some(mut field) = form.next_field().await.map_err(&bad)? {
        match field.name() {
            Some("file") => {
                let mut out = tokio::fs::File::create(staged).await.map_err(io_error)?;
                while let Some(chunk) = field.chunk().await.map_err(&bad)? {
                    out.write_all(&chunk).await.map_err(io_error)?;
                }
                out.flush().await.map_err(io_error)?;
                has_file = true;
            }
            Some("metadata") => {
                let raw = field.bytes().await.map_err(&bad)?;
                meta = serde_json::from_slice(&raw)
                    .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("metadata: {e}")))?;
            }
            _ => {}
        }
    }
    Ok((has_file, meta))
}

async fn download_package(
    State(s): State<AppState>,
    Path((kind, tenant, ns, name, version)): Path<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    let pkg = package(&kind, &tenant, &ns, &name, &version)?;
    let path = s.packages.data_path(&pkg)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| BrokerError::io(&path, e))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| BrokerError::io(&path, e))?
        .len();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((headers, body).into_response())
}

async fn delete_package(
    State(s): State<AppState>,
    Path((kind, tenant, ns, name, version)): Path<(String, String, String, String, String)>,
) -> ApiResult<StatusCode> {
    s.packages
        .delete(&package(&kind, &tenant, &ns, &name, &version)?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn package_metadata(
    State(s): State<AppState>,
    Path((kind, tenant, ns, name, version)): Path<(String, String, String, String, String)>,
) -> ApiResult<Json<PackageMetadata>> {
    Ok(Json(s.packages.metadata(&package(
        &kind, &tenant, &ns, &name, &version,
    )?)?))
}

async fn update_package_metadata(
    State(s): State<AppState>,
    Path((kind, tenant, ns, name, version)): Path<(String, String, String, String, String)>,
    Json(meta): Json<PackageMetadata>,
) -> ApiResult<StatusCode> {
    s.packages
        .update_metadata(&package(&kind, &tenant, &ns, &name, &version)?, meta)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn metrics(State(s): State<AppState>) -> String {
    let mut reg = prometheus_client::registry::Registry::default();
    s.broker.metrics.register(&mut reg);
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
    out
}
