//! Apache Pulsar on demand: a pinned release resolved from Maven Central, run as one standalone
//! JVM (broker, RocksDB metadata store and one bookie in process, no function worker), so fmesh
//! can be held against the real thing (`fmesh-e2e pulsar up` / `down`).
//!
//! The jars are resolved once with `mvn dependency:copy-dependencies` from `e2e/pulsar/pom.xml`
//! (embedded in this binary) into `<cache>/pulsar/<version>/lib`; a warm `up` resolves nothing.
//! The process is started in its own session with a pid file and a log file in the state
//! directory; `down` stops exactly the process that pid file names.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process;

/// The Apache Pulsar release this module runs (every `org.apache.pulsar` artifact at it).
pub const VERSION: &str = "4.2.4";
/// The pom the jars are resolved from; the version comes as `-Dpulsar.version`.
const POM: &str = include_str!("../pulsar/pom.xml");
/// The lowest Java major version Pulsar 4.2 runs on (its release is compiled for 17).
const MIN_JAVA: u32 = 17;
/// Written last into the lib directory: a resolution interrupted half-way is redone.
const COMPLETE_MARKER: &str = ".complete";
/// The main class of `bin/pulsar standalone`.
const MAIN_CLASS: &str = "org.apache.pulsar.PulsarStandaloneStarter";
/// The topic `up` produces to before it answers.
const READY_TOPIC: &str = "persistent://public/default/fmesh-e2e-ready";

/// Everything that can stop Pulsar from being resolved, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum PulsarError {
    /// No usable `java`.
    #[error(
        "Java {MIN_JAVA}+ is needed to run Apache Pulsar {VERSION}: {detail}; install a JDK (Debian: `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"
    )]
    Java { detail: String },
    /// No `mvn` to resolve the jars with.
    #[error(
        "Maven is needed once to resolve Apache Pulsar {VERSION} from Maven Central into {}: {detail}; install it (Debian: `apt-get install maven`)",
        lib.display()
    )]
    Maven { detail: String, lib: PathBuf },
    /// `mvn dependency:copy-dependencies` failed.
    #[error(
        "resolving Apache Pulsar {VERSION} from Maven Central failed (`{command}`, exit {status}); is Maven Central reachable? last lines of {}:\n{tail}",
        log.display()
    )]
    Resolve {
        command: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// A port Pulsar needs is held by something this module did not start.
    #[error(
        "port {port} ({what}) is in use by a process `fmesh-e2e pulsar up` did not start; pick another with --{flag} or stop that process"
    )]
    PortTaken {
        port: u16,
        what: &'static str,
        flag: &'static str,
    },
    /// `up` found the standalone running with other ports or another address.
    #[error(
        "Apache Pulsar (pid {pid}) runs with other settings than asked ({}); run `fmesh-e2e pulsar down` first",
        conf.display()
    )]
    OtherSettings { pid: u32, conf: PathBuf },
    /// The JVM exited while starting.
    #[error("Apache Pulsar exited during start-up ({status}); last lines of {}:\n{tail}", log.display())]
    Exited {
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// The JVM runs but no topic could be produced to in time.
    #[error(
        "Apache Pulsar did not accept a message on {READY_TOPIC} within {secs}s ({detail}); last lines of {}:\n{tail}",
        log.display()
    )]
    NotReady {
        secs: u64,
        detail: String,
        log: PathBuf,
        tail: String,
    },
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, PulsarError>;

fn io<T>(r: std::io::Result<T>, context: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|source| PulsarError::Io {
        context: context(),
        source,
    })
}

/// How to run the standalone: where its jars and data live, its ports and its address.
#[derive(Debug, Clone)]
pub struct Options {
    /// `<cache>/pulsar/<version>`: the pom and the resolved `lib/`.
    pub cache: PathBuf,
    /// Configuration, data (metadata, bookie, packages), log and pid file.
    pub state: PathBuf,
    /// The address written into lookups and the cluster's URLs (what clients and pods dial).
    pub advertise: String,
    /// Binary protocol port (fmesh-broker's default is 6650).
    pub broker_port: u16,
    /// Admin/REST port (fmesh-broker's default is 8080).
    pub web_port: u16,
    /// The in-process bookie's port.
    pub bookie_port: u16,
    /// The JVM's maximum heap (`-Xmx`), e.g. `1g`.
    pub heap: String,
}

impl Options {
    /// Defaults under `cache_root`: ports 6651/8081/3182, advertised on 127.0.0.1, 1 GiB heap.
    pub fn new(cache_root: &Path) -> Self {
        Self {
            cache: cache_root.join("pulsar").join(VERSION),
            state: cache_root.join("pulsar-state"),
            advertise: "127.0.0.1".into(),
            broker_port: 6651,
            web_port: 8081,
            bookie_port: 3182,
            heap: "1g".into(),
        }
    }

    fn lib(&self) -> PathBuf {
        self.cache.join("lib")
    }
    fn conf(&self) -> PathBuf {
        self.state.join("conf").join("standalone.conf")
    }
    fn log4j(&self) -> PathBuf {
        self.state.join("conf").join("log4j2.properties")
    }
    /// The JVM's stdout and stderr.
    pub fn log(&self) -> PathBuf {
        self.state.join("pulsar.log")
    }
    fn pid_file(&self) -> PathBuf {
        self.state.join("pulsar.pid")
    }
    /// `pulsar://<advertise>:<broker port>`.
    pub fn service_url(&self) -> String {
        format!("pulsar://{}:{}", self.advertise, self.broker_port)
    }
    /// `http://<advertise>:<web port>`.
    pub fn admin_url(&self) -> String {
        format!("http://{}:{}", self.advertise, self.web_port)
    }
}

/// What `up` found or did, with the figures it measured.
#[derive(Debug)]
pub struct Up {
    /// How long resolving the jars took; `None` when the cache was warm.
    pub resolved_in: Option<Duration>,
    /// From spawning the JVM to the first message accepted; `None` when it was already running.
    pub started_in: Option<Duration>,
    /// The JVM's pid.
    pub pid: u32,
    /// The bytes under the lib directory.
    pub cache_bytes: u64,
}

/// Resolves (if needed), configures and starts Apache Pulsar, and waits until a topic can be
/// produced to. Idempotent: a standalone already running from `opts.state` is reused.
pub async fn up(opts: &Options, timeout: Duration) -> Result<Up> {
    let java = java()?;
    let resolved_in = resolve(opts)?;
    let cache_bytes = dir_bytes(&opts.lib());
    if let Some(pid) = running(opts) {
        let on_disk = fs::read_to_string(opts.conf()).unwrap_or_default();
        if on_disk != standalone_conf(opts) {
            return Err(PulsarError::OtherSettings {
                pid,
                conf: opts.conf(),
            });
        }
        wait_ready(opts, pid, timeout).await?;
        return Ok(Up {
            resolved_in,
            started_in: None,
            pid,
            cache_bytes,
        });
    }
    for (port, what, flag) in [
        (opts.broker_port, "binary protocol", "broker-port"),
        (opts.web_port, "admin REST", "web-port"),
        (opts.bookie_port, "bookie", "bookie-port"),
    ] {
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_err() {
            return Err(PulsarError::PortTaken { port, what, flag });
        }
    }
    write_config(opts)?;
    let started = Instant::now();
    let pid = spawn(opts, &java)?;
    wait_ready(opts, pid, timeout).await?;
    Ok(Up {
        resolved_in,
        started_in: Some(started.elapsed()),
        pid,
        cache_bytes,
    })
}

/// Stops the standalone the pid file names (SIGTERM, SIGKILL after a grace period) and removes
/// the pid file; with `purge`, the state directory too. Returns the pid stopped, if any.
pub fn down(opts: &Options, purge: bool) -> Result<Option<u32>> {
    let pid = running(opts);
    if let Some(pid) = pid {
        // The broker closes topics and the bookie flushes on SIGTERM; give it time.
        process::terminate(pid, Duration::from_secs(30));
        tracing::info!(pid, "Apache Pulsar stopped");
    }
    match fs::remove_file(opts.pid_file()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return io(Err(e), || format!("remove {}", opts.pid_file().display())),
    }
    if purge && opts.state.exists() {
        io(fs::remove_dir_all(&opts.state), || {
            format!("remove {}", opts.state.display())
        })?;
    }
    Ok(pid)
}

/// The pid of the standalone started from `opts.state`, if it still runs: the pid file's pid
/// whose command line names this state's configuration (a recycled pid does not).
pub fn running(opts: &Options) -> Option<u32> {
    let pid: u32 = fs::read_to_string(opts.pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let conf = opts.conf();
    let ours = cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == conf.as_os_str().as_encoded_bytes());
    (ours && process::alive(pid)).then_some(pid)
}

/// The `java` to run: `$JAVA_HOME/bin/java`, else the one on PATH; checked to be 17 or newer.
fn java() -> Result<PathBuf> {
    let java = std::env::var_os("JAVA_HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join("bin").join("java"))
        .unwrap_or_else(|| PathBuf::from("java"));
    let out = Command::new(&java)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| PulsarError::Java {
            detail: format!("cannot run {}: {e}", java.display()),
        })?;
    // `java -version` prints `openjdk version "17.0.15" …` on stderr.
    let text = String::from_utf8_lossy(&out.stderr);
    let major = java_major(&text).ok_or_else(|| PulsarError::Java {
        detail: format!(
            "cannot read the version of {}: {}",
            java.display(),
            text.trim()
        ),
    })?;
    if major < MIN_JAVA {
        return Err(PulsarError::Java {
            detail: format!("{} is Java {major}", java.display()),
        });
    }
    Ok(java)
}

/// The major version in `java -version`'s output (`"1.8.0_372"` is 8, `"17.0.15"` is 17).
fn java_major(version_output: &str) -> Option<u32> {
    let quoted = version_output.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '-', '+', '_']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        parts.next()?.parse().ok()
    } else {
        Some(first)
    }
}

/// Copies Pulsar's runtime jars into the cache unless a complete copy is there. Returns how long
/// the resolution took, or `None` when nothing was resolved.
fn resolve(opts: &Options) -> Result<Option<Duration>> {
    let lib = opts.lib();
    if lib.join(COMPLETE_MARKER).exists() {
        return Ok(None);
    }
    let mvn = which("mvn").ok_or_else(|| PulsarError::Maven {
        detail: "no `mvn` on PATH".into(),
        lib: lib.clone(),
    })?;
    io(fs::create_dir_all(&opts.cache), || {
        format!("create {}", opts.cache.display())
    })?;
    let pom = opts.cache.join("pom.xml");
    io(fs::write(&pom, POM), || format!("write {}", pom.display()))?;
    if lib.exists() {
        io(fs::remove_dir_all(&lib), || {
            format!("remove the partial {}", lib.display())
        })?;
    }
    let log = opts.cache.join("resolve.log");
    let out = io(fs::File::create(&log), || {
        format!("create {}", log.display())
    })?;
    let err = io(out.try_clone(), || format!("dup {}", log.display()))?;
    let args = [
        "-B".to_string(),
        "-f".into(),
        pom.display().to_string(),
        format!("-Dpulsar.version={VERSION}"),
        "dependency:copy-dependencies".into(),
        "-DincludeScope=runtime".into(),
        format!("-DoutputDirectory={}", lib.display()),
    ];
    let started = Instant::now();
    tracing::info!(version = VERSION, lib = %lib.display(), "resolving Apache Pulsar from Maven Central");
    let status = io(
        Command::new(&mvn)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status(),
        || format!("run {}", mvn.display()),
    )?;
    if !status.success() {
        return Err(PulsarError::Resolve {
            command: format!("mvn {}", args.join(" ")),
            status: status.to_string(),
            tail: process::log_tail(&log, 30),
            log,
        });
    }
    io(fs::write(lib.join(COMPLETE_MARKER), VERSION), || {
        format!("write {}", lib.join(COMPLETE_MARKER).display())
    })?;
    Ok(Some(started.elapsed()))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The broker and bookie settings (both read the same file) for one process on one machine.
pub fn standalone_conf(opts: &Options) -> String {
    let data = opts.state.join("data");
    format!(
        "\
# Written by `fmesh-e2e pulsar up`; rewritten on every start.
clusterName=standalone
bindAddress=0.0.0.0
advertisedAddress={advertise}
brokerServicePort={broker}
webServicePort={web}
# One bookie: every ledger on it.
managedLedgerDefaultEnsembleSize=1
managedLedgerDefaultWriteQuorum=1
managedLedgerDefaultAckQuorum=1
loadManagerClassName=org.apache.pulsar.broker.loadbalance.NoopLoadManager
loadBalancerEnabled=false
functionsWorkerEnabled=false
webSocketServiceEnabled=false
transactionCoordinatorEnabled=false
allowAutoTopicCreation=true
allowAutoTopicCreationType=non-partitioned
# As fmesh-broker, which always deduplicates by producer name and sequence id (and as the
# runner's effectively_once needs).
brokerDeduplicationEnabled=true
# Tests look at topics after their clients left.
brokerDeleteInactiveTopicsEnabled=false
# The packages API (/admin/v3/packages) the operator's init container uses.
enablePackagesManagement=true
packagesManagementStorageProvider=org.apache.pulsar.packages.management.storage.filesystem.FileSystemPackagesStorageProvider
STORAGE_PATH={packages}
# The bookie (DbLedgerStorage) with small caches: this machine is shared.
ledgerStorageClass=org.apache.bookkeeper.bookie.storage.ldb.DbLedgerStorage
dbStorage_writeCacheMaxSizeMb=32
dbStorage_readAheadCacheMaxSizeMb=32
dbStorage_rocksDB_blockCacheSize=16777216
journalMaxGroupWaitMSec=1
journalSyncData=false
allowLoopback=true
diskUsageThreshold=0.99
diskUsageWarnThreshold=0.99
",
        advertise = opts.advertise,
        broker = opts.broker_port,
        web = opts.web_port,
        packages = data.join("packages").display(),
    )
}

const LOG4J: &str = "\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{1} - %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
";

fn write_config(opts: &Options) -> Result<()> {
    let dir = opts.state.join("conf");
    io(fs::create_dir_all(&dir), || {
        format!("create {}", dir.display())
    })?;
    io(fs::write(opts.conf(), standalone_conf(opts)), || {
        format!("write {}", opts.conf().display())
    })?;
    io(fs::write(opts.log4j(), LOG4J), || {
        format!("write {}", opts.log4j().display())
    })
}

/// The JVM's arguments: heap, the module openings `bin/pulsar` passes, the classpath, and the
/// standalone's flags (data under the state directory, no function worker, no stream storage).
fn jvm_args(opts: &Options) -> Vec<String> {
    let data = opts.state.join("data");
    let mut args: Vec<String> = vec![
        "-Xms256m".into(),
        format!("-Xmx{}", opts.heap),
        "-XX:MaxDirectMemorySize=512m".into(),
        "-XX:+UseG1GC".into(),
        "-Dio.netty.tryReflectionSetAccessible=true".into(),
        format!("-Dlog4j.configurationFile={}", opts.log4j().display()),
        format!("-Dpulsar.log.dir={}", opts.state.display()),
    ];
    for open in [
        "java.base/sun.net",
        "java.base/java.lang",
        "java.base/java.io",
        "java.base/java.util.zip",
        "java.base/jdk.internal.misc",
        "java.management/sun.management",
        "jdk.management/com.sun.management.internal",
    ] {
        args.push("--add-opens".into());
        args.push(format!("{open}=ALL-UNNAMED"));
    }
    args.extend([
        "--add-exports".into(),
        "java.base/jdk.internal.misc=ALL-UNNAMED".into(),
        "-cp".into(),
        format!("{}/*", opts.lib().display()),
        MAIN_CLASS.into(),
        "--config".into(),
        opts.conf().display().to_string(),
        "--no-functions-worker".into(),
        "--no-stream-storage".into(),
        "--advertised-address".into(),
        opts.advertise.clone(),
        "--metadata-dir".into(),
        data.join("metadata").display().to_string(),
        "--bookkeeper-dir".into(),
        data.join("bookkeeper").display().to_string(),
        "--bookkeeper-port".into(),
        opts.bookie_port.to_string(),
        // The ZooKeeper mode is chosen when this directory exists: point it at one that never does.
        "--zookeeper-dir".into(),
        data.join("no-zookeeper").display().to_string(),
    ]);
    args
}

/// Starts the JVM in its own session (it outlives this process), stdio to the log, and writes
/// the pid file.
fn spawn(opts: &Options, java: &Path) -> Result<u32> {
    let log_path = opts.log();
    let mut command = Command::new(java);
    command
        .args(jvm_args(opts))
        // Relative paths Pulsar still uses (e.g. ./offloaders) land in the state directory.
        .current_dir(&opts.state);
    let pid = io(process::spawn_detached(&mut command, &log_path), || {
        format!("start {} (log {})", java.display(), log_path.display())
    })?;
    io(fs::write(opts.pid_file(), format!("{pid}\n")), || {
        format!("write {}", opts.pid_file().display())
    })?;
    tracing::info!(pid, log = %log_path.display(), "Apache Pulsar starting");
    Ok(pid)
}

/// Polls until a message is accepted on [`READY_TOPIC`] over the binary protocol, failing early
/// if the JVM exits.
async fn wait_ready(opts: &Options, pid: u32, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        if !process::alive(pid) {
            return Err(PulsarError::Exited {
                status: exit_status(pid),
                log: opts.log(),
                tail: process::log_tail(&opts.log(), 40),
            });
        }
        match tokio::time::timeout(Duration::from_secs(10), produce_once(opts)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last = e,
            Err(_) => last = "a produce took over 10s".into(),
        }
        if Instant::now() >= deadline {
            return Err(PulsarError::NotReady {
                secs: timeout.as_secs(),
                detail: last,
                log: opts.log(),
                tail: process::log_tail(&opts.log(), 40),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn exit_status(pid: u32) -> String {
    let Ok(raw) = i32::try_from(pid) else {
        return "gone".into();
    };
    let mut status = 0;
    // SAFETY: reaps our own child; for anyone else's it fails harmlessly.
    let reaped = unsafe { libc::waitpid(raw, &mut status, libc::WNOHANG) };
    if reaped == raw {
        format!("wait status {status}")
    } else {
        "gone".into()
    }
}

async fn produce_once(opts: &Options) -> std::result::Result<(), String> {
    let client = pulsar::Pulsar::builder(opts.service_url(), pulsar::TokioExecutor)
        .with_operation_retry_options(pulsar::OperationRetryOptions {
            max_retries: Some(0),
            ..Default::default()
        })
        .with_connection_retry_options(pulsar::ConnectionRetryOptions {
            max_retries: 0,
            ..Default::default()
        })
        .build()
        .await
        .map_err(|e| format!("connect {}: {e}", opts.service_url()))?;
    let mut producer = client
        .producer()
        .with_topic(READY_TOPIC)
        .build()
        .await
        .map_err(|e| format!("producer on {READY_TOPIC}: {e}"))?;
    producer
        .send_non_blocking(b"ready".to_vec())
        .await
        .map_err(|e| format!("send: {e}"))?
        .await
        .map_err(|e| format!("receipt: {e}"))?;
    let _ = producer.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_major_reads_both_version_schemes() {
        assert_eq!(
            java_major("openjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime"),
            Some(17)
        );
        assert_eq!(java_major("java version \"1.8.0_372\""), Some(8));
        assert_eq!(java_major("openjdk version \"25\" 2025-09-16"), Some(25));
        assert_eq!(java_major("no quotes here"), None);
    }

    #[test]
    fn configuration_binds_everywhere_and_advertises_the_given_address() {
        let mut opts = Options::new(Path::new("/c"));
        opts.advertise = "10.0.0.7".into();
        let conf = standalone_conf(&opts);
        assert!(conf.contains("\nbindAddress=0.0.0.0\n"), "{conf}");
        assert!(conf.contains("\nadvertisedAddress=10.0.0.7\n"), "{conf}");
        assert!(conf.contains("\nbrokerServicePort=6651\n"), "{conf}");
        assert!(conf.contains("\nwebServicePort=8081\n"), "{conf}");
        assert!(conf.contains("\nfunctionsWorkerEnabled=false\n"), "{conf}");
        assert_eq!(opts.service_url(), "pulsar://10.0.0.7:6651");
        assert_eq!(opts.admin_url(), "http://10.0.0.7:8081");
    }

    #[test]
    fn data_stays_under_the_state_directory() {
        let opts = Options::new(Path::new("/c"));
        let args = jvm_args(&opts);
        for flag in ["--metadata-dir", "--bookkeeper-dir", "--zookeeper-dir"] {
            let i = args.iter().position(|a| a == flag).expect(flag);
            assert!(
                args[i + 1].starts_with("/c/pulsar-state/"),
                "{flag} {}",
                args[i + 1]
            );
        }
        assert!(args.contains(&"--no-functions-worker".to_string()));
        assert!(args.contains(&"-Xmx1g".to_string()));
    }
}

/// `fmesh-e2e pulsar …`: the subcommands and what they print.
pub mod cli {
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Duration;

    use super::{Options, PulsarError, VERSION};

    /// Where and how the standalone runs (shared by `up` and `down`).
    #[derive(Debug, clap::Args)]
    pub struct Where {
        /// Configuration, data, log and pid file (default `<cache>/pulsar-state`).
        #[arg(long, env = "FMESH_PULSAR_STATE_DIR")]
        pub pulsar_dir: Option<PathBuf>,
    }

    /// What `fmesh-e2e pulsar` does.
    #[derive(Debug, clap::Subcommand)]
    pub enum PulsarCommand {
        /// Resolve (once), configure and start Apache Pulsar; wait until a topic takes a
        /// message. The last two lines printed are `PULSAR_URL=…` and `PULSAR_ADMIN_URL=…`.
        Up {
            #[command(flatten)]
            at: Where,
            /// The address clients and pods are told to dial (it binds 0.0.0.0 regardless).
            #[arg(long, default_value = "127.0.0.1", env = "FMESH_PULSAR_ADVERTISE")]
            advertise: String,
            /// Binary protocol port (fmesh-broker's default is 6650).
            #[arg(long, default_value_t = 6651)]
            broker_port: u16,
            /// Admin REST port (fmesh-broker's default is 8080).
            #[arg(long, default_value_t = 8081)]
            web_port: u16,
            /// The in-process bookie's port.
            #[arg(long, default_value_t = 3182)]
            bookie_port: u16,
            /// Maximum JVM heap.
            #[arg(long, default_value = "1g")]
            heap: String,
            /// Remove earlier data (topics, subscriptions, metadata) before starting.
            #[arg(long)]
            wipe: bool,
            /// How long start-up may take, in seconds.
            #[arg(long, default_value_t = 180)]
            timeout: u64,
        },
        /// Stop the standalone `up` started (by its pid file).
        Down {
            #[command(flatten)]
            at: Where,
            /// Also remove its state directory (the resolved jars stay cached).
            #[arg(long)]
            purge: bool,
        },
    }

    fn options(at: &Where) -> Options {
        let mut opts = Options::new(&crate::layout::cache_root());
        if let Some(dir) = &at.pulsar_dir {
            opts.state = dir.clone();
        }
        opts
    }

    /// Runs one subcommand.
    pub async fn run(command: PulsarCommand) -> Result<ExitCode, PulsarError> {
        match command {
            PulsarCommand::Up {
                at,
                advertise,
                broker_port,
                web_port,
                bookie_port,
                heap,
                wipe,
                timeout,
            } => {
                let mut opts = options(&at);
                opts.advertise = advertise;
                opts.broker_port = broker_port;
                opts.web_port = web_port;
                opts.bookie_port = bookie_port;
                opts.heap = heap;
                if wipe {
                    super::down(&opts, true)?;
                }
                let up = super::up(&opts, Duration::from_secs(timeout)).await?;
                match up.resolved_in {
                    Some(d) => eprintln!(
                        "resolved Apache Pulsar {VERSION} in {:.1}s ({} MiB in {})",
                        d.as_secs_f64(),
                        up.cache_bytes >> 20,
                        opts.cache.join("lib").display()
                    ),
                    None => eprintln!(
                        "Apache Pulsar {VERSION} cached ({} MiB in {})",
                        up.cache_bytes >> 20,
                        opts.cache.join("lib").display()
                    ),
                }
                match up.started_in {
                    Some(d) => eprintln!(
                        "started (pid {}) and accepting messages in {:.1}s; log {}",
                        up.pid,
                        d.as_secs_f64(),
                        opts.log().display()
                    ),
                    None => eprintln!(
                        "already running (pid {}); log {}",
                        up.pid,
                        opts.log().display()
                    ),
                }
                println!("PULSAR_URL={}", opts.service_url());
                println!("PULSAR_ADMIN_URL={}", opts.admin_url());
            }
            PulsarCommand::Down { at, purge } => {
                let opts = options(&at);
                match super::down(&opts, purge)? {
                    Some(pid) => eprintln!("Apache Pulsar (pid {pid}) stopped"),
                    None => eprintln!("Apache Pulsar was not running"),
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
