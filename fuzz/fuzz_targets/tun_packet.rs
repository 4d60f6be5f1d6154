#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sitelink_fuzz::tun_packet(data));
