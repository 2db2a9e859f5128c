#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fmesh_broker::fuzz::frame_decoder(data));
