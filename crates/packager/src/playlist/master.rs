//! The multivariant ("master") playlist (RFC 8216bis §4.4.6): one
//! `EXT-X-STREAM-INF` per rendition, and `EXT-X-INDEPENDENT-SEGMENTS`
//! (§4.4.2.1) because every segment we cut starts with a keyframe.

use std::collections::HashMap;

use m3u8_rs::{MasterPlaylist, QuotedOrUnquoted, Resolution, VariantStream};

use super::{VERSION, render, sanitize};

/// One rendition of a stream, as the multivariant playlist describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// URI of the rendition's media playlist, relative to the master.
    pub uri: String,
    /// Peak segment bit rate, bits per second (`BANDWIDTH`, required).
    pub bandwidth_bps: u64,
    /// Average segment bit rate, bits per second (`AVERAGE-BANDWIDTH`).
    pub average_bandwidth_bps: Option<u64>,
    /// Width and height in pixels (`RESOLUTION`); `None` for audio-only.
    pub resolution: Option<(u32, u32)>,
    /// Maximum frame rate, frames per second (`FRAME-RATE`, written with at
    /// most 3 decimals).
    pub frame_rate: Option<f64>,
    /// RFC 6381 codec list (`CODECS`), e.g. `avc1.64001f,mp4a.40.2`; empty to
    /// leave the attribute out.
    pub codecs: String,
    /// Human-readable rendition name, e.g. `720p` (`NAME`); empty to leave it
    /// out. Not an RFC 8216 attribute of `EXT-X-STREAM-INF`: clients ignore it
    /// (§4.2), hls.js shows it as the level name.
    pub name: String,
}

/// Renders the multivariant playlist over `variants`, in the given order (the
/// first is where most clients start).
pub fn render_master(variants: &[Variant]) -> String {
    let playlist = MasterPlaylist {
        version: Some(VERSION),
        independent_segments: true,
        variants: variants.iter().map(variant_stream).collect(),
        ..MasterPlaylist::default()
    };
    render(|w| playlist.write_to(w))
}

fn variant_stream(v: &Variant) -> VariantStream {
    let codecs = sanitize(&v.codecs);
    let name = sanitize(&v.name);
    VariantStream {
        uri: sanitize(&v.uri),
        bandwidth: v.bandwidth_bps,
        average_bandwidth: v.average_bandwidth_bps,
        codecs: (!codecs.is_empty()).then_some(codecs),
        resolution: v.resolution.map(|(w, h)| Resolution {
            width: u64::from(w),
            height: u64::from(h),
        }),
        frame_rate: v
            .frame_rate
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(|f| (f * 1000.0).round() / 1000.0),
        // m3u8-rs has no field for NAME; its free-form attributes are a
        // HashMap, so this must stay the only one to keep the output stable.
        other_attributes: (!name.is_empty())
            .then(|| HashMap::from([("NAME".to_owned(), QuotedOrUnquoted::Quoted(name))])),
        ..VariantStream::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_master() {
        let variants = [
            Variant {
                uri: "source/index.m3u8".into(),
                bandwidth_bps: 2_962_000,
                average_bandwidth_bps: Some(2_651_234),
                resolution: Some((1280, 720)),
                frame_rate: Some(30.0),
                codecs: "avc1.64001f,mp4a.40.2".into(),
                name: "source".into(),
            },
            Variant {
                uri: "360p/index.m3u8".into(),
                bandwidth_bps: 900_000,
                average_bandwidth_bps: None,
                resolution: Some((640, 360)),
                frame_rate: Some(30000.0 / 1001.0),
                codecs: "avc1.4d401e,mp4a.40.2".into(),
                name: String::new(),
            },
            Variant {
                uri: "audio/index.m3u8".into(),
                bandwidth_bps: 132_000,
                average_bandwidth_bps: Some(130_000),
                resolution: None,
                frame_rate: None,
                codecs: "mp4a.40.2".into(),
                name: "audio \"only\"".into(),
            },
        ];
        assert_eq!(
            render_master(&variants),
            r#"#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=2962000,AVERAGE-BANDWIDTH=2651234,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30,NAME="source"
source/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.4d401e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=29.97
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=132000,AVERAGE-BANDWIDTH=130000,CODECS="mp4a.40.2",NAME="audio only"
audio/index.m3u8
"#
        );
    }

    #[test]
    fn reparses_with_m3u8_rs() {
        let text = render_master(&[Variant {
            uri: "a/index.m3u8".into(),
            bandwidth_bps: 1000,
            average_bandwidth_bps: Some(900),
            resolution: Some((320, 180)),
            frame_rate: Some(29.97),
            codecs: "avc1.64000d,mp4a.40.2".into(),
            name: "a".into(),
        }]);
        let Ok(m3u8_rs::Playlist::MasterPlaylist(parsed)) =
            m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("{text}");
        };
        assert!(parsed.independent_segments);
        let v = &parsed.variants[0];
        assert_eq!((v.bandwidth, v.average_bandwidth), (1000, Some(900)));
        assert_eq!(v.codecs.as_deref(), Some("avc1.64000d,mp4a.40.2"));
        assert_eq!(v.frame_rate, Some(29.97));
    }
}
