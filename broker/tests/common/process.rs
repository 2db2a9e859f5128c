//! The `fmesh-broker` binary as a child process, for tests that restart it.

use std::io::{BufRead, BufReader};

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running broker binary; killed when dropped.
pub struct BrokerProcess {
    child: Child,
    /// `pulsar://127.0.0.1:port`.
    pub url: String,
    /// `http://127.0.0.1:port` of the admin API.
    pub admin: String,
    /// Lines the broker has logged (warnings and errors: it runs with `RUST_LOG=warn`).
    pub log_lines: Arc<AtomicUsize>,
}

impl BrokerProcess {
    /// Starts the binary on `dir` with OS-chosen ports and `extra` flags.
    pub fn start(dir: &Path, extra: &[&str]) -> BrokerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fmesh-broker"))
            .args(["--data-dir", &dir.display().to_string()])
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn fmesh-broker");
        let stdout = child.stdout.take().expect("stdout");
        // Logs go to stdout too: find the ready line, then keep draining so the broker never blocks.
        let (tx, rx) = std::sync::mpsc::channel();
        let log_lines = Arc::new(AtomicUsize::new(0));
        let counter = log_lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                counter.fetch_add(1, Ordering::Relaxed);
                if l.contains("fmesh-broker ready") {
                    let _ = tx.send(l);
                }
            }
        });
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("broker ready line");
        let word = |p: &str| {
            line.split_whitespace()
                .find(|w| w.starts_with(p))
                .unwrap_or_else(|| panic!("no {p} in {line:?}"))
                .to_string()
        };
        BrokerProcess {
            url: word("pulsar://"),
            admin: word("http://"),
            log_lines,
            child,
        }
    }

    /// Admin address as a socket address.
    pub fn admin_addr(&self) -> std::net::SocketAddr {
        self.admin
            .trim_start_matches("http://")
            .parse()
            .expect("admin addr")
    }

    /// Resident memory of the broker process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        self.status_kib("VmRSS:") * 1024
    }

    /// The most resident memory the broker process ever had, in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        self.status_kib("VmHWM:") * 1024
    }

    fn status_kib(&self, field: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        s.lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{field} in /proc status"))
    }

    /// File descriptors the broker process holds open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("proc fd")
            .count()
    }

    /// Sets the broker's soft open-file limit to `n` (the hard limit stays).
    pub fn limit_open_files(&self, n: usize) {
        let st = Command::new("prlimit")
            .args([
                "--pid",
                &self.child.id().to_string(),
                &format!("--nofile={n}:"),
            ])
            .status()
            .expect("prlimit (util-linux)");
        assert!(st.success(), "prlimit failed");
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
