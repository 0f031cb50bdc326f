#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mqid_core_fuzz::permission_list(data));
