//! Webhook deliveries in Mux's format, for endpoints registered with
//! `"format": "mux"`: Mux's body and event names (the server's dispatcher
//! signs it with a `mux-signature` header, which `mux.webhooks.unwrap`
//! verifies). The object in `data` is read when the delivery is sent, with
//! the status the event announced (a delivery retried later still says
//! `active` for `video.live_stream.active`); an object deleted since is
//! described by its id.

use control::{Db, WebhookEvent};
use serde_json::{Value, json};

use super::objects::{asset, live_stream};

/// The body of one delivery of `event` as the Mux event `mux_type`;
/// `delivery_id` is its `id` (the same on every attempt).
pub async fn webhook_body(
    db: &Db,
    event: &WebhookEvent,
    mux_type: &str,
    delivery_id: &str,
) -> String {
    let (kind, id, data) =
        if let Some(state) = mux_type.strip_prefix("video.asset.static_rendition.") {
            // The static rendition, with its asset's id.
            let vod_id = event
                .data
                .get("vod_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let name = event
                .data
                .get("name")
                .and_then(Value::as_str)
                .and_then(|n| n.parse::<control::AssetFileName>().ok());
            let file = match name {
                Some(name) => db.asset_file(&vod_id, name).await.ok().flatten(),
                None => None,
            };
            let mut data = file
                .as_ref()
                .and_then(super::objects::static_rendition)
                .and_then(|r| serde_json::to_value(r).ok())
                .unwrap_or_else(|| {
                    let id = name
                        .and_then(super::objects::static_rendition_id)
                        .unwrap_or_default();
                    json!({"id": id, "name": name.map(|n| n.as_str()), "resolution": id})
                });
            data["asset_id"] = json!(vod_id);
            if state != "deleted" && state != "created" {
                data["status"] = json!(state);
            }
            if state == "created" {
                data["status"] = json!("preparing");
            }
            ("asset", vod_id, data)
        } else if mux_type.starts_with("video.asset.") {
            let vod_id = event
                .data
                .get("vod_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut data = match db.vod(&vod_id).await {
                Ok(Some(vod)) => {
                    let channel = db.channel(&vod.channel_id).await.ok().flatten();
                    match asset(db, &vod, channel.as_ref()).await {
                        Ok(a) => serde_json::to_value(a).unwrap_or_else(|_| json!({})),
                        Err(_) => json!({}),
                    }
                }
                _ => json!({}),
            };
            data["id"] = json!(vod_id);
            if let Some(ch) = &event.channel_id {
                data["live_stream_id"] = json!(ch);
            }
            match mux_type {
                "video.asset.created" => {
                    data["status"] = json!("preparing");
                    data["is_live"] = json!(true);
                }
                "video.asset.ready" | "video.asset.live_stream_completed" => {
                    data["status"] = json!("ready");
                    data["is_live"] = json!(false);
                }
                "video.asset.errored" => data["status"] = json!("errored"),
                _ => {}
            }
            ("asset", vod_id, data)
        } else {
            let channel_id = event.channel_id.clone().unwrap_or_default();
            let mut data = match db.channel(&channel_id).await {
                Ok(Some(channel)) => match live_stream(db, &channel).await {
                    Ok(ls) => serde_json::to_value(ls).unwrap_or_else(|_| json!({})),
                    Err(_) => json!({}),
                },
                _ => json!({}),
            };
            data["id"] = json!(channel_id);
            let status = match mux_type {
                "video.live_stream.connected"
                | "video.live_stream.recording"
                | "video.live_stream.active"
                | "video.live_stream.disconnected" => Some("active"),
                "video.live_stream.idle" | "video.live_stream.enabled" => Some("idle"),
                "video.live_stream.disabled" => Some("disabled"),
                _ => None,
            };
            if let Some(status) = status {
                data["status"] = json!(status);
            }
            ("live_stream", channel_id, data)
        };
    json!({
        "type": mux_type,
        "object": {"type": kind, "id": id},
        "id": delivery_id,
        "environment": {"name": "aethex", "id": event.owner_user_id},
        "data": data,
        "created_at": super::objects::rfc3339_millis(event.created_at_ms),
        "attempts": [],
        "accessor_source": null,
        "accessor": null,
        "request_id": null,
    })
    .to_string()
}
