//! The fuzz corpus (broker/fuzz/corpus, grown by `cargo fuzz`) as regression tests: every
//! input runs through the same entry point its fuzz target calls.

use std::path::Path;

fn run_corpus(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for f in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = f.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
        n += 1;
    }
    println!("{target}: {n} corpus inputs");
    assert!(n > 0, "no corpus for {target} in {}", dir.display());
}

#[test]
fn frame_decoder_corpus() {
    run_corpus("frame_decoder", fmesh_broker::fuzz::frame_decoder);
}

#[test]
fn segment_file_corpus() {
    run_corpus("segment_file", fmesh_broker::fuzz::segment_file);
}

#[test]
fn cursor_file_corpus() {
    run_corpus("cursor_file", fmesh_broker::fuzz::cursor_file);
}
