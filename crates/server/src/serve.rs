//! `aethex serve`: wires control, storage, live sessions, RTMP ingest and
//! HTTP together, and shuts them down in order.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use live::Live;
use storage::Media;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::commands::{open_db, redact};
use crate::config::Resolved;
use crate::publish::Publisher;

/// How long shutdown waits for broadcasts to write their last segment and
/// playlists.
const FINALIZE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for pending uploads to reach a remote store.
const UPLOAD_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn run(resolved: Resolved) -> anyhow::Result<()> {
    let config = &resolved.config;
    let metrics = crate::metrics::install()?;
    let db = open_db(&resolved).await?;
    let media = Media::open(&config.storage, &resolved.storage_url, &resolved.spool_dir)
        .await
        .context("cannot open storage")?;
    let public_base_url = Some(config.storage.public_base_url.clone()).filter(|u| !u.is_empty());
    let live = Live::new(
        db.clone(),
        media.clone(),
        public_base_url,
        config.hls.clone(),
        std::sync::Arc::new(crate::transcoder::MediaTranscoder::new(
            config.transcode.clone(),
        )),
    );
    // Before publishers arrive: build GStreamer's plugin registry (seconds
    // on a cold machine) and check the transcoder's elements, so the first
    // broadcast does not wait for it and a missing plugin is reported now.
    let transcode_config = config.transcode.clone();
    match tokio::task::spawn_blocking(move || transcode::preflight(&transcode_config)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(
            error = %e,
            "the transcoder cannot run; broadcasts will fail to start their ladders and play the source only"
        ),
        Err(e) => warn!(error = %e, "transcoder preflight panicked"),
    }
    match live.recover().await {
        Ok(0) => {}
        Ok(n) => info!(
            count = n,
            "finalized broadcasts left unfinished by the previous run"
        ),
        Err(e) => warn!(error = %e, "could not finalize broadcasts left by the previous run"),
    }

    let rtmp = TcpListener::bind(config.rtmp.listen)
        .await
        .with_context(|| format!("cannot listen for RTMP on {}", config.rtmp.listen))?;
    let mut rtmp_listeners = vec![rtmp];
    for addr in &config.rtmp.extra_listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for RTMP on {addr} (rtmp.extra_listen)"))?;
        info!(rtmp = %listener.local_addr()?, apps = ?config.rtmp.apps(), "also accepting RTMP here");
        rtmp_listeners.push(listener);
    }
    let http = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http.listen))?;
    info!(
        rtmp = %rtmp_listeners[0].local_addr()?,
        http = %http.local_addr()?,
        database = %redact(&resolved.database_url),
        storage = %media.url(),
        obs_server = %config.rtmp.effective_public_url(),
        "AeThex LIVE is up"
    );

    // Two stages: publishers first (their broadcasts finish and write their
    // final playlists), then HTTP, so viewers can still fetch those.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (http_shutdown_tx, http_shutdown_rx) = watch::channel(false);
    let publisher = Arc::new(Publisher {
        db: db.clone(),
        live: live.clone(),
        queue_depth: config.rtmp.queue_depth,
    });
    let ingest_task = tokio::spawn(ingest::serve_all(
        rtmp_listeners,
        config.rtmp.clone(),
        publisher,
        shutdown_rx.clone(),
    ));
    tokio::spawn(crate::sweep::report_orphans(db.clone(), media.clone()));
    crate::clip_export::spawn_clip_exporter(
        db.clone(),
        media.clone(),
        live.clip_exporter_wake(),
        crate::clip_export::ClipExportConfig::default(),
        shutdown_rx.clone(),
    );
    live::spawn_asset_file_maker(&live, shutdown_rx.clone());
    let outbound = outbound::OutboundPolicy::new(&config.outbound).map_err(anyhow::Error::msg)?;
    tokio::spawn(crate::webhooks::run(
        db.clone(),
        config.webhooks.clone(),
        outbound.clone(),
        http_shutdown_rx.clone(),
    ));
    tokio::spawn(crate::metrics::poll_storage(
        media.clone(),
        http_shutdown_rx.clone(),
    ));
    let viewers = {
        let live = live.clone();
        move |live_stream_id: &str| {
            live.viewers()
                .count(live_stream_id, std::time::Instant::now())
        }
    };
    let api_options = api::ApiOptions {
        config: config.api.clone(),
        viewers: Some(Arc::new(viewers)),
        ladders: Some(config.transcode.ladders.keys().cloned().collect()),
        rtmp_url: Some(config.rtmp.effective_public_url()),
        public_url: config.http.public_url.trim_end_matches('/').to_owned(),
        outbound,
        webhooks: config.webhooks.clone(),
        media_origins: url::Url::parse(&config.storage.public_base_url)
            .ok()
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null")
            .into_iter()
            .collect(),
        web_dir: (!config.web_dir.is_empty()).then(|| PathBuf::from(&config.web_dir)),
    };
    let app = api::router(
        api::AppState::new(db.clone(), media.clone(), live.origin()),
        api_options,
    );
    // Prometheus: on the main port (guarded), or on its own address.
    let app = if config.metrics.listen.is_empty() {
        app.merge(crate::metrics::guarded_router(
            metrics,
            db.clone(),
            config.metrics.public,
        ))
    } else {
        let listener = TcpListener::bind(&config.metrics.listen)
            .await
            .with_context(|| format!("cannot listen for metrics on {}", config.metrics.listen))?;
        info!(metrics = %listener.local_addr()?, "serving Prometheus metrics at /metrics");
        let metrics_app: axum::Router = crate::metrics::router(metrics);
        let shutdown = http_shutdown_rx.clone();
        tokio::spawn(async move {
            let served = crate::http_server::serve(listener, metrics_app, shutdown).await;
            if let Err(e) = served {
                warn!(error = %e, "metrics server failed");
            }
        });
        app
    };
    let http_shutdown = http_shutdown_rx;
    let mut http_task =
        tokio::spawn(async move { crate::http_server::serve(http, app, http_shutdown).await });

    tokio::select! {
        _ = shutdown_signal() => {}
        r = &mut http_task => {
            // The HTTP server only returns early on a fatal error: still
            // finish the broadcasts before reporting it.
            live.begin_shutdown();
            let _ = shutdown_tx.send(true);
            let _ = ingest_task.await;
            live.wait_finished(FINALIZE_TIMEOUT).await;
            r.context("HTTP server task failed")?.context("HTTP server failed")?;
            return Ok(());
        }
    }
    info!(
        "shutting down: disconnecting publishers and finishing their broadcasts \
         (a second Ctrl-C exits at once)"
    );
    live.begin_shutdown();
    let _ = shutdown_tx.send(true);
    let finish = async {
        let _ = ingest_task.await;
        if !live.wait_finished(FINALIZE_TIMEOUT).await {
            warn!("some broadcasts did not finish in time; the next start finalizes them");
        }
    };
    tokio::select! {
        _ = finish => {}
        _ = shutdown_signal() => {
            warn!("second signal: exiting now; the next start finalizes unfinished broadcasts");
            return Ok(());
        }
    }
    let _ = http_shutdown_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(5), http_task)
        .await
        .is_err()
    {
        warn!("HTTP connections still open after 5 s; closing");
    }
    // Uploads still pending stay in the spool for the next start.
    if !media.shutdown(UPLOAD_DRAIN_TIMEOUT).await {
        warn!(
            "uploads still pending after {UPLOAD_DRAIN_TIMEOUT:?}; they stay in the spool and resume at the next start"
        );
    }
    db.close().await;
    info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
