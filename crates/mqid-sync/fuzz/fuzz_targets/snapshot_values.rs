#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mqid_sync_fuzz::snapshot_values(data));
