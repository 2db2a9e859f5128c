//! The checked-in corpus of every fuzz target, replayed.

use std::path::Path;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, check) in fmesh_fuzz::TARGETS {
        let dir = root.join(target);
        let mut n = 0;
        for f in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = f.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target} fails on {}", path.display());
            n += 1;
        }
        println!("{target}: {n} corpus inputs");
        assert!(n > 0, "no corpus for {target} in {}", dir.display());
    }
}
