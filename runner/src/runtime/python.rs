//! The `python` runtime: Pulsar Functions written in Python run unchanged, hosted by the shim
//! in runner/python (driven over the exec protocol). The shim is compiled into the runner
//! and written out on start, so the runner image needs only a Python interpreter.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::exec::ExecSpec;
use crate::error::RunnerError;

const SHIM: &str = include_str!("../../python/fmesh_shim.py");
/// Used only when the real `pulsar` package (pulsar-client) is not installed.
const FALLBACK_PULSAR: &str = include_str!("../../python/fallback/pulsar/__init__.py");

/// The interpreter: `FMESH_PYTHON` or `python3`.
fn interpreter() -> String {
    std::env::var("FMESH_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// The exec spec that runs `file`'s `class_name` under the shim.
pub fn exec_spec(
    file: &Path,
    class_name: &str,
    init: Value,
    timeout: Option<Duration>,
) -> Result<ExecSpec, RunnerError> {
    let dir = write_shim()?;
    Ok(ExecSpec {
        argv: vec![
            interpreter(),
            "-u".into(),
            dir.join("fmesh_shim.py").display().to_string(),
            file.display().to_string(),
            class_name.to_string(),
        ],
        working_dir: None,
        env: vec![(
            "FMESH_PULSAR_FALLBACK".into(),
            dir.join("fallback").display().to_string(),
        )],
        init,
        timeout,
    })
}

/// Writes the shim into a per-version directory under the temp dir (idempotent, atomic).
fn write_shim() -> Result<PathBuf, RunnerError> {
    let dir = std::env::temp_dir().join(format!("fmesh-runner-shim-{}", env!("CARGO_PKG_VERSION")));
    let files = [
        ("fmesh_shim.py", SHIM),
        ("fallback/pulsar/__init__.py", FALLBACK_PULSAR),
    ];
    for (rel, content) in files {
        let path = dir.join(rel);
        if std::fs::read_to_string(&path).is_ok_and(|c| c == content) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, content)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(dir)
}
