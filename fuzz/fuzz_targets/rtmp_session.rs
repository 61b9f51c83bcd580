//! RTMP chunk stream, AMF0 commands and FLV media through ingest's protocol
//! core (our own chunk reader and session). See
//! `ingest::fuzzing::rtmp_session`. Any panic is a bug: nothing in the core
//! may panic on what a client sends.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ingest::fuzzing::rtmp_session(data);
});
