//! Who may publish: stream keys checked against the control plane, then a
//! live session started for the channel.

use control::{Db, LatencyMode};
use ingest::{PublishGrant, PublishHandler, PublishRequest, Refusal};
use live::Live;
use tracing::error;

pub struct Publisher {
    pub db: Db,
    pub live: Live,
    pub queue_depth: usize,
}

impl PublishHandler for Publisher {
    async fn publish(&self, request: PublishRequest) -> Result<PublishGrant, Refusal> {
        let channel = match self.db.channel_by_stream_key(&request.stream_key).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(Refusal::UnknownKey),
            Err(e) => {
                error!(error = %e, "stream key lookup failed");
                return Err(Refusal::Internal("database unavailable".into()));
            }
        };
        if channel.suspended {
            return Err(Refusal::Suspended(channel.slug));
        }
        if !channel.enabled {
            return Err(Refusal::Disabled(channel.slug));
        }
        // A creator demoted to viewer no longer streams.
        match self.db.user(&channel.owner_user_id).await {
            Ok(Some(owner)) if owner.role != control::Role::Viewer => {}
            Ok(_) => return Err(Refusal::OwnerMayNotPublish(channel.slug)),
            Err(e) => {
                error!(error = %e, "channel owner lookup failed");
                return Err(Refusal::Internal("database unavailable".into()));
            }
        }
        match self.live.start(&channel, self.queue_depth).await {
            Ok(publish) => {
                // A disable (or a demotion of the owner) that landed between
                // the checks above and the session's registration found
                // nothing to cut: look again now that the session is
                // registered, and cut it ourselves.
                let owner_may_publish = match self.db.user(&channel.owner_user_id).await {
                    Ok(Some(owner)) => owner.role != control::Role::Viewer,
                    Ok(None) => false,
                    Err(e) => {
                        error!(error = %e, "channel owner lookup failed");
                        self.live.stop(&channel.channel_id);
                        return Err(Refusal::Internal("database unavailable".into()));
                    }
                };
                if !owner_may_publish {
                    self.live.stop(&channel.channel_id);
                    return Err(Refusal::OwnerMayNotPublish(channel.slug));
                }
                match self.db.channel(&channel.channel_id).await {
                    Ok(Some(now)) if now.accepts_publishers() => {}
                    Ok(_) => {
                        self.live.stop(&channel.channel_id);
                        return Err(Refusal::Disabled(channel.slug));
                    }
                    Err(e) => {
                        error!(error = %e, "channel lookup failed");
                        self.live.stop(&channel.channel_id);
                        return Err(Refusal::Internal("database unavailable".into()));
                    }
                }
                if publish.resumed {
                    tracing::info!(channel = %channel.slug, live_stream = %publish.live_stream_id, "publisher reconnected within the reconnect window");
                }
                Ok(PublishGrant {
                    // LL-HLS viewers get every frame as it arrives.
                    batch_media: channel.latency_mode != LatencyMode::Low,
                    label: channel.slug,
                    sink: publish.sink,
                    finished: Some(publish.finished),
                })
            }
            Err(live::Error::Busy(slug)) => Err(Refusal::Busy(slug)),
            Err(e) => {
                error!(error = %e, channel = %channel.slug, "could not start the live stream");
                Err(Refusal::Internal("could not start the stream".into()))
            }
        }
    }
}
