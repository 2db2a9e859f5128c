//! Package registry behind `/admin/v3/packages/…`: what
//! `function://tenant/ns/name@version` package URLs resolve against.
//!
//! Layout: `DATA/packages/<type>/<tenant>/<ns>/<name>/<version>/{data,metadata.json}`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{BrokerError, Result};

/// Package kinds Pulsar knows.
const TYPES: [&str; 3] = ["function", "sink", "source"];

/// A parsed package name, e.g. `function://public/default/wordcount@v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageName {
    /// `function`, `sink` or `source`.
    pub kind: String,
    /// Tenant.
    pub tenant: String,
    /// Namespace.
    pub namespace: String,
    /// Package name.
    pub name: String,
    /// Version (`latest` when the URL names none).
    pub version: String,
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.=".contains(c))
}

impl PackageName {
    /// Parses a package URL.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = || BrokerError::NotFound(format!("invalid package name {url:?}"));
        let (kind, rest) = url.split_once("://").ok_or_else(bad)?;
        let (path, version) = rest.split_once('@').unwrap_or((rest, "latest"));
        let parts: Vec<&str> = path.split('/').collect();
        let [tenant, namespace, name] = parts.as_slice() else {
            return Err(bad());
        };
        PackageName::new(kind, tenant, namespace, name, version).ok_or_else(bad)
    }

    /// Builds a name from its parts, refusing anything unsafe as a path.
    pub fn new(
        kind: &str,
        tenant: &str,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Option<Self> {
        let ok = TYPES.contains(&kind)
            && [tenant, namespace, name, version]
                .iter()
                .all(|p| valid_part(p));
        ok.then(|| PackageName {
            kind: kind.into(),
            tenant: tenant.into(),
            namespace: namespace.into(),
            name: name.into(),
            version: version.into(),
        })
    }

    fn dir(&self, root: &Path) -> PathBuf {
        root.join(&self.kind)
            .join(&self.tenant)
            .join(&self.namespace)
            .join(&self.name)
            .join(&self.version)
    }
}

impl std::fmt::Display for PackageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}/{}/{}@{}",
            self.kind, self.tenant, self.namespace, self.name, self.version
        )
    }
}

/// Package metadata in Pulsar's JSON shape.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct PackageMetadata {
    /// Free text.
    pub description: String,
    /// Who to ask.
    pub contact: String,
    /// Upload time (ms since epoch), set by the registry.
    pub create_time: u64,
    /// Last metadata change (ms since epoch).
    pub modification_time: u64,
    /// User properties.
    pub properties: std::collections::BTreeMap<String, String>,
}

/// The registry rooted at a directory.
#[derive(Debug, Clone)]
pub struct PackageStore {
    root: PathBuf,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| BrokerError::io(path, e))
}

impl PackageStore {
    /// A store under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PackageStore { root: root.into() }
    }

    /// Stores a package version; refuses to overwrite an existing one.
    pub fn upload(&self, pkg: &PackageName, data: &[u8], meta: PackageMetadata) -> Result<()> {
        let staged = self.stage(pkg)?;
        std::fs::write(&staged, data).map_err(|e| BrokerError::io(&staged, e))?;
        self.commit(pkg, &staged, meta)
    }

    /// Where an upload of `pkg` is written before [`PackageStore::commit`]
    /// (a file of its own, so concurrent uploads never mix). Refuses an existing version.
    pub fn stage(&self, pkg: &PackageName) -> Result<PathBuf> {
        let dir = pkg.dir(&self.root);
        if dir.join("data").exists() {
            return Err(BrokerError::ProducerBusy(format!(
                "package {pkg} already exists"
            )));
        }
        std::fs::create_dir_all(&dir).map_err(|e| BrokerError::io(&dir, e))?;
        static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(dir.join(format!("upload-{}-{n}.tmp", std::process::id())))
    }

    /// Makes a staged upload the version's data (durably), with its metadata.
    pub fn commit(
        &self,
        pkg: &PackageName,
        staged: &Path,
        mut meta: PackageMetadata,
    ) -> Result<()> {
        let data = pkg.dir(&self.root).join("data");
        let result = (|| {
            if data.exists() {
                return Err(BrokerError::ProducerBusy(format!(
                    "package {pkg} already exists"
                )));
            }
            std::fs::File::open(staged)
                .and_then(|f| f.sync_all())
                .and_then(|()| std::fs::rename(staged, &data))
                .map_err(|e| BrokerError::io(&data, e))?;
            meta.create_time = now_ms();
            meta.modification_time = meta.create_time;
            self.write_meta(pkg, &meta)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(staged);
        }
        result
    }

    fn write_meta(&self, pkg: &PackageName, meta: &PackageMetadata) -> Result<()> {
        let body =
            serde_json::to_vec_pretty(meta).map_err(|e| BrokerError::Corrupt(e.to_string()))?;
        write_atomic(&pkg.dir(&self.root).join("metadata.json"), &body)
    }

    /// The file holding a package version's bytes.
    pub fn data_path(&self, pkg: &PackageName) -> Result<PathBuf> {
        let path = pkg.dir(&self.root).join("data");
        if path.is_file() {
            Ok(path)
        } else {
            Err(BrokerError::NotFound(format!("package {pkg} not found")))
        }
    }

    /// The bytes of a package version.
    pub fn download(&self, pkg: &PackageName) -> Result<Vec<u8>> {
        let path = self.data_path(pkg)?;
        std::fs::read(&path).map_err(|e| BrokerError::io(&path, e))
    }

    /// Metadata of a package version.
    pub fn metadata(&self, pkg: &PackageName) -> Result<PackageMetadata> {
        let path = pkg.dir(&self.root).join("metadata.json");
        let raw = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                BrokerError::NotFound(format!("package {pkg} not found"))
            }
            _ => BrokerError::io(&path, e),
        })?;
        serde_json::from_slice(&raw).map_err(|e| BrokerError::Corrupt(e.to_string()))
    }

    /// Replaces the metadata of an existing version.
    pub fn update_metadata(&self, pkg: &PackageName, mut meta: PackageMetadata) -> Result<()> {
        let old = self.metadata(pkg)?;
        meta.create_time = old.create_time;
        meta.modification_time = now_ms();
        self.write_meta(pkg, &meta)
    }

    /// Deletes a version.
    pub fn delete(&self, pkg: &PackageName) -> Result<()> {
        let dir = pkg.dir(&self.root);
        if !dir.exists() {
            return Err(BrokerError::NotFound(format!("package {pkg} not found")));
        }
        std::fs::remove_dir_all(&dir).map_err(|e| BrokerError::io(&dir, e))
    }

    /// Versions of a package.
    pub fn versions(&self, kind: &str, tenant: &str, ns: &str, name: &str) -> Result<Vec<String>> {
        let pkg = PackageName::new(kind, tenant, ns, name, "x")
            .ok_or_else(|| BrokerError::NotFound("invalid package".into()))?;
        list_dirs(&pkg.dir(&self.root).with_file_name(""))
    }

    /// Package names of a namespace: bare names, as Apache Pulsar lists them.
    pub fn packages(&self, kind: &str, tenant: &str, ns: &str) -> Result<Vec<String>> {
        let pkg = PackageName::new(kind, tenant, ns, "x", "x")
            .ok_or_else(|| BrokerError::NotFound("invalid namespace".into()))?;
        let dir = self
            .root
            .join(&pkg.kind)
            .join(&pkg.tenant)
            .join(&pkg.namespace);
        list_dirs(&dir)
    }
}

fn list_dirs(dir: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BrokerError::io(dir, e)),
    };
    let mut out: Vec<String> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_urls_parse_and_refuse_traversal() {
        let p = PackageName::parse("function://public/default/wc@v1").unwrap();
        assert_eq!(
            (p.kind.as_str(), p.name.as_str(), p.version.as_str()),
            ("function", "wc", "v1")
        );
        assert_eq!(p.to_string(), "function://public/default/wc@v1");
        assert_eq!(
            PackageName::parse("sink://a/b/c").unwrap().version,
            "latest"
        );
        for bad in [
            "function://a/b/../c@v",
            "jar://a/b/c@v",
            "function://a/b@v",
            "function://a/b/c@..",
        ] {
            assert!(PackageName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upload_download_metadata_versions() {
        let dir = tempfile::tempdir().unwrap();
        let s = PackageStore::new(dir.path());
        let v1 = PackageName::parse("function://t/n/wc@v1").unwrap();
        let v2 = PackageName::parse("function://t/n/wc@v2").unwrap();
        s.upload(
            &v1,
            b"one",
            PackageMetadata {
                description: "d".into(),
                ..Default::default()
            },
        )
        .unwrap();
        s.upload(&v2, b"two", PackageMetadata::default()).unwrap();
        assert!(s.upload(&v1, b"again", PackageMetadata::default()).is_err());
        assert_eq!(s.download(&v1).unwrap(), b"one");
        assert_eq!(s.metadata(&v1).unwrap().description, "d");
        assert_eq!(
            s.versions("function", "t", "n", "wc").unwrap(),
            vec!["v1", "v2"]
        );
        assert_eq!(s.packages("function", "t", "n").unwrap(), vec!["wc"]);
        s.delete(&v1).unwrap();
        assert!(s.download(&v1).is_err());
    }
}
