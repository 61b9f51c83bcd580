//! `loadgen`: N real-time ffmpeg publishers and N playlist pollers against
//! an RTMP-in, HLS-out server, measuring what a viewer fleet sees.
//!
//! ```text
//! loadgen --fixture media/h264_aac_720p30_bframes_60s.flv --warmup 10 \
//!     --duration 60 --rate 20 [--master] [--pid SERVER_PID ...] \
//!     --out results.json streams.json
//! ```
//!
//! `streams.json` (or `-`, stdin) lists the streams:
//! `[{"name": "s0", "rtmp_url": "rtmp://127.0.0.1:P/live/KEY",
//! "playlist_url": "http://127.0.0.1:H/path/index.m3u8"}, ...]`. With
//! `--master` each `playlist_url` is a master playlist, polled (at the same
//! rate) until it lists a variant, whose media playlist is then polled.
//!
//! At time 0 (the run's start) it samples the `--pid` processes (idle),
//! then starts, for every stream at once, one `ffmpeg -re -stream_loop -1
//! -i FIXTURE -c copy -f flv RTMP_URL` publisher (see [`publisher`] for
//! how its clock is estimated) and one poller of its playlist ([`poller`]).
//! The measuring window is `[warmup, warmup + duration]`; the processes are
//! sampled again at both ends. Pollers go on for `--grace` seconds after
//! the window so that segments closed near its end are seen; then every
//! publisher is killed.
//!
//! # Definitions (all times on one monotonic clock)
//!
//! - Segment `k`'s end media time: `origin + sum of EXTINF of msn 0..=k`,
//!   where `origin` is the publisher's media time at which segment 0
//!   starts: the fixture's first video keyframe's decode timestamp (from
//!   ffprobe; or `--media-origin`), in the time line of ffmpeg's
//!   `out_time` (see [`publisher`]). EXTINF sums are differences between
//!   keyframes, the same in decode and presentation time. Only known when
//!   the poller saw every segment from msn 0 (else the stream is a
//!   measurement error and gives no latencies).
//! - Segment `k`'s close time: `publisher offset + end media time`, the
//!   moment the publisher sent the keyframe that closes segment `k`.
//! - Segment-available latency of `k`: the end of the first poll response
//!   that listed `k`, minus its close time. Counted when the close time is
//!   inside the window. It includes the wait for the next poll, uniform in
//!   `[0, 1/rate)` across streams; but as segments close every 2.000 s and
//!   polls come every 1/rate s, one stream's phase against its segments
//!   stays put, so its latencies share one offset in that range (a stream
//!   whose listing falls near a poll shows two values 1/rate apart). The
//!   fleet's distribution is the figure; per-stream values are coarse.
//! - A stream is on time when at least one segment closed in the window,
//!   every one of those had latency `<= --on-time` (2 s), no measurement
//!   error, and it is not stalled: at the end of polling, the listed
//!   segments reach to within one (longest seen) segment duration of the
//!   media the publisher had sent by the window's end. (A segment closed
//!   in the window but never listed has a latency above `--grace`.)
//! - First segment: the first time any segment was listed, minus the
//!   publisher's spawn time. Publish start: the publisher's offset (when it
//!   sent media time 0) minus its spawn time: ffmpeg's start-up, the TCP
//!   and RTMP handshakes, and the server's answer to `publish`.
//! - Max gap: the longest time inside the window without a new segment
//!   being listed (window start to the first new one, between new ones,
//!   the last to the window end).
//! - Achieved poll rate: polls started inside the window / (streams ×
//!   window length).
//! - Percentiles are nearest-rank.
//! - CPU of a `--pid`: utime + stime + cutime + cstime of it and every live
//!   descendant, from `/proc` (USER_HZ = 100); RSS: VmRSS summed likewise.

mod http;
mod playlist;
mod poller;
mod publisher;
mod sample;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

#[derive(Parser, Debug)]
#[command(
    about = "RTMP publishers and HLS playlist pollers: segment-available latency as viewers see it"
)]
struct Args {
    /// JSON list of streams ({name, rtmp_url, playlist_url}); `-` for stdin.
    #[arg(default_value = "-")]
    streams: String,
    /// The media every publisher loops (FLV with H.264 + AAC).
    #[arg(long)]
    fixture: PathBuf,
    /// Playlist polls per second per stream.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seconds before the measuring window.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Length of the measuring window, seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seconds of polling after the window, to see its last segments.
    #[arg(long, default_value_t = 4.0)]
    grace: f64,
    /// Latency bound of an on-time stream, seconds.
    #[arg(long, default_value_t = 2.0)]
    on_time: f64,
    /// playlist_url are master playlists: resolve their first variant.
    #[arg(long)]
    master: bool,
    /// Processes to sample (CPU time, RSS) at the start and both ends of
    /// the window, with their descendants. Repeatable.
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// Publisher media time at which segment 0 starts (default: the
    /// fixture's first video keyframe DTS, from ffprobe).
    #[arg(long)]
    media_origin: Option<f64>,
    /// Where to write the results (JSON); stdout when absent.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "ffmpeg")]
    ffmpeg: String,
    #[arg(long, default_value = "ffprobe")]
    ffprobe: String,
}

#[derive(Deserialize, Debug)]
struct StreamSpec {
    name: String,
    rtmp_url: String,
    playlist_url: String,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        // SIGINT or SIGTERM end the run early; dropping the runtime below
        // drops every task, and with them the publishers (kill_on_drop).
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("SIGTERM handler: {e}"))?;
        tokio::select! {
            r = run(args) => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted".to_string()),
            _ = term.recv() => Err("terminated".to_string()),
        }
    });
    drop(runtime);
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(2);
    }
}

async fn run(args: Args) -> Result<(), String> {
    if !(args.rate > 0.0 && args.rate <= 1000.0) {
        return Err("--rate must be in (0, 1000]".into());
    }
    if !(args.warmup >= 0.0 && args.duration > 0.0 && args.grace >= 0.0) {
        return Err("--warmup and --grace must be >= 0, --duration > 0".into());
    }
    if args.warmup + args.duration + args.grace > 86_400.0 {
        return Err("a run is limited to a day".into());
    }
    let text = if args.streams == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(&args.streams).map_err(|e| format!("{}: {e}", args.streams))?
    };
    let streams: Vec<StreamSpec> =
        serde_json::from_str(&text).map_err(|e| format!("streams JSON: {e}"))?;
    if streams.is_empty() || streams.len() > 10_000 {
        return Err("between 1 and 10000 streams".into());
    }
    let mut urls = Vec::with_capacity(streams.len());
    for s in &streams {
        check_rtmp(&s.rtmp_url)?;
        urls.push(http::Url::parse(&s.playlist_url)?);
    }
    if !args.fixture.is_file() {
        return Err(format!("fixture {} not found", args.fixture.display()));
    }
    let fixture = args.fixture.to_string_lossy().to_string();
    let origin = match args.media_origin {
        Some(o) => o,
        None => first_keyframe_dts(&args.ffprobe, &fixture).await?,
    };

    let unix_base = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let base = Instant::now();
    let self_cpu_before = sample::self_cpu();
    let idle = sample::sample(&args.pids);
    let window_start = base + Duration::from_secs_f64(args.warmup);
    let window_end = window_start + Duration::from_secs_f64(args.duration);
    let stop = window_end + Duration::from_secs_f64(args.grace);
    // ffmpeg stops by itself 10 s after polling would end; we kill it at
    // the end of polling anyway.
    let publish_seconds = args.warmup + args.duration + args.grace + 10.0;

    let mut rng = seed();
    let mut publishers = Vec::with_capacity(streams.len());
    let mut pollers = Vec::with_capacity(streams.len());
    for (i, (s, url)) in streams.iter().zip(urls).enumerate() {
        let spec = publisher::Spec {
            ffmpeg: args.ffmpeg.clone(),
            fixture: fixture.clone(),
            rtmp_url: s.rtmp_url.clone(),
            seconds: publish_seconds,
            deadline: stop,
            base,
        };
        publishers.push(tokio::spawn(publisher::run(spec)));
        let spec = poller::Spec {
            url,
            master: args.master,
            rate: args.rate,
            phase: next_unit(&mut rng),
            start: Instant::now(),
            stop,
            base,
            user_agent: format!("aethex-loadgen/{i}"),
        };
        pollers.push(tokio::spawn(poller::run(spec)));
    }

    tokio::time::sleep_until(window_start).await;
    let at_start = sample::sample(&args.pids);
    tokio::time::sleep_until(window_end).await;
    let at_end = sample::sample(&args.pids);

    let mut poll_reports = Vec::with_capacity(pollers.len());
    for p in pollers {
        poll_reports.push(p.await.map_err(|e| format!("poller task: {e}"))?);
    }
    let mut pub_reports = Vec::with_capacity(publishers.len());
    for p in publishers {
        pub_reports.push(p.await.map_err(|e| format!("publisher task: {e}"))?);
    }
    let self_cpu = sample::self_cpu() - self_cpu_before;
    let elapsed = base.elapsed().as_secs_f64();

    let window = (args.warmup, args.warmup + args.duration);
    let results: Vec<StreamResult> = streams
        .iter()
        .zip(poll_reports.iter().zip(&pub_reports))
        .map(|(s, (poll, publ))| analyse(&s.name, poll, publ, origin, window, &args))
        .collect();
    let out = summarise(
        &args,
        &results,
        origin,
        unix_base,
        elapsed,
        self_cpu,
        [&idle, &at_start, &at_end],
    );
    eprintln!("{}", one_line(&out));
    let text = serde_json::to_string_pretty(&out).expect("JSON");
    match &args.out {
        Some(path) => {
            std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => println!("{text}"),
    }
    Ok(())
}

fn check_rtmp(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("rtmp://")
        .ok_or_else(|| format!("{url}: not an rtmp:// URL"))?;
    let authority = rest.split('/').next().unwrap_or("");
    http::loopback_addr(authority, 1935)
        .map(|_| ())
        .map_err(|e| format!("{url}: {e}"))
}

/// The DTS of the fixture's first video keyframe (where a segmenter starts
/// segment 0), or of its first packet when it has no video.
async fn first_keyframe_dts(ffprobe: &str, fixture: &str) -> Result<f64, String> {
    let run = |select: &'static str| {
        let mut cmd = tokio::process::Command::new(ffprobe);
        cmd.args(["-v", "error", "-select_streams", select])
            .args(["-show_entries", "packet=dts_time,flags", "-of", "csv=p=0"])
            .args(["-read_intervals", "%+#300", fixture])
            .kill_on_drop(true);
        cmd
    };
    for select in ["v:0", "a:0"] {
        let out = tokio::time::timeout(Duration::from_secs(30), run(select).output())
            .await
            .map_err(|_| "ffprobe timed out".to_string())?
            .map_err(|e| format!("{ffprobe}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let dts = text.lines().find_map(|l| {
            let (dts, flags) = l.split_once(',')?;
            (select == "a:0" || flags.contains('K'))
                .then(|| dts.trim().parse::<f64>().ok())
                .flatten()
        });
        if let Some(dts) = dts {
            return Ok(dts);
        }
    }
    Err(format!(
        "ffprobe found no keyframe in {fixture}: give --media-origin"
    ))
}

struct StreamResult {
    name: String,
    media_url: Option<String>,
    latencies: Vec<f64>,
    on_time: bool,
    stalled: bool,
    measurement_error: Option<String>,
    first_segment_after_spawn: Option<f64>,
    max_gap: Option<f64>,
    segments_listed: usize,
    /// EXTINF of the first segments (a check of where segment 0 starts).
    first_durations: Vec<f64>,
    unlisted_tail: Option<f64>,
    offset: Option<f64>,
    publish_start: Option<f64>,
    offset_samples: usize,
    /// Median of (w - out_time - offset): how late the typical progress
    /// report was read compared with the best one.
    report_delay_p50: Option<f64>,
    polls: u64,
    polls_in_window: usize,
    poll_errors: u64,
    not_ready: u64,
    connects: u64,
    response_times: Vec<f32>,
    error_samples: Vec<String>,
    publisher_error: Option<String>,
    spawned_at: f64,
}

fn analyse(
    name: &str,
    poll: &poller::Report,
    publ: &publisher::Report,
    origin: f64,
    (ws, we): (f64, f64),
    args: &Args,
) -> StreamResult {
    let offset = publ.offset();
    let mut measurement_error = None;
    if poll.first_msn.is_some_and(|m| m != 0) {
        measurement_error = Some(format!(
            "first playlist started at msn {}: segments before it unseen",
            poll.first_msn.unwrap_or(0)
        ));
    } else if poll.missed || poll.segments.iter().any(Option::is_none) {
        measurement_error = Some("a segment left the playlist before it was seen".into());
    } else if offset.is_none() {
        measurement_error = Some("no progress samples from the publisher".into());
    }
    let mut latencies = Vec::new();
    let mut unlisted_tail = None;
    let mut stalled = false;
    if measurement_error.is_none()
        && let Some(offset) = offset
    {
        let mut end_media = origin;
        let mut longest: f64 = 0.0;
        for seen in poll.segments.iter().flatten() {
            end_media += seen.duration;
            longest = longest.max(seen.duration);
            let closed = offset + end_media;
            if closed >= ws && closed <= we {
                latencies.push(seen.first_seen - closed);
            }
        }
        if let Some(sent) = publ.media_sent_by(we) {
            let tail = sent - end_media;
            unlisted_tail = Some(tail);
            stalled = tail > longest.max(poll.target_duration.unwrap_or(0.0));
        }
    }
    let first_seen: Vec<f64> = poll
        .segments
        .iter()
        .flatten()
        .map(|s| s.first_seen)
        .collect();
    let first_segment_after_spawn = first_seen
        .iter()
        .copied()
        .min_by(f64::total_cmp)
        .map(|t| t - publ.spawned_at);
    let max_gap = if poll.first_poll.is_some() {
        let mut marks: Vec<f64> = first_seen
            .iter()
            .copied()
            .filter(|&t| t >= ws && t <= we)
            .collect();
        marks.sort_by(f64::total_cmp);
        let mut prev = ws;
        let mut gap: f64 = 0.0;
        for t in marks.into_iter().chain([we]) {
            gap = gap.max(t - prev);
            prev = t;
        }
        Some(gap)
    } else {
        None
    };
    let report_delay_p50 = offset.and_then(|o| {
        let mut d: Vec<f64> = publ.samples.iter().map(|&(w, t)| w - t - o).collect();
        d.sort_by(f64::total_cmp);
        percentile(&d, 0.5)
    });
    let publisher_error = publ.spawn_error.clone().or_else(|| {
        publ.exit_status.as_ref().map(|s| {
            format!(
                "ffmpeg exited at {:.1} s ({s}): {}",
                publ.exited_at.unwrap_or(0.0),
                publ.stderr_tail
            )
        })
    });
    let on_time = measurement_error.is_none()
        && !latencies.is_empty()
        && latencies.iter().all(|&l| l <= args.on_time)
        && !stalled;
    StreamResult {
        name: name.to_string(),
        media_url: poll.media_url.clone(),
        on_time,
        stalled,
        measurement_error,
        first_segment_after_spawn,
        max_gap,
        segments_listed: first_seen.len(),
        first_durations: poll
            .segments
            .iter()
            .take(5)
            .map(|s| s.map_or(f64::NAN, |s| s.duration))
            .collect(),
        unlisted_tail,
        offset,
        publish_start: offset.map(|o| o - publ.spawned_at),
        offset_samples: publ.samples.len(),
        report_delay_p50,
        polls: poll.polls,
        polls_in_window: poll
            .poll_starts
            .iter()
            .filter(|&&t| t >= ws && t < we)
            .count(),
        poll_errors: poll.errors,
        not_ready: poll.not_ready,
        connects: poll.connects,
        response_times: poll.response_times.clone(),
        error_samples: poll.error_samples.clone(),
        publisher_error,
        spawned_at: publ.spawned_at,
        latencies,
    }
}

fn summarise(
    args: &Args,
    results: &[StreamResult],
    origin: f64,
    unix_base: f64,
    elapsed: f64,
    self_cpu: f64,
    [idle, at_start, at_end]: [&sample::Sample; 3],
) -> Value {
    let n = results.len();
    let mut all: Vec<f64> = results.iter().flat_map(|r| r.latencies.clone()).collect();
    all.sort_by(f64::total_cmp);
    let mut first: Vec<f64> = results
        .iter()
        .filter_map(|r| r.first_segment_after_spawn)
        .collect();
    first.sort_by(f64::total_cmp);
    let mut publish: Vec<f64> = results.iter().filter_map(|r| r.publish_start).collect();
    publish.sort_by(f64::total_cmp);
    let mut rtt: Vec<f64> = results
        .iter()
        .flat_map(|r| r.response_times.iter().map(|&t| t as f64))
        .collect();
    rtt.sort_by(f64::total_cmp);
    let total_polls: u64 = results.iter().map(|r| r.polls).sum();
    let polls_in_window: usize = results.iter().map(|r| r.polls_in_window).sum();
    let r3 = |v: Option<f64>| v.map(|x| (x * 1e6).round() / 1e6);
    let window_cpu = match (at_start.cpu_s, at_end.cpu_s) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let per_stream: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut rt: Vec<f64> = r.response_times.iter().map(|&t| t as f64).collect();
            rt.sort_by(f64::total_cmp);
            json!({
                "name": r.name,
                "media_url": r.media_url,
                "latencies_s": r.latencies.iter().map(|&l| r3(Some(l))).collect::<Vec<_>>(),
                "on_time": r.on_time,
                "stalled": r.stalled,
                "measurement_error": r.measurement_error,
                "first_segment_after_spawn_s": r3(r.first_segment_after_spawn),
                "max_gap_s": r3(r.max_gap),
                "segments_listed": r.segments_listed,
                "first_durations_s": r.first_durations.iter().map(|&d| d.is_finite().then_some(d)).collect::<Vec<_>>(),
                "unlisted_tail_s": r3(r.unlisted_tail),
                "publisher_offset_s": r3(r.offset),
                "publish_start_s": r3(r.publish_start),
                "publisher_spawned_at_s": r3(Some(r.spawned_at)),
                "progress_samples": r.offset_samples,
                "progress_report_delay_p50_s": r3(r.report_delay_p50),
                "polls": r.polls,
                "polls_in_window": r.polls_in_window,
                "poll_errors": r.poll_errors,
                "poll_not_ready": r.not_ready,
                "connections": r.connects,
                "response_time_p50_s": r3(percentile(&rt, 0.5)),
                "response_time_max_s": r3(rt.last().copied()),
                "error_samples": r.error_samples,
                "publisher_error": r.publisher_error,
            })
        })
        .collect();
    json!({
        "config": {
            "streams": n,
            "fixture": args.fixture.display().to_string(),
            "rate": args.rate,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "grace_s": args.grace,
            "on_time_s": args.on_time,
            "master": args.master,
            "media_origin_s": origin,
            "pids": args.pids,
        },
        "started_unix": unix_base,
        "window_unix": [unix_base + args.warmup, unix_base + args.warmup + args.duration],
        "elapsed_s": r3(Some(elapsed)),
        "overall": {
            "segments": all.len(),
            "latency_p50_s": r3(percentile(&all, 0.5)),
            "latency_p95_s": r3(percentile(&all, 0.95)),
            "latency_p99_s": r3(percentile(&all, 0.99)),
            "latency_max_s": r3(all.last().copied()),
            "latency_min_s": r3(all.first().copied()),
            "streams_on_time": results.iter().filter(|r| r.on_time).count(),
            "streams_stalled": results.iter().filter(|r| r.stalled).count(),
            "streams": n,
            "first_segment_p50_s": r3(percentile(&first, 0.5)),
            "first_segment_max_s": r3(first.last().copied()),
            "publish_start_p50_s": r3(percentile(&publish, 0.5)),
            "publish_start_max_s": r3(publish.last().copied()),
            "total_polls": total_polls,
            "polls_in_window": polls_in_window,
            "poll_rate_per_stream": polls_in_window as f64 / (n as f64 * args.duration),
            "poll_errors": results.iter().map(|r| r.poll_errors).sum::<u64>(),
            "response_time_p50_s": r3(percentile(&rtt, 0.5)),
            "response_time_p99_s": r3(percentile(&rtt, 0.99)),
            "measurement_errors": results.iter().filter(|r| r.measurement_error.is_some()).count(),
            "publisher_errors": results.iter().filter(|r| r.publisher_error.is_some()).count(),
            "loadgen_cpu_s": r3(Some(self_cpu)),
        },
        "server": {
            "idle": idle.to_json(),
            "window_start": at_start.to_json(),
            "window_end": at_end.to_json(),
            "window_cpu_s": r3(window_cpu),
            "cpu_s_per_stream_minute": r3(window_cpu.map(|c| c / (n as f64 * args.duration / 60.0))),
            "rss_growth_kib_per_stream": match (idle.rss_kib, at_end.rss_kib) {
                (Some(a), Some(b)) => Some((b as f64 - a as f64) / n as f64),
                _ => None,
            },
        },
        "streams": per_stream,
    })
}

fn one_line(out: &Value) -> String {
    let o = &out["overall"];
    let ms = |k: &str| {
        o[k].as_f64()
            .map(|v| format!("{:.0}", v * 1000.0))
            .unwrap_or_else(|| "n/a".into())
    };
    let cpu = out["server"]["cpu_s_per_stream_minute"]
        .as_f64()
        .map(|v| format!(" cpu {v:.3} s/stream-min"))
        .unwrap_or_default();
    format!(
        "loadgen: {} streams, {} on time; latency p50 {} p95 {} p99 {} max {} ms over {} segments; \
         first segment p50 {} ms; {:.1} polls/s/stream, {} poll errors, {} measurement errors, {} publisher errors;{} loadgen cpu {:.2} s",
        o["streams"],
        o["streams_on_time"],
        ms("latency_p50_s"),
        ms("latency_p95_s"),
        ms("latency_p99_s"),
        ms("latency_max_s"),
        o["segments"],
        ms("first_segment_p50_s"),
        o["poll_rate_per_stream"].as_f64().unwrap_or(0.0),
        o["poll_errors"],
        o["measurement_errors"],
        o["publisher_errors"],
        cpu,
        o["loadgen_cpu_s"].as_f64().unwrap_or(0.0),
    )
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    (nanos ^ (std::process::id() as u64) << 32) | 1
}

/// xorshift64*: a uniform number in [0, 1).
fn next_unit(state: &mut u64) -> f64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 0.5), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn phases_are_in_range() {
        let mut s = seed();
        for _ in 0..1000 {
            let u = next_unit(&mut s);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
