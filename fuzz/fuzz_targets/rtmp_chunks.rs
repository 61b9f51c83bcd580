//! The RTMP chunk reader alone: messages reassembled from chunks split
//! anywhere, checked to be the same whether the input arrives whole or in
//! pieces. See `ingest::fuzzing::rtmp_chunks`. Its input has the same form
//! as `rtmp_session`'s, so that target's corpus serves this one too:
//! `cargo fuzz run rtmp_chunks corpus/rtmp_chunks seeds/rtmp_chunks corpus/rtmp_session`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ingest::fuzzing::rtmp_chunks(data);
});
