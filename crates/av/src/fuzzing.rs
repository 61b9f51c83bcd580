//! Entry points of the coverage-guided fuzz targets in `fuzz/`, and the
//! replay of their committed corpus as ordinary tests. Not part of the API.
//!
//! Every entry point takes arbitrary bytes and must return without panicking;
//! parse errors are the expected outcome for most inputs.

use std::path::Path;

use bytes::Bytes;

use crate::{AacConfig, H264Config, NalIter};

/// `codec_configs`: an H.264 `AVCDecoderConfigurationRecord` or an AAC
/// `AudioSpecificConfig`, as an RTMP sequence header carries them. The first
/// byte picks the parser (even: H.264, odd: AAC); the rest is the record.
/// Returns whether the record parsed (for the corpus tests).
pub fn codec_config(data: &[u8]) -> bool {
    let Some((&which, record)) = data.split_first() else {
        return false;
    };
    let record = Bytes::copy_from_slice(record);
    if which % 2 == 0 {
        let parsed = H264Config::from_avcc(record.clone());
        if let Ok(config) = &parsed {
            // What the packagers and the API read off a parsed config.
            let _ = config.codec_string();
            for nal in config.sps.iter().chain(&config.pps) {
                assert!(!nal.is_empty(), "parameter sets are never empty");
            }
        }
        // The same bytes as an access unit's 4-byte-length NAL units.
        let mut covered = 0;
        for nal in NalIter::new(&record) {
            covered += 4 + nal.len();
        }
        assert!(covered <= record.len(), "NAL units stay inside the buffer");
        parsed.is_ok()
    } else {
        let Ok(config) = AacConfig::from_asc(record) else {
            return false;
        };
        let _ = config.codec_string();
        let header = config.adts_header(usize::from(u16::MAX) / 8);
        assert_eq!(header[0], 0xff, "ADTS sync word");
        true
    }
}

/// Runs `target` on every file of `fuzz/seeds/{name}`,
/// `fuzz/corpus/{name}` and `fuzz/regressions/{name}` under `fuzz_dir`, in
/// name order, and returns how many inputs it replayed. Panics (failing the calling test) if `target`
/// panics, naming the input.
pub fn replay_corpus<T>(fuzz_dir: &Path, name: &str, target: impl Fn(&[u8]) -> T) -> usize {
    let mut files = Vec::new();
    for sub in ["seeds", "corpus", "regressions"] {
        let dir = fuzz_dir.join(sub).join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable corpus directory").path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in &files {
        // A running fuzzer may have removed it since the listing.
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(target(&data))));
        if run.is_err() {
            panic!("fuzz target {name} panicked on {}", path.display());
        }
    }
    files.len()
}
