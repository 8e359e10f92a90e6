#![no_main]
//! Fuzzes the compatibility engine on pairs of schemas of one format.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| covenant_core::fuzzing::compat_pair(data));
