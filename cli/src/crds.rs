//! `fmesh crds`: the CustomResourceDefinitions generated from `fmesh_crds`, printed as one
//! multi-document YAML stream or written one file each (what `manifests/crds/` holds).

use std::fs;
use std::path::Path;

use anyhow::Context as _;

/// Every CRD as YAML, with the file name it is checked in under.
pub fn rendered() -> anyhow::Result<Vec<(String, String)>> {
    fmesh_crds::crd::all()
        .iter()
        .map(|crd| {
            let name = fmesh_crds::crd::file_name(crd);
            let yaml =
                serde_saphyr::to_string(crd).with_context(|| format!("serializing {name}"))?;
            Ok((name, yaml))
        })
        .collect()
}

/// All CRDs as one stream, each document introduced by `---`.
pub fn stream(crds: &[(String, String)]) -> String {
    crds.iter()
        .map(|(_, yaml)| format!("---\n{yaml}"))
        .collect()
}

/// Writes each CRD to `dir/<file_name>`, creating `dir` if needed; returns the paths written.
pub fn write_all(dir: &Path, crds: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crds.iter()
        .map(|(name, yaml)| {
            let path = dir.join(name);
            fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
            Ok(path.display().to_string())
        })
        .collect()
}
