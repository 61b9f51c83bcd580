//! Webhook events about broadcasts: what the actor (and crash recovery)
//! tells the channel owner's endpoints when a live stream changes state or
//! its recording becomes ready.
//!
//! Each transition is announced once, after `control` recorded it, with
//! the object as stored then (Mux's payload: the live stream or the VOD),
//! plus the paths that play it on this server. Announcing never fails a
//! broadcast: an event that cannot be queued is logged and dropped.

use control::{Channel, Db, LiveStream, Vod, WebhookEventType};
use serde_json::{Value, json};
use tracing::warn;

/// Who hears about one channel's broadcasts, and how to describe them.
#[derive(Debug, Clone)]
pub(crate) struct Announcer {
    db: Db,
    owner_user_id: String,
    channel_id: String,
    playback_id: String,
}

impl Announcer {
    pub(crate) fn new(db: Db, channel: &Channel) -> Announcer {
        Announcer {
            db,
            owner_user_id: channel.owner_user_id.clone(),
            channel_id: channel.channel_id.clone(),
            playback_id: channel.playback_id.clone(),
        }
    }

    /// Announces `event_type` about a live stream, as stored now.
    pub(crate) async fn live_stream(
        &self,
        event_type: WebhookEventType,
        live_stream_id: &str,
        vod_id: Option<&str>,
    ) {
        match self.db.live_stream(live_stream_id).await {
            Ok(Some(ls)) => self.live_stream_as(event_type, &ls, vod_id).await,
            Ok(None) => warn!(%event_type, "no live stream to announce"),
            Err(e) => {
                warn!(error = %e, %event_type, "could not read the live stream to announce; event not sent")
            }
        }
    }

    /// Announces `event_type` about `ls` as given.
    pub(crate) async fn live_stream_as(
        &self,
        event_type: WebhookEventType,
        ls: &LiveStream,
        vod_id: Option<&str>,
    ) {
        self.enqueue(event_type, live_stream_data(ls, &self.playback_id, vod_id))
            .await;
    }

    /// Announces `vod.ready`.
    pub(crate) async fn vod_ready(&self, vod: &Vod) {
        self.vod(WebhookEventType::VodReady, vod).await;
    }

    /// Announces `event_type` (`vod.created`, `vod.ready`, `vod.errored`)
    /// about a recording.
    pub(crate) async fn vod(&self, event_type: WebhookEventType, vod: &Vod) {
        self.enqueue(event_type, vod_data(vod, &self.playback_id))
            .await;
    }

    async fn enqueue(&self, event_type: WebhookEventType, data: Value) {
        if let Err(e) = self
            .db
            .enqueue_webhook_event(
                event_type,
                &self.owner_user_id,
                Some(&self.channel_id),
                data,
            )
            .await
        {
            warn!(error = %e, %event_type, "could not queue a webhook event; it is not sent");
        }
    }
}

/// A live stream as webhook `data`.
fn live_stream_data(ls: &LiveStream, playback_id: &str, vod_id: Option<&str>) -> Value {
    json!({
        "live_stream_id": ls.live_stream_id,
        "channel_id": ls.channel_id,
        "playback_id": playback_id,
        "status": ls.status.as_str(),
        "started_at_ms": ls.started_at_ms,
        "active_at_ms": ls.active_at_ms,
        "ended_at_ms": ls.ended_at_ms,
        "end_reason": ls.end_reason,
        "ingest": ls.ingest,
        "vod_id": vod_id,
        "playback_url": format!("/hls/{playback_id}/master.m3u8"),
    })
}

/// A VOD as webhook `data`.
fn vod_data(vod: &Vod, playback_id: &str) -> Value {
    json!({
        "vod_id": vod.vod_id,
        "live_stream_id": vod.live_stream_id,
        "channel_id": vod.channel_id,
        "playback_id": playback_id,
        "status": vod.status.as_str(),
        "title": vod.title,
        "duration_ms": vod.duration_ms,
        "segment_count": vod.segment_count,
        "created_at_ms": vod.created_at_ms,
        "ready_at_ms": vod.ready_at_ms,
        "playback_url": format!("/vod/{}/master.m3u8", vod.vod_id),
        "poster_url": format!("/vod/{}/poster.jpg", vod.vod_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::{IngestInfo, LiveStreamStats, LiveStreamStatus, VodStatus};

    #[test]
    fn payloads_name_the_objects_and_their_playback_paths() {
        let ls = LiveStream {
            live_stream_id: "ls1".into(),
            channel_id: "c1".into(),
            status: LiveStreamStatus::Active,
            started_at_ms: 1,
            active_at_ms: Some(2),
            ended_at_ms: None,
            ingest: IngestInfo {
                video_codec: Some("avc1.64001f".into()),
                ..IngestInfo::default()
            },
            end_reason: None,
            stats: LiveStreamStats::default(),
        };
        let data = live_stream_data(&ls, "p1", Some("v1"));
        assert_eq!(data["live_stream_id"], "ls1");
        assert_eq!(data["status"], "active");
        assert_eq!(data["vod_id"], "v1");
        assert_eq!(data["ingest"]["video_codec"], "avc1.64001f");
        assert_eq!(data["playback_url"], "/hls/p1/master.m3u8");
        let vod = Vod {
            vod_id: "v1".into(),
            live_stream_id: "ls1".into(),
            channel_id: "c1".into(),
            status: VodStatus::Ready,
            title: "t".into(),
            duration_ms: 6000,
            segment_count: 3,
            created_at_ms: 1,
            ready_at_ms: Some(9),
        };
        let data = vod_data(&vod, "p1");
        assert_eq!(data["status"], "ready");
        assert_eq!(data["duration_ms"], 6000);
        assert_eq!(data["playback_url"], "/vod/v1/master.m3u8");
    }
}
