//! The container command line per runtime: Pulsar Functions' instance mains (the shape
//! Function Mesh generates, so existing images keep working) and `fmesh-runner`'s arguments
//! (docs/runner-contract.md).

use fmesh_crds::common::{PulsarMessaging, RuntimeKind};
use serde_json::{Map, Value, json};

use crate::config::OperatorConfig;
use crate::workload::Workload;

/// gRPC InstanceControl port of the instance mains.
pub const GRPC_PORT: i32 = 9093;
/// Metrics and liveness port (`GET /`), for instance mains and the runner alike.
pub const METRICS_PORT: i32 = 9094;
/// Where downloaded packages land (an emptyDir shared with the download init container).
pub const DOWNLOAD_DIR: &str = "/pulsar/download";
/// Where a `tlsConfig.certSecretName` Secret is mounted (Function Mesh's path).
pub const TLS_MOUNT: &str = "/etc/tls/pulsar-functions";
/// Where an OAuth2 key Secret is mounted.
pub const OAUTH2_MOUNT: &str = "/etc/oauth2";
/// Where the runner finds `pulsar.authSecret`.
pub const RUNNER_AUTH_MOUNT: &str = "/etc/fmesh/auth";
/// Where the runner finds `pulsar.tlsSecret`.
pub const RUNNER_TLS_MOUNT: &str = "/etc/fmesh/tls";
/// Pulsar's OAuth2 client auth plugin.
pub const OAUTH2_PLUGIN: &str = "org.apache.pulsar.client.impl.auth.oauth2.AuthenticationOAuth2";
const JAVA_INSTANCE: &str = "/pulsar/instances/java-instance.jar";
const JAVA_MAIN: &str = "org.apache.pulsar.functions.instance.JavaInstanceMain";
const PYTHON_MAIN: &str = "/pulsar/instances/python-instance/python_instance_main.py";
/// Sets `SHARD_ID` from the StatefulSet ordinal (`name-3` → 3), as Function Mesh does.
const SHARD_ID: &str = "SHARD_ID=${POD_NAME##*-} && echo shardId=${SHARD_ID}";

/// A package to fetch before start: from `location` to `path` inside the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub location: String,
    pub path: String,
}

/// The package a workload downloads, if its runtime names a `function://`/`http(s)://`
/// location. The file keeps the name given in the runtime (`jar`, `py`, `go`, `module`) or
/// the location's last segment.
pub fn package(w: &Workload) -> Option<Package> {
    let r = &w.spec.runtime;
    let (file, location) = match w.runtime()? {
        RuntimeKind::Java => r.java.as_ref().map(|j| (&j.jar, &j.jar_location))?,
        RuntimeKind::Python => r.python.as_ref().map(|p| (&p.py, &p.py_location))?,
        RuntimeKind::Golang => r.golang.as_ref().map(|g| (&g.go, &g.go_location))?,
        RuntimeKind::Wasm => r.wasm.as_ref().map(|m| (&m.module, &m.module_location))?,
        RuntimeKind::Generic => r
            .generic_runtime
            .as_ref()
            .map(|g| (&g.function_file, &g.function_file_location))?,
        RuntimeKind::Exec | RuntimeKind::Builtin => return None,
    };
    let location = location.as_ref().filter(|l| is_downloadable(l))?;
    let name = file
        .as_deref()
        .and_then(|f| f.rsplit('/').next())
        .filter(|f| !f.is_empty())
        .or_else(|| location.rsplit(['/', '@']).find(|s| !s.is_empty()))
        .unwrap_or("package");
    Some(Package {
        location: location.clone(),
        path: format!("{DOWNLOAD_DIR}/{name}"),
    })
}

fn is_downloadable(location: &str) -> bool {
    ["function://", "source://", "sink://", "http://", "https://"]
        .iter()
        .any(|p| location.starts_with(p))
}

/// The download init container's shell command: `pulsarctl packages download` for Pulsar
/// package URLs, `wget` for HTTP.
pub fn download_command(pkg: &Package, pulsar: Option<&PulsarMessaging>) -> String {
    if pkg.location.starts_with("http://") || pkg.location.starts_with("https://") {
        return format!("wget -O {} {}", sq(&pkg.path), sq(&pkg.location));
    }
    let mut cmd = vec![
        "pulsarctl".to_string(),
        "--admin-service-url".into(),
        "\"$webServiceURL\"".into(),
    ];
    if pulsar.and_then(|p| p.auth_secret.as_ref()).is_some() {
        cmd.extend([
            "--auth-plugin".into(),
            "\"$clientAuthenticationPlugin\"".into(),
            "--auth-params".into(),
            "\"$clientAuthenticationParameters\"".into(),
        ]);
    }
    cmd.extend([
        "packages".into(),
        "download".into(),
        sq(&pkg.location),
        "--path".into(),
        sq(&pkg.path),
    ]);
    cmd.join(" ")
}

/// The main container's `command` and `args` for a workload.
pub fn container_command(w: &Workload, cfg: &OperatorConfig) -> (Option<Vec<String>>, Vec<String>) {
    if w.runs_on_runner() {
        let command = cfg
            .runner_command
            .as_ref()
            .map(|c| vec!["sh".to_string(), "-c".to_string(), c.clone()]);
        return (
            command,
            vec!["--metrics-port".into(), METRICS_PORT.to_string()],
        );
    }
    let pkg = package(w);
    let line = match w.runtime() {
        Some(RuntimeKind::Java) => java(w, pkg.as_ref()),
        Some(RuntimeKind::Python) => python(w, pkg.as_ref()),
        Some(RuntimeKind::Golang) => go(w, pkg.as_ref()),
        _ => unreachable!("runs_on_runner covers every other runtime"),
    };
    (
        Some(vec![
            "sh".into(),
            "-c".into(),
            format!("{SHARD_ID} && {line}"),
        ]),
        Vec::new(),
    )
}

fn java(w: &Workload, pkg: Option<&Package>) -> String {
    let j = w.spec.runtime.java.clone().unwrap_or_default();
    let jar = pkg
        .map(|p| p.path.clone())
        .or(j
            .jar
            .as_deref()
            .map(fmesh_crds::connectors::java::in_image_jar))
        .unwrap_or_default();
    let mut classpath = j
        .instance_path
        .clone()
        .unwrap_or_else(|| JAVA_INSTANCE.into());
    if let Some(dir) = &j.extra_dependencies_dir {
        classpath = format!("{classpath}:{dir}/*");
    }
    let mut a = vec![
        "exec java -cp".to_string(),
        classpath,
        "-Dpulsar.functions.instance.classpath=/pulsar/lib/*".into(),
        "-Dlog4j.configurationFile=kubernetes_instance_log4j2.xml".into(),
        "-Dpulsar.function.log.dir=logs/functions".into(),
        format!("-Dpulsar.function.log.file={}-${{SHARD_ID}}", name(w)),
        "-Dpulsar.allocator.exit_on_oom=true".into(),
        "-XX:MaxRAMPercentage=70".into(),
        "-XX:+UseG1GC".into(),
        "-XX:+ExitOnOutOfMemoryError".into(),
    ];
    a.extend(j.java_opts.iter().flatten().cloned());
    a.push(j.entry_class.clone().unwrap_or_else(|| JAVA_MAIN.into()));
    a.extend(["--jar".into(), sq(&jar)]);
    a.extend(shared(w));
    if w.spec.secrets_map.as_ref().is_some_and(|m| !m.is_empty()) {
        a.extend([
            "--secrets_provider".into(),
            "org.apache.pulsar.functions.secretsprovider.EnvironmentBasedSecretsProvider".into(),
        ]);
    }
    a.extend(state(w, true));
    if let Some(n) = w
        .function
        .as_ref()
        .and_then(|f| f.max_pending_async_requests)
    {
        a.extend(["--pending_async_requests".into(), n.to_string()]);
    }
    a.join(" ")
}

fn python(w: &Workload, pkg: Option<&Package>) -> String {
    let p = w.spec.runtime.python.clone().unwrap_or_default();
    let py = pkg.map(|p| p.path.clone()).or(p.py).unwrap_or_default();
    let mut a = vec![
        format!("exec python {PYTHON_MAIN}"),
        "--py".into(),
        sq(&py),
        "--logging_directory logs/functions".into(),
        format!("--logging_file {}", name(w)),
        "--logging_config_file /pulsar/conf/functions-logging/console_logging_config.ini".into(),
    ];
    a.extend(shared(w));
    if w.spec.secrets_map.as_ref().is_some_and(|m| !m.is_empty()) {
        a.extend([
            "--secrets_provider".into(),
            "secretsprovider.EnvironmentBasedSecretsProvider".into(),
        ]);
    }
    a.extend(state(w, false));
    a.join(" ")
}

fn go(w: &Workload, pkg: Option<&Package>) -> String {
    let g = w.spec.runtime.golang.clone().unwrap_or_default();
    let exe = pkg.map(|p| p.path.clone()).or(g.go).unwrap_or_default();
    let conf = go_conf(w);
    format!(
        "chmod +x {exe} ; exec {exe} -instance-conf {}",
        dq_with_vars(&conf),
        exe = sq(&exe)
    )
}

/// The Go instance's `-instance-conf` JSON; `${brokerServiceURL}` and `${SHARD_ID}` are
/// expanded by the shell.
fn go_conf(w: &Workload) -> String {
    let d = &w.details;
    let s = &w.spec;
    let mut c = Map::new();
    c.insert("pulsarServiceURL".into(), json!("${brokerServiceURL}"));
    c.insert("instanceID".into(), json!("@SHARD_ID@"));
    c.insert(
        "funcID".into(),
        json!(format!("${{SHARD_ID}}-{}", w.owner.uid)),
    );
    c.insert("funcVersion".into(), json!("0"));
    c.insert("maxBufTuples".into(), json!(100));
    c.insert("port".into(), json!(GRPC_PORT));
    c.insert("metricsPort".into(), json!(METRICS_PORT));
    c.insert("clusterName".into(), json!(s.cluster_name));
    c.insert("tenant".into(), json!(s.tenant));
    c.insert("nameSpace".into(), json!(s.namespace));
    c.insert("name".into(), json!(s.name));
    c.insert("logTopic".into(), json!(s.log_topic));
    c.insert("parallelism".into(), json!(w.replicas()));
    c.insert(
        "autoAck".into(),
        d.get("autoAck").cloned().unwrap_or(json!(true)),
    );
    if let Some(src) = d.get("source") {
        c.insert(
            "subscriptionName".into(),
            src.get("subscriptionName").cloned().unwrap_or_default(),
        );
        if let Some(Value::Object(specs)) = src.get("inputSpecs")
            && let Some(topic) = specs.keys().next()
        {
            c.insert("sourceSpecsTopic".into(), json!(topic));
        }
    }
    if let Some(topic) = d.pointer("/sink/topic") {
        c.insert("sinkSpecsTopic".into(), topic.clone());
    }
    if let Some(u) = d.get("userConfig") {
        c.insert("userConfig".into(), u.clone());
    }
    c.insert("expectedHealthCheckInterval".into(), json!(0));
    serde_json::to_string(&c)
        .expect("a JSON map serializes")
        .replace("\"@SHARD_ID@\"", "${SHARD_ID}")
}

/// The arguments every instance main shares (Function Mesh's `getSharedArgs`).
fn shared(w: &Workload) -> Vec<String> {
    let details = serde_json::to_string(&w.details).expect("details serialize");
    let mut a = vec![
        "--instance_id ${SHARD_ID}".to_string(),
        format!("--function_id ${{SHARD_ID}}-{}", w.owner.uid),
        "--function_version 0".into(),
        format!("--function_details {}", sq(&details)),
        "--pulsar_serviceurl \"$brokerServiceURL\"".into(),
        "--max_buffered_tuples 100".into(),
        format!("--port {GRPC_PORT}"),
        format!("--metrics_port {METRICS_PORT}"),
        "--expected_healthcheck_interval 0".into(),
        format!(
            "--cluster_name {}",
            sq(w.spec.cluster_name.as_deref().unwrap_or("kubernetes"))
        ),
    ];
    let pulsar = w.spec.messaging.pulsar.clone().unwrap_or_default();
    a.extend(auth_args(&pulsar));
    a.extend(tls_args(&pulsar));
    a
}

fn auth_args(p: &PulsarMessaging) -> Vec<String> {
    if let Some(auth) = &p.auth_config {
        if let Some(o) = &auth.oauth2_config {
            let key = o.key_secret_key.as_deref().unwrap_or("auth.json");
            let params = json!({
                "privateKey": format!("file://{OAUTH2_MOUNT}/{key}"),
                "issuerUrl": o.issuer_url,
                "audience": o.audience,
                "scope": o.scope,
            });
            return vec![
                format!("--client_auth_plugin {OAUTH2_PLUGIN}"),
                format!("--client_auth_params {}", sq(&params.to_string())),
            ];
        }
        if let Some(g) = &auth.generic_auth {
            return vec![
                format!(
                    "--client_auth_plugin {}",
                    sq(g.client_authentication_plugin
                        .as_deref()
                        .unwrap_or_default())
                ),
                format!(
                    "--client_auth_params {}",
                    sq(g.client_authentication_parameters
                        .as_deref()
                        .unwrap_or_default())
                ),
            ];
        }
    }
    if p.auth_secret.is_some() {
        return vec![
            "--client_auth_plugin \"$clientAuthenticationPlugin\"".into(),
            "--client_auth_params \"$clientAuthenticationParameters\"".into(),
        ];
    }
    Vec::new()
}

fn tls_args(p: &PulsarMessaging) -> Vec<String> {
    if let Some(t) = &p.tls_config {
        let enabled = t.enabled.unwrap_or(false);
        let mut a = vec![format!("--use_tls {enabled}")];
        if enabled {
            a.push(format!(
                "--tls_allow_insecure {}",
                t.allow_insecure.unwrap_or(false)
            ));
            a.push(format!(
                "--hostname_verification_enabled {}",
                t.hostname_verification.unwrap_or(true)
            ));
            if let Some(key) = t
                .cert_secret_key
                .as_ref()
                .filter(|_| t.cert_secret_name.is_some())
            {
                a.push(format!("--tls_trust_cert_path {TLS_MOUNT}/{key}"));
            }
        }
        return a;
    }
    if p.tls_secret.is_some() {
        return vec![
            "--use_tls true".into(),
            "--tls_allow_insecure ${tlsAllowInsecureConnection:-false}".into(),
            "--hostname_verification_enabled ${tlsHostnameVerificationEnable:-true}".into(),
            "--tls_trust_cert_path \"$tlsTrustCertsFilePath\"".into(),
        ];
    }
    vec!["--use_tls false".into()]
}

fn state(w: &Workload, java: bool) -> Vec<String> {
    let Some(p) = w.spec.state_config.as_ref().and_then(|s| s.pulsar.as_ref()) else {
        return Vec::new();
    };
    let Some(url) = &p.service_url else {
        return Vec::new();
    };
    let mut a = vec![format!("--state_storage_serviceurl {}", sq(url))];
    if java && let Some(class) = p.java_provider.as_ref().and_then(|j| j.class_name.as_ref()) {
        a.push(format!("--state_storage_impl_class {}", sq(class)));
    }
    a
}

fn name(w: &Workload) -> String {
    w.spec.name.clone().unwrap_or_else(|| w.name.clone())
}

/// Single-quotes a word for `sh`.
pub fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Double-quotes for `sh`, leaving only `${brokerServiceURL}` and `${SHARD_ID}` to expand.
fn dq_with_vars(s: &str) -> String {
    let escaped = s
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('`', "\\`")
        .replace('$', "\\$")
        .replace("\\${brokerServiceURL}", "${brokerServiceURL}")
        .replace("\\${SHARD_ID}", "${SHARD_ID}");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_quotes_survive_the_shell() {
        assert_eq!(sq("it's"), r"'it'\''s'");
    }

    #[test]
    fn double_quotes_expand_only_the_two_variables() {
        let s = dq_with_vars(r#"{"u":"${brokerServiceURL}","i":${SHARD_ID},"x":"$HOME`\"}"#);
        assert!(s.contains("${brokerServiceURL}"));
        assert!(s.contains("${SHARD_ID}"));
        assert!(s.contains("\\$HOME"));
        assert!(s.contains("\\`"));
    }
}
