//! The one error type of the `packager` crate.
//!
//! Every variant is about the input a caller handed in (an access unit that
//! cannot be packaged, a playlist entry out of order); the packager itself does
//! no I/O and has nothing else that can fail.

use av::{Time90k, TrackKind};

/// Errors from the segmenters and playlists.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// An access unit of a track the stream's `MediaInfo` does not declare.
    #[error("{track:?} access unit, but the stream declared no {track:?} track")]
    UndeclaredTrack { track: TrackKind },
    /// Decode time went backwards within one track.
    #[error("{track:?} DTS went backwards by {by:?} (from {previous:?} to {dts:?})")]
    NonMonotonicDts {
        track: TrackKind,
        previous: Time90k,
        dts: Time90k,
        /// `previous - dts`, always positive.
        by: Time90k,
    },
    /// A video frame presented before it is decoded.
    #[error("video PTS {pts:?} is before its DTS {dts:?}")]
    PtsBeforeDts { pts: Time90k, dts: Time90k },
    /// A timestamp so far from zero that arithmetic on it could overflow.
    #[error("{track:?} timestamp out of range (PTS {pts:?}, DTS {dts:?})")]
    TimestampOutOfRange {
        track: TrackKind,
        pts: Time90k,
        dts: Time90k,
    },
    /// An access unit without payload.
    #[error("empty {track:?} access unit at DTS {dts:?}")]
    EmptyAccessUnit { track: TrackKind, dts: Time90k },
    /// Video data that is not a sequence of 4-byte-length-prefixed NAL units.
    #[error("malformed H.264 access unit at DTS {dts:?}: {detail}")]
    MalformedVideo { dts: Time90k, detail: String },
    /// An AAC frame too long for the 13-bit ADTS frame length.
    #[error("AAC frame of {len} bytes at DTS {dts:?} does not fit an ADTS header (max {max})")]
    AudioFrameTooLarge {
        len: usize,
        max: usize,
        dts: Time90k,
    },
    /// An access unit larger than an MP4 sample size field (4 GiB).
    #[error("{track:?} access unit of {len} bytes at DTS {dts:?} is too large for an MP4 sample")]
    SampleTooLarge {
        track: TrackKind,
        len: usize,
        dts: Time90k,
    },
    /// `push` after `finish`.
    #[error("access unit pushed after the segmenter was finished")]
    Finished,
    /// A playlist entry whose sequence number does not follow the last one.
    #[error("segment {got} pushed to a playlist that expects segment {expected} next")]
    SequenceGap { expected: u64, got: u64 },
    /// A partial segment that does not follow the last one listed: parts
    /// belong to the segment after the last listed one and are numbered from
    /// 0 without gaps.
    #[error(
        "part {got_sequence}.{got_index} pushed to a playlist that expects part {expected_sequence}.{expected_index} next"
    )]
    PartOutOfOrder {
        expected_sequence: u64,
        expected_index: u32,
        got_sequence: u64,
        got_index: u32,
    },
    /// A playlist entry pushed after `end()`.
    #[error("segment {sequence} pushed to a playlist that has ended")]
    PlaylistEnded { sequence: u64 },
}

/// Result alias of the `packager` crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
