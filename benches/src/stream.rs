//! Demuxed inputs for the packager benches.

use av::{AccessUnit, MediaInfo, Time90k, TrackKind};
use bytes::Bytes;

/// A whole FLV file, demuxed.
pub struct Stream {
    /// Codec configurations at the end of the file.
    pub info: MediaInfo,
    /// Every access unit, in file (decode) order.
    pub units: Vec<AccessUnit>,
    /// Size of the FLV file.
    pub file_bytes: usize,
}

impl Stream {
    /// Demuxes `flv` with the same code as `aethex segment` and RTMP ingest.
    ///
    /// # Panics
    /// When the file does not demux (the inputs are our own fixtures).
    pub fn from_flv(flv: Bytes) -> Self {
        let file_bytes = flv.len();
        let (info, units) = match packager::testutil::demux_flv(flv) {
            Ok(demuxed) => demuxed,
            Err(e) => panic!("bench input does not demux: {e}"),
        };
        Stream {
            info,
            units,
            file_bytes,
        }
    }

    /// Media duration: last video DTS minus first, plus one frame (video
    /// decides; audio-only streams use audio).
    pub fn duration(&self) -> Time90k {
        let track = if self.info.video.is_some() {
            TrackKind::Video
        } else {
            TrackKind::Audio
        };
        let mut dts = self
            .units
            .iter()
            .filter(|u| u.track == track)
            .map(|u| u.dts);
        let Some(first) = dts.next() else {
            return Time90k::ZERO;
        };
        let (last, steps) = dts.fold((first, 0i64), |(_, n), d| (d, n + 1));
        let frame = if steps > 0 {
            Time90k((last - first).0 / steps)
        } else {
            Time90k::ZERO
        };
        last - first + frame
    }

    /// Sum of the access units' payload sizes.
    pub fn payload_bytes(&self) -> usize {
        self.units.iter().map(|u| u.data.len()).sum()
    }

    /// Indices of the video keyframes in [`Self::units`].
    fn keyframes(&self) -> Vec<usize> {
        self.units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.track == TrackKind::Video && u.keyframe)
            .map(|(i, _)| i)
            .collect()
    }
}

/// The GOPs of a stream (each from a keyframe up to the next one, with the
/// audio interleaved between them in file order), replayed one after the
/// other, again and again, with every timestamp advanced by the span's
/// duration on each round.
///
/// Pushing one GOP into a segmenter whose target duration is the GOP length
/// cuts exactly one segment: the steady state of a live stream, with no
/// start-up and no end of stream in the measurement. Cycling through every
/// GOP of the file, rather than repeating one, keeps the payload working set
/// as large as the file's (several MB): a single GOP would stay in the CPU
/// caches and flatter the copies.
pub struct GopLoop {
    /// GOPs in order; every one but the first and the last of the stream
    /// (start-up effects, and a last GOP of unknown length).
    gops: Vec<Vec<AccessUnit>>,
    /// Video DTS of the keyframe after the last GOP minus the first GOP's.
    period: Time90k,
    /// Next GOP to replay.
    next: usize,
    /// Offset of the current round.
    offset: Time90k,
}

impl GopLoop {
    /// # Panics
    /// When the stream has fewer than three keyframes, when its GOPs differ
    /// in duration by more than a frame (a segmenter could not cut one
    /// segment per GOP), or when replaying would make a track's DTS step back.
    pub fn new(stream: &Stream) -> Self {
        let keyframes = stream.keyframes();
        assert!(
            keyframes.len() >= 3,
            "bench input needs at least 3 video keyframes, has {}",
            keyframes.len()
        );
        let (first, last) = (keyframes[1], keyframes[keyframes.len() - 1]);
        let gops: Vec<Vec<AccessUnit>> = keyframes[1..]
            .windows(2)
            .map(|w| stream.units[w[0]..w[1]].to_vec())
            .collect();
        let period = stream.units[last].dts - stream.units[first].dts;
        let span = &stream.units[first..last];
        for track in [TrackKind::Video, TrackKind::Audio] {
            let mut dts = span.iter().filter(|u| u.track == track).map(|u| u.dts);
            if let (Some(first), Some(last)) = (dts.next(), dts.next_back()) {
                assert!(
                    last < first + period,
                    "{track:?} spans more than the GOPs: replays would overlap"
                );
            }
        }
        let loop_ = GopLoop {
            gops,
            period,
            next: 0,
            offset: Time90k::ZERO,
        };
        // Within a frame of the mean (millisecond clocks jitter by one).
        let (mean, frame) = (loop_.duration(), Time90k::from_millis(34));
        for i in 0..loop_.gops.len() {
            let d = loop_.gop_duration(i);
            assert!(
                d >= mean - frame && d <= mean + frame,
                "bench input has GOPs of unequal length: {d:?} against a mean of {mean:?}"
            );
        }
        loop_
    }

    fn gop_duration(&self, i: usize) -> Time90k {
        let start = self.gops[i][0].dts;
        let end = match self.gops.get(i + 1) {
            Some(next) => next[0].dts,
            None => self.gops[0][0].dts + self.period,
        };
        end - start
    }

    /// Access units per GOP (video and audio), on average.
    pub fn len(&self) -> usize {
        self.gops.iter().map(Vec::len).sum::<usize>() / self.gops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Mean GOP duration: media time per replayed GOP, and the target
    /// duration that cuts one segment per GOP.
    pub fn duration(&self) -> Time90k {
        Time90k(self.period.0 / self.gops.len() as i64)
    }

    /// Payload bytes per GOP, on average.
    pub fn payload_bytes(&self) -> usize {
        let total: usize = self.gops.iter().flatten().map(|u| u.data.len()).sum();
        total / self.gops.len()
    }

    /// Appends the next GOP's access units, timestamps advanced, to `out`
    /// (payloads are shared, not copied).
    pub fn next_into(&mut self, out: &mut Vec<AccessUnit>) {
        let offset = self.offset;
        out.extend(self.gops[self.next].iter().map(|u| AccessUnit {
            pts: u.pts + offset,
            dts: u.dts + offset,
            ..u.clone()
        }));
        self.next += 1;
        if self.next == self.gops.len() {
            self.next = 0;
            self.offset += self.period;
        }
    }
}
