//! FLV tag bodies → access units and codec configurations.
//!
//! Shared by RTMP ingest (tag bodies from audio/video messages) and file
//! remuxing (tags from an FLV file). Handles the 32-bit millisecond clock
//! wrapping, composition time offsets, and NAL length normalization.

use bytes::Bytes;

use crate::flv::{self, AudioTag, TagKind, VideoTag};
use crate::h264::normalize_avcc;
use crate::{AacConfig, AccessUnit, H264Config, MediaInfo, Result, Time90k, TrackKind};

/// What one tag produced.
#[derive(Clone, Debug, PartialEq)]
pub enum DemuxEvent {
    /// A new or changed H.264 configuration (a repeated identical sequence
    /// header produces nothing).
    VideoConfig(H264Config),
    /// A new or changed AAC configuration.
    AudioConfig(AacConfig),
    Unit(AccessUnit),
}

/// Extends RTMP's 32-bit millisecond timestamps to 64 bits.
///
/// Consecutive timestamps are treated as a signed 32-bit step from the
/// previous one, so a wrap after 49.7 days continues forward and a small
/// backward step (audio/video interleaving) stays backward.
#[derive(Debug, Default)]
struct MsClock {
    last: Option<(u32, i64)>,
}

impl MsClock {
    fn extend(&mut self, ts: u32) -> i64 {
        let ext = match self.last {
            None => i64::from(ts),
            Some((raw, ext)) => ext + i64::from(ts.wrapping_sub(raw) as i32),
        };
        self.last = Some((ts, ext));
        ext
    }
}

/// Turns FLV audio and video tag bodies into [`DemuxEvent`]s.
#[derive(Debug, Default)]
pub struct FlvDemuxer {
    info: MediaInfo,
    clock: MsClock,
    /// Frames dropped because they arrived before their sequence header.
    dropped_before_config: u64,
}

impl FlvDemuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The codec configurations seen so far.
    pub fn media_info(&self) -> &MediaInfo {
        &self.info
    }

    pub fn dropped_before_config(&self) -> u64 {
        self.dropped_before_config
    }

    /// Consumes one tag body. Script tags are ignored (metadata is advisory;
    /// the sequence headers are authoritative).
    pub fn push(
        &mut self,
        kind: TagKind,
        timestamp_ms: u32,
        body: Bytes,
    ) -> Result<Option<DemuxEvent>> {
        match kind {
            TagKind::Video => self.push_video(timestamp_ms, body),
            TagKind::Audio => self.push_audio(timestamp_ms, body),
            TagKind::Script => Ok(None),
        }
    }

    pub fn push_video(&mut self, timestamp_ms: u32, body: Bytes) -> Result<Option<DemuxEvent>> {
        match flv::parse_video(&body)? {
            VideoTag::AvcSequenceHeader(avcc) => {
                if self.info.video.as_ref().is_some_and(|v| v.avcc == avcc) {
                    return Ok(None);
                }
                let config = H264Config::from_avcc(avcc)?;
                self.info.video = Some(config.clone());
                Ok(Some(DemuxEvent::VideoConfig(config)))
            }
            VideoTag::AvcFrame {
                keyframe,
                composition_time_ms,
                data,
            } => {
                let Some(config) = &self.info.video else {
                    self.dropped_before_config += 1;
                    return Ok(None);
                };
                let data = normalize_avcc(data, config.nal_length_size)?;
                let dts = Time90k::from_millis(self.clock.extend(timestamp_ms));
                Ok(Some(DemuxEvent::Unit(AccessUnit {
                    track: TrackKind::Video,
                    pts: dts + Time90k::from_millis(i64::from(composition_time_ms)),
                    dts,
                    keyframe,
                    data,
                })))
            }
            VideoTag::AvcEndOfSequence | VideoTag::Ignored => Ok(None),
        }
    }

    pub fn push_audio(&mut self, timestamp_ms: u32, body: Bytes) -> Result<Option<DemuxEvent>> {
        match flv::parse_audio(&body)? {
            AudioTag::AacSequenceHeader(asc) => {
                if self.info.audio.as_ref().is_some_and(|a| a.asc == asc) {
                    return Ok(None);
                }
                let config = AacConfig::from_asc(asc)?;
                self.info.audio = Some(config.clone());
                Ok(Some(DemuxEvent::AudioConfig(config)))
            }
            AudioTag::AacFrame(data) => {
                if self.info.audio.is_none() {
                    self.dropped_before_config += 1;
                    return Ok(None);
                }
                if data.is_empty() {
                    return Ok(None);
                }
                let ts = Time90k::from_millis(self.clock.extend(timestamp_ms));
                Ok(Some(DemuxEvent::Unit(AccessUnit {
                    track: TrackKind::Audio,
                    pts: ts,
                    dts: ts,
                    keyframe: true,
                    data,
                })))
            }
            AudioTag::Ignored => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demuxes_fixture_with_b_frames() {
        let flv = Bytes::from_static(include_bytes!("../testdata/ffmpeg_320x180_bframes_aac.flv"));
        let mut d = FlvDemuxer::new();
        let (mut video, mut audio, mut keyframes, mut reordered) = (0, 0, 0, 0);
        let mut last_dts = None;
        for tag in crate::flv::FileReader::new(flv).unwrap() {
            let tag = tag.unwrap();
            if let Some(DemuxEvent::Unit(au)) =
                d.push(tag.kind, tag.timestamp_ms, tag.body).unwrap()
            {
                match au.track {
                    TrackKind::Video => {
                        video += 1;
                        assert!(au.pts >= au.dts, "{au:?}");
                        if au.pts > au.dts {
                            reordered += 1;
                        }
                        if au.keyframe {
                            keyframes += 1;
                            let types: Vec<u8> =
                                crate::NalIter::new(&au.data).map(|n| n[0] & 0x1f).collect();
                            assert!(types.contains(&crate::nal_type::IDR), "{types:?}");
                        }
                        assert!(last_dts.is_none_or(|l| au.dts > l));
                        last_dts = Some(au.dts);
                    }
                    TrackKind::Audio => audio += 1,
                }
            }
        }
        assert_eq!(video, 60);
        assert_eq!(keyframes, 2);
        assert!(reordered > 10, "{reordered} frames with pts > dts");
        // 2 s of 48 kHz AAC is 93.75 frames of 1024 samples.
        assert!((93..=95).contains(&audio), "{audio}");
        let info = d.media_info();
        assert_eq!(info.codecs(), "avc1.64000d,mp4a.40.2");
        assert_eq!(d.dropped_before_config(), 0);
    }

    #[test]
    fn clock_wraps_forward_and_steps_back() {
        let mut c = MsClock::default();
        assert_eq!(c.extend(u32::MAX - 10), i64::from(u32::MAX - 10));
        assert_eq!(c.extend(5), i64::from(u32::MAX) + 6);
        assert_eq!(c.extend(2), i64::from(u32::MAX) + 3);
    }

    #[test]
    fn frames_before_config_are_dropped() {
        let mut d = FlvDemuxer::new();
        let frame = Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]);
        assert_eq!(d.push_video(0, frame).unwrap(), None);
        assert_eq!(d.dropped_before_config(), 1);
        assert_eq!(
            d.push_audio(0, Bytes::from_static(&[0xaf, 1, 0x21]))
                .unwrap(),
            None
        );
    }

    #[test]
    fn aac_frames_become_units() {
        let mut d = FlvDemuxer::new();
        let ev = d
            .push_audio(0, Bytes::from_static(&[0xaf, 0, 0x11, 0x90]))
            .unwrap();
        assert!(matches!(ev, Some(DemuxEvent::AudioConfig(_))));
        // Identical header again: no event.
        assert_eq!(
            d.push_audio(0, Bytes::from_static(&[0xaf, 0, 0x11, 0x90]))
                .unwrap(),
            None
        );
        let ev = d
            .push_audio(21, Bytes::from_static(&[0xaf, 1, 0x21, 0x10]))
            .unwrap();
        let Some(DemuxEvent::Unit(au)) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(au.dts, Time90k(21 * 90));
        assert_eq!(au.track, TrackKind::Audio);
        assert_eq!(&au.data[..], &[0x21, 0x10]);
    }
}
