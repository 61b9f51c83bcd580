//! An independent fMP4 reader for tests: parses initialization and media
//! segments straight from ISO/IEC 14496-12 (it shares no code with the
//! writer, which uses `mp4-atom`), strictly — anything the HLS profile we
//! write does not allow is an error — and resolves every sample to its bytes.

/// A box: type and body.
struct BoxRef<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

fn be_u16(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or_else(|| format!("truncated u16 at {at}"))
}

fn be_u32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("truncated u32 at {at}"))
}

fn be_u64(b: &[u8], at: usize) -> Result<u64, String> {
    Ok((u64::from(be_u32(b, at)?) << 32) | u64::from(be_u32(b, at + 4)?))
}

fn fourcc(k: &[u8; 4]) -> String {
    String::from_utf8_lossy(k).into_owned()
}

/// Splits `data` into boxes `(box, offset in data)`; they must fill it.
fn boxes(data: &[u8]) -> Result<Vec<(BoxRef<'_>, usize)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let size = be_u32(data, pos)? as u64;
        let kind: [u8; 4] = data
            .get(pos + 4..pos + 8)
            .ok_or("truncated box header")?
            .try_into()
            .map_err(|_| "box type")?;
        let (header, size) = match size {
            1 => (16, be_u64(data, pos + 8)?),
            0 => (8, (data.len() - pos) as u64),
            s => (8, s),
        };
        let end = pos as u64 + size;
        if size < header as u64 || end > data.len() as u64 {
            return Err(format!(
                "box {} at {pos} of {size} bytes overruns {}",
                fourcc(&kind),
                data.len()
            ));
        }
        out.push((
            BoxRef {
                kind,
                body: &data[pos + header..end as usize],
            },
            pos,
        ));
        pos = end as usize;
    }
    Ok(out)
}

fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Result<&'a [u8], String> {
    let found: Vec<_> = boxes(body)?
        .into_iter()
        .filter(|(b, _)| &b.kind == kind)
        .collect();
    match found.as_slice() {
        [(b, _)] => Ok(b.body),
        [] => Err(format!("no {} box", fourcc(kind))),
        _ => Err(format!("{} {} boxes", found.len(), fourcc(kind))),
    }
}

/// Version and flags of a full box, and its remaining body.
fn full(body: &[u8]) -> Result<(u8, u32, &[u8]), String> {
    let vf = be_u32(body, 0)?;
    Ok(((vf >> 24) as u8, vf & 0x00FF_FFFF, &body[4..]))
}

/// One track of an initialization segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitTrack {
    pub track_id: u32,
    /// `vide` or `soun`.
    pub handler: String,
    pub timescale: u32,
    /// Sample entry type, e.g. `avc1`, `mp4a`.
    pub codec: String,
    pub width: u16,
    pub height: u16,
    pub channels: u16,
    /// Integer part of the sample entry's 16.16 sample rate.
    pub sample_rate: u16,
    /// Video: the `avcC` body.
    pub avcc: Vec<u8>,
    /// Audio: the DecoderSpecificInfo (AudioSpecificConfig) of the `esds`.
    pub asc: Vec<u8>,
    /// Audio: objectTypeIndication of the `esds`.
    pub object_type: u8,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Init {
    pub major_brand: String,
    pub compatible_brands: Vec<String>,
    pub tracks: Vec<InitTrack>,
    /// Track ids with a `trex`.
    pub trex: Vec<u32>,
}

fn brands(body: &[u8]) -> Result<(String, Vec<String>), String> {
    let major = body.get(0..4).ok_or("short ftyp")?;
    let compatible = body
        .get(8..)
        .ok_or("short ftyp")?
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Ok((String::from_utf8_lossy(major).into_owned(), compatible))
}

/// Reads an expandable descriptor size (ISO/IEC 14496-1 §8.3.3).
fn descriptor(data: &[u8], tag: u8) -> Result<&[u8], String> {
    if data.first() != Some(&tag) {
        return Err(format!(
            "expected descriptor tag {tag}, got {:?}",
            data.first()
        ));
    }
    let mut len = 0usize;
    let mut pos = 1;
    loop {
        let b = *data.get(pos).ok_or("truncated descriptor size")?;
        len = (len << 7) | usize::from(b & 0x7F);
        pos += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    data.get(pos..pos + len)
        .ok_or_else(|| format!("descriptor {tag} of {len} bytes overruns"))
}

fn parse_trak(trak: &[u8]) -> Result<InitTrack, String> {
    let (version, _, tkhd) = full(child(trak, b"tkhd")?)?;
    // creation and modification times (8 bytes each in version 1), track_id.
    let track_id = be_u32(tkhd, if version == 1 { 16 } else { 8 })?;
    let mdia = child(trak, b"mdia")?;
    let (version, _, mdhd) = full(child(mdia, b"mdhd")?)?;
    let timescale = be_u32(mdhd, if version == 1 { 16 } else { 8 })?;
    let (_, _, hdlr) = full(child(mdia, b"hdlr")?)?;
    let handler = String::from_utf8_lossy(hdlr.get(4..8).ok_or("short hdlr")?).into_owned();
    let minf = child(mdia, b"minf")?;
    child(minf, b"dinf")?;
    let stbl = child(minf, b"stbl")?;
    for empty in [b"stts", b"stsc", b"stco"] {
        let (_, _, body) = full(child(stbl, empty)?)?;
        if be_u32(body, 0)? != 0 {
            return Err(format!(
                "{} lists samples in an init segment",
                fourcc(empty)
            ));
        }
    }
    let (_, _, stsd) = full(child(stbl, b"stsd")?)?;
    if be_u32(stsd, 0)? != 1 {
        return Err("stsd must have one entry".into());
    }
    let entries = boxes(&stsd[4..])?;
    let (entry, _) = entries.first().ok_or("empty stsd")?;
    let mut track = InitTrack {
        track_id,
        handler,
        timescale,
        codec: fourcc(&entry.kind),
        ..InitTrack::default()
    };
    let e = entry.body;
    if be_u16(e, 6)? != 1 {
        return Err("data_reference_index must be 1".into());
    }
    match &entry.kind {
        b"avc1" => {
            track.width = be_u16(e, 24)?;
            track.height = be_u16(e, 26)?;
            track.avcc = child(&e[78..], b"avcC")?.to_vec();
        }
        b"mp4a" => {
            track.channels = be_u16(e, 16)?;
            track.sample_rate = be_u16(e, 24)?;
            let (_, _, esds) = full(child(&e[28..], b"esds")?)?;
            let es = descriptor(esds, 3)?;
            let flags = *es.get(2).ok_or("short ES_Descriptor")?;
            if flags & 0xE0 != 0 {
                return Err("unexpected ES_Descriptor options".into());
            }
            let config = descriptor(&es[3..], 4)?;
            track.object_type = config[0];
            if config[1] >> 2 != 5 {
                return Err("not an audio stream".into());
            }
            track.asc = descriptor(&config[13..], 5)?.to_vec();
        }
        other => return Err(format!("unexpected sample entry {}", fourcc(other))),
    }
    Ok(track)
}

/// Parses an initialization segment: `ftyp` then `moov`, nothing else.
pub fn parse_init(data: &[u8]) -> Result<Init, String> {
    let top = boxes(data)?;
    let kinds: Vec<_> = top.iter().map(|(b, _)| fourcc(&b.kind)).collect();
    if kinds != ["ftyp", "moov"] {
        return Err(format!("init segment boxes {kinds:?}"));
    }
    let (major_brand, compatible_brands) = brands(top[0].0.body)?;
    let moov = top[1].0.body;
    child(moov, b"mvhd")?;
    let mut init = Init {
        major_brand,
        compatible_brands,
        ..Init::default()
    };
    for (b, _) in boxes(moov)? {
        if &b.kind == b"trak" {
            init.tracks.push(parse_trak(b.body)?);
        }
    }
    for (b, _) in boxes(child(moov, b"mvex")?)? {
        if &b.kind == b"trex" {
            let (_, _, trex) = full(b.body)?;
            init.trex.push(be_u32(trex, 0)?);
        }
    }
    Ok(init)
}

/// One sample of a fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// In the track's timescale: the `tfdt` plus the durations before it.
    pub decode_time: u64,
    pub duration: u32,
    pub flags: u32,
    pub composition_offset: i32,
    pub data: Vec<u8>,
}

impl Sample {
    /// `sample_is_non_sync_sample` clear.
    pub fn is_sync(&self) -> bool {
        self.flags & 0x0001_0000 == 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackFragment {
    pub track_id: u32,
    pub base_decode_time: u64,
    pub samples: Vec<Sample>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// `mfhd` sequence number.
    pub sequence: u32,
    pub tracks: Vec<TrackFragment>,
    /// Size of `moof` + `mdat`.
    pub size: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSegment {
    /// Brands of the leading `styp`, if any.
    pub styp: Option<(String, Vec<String>)>,
    pub fragments: Vec<Fragment>,
}

fn parse_traf(
    traf: &[u8],
    moof_start: usize,
    data: &[u8],
    mdat: (usize, usize),
) -> Result<(TrackFragment, Vec<(usize, usize)>), String> {
    let (_, flags, tfhd) = full(child(traf, b"tfhd")?)?;
    if flags & 0x02_0000 == 0 {
        return Err("tfhd without default-base-is-moof".into());
    }
    if flags & 0x01 != 0 {
        return Err("tfhd with base_data_offset".into());
    }
    let track_id = be_u32(tfhd, 0)?;
    let mut pos = 4;
    let mut field = |bit: u32| -> Result<Option<u32>, String> {
        if flags & bit == 0 {
            return Ok(None);
        }
        let v = be_u32(tfhd, pos)?;
        pos += 4;
        Ok(Some(v))
    };
    let _description = field(0x02)?;
    let default_duration = field(0x08)?;
    let default_size = field(0x10)?;
    let default_flags = field(0x20)?;
    let (version, _, tfdt) = full(child(traf, b"tfdt")?)?;
    if version != 1 {
        return Err(format!("tfdt version {version}, want 1"));
    }
    let base_decode_time = be_u64(tfdt, 0)?;
    let (version, flags, trun) = full(child(traf, b"trun")?)?;
    if version != 1 {
        return Err(format!("trun version {version}, want 1"));
    }
    if flags & 0x01 == 0 {
        return Err("trun without data offset".into());
    }
    let count = be_u32(trun, 0)? as usize;
    let data_offset = be_u32(trun, 4)? as i32;
    let mut pos = 8;
    let first_flags = if flags & 0x04 != 0 {
        pos += 4;
        Some(be_u32(trun, 8)?)
    } else {
        None
    };
    let mut offset = usize::try_from(moof_start as i64 + i64::from(data_offset))
        .map_err(|_| "negative data offset")?;
    let mut decode_time = base_decode_time;
    let mut samples = Vec::with_capacity(count);
    let mut ranges = Vec::with_capacity(count);
    for i in 0..count {
        let mut next = |bit: u32| -> Result<Option<u32>, String> {
            if flags & bit == 0 {
                return Ok(None);
            }
            let v = be_u32(trun, pos)?;
            pos += 4;
            Ok(Some(v))
        };
        let duration = next(0x100)?
            .or(default_duration)
            .ok_or("no sample duration")?;
        let size = next(0x200)?.or(default_size).ok_or("no sample size")? as usize;
        let sample_flags = next(0x400)?
            .or(if i == 0 { first_flags } else { None })
            .or(default_flags)
            .unwrap_or(0);
        let composition_offset = next(0x800)?.unwrap_or(0) as i32;
        if offset < mdat.0 || offset + size > mdat.1 {
            return Err(format!(
                "sample {i} of track {track_id} at {offset}+{size} is outside the mdat payload {mdat:?}"
            ));
        }
        ranges.push((offset, offset + size));
        samples.push(Sample {
            decode_time,
            duration,
            flags: sample_flags,
            composition_offset,
            data: data[offset..offset + size].to_vec(),
        });
        decode_time += u64::from(duration);
        offset += size;
    }
    if pos != trun.len() {
        return Err(format!("trun has {} trailing bytes", trun.len() - pos));
    }
    Ok((
        TrackFragment {
            track_id,
            base_decode_time,
            samples,
        },
        ranges,
    ))
}

/// Parses a media segment or part: an optional `styp`, then `moof`+`mdat`
/// pairs whose samples exactly fill each `mdat`.
pub fn parse_segment(data: &[u8]) -> Result<MediaSegment, String> {
    let top = boxes(data)?;
    let mut iter = top.iter().peekable();
    let styp = match iter.peek() {
        Some((b, _)) if &b.kind == b"styp" => {
            let brands = brands(b.body)?;
            iter.next();
            Some(brands)
        }
        _ => None,
    };
    let mut fragments = Vec::new();
    while let Some((moof, moof_start)) = iter.next() {
        if &moof.kind != b"moof" {
            return Err(format!("{} where a moof belongs", fourcc(&moof.kind)));
        }
        let Some((mdat, mdat_start)) = iter.next() else {
            return Err("moof without mdat".into());
        };
        if &mdat.kind != b"mdat" {
            return Err(format!("{} after a moof", fourcc(&mdat.kind)));
        }
        let payload_start =
            *mdat_start + (mdat.body.as_ptr() as usize - data[*mdat_start..].as_ptr() as usize);
        let payload = (payload_start, payload_start + mdat.body.len());
        let (_, _, mfhd) = full(child(moof.body, b"mfhd")?)?;
        let sequence = be_u32(mfhd, 0)?;
        let mut tracks = Vec::new();
        let mut ranges = Vec::new();
        for (b, _) in boxes(moof.body)? {
            match &b.kind {
                b"mfhd" => {}
                b"traf" => {
                    let (t, r) = parse_traf(b.body, *moof_start, data, payload)?;
                    tracks.push(t);
                    ranges.extend(r);
                }
                other => return Err(format!("unexpected {} in moof", fourcc(other))),
            }
        }
        ranges.sort_unstable();
        let mut at = payload.0;
        for (start, end) in ranges {
            if start != at {
                return Err(format!("mdat bytes {at}..{start} belong to no sample"));
            }
            at = end;
        }
        if at != payload.1 {
            return Err(format!(
                "mdat bytes {at}..{} belong to no sample",
                payload.1
            ));
        }
        fragments.push(Fragment {
            sequence,
            tracks,
            size: payload.1 - moof_start,
        });
    }
    Ok(MediaSegment { styp, fragments })
}
