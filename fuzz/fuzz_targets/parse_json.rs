#![no_main]
//! Fuzzes the Json parser (see `covenant_core::fuzzing`).

use covenant_core::schema::SchemaType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| covenant_core::fuzzing::parse(SchemaType::Json, data));
