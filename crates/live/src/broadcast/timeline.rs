//! The broadcast's timeline: publishers' timestamps moved so that they keep
//! increasing across reconnects (encoders restart theirs at 0) and across
//! jumps in a publisher's clock.

use av::{AccessUnit, Time90k, TrackKind};
use tracing::warn;

/// A forward step in one track's timestamps larger than this is a jump of
/// the publisher's clock, not a gap in its media.
pub const MAX_TIMESTAMP_STEP: Time90k = Time90k(10 * Time90k::HZ);

/// A backward step in one track's decode times larger than this is a jump
/// (encoders never step back within a track; the segmenter would drop
/// every unit until the clock caught up).
pub const MAX_TIMESTAMP_BACKSTEP: Time90k = Time90k(Time90k::HZ);

/// Where a continued timeline resumes: one frame (at 30 fps) after the
/// last decode time. The discontinuity tells players not to expect exact
/// continuity.
const ONE_FRAME: Time90k = Time90k(3000);

#[derive(Debug, Default)]
pub(crate) struct Timeline {
    /// Added to the current publisher's timestamps, per track (video,
    /// audio).
    offset: [Time90k; 2],
    /// The last source decode time per track (before the offset), to see
    /// jumps.
    last_source_dts: [Option<Time90k>; 2],
    /// Highest decode time handed out so far (after the offset).
    max_dts: Option<Time90k>,
    /// The next unit is the first from a reconnected publisher.
    rebase_pending: bool,
    /// Jumps in the publisher's timestamps seen.
    pub jumps: u64,
}

impl Timeline {
    /// A publisher reconnected: its first unit continues the timeline one
    /// frame after the last unit of the previous one.
    pub fn reconnected(&mut self) {
        self.rebase_pending = true;
    }

    /// The unit on the broadcast's timeline. The one function that decides
    /// rebasing across reconnects and clock jumps.
    pub fn place(&mut self, mut au: AccessUnit) -> AccessUnit {
        let track = match au.track {
            TrackKind::Video => 0,
            TrackKind::Audio => 1,
        };
        if std::mem::take(&mut self.rebase_pending)
            && let Some(max) = self.max_dts
        {
            self.offset = [max + ONE_FRAME - au.dts; 2];
            self.last_source_dts = [None; 2];
        } else if let Some(last) = self.last_source_dts[track] {
            // A step of more than MAX_TIMESTAMP_STEP forward, or of more than
            // MAX_TIMESTAMP_BACKSTEP back, is the publisher's clock jumping
            // (an encoder restarting its clock, a broken muxer): this track
            // continues one frame after its last unit, so segments keep
            // their durations and decode times never go back.
            let step = au.dts - last;
            if step > MAX_TIMESTAMP_STEP || step.0 < -MAX_TIMESTAMP_BACKSTEP.0 {
                let continued = last + self.offset[track] + ONE_FRAME;
                self.offset[track] = continued - au.dts;
                self.jumps += 1;
                // Logged at powers of two so a broken clock cannot flood the log.
                if self.jumps.is_power_of_two() {
                    warn!(
                        track = ?au.track,
                        jump_s = step.as_secs_f64(),
                        jumps = self.jumps,
                        "publisher timestamps jumped; the timeline continues where it was"
                    );
                }
            }
        }
        self.last_source_dts[track] = Some(au.dts);
        au.pts += self.offset[track];
        au.dts += self.offset[track];
        self.max_dts = Some(self.max_dts.map_or(au.dts, |m| m.max(au.dts)));
        au
    }
}
