//! What a transcoding ladder produces: the vocabulary shared by the
//! transcoder (which makes it) and the broadcast core (which packages it),
//! so neither depends on the other.

use crate::{AccessUnit, H264Config};

/// What a ladder produces, in order per rung.
#[derive(Clone, Debug, PartialEq)]
pub enum LadderEvent {
    /// Rung `rung`'s codec configuration, before its first unit and again
    /// whenever it changes (a new configuration needs a new segmenter).
    Config { rung: usize, config: H264Config },
    /// One encoded frame of rung `rung`, in decode order, AVCC with 4-byte
    /// lengths, with the timestamps of the source frame it was made from.
    Unit { rung: usize, unit: AccessUnit },
    /// The ladder failed (the message names the element or encoder); only
    /// `Finished` follows.
    Error(String),
    /// The last event: everything was flushed after the ladder was told to
    /// finish, or the ladder failed. Encoder threads and processes are gone
    /// by then.
    Finished,
}
