//! Paths of the media a resource plays, as served by the HLS origin
//! (`crate::hls`) and the clip routes. Prefixed with the public URL by
//! [`super::Ctx::url`].

pub(crate) fn channel_playback(playback_id: &str) -> String {
    format!("/hls/{playback_id}/master.m3u8")
}

pub(crate) fn channel_thumbnail(playback_id: &str) -> String {
    format!("/thumbnails/{playback_id}.jpg")
}

pub(crate) fn vod_playback(vod_id: &str) -> String {
    format!("/vod/{vod_id}/master.m3u8")
}

pub(crate) fn vod_poster(vod_id: &str) -> String {
    format!("/vod/{vod_id}/poster.jpg")
}

pub(crate) fn clip_playback(clip_id: &str) -> String {
    format!("/clips/{clip_id}/master.m3u8")
}

pub(crate) fn clip_mp4(clip_id: &str) -> String {
    format!("/clips/{clip_id}.mp4")
}
