#![no_main]
//! Fuzzes the wire-format decoder.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| covenant_core::fuzzing::wire(data));
