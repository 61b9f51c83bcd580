//! MP4 files (ISO/IEC 14496-12 §8 sample tables, 14496-15 `avcC`, 14496-14
//! `esds`) → access units, for remuxing files (`aethex segment`).
//!
//! The `moov` box is decoded with `mp4-atom`; sample payloads stay `Bytes`
//! slices of the file. Only progressive files (a `moov` with sample tables)
//! are read; fragmented MP4 is not.

use bytes::Bytes;
use mp4_atom::{Codec, Decode, Encode, Moov, StszSamples, Trak};

use crate::h264::normalize_avcc;
use crate::{AacConfig, AccessUnit, Error, H264Config, MediaInfo, Result, Time90k, TrackKind};

/// Samples in one file at most (a 24 h 60 fps video has 5.2 M); bounds what a
/// hostile `stts` can make us allocate.
const MAX_SAMPLES: u64 = 20_000_000;

/// A demuxed MP4 file.
#[derive(Debug)]
pub struct Mp4File {
    pub info: MediaInfo,
    /// Every access unit of the H.264 and AAC tracks, in decode order
    /// (merged by DTS; video first on ties).
    pub units: Vec<AccessUnit>,
}

/// Demuxes the first H.264 video track and the first AAC audio track of a
/// progressive MP4 file. Other tracks (text, metadata) are ignored; an
/// unsupported audio or video codec is an error naming it.
pub fn demux_mp4(data: Bytes) -> Result<Mp4File> {
    let moov_box = find_moov(&data)?;
    let moov = Moov::decode(&mut &moov_box[..])
        .map_err(|e| Error::invalid("MP4 moov box", e.to_string()))?;
    let mut info = MediaInfo::default();
    let mut units = Vec::new();
    for trak in &moov.trak {
        let handler = trak.mdia.hdlr.handler.to_string();
        let kind = match handler.as_str() {
            "vide" if info.video.is_none() => TrackKind::Video,
            "soun" if info.audio.is_none() => TrackKind::Audio,
            _ => continue,
        };
        let codec = trak
            .mdia
            .minf
            .stbl
            .stsd
            .codecs
            .first()
            .ok_or_else(|| Error::invalid("MP4 stsd box", "track without a sample entry"))?;
        let mut length_size = None;
        match (kind, codec) {
            (TrackKind::Video, Codec::Avc1(avc1)) => {
                // mp4-atom parses avcC into fields; the packagers want the
                // raw record, so encode it back and drop the box header.
                let mut raw = Vec::new();
                avc1.avcc
                    .encode(&mut raw)
                    .map_err(|e| Error::invalid("MP4 avcC box", e.to_string()))?;
                let config = H264Config::from_avcc(Bytes::from(raw).slice(8..))?;
                length_size = Some(config.nal_length_size);
                info.video = Some(config);
            }
            (TrackKind::Video, other) => {
                return Err(Error::UnsupportedVideoCodec(codec_name(other)));
            }
            (TrackKind::Audio, Codec::Mp4a(mp4a)) => {
                let dc = &mp4a.esds.es_desc.dec_config;
                // 0x40: MPEG-4 audio (AAC); 0x66-0x68: MPEG-2 AAC profiles.
                if !matches!(dc.object_type_indication, 0x40 | 0x66..=0x68) {
                    let name = match dc.object_type_indication {
                        0x69 | 0x6b => "MP3".to_string(),
                        other => format!("MPEG-4 audio object type indication 0x{other:02x}"),
                    };
                    return Err(Error::UnsupportedAudioCodec(name));
                }
                let asc = dc
                    .dec_specific
                    .as_ref()
                    .map(|d| d.raw.clone())
                    .filter(|raw| !raw.is_empty())
                    .ok_or_else(|| Error::invalid("MP4 esds box", "no AudioSpecificConfig"))?;
                info.audio = Some(AacConfig::from_asc(Bytes::from(asc))?);
            }
            (TrackKind::Audio, other) => {
                return Err(Error::UnsupportedAudioCodec(codec_name(other)));
            }
        }
        track_units(&data, trak, kind, length_size, &mut units)?;
    }
    if info.video.is_none() && info.audio.is_none() {
        return Err(Error::invalid("MP4 file", "no audio or video track"));
    }
    // Stable: within equal DTS the earlier track (video, usually) stays first.
    units.sort_by_key(|u| (u.dts, u.track == TrackKind::Audio));
    Ok(Mp4File { info, units })
}

/// The top-level `moov` box, header included.
fn find_moov(data: &[u8]) -> Result<&[u8]> {
    const WHAT: &str = "MP4 box";
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size32 = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
        let kind = &data[pos + 4..pos + 8];
        let (header, size) = match size32 {
            0 => (8, (data.len() - pos) as u64),
            1 => {
                Error::need(WHAT, pos + 16, data.len())?;
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos + 8..pos + 16]);
                (16, u64::from_be_bytes(b))
            }
            n => (8, u64::from(n)),
        };
        if size < header as u64 || pos as u64 + size > data.len() as u64 {
            return Err(Error::invalid(
                WHAT,
                format!(
                    "box {:?} at offset {pos} overruns the file",
                    String::from_utf8_lossy(kind)
                ),
            ));
        }
        let end = pos + size as usize;
        if kind == b"moov" {
            return Ok(&data[pos..end]);
        }
        pos = end;
    }
    Err(Error::invalid(
        "MP4 file",
        "no moov box (not an MP4 file, or a fragmented one)",
    ))
}

fn codec_name(codec: &Codec) -> String {
    match codec {
        Codec::Hev1(_) | Codec::Hvc1(_) => "HEVC".into(),
        Codec::Av01(_) => "AV1".into(),
        Codec::Vp08(_) => "VP8".into(),
        Codec::Vp09(_) => "VP9".into(),
        Codec::Avc3(_) => "H.264 with in-band parameter sets (avc3)".into(),
        Codec::Mp3(_) => "MP3".into(),
        Codec::Opus(_) => "Opus".into(),
        Codec::Flac(_) => "FLAC".into(),
        Codec::Ac3(_) => "AC-3".into(),
        Codec::Eac3(_) => "E-AC-3".into(),
        Codec::Unknown(fourcc, _) => format!("sample entry {fourcc}"),
        _ => "an unsupported sample entry".into(),
    }
}

/// Converts `ticks` of `timescale` to 90 kHz, rounding to nearest.
fn to_90k(ticks: i64, timescale: u32) -> Time90k {
    let ts = i128::from(timescale.max(1));
    let scaled = (i128::from(ticks) * 90_000 * 2 + ts).div_euclid(2 * ts);
    Time90k(scaled as i64)
}

/// Expands a track's sample tables into access units.
fn track_units(
    data: &Bytes,
    trak: &Trak,
    kind: TrackKind,
    length_size: Option<u8>,
    out: &mut Vec<AccessUnit>,
) -> Result<()> {
    const WHAT: &str = "MP4 sample table";
    let stbl = &trak.mdia.minf.stbl;
    let timescale = trak.mdia.mdhd.timescale;
    if timescale == 0 {
        return Err(Error::invalid(WHAT, "timescale 0"));
    }
    let sizes: Vec<u32> = match &stbl.stsz.samples {
        StszSamples::Identical { count, size } => {
            if u64::from(*count) > MAX_SAMPLES {
                return Err(Error::invalid(WHAT, format!("{count} samples")));
            }
            vec![*size; *count as usize]
        }
        StszSamples::Different { sizes } => sizes.clone(),
    };
    let count = sizes.len();
    if count as u64 > MAX_SAMPLES {
        return Err(Error::invalid(WHAT, format!("{count} samples")));
    }
    let chunk_offsets: Vec<u64> = match (&stbl.stco, &stbl.co64) {
        (Some(stco), _) => stco.entries.iter().map(|o| u64::from(*o)).collect(),
        (None, Some(co64)) => co64.entries.clone(),
        (None, None) => return Err(Error::invalid(WHAT, "no chunk offsets")),
    };

    // Sample offsets: stsc runs of chunks with a samples-per-chunk count.
    let mut offsets = Vec::with_capacity(count);
    let stsc = &stbl.stsc.entries;
    for (i, entry) in stsc.iter().enumerate() {
        let first = entry.first_chunk.max(1) as usize;
        let last = stsc.get(i + 1).map_or(chunk_offsets.len(), |next| {
            (next.first_chunk.max(1) as usize).saturating_sub(1)
        });
        for chunk in first..=last.min(chunk_offsets.len()) {
            let mut offset = chunk_offsets[chunk - 1];
            for _ in 0..entry.samples_per_chunk {
                let idx = offsets.len();
                if idx >= count {
                    break;
                }
                offsets.push(offset);
                offset += u64::from(sizes[idx]);
            }
        }
    }
    if offsets.len() != count {
        return Err(Error::invalid(
            WHAT,
            format!("chunks hold {} samples, stsz lists {count}", offsets.len()),
        ));
    }

    // Decode times (stts) and composition offsets (ctts).
    let mut dts = Vec::with_capacity(count);
    let mut t: i64 = 0;
    for e in &stbl.stts.entries {
        for _ in 0..e.sample_count {
            if dts.len() >= count {
                break;
            }
            dts.push(t);
            t += i64::from(e.sample_delta);
        }
    }
    if dts.len() != count {
        return Err(Error::invalid(
            WHAT,
            format!("stts covers {} of {count} samples", dts.len()),
        ));
    }
    let mut cts = vec![0i64; count];
    if let Some(ctts) = &stbl.ctts {
        let mut i = 0;
        for e in &ctts.entries {
            for _ in 0..e.sample_count {
                if i >= count {
                    break;
                }
                cts[i] = e.sample_offset;
                i += 1;
            }
        }
    }
    // The first edit's media time is where presentation starts (ffmpeg
    // writes the B-frame delay there); shift so presentation starts at 0.
    let shift = trak
        .edts
        .as_ref()
        .and_then(|e| e.elst.as_ref())
        .and_then(|elst| elst.entries.iter().find_map(|e| e.media_time))
        .map_or(0, |t| i64::try_from(t).unwrap_or(0));
    let sync: Option<std::collections::HashSet<u32>> = stbl
        .stss
        .as_ref()
        .map(|s| s.entries.iter().copied().collect());

    out.reserve(count);
    for i in 0..count {
        let start = offsets[i];
        let end = start + u64::from(sizes[i]);
        if end > data.len() as u64 {
            return Err(Error::invalid(
                WHAT,
                format!("sample {i} at offset {start} overruns the file"),
            ));
        }
        let payload = data.slice(start as usize..end as usize);
        let payload = match length_size {
            Some(ls) => normalize_avcc(payload, ls)?,
            None => payload,
        };
        if payload.is_empty() {
            continue;
        }
        let d = to_90k(dts[i] - shift, timescale);
        let p = to_90k(dts[i] + cts[i] - shift, timescale);
        out.push(AccessUnit {
            track: kind,
            pts: p,
            dts: d,
            keyframe: kind == TrackKind::Audio
                || sync.as_ref().is_none_or(|s| s.contains(&(i as u32 + 1))),
            data: payload,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_timescales() {
        assert_eq!(to_90k(1024, 48_000), Time90k(1920));
        assert_eq!(to_90k(512, 15_360), Time90k(3000));
        assert_eq!(to_90k(1024, 44_100), Time90k(2090));
        assert_eq!(to_90k(-1024, 48_000), Time90k(-1920));
    }

    #[test]
    fn rejects_non_mp4() {
        assert!(demux_mp4(Bytes::from_static(b"FLV\x01\x05\x00\x00\x00\x09")).is_err());
        assert!(demux_mp4(Bytes::new()).is_err());
        // A box claiming more bytes than the file has.
        assert!(demux_mp4(Bytes::from_static(&[0, 0, 1, 0, b'f', b't', b'y', b'p'])).is_err());
    }

    /// The committed FLV fixture remuxed to MP4 by ffmpeg (`-c copy`) gives
    /// the same access units as the FLV demuxer, up to the edit-list shift.
    #[test]
    fn matches_the_flv_demuxer() {
        let mp4 = Bytes::from_static(include_bytes!("../testdata/ffmpeg_320x180_bframes_aac.mp4"));
        let file = demux_mp4(mp4).unwrap();
        assert_eq!(file.info.codecs(), "avc1.64000d,mp4a.40.2");
        let flv = Bytes::from_static(include_bytes!("../testdata/ffmpeg_320x180_bframes_aac.flv"));
        let mut demux = crate::FlvDemuxer::new();
        let mut flv_video = Vec::new();
        for tag in crate::flv::FileReader::new(flv).unwrap() {
            let tag = tag.unwrap();
            if let Some(crate::DemuxEvent::Unit(au)) =
                demux.push(tag.kind, tag.timestamp_ms, tag.body).unwrap()
                && au.track == TrackKind::Video
            {
                flv_video.push(au);
            }
        }
        let mp4_video: Vec<_> = file
            .units
            .iter()
            .filter(|u| u.track == TrackKind::Video)
            .collect();
        assert_eq!(mp4_video.len(), flv_video.len());
        for (a, b) in mp4_video.iter().zip(&flv_video) {
            assert_eq!(a.data, b.data);
            assert_eq!(a.keyframe, b.keyframe);
            // FLV rounds to milliseconds; MP4 keeps the 1/15360 s clock.
            assert!(
                (a.pts - a.dts - (b.pts - b.dts)).0.abs() <= 90,
                "{a:?} vs {b:?}"
            );
        }
        let audio = file
            .units
            .iter()
            .filter(|u| u.track == TrackKind::Audio)
            .count();
        assert!((93..=95).contains(&audio), "{audio}");
        // Decode order across tracks.
        assert!(file.units.windows(2).all(|w| w[0].dts <= w[1].dts));
    }
}
