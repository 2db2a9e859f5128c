//! The brokers a differential test runs against (feature `testing`): fmesh-broker in the test's
//! process, and Apache Pulsar when `FMESH_PULSAR_URL` and `FMESH_PULSAR_ADMIN_URL` name one
//! (`fmesh-e2e pulsar up` prints both). With `FMESH_PULSAR_REQUIRED=1` (CI) a missing Apache
//! Pulsar fails the test instead of being skipped. Used by the broker's, the runner's and the
//! CLI's integration tests, so every suite picks its peers the same way.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::OnceLock;

use crate::{BrokerConfig, RunningBroker};

/// One broker under test.
pub enum Target {
    /// fmesh-broker in this process, on its own data directory.
    Fmesh {
        /// The running broker.
        broker: RunningBroker,
        /// Its data directory, removed when the target is dropped.
        _dir: tempfile::TempDir,
    },
    /// Apache Pulsar outside it (shared by every test, so topic names must be unique).
    Pulsar {
        /// `pulsar://host:port`.
        url: String,
        /// The admin API's address.
        admin: SocketAddr,
    },
}

impl Target {
    /// `fmesh-broker` or `Apache Pulsar`, for assertion messages.
    pub fn name(&self) -> &'static str {
        match self {
            Target::Fmesh { .. } => "fmesh-broker",
            Target::Pulsar { .. } => "Apache Pulsar",
        }
    }

    /// `pulsar://host:port`.
    pub fn service_url(&self) -> String {
        match self {
            Target::Fmesh { broker, .. } => broker.service_url(),
            Target::Pulsar { url, .. } => url.clone(),
        }
    }

    /// The admin API's address.
    pub fn admin(&self) -> SocketAddr {
        match self {
            Target::Fmesh { broker, .. } => broker
                .admin_addr
                .expect("BrokerConfig::for_tests enables the admin listener"),
            Target::Pulsar { admin, .. } => *admin,
        }
    }

    /// Whether this is Apache Pulsar.
    pub fn is_pulsar(&self) -> bool {
        matches!(self, Target::Pulsar { .. })
    }

    /// `persistent://public/default/<name>-<run>`: unique per test run, because Apache Pulsar
    /// keeps its topics between runs.
    pub fn topic(&self, name: &str) -> String {
        format!("persistent://public/default/{}", self.local(name))
    }

    /// The local part of [`Target::topic`].
    pub fn local(&self, name: &str) -> String {
        unique(name)
    }
}

/// `<name>-<run>`: a name no earlier run of this test binary used.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", run_id())
}

fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{:x}{:x}", std::process::id(), nanos & 0xff_ffff)
    })
}

/// Apache Pulsar's URLs from the environment, if set; panics when `FMESH_PULSAR_REQUIRED=1`
/// and they are not.
pub fn pulsar_from_env() -> Option<(String, SocketAddr)> {
    let url = std::env::var("FMESH_PULSAR_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let admin = std::env::var("FMESH_PULSAR_ADMIN_URL")
        .ok()
        .filter(|u| !u.is_empty());
    match (url, admin) {
        (Some(url), Some(admin)) => {
            let hostport = admin
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
            let addr = hostport
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .unwrap_or_else(|| panic!("FMESH_PULSAR_ADMIN_URL={admin}: not http://host:port"));
            Some((url, addr))
        }
        _ => {
            assert!(
                std::env::var("FMESH_PULSAR_REQUIRED").as_deref() != Ok("1"),
                "FMESH_PULSAR_REQUIRED=1 but FMESH_PULSAR_URL / FMESH_PULSAR_ADMIN_URL are not set: run `fmesh-e2e pulsar up` and export the two lines it prints"
            );
            None
        }
    }
}

/// A fresh fmesh-broker on loopback ports with default test settings.
pub async fn fmesh(tweak: impl FnOnce(&mut BrokerConfig)) -> Target {
    let dir = tempfile::tempdir().expect("temp dir for the broker");
    let mut cfg = BrokerConfig::for_tests(dir.path());
    tweak(&mut cfg);
    let broker = crate::start(cfg).await.expect("fmesh-broker starts");
    Target::Fmesh { broker, _dir: dir }
}

/// fmesh-broker (fresh, default settings), then Apache Pulsar if the environment names one.
pub async fn targets() -> Vec<Target> {
    let mut out = vec![fmesh(|_| {}).await];
    match pulsar_from_env() {
        Some((url, admin)) => out.push(Target::Pulsar { url, admin }),
        None => eprintln!(
            "FMESH_PULSAR_URL / FMESH_PULSAR_ADMIN_URL not set: fmesh-broker only (`fmesh-e2e pulsar up` starts Apache Pulsar)"
        ),
    }
    out
}
