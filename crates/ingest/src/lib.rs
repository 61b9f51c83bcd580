//! RTMP ingest: creators' encoders (OBS, ffmpeg, GStreamer) publish here.
//!
//! The protocol core ([`Connection`]) is sans-IO: bytes in, bytes to send and
//! [`Event`]s out. It runs our own RTMP layer (`rtmp`: handshake, chunk
//! reader and writer, AMF0, the server session), which bounds everything a
//! client can make it hold and never panics on what it reads. [`serve`] is
//! the thin tokio adapter that owns sockets, timeouts and the
//! per-connection tracing span, and asks a [`PublishHandler`] whether a
//! stream key may publish.
//!
//! Refusals are always logged with the reason (unknown app, unknown stream
//! key, channel disabled, already live, unsupported codec, protocol error) and
//! only ever close the connection they concern.

mod config;
mod connection;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod keyframes;
mod limits;
mod rtmp;
mod server;
mod testutil;

pub use config::IngestConfig;
pub use connection::{Connection, Event};
pub use error::{Error, Result};
pub use limits::LimitRefusal;
pub use server::{
    Arrival, CONNECTIONS, OPEN_CONNECTIONS, PublishGrant, PublishHandler, PublishRequest, Refusal,
    describe_metrics, serve, serve_all,
};
