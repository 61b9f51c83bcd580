//! FLV tags through the demuxer and both segmenters. See
//! `packager::testutil::fuzz_flv_tags`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    packager::testutil::fuzz_flv_tags(data);
});
