#![no_main]
//! Fuzzes what requests carry: path identifiers and JSON bodies.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| covenant_core::fuzzing::request(data));
