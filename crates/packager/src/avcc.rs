//! Checking H.264 access units in AVCC form (ISO/IEC 14496-15 §5.3.2: each
//! NAL unit prefixed with its length, here always 4 bytes because the `av`
//! demuxer normalizes other length sizes). Both container writers rely on it:
//! MPEG-TS rewrites the NAL units as Annex B, fMP4 stores the payload as-is,
//! and neither may pass on a payload whose lengths do not add up.

use av::AccessUnit;

use crate::{Error, Result};

/// Iterates `(offset, len)` of the NAL units of an AVCC payload with 4-byte
/// lengths, checking that they exactly fill it.
pub(crate) fn nal_ranges(au: &AccessUnit) -> impl Iterator<Item = Result<(usize, usize)>> + '_ {
    let data = &au.data[..];
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos == data.len() {
            return None;
        }
        let malformed = |detail: String| Error::MalformedVideo {
            dts: au.dts,
            detail,
        };
        let Some(prefix) = data.get(pos..pos + 4) else {
            pos = data.len();
            return Some(Err(malformed(format!(
                "{} trailing bytes at offset {} are too short for a NAL length",
                data.len() - pos,
                pos
            ))));
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let start = pos + 4;
        if len == 0 || len > data.len() - start {
            let at = pos;
            pos = data.len();
            return Some(Err(malformed(format!(
                "NAL unit of {len} bytes at offset {at} in a {} byte access unit",
                data.len()
            ))));
        }
        pos = start + len;
        Some(Ok((start, len)))
    })
}

/// Checks that `au` is a non-empty sequence of length-prefixed NAL units.
pub(crate) fn check(au: &AccessUnit) -> Result<()> {
    if au.data.is_empty() {
        return Err(Error::EmptyAccessUnit {
            track: au.track,
            dts: au.dts,
        });
    }
    nal_ranges(au).try_for_each(|r| r.map(|_| ()))
}
