//! The official Pulsar client (Python, C++ core) in a venv made by `tests/py/setup-venv.sh`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The venv's python, created on first use (python3 with venv, PyPI reachable).
pub fn python() -> &'static PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/setup-venv.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .expect("run setup-venv.sh");
        assert!(
            out.status.success(),
            "venv setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string())
    })
}

/// Runs scenario `name` of `tests/py/scenarios.py` and returns the lines it printed with `tag`.
pub fn lines(name: &str, url: &str, topic: &str, args: &[&str], tag: &str) -> Vec<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/scenarios.py");
    let out = Command::new(python())
        .arg(script)
        .args([name, url, topic])
        .args(args)
        .output()
        .expect("run scenarios.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scenario {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = format!("{tag} ");
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}
