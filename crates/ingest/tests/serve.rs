//! `ingest::serve` with a real ffmpeg publisher: the media reaches the
//! grant's sink complete and in order, and with `media_batch_ms` it comes in
//! batches of several frames (one wakeup of the live stream per batch
//! instead of one per frame).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use av::{DemuxEvent, TrackKind};
use ingest::{Arrival, IngestConfig, PublishGrant, PublishHandler, PublishRequest, Refusal};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

const STREAM_KEY: &str = "serve-test-key";
/// Seconds of media each publisher sends.
const SECONDS: u32 = 3;

/// Grants one publish on [`STREAM_KEY`] into its sink, with or without
/// batching.
struct OneGrant(Mutex<Option<mpsc::Sender<Arrival>>>, bool);

impl PublishHandler for OneGrant {
    fn publish(
        &self,
        request: PublishRequest,
    ) -> impl Future<Output = Result<PublishGrant, Refusal>> + Send {
        let batch_media = self.1;
        let sink = if request.stream_key == STREAM_KEY {
            self.0.lock().unwrap().take()
        } else {
            None
        };
        async move {
            let sink = sink.ok_or(Refusal::UnknownKey)?;
            Ok(PublishGrant {
                label: "serve-test".into(),
                sink,
                finished: None,
                batch_media,
            })
        }
    }
}

fn fixture() -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../media/h264_aac_360p30_nobframes.flv");
    assert!(
        path.exists(),
        "{} is missing: run scripts/make-fixtures",
        path.display()
    );
    path
}

/// What one publish delivered.
struct Delivered {
    batches: usize,
    video_units: usize,
    audio_units: usize,
}

/// Publishes `SECONDS` of the fixture with ffmpeg through `serve` with
/// `media_batch_ms` (for a grant that allows batching or not), and collects
/// what reached the sink.
async fn publish_with(media_batch_ms: u64, batch_media: bool) -> Delivered {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = IngestConfig {
        media_batch_ms,
        ..IngestConfig::default()
    };
    let (tx, mut rx) = mpsc::channel(1024);
    let handler = Arc::new(OneGrant(Mutex::new(Some(tx)), batch_media));
    let (shutdown_tx, shutdown) = watch::channel(false);
    let server = tokio::spawn(ingest::serve(listener, config, handler, shutdown));

    let mut ffmpeg = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-re",
            "-i",
        ])
        .arg(fixture())
        .args(["-t", &SECONDS.to_string(), "-c", "copy", "-f", "flv"])
        .arg(format!("rtmp://127.0.0.1:{port}/live/{STREAM_KEY}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg runs");

    let mut delivered = Delivered {
        batches: 0,
        video_units: 0,
        audio_units: 0,
    };
    let mut last_dts = [None; 2];
    let collect = async {
        // Ends when the connection closes (ffmpeg finished) and drops the sink.
        while let Some((_, events)) = rx.recv().await {
            assert!(!events.is_empty(), "an empty batch was sent");
            delivered.batches += 1;
            for event in events {
                let DemuxEvent::Unit(au) = event else {
                    continue;
                };
                let track = match au.track {
                    TrackKind::Video => {
                        delivered.video_units += 1;
                        0
                    }
                    TrackKind::Audio => {
                        delivered.audio_units += 1;
                        1
                    }
                };
                if let Some(last) = last_dts[track] {
                    assert!(au.dts > last, "{:?} decode times went back", au.track);
                }
                last_dts[track] = Some(au.dts);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .expect("the publish ends within 30 s");
    let status = tokio::time::timeout(Duration::from_secs(10), ffmpeg.wait())
        .await
        .expect("ffmpeg exits")
        .unwrap();
    assert!(status.success(), "ffmpeg failed: {status}");
    shutdown_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
    delivered
}

#[tokio::test]
async fn media_arrives_whole_and_in_order_in_batches() {
    let immediate = publish_with(0, true).await;
    let batched = publish_with(100, true).await;
    // A low-latency stream's grant turns batching off.
    let unbatched = publish_with(100, false).await;
    let runs = [
        ("immediate", &immediate),
        ("batched", &batched),
        ("unbatched grant", &unbatched),
    ];
    for (name, d) in runs {
        // 30 fps video and ~47 AAC frames a second for SECONDS.
        assert!(
            d.video_units >= 30 * SECONDS as usize - 3,
            "{name}: {} video units",
            d.video_units
        );
        assert!(
            d.audio_units >= 45 * SECONDS as usize - 3,
            "{name}: {} audio units",
            d.audio_units
        );
    }
    let per_batch = |d: &Delivered| (d.video_units + d.audio_units) as f64 / d.batches as f64;
    let (immediate_mean, batched_mean, unbatched_mean) = (
        per_batch(&immediate),
        per_batch(&batched),
        per_batch(&unbatched),
    );
    // About 7.7 frames arrive in 100 ms; reads as they come carry one or two
    // (more in ffmpeg's initial burst).
    assert!(
        batched_mean >= 3.0
            && batched_mean >= 2.0 * immediate_mean
            && batched_mean >= 2.0 * unbatched_mean,
        "frames per batch: {batched_mean:.1} batched (100 ms), {immediate_mean:.1} immediate, \
         {unbatched_mean:.1} with a grant that does not batch"
    );
}
