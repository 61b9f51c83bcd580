//! HLS origin request input: query parameters, LL-HLS directives, part
//! names, playback tokens. See `api::fuzzing::hls_query`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    api::fuzzing::hls_query(data);
});
