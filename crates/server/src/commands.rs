//! Dispatch of the CLI commands other than `serve`'s internals.

use anyhow::{Context, anyhow};
use control::{Db, LatencyMode, NewChannel, NewUser};
use serde_json::json;

use crate::cli::{
    ChannelCommand, Cli, Command, ConfigCommand, Latency, Role, SegmentFormatArg, StorageCommand,
    UserCommand, VodCommand,
};
use crate::config::{Config, Resolved};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Config(ConfigCommand::Check { file }) = &cli.command {
        let path = file.as_deref().or(cli.config.as_deref());
        let config = Config::load(path)?;
        print!("{}", config.to_redacted_toml()?);
        match path {
            Some(p) => eprintln!("{}: OK", p.display()),
            None => eprintln!("built-in defaults: OK"),
        }
        return Ok(());
    }
    let resolved = Config::load(cli.config.as_deref())?.resolve()?;
    match cli.command {
        Command::Serve => crate::serve::run(resolved).await,
        // Handled in main, without a runtime or configuration.
        Command::Segment(_) => unreachable!("segment runs before the runtime starts"),
        Command::Config(_) => unreachable!("config check returned above"),
        Command::Migrate => {
            let db = open_db(&resolved).await?;
            db.close().await;
            println!(
                "database is up to date ({})",
                redact(&resolved.database_url)
            );
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => {
            let db = open_db(&resolved).await?;
            let user = db
                .create_user(NewUser {
                    username: args.username,
                    email: args.email,
                    password: args.password,
                    role: match args.role {
                        Role::Admin => control::Role::Admin,
                        Role::Creator => control::Role::Creator,
                        Role::Viewer => control::Role::Viewer,
                    },
                })
                .await
                .context("cannot create user")?;
            db.close().await;
            if args.json {
                println!(
                    "{}",
                    json!({"user_id": user.user_id, "username": user.username, "role": user.role.as_str()})
                );
            } else {
                println!("created {} user {:?}", user.role.as_str(), user.username);
            }
            Ok(())
        }
        Command::Channel(ChannelCommand::Create(args)) => {
            let db = open_db(&resolved).await?;
            let owner = db
                .user_by_username(&args.owner)
                .await?
                .ok_or_else(|| {
                    anyhow!(
                        "no user named {:?}; create one first with `aethex user create --username {} --password ...`",
                        args.owner,
                        args.owner
                    )
                })?;
            let created = db
                .create_channel(NewChannel {
                    owner_user_id: owner.user_id,
                    title: args.title.unwrap_or_else(|| args.slug.clone()),
                    slug: args.slug,
                    latency_mode: match args.latency {
                        Latency::Standard => LatencyMode::Standard,
                        Latency::Low => LatencyMode::Low,
                    },
                    segment_format: args.segment_format.map(|f| match f {
                        SegmentFormatArg::Ts => control::SegmentFormat::Ts,
                        SegmentFormatArg::Fmp4 => control::SegmentFormat::Fmp4,
                    }),
                    ladder: args.ladder,
                })
                .await
                .context("cannot create channel")?;
            let created = if args.reconnect_window.is_some() || args.no_record {
                let channel = db
                    .update_channel(
                        &created.channel.channel_id,
                        control::ChannelUpdate {
                            reconnect_window_s: args.reconnect_window,
                            record: args.no_record.then_some(false),
                            ..Default::default()
                        },
                    )
                    .await
                    .context("cannot set the channel's options")?;
                control::CreatedChannel { channel, ..created }
            } else {
                created
            };
            db.close().await;
            let config = &resolved.config;
            let rtmp_url = config.rtmp.effective_public_url();
            let hls_url = format!(
                "{}/hls/{}/master.m3u8",
                config.http.effective_public_url(),
                created.channel.playback_id
            );
            if args.json {
                println!(
                    "{}",
                    json!({
                        "channel_id": created.channel.channel_id,
                        "stream_key": created.stream_key,
                        "playback_id": created.channel.playback_id,
                        "rtmp_url": rtmp_url,
                        "hls_url": hls_url,
                    })
                );
            } else {
                println!("Channel {:?} created.", created.channel.slug);
                println!();
                println!("OBS → Settings → Stream → Service: Custom...");
                println!("  Server:     {rtmp_url}");
                println!(
                    "  Stream Key: {}   (shown only now; `aethex channel reset-key` makes a new one)",
                    created.stream_key
                );
                println!();
                println!("Playback (HLS): {hls_url}");
            }
            Ok(())
        }
        Command::Vod(VodCommand::List { channel, json }) => {
            let db = open_db(&resolved).await?;
            let ch = db
                .channel_by_slug(&channel)
                .await?
                .ok_or_else(|| anyhow!("no channel with slug {channel:?}"))?;
            let vods = db.list_vods(&ch.channel_id).await?;
            db.close().await;
            if json {
                let list: Vec<_> = vods
                    .iter()
                    .map(|v| {
                        json!({
                            "vod_id": v.vod_id,
                            "live_stream_id": v.live_stream_id,
                            "status": v.status.as_str(),
                            "title": v.title,
                            "duration_s": v.duration_ms as f64 / 1000.0,
                            "segment_count": v.segment_count,
                            "created_at_ms": v.created_at_ms,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if vods.is_empty() {
                println!("{channel:?} has no recordings");
            } else {
                for v in &vods {
                    println!(
                        "{}  {:<10} {:>8.1} s  {}",
                        v.vod_id,
                        v.status.as_str(),
                        v.duration_ms as f64 / 1000.0,
                        v.title
                    );
                }
            }
            Ok(())
        }
        Command::Vod(VodCommand::Delete { vod_id, json }) => {
            let db = open_db(&resolved).await?;
            let config = &resolved.config;
            let media = storage::Media::open_direct(&config.storage, &resolved.storage_url)
                .await
                .context("cannot open storage")?;
            let live = live::Live::new(
                db.clone(),
                media,
                None,
                config.hls.clone(),
                // Deleting needs no transcoder.
                std::sync::Arc::new(live::NoTranscoder),
            );
            let (deleted, removed) = live
                .delete_vod(&vod_id)
                .await
                .with_context(|| format!("cannot delete VOD {vod_id}"))?;
            db.close().await;
            if json {
                println!(
                    "{}",
                    json!({
                        "vod_id": deleted.vod.vod_id,
                        "live_stream_id": deleted.live_stream_id,
                        "objects_deleted": removed.objects,
                        "clips_deleted": deleted.clip_ids.len(),
                    })
                );
            } else {
                println!(
                    "deleted VOD {} ({} objects, {} clips)",
                    deleted.vod.vod_id,
                    removed.objects,
                    deleted.clip_ids.len()
                );
            }
            Ok(())
        }
        Command::Storage(StorageCommand::Sweep { delete, json }) => {
            let db = open_db(&resolved).await?;
            let config = &resolved.config;
            // Direct: a running server holds the spool; orphans have no
            // pending uploads anyway.
            let media = storage::Media::open_direct(&config.storage, &resolved.storage_url)
                .await
                .context("cannot open storage")?;
            let found = crate::sweep::orphans(&db, &media).await?;
            let objects: usize = found.values().map(Vec::len).sum();
            let mut deleted = 0;
            if delete {
                for id in found.keys() {
                    deleted += media
                        .delete_prefix(&storage::keys::live_stream_prefix(id))
                        .await?;
                }
            }
            media.shutdown(std::time::Duration::from_secs(30)).await;
            db.close().await;
            if json {
                println!(
                    "{}",
                    json!({"broadcasts": found.len(), "objects": objects, "deleted": deleted})
                );
            } else if found.is_empty() {
                println!("no orphaned objects");
            } else {
                for (id, keys) in &found {
                    println!("live/{id}/: {} objects of an unknown broadcast", keys.len());
                }
                if delete {
                    println!("deleted {deleted} objects");
                } else {
                    println!("run with --delete to remove them");
                }
            }
            Ok(())
        }
        Command::Channel(ChannelCommand::ResetKey(args)) => {
            let db = open_db(&resolved).await?;
            let channel = db
                .channel_by_slug(&args.slug)
                .await?
                .ok_or_else(|| anyhow!("no channel with slug {:?}", args.slug))?;
            let key = db.reset_stream_key(&channel.channel_id).await?;
            db.close().await;
            if args.json {
                println!(
                    "{}",
                    json!({"channel_id": channel.channel_id, "stream_key": key})
                );
            } else {
                println!("New stream key for {:?}: {key}", channel.slug);
                println!("The previous key no longer works.");
            }
            Ok(())
        }
    }
}

/// Connects and applies pending migrations.
pub async fn open_db(resolved: &Resolved) -> anyhow::Result<Db> {
    let db = Db::connect_with(&control::DbConfig {
        database_url: resolved.database_url.clone(),
        password: resolved.config.password.clone(),
        ..control::DbConfig::default()
    })
    .await
    .with_context(|| format!("cannot open database {}", redact(&resolved.database_url)))?;
    let db = db.with_sealing_key(&sealing_key(&resolved.config.data_dir)?);
    db.migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(db)
}

/// Name of the sealing key's file in the data directory.
pub const SEALING_KEY_FILE: &str = "sealing.key";

/// The key that seals stored secrets the server must show again (stream
/// keys on the Mux surface, simulcast targets' keys): 32 bytes as hex,
/// from `AETHEX_SEALING_KEY` if set (every node of a cluster needs the
/// same key), else from `{data_dir}/sealing.key`, created on first start
/// with mode 600. Losing it makes stored keys unreadable (not unusable:
/// publishing checks a hash); resetting a stream key makes it readable
/// again.
pub fn sealing_key(data_dir: &std::path::Path) -> anyhow::Result<[u8; control::SEALING_KEY_LEN]> {
    let parse = |text: &str, from: &str| -> anyhow::Result<[u8; control::SEALING_KEY_LEN]> {
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == control::SEALING_KEY_LEN)
            .with_context(|| format!("{from} must hold 64 hex digits (32 bytes)"))?;
        let mut key = [0u8; control::SEALING_KEY_LEN];
        key.copy_from_slice(&bytes);
        Ok(key)
    };
    if let Ok(text) = std::env::var("AETHEX_SEALING_KEY")
        && !text.trim().is_empty()
    {
        return parse(&text, "AETHEX_SEALING_KEY");
    }
    let path = data_dir.join(SEALING_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let mut key = [0u8; control::SEALING_KEY_LEN];
            getrandom_fill(&mut key)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(mut file) => {
                    use std::io::Write;
                    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())
                        .and_then(|()| file.sync_all())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    tracing::info!(path = %path.display(), "created the sealing key (keep it with the data; back it up)");
                    Ok(key)
                }
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    parse(&text, &path.display().to_string())
                }
                Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn getrandom_fill(buf: &mut [u8]) -> anyhow::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .context("cannot read /dev/urandom")
}

/// A URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("sqlite:///x/y.db"), "sqlite:///x/y.db");
    }
}
