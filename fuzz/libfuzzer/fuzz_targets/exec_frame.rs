#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fmesh_fuzz::runner::exec_frame(data));
