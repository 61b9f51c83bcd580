//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// AeThex LIVE: a self-hosted live-streaming server.
///
/// Creators publish RTMP (OBS: Server rtmp://HOST/live, Stream Key from
/// `aethex channel create`); viewers play HLS at
/// http://HOST:8080/hls/PLAYBACK_ID/master.m3u8.
///
/// Every command reads the same configuration: built-in defaults, then the
/// TOML file given by --config (or AETHEX_CONFIG), then AETHEX_* environment
/// variables (AETHEX_DATA_DIR, AETHEX_DATABASE_URL, AETHEX_STORAGE_URL,
/// AETHEX_HTTP_ADDR, AETHEX_RTMP_ADDR, AETHEX_HTTP_PUBLIC_URL,
/// AETHEX_RTMP_PUBLIC_URL). Logs go to stderr, filtered by AETHEX_LOG
/// (e.g. AETHEX_LOG=debug or AETHEX_LOG=ingest=debug,info).
#[derive(Debug, Parser)]
#[command(name = "aethex", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML; see config/aethex.toml for every option).
    #[arg(long, global = true, env = "AETHEX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log format on stderr (env AETHEX_LOG_FORMAT).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "AETHEX_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines (colored on a terminal).
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: RTMP ingest, HLS origin and HTTP API.
    Serve,
    /// Apply database migrations and exit (serve does this at start too).
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage channels (what creators stream to).
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Check configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List and delete recordings (VODs).
    #[command(subcommand)]
    Vod(VodCommand),
    /// Inspect and clean object storage.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Remux a file (FLV or MP4, H.264 + AAC) into an HLS VOD with the live
    /// packager: OUTDIR gets index.m3u8, master.m3u8 and the segments. No
    /// re-encoding; segments are cut at keyframes.
    Segment(SegmentArgs),
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Find objects of broadcasts the database does not know (orphans);
    /// with --delete, remove them.
    Sweep {
        /// Delete the orphaned objects (default: only report them).
        #[arg(long)]
        delete: bool,
        /// Print {"broadcasts","objects","deleted"} as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file (unknown keys and bad values are
    /// errors that name them), apply the AETHEX_* environment, and print
    /// the effective configuration with secrets redacted.
    Check {
        /// The file to check (default: --config / AETHEX_CONFIG, or the
        /// built-in defaults).
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum VodCommand {
    /// List a channel's recordings, newest first.
    List {
        /// Slug of the channel.
        #[arg(long)]
        channel: String,
        /// Print a JSON array of VODs.
        #[arg(long)]
        json: bool,
    },
    /// Delete a recording: its row, its clips, and every object of its
    /// broadcast in the store (segments, playlists, thumbnails, poster).
    /// Refused while the broadcast is live.
    Delete {
        /// The VOD's id (from `aethex vod list`).
        vod_id: String,
        /// Print {"vod_id","live_stream_id","objects_deleted","clips_deleted"} as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// Input file: FLV or MP4 (progressive) with H.264 video and/or AAC audio.
    pub input: PathBuf,
    /// Output directory (created if missing; existing files are overwritten).
    pub outdir: PathBuf,
    /// Segment container.
    #[arg(long, value_enum, default_value_t = SegmentFormatArg::Ts)]
    pub format: SegmentFormatArg,
    /// Target segment duration in seconds (segments are cut at the first
    /// keyframe at or after it).
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    pub segment_duration: f64,
    /// Also transcode the renditions of this ladder preset (from the
    /// configuration, [transcode.ladders]) with the live transcoder: OUTDIR
    /// gets master.m3u8 and a directory per rendition, `source` included.
    #[arg(long, value_name = "PRESET")]
    pub ladder: Option<String>,
    /// With --ladder: encode every rung of the preset, also those not
    /// below the source (benchmarks compare full ladders this way).
    #[arg(long, requires = "ladder")]
    pub all_rungs: bool,
    /// Print a summary as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SegmentFormatArg {
    /// MPEG-TS segments (.ts).
    Ts,
    /// Fragmented MP4 / CMAF segments (.m4s) with an init.mp4.
    Fmp4,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user account.
    Create(UserCreate),
}

#[derive(Debug, Args)]
pub struct UserCreate {
    /// Login name: 3-32 characters of a-z, 0-9, '_' and '-' (case-insensitive).
    #[arg(long)]
    pub username: String,
    /// Password (at least 8 characters). Prefer AETHEX_USER_PASSWORD to keep
    /// it out of shell history.
    #[arg(long, env = "AETHEX_USER_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Email address (optional).
    #[arg(long)]
    pub email: Option<String>,
    /// Role: admin (everything), creator (own channels), viewer.
    #[arg(long, value_enum, default_value_t = Role::Creator)]
    pub role: Role,
    /// Print the created user as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Admin,
    Creator,
    Viewer,
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Create a channel and print its stream key (shown only this once).
    Create(ChannelCreate),
    /// Replace a channel's stream key and print the new one (the old key
    /// stops working immediately).
    ResetKey(ChannelResetKey),
}

#[derive(Debug, Args)]
pub struct ChannelCreate {
    /// Username of the channel's owner.
    #[arg(long)]
    pub owner: String,
    /// URL name of the channel: 3-40 characters of a-z, 0-9 and '-'.
    #[arg(long)]
    pub slug: String,
    /// Display title (defaults to the slug).
    #[arg(long)]
    pub title: Option<String>,
    /// Latency mode: standard (HLS with 2 s segments, ~6-10 s behind live)
    /// or low (Low-Latency HLS with 1/3 s parts, ~1.3 s behind live).
    #[arg(long, value_enum, default_value_t = Latency::Standard)]
    pub latency: Latency,
    /// Do not record broadcasts as VODs: segments are deleted once they left
    /// the live window (after hls.retention_grace_s).
    #[arg(long)]
    pub no_record: bool,
    /// Seconds a broadcast waits for a publisher that dropped (not one that
    /// stopped on purpose) to come back and continue it (0-1800; default 60).
    #[arg(long, value_name = "S")]
    pub reconnect_window: Option<u32>,
    /// Transcoding ladder preset (see [transcode.ladders] in the config):
    /// "default" (source + 720p/480p/360p below the source) or
    /// "passthrough-only". Default: "default".
    #[arg(long, value_name = "PRESET")]
    pub ladder: Option<String>,
    /// HLS segment container: ts (MPEG-TS) or fmp4 (CMAF). Default: fmp4
    /// for low-latency channels (LL-HLS needs it), ts otherwise.
    #[arg(long, value_enum)]
    pub segment_format: Option<SegmentFormatArg>,
    /// Print {"channel_id","stream_key","playback_id","rtmp_url","hls_url"} as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ChannelResetKey {
    /// Slug of the channel.
    #[arg(long)]
    pub slug: String,
    /// Print {"channel_id","stream_key"} as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Latency {
    Standard,
    Low,
}
