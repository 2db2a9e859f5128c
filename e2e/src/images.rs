//! OCI images without Docker: a layer tar, a config and a manifest in a docker-archive, imported
//! with `ctr images import`. Pods use them with `imagePullPolicy: IfNotPresent` (or `Never`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::containerd;
use crate::error::{Error, IoContext, Result};
use crate::layout::Layout;
use crate::process;

/// The pod sandbox image.
pub const PAUSE: &str = containerd::PAUSE_IMAGE;
/// A busybox image for smoke tests (`/bin/sh` and the usual applets).
pub const SMOKE: &str = "fmesh.local/fmesh-e2e/smoke:dev";
/// The fmesh programs that get an image each: image name → package and binary `fmesh-<name>`.
pub const FMESH_PROGRAMS: [&str; 4] = ["runner", "operator", "webhook", "broker"];

/// The image reference of an fmesh program.
pub fn fmesh_reference(program: &str) -> String {
    format!("fmesh.local/{program}:dev")
}

/// What goes into the single layer of an image.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A file copied from the host (symlinks followed).
    File {
        src: PathBuf,
        dest: String,
        mode: u32,
    },
    /// A file with the given content.
    Bytes {
        dest: String,
        data: Vec<u8>,
        mode: u32,
    },
    /// A symbolic link.
    Symlink { dest: String, target: String },
    /// A directory with its own mode and owner (others are root's, 0755).
    Dir {
        dest: String,
        mode: u32,
        uid: u64,
        gid: u64,
    },
}

impl Entry {
    fn dest(&self) -> &str {
        match self {
            Entry::File { dest, .. }
            | Entry::Bytes { dest, .. }
            | Entry::Symlink { dest, .. }
            | Entry::Dir { dest, .. } => dest,
        }
    }
}

/// An image to build: reference, entrypoint and one layer.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// e.g. `fmesh.local/pause:dev`.
    pub reference: String,
    /// The container's entrypoint.
    pub entrypoint: Vec<String>,
    /// The layer's content.
    pub entries: Vec<Entry>,
    /// The user the container runs as unless the pod says otherwise (`uid` or `uid:gid`).
    pub user: Option<String>,
    /// The container's working directory.
    pub working_dir: String,
    /// Extra `NAME=value` environment besides `PATH`.
    pub env: Vec<String>,
}

impl ImageSpec {
    /// An image with `/etc/passwd`, `/etc/group` and `/tmp`, running `entrypoint`.
    pub fn base(reference: &str, entrypoint: &[&str]) -> Self {
        let passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
        ImageSpec {
            reference: reference.to_owned(),
            entrypoint: entrypoint.iter().map(|s| (*s).to_owned()).collect(),
            user: None,
            working_dir: "/".into(),
            env: Vec::new(),
            entries: vec![
                Entry::Bytes {
                    dest: "etc/passwd".into(),
                    data: passwd.to_vec(),
                    mode: 0o644,
                },
                Entry::Bytes {
                    dest: "etc/group".into(),
                    data: b"root:x:0:\nnogroup:x:65534:\n".to_vec(),
                    mode: 0o644,
                },
                Entry::Bytes {
                    dest: "tmp/.keep".into(),
                    data: Vec::new(),
                    mode: 0o644,
                },
            ],
        }
    }

    /// Writes the image as a docker-archive tarball at `out`.
    pub fn write_archive(&self, out: &Path) -> Result<()> {
        let err = |detail: String| Error::Image {
            image: self.reference.clone(),
            detail,
        };
        let layer = self.layer().map_err(|e| err(format!("layer: {e}")))?;
        let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
        let mut env = vec!["PATH=/usr/local/bin:/usr/bin:/bin".to_string()];
        env.extend(self.env.iter().cloned());
        let mut image_config = serde_json::json!({
            "Entrypoint": self.entrypoint,
            "Env": env,
            "WorkingDir": self.working_dir,
        });
        if let Some(user) = &self.user {
            image_config["User"] = serde_json::json!(user);
        }
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": image_config,
            "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        });
        let config = serde_json::to_vec(&config).map_err(|e| err(e.to_string()))?;
        let config_name = format!("{}.json", hex::encode(Sha256::digest(&config)));
        let layer_name = format!("{}/layer.tar", &diff_id["sha256:".len()..]);
        let manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": [self.reference],
            "Layers": [layer_name],
        }]);
        let manifest = serde_json::to_vec(&manifest).map_err(|e| err(e.to_string()))?;

        if let Some(dir) = out.parent() {
            fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
        }
        let file = fs::File::create(out).ctx(|| format!("create {}", out.display()))?;
        let mut archive = tar::Builder::new(file);
        for (name, data) in [
            (config_name.as_str(), &config),
            (layer_name.as_str(), &layer),
            ("manifest.json", &manifest),
        ] {
            append_bytes(&mut archive, name, data, 0o644)
                .ctx(|| format!("write {}", out.display()))?;
        }
        archive
            .into_inner()
            .ctx(|| format!("finish {}", out.display()))?;
        Ok(())
    }

    /// The layer tar: directories first (root's, 0755, unless an [`Entry::Dir`] says
    /// otherwise), then the other entries, owned by root, mtime 0.
    fn layer(&self) -> std::io::Result<Vec<u8>> {
        let mut dirs = BTreeSet::new();
        for entry in &self.entries {
            if let Entry::Dir { dest, .. } = entry {
                dirs.insert(PathBuf::from(dest));
            }
            let mut parent = Path::new(entry.dest()).parent();
            while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                dirs.insert(p.to_path_buf());
                parent = p.parent();
            }
        }
        let mut builder = tar::Builder::new(Vec::new());
        for dir in &dirs {
            let explicit = self.entries.iter().find_map(|e| match e {
                Entry::Dir {
                    dest,
                    mode,
                    uid,
                    gid,
                } if Path::new(dest) == dir => Some((*mode, *uid, *gid)),
                _ => None,
            });
            let (mode, uid, gid) = explicit.unwrap_or((0o755, 0, 0));
            let mut header = header(tar::EntryType::Directory, 0, mode);
            header.set_uid(uid);
            header.set_gid(gid);
            builder.append_data(&mut header, dir, std::io::empty())?;
        }
        for entry in &self.entries {
            match entry {
                Entry::Dir { .. } => {}
                Entry::File { src, dest, mode } => {
                    let data = fs::read(src)?;
                    append_bytes(&mut builder, dest, &data, *mode)?;
                }
                Entry::Bytes { dest, data, mode } => append_bytes(&mut builder, dest, data, *mode)?,
                Entry::Symlink { dest, target } => {
                    let mut header = header(tar::EntryType::Symlink, 0, 0o777);
                    builder.append_link(&mut header, dest, target)?;
                }
            }
        }
        builder.into_inner()
    }
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append_bytes<W: std::io::Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut header = header(tar::EntryType::Regular, data.len() as u64, mode);
    b.append_data(&mut header, path, data)
}

/// The pause image: a static C program that sleeps and reaps, compiled with `gcc -static`.
pub fn pause(layout: &Layout) -> Result<ImageSpec> {
    let dir = layout.images();
    fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
    let src = dir.join("pause.c");
    let bin = dir.join("pause");
    fs::write(&src, PAUSE_C).ctx(|| format!("write {}", src.display()))?;
    let (src_s, bin_s) = (src.display().to_string(), bin.display().to_string());
    process::run("gcc", &["-static", "-Os", "-o", &bin_s, &src_s])?;
    let mut spec = ImageSpec::base(PAUSE, &["/pause"]);
    spec.entries.push(Entry::File {
        src: bin,
        dest: "pause".into(),
        mode: 0o755,
    });
    Ok(spec)
}

const PAUSE_C: &str = r#"#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
static void quit(int s) { (void)s; _exit(0); }
int main(void) {
  signal(SIGINT, quit); signal(SIGTERM, quit); signal(SIGCHLD, reap);
  for (;;) pause();
}
"#;

/// The smoke image: Debian's static busybox with a link per applet.
pub fn smoke() -> Result<ImageSpec> {
    let mut spec = ImageSpec::base(SMOKE, &["/bin/sh"]);
    spec.entries.extend(busybox()?);
    Ok(spec)
}

/// Debian's static busybox in `/bin` with a link per applet (`/bin/sh`, `wget`, ...).
pub fn busybox() -> Result<Vec<Entry>> {
    let list = process::run("/bin/busybox", &["--list"])?;
    let mut entries = vec![Entry::File {
        src: "/bin/busybox".into(),
        dest: "bin/busybox".into(),
        mode: 0o755,
    }];
    for applet in list
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        entries.push(Entry::Symlink {
            dest: format!("bin/{applet}"),
            target: "busybox".into(),
        });
    }
    Ok(entries)
}

/// An image for a host-built program: the binary in `/usr/local/bin` plus every shared library
/// `ldd` lists, at the same paths (no musl target can be installed here).
pub fn for_binary(reference: &str, binary: &Path) -> Result<ImageSpec> {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Image {
            image: reference.into(),
            detail: format!("{} has no file name", binary.display()),
        })?;
    let dest = format!("usr/local/bin/{name}");
    let mut spec = ImageSpec::base(reference, &[&format!("/{dest}")]);
    spec.entries.push(Entry::File {
        src: binary.to_path_buf(),
        dest,
        mode: 0o755,
    });
    for lib in shared_libraries(binary)? {
        let dest = lib.to_string_lossy().trim_start_matches('/').to_owned();
        spec.entries.push(Entry::File {
            src: lib,
            dest,
            mode: 0o755,
        });
    }
    Ok(spec)
}

/// Absolute paths of the shared libraries (and loader) a dynamic executable needs.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .ctx(|| format!("ldd {}", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // A static binary makes ldd fail with "not a dynamic executable": no libraries then.
    Ok(text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.trim().split(' ').next()?,
                None => line.split(' ').next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// Builds `spec` into `<state>/images` and imports it into our containerd.
pub fn build_and_import(layout: &Layout, spec: &ImageSpec) -> Result<()> {
    let file = spec.reference.replace(['/', ':'], "_");
    let archive = layout.images().join(format!("{file}.tar"));
    spec.write_archive(&archive)?;
    let path = archive.display().to_string();
    containerd::ctr(layout, &["images", "import", &path])?;
    tracing::info!(image = %spec.reference, "imported");
    Ok(())
}

/// Builds and imports `spec` unless containerd has it from the same inputs: the key (a hash
/// of the spec with each host file's path, size and mtime) is kept beside the archive, and
/// the archive is removed after the import (containerd holds the content). Returns whether
/// it built.
pub fn build_and_import_cached(layout: &Layout, spec: &ImageSpec) -> Result<bool> {
    let file = spec.reference.replace(['/', ':'], "_");
    let key_file = layout.images().join(format!("{file}.key"));
    let key = spec.key()?;
    let present = containerd::images(layout)?;
    if present.contains(&spec.reference)
        && fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str())
    {
        tracing::info!(image = %spec.reference, "unchanged, not rebuilt");
        return Ok(false);
    }
    build_and_import(layout, spec)?;
    let archive = layout.images().join(format!("{file}.tar"));
    fs::remove_file(&archive).ctx(|| format!("remove {}", archive.display()))?;
    fs::write(&key_file, &key).ctx(|| format!("write {}", key_file.display()))?;
    Ok(true)
}

impl ImageSpec {
    /// What the image is made of, hashed: its config and, per entry, the destination with the
    /// source's path, size and mtime (or the bytes).
    fn key(&self) -> Result<String> {
        let mut h = Sha256::new();
        let config = serde_json::json!([
            self.reference,
            self.entrypoint,
            self.user,
            self.working_dir,
            self.env
        ]);
        h.update(config.to_string());
        for entry in &self.entries {
            h.update(entry.dest());
            match entry {
                Entry::File { src, mode, .. } => {
                    let meta = fs::metadata(src).ctx(|| format!("stat {}", src.display()))?;
                    let mtime = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_nanos())
                        .unwrap_or_default();
                    h.update(format!("{}:{}:{mtime}:{mode}", src.display(), meta.len()));
                }
                Entry::Bytes { data, mode, .. } => {
                    h.update(data);
                    h.update(mode.to_string());
                }
                Entry::Symlink { target, .. } => h.update(target),
                Entry::Dir { mode, uid, gid, .. } => h.update(format!("{mode}:{uid}:{gid}")),
            }
            h.update([0]);
        }
        Ok(hex::encode(h.finalize()))
    }
}

/// Imports the pause and smoke images unless containerd already has them.
pub fn ensure_base(layout: &Layout) -> Result<()> {
    let present = containerd::images(layout)?;
    if !present.iter().any(|r| r == PAUSE) {
        build_and_import(layout, &pause(layout)?)?;
    }
    if !present.iter().any(|r| r == SMOKE) {
        build_and_import(layout, &smoke()?)?;
    }
    Ok(())
}

/// The outcome for one fmesh program in `build_fmesh`.
#[derive(Debug)]
pub enum Built {
    /// Imported under this reference, from this binary.
    Imported { reference: String, binary: PathBuf },
    /// Skipped, with the reason (no package and no binary yet).
    Skipped { program: String, reason: String },
}

/// Builds (with cargo, when the workspace has the package) and imports an image for each fmesh
/// program; programs that exist neither as a package nor as a built binary are skipped.
pub fn build_fmesh(layout: &Layout, workspace: &Path, release: bool) -> Result<Vec<Built>> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let profile = if release { "release" } else { "debug" };
    // A workspace that does not load (a member mid-edit) still lets prebuilt binaries through.
    let packages = workspace_packages(workspace).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot list workspace packages; using prebuilt binaries only");
        BTreeSet::new()
    });
    // One cargo run for all of them: dependencies are resolved and compiled once (building the
    // packages one by one compiles the shared dependencies once per feature set).
    let present: Vec<String> = FMESH_PROGRAMS
        .iter()
        .map(|p| format!("fmesh-{p}"))
        .filter(|p| packages.contains(p))
        .collect();
    let build_error = if present.is_empty() {
        None
    } else {
        cargo_build(workspace, &present, release).err()
    };
    let mut results = Vec::new();
    for program in FMESH_PROGRAMS {
        let package = format!("fmesh-{program}");
        let binary = target.join(profile).join(&package);
        if let (true, Some(e)) = (packages.contains(&package), &build_error) {
            results.push(Built::Skipped {
                program: program.to_owned(),
                reason: e.to_string(),
            });
            continue;
        }
        if !binary.is_file() {
            let reason = if packages.contains(&package) {
                format!("package {package} has no binary {package}")
            } else {
                format!(
                    "no package {package} in the workspace yet and no {}",
                    binary.display()
                )
            };
            results.push(Built::Skipped {
                program: program.to_owned(),
                reason,
            });
            continue;
        }
        let reference = fmesh_reference(program);
        let mut spec = for_binary(&reference, &binary)?;
        spec.entries.extend(extras(program, workspace));
        build_and_import(layout, &spec)?;
        results.push(Built::Imported { reference, binary });
    }
    Ok(results)
}

/// Files an fmesh image carries besides its program: the runner image ships the example
/// mesh's WebAssembly module where `examples/mesh.yaml` names it (relative to `/`, the
/// working directory; `fmesh run` reads the same relative path next to the YAML file).
pub fn extras(program: &str, workspace: &Path) -> Vec<Entry> {
    match program {
        "runner" => vec![Entry::File {
            src: workspace.join("examples/wasm/enrich.wat"),
            dest: "wasm/enrich.wat".into(),
            mode: 0o644,
        }],
        _ => Vec::new(),
    }
}

fn cargo_build(workspace: &Path, packages: &[String], release: bool) -> Result<()> {
    let mut args = vec!["build"];
    for package in packages {
        args.extend(["-p", package.as_str(), "--bin", package.as_str()]);
    }
    if release {
        args.push("--release");
    }
    let status = Command::new("cargo")
        .args(&args)
        .current_dir(workspace)
        .status()
        .ctx(|| format!("cargo {}", args.join(" ")))?;
    if !status.success() {
        return Err(Error::Command {
            command: format!("cargo {}", args.join(" ")),
            detail: status.to_string(),
        });
    }
    Ok(())
}

/// Package names of the workspace members, from `cargo metadata`.
fn workspace_packages(workspace: &Path) -> Result<BTreeSet<String>> {
    let out = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(workspace)
        .output()
        .ctx(|| "cargo metadata".to_owned())?;
    if !out.status.success() {
        return Err(Error::Command {
            command: "cargo metadata".into(),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| Error::Command {
            command: "cargo metadata".into(),
            detail: e.to_string(),
        })?;
    Ok(meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_tar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(bytes);
        let entries = archive.entries().expect("tar entries");
        entries
            .map(|e| {
                let mut e = e.expect("tar entry");
                let path = e.path().expect("path").display().to_string();
                let mut data = Vec::new();
                e.read_to_end(&mut data).expect("read entry");
                (path, data)
            })
            .collect()
    }

    #[test]
    fn archive_has_manifest_config_and_layer_with_matching_diff_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spec = ImageSpec::base("fmesh.local/t:dev", &["/bin/t"]);
        spec.entries.push(Entry::Bytes {
            dest: "bin/t".into(),
            data: b"x".to_vec(),
            mode: 0o755,
        });
        spec.entries.push(Entry::Symlink {
            dest: "bin/u".into(),
            target: "t".into(),
        });
        let out = dir.path().join("t.tar");
        spec.write_archive(&out).expect("archive");

        let files = read_tar(&fs::read(&out).expect("read archive"));
        let get = |name: &str| {
            files
                .iter()
                .find(|(p, _)| p == name)
                .map(|(_, d)| d.clone())
        };
        let manifest: serde_json::Value =
            serde_json::from_slice(&get("manifest.json").expect("manifest")).expect("json");
        assert_eq!(manifest[0]["RepoTags"][0], "fmesh.local/t:dev");
        let config_name = manifest[0]["Config"].as_str().expect("config name");
        let config: serde_json::Value =
            serde_json::from_slice(&get(config_name).expect("config")).expect("json");
        assert_eq!(config["config"]["Entrypoint"][0], "/bin/t");
        let layer = get(manifest[0]["Layers"][0].as_str().expect("layer name")).expect("layer");
        let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
        assert_eq!(config["rootfs"]["diff_ids"][0], diff_id.as_str());

        let paths: Vec<String> = read_tar(&layer).into_iter().map(|(p, _)| p).collect();
        for expected in ["bin", "etc", "tmp", "etc/passwd", "bin/t", "bin/u"] {
            assert!(
                paths.iter().any(|p| p.trim_end_matches('/') == expected),
                "{expected} in {paths:?}"
            );
        }
        // Parents come before children so the runtime can unpack in order.
        let bin = paths.iter().position(|p| p.trim_end_matches('/') == "bin");
        let t = paths.iter().position(|p| p == "bin/t");
        assert!(bin < t);
    }

    #[test]
    fn runner_image_ships_the_example_module_named_by_the_mesh() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let runner = extras("runner", &workspace);
        let mesh = fs::read_to_string(workspace.join("examples/mesh.yaml")).expect("mesh");
        for e in &runner {
            let Entry::File { src, dest, .. } = e else {
                panic!("{e:?}")
            };
            assert!(src.is_file(), "{}", src.display());
            // The mesh names it relative to the image's working directory `/`.
            assert!(
                mesh.contains(&format!("module: {dest}")),
                "{dest} not in mesh.yaml"
            );
        }
        assert_eq!(runner.len(), 1);
        assert!(extras("operator", &workspace).is_empty());
    }

    #[test]
    fn static_binary_needs_no_libraries() {
        assert!(
            shared_libraries(Path::new("/bin/busybox"))
                .expect("ldd")
                .is_empty()
        );
    }

    #[test]
    fn dynamic_binary_brings_its_loader_and_libc() {
        let libs = shared_libraries(Path::new("/bin/sh")).expect("ldd");
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
        assert!(
            libs.iter()
                .any(|l| l.to_string_lossy().contains("ld-linux")),
            "{libs:?}"
        );
    }
}
