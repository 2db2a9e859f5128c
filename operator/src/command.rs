//! The container command line per runtime: Pulsar Functions' instance mains (the shape
//! Function Mesh generates, so existing images keep working) and `fmesh-runner`'s arguments
//! (docs/runner-contract.md).

use fmesh_crds::common::{PulsarMessaging, RuntimeKind};
use serde_json::{Map, Value, json};

use crate::config::OperatorConfig;
use crate::shell::{Word, line, words};
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
        return line(&words(["wget", "-O", &pkg.path, &pkg.location]));
    }
    let mut cmd = words(["pulsarctl", "--admin-service-url"]);
    cmd.push(Word::shell("\"$webServiceURL\""));
    if pulsar.and_then(|p| p.auth_secret.as_ref()).is_some() {
        cmd.extend([
            Word::text("--auth-plugin"),
            Word::shell("\"$clientAuthenticationPlugin\""),
            Word::text("--auth-params"),
            Word::shell("\"$clientAuthenticationParameters\""),
        ]);
    }
    cmd.extend(words([
        "packages",
        "download",
        &pkg.location,
        "--path",
        &pkg.path,
    ]));
    line(&cmd)
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
    let mut script = SHARD_ID.to_string();
    let programs = instance_programs(w);
    for (i, argv) in programs.iter().enumerate() {
        // Each program but the last may fail (`chmod` of a read-only file); the last is exec'd.
        let sep = if i == 0 { " && " } else { " ; " };
        let exec = if i + 1 == programs.len() { "exec " } else { "" };
        script.push_str(&format!("{sep}{exec}{}", line(argv)));
    }
    (Some(vec!["sh".into(), "-c".into(), script]), Vec::new())
}

/// The programs an official runner image's container runs, in order, each as its words:
/// `java …`, `python …`, or `chmod +x <exe>` then `<exe> …` for Go. Empty for workloads
/// that run on fmesh-runner.
pub fn instance_programs(w: &Workload) -> Vec<Vec<Word>> {
    let pkg = package(w);
    match w.runtime() {
        _ if w.runs_on_runner() => Vec::new(),
        Some(RuntimeKind::Java) => vec![java(w, pkg.as_ref())],
        Some(RuntimeKind::Python) => vec![python(w, pkg.as_ref())],
        Some(RuntimeKind::Golang) => go(w, pkg.as_ref()),
        _ => Vec::new(),
    }
}

/// `"${SHARD_ID}"`: the shard id [`SHARD_ID`] sets.
const SHARD: &str = "\"${SHARD_ID}\"";

fn java(w: &Workload, pkg: Option<&Package>) -> Vec<Word> {
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
    // `dir/*` is Java's classpath wildcard: the JVM expands it, so the shell must not.
    if let Some(dir) = &j.extra_dependencies_dir {
        classpath = format!("{classpath}:{dir}/*");
    }
    let mut a = words(["java", "-cp"]);
    a.push(Word::text(classpath));
    a.extend(words([
        "-Dpulsar.functions.instance.classpath=/pulsar/lib/*",
        "-Dlog4j.configurationFile=kubernetes_instance_log4j2.xml",
        "-Dpulsar.function.log.dir=logs/functions",
    ]));
    a.push(Word::text(format!("-Dpulsar.function.log.file={}-", name(w))).then_shell(SHARD));
    a.extend(words([
        "-Dpulsar.allocator.exit_on_oom=true",
        "-XX:MaxRAMPercentage=70",
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
    ]));
    a.extend(words(java_opts(j.java_opts.as_deref().unwrap_or_default())));
    a.push(Word::text(
        j.entry_class.clone().unwrap_or_else(|| JAVA_MAIN.into()),
    ));
    a.extend(words(["--jar".to_string(), jar]));
    a.extend(shared(w));
    if w.spec.secrets_map.as_ref().is_some_and(|m| !m.is_empty()) {
        a.extend(words([
            "--secrets_provider",
            "org.apache.pulsar.functions.secretsprovider.EnvironmentBasedSecretsProvider",
        ]));
    }
    a.extend(state(w, true));
    if let Some(n) = w
        .function
        .as_ref()
        .and_then(|f| f.max_pending_async_requests)
    {
        a.extend(words([
            "--pending_async_requests".to_string(),
            n.to_string(),
        ]));
    }
    a
}

/// The JVM options of `java.javaOpts`: each item split at whitespace into options, as
/// Function Mesh does (`["-Xmx1g -Dx=y"]` is two options), and nothing else: no quotes,
/// variables or globs are interpreted.
pub fn java_opts(opts: &[String]) -> Vec<String> {
    opts.iter()
        .flat_map(|o| o.split_ascii_whitespace())
        .map(str::to_string)
        .collect()
}

fn python(w: &Workload, pkg: Option<&Package>) -> Vec<Word> {
    let p = w.spec.runtime.python.clone().unwrap_or_default();
    let py = pkg.map(|p| p.path.clone()).or(p.py).unwrap_or_default();
    let mut a = words([
        "python".to_string(),
        PYTHON_MAIN.to_string(),
        "--py".into(),
        py,
        "--logging_directory".into(),
        "logs/functions".into(),
        "--logging_file".into(),
        name(w),
        "--logging_config_file".into(),
        "/pulsar/conf/functions-logging/console_logging_config.ini".into(),
    ]);
    a.extend(shared(w));
    if w.spec.secrets_map.as_ref().is_some_and(|m| !m.is_empty()) {
        a.extend(words([
            "--secrets_provider",
            "secretsprovider.EnvironmentBasedSecretsProvider",
        ]));
    }
    a.extend(state(w, false));
    a
}

/// The Go instance: made executable, then run with its `-instance-conf`.
fn go(w: &Workload, pkg: Option<&Package>) -> Vec<Vec<Word>> {
    let g = w.spec.runtime.golang.clone().unwrap_or_default();
    let exe = pkg.map(|p| p.path.clone()).or(g.go).unwrap_or_default();
    vec![
        words(["chmod", "+x", &exe]),
        vec![Word::text(&exe), Word::text("-instance-conf"), go_conf(w)],
    ]
}

/// The Go instance's `-instance-conf` JSON, as one word whose `pulsarServiceURL` and ids
/// the shell fills in from `$brokerServiceURL` and the shard id. The object is written key
/// by key so that only those places are expansions; every value is serialized JSON, quoted.
fn go_conf(w: &Workload) -> Word {
    let d = &w.details;
    let s = &w.spec;
    let mut c = Map::new();
    c.insert("funcVersion".into(), json!("0"));
    c.insert("maxBufTuples".into(), json!(100));
    c.insert("port".into(), json!(GRPC_PORT));
    c.insert("metricsPort".into(), json!(METRICS_PORT));
    c.insert("clusterName".into(), json!(s.cluster_name));
    c.insert("tenant".into(), json!(s.tenant));
    c.insert("nameSpace".into(), json!(s.namespace));
    c.insert("name".into(), json!(s.name));
    c.insert("logTopic".into(), json!(s.log_topic));
    c.insert(
        "parallelism".into(),
        json!(crate::details::parallelism(&w.spec)),
    );
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
    let rest = serde_json::to_string(&c).expect("a JSON map serializes");
    let func_id = serde_json::to_string(&format!("-{}", w.owner.uid)).expect("a string serializes");
    // `{"pulsarServiceURL":"<url>","instanceID":<shard>,"funcID":"<shard>-<uid>",<rest>}`
    Word::text("{\"pulsarServiceURL\":\"")
        .then_shell("\"${brokerServiceURL}\"")
        .then_text("\",\"instanceID\":")
        .then_shell(SHARD)
        .then_text(",\"funcID\":\"")
        .then_shell(SHARD)
        .then_text(format!("{},{}", &func_id[1..], &rest[1..]))
}

/// The arguments every instance main shares (Function Mesh's `getSharedArgs`).
fn shared(w: &Workload) -> Vec<Word> {
    let details = serde_json::to_string(&w.details).expect("details serialize");
    let mut a = vec![
        Word::text("--instance_id"),
        Word::shell(SHARD),
        Word::text("--function_id"),
        Word::shell(SHARD).then_text(format!("-{}", w.owner.uid)),
    ];
    a.extend(words([
        "--function_version".to_string(),
        "0".into(),
        "--function_details".into(),
        details,
        "--pulsar_serviceurl".into(),
    ]));
    a.push(Word::shell("\"$brokerServiceURL\""));
    a.extend(words([
        "--max_buffered_tuples".to_string(),
        "100".into(),
        "--port".into(),
        GRPC_PORT.to_string(),
        "--metrics_port".into(),
        METRICS_PORT.to_string(),
        "--expected_healthcheck_interval".into(),
        "0".into(),
        "--cluster_name".into(),
        w.spec
            .cluster_name
            .clone()
            .unwrap_or_else(|| "kubernetes".into()),
    ]));
    let pulsar = w.spec.messaging.pulsar.clone().unwrap_or_default();
    a.extend(auth_args(&pulsar));
    a.extend(tls_args(&pulsar));
    a
}

fn auth_args(p: &PulsarMessaging) -> Vec<Word> {
    if let Some(auth) = &p.auth_config {
        if let Some(o) = &auth.oauth2_config {
            let key = o.key_secret_key.as_deref().unwrap_or("auth.json");
            let params = json!({
                "privateKey": format!("file://{OAUTH2_MOUNT}/{key}"),
                "issuerUrl": o.issuer_url,
                "audience": o.audience,
                "scope": o.scope,
            });
            return words([
                "--client_auth_plugin".to_string(),
                OAUTH2_PLUGIN.into(),
                "--client_auth_params".into(),
                params.to_string(),
            ]);
        }
        if let Some(g) = &auth.generic_auth {
            return words([
                "--client_auth_plugin",
                g.client_authentication_plugin
                    .as_deref()
                    .unwrap_or_default(),
                "--client_auth_params",
                g.client_authentication_parameters
                    .as_deref()
                    .unwrap_or_default(),
            ]);
        }
    }
    if p.auth_secret.is_some() {
        return vec![
            Word::text("--client_auth_plugin"),
            Word::shell("\"$clientAuthenticationPlugin\""),
            Word::text("--client_auth_params"),
            Word::shell("\"$clientAuthenticationParameters\""),
        ];
    }
    Vec::new()
}

fn tls_args(p: &PulsarMessaging) -> Vec<Word> {
    if let Some(t) = &p.tls_config {
        let enabled = t.enabled.unwrap_or(false);
        let mut a = words(["--use_tls".to_string(), enabled.to_string()]);
        if enabled {
            a.extend(words([
                "--tls_allow_insecure".to_string(),
                t.allow_insecure.unwrap_or(false).to_string(),
                "--hostname_verification_enabled".into(),
                t.hostname_verification.unwrap_or(true).to_string(),
            ]));
            if let Some(key) = t
                .cert_secret_key
                .as_ref()
                .filter(|_| t.cert_secret_name.is_some())
            {
                a.extend(words([
                    "--tls_trust_cert_path".to_string(),
                    format!("{TLS_MOUNT}/{key}"),
                ]));
            }
        }
        return a;
    }
    if p.tls_secret.is_some() {
        return vec![
            Word::text("--use_tls"),
            Word::text("true"),
            Word::text("--tls_allow_insecure"),
            Word::shell("\"${tlsAllowInsecureConnection:-false}\""),
            Word::text("--hostname_verification_enabled"),
            Word::shell("\"${tlsHostnameVerificationEnable:-true}\""),
            Word::text("--tls_trust_cert_path"),
            Word::shell("\"$tlsTrustCertsFilePath\""),
        ];
    }
    words(["--use_tls", "false"])
}

fn state(w: &Workload, java: bool) -> Vec<Word> {
    let Some(p) = w.spec.state_config.as_ref().and_then(|s| s.pulsar.as_ref()) else {
        return Vec::new();
    };
    let Some(url) = &p.service_url else {
        return Vec::new();
    };
    let mut a = words(["--state_storage_serviceurl", url.as_str()]);
    if java && let Some(class) = p.java_provider.as_ref().and_then(|j| j.class_name.as_ref()) {
        a.extend(words(["--state_storage_impl_class", class.as_str()]));
    }
    a
}

fn name(w: &Workload) -> String {
    w.spec.name.clone().unwrap_or_else(|| w.name.clone())
}
