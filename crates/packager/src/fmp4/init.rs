//! The initialization segment (`init.mp4`, the `EXT-X-MAP` of RFC 8216bis
//! §4.4.4.5): `ftyp` and a `moov` without samples (ISO/IEC 14496-12 §8.8:
//! every sample lives in movie fragments, announced by `mvex`/`trex`).
//!
//! - `ftyp`: major brand `iso6` (movie fragments with `tfdt`,
//!   default-base-is-moof), compatible `iso6`, `mp41`. Not `cmfc`: a CMAF
//!   track file carries one track, and our segments multiplex video and audio
//!   the way HLS fMP4 allows (RFC 8216bis §3.3).
//! - One `trak` per track: video is track 1 (timescale 90 kHz, `avc1` with
//!   the stream's `avcC`, NAL lengths of 4 bytes), audio track 2, or 1 when
//!   alone (timescale = sample rate, `mp4a` with an `esds` carrying the
//!   AudioSpecificConfig). Durations are 0: the presentation is open-ended.
//!
//! Boxes are built with `mp4-atom`, like the fragments (see `fragment`).

use av::{AacConfig, H264Config};
use bytes::{Bytes, BytesMut};
use mp4_atom::{
    Audio, Avc1, Avcc, Codec, Dinf, Dref, Encode, Esds, Ftyp, Hdlr, Mdhd, Mdia, Minf, Moov, Mp4a,
    Mvex, Mvhd, Smhd, Stbl, Stco, Stsc, Stsd, Stsz, Stts, Tkhd, Trak, Trex, Url, Visual, Vmhd,
    esds,
};

use super::{AUDIO_OBJECT_TYPE_AAC, VIDEO_TIMESCALE};

/// What the initialization segment describes.
pub(crate) struct InitTracks<'a> {
    /// Track id and configuration of the video track.
    pub(crate) video: Option<(u32, &'a H264Config)>,
    /// Track id and configuration of the audio track.
    pub(crate) audio: Option<(u32, &'a AacConfig)>,
}

/// `ftyp` + `moov`. Infallible for every configuration the `av` crate
/// accepts; an encoding error (a bug) is logged and leaves a truncated buffer.
pub(crate) fn init_segment(tracks: &InitTracks<'_>) -> Bytes {
    let ftyp = Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: vec![b"iso6".into(), b"mp41".into()],
    };
    let mut trak = Vec::with_capacity(2);
    let mut trex = Vec::with_capacity(2);
    if let Some((id, config)) = tracks.video {
        trak.push(video_trak(id, config));
        trex.push(trex_for(id));
    }
    if let Some((id, config)) = tracks.audio {
        trak.push(audio_trak(id, config));
        trex.push(trex_for(id));
    }
    let next_track_id = trak.iter().map(|t| t.tkhd.track_id).max().unwrap_or(0) + 1;
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id,
            ..Mvhd::default()
        },
        mvex: Some(Mvex { mehd: None, trex }),
        trak,
        ..Moov::default()
    };
    let mut out = BytesMut::with_capacity(1024);
    if let Err(e) = ftyp.encode(&mut out).and_then(|()| moov.encode(&mut out)) {
        tracing::error!(error = %e, "cannot encode the fMP4 initialization segment");
    }
    out.freeze()
}

fn trex_for(track_id: u32) -> Trex {
    Trex {
        track_id,
        default_sample_description_index: 1,
        default_sample_duration: 0,
        default_sample_size: 0,
        default_sample_flags: 0,
    }
}

fn dinf() -> Dinf {
    Dinf {
        dref: Dref {
            entries: vec![
                Url {
                    location: String::new(),
                }
                .into(),
            ],
        },
    }
}

/// An empty sample table around one sample entry: the samples are in the
/// fragments.
fn stbl(codec: Codec) -> Stbl {
    Stbl {
        stsd: Stsd {
            codecs: vec![codec],
        },
        stts: Stts::default(),
        stsc: Stsc::default(),
        stsz: Stsz::default(),
        stco: Some(Stco::default()),
        ..Stbl::default()
    }
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// The stream's `avcC`, with 4-byte NAL lengths because that is what the
/// `av` demuxer normalizes every access unit to. Falls back to a record
/// rebuilt from the parsed parameter sets if the original does not re-parse.
fn avcc(config: &H264Config) -> Avcc {
    let parsed = mp4_atom::Atom::decode_body(&mut &config.avcc[..]);
    let mut avcc = parsed.unwrap_or_else(|e: mp4_atom::Error| {
        tracing::warn!(error = %e, "re-parsing the AVCDecoderConfigurationRecord failed; rebuilding it");
        Avcc {
            configuration_version: 1,
            avc_profile_indication: config.profile_idc,
            profile_compatibility: config.constraint_flags,
            avc_level_indication: config.level_idc,
            length_size: 4,
            sequence_parameter_sets: config.sps.iter().map(|s| s.to_vec()).collect(),
            picture_parameter_sets: config.pps.iter().map(|p| p.to_vec()).collect(),
            ext: None,
        }
    });
    avcc.length_size = 4;
    avcc
}

fn video_trak(track_id: u32, config: &H264Config) -> Trak {
    let (width, height) = (clamp_u16(config.width), clamp_u16(config.height));
    let avc1 = Avc1 {
        visual: Visual {
            data_reference_index: 1,
            width,
            height,
            ..Visual::default()
        },
        avcc: avcc(config),
        btrt: None,
        colr: None,
        pasp: None,
        taic: None,
        fiel: None,
        spatial: None,
    };
    Trak {
        tkhd: Tkhd {
            track_id,
            enabled: true,
            in_movie: true,
            width: width.into(),
            height: height.into(),
            ..Tkhd::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: VIDEO_TIMESCALE,
                language: "und".into(),
                ..Mdhd::default()
            },
            hdlr: Hdlr {
                handler: b"vide".into(),
                name: "VideoHandler".into(),
            },
            minf: Minf {
                vmhd: Some(Vmhd::default()),
                dinf: dinf(),
                stbl: stbl(avc1.into()),
                ..Minf::default()
            },
        },
        ..Trak::default()
    }
}

fn audio_trak(track_id: u32, config: &AacConfig) -> Trak {
    // channelConfiguration 0 (a program config element in band) still
    // needs a channel count here; stereo is what decoders assume.
    let channels = if config.channels == 0 {
        2
    } else {
        u16::from(config.channels)
    };
    let mp4a = Mp4a {
        audio: Audio {
            data_reference_index: 1,
            channel_count: channels,
            sample_size: 16,
            // 16.16 fixed point: rates above 65535 Hz do not fit; the `mdhd`
            // timescale carries the real rate.
            sample_rate: u16::try_from(config.sample_rate).unwrap_or(0).into(),
        },
        esds: Esds {
            es_desc: esds::EsDescriptor {
                es_id: u16::try_from(track_id).unwrap_or(0),
                dec_config: esds::DecoderConfig {
                    object_type_indication: AUDIO_OBJECT_TYPE_AAC,
                    // AudioStream (ISO/IEC 14496-1 Table 6).
                    stream_type: 5,
                    dec_specific: Some(esds::DecoderSpecific {
                        profile: config.signalled_object_type,
                        freq_index: config.sample_rate_index,
                        chan_conf: config.channels,
                        raw: config.asc.to_vec(),
                    }),
                    ..esds::DecoderConfig::default()
                },
                ..esds::EsDescriptor::default()
            },
        },
        btrt: None,
        taic: None,
    };
    Trak {
        tkhd: Tkhd {
            track_id,
            enabled: true,
            in_movie: true,
            volume: 1.into(),
            ..Tkhd::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: config.sample_rate,
                language: "und".into(),
                ..Mdhd::default()
            },
            hdlr: Hdlr {
                handler: b"soun".into(),
                name: "SoundHandler".into(),
            },
            minf: Minf {
                smhd: Some(Smhd::default()),
                dinf: dinf(),
                stbl: stbl(mp4a.into()),
                ..Minf::default()
            },
        },
        ..Trak::default()
    }
}
