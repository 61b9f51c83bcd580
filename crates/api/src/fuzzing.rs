//! Entry point of the `hls_query` fuzz target in `fuzz/` (and of the replay
//! of its committed corpus in this crate's tests). Not part of the API.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Query;
use control::{PlaybackAudience, SigningAlgorithm, VerifyingKey};

/// Key id the fuzz target's verifying key is known by.
pub const FUZZ_KEY_ID: &str = "fuzzkey";

/// A P-256 key made for the fuzz target only (it verifies nothing else), so
/// that seeds can carry correctly signed tokens and the fuzzer can mutate
/// their claims.
pub const FUZZ_PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWbdkONOBpkLLK/MrVem4CosycUqf
Xf3k34wGPHLmACtw09LNefFRm8MynTAFov5hYlpq0twQs12IqgNbvyoRcA==
-----END PUBLIC KEY-----
";

/// The private half of [`FUZZ_PUBLIC_KEY_PEM`], for making seeds.
pub const FUZZ_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgv4slB+pbDag4TdJG
SJ7r0pPDtT3eaz1rH09NUXuWfyuhRANCAARZt2Q404GmQssr8ytV6bgKizJxSp9d
/eTfjAY8cuYAK3DT0s158VGbwzKdMAWi/mFiWmrS3BCzXYiqA1u/KhFw
-----END PRIVATE KEY-----
";

/// Playback id the fuzz target's tokens are checked against.
pub const FUZZ_PLAYBACK_ID: &str = "pb1";

/// "Now" for token checks, so that replaying a corpus is deterministic.
pub const FUZZ_NOW_MS: i64 = 1_800_000_000_000;

const MEDIA_PLAYLIST: &[u8] = b"#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n\
#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.000,\n7.m4s\n\
#EXT-X-PART:DURATION=0.2,URI=\"8.0.m4s\",INDEPENDENT=YES\n\
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"8.1.m4s\"\n";

fn key() -> &'static VerifyingKey {
    static KEY: OnceLock<VerifyingKey> = OnceLock::new();
    KEY.get_or_init(|| {
        VerifyingKey::from_pem(FUZZ_KEY_ID, SigningAlgorithm::Es256, FUZZ_PUBLIC_KEY_PEM)
            .expect("the fuzz key parses")
    })
}

/// `hls_query`: what the HLS origin reads from a request it did not make
/// itself. Input: a path file component, a newline, then the raw query
/// string. Runs the query through axum's `Query` extractor, the LL-HLS
/// delivery directives, the part file name parser, the path component check
/// and the playback token (key id lookup and full verification against a
/// fixed key), then rewrites a playlist's URIs with the token as the origin
/// does for signed playback. Returns whether a token verified (for the
/// corpus tests: the signed seeds must pass).
pub fn hls_query(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let (file, query) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = crate::hls::check_component("file", file);
    let _ = crate::hls::part_of(file);
    let Ok(uri) = format!("/hls/{FUZZ_PLAYBACK_ID}/master.m3u8?{query}").parse::<http::Uri>()
    else {
        return false;
    };
    let Ok(Query(params)) = Query::<HashMap<String, String>>::try_from_uri(&uri) else {
        return false;
    };
    let _ = crate::hls::Directives::parse(&params);
    let Some(token) = params.get("token") else {
        return false;
    };
    let verified = control::token_key_id(token).is_ok()
        && control::verify_playback_token_with(
            token,
            key(),
            FUZZ_PLAYBACK_ID,
            PlaybackAudience::Video,
            FUZZ_NOW_MS,
        )
        .is_ok();
    // A token is echoed into every URI of the playlists served with it: it
    // must never add or split a line.
    let rewritten = crate::playback_auth::rewrite_uris(MEDIA_PLAYLIST, Some("ls1"), Some(token));
    let lines = |b: &[u8]| b.iter().filter(|c| **c == b'\n' || **c == b'\r').count();
    assert_eq!(
        lines(&rewritten),
        lines(MEDIA_PLAYLIST),
        "a token changed the playlist's lines"
    );
    verified
}
