//! RTMP chunk stream, AMF0 commands and FLV media through ingest's protocol
//! core. See `ingest::fuzzing::rtmp_session`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // rml_rtmp panics on some malformed messages; `Connection::push`
        // catches that and closes the connection, which is the behaviour
        // under test. libFuzzer's hook would abort on the caught panic, so it
        // is replaced by a silent one: a panic that escapes the target still
        // aborts (libfuzzer-sys catches it and calls abort).
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        ingest::fuzzing::rtmp_session(data);
    }
);
