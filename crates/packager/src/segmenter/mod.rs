//! The segmenter: access units in, [`Output`]s out, in either container
//! format. `core` decides where segments and parts are cut; the writers in
//! `crate::ts` and `crate::fmp4` turn access units into bytes.

mod clock;
mod core;

pub(crate) use self::core::{Core, SegmentWriter};

use av::{AccessUnit, MediaInfo, Time90k};
use bytes::Bytes;

use crate::fmp4::Fmp4Writer;
use crate::ts::TsWriter;
use crate::{Output, Result, Segment, SegmentFormat, SegmenterConfig};

/// Access units in; an initialization segment (fMP4), LL-HLS parts (fMP4
/// with a part target) and media segments out.
///
/// Push access units in decode order (tracks interleaved as they arrive),
/// pull outputs after each push until `None`, and call [`Self::finish`] at
/// the end of the stream to close the last segment. Outputs come in the order
/// they may be published: [`Output::Init`] first (fMP4), then for each
/// segment its parts in order, then the segment itself. A change of codec
/// configuration needs a new segmenter (and an `EXT-X-DISCONTINUITY` plus a
/// new `EXT-X-MAP` in the playlist).
///
/// Where segments are cut (both formats):
/// - at the first video keyframe once the open segment lasted
///   [`SegmenterConfig::target_duration`] (within half a frame); audio-only
///   streams at any audio frame;
/// - everything before the first video keyframe is dropped, and so is audio
///   presented before it.
///
/// Audio at segment boundaries (both formats): audio goes into the segment
/// and part open when it arrives (audio that arrives between a part's end
/// and the next video frame goes with that frame), and nothing waits for
/// audio: a segment is complete when the keyframe that cuts it arrives.
/// With B-frames a segment's audio therefore starts up to the keyframe's
/// composition delay before its first picture, and ends as much before its
/// last; every PES and `traf` states its own time, so players splice the
/// tracks by timestamp (nginx-rtmp and ffmpeg's HLS muxer cut the same way).
///
/// Parts (fMP4 with [`SegmenterConfig::part_target`]): a part is emitted the
/// moment the video frame (audio-only: audio frame) arrives that brings its
/// duration — counting the estimated duration of that last frame — within
/// half a frame of the target, without waiting for the next frame. A segment
/// cut ends the open part. A part is independent when its first video frame
/// is a keyframe. The parts of a segment concatenate to exactly the segment's
/// bytes.
///
/// ```
/// use packager::{Output, SegmentFormat, Segmenter, SegmenterConfig, testutil};
/// use av::Time90k;
///
/// let (info, units) = testutil::demux_fixture(testutil::FLV_320X180_BFRAMES_AAC);
/// let config = SegmenterConfig {
///     format: SegmentFormat::Fmp4,
///     part_target: Some(Time90k::from_millis(200)),
///     ..SegmenterConfig::default()
/// };
/// let mut segmenter = Segmenter::new(info, config, 0);
/// let mut outputs = Vec::new();
/// for au in units {
///     segmenter.push(au)?;
///     outputs.extend(std::iter::from_fn(|| segmenter.pull()));
/// }
/// segmenter.finish();
/// outputs.extend(std::iter::from_fn(|| segmenter.pull()));
/// assert!(matches!(outputs[0], Output::Init(_)));
/// let parts = outputs.iter().filter(|o| matches!(o, Output::Part(_))).count();
/// // 2 s of video in parts of 200 ms, then the audio after the last picture.
/// assert_eq!(parts, 11);
/// let Some(Output::Segment(segment)) = outputs.last() else { panic!() };
/// assert_eq!(segment.duration.as_millis(), 2072);
/// # Ok::<(), packager::Error>(())
/// ```
pub struct Segmenter {
    inner: Inner,
}

// One per stream and rendition, created once and never moved on the hot
// path: boxing would only add an indirection to every push.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Ts(Core<TsWriter>),
    Fmp4(Core<Fmp4Writer>),
}

/// Runs `$body` on the core of either format.
macro_rules! with_core {
    ($self:expr, $core:ident => $body:expr) => {
        match $self {
            Inner::Ts($core) => $body,
            Inner::Fmp4($core) => $body,
        }
    };
}

impl Segmenter {
    /// A segmenter for a stream with the tracks `info` declares, in
    /// `config.format`; the first segment gets media sequence number
    /// `first_sequence`.
    pub fn new(info: MediaInfo, config: SegmenterConfig, first_sequence: u64) -> Self {
        let inner = match config.format {
            SegmentFormat::MpegTs => Inner::Ts(crate::ts::new_core(info, config, first_sequence)),
            SegmentFormat::Fmp4 => {
                let writer = Fmp4Writer::new(&info);
                Inner::Fmp4(Core::new(writer, info, config, first_sequence))
            }
        };
        Segmenter { inner }
    }

    /// Adds one access unit. On error the access unit is dropped and the
    /// segmenter is unchanged, so the caller may log and carry on.
    pub fn push(&mut self, au: AccessUnit) -> Result<()> {
        with_core!(&mut self.inner, c => c.push(au))
    }

    /// End of stream: closes the open part and segment. Later pushes fail.
    pub fn finish(&mut self) {
        with_core!(&mut self.inner, c => c.finish())
    }

    /// The next output, in publishing order; call until `None`.
    pub fn pull(&mut self) -> Option<Output> {
        with_core!(&mut self.inner, c => c.pull())
    }

    /// Hands back a segment that has been written out, so its buffer is
    /// reused for a later segment instead of allocating (and page-faulting
    /// in) a fresh one: MPEG-TS segments are one ~1 MB buffer each. Optional;
    /// a no-op when the bytes are still shared elsewhere, and for fMP4
    /// (whose segments are slices of the access units).
    pub fn recycle(&mut self, segment: Segment) {
        self.recycle_buffers(segment.data)
    }

    /// [`Segmenter::recycle`] with just the segment's bytes (what a store
    /// hands back once it wrote them).
    pub fn recycle_buffers(&mut self, data: Vec<Bytes>) {
        with_core!(&mut self.inner, c => c.recycle(data))
    }

    pub fn format(&self) -> SegmentFormat {
        match self.inner {
            Inner::Ts(_) => SegmentFormat::MpegTs,
            Inner::Fmp4(_) => SegmentFormat::Fmp4,
        }
    }

    /// The fMP4 initialization segment (also the first [`Output::Init`]);
    /// `None` for MPEG-TS.
    pub fn init_segment(&self) -> Option<&Bytes> {
        match &self.inner {
            Inner::Ts(_) => None,
            Inner::Fmp4(c) => Some(c.writer().init_segment()),
        }
    }

    pub fn media_info(&self) -> &MediaInfo {
        with_core!(&self.inner, c => c.media_info())
    }

    /// Access units dropped because they came before the first video
    /// keyframe (or were presented before it).
    pub fn dropped_before_keyframe(&self) -> u64 {
        with_core!(&self.inner, c => c.dropped())
    }

    /// The current frame duration estimate: mean of recent DTS steps of the
    /// video (audio-only: audio) track, else from the codec configuration.
    pub fn frame_duration(&self) -> Option<Time90k> {
        with_core!(&self.inner, c => c.frame_duration())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;

    /// Segments from one stream, optionally handing each back after reading
    /// it, with `filler` bytes of H.264 filler data added to every video
    /// frame (to make big segments).
    fn segments_with(recycle: bool, filler: usize) -> Vec<Vec<Bytes>> {
        let (info, mut units) = testutil::demux_fixture(include_bytes!(
            "../../testdata/ffmpeg_192x108_2997fps_bframes_aac44k.flv"
        ));
        if filler > 0 {
            for au in units.iter_mut().filter(|a| a.track == av::TrackKind::Video) {
                let mut data = au.data.to_vec();
                data.extend_from_slice(&(filler as u32).to_be_bytes());
                data.push(12); // filler data NAL unit
                data.extend(std::iter::repeat_n(0xff, filler - 1));
                au.data = Bytes::from(data);
            }
        }
        let mut s = Segmenter::new(info, SegmenterConfig::default(), 0);
        let mut out = Vec::new();
        let mut collect = |s: &mut Segmenter| {
            while let Some(o) = s.pull() {
                if let Output::Segment(seg) = o {
                    out.push(seg.data.iter().map(|b| Bytes::copy_from_slice(b)).collect());
                    if recycle {
                        s.recycle(seg);
                    }
                }
            }
        };
        for au in units {
            s.push(au).unwrap();
            collect(&mut s);
        }
        s.finish();
        collect(&mut s);
        out
    }

    fn segments(recycle: bool) -> Vec<Vec<u8>> {
        segments_with(recycle, 0)
            .into_iter()
            .map(|data| data.concat())
            .collect()
    }

    #[test]
    fn recycled_buffers_give_identical_segments() {
        let fresh = segments(false);
        assert!(fresh.len() >= 3);
        assert_eq!(segments(true), fresh);
    }

    #[test]
    fn ts_segments_are_held_in_bounded_buffers() {
        // 20 KB more per frame: 2 s segments of about 1.2 MB.
        let fresh = segments_with(false, 20_000);
        assert!(fresh.len() >= 3);
        for data in &fresh {
            let total: usize = data.iter().map(Bytes::len).sum();
            assert!(total > 1_000_000, "{total}");
            assert!(data.len() >= total / crate::ts::CHUNK_BYTES);
            for buf in data {
                assert!(buf.len() <= crate::ts::CHUNK_BYTES, "{}", buf.len());
                assert_eq!(buf.len() % 188, 0, "whole packets per buffer");
                assert!(buf.chunks(188).all(|p| p[0] == 0x47), "sync bytes");
            }
        }
        // Recycled buffers give the same buffers, byte for byte and
        // boundary for boundary.
        assert_eq!(segments_with(true, 20_000), fresh);
    }
}
