#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mqid_core_fuzz::topic_rules(data));
