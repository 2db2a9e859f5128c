//! Function Mesh's runner images, built without Docker: the layout of
//! `streamnative/pulsar-functions-java-runner` (Function Mesh's `images/`: `/pulsar/{bin,conf,
//! lib,instances,connectors,logs,tmp,examples}`, user `pulsar` 10000:10001, working directory
//! `/pulsar`) with Debian's OpenJDK 17 JRE and Pulsar's Java instance from Maven Central, and a
//! sample image on top of it, as Function Mesh's `java-function-samples` and connector sample
//! images are: the example functions at `/pulsar/examples/api-examples.jar`, connector NARs in
//! `/pulsar/connectors/`.
//!
//! The Pulsar parts are resolved once into `<cache>/java-runner/<version>/` from
//! `e2e/runners/pom.xml` and `e2e/runners/connector.xml`; images are rebuilt only when an
//! input changed ([`images::build_and_import_cached`]).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, IoContext, Result};
use crate::images::{self, Entry, ImageSpec};
use crate::layout::Layout;
use crate::process;

/// The Pulsar release of the Java instance: the newest whose `java-instance.jar`
/// (`pulsar-functions-runtime-all`) and example functions Maven Central serves here (4.2.x
/// publishes neither).
pub const PULSAR_VERSION: &str = "4.0.8";
/// Function Mesh's Java runner image, built here.
pub const JAVA_RUNNER: &str = "fmesh.local/pulsar-functions-java-runner:4.0.8";
/// The Java runner plus the example functions and two connector NARs (Function Mesh's
/// `pulsar-functions-java-sample` and connector sample images in one).
pub const JAVA_SAMPLE: &str = "fmesh.local/pulsar-functions-java-sample:4.0.8";
/// The example functions jar in [`JAVA_SAMPLE`] (where Pulsar's distribution puts it).
pub const EXAMPLES_JAR: &str = "/pulsar/examples/api-examples.jar";
/// The connectors baked into [`JAVA_SAMPLE`], each at `/pulsar/connectors/<artifact>.nar`.
pub const CONNECTORS: [&str; 2] = ["pulsar-io-data-generator", "pulsar-io-http"];
/// The image user (Function Mesh's base runner).
pub const UID: u64 = 10000;
/// The image user's group.
pub const GID: u64 = 10001;
/// Debian's headless JRE package copied into the Java runner image.
const JRE_PACKAGE: &str = "openjdk-17-jre-headless";
const JAVA_HOME: &str = "/usr/lib/jvm/java-17-openjdk-amd64";
const COMPLETE: &str = ".complete";

const RUNNER_POM: &str = include_str!("../runners/pom.xml");
const CONNECTOR_POM: &str = include_str!("../runners/connector.xml");
const NAR_DESCRIPTOR: &str = include_str!("../runners/nar.xml");

/// Where the resolved Pulsar parts are cached.
pub fn cache_dir(cache_root: &Path) -> PathBuf {
    cache_root.join("java-runner").join(PULSAR_VERSION)
}

/// Resolves the instance, its libraries, the examples and the connector NARs into
/// [`cache_dir`] unless a complete copy is there.
pub fn resolve(cache_root: &Path) -> Result<PathBuf> {
    let dir = cache_dir(cache_root);
    if dir.join(COMPLETE).exists() {
        return Ok(dir);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).ctx(|| format!("remove the partial {}", dir.display()))?;
    }
    let poms = dir.join("poms");
    fs::create_dir_all(&poms).ctx(|| format!("create {}", poms.display()))?;
    for (name, text) in [
        ("pom.xml", RUNNER_POM),
        ("connector.xml", CONNECTOR_POM),
        ("nar.xml", NAR_DESCRIPTOR),
    ] {
        let path = poms.join(name);
        fs::write(&path, text).ctx(|| format!("write {}", path.display()))?;
    }
    let out = format!("-Dout={}", dir.display());
    let version = format!("-Dpulsar.version={PULSAR_VERSION}");
    let pom = poms.join("pom.xml").display().to_string();
    maven(
        &dir,
        &[
            "-f",
            &pom,
            &out,
            &version,
            "dependency:copy-dependencies@lib",
            "dependency:copy@instance",
            "dependency:copy@examples",
        ],
    )?;
    let connector_pom = poms.join("connector.xml").display().to_string();
    let connectors = format!("-Dout={}", dir.join("connectors").display());
    for connector in CONNECTORS {
        let c = format!("-Dconnector={connector}");
        maven(
            &dir,
            &[
                "-f",
                &connector_pom,
                &connectors,
                &version,
                &c,
                "assembly:single@nar",
            ],
        )?;
    }
    fs::write(dir.join(COMPLETE), PULSAR_VERSION)
        .ctx(|| format!("write {}", dir.join(COMPLETE).display()))?;
    Ok(dir)
}

/// Runs `mvn -q -B ARGS`, its output in `<dir>/resolve.log`; a failure names the log's end.
fn maven(dir: &Path, args: &[&str]) -> Result<()> {
    let log = dir.join("resolve.log");
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .ctx(|| format!("open {}", log.display()))?;
    let err = out.try_clone().ctx(|| format!("dup {}", log.display()))?;
    let shown = format!("mvn -B {}", args.join(" "));
    tracing::info!(command = %shown, "resolving from Maven Central");
    let status = Command::new("mvn")
        .arg("-B")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| Error::Command {
            command: shown.clone(),
            detail: format!("{e} (is Maven installed? scripts/install-deps.sh installs it)"),
        })?;
    if !status.success() {
        return Err(Error::Command {
            command: shown,
            detail: format!(
                "{status}; end of {}:\n{}",
                log.display(),
                process::log_tail(&log, 20)
            ),
        });
    }
    Ok(())
}

/// The Java runner image: busybox's shell, Debian's JRE with its shared libraries, and
/// Pulsar's Java instance at Function Mesh's paths.
pub fn java_runner(resolved: &Path) -> Result<ImageSpec> {
    let mut spec = runner_base(JAVA_RUNNER)?;
    spec.entries.extend(jre()?);
    spec.entries.push(Entry::File {
        src: resolved.join("instances/java-instance.jar"),
        dest: "pulsar/instances/java-instance.jar".into(),
        mode: 0o644,
    });
    let lib = resolved.join("lib");
    for jar in sorted_files(&lib)? {
        let name = file_name(&jar);
        spec.entries.push(Entry::File {
            dest: format!("pulsar/lib/{name}"),
            src: jar,
            mode: 0o644,
        });
    }
    // Function Mesh's Java runner copies these two from lib/ into instances/deps.
    for (prefix, dest) in [
        (
            "com.fasterxml.jackson.dataformat.jackson-dataformat-yaml-",
            "dataformat-jackson-dataformat-yaml.jar",
        ),
        ("org.yaml.snakeyaml-", "org.yaml-snakeyaml.jar"),
    ] {
        if let Some(src) = sorted_files(&lib)?
            .into_iter()
            .find(|p| file_name(p).starts_with(prefix))
        {
            spec.entries.push(Entry::File {
                src,
                dest: format!("pulsar/instances/deps/{dest}"),
                mode: 0o644,
            });
        }
    }
    Ok(spec)
}

/// The sample image: the Java runner's entries plus the examples and connector NARs.
pub fn java_sample(runner: &ImageSpec, resolved: &Path) -> ImageSpec {
    let mut spec = runner.clone();
    spec.reference = JAVA_SAMPLE.into();
    spec.entries.push(Entry::File {
        src: resolved.join("examples/api-examples.jar"),
        dest: EXAMPLES_JAR.trim_start_matches('/').into(),
        mode: 0o644,
    });
    for connector in CONNECTORS {
        spec.entries.push(Entry::File {
            src: resolved.join(format!("connectors/{connector}.zip")),
            dest: format!("pulsar/connectors/{connector}.nar"),
            mode: 0o644,
        });
    }
    spec
}

/// Function Mesh's base runner layout: user `pulsar`, `/pulsar/...` owned by it, a shell.
fn runner_base(reference: &str) -> Result<ImageSpec> {
    let mut spec = ImageSpec::base(reference, &["/bin/sh"]);
    spec.entries
        .retain(|e| !matches!(e, Entry::Bytes { dest, .. } if dest.starts_with("etc/")));
    spec.entries.push(Entry::Bytes {
        dest: "etc/passwd".into(),
        data: format!(
            "root:x:0:0:root:/root:/bin/sh\npulsar:x:{UID}:{GID}::/pulsar:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        )
        .into_bytes(),
        mode: 0o644,
    });
    spec.entries.push(Entry::Bytes {
        dest: "etc/group".into(),
        data: format!("root:x:0:\npulsar:x:{GID}:\nnogroup:x:65534:\n").into_bytes(),
        mode: 0o644,
    });
    spec.entries.push(Entry::Dir {
        dest: "tmp".into(),
        mode: 0o1777,
        uid: 0,
        gid: 0,
    });
    for dir in [
        "pulsar",
        "pulsar/bin",
        "pulsar/lib",
        "pulsar/conf",
        "pulsar/instances",
        "pulsar/instances/deps",
        "pulsar/connectors",
        "pulsar/logs",
        "pulsar/tmp",
        "pulsar/examples",
    ] {
        // g=u as in Function Mesh's image: any uid in the group can write (the operator's
        // default pod user is 10000 with group 10000).
        spec.entries.push(Entry::Dir {
            dest: dir.into(),
            mode: 0o777,
            uid: UID,
            gid: GID,
        });
    }
    spec.entries.extend(images::busybox()?);
    spec.user = Some(format!("{UID}"));
    spec.working_dir = "/pulsar".into();
    spec.env = vec![
        format!("JAVA_HOME={JAVA_HOME}"),
        "PULSAR_ROOT_LOGGER=INFO,CONSOLE".into(),
    ];
    Ok(spec)
}

/// Debian's headless JRE (the files `dpkg -L` lists under its JVM directory and `/etc`, links
/// followed) with every shared library its executables and libraries need, and `java` on PATH.
fn jre() -> Result<Vec<Entry>> {
    let listed = process::run("dpkg", &["-L", JRE_PACKAGE]).map_err(|e| Error::Image {
        image: JAVA_RUNNER.into(),
        detail: format!("{e} (install it: apt-get install {JRE_PACKAGE})"),
    })?;
    let mut entries = Vec::new();
    let mut elves = Vec::new();
    for path in listed.lines().map(Path::new) {
        let keep = path.starts_with(JAVA_HOME) || path.starts_with("/etc/java-17-openjdk");
        // A dangling link (e.g. cacerts before ca-certificates-java ran) is left out.
        let Ok(meta) = fs::metadata(path) else {
            continue;
        };
        if !keep || !meta.is_file() {
            continue;
        }
        let executable = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
        let name = file_name(path);
        if executable || name.ends_with(".so") {
            elves.push(path.to_path_buf());
        }
        entries.push(Entry::File {
            src: path.to_path_buf(),
            dest: rel(path),
            mode: if executable { 0o755 } else { 0o644 },
        });
    }
    let mut libraries = BTreeSet::new();
    for elf in &elves {
        libraries.extend(
            images::shared_libraries(elf)?
                .into_iter()
                .filter(|l| !l.starts_with(JAVA_HOME)),
        );
    }
    for lib in libraries {
        entries.push(Entry::File {
            dest: rel(&lib),
            src: lib,
            mode: 0o755,
        });
    }
    entries.push(Entry::Symlink {
        dest: "usr/bin/java".into(),
        target: format!("{JAVA_HOME}/bin/java"),
    });
    Ok(entries)
}

fn rel(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches('/').to_owned()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .ctx(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// What [`build`] did for one image.
#[derive(Debug)]
pub struct Built {
    /// The image reference.
    pub reference: String,
    /// Whether it was (re)built, rather than found unchanged.
    pub rebuilt: bool,
}

/// Resolves (once) and builds the runner images into containerd.
pub fn build(layout: &Layout, cache_root: &Path) -> Result<Vec<Built>> {
    let resolved = resolve(cache_root)?;
    let runner = java_runner(&resolved)?;
    let sample = java_sample(&runner, &resolved);
    let mut built = Vec::new();
    for spec in [&runner, &sample] {
        let rebuilt = images::build_and_import_cached(layout, spec)?;
        built.push(Built {
            reference: spec.reference.clone(),
            rebuilt,
        });
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_layout_is_function_meshs() {
        let spec = runner_base(JAVA_RUNNER).expect("base");
        assert_eq!(spec.working_dir, "/pulsar");
        assert_eq!(spec.user.as_deref(), Some("10000"));
        let owned: Vec<&str> = spec
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Dir { dest, uid, gid, .. } if (*uid, *gid) == (UID, GID) => {
                    Some(dest.as_str())
                }
                _ => None,
            })
            .collect();
        for dir in [
            "pulsar/lib",
            "pulsar/instances",
            "pulsar/logs",
            "pulsar/conf",
        ] {
            assert!(owned.contains(&dir), "{dir} owned by pulsar in {owned:?}");
        }
        assert!(
            spec.entries
                .iter()
                .any(|e| matches!(e, Entry::Symlink { dest, .. } if dest == "bin/sh")),
            "the instance command runs through sh -c"
        );
    }

    #[test]
    fn jre_brings_java_and_its_libraries() {
        let entries = jre().expect("Debian's JRE is installed here");
        let dests: Vec<&str> = entries
            .iter()
            .map(|e| match e {
                Entry::File { dest, .. } | Entry::Symlink { dest, .. } => dest.as_str(),
                _ => "",
            })
            .collect();
        assert!(dests.contains(&"usr/lib/jvm/java-17-openjdk-amd64/bin/java"));
        assert!(dests.contains(&"usr/lib/jvm/java-17-openjdk-amd64/lib/modules"));
        assert!(dests.contains(&"usr/bin/java"));
        assert!(dests.iter().any(|d| d.contains("libz.so")), "{dests:?}");
        // jvm.cfg is a link into /etc: the layer holds the file, not a dangling link.
        assert!(entries.iter().any(|e| matches!(e,
            Entry::File { dest, .. } if dest.ends_with("lib/jvm.cfg"))));
    }
}
