//! The checked-in CRDs under `manifests/crds/` must be exactly what the types generate.
//! Regenerate with `cargo run -p fmesh-cli -- crds --out manifests/crds`.

use std::path::PathBuf;

fn manifests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/crds")
}

#[test]
fn checked_in_crds_match_the_types() {
    let mut stale = Vec::new();
    for crd in fmesh_crds::crd::all() {
        let name = fmesh_crds::crd::file_name(&crd);
        let generated = serde_saphyr::to_string(&crd).expect("a CRD serializes");
        let path = manifests_dir().join(&name);
        match std::fs::read_to_string(&path) {
            Ok(on_disk) if on_disk == generated => {}
            Ok(_) => stale.push(format!("{name} differs")),
            Err(e) => stale.push(format!("{name}: {e}")),
        }
    }
    assert!(
        stale.is_empty(),
        "manifests/crds is stale ({}); run `cargo run -p fmesh-cli -- crds --out manifests/crds`",
        stale.join(", ")
    );
}
