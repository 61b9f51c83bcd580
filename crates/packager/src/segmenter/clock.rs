//! The frame duration estimate: what a segment's or part's last frame lasts
//! before the next frame arrives to tell.

use av::Time90k;

/// Estimates the frame duration from the last few DTS steps.
#[derive(Debug, Default)]
pub(crate) struct FrameClock {
    last_dts: Option<Time90k>,
    steps: [i64; Self::N],
    len: usize,
    next: usize,
}

impl FrameClock {
    const N: usize = 15;

    pub(crate) fn observe(&mut self, dts: Time90k) {
        if let Some(last) = self.last_dts {
            let step = (dts - last).0;
            if step > 0 {
                self.steps[self.next] = step;
                self.next = (self.next + 1) % Self::N;
                self.len = (self.len + 1).min(Self::N);
            }
        }
        self.last_dts = Some(dts);
    }

    /// Mean of the recent steps within half a step of their median: robust
    /// against a gap or a burst, yet exact for millisecond-rounded clocks
    /// whose steps alternate (33, 33, 34 ms at 30 fps).
    pub(crate) fn estimate(&self) -> Option<Time90k> {
        if self.len == 0 {
            return None;
        }
        let mut sorted = self.steps;
        let s = &mut sorted[..self.len];
        s.sort_unstable();
        let median = s[self.len / 2];
        let (lo, hi) = (median - median / 2, median + median / 2);
        let (sum, n) = s
            .iter()
            .filter(|d| (lo..=hi).contains(*d))
            .fold((0i64, 0i64), |(sum, n), d| (sum + d, n + 1));
        Some(Time90k((sum + n / 2) / n.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_clock_ignores_outliers() {
        let mut c = FrameClock::default();
        assert_eq!(c.estimate(), None);
        for dts in [0, 3003, 6006, 9009, 30000, 33003, 36006, 39009] {
            c.observe(Time90k(dts));
        }
        assert_eq!(c.estimate(), Some(Time90k(3003)));
        // FLV milliseconds at 30 fps: 33, 33, 34 ms.
        let mut c = FrameClock::default();
        for i in 0..100 {
            c.observe(Time90k::from_millis(i * 1000 / 30));
        }
        assert_eq!(c.estimate(), Some(Time90k(3000)));
    }
}
