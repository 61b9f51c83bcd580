//! Measuring a variant's bit rate for the master playlist: `BANDWIDTH` is the
//! peak segment bit rate and `AVERAGE-BANDWIDTH` the average segment bit rate
//! (RFC 8216bis §4.4.6.2), both over the segments seen so far.

use av::Time90k;

use crate::segment::bitrate_bps;

/// Segments shorter than this do not set the peak: the last segment of a
/// stream can be a keyframe and a few audio frames, whose bit rate says
/// nothing about what a player needs (it is still averaged in).
const MIN_PEAK_DURATION: Time90k = Time90k(90_000);

/// Accumulates segment sizes and durations of one variant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BandwidthMeter {
    total_bytes: u64,
    total_duration: Time90k,
    peak_bps: Option<u64>,
    /// Peak over the short segments, used only while there is no other.
    short_peak_bps: Option<u64>,
    segments: u64,
}

impl BandwidthMeter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one segment of `size_bytes` lasting `duration`. Segments with a
    /// zero or negative duration are ignored.
    pub fn record(&mut self, size_bytes: usize, duration: Time90k) {
        let Some(bps) = bitrate_bps(size_bytes, duration) else {
            return;
        };
        self.total_bytes = self.total_bytes.saturating_add(size_bytes as u64);
        self.total_duration = Time90k(self.total_duration.0.saturating_add(duration.0));
        let peak = if duration >= MIN_PEAK_DURATION {
            &mut self.peak_bps
        } else {
            &mut self.short_peak_bps
        };
        *peak = Some(peak.map_or(bps, |p| p.max(bps)));
        self.segments += 1;
    }

    /// Highest bit rate of any one segment of at least a second (of any
    /// segment while there is none), bits per second (`BANDWIDTH`).
    pub fn peak_bps(&self) -> Option<u64> {
        self.peak_bps.or(self.short_peak_bps)
    }

    /// Total bits over total duration, bits per second, rounded up
    /// (`AVERAGE-BANDWIDTH`).
    pub fn average_bps(&self) -> Option<u64> {
        bitrate_bps(usize::try_from(self.total_bytes).ok()?, self.total_duration)
    }

    /// Segments recorded.
    pub fn segments(&self) -> u64 {
        self.segments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_last_segment_does_not_set_the_peak() {
        let mut m = BandwidthMeter::new();
        m.record(10_000, Time90k(9_000)); // 0.1 s at 800 kbit/s
        assert_eq!(m.peak_bps(), Some(800_000));
        m.record(250_000, Time90k(180_000)); // 2 s at 1 Mbit/s
        m.record(20_000, Time90k(6_000)); // 67 ms at 2.4 Mbit/s: ignored for the peak
        assert_eq!(m.peak_bps(), Some(1_000_000));
    }

    #[test]
    fn peak_and_average() {
        let mut m = BandwidthMeter::new();
        assert_eq!((m.peak_bps(), m.average_bps()), (None, None));
        m.record(250_000, Time90k(180_000)); // 1 Mbit/s
        m.record(750_000, Time90k(180_000)); // 3 Mbit/s
        m.record(100, Time90k::ZERO); // ignored
        assert_eq!(m.peak_bps(), Some(3_000_000));
        assert_eq!(m.average_bps(), Some(2_000_000));
        assert_eq!(m.segments(), 2);
    }
}
