//! Timestamps in the 90 kHz MPEG system clock (ISO/IEC 13818-1 §2.4.2).
//!
//! Every access unit carries its presentation and decode times in 90 kHz ticks
//! so the TS packager writes them unchanged and fMP4 uses 90 kHz as its video
//! timescale. RTMP/FLV milliseconds convert exactly (1 ms = 90 ticks).

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in time or a duration, in 90 kHz ticks. Signed so that
/// decode-before-presentation offsets and differences stay representable.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time90k(pub i64);

impl Time90k {
    /// Ticks per second.
    pub const HZ: i64 = 90_000;
    pub const ZERO: Time90k = Time90k(0);

    pub const fn from_millis(ms: i64) -> Self {
        Time90k(ms * 90)
    }

    /// Rounds to the nearest tick.
    pub fn from_secs_f64(secs: f64) -> Self {
        Time90k((secs * Self::HZ as f64).round() as i64)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / Self::HZ as f64
    }

    /// Milliseconds, rounded toward negative infinity.
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(90)
    }
}

impl fmt::Debug for Time90k {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}t90k({:.3}s)", self.0, self.as_secs_f64())
    }
}

impl Add for Time90k {
    type Output = Time90k;
    fn add(self, rhs: Time90k) -> Time90k {
        Time90k(self.0 + rhs.0)
    }
}

impl AddAssign for Time90k {
    fn add_assign(&mut self, rhs: Time90k) {
        self.0 += rhs.0;
    }
}

impl Sub for Time90k {
    type Output = Time90k;
    fn sub(self, rhs: Time90k) -> Time90k {
        Time90k(self.0 - rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Time90k::from_millis(1000), Time90k(90_000));
        assert_eq!(Time90k::from_secs_f64(2.0), Time90k(180_000));
        assert_eq!(Time90k(3003).as_millis(), 33);
        assert_eq!(Time90k(-1).as_millis(), -1);
        assert!((Time90k(45_000).as_secs_f64() - 0.5).abs() < 1e-12);
    }
}
