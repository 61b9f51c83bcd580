//! Storyboards: where each frame of a recording's sprite sheet is, and its
//! WebVTT index (Mux's format). Pure.

/// Width of a storyboard tile, in pixels (Mux's).
pub const STORYBOARD_TILE_WIDTH: u32 = 256;

/// Most tiles in a storyboard.
const STORYBOARD_MAX_TILES: u32 = 100;

/// Tiles per storyboard row.
const STORYBOARD_COLUMNS: u32 = 10;

/// `n` rounded up to an even number (video sizes).
pub(crate) fn even(n: u32) -> u32 {
    (n + 1) & !1
}

/// Where each frame of a storyboard sprite is: `columns` × `rows` tiles of
/// `tile_width` × `tile_height`, one every `interval_s` seconds from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoryboardGeometry {
    pub interval_s: u32,
    pub tile_width: u32,
    pub tile_height: u32,
    pub columns: u32,
    pub rows: u32,
    /// Tiles that hold a frame.
    pub tiles: u32,
    /// Seconds of the recording.
    pub duration_s: u32,
}

impl StoryboardGeometry {
    /// The geometry for a recording of `seconds` whose frames are
    /// `size` (width, height) when known (16:9 otherwise).
    pub fn new(seconds: f64, size: Option<(u32, u32)>) -> StoryboardGeometry {
        let duration_s = seconds.ceil().max(1.0) as u32;
        let interval_s = duration_s.div_ceil(STORYBOARD_MAX_TILES).max(1);
        let tiles = duration_s
            .div_ceil(interval_s)
            .clamp(1, STORYBOARD_MAX_TILES);
        let columns = tiles.min(STORYBOARD_COLUMNS);
        let rows = tiles.div_ceil(columns);
        let (w, h) = size.filter(|(w, h)| *w > 0 && *h > 0).unwrap_or((16, 9));
        let tile_height =
            even((u64::from(STORYBOARD_TILE_WIDTH) * u64::from(h) / u64::from(w)) as u32).max(2);
        StoryboardGeometry {
            interval_s,
            tile_width: STORYBOARD_TILE_WIDTH,
            tile_height,
            columns,
            rows,
            tiles,
            duration_s,
        }
    }

    /// The WebVTT index of the sprite at `image_url` (Mux's storyboard
    /// format: one cue per tile, `{url}#xywh=x,y,w,h`).
    pub fn webvtt(&self, image_url: &str) -> String {
        fn ts(s: u32) -> String {
            format!("{:02}:{:02}:{:02}.000", s / 3600, (s / 60) % 60, s % 60)
        }
        let mut out = String::from("WEBVTT\n\n");
        for i in 0..self.tiles {
            let start = i * self.interval_s;
            if start >= self.duration_s {
                break;
            }
            let end = (start + self.interval_s).min(self.duration_s);
            let x = (i % self.columns) * self.tile_width;
            let y = (i / self.columns) * self.tile_height;
            out.push_str(&format!(
                "{} --> {}\n{image_url}#xywh={x},{y},{},{}\n\n",
                ts(start),
                ts(end),
                self.tile_width,
                self.tile_height
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storyboards_hold_at_most_a_hundred_tiles() {
        let g = StoryboardGeometry::new(60.0, Some((1280, 720)));
        assert_eq!((g.interval_s, g.tiles, g.columns, g.rows), (1, 60, 10, 6));
        assert_eq!((g.tile_width, g.tile_height), (256, 144));
        let long = StoryboardGeometry::new(3.0 * 3600.0, Some((1920, 1080)));
        assert_eq!(long.interval_s, 108);
        assert_eq!(long.tiles, 100);
        assert_eq!((long.columns, long.rows), (10, 10));
        let tiny = StoryboardGeometry::new(0.2, None);
        assert_eq!((tiny.tiles, tiny.columns, tiny.rows), (1, 1, 1));
        let vtt = StoryboardGeometry::new(12.5, Some((1280, 720))).webvtt("/p/storyboard.jpg");
        assert!(vtt.starts_with(
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n/p/storyboard.jpg#xywh=0,0,256,144\n\n"
        ));
        assert!(
            vtt.contains("00:00:12.000 --> 00:00:13.000\n/p/storyboard.jpg#xywh=512,144,256,144\n"),
            "{vtt}"
        );
        assert_eq!(vtt.matches("-->").count(), 13);
    }
}
