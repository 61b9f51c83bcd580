//! The server side of the RTMP handshake (RTMP 1.0 specification §5.2),
//! plain or with the digest of Flash Player 9 and later.
//!
//! The client sends C0 (version, 1 byte) and C1 (1536 bytes), the server
//! answers S0 S1 S2 at once, and the client ends with C2 (1536 bytes). Only
//! version 3 (plain RTMP) is accepted; 6 (RTMPE) and anything else is
//! refused with a hint at what the bytes look like.
//!
//! The plain handshake (§5.2.3) has S2 echo C1. Encoders that send a
//! non-zero version in C1 (FFmpeg, Flash) may embed an HMAC-SHA256 digest
//! keyed with "Genuine Adobe Flash Player 001" at one of two places ("FP9"
//! handshake, never specified by Adobe; described in the RTMPE notes at
//! <https://www.cs.cmu.edu/~dst/Adobe/Gallery/RTMPE.txt> and implemented
//! alike by librtmp, FFmpeg and nginx-rtmp). When C1 has one, S1 carries
//! our digest (key "Genuine Adobe Flash Media Server 001") at the same
//! place and S2 is signed with a key derived from the client's digest, so
//! that clients which check (FFmpeg when playing, Flash) accept us. C2 is
//! not checked: clients fill it inconsistently, and nothing depends on it.

use aws_lc_rs::hmac;

/// C1, S1, C2 and S2 are this long.
pub(crate) const PACKET_LEN: usize = 1536;
const DIGEST_LEN: usize = 32;
/// RTMP version byte of plain (unencrypted) RTMP.
const VERSION: u8 = 3;
/// Version our S1 announces when answering a digest handshake (the bytes
/// nginx-rtmp sends; FFmpeg checks digests only when the first is ≥ 3).
const SERVER_VERSION: [u8; 4] = [0x0d, 0x0e, 0x0a, 0x0d];

/// The 32 bytes both handshake keys end with.
const KEY_TAIL: [u8; 32] = [
    0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
    0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
];
const FLASH_PLAYER: &[u8] = b"Genuine Adobe Flash Player 001";
const MEDIA_SERVER: &[u8] = b"Genuine Adobe Flash Media Server 001";

/// Why a handshake failed, and at which byte of the connection's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HandshakeError {
    pub offset: u64,
    pub context: String,
}

/// Where the digest of a C1/S1 sits: after an offset stored at byte 8
/// (scheme 0) or at byte 772 (scheme 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DigestScheme {
    At8,
    At772,
}

impl DigestScheme {
    /// Index of the digest in the packet: the sum of four bytes at the
    /// scheme's base, modulo 728, past the base and its four bytes.
    pub(crate) fn position(self, packet: &[u8; PACKET_LEN]) -> usize {
        let base = match self {
            DigestScheme::At8 => 8,
            DigestScheme::At772 => 772,
        };
        let sum: usize = packet[base..base + 4].iter().map(|&b| usize::from(b)).sum();
        base + 4 + sum % 728
    }
}

/// HMAC-SHA256 (RFC 2104) of `parts` concatenated (aws-lc-rs, the HMAC the
/// rest of the workspace uses).
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(context.sign().as_ref());
    out
}

/// The digest a packet should carry at `position`, keyed with `key`: the
/// HMAC of the packet without those 32 bytes.
pub(crate) fn packet_digest(
    packet: &[u8; PACKET_LEN],
    position: usize,
    key: &[u8],
) -> [u8; DIGEST_LEN] {
    hmac_sha256(
        key,
        &[&packet[..position], &packet[position + DIGEST_LEN..]],
    )
}

/// The client's digest and its scheme, if C1 carries a valid one.
pub(crate) fn client_digest(c1: &[u8; PACKET_LEN]) -> Option<(DigestScheme, [u8; DIGEST_LEN])> {
    [DigestScheme::At8, DigestScheme::At772]
        .into_iter()
        .find_map(|scheme| {
            let at = scheme.position(c1);
            let digest = packet_digest(c1, at, FLASH_PLAYER);
            (digest[..] == c1[at..at + DIGEST_LEN]).then_some((scheme, digest))
        })
}

/// S1 and S2 for `c1`, with `random` filling the random parts.
pub(crate) fn server_response(
    c1: &[u8; PACKET_LEN],
    random: &mut impl FnMut(&mut [u8]),
) -> ([u8; PACKET_LEN], [u8; PACKET_LEN]) {
    let mut s1 = [0u8; PACKET_LEN];
    random(&mut s1[8..]);
    let Some((scheme, c1_digest)) = client_digest(c1) else {
        // Plain handshake: time and version zero, S2 echoes C1.
        return (s1, *c1);
    };
    s1[4..8].copy_from_slice(&SERVER_VERSION);
    let at = scheme.position(&s1);
    let digest = packet_digest(&s1, at, MEDIA_SERVER);
    s1[at..at + DIGEST_LEN].copy_from_slice(&digest);

    let mut s2 = [0u8; PACKET_LEN];
    random(&mut s2[..PACKET_LEN - DIGEST_LEN]);
    let full_key = [MEDIA_SERVER, &KEY_TAIL[..]].concat();
    let key = hmac_sha256(&full_key, &[&c1_digest]);
    let signature = hmac_sha256(&key, &[&s2[..PACKET_LEN - DIGEST_LEN]]);
    s2[PACKET_LEN - DIGEST_LEN..].copy_from_slice(&signature);
    (s1, s2)
}

/// Progress of the server's handshake.
#[derive(Debug)]
pub(crate) enum Stage {
    /// Collecting C0 and C1.
    C0C1,
    /// S0 S1 S2 sent; collecting C2.
    C2,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Handshake {
    stage: Stage,
    /// Bytes of the packet being collected (at most C0 + C1).
    buffer: Vec<u8>,
    /// Bytes consumed so far (the offset of `buffer` in the input).
    consumed: u64,
}

impl Default for Handshake {
    fn default() -> Self {
        Handshake {
            stage: Stage::C0C1,
            buffer: Vec::with_capacity(1 + PACKET_LEN),
            consumed: 0,
        }
    }
}

impl Handshake {
    /// Consumes `input`; what to send goes to `out`. Returns how many bytes
    /// of `input` belong to the handshake once it completed (the rest is
    /// the chunk stream), `None` while it goes on.
    pub(crate) fn push(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        random: &mut impl FnMut(&mut [u8]),
    ) -> Result<Option<usize>, HandshakeError> {
        let mut used = 0;
        while used < input.len() {
            let want = match self.stage {
                Stage::C0C1 => 1 + PACKET_LEN,
                Stage::C2 => PACKET_LEN,
            };
            if self.consumed == 0 && self.buffer.is_empty() {
                check_version(input[used])?;
            }
            let take = want
                .saturating_sub(self.buffer.len())
                .min(input.len() - used);
            self.buffer.extend_from_slice(&input[used..used + take]);
            used += take;
            if self.buffer.len() < want {
                break;
            }
            self.consumed = self.consumed.saturating_add(want as u64);
            match self.stage {
                Stage::C0C1 => {
                    let mut c1 = [0u8; PACKET_LEN];
                    c1.copy_from_slice(&self.buffer[1..]);
                    let (s1, s2) = server_response(&c1, random);
                    out.push(VERSION);
                    out.extend_from_slice(&s1);
                    out.extend_from_slice(&s2);
                    self.buffer.clear();
                    self.stage = Stage::C2;
                }
                Stage::C2 => {
                    self.buffer = Vec::new();
                    return Ok(Some(used));
                }
            }
        }
        Ok(None)
    }
}

/// C0: only version 3.
fn check_version(c0: u8) -> Result<(), HandshakeError> {
    let hint = match c0 {
        VERSION => return Ok(()),
        6 | 8 | 9 => " (encrypted RTMPE, which is not supported)",
        0x16 => " (a TLS ClientHello: is this RTMPS sent to the plain RTMP port?)",
        b'A'..=b'Z' => " (text: an HTTP request sent to the RTMP port?)",
        _ => "",
    };
    Err(HandshakeError {
        offset: 0,
        context: format!("client asked for RTMP version {c0}{hint}; only version 3 is supported"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeros(_: &mut [u8]) {}

    /// A C1 with a client digest (as FFmpeg and Flash send).
    fn digest_c1(scheme: DigestScheme, fill: u8) -> [u8; PACKET_LEN] {
        let mut c1 = [fill; PACKET_LEN];
        c1[..8].copy_from_slice(&[0, 0, 0, 0, 9, 0, 124, 2]);
        let at = scheme.position(&c1);
        let digest = packet_digest(&c1, at, FLASH_PLAYER);
        c1[at..at + DIGEST_LEN].copy_from_slice(&digest);
        c1
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 and test case 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn plain_handshake_echoes_c1() {
        let mut c1 = [0u8; PACKET_LEN];
        for (i, b) in c1.iter_mut().enumerate().skip(8) {
            *b = (i * 7 % 251) as u8;
        }
        let mut hs = Handshake::default();
        let mut out = Vec::new();
        let mut input = vec![3];
        input.extend_from_slice(&c1);
        // Byte by byte: nothing until C1 is complete.
        for &b in &input[..input.len() - 1] {
            assert_eq!(hs.push(&[b], &mut out, &mut zeros).unwrap(), None);
            assert!(out.is_empty());
        }
        assert_eq!(
            hs.push(&input[input.len() - 1..], &mut out, &mut zeros)
                .unwrap(),
            None
        );
        assert_eq!(out.len(), 1 + 2 * PACKET_LEN);
        assert_eq!(out[0], 3);
        assert_eq!(&out[1..9], &[0; 8], "S1: time and version zero");
        assert_eq!(&out[1 + PACKET_LEN..], &c1[..], "S2 echoes C1");
        // C2 and the first chunk bytes in one read.
        let mut c2 = out[1..1 + PACKET_LEN].to_vec();
        c2.extend_from_slice(&[3, 0, 0]);
        assert_eq!(
            hs.push(&c2, &mut out, &mut zeros).unwrap(),
            Some(PACKET_LEN)
        );
    }

    #[test]
    fn digest_handshake_is_signed_as_clients_check() {
        for scheme in [DigestScheme::At8, DigestScheme::At772] {
            let c1 = digest_c1(scheme, 0x5a);
            let (found, c1_digest) = client_digest(&c1).expect("digest found");
            assert_eq!(found, scheme);
            let (s1, s2) = server_response(&c1, &mut |b| b.fill(0x33));
            // S1: our version, and the server digest at the same scheme.
            assert_eq!(&s1[4..8], &SERVER_VERSION);
            let at = scheme.position(&s1);
            assert_eq!(s1[at..at + 32], packet_digest(&s1, at, MEDIA_SERVER));
            // S2: signed with HMAC(full server key, client digest), as
            // FFmpeg's rtmp_handshake and librtmp's HandShake check it.
            let key = hmac_sha256(&[MEDIA_SERVER, &KEY_TAIL[..]].concat(), &[&c1_digest]);
            assert_eq!(s2[1504..], hmac_sha256(&key, &[&s2[..1504]]));
        }
    }

    #[test]
    fn a_flash_player_c1_is_recognized() {
        // C1 of JW Player (Flash) captured by rml_rtmp's authors
        // (rml_rtmp 0.8, src/handshake/mod.rs tests, MIT/Apache-2.0).
        let c1: &[u8; PACKET_LEN] = include_bytes!("testdata/jwplayer_c1.bin");
        assert!(client_digest(c1).is_some());
        // Any other byte changed (here the version) breaks the digest.
        let mut changed = *c1;
        changed[4] ^= 1;
        assert!(client_digest(&changed).is_none());
    }

    #[test]
    fn refuses_other_versions_with_a_hint() {
        for (c0, hint) in [
            (0u8, "only version 3"),
            (6, "RTMPE"),
            (0x16, "TLS"),
            (b'G', "HTTP"),
        ] {
            let err = Handshake::default()
                .push(&[c0, 0, 0], &mut Vec::new(), &mut zeros)
                .unwrap_err();
            assert!(err.context.contains(hint), "{c0}: {}", err.context);
            assert_eq!(err.offset, 0);
        }
    }
}
