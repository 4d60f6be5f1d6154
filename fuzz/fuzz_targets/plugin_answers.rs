#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sitelink_fuzz::plugin_answers(data));
