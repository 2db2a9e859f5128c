//! Background processes: start with a log and a pid file, check, stop — always by pid file, never by name.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::layout::Layout;

/// How to run one long-lived component.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Component name; names the log and pid files.
    pub name: &'static str,
    /// Absolute path of the program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// Starts `spec` detached from this process (own session, stdio to its log) and records its pid.
pub fn start(layout: &Layout, spec: &Spec) -> Result<u32> {
    let log_path = layout.log(spec.name);
    let pid_path = layout.pid_file(spec.name);
    for dir in [log_path.parent(), pid_path.parent()].into_iter().flatten() {
        fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
    }
    let mut command = Command::new(&spec.program);
    command.args(&spec.args);
    let pid = spawn_detached(&mut command, &log_path).ctx(|| {
        format!(
            "start {} ({}, log {})",
            spec.name,
            spec.program.display(),
            log_path.display()
        )
    })?;
    let record = format!("{pid}\n{}\n", spec.program.display());
    fs::write(&pid_path, record).ctx(|| format!("write {}", pid_path.display()))?;
    tracing::info!(component = spec.name, pid, "started");
    Ok(pid)
}

/// Starts `command` detached from this process: its own session (it outlives this process and
/// ignores the terminal's Ctrl-C), stdin closed, stdout and stderr appended to `log`.
pub fn spawn_detached(command: &mut Command, log: &Path) -> std::io::Result<u32> {
    let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    command.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(command.spawn()?.id())
}

/// The pid of `name` if its pid file names a live process running the recorded program.
///
/// Checking the executable guards against a recycled pid after a reboot or a crash.
pub fn running(layout: &Layout, name: &str) -> Option<u32> {
    let record = fs::read_to_string(layout.pid_file(name)).ok()?;
    let mut lines = record.lines();
    let pid: u32 = lines.next()?.trim().parse().ok()?;
    let program = lines.next()?;
    let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let exe = exe.to_string_lossy();
    let same = exe == program || exe.strip_suffix(" (deleted)") == Some(program);
    (same && alive(pid)).then_some(pid)
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// Stops `name` if its pid file names a live process: SIGTERM, then SIGKILL after `grace`.
/// Returns whether a process was stopped. The pid file is removed either way.
pub fn stop(layout: &Layout, name: &str, grace: Duration) -> Result<bool> {
    let stopped = match running(layout, name) {
        Some(pid) => {
            terminate(pid, grace);
            tracing::info!(component = name, pid, "stopped");
            true
        }
        None => false,
    };
    let pid_path = layout.pid_file(name);
    match fs::remove_file(&pid_path) {
        Ok(()) => Ok(stopped),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(stopped),
        Err(e) => Err(e).ctx(|| format!("remove {}", pid_path.display())),
    }
}

/// SIGTERM `pid`, wait up to `grace`, then SIGKILL and wait for it to vanish.
pub fn terminate(pid: u32, grace: Duration) {
    let Ok(raw) = i32::try_from(pid) else { return };
    // SAFETY: plain syscalls on a pid we own; failures (already gone) are fine.
    unsafe {
        libc::kill(raw, libc::SIGTERM);
        // A stopped (hung, SIGSTOPped) process only acts on SIGTERM once continued.
        libc::kill(raw, libc::SIGCONT);
    }
    if !wait_gone(raw, grace) {
        unsafe { libc::kill(raw, libc::SIGKILL) };
        wait_gone(raw, Duration::from_secs(10));
    }
}

fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        // Reap it if it is our own child (a test process that started the cluster), so it does not
        // linger as a zombie; for anyone else's child this fails harmlessly.
        // SAFETY: waitpid with WNOHANG on a specific pid has no memory effects.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        if !alive(pid as u32) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last `lines` lines of a log file (or a note that it is missing).
pub fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}

/// Pids of live processes whose command line mentions `needle` (a path unique to this cluster).
///
/// Used only for containerd's shims, which containerd starts (not us) but which carry our
/// containerd socket path on their command line.
pub fn pids_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && alive(pid))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Runs a short command to completion and returns its stdout; a failure carries its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let shown = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command {
            command: shown.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Command {
            command: shown,
            detail: format!("{}: {}", out.status, stderr.trim()),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
