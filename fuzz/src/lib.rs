//! What each fuzz target checks, one function per target taking arbitrary bytes. A function
//! must not panic for any input; it asserts what holds for every input. `cargo fuzz` drives
//! them through `fuzz/libfuzzer` (`bash fuzz/run.sh`); `cargo test` replays the corpus
//! checked in under `fuzz/corpus/<target>`, so every input that once found a bug stays a test.

pub mod broker;
pub mod runner;

/// What a target checks, given one input.
pub type Check = fn(&[u8]);

/// Every target: its name (the corpus directory and the cargo-fuzz binary) and its function.
pub const TARGETS: [(&str, Check); 4] = [
    ("frame_decoder", broker::frame_decoder),
    ("segment_file", broker::segment_file),
    ("cursor_file", broker::cursor_file),
    ("exec_frame", runner::exec_frame),
];
