//! Helpers shared by the crate's unit tests, its integration tests, benches
//! and fuzz targets. Not part of the API: no stability, and the helpers panic
//! on broken fixtures.

pub mod fmp4;
pub mod ts;

use av::flv::FileReader;
use av::{AccessUnit, DemuxEvent, FlvDemuxer, MediaInfo};
use bytes::Bytes;

/// What the TS muxer adds to every timestamp (90 kHz ticks), so tests can
/// map PTS read back from a segment onto the source timeline.
pub const TS_TIMESTAMP_OFFSET: av::Time90k = crate::ts::TIMESTAMP_OFFSET;

/// 2 s of 320x180 30 fps H.264 High with B-frames (GOP 30) + AAC 48 kHz
/// stereo; the `av` crate's fixture.
pub const FLV_320X180_BFRAMES_AAC: &[u8] =
    include_bytes!("../../../av/testdata/ffmpeg_320x180_bframes_aac.flv");

/// 6 s of 192x108 29.97 fps H.264 High with B-frames (GOP 30) + AAC 44.1 kHz
/// stereo; see `testdata/README.md`.
pub const FLV_192X108_2997FPS_BFRAMES_AAC44K: &[u8] =
    include_bytes!("../../testdata/ffmpeg_192x108_2997fps_bframes_aac44k.flv");

/// Demuxes a whole FLV file into its final codec configuration and its
/// access units in file order.
pub fn demux_flv(flv: Bytes) -> Result<(MediaInfo, Vec<AccessUnit>), av::Error> {
    let mut demuxer = FlvDemuxer::new();
    let mut units = Vec::new();
    for tag in FileReader::new(flv)? {
        let tag = tag?;
        if let Some(DemuxEvent::Unit(au)) = demuxer.push(tag.kind, tag.timestamp_ms, tag.body)? {
            units.push(au);
        }
    }
    Ok((demuxer.media_info().clone(), units))
}

/// Demuxes a committed fixture.
pub fn demux_fixture(flv: &'static [u8]) -> (MediaInfo, Vec<AccessUnit>) {
    demux_flv(Bytes::from_static(flv)).expect("committed fixture demuxes")
}

/// H.264 + AAC configuration of [`FLV_320X180_BFRAMES_AAC`].
pub fn media_info_av() -> MediaInfo {
    demux_fixture(FLV_320X180_BFRAMES_AAC).0
}

/// The video half of [`media_info_av`].
pub fn media_info_video() -> MediaInfo {
    MediaInfo {
        audio: None,
        ..media_info_av()
    }
}

/// The audio half of [`media_info_av`].
pub fn media_info_audio() -> MediaInfo {
    MediaInfo {
        video: None,
        ..media_info_av()
    }
}

/// `flv_tags` fuzz target: an FLV file (header, then tags) through the demuxer
/// that RTMP ingest uses, and every access unit into an MPEG-TS segmenter
/// and an fMP4 segmenter with LL-HLS parts, as a live stream would be
/// packaged. A new codec configuration starts new segmenters, as it does in
/// a live stream. Returns without panicking on any input, with the number
/// of media segments made (for the corpus tests: a seed must reach the
/// segmenters).
pub fn fuzz_flv_tags(data: &[u8]) -> usize {
    use crate::{Output, SegmentFormat, Segmenter, SegmenterConfig};
    use av::Time90k;

    let Ok(reader) = FileReader::new(Bytes::copy_from_slice(data)) else {
        return 0;
    };
    let mut segments = 0;
    let configs = [
        SegmenterConfig::default(),
        SegmenterConfig {
            format: SegmentFormat::Fmp4,
            part_target: Some(Time90k::from_millis(200)),
            target_duration: Time90k::from_millis(1000),
        },
    ];
    let mut demuxer = FlvDemuxer::new();
    let mut segmenters: Vec<(Segmenter, Option<u64>)> = Vec::new();
    let mut drain = |segmenters: &mut Vec<(Segmenter, Option<u64>)>| {
        for (segmenter, last) in segmenters.iter_mut() {
            while let Some(output) = segmenter.pull() {
                if let Output::Segment(segment) = output {
                    if let Some(previous) = *last {
                        assert_eq!(
                            segment.sequence,
                            previous + 1,
                            "sequence numbers are consecutive"
                        );
                    }
                    *last = Some(segment.sequence);
                    segments += 1;
                    segmenter.recycle(segment);
                }
            }
        }
    };
    // Bounded like a live stream's message queue: a fuzz input is small anyway.
    for tag in reader.take(4096) {
        let Ok(tag) = tag else { break };
        match demuxer.push(tag.kind, tag.timestamp_ms, tag.body) {
            Ok(Some(DemuxEvent::Unit(au))) => {
                if segmenters.is_empty() {
                    let info = demuxer.media_info().clone();
                    segmenters = configs
                        .iter()
                        .map(|c| (Segmenter::new(info.clone(), c.clone(), 0), None))
                        .collect();
                }
                for (segmenter, _) in segmenters.iter_mut() {
                    let _ = segmenter.push(au.clone());
                }
                drain(&mut segmenters);
            }
            Ok(Some(DemuxEvent::VideoConfig(_) | DemuxEvent::AudioConfig(_))) => {
                for (segmenter, _) in segmenters.iter_mut() {
                    segmenter.finish();
                }
                drain(&mut segmenters);
                segmenters.clear();
            }
            Ok(_) => {}
            // A live stream logs a bad tag and carries on.
            Err(_) => {}
        }
    }
    for (segmenter, _) in segmenters.iter_mut() {
        segmenter.finish();
    }
    drain(&mut segmenters);
    segments
}
