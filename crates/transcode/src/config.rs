//! Transcoding configuration: backend, encoder settings and ladder presets,
//! and [`select_rungs`], which fits a preset to a source stream.
//!
//! A ladder preset is a list of [`Rung`]s, highest first. The source itself
//! is always published untouched as the `source` rendition (passthrough), so
//! a rung is only worth encoding when it is smaller than the source.

use std::collections::{BTreeMap, HashSet};

use av::H264Config;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which implementation encodes the renditions.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One GStreamer pipeline per stream: decode once, scale and encode each
    /// rendition with x264 (`x264enc`).
    #[default]
    Gstreamer,
    /// One `ffmpeg` child per stream, for hardware encoders
    /// ([`TranscodeConfig::ffmpeg_encoder`]).
    Ffmpeg,
}

/// Transcoding settings (`[transcode]` in `aethex.toml`).
///
/// ```toml
/// [transcode]
/// backend = "gstreamer"
/// x264_speed_preset = "veryfast"
///
/// [transcode.ladders]
/// default = [
///   { name = "720p", width = 1280, height = 720, bitrate_kbps = 2800 },
///   { name = "360p", width = 640, height = 360, bitrate_kbps = 800 },
/// ]
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscodeConfig {
    /// `"gstreamer"` (default) or `"ffmpeg"`.
    pub backend: Backend,
    /// Ladders that may run at once on this node; a stream that finds them
    /// all busy is published as source only. 0 (default) = one per two CPU
    /// cores, at least one ([`Self::effective_max_ladders`]).
    pub max_ladders: usize,
    /// x264 speed preset (`ultrafast` … `placebo`); default `veryfast`.
    /// Used by the GStreamer backend and by FFmpeg's `libx264`.
    pub x264_speed_preset: String,
    /// x264 tunings, comma-separated (`zerolatency`, `fastdecode`,
    /// `stillimage`, `film`, `animation`, `grain`, `psnr`, `ssim`), or
    /// empty for none. Default `zerolatency`: no lookahead and no B-frames,
    /// so a live ladder adds about a frame of latency, and it is faster.
    pub x264_tune: String,
    /// The FFmpeg binary (backend `ffmpeg`); default `ffmpeg` from `PATH`.
    pub ffmpeg_path: String,
    /// FFmpeg video encoder (backend `ffmpeg`): `libx264` (default),
    /// `h264_nvenc`, `h264_vaapi` (render node `/dev/dri/renderD128`) or
    /// `h264_qsv`. Checked once per process with a one-frame test encode.
    pub ffmpeg_encoder: String,
    /// How far (seconds of media) a ladder may fall behind its source
    /// before the caller drops renditions, lowest first; see
    /// [`crate::Ladder::lag`]. Default 4.
    pub max_lag_s: f64,
    /// Seconds between thumbnails of a live stream (taken from the next
    /// source keyframe) while someone asks for its thumbnail (in the last
    /// minute); 0 disables them. Default 10.
    pub thumbnail_interval_s: u64,
    /// Seconds between thumbnails of a live stream nobody asked the
    /// thumbnail of in the last minute (at least `thumbnail_interval_s`).
    /// Default 60.
    pub thumbnail_idle_interval_s: u64,
    /// Ladder presets by name, each a list of rungs, highest first. A
    /// channel names its preset; `default` must exist. Defaults: `default`
    /// = 720p30 2800 kbit/s, 480p30 1400 kbit/s, 360p30 800 kbit/s;
    /// `passthrough-only` = none. Setting this table replaces the defaults.
    pub ladders: BTreeMap<String, Vec<Rung>>,
}

/// One rendition of a ladder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Rendition name, used in playlist and object paths (`720p`):
    /// lowercase ASCII letters, digits, `-` and `_`, at most 32 bytes, not
    /// `source`.
    pub name: String,
    /// Width in pixels, even. For sources of another aspect ratio the width
    /// follows the source ([`select_rungs`]).
    pub width: u32,
    /// Height in pixels, even.
    pub height: u32,
    /// Target video bitrate in kbit/s (constant bitrate, 1 s buffer).
    pub bitrate_kbps: u32,
    /// Highest frame rate; faster sources are decimated (keyframes are
    /// always kept). Default 30.
    #[serde(default = "default_max_fps")]
    pub max_fps: u32,
    /// H.264 profile: `baseline`, `main` (default) or `high`.
    #[serde(default = "default_profile")]
    pub profile: String,
}

fn default_max_fps() -> u32 {
    30
}

fn default_profile() -> String {
    "main".to_owned()
}

impl Rung {
    /// A rung with the default frame rate cap and profile.
    pub fn new(name: &str, width: u32, height: u32, bitrate_kbps: u32) -> Self {
        Rung {
            name: name.to_owned(),
            width,
            height,
            bitrate_kbps,
            max_fps: default_max_fps(),
            profile: default_profile(),
        }
    }
}

impl Default for TranscodeConfig {
    fn default() -> Self {
        let mut ladders = BTreeMap::new();
        ladders.insert(
            "default".to_owned(),
            vec![
                Rung::new("720p", 1280, 720, 2800),
                Rung::new("480p", 854, 480, 1400),
                Rung::new("360p", 640, 360, 800),
            ],
        );
        ladders.insert("passthrough-only".to_owned(), Vec::new());
        TranscodeConfig {
            backend: Backend::Gstreamer,
            max_ladders: 0,
            x264_speed_preset: "veryfast".to_owned(),
            x264_tune: "zerolatency".to_owned(),
            ffmpeg_path: "ffmpeg".to_owned(),
            ffmpeg_encoder: "libx264".to_owned(),
            max_lag_s: 4.0,
            thumbnail_interval_s: 10,
            thumbnail_idle_interval_s: 60,
            ladders,
        }
    }
}

/// x264's speed presets, fastest first.
pub(crate) const X264_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];
/// x264 tunings that are flags (several may combine).
pub(crate) const X264_FLAG_TUNES: &[&str] = &["zerolatency", "fastdecode", "stillimage"];
/// x264 psychovisual tunings (at most one).
pub(crate) const X264_PSY_TUNES: &[&str] = &["film", "animation", "grain", "psnr", "ssim"];
/// FFmpeg encoders the ffmpeg backend knows how to drive.
pub(crate) const FFMPEG_ENCODERS: &[&str] = &["libx264", "h264_nvenc", "h264_vaapi", "h264_qsv"];
const PROFILES: &[&str] = &["baseline", "main", "high"];

impl TranscodeConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !X264_PRESETS.contains(&self.x264_speed_preset.as_str()) {
            return Err(Error::config(
                "x264_speed_preset",
                format!(
                    "{:?} is not one of {}",
                    self.x264_speed_preset,
                    X264_PRESETS.join(", ")
                ),
            ));
        }
        self.x264_tunes()?;
        if self.ffmpeg_path.trim().is_empty() {
            return Err(Error::config("ffmpeg_path", "must not be empty"));
        }
        if !FFMPEG_ENCODERS.contains(&self.ffmpeg_encoder.as_str()) {
            return Err(Error::config(
                "ffmpeg_encoder",
                format!(
                    "{:?} is not one of {}",
                    self.ffmpeg_encoder,
                    FFMPEG_ENCODERS.join(", ")
                ),
            ));
        }
        if !(self.max_lag_s.is_finite() && self.max_lag_s > 0.0 && self.max_lag_s <= 3600.0) {
            return Err(Error::config(
                "max_lag_s",
                format!("{} is not between 0 and 3600 seconds", self.max_lag_s),
            ));
        }
        if !self.ladders.contains_key("default") {
            return Err(Error::config(
                "ladders",
                "a preset named \"default\" is required",
            ));
        }
        for (preset, rungs) in &self.ladders {
            check_name(&format!("ladders.{preset}"), preset)?;
            let mut names = HashSet::new();
            for (i, rung) in rungs.iter().enumerate() {
                let at = format!("ladders.{preset}[{i}]");
                rung.validate(&at)?;
                if !names.insert(rung.name.as_str()) {
                    return Err(Error::config(
                        format!("{at}.name"),
                        format!("{:?} is used twice in this preset", rung.name),
                    ));
                }
            }
        }
        Ok(())
    }

    /// [`Self::max_ladders`] with 0 resolved: half the CPU cores, at least 1.
    pub fn effective_max_ladders(&self) -> usize {
        if self.max_ladders > 0 {
            return self.max_ladders;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / 2).max(1)
    }

    /// The rungs of a preset.
    pub fn ladder(&self, preset: &str) -> Option<&[Rung]> {
        self.ladders.get(preset).map(Vec::as_slice)
    }

    /// [`Self::x264_tune`] split into x264enc's flag tunings and at most one
    /// psychovisual tuning.
    pub(crate) fn x264_tunes(&self) -> Result<(Vec<&str>, Option<&str>)> {
        let mut flags = Vec::new();
        let mut psy = None;
        for tune in self
            .x264_tune
            .split([',', '+'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            if X264_FLAG_TUNES.contains(&tune) {
                flags.push(tune);
            } else if X264_PSY_TUNES.contains(&tune) && psy.is_none() {
                psy = Some(tune);
            } else {
                return Err(Error::config(
                    "x264_tune",
                    format!(
                        "{tune:?} is not one of {}, {} (at most one of the latter)",
                        X264_FLAG_TUNES.join(", "),
                        X264_PSY_TUNES.join(", ")
                    ),
                ));
            }
        }
        Ok((flags, psy))
    }
}

impl Rung {
    /// Checks the rung; `at` is its path in the config for the message.
    pub fn validate(&self, at: &str) -> Result<()> {
        check_name(&format!("{at}.name"), &self.name)?;
        if self.name == "source" {
            return Err(Error::config(
                format!("{at}.name"),
                "\"source\" is the passthrough rendition's name",
            ));
        }
        for (field, value) in [("width", self.width), ("height", self.height)] {
            if value == 0 || value % 2 != 0 || value > 7680 {
                return Err(Error::config(
                    format!("{at}.{field}"),
                    format!("{value} is not an even number of pixels from 2 to 7680"),
                ));
            }
        }
        if self.bitrate_kbps == 0 || self.bitrate_kbps > 200_000 {
            return Err(Error::config(
                format!("{at}.bitrate_kbps"),
                format!("{} is not between 1 and 200000", self.bitrate_kbps),
            ));
        }
        if self.max_fps == 0 || self.max_fps > 240 {
            return Err(Error::config(
                format!("{at}.max_fps"),
                format!("{} is not between 1 and 240", self.max_fps),
            ));
        }
        if !PROFILES.contains(&self.profile.as_str()) {
            return Err(Error::config(
                format!("{at}.profile"),
                format!("{:?} is not one of {}", self.profile, PROFILES.join(", ")),
            ));
        }
        Ok(())
    }
}

/// A name that is safe as a path component and in a URL.
fn check_name(field: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.starts_with(['-', '_']);
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!(
                "{name:?} must be 1 to 32 lowercase letters, digits, '-' or '_', starting with a letter or digit"
            ),
        ))
    }
}

/// The rungs of `rungs` worth encoding for `source`, in order, each with
/// its size fitted to the source.
///
/// A rung is skipped when it is not smaller than the source (the `source`
/// passthrough rendition already covers that size): when its height is at
/// least the source's, or its bitrate is at least the source's when that is
/// known. Sizes are compared on the short side, so a portrait source
/// (height > width) is matched against rung heights by its width, and the
/// rung is turned to portrait. The kept rung keeps its short side (its
/// height) and gets the long side that keeps the source's aspect ratio,
/// rounded to an even number.
pub fn select_rungs(
    rungs: &[Rung],
    source: &H264Config,
    source_bitrate_bps: Option<u64>,
) -> Vec<Rung> {
    let portrait = source.height > source.width;
    let (src_short, src_long) = if portrait {
        (source.width, source.height)
    } else {
        (source.height, source.width)
    };
    rungs
        .iter()
        .filter(|r| r.height < src_short)
        .filter(|r| source_bitrate_bps.is_none_or(|bps| u64::from(r.bitrate_kbps) * 1000 < bps))
        .map(|r| {
            let short = r.height;
            let long = even(u64::from(short) * u64::from(src_long), u64::from(src_short));
            let (width, height) = if portrait {
                (short, long)
            } else {
                (long, short)
            };
            Rung {
                width,
                height,
                ..r.clone()
            }
        })
        .collect()
}

/// The smallest spacing between a rung's frames when its source is faster
/// than `max_fps` (or of unknown rate): 90 % of a frame period at `max_fps`,
/// so a jittery source at exactly `max_fps` keeps every frame.
pub(crate) fn min_frame_interval_s(source: &H264Config, rung: &Rung) -> Option<f64> {
    let max_fps = f64::from(rung.max_fps);
    source
        .fps
        .is_none_or(|fps| fps > max_fps * 1.01)
        .then(|| 0.9 / max_fps)
}

/// `num / den` rounded to the nearest even number, at least 2.
pub(crate) fn even(num: u64, den: u64) -> u32 {
    let halves = (num + den) / (2 * den);
    u32::try_from(halves * 2).unwrap_or(u32::MAX - 1).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn source(width: u32, height: u32) -> H264Config {
        H264Config {
            avcc: Bytes::new(),
            sps: Vec::new(),
            pps: Vec::new(),
            profile_idc: 100,
            constraint_flags: 0,
            level_idc: 31,
            nal_length_size: 4,
            width,
            height,
            fps: Some(30.0),
        }
    }

    fn names(rungs: &[Rung]) -> Vec<(&str, u32, u32)> {
        rungs
            .iter()
            .map(|r| (r.name.as_str(), r.width, r.height))
            .collect()
    }

    #[test]
    fn selects_rungs_below_the_source() {
        let config = TranscodeConfig::default();
        let ladder = config.ladder("default").unwrap();
        assert_eq!(
            names(&select_rungs(ladder, &source(1280, 720), None)),
            [("480p", 854, 480), ("360p", 640, 360)]
        );
        assert_eq!(
            names(&select_rungs(ladder, &source(1920, 1080), None)),
            [("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]
        );
        assert!(select_rungs(ladder, &source(640, 360), None).is_empty());
        assert!(select_rungs(ladder, &source(320, 180), None).is_empty());
    }

    #[test]
    fn skips_rungs_above_the_source_bitrate() {
        let config = TranscodeConfig::default();
        let ladder = config.ladder("default").unwrap();
        let kept = select_rungs(ladder, &source(1920, 1080), Some(2_000_000));
        assert_eq!(names(&kept), [("480p", 854, 480), ("360p", 640, 360)]);
        let kept = select_rungs(ladder, &source(1920, 1080), Some(800_000));
        assert!(kept.is_empty(), "{kept:?}");
    }

    #[test]
    fn follows_the_source_aspect_ratio() {
        let config = TranscodeConfig::default();
        let ladder = config.ladder("default").unwrap();
        // 4:3
        assert_eq!(
            names(&select_rungs(ladder, &source(1440, 1080), None)),
            [("720p", 960, 720), ("480p", 640, 480), ("360p", 480, 360)]
        );
        // Portrait 1080x1920: the short side is compared and kept.
        assert_eq!(
            names(&select_rungs(ladder, &source(1080, 1920), None)),
            [("720p", 720, 1280), ("480p", 480, 854), ("360p", 360, 640)]
        );
        // Odd source sizes still give even ones.
        let kept = select_rungs(ladder, &source(1366, 767), None);
        assert!(kept.iter().all(|r| r.width % 2 == 0 && r.height % 2 == 0));
    }

    #[test]
    fn default_config_is_valid_and_round_trips() {
        let config = TranscodeConfig::default();
        config.validate().unwrap();
        assert_eq!(
            config.effective_max_ladders().max(1),
            config.effective_max_ladders()
        );
        let text = toml::to_string(&config).unwrap();
        let back: TranscodeConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, config);
        let empty: TranscodeConfig = toml::from_str("").unwrap();
        assert_eq!(empty, config);
    }

    #[test]
    fn parses_a_preset_with_defaults() {
        let config: TranscodeConfig = toml::from_str(
            r#"
            backend = "ffmpeg"
            ffmpeg_encoder = "h264_nvenc"
            [ladders]
            default = [{ name = "540p", width = 960, height = 540, bitrate_kbps = 2000 }]
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.backend, Backend::Ffmpeg);
        let rung = &config.ladder("default").unwrap()[0];
        assert_eq!((rung.max_fps, rung.profile.as_str()), (30, "main"));
        assert!(config.ladder("passthrough-only").is_none());
    }

    #[test]
    fn rejects_unknown_fields_and_backends() {
        assert!(toml::from_str::<TranscodeConfig>("backend = \"vlc\"").is_err());
        assert!(toml::from_str::<TranscodeConfig>("bakend = \"ffmpeg\"").is_err());
        let rung = "[ladders]\ndefault = [{ name = \"a\", width = 2, height = 2, bitrate_kbps = 1, fps = 3 }]";
        assert!(toml::from_str::<TranscodeConfig>(rung).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let check = |edit: &dyn Fn(&mut TranscodeConfig), field: &str| {
            let mut config = TranscodeConfig::default();
            edit(&mut config);
            match config.validate() {
                Err(Error::Config { field: f, message }) => {
                    assert_eq!(f, field, "{message}")
                }
                other => panic!("{field}: {other:?}"),
            }
        };
        fn rung0(c: &mut TranscodeConfig) -> &mut Rung {
            &mut c.ladders.get_mut("default").unwrap()[0]
        }
        check(&|c| rung0(c).height = 721, "ladders.default[0].height");
        check(&|c| rung0(c).width = 0, "ladders.default[0].width");
        check(
            &|c| rung0(c).bitrate_kbps = 0,
            "ladders.default[0].bitrate_kbps",
        );
        check(&|c| rung0(c).max_fps = 0, "ladders.default[0].max_fps");
        check(
            &|c| rung0(c).profile = "extended".into(),
            "ladders.default[0].profile",
        );
        check(
            &|c| rung0(c).name = "../x".into(),
            "ladders.default[0].name",
        );
        check(
            &|c| rung0(c).name = "source".into(),
            "ladders.default[0].name",
        );
        check(
            &|c| rung0(c).name = "480p".into(),
            "ladders.default[1].name",
        );
        check(
            &|c| c.x264_speed_preset = "warp".into(),
            "x264_speed_preset",
        );
        check(
            &|c| c.x264_tune = "zerolatency,film,grain".into(),
            "x264_tune",
        );
        check(&|c| c.ffmpeg_encoder = "h264_omx".into(), "ffmpeg_encoder");
        check(&|c| c.ffmpeg_path = " ".into(), "ffmpeg_path");
        check(&|c| c.max_lag_s = f64::NAN, "max_lag_s");
        check(&|c| c.ladders.clear(), "ladders");
        check(
            &|c| {
                c.ladders.insert("Big Ladder".into(), Vec::new());
            },
            "ladders.Big Ladder",
        );
    }

    #[test]
    fn splits_tunes() {
        let mut config = TranscodeConfig::default();
        assert_eq!(config.x264_tunes().unwrap(), (vec!["zerolatency"], None));
        config.x264_tune = "film, fastdecode+zerolatency".into();
        assert_eq!(
            config.x264_tunes().unwrap(),
            (vec!["fastdecode", "zerolatency"], Some("film"))
        );
        config.x264_tune = String::new();
        assert_eq!(config.x264_tunes().unwrap(), (vec![], None));
    }
}
