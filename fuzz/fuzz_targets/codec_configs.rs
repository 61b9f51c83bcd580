//! H.264 AVCDecoderConfigurationRecord (SPS/PPS) and AAC
//! AudioSpecificConfig parsers. See `av::fuzzing::codec_config`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    av::fuzzing::codec_config(data);
});
