//! Mount points the node leaves under the state directory (container rootfs overlays, sandbox
//! shm, secret tmpfs, pod network namespaces) and how `down` removes them.

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Mount points at or below `dir`, deepest first.
pub fn under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

/// Unmounts everything at or below `dir` (lazily, so a busy mount does not block `down`).
pub fn unmount_all(dir: &Path) -> Result<()> {
    // Stacked mounts on one point need one umount each; a few passes settle them.
    for _ in 0..5 {
        let points = under(dir);
        if points.is_empty() {
            return Ok(());
        }
        for point in points {
            let c = CString::new(point.as_os_str().as_encoded_bytes()).map_err(|_| Error::Io {
                context: format!("mount point {} has a NUL byte", point.display()),
                source: std::io::ErrorKind::InvalidInput.into(),
            })?;
            // SAFETY: umount2 with a valid C string; EINVAL (not a mount any more) is fine.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let left = under(dir);
    if left.is_empty() {
        Ok(())
    } else {
        Err(Error::Command {
            command: "umount".into(),
            detail: format!("still mounted: {left:?}"),
        })
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_octal() {
        assert_eq!(unescape(r"/a\040b\011c\134d"), "/a b\tc\\d");
    }
}
