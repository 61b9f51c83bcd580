//! Why a broadcast ended: one enum instead of string literals compared
//! across the code. The strings are what `control` stores as the live
//! stream's `end_reason` (and what the API and webhooks show), unchanged.

/// Why a broadcast ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The API ended it (`complete`, or the session was stopped).
    Requested,
    /// Its channel was disabled (a broadcast with no session here).
    ChannelDisabled,
    /// Its live stream was deleted on the Mux surface.
    LiveStreamDeleted,
    /// Its owner may no longer broadcast (no longer a creator).
    OwnerNotCreator,
    /// The publisher unpublished (and the channel ends on that).
    PublisherFinished,
    /// The publisher dropped and the channel has no reconnect window.
    PublisherDisconnected,
    /// The publisher dropped and did not come back in time.
    ReconnectWindowElapsed,
    /// Mux's `max_continuous_duration` was reached.
    MaxDurationReached,
    /// The server is stopping.
    ShuttingDown,
    /// Found unfinished after a restart (crash recovery).
    ServerRestarted,
    /// The broadcast could not start (its recording could not be created).
    ServerError,
    /// The broadcast's actor panicked.
    InternalError,
    /// Another node or task registered the channel's broadcast first.
    LostStartRace,
}

impl EndReason {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Requested => "ended by request",
            EndReason::ChannelDisabled => "channel disabled",
            EndReason::LiveStreamDeleted => "live stream deleted",
            EndReason::OwnerNotCreator => "owner is no longer a creator",
            EndReason::PublisherFinished => "publisher finished",
            EndReason::PublisherDisconnected => "publisher disconnected",
            EndReason::ReconnectWindowElapsed => "reconnect window elapsed",
            EndReason::MaxDurationReached => "max continuous duration reached",
            EndReason::ShuttingDown => "server shutting down",
            EndReason::ServerRestarted => "server restarted",
            EndReason::ServerError => "server error",
            EndReason::InternalError => "internal error",
            EndReason::LostStartRace => "lost a start race",
        }
    }

    /// The reason to record once the server is known to be stopping: a
    /// publisher that "dropped" then was really cut off by the shutdown.
    pub fn given_shutdown(self, shutting_down: bool) -> EndReason {
        if shutting_down && self == EndReason::PublisherDisconnected {
            EndReason::ShuttingDown
        } else {
            self
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_keep_their_stored_spelling() {
        assert_eq!(
            EndReason::ReconnectWindowElapsed.as_str(),
            "reconnect window elapsed"
        );
        assert_eq!(EndReason::ServerRestarted.to_string(), "server restarted");
        assert_eq!(
            EndReason::PublisherDisconnected.given_shutdown(true),
            EndReason::ShuttingDown
        );
        assert_eq!(
            EndReason::PublisherFinished.given_shutdown(true),
            EndReason::PublisherFinished
        );
        assert_eq!(
            EndReason::PublisherDisconnected.given_shutdown(false),
            EndReason::PublisherDisconnected
        );
    }
}
