fn main() {
    for crd in fmesh_crds::crd::all() {
        let name = fmesh_crds::crd::file_name(&crd);
        std::fs::write(
            format!("{}/{name}", std::env::args().nth(1).unwrap()),
            serde_saphyr::to_string(&crd).unwrap(),
        )
        .unwrap();
    }
}
