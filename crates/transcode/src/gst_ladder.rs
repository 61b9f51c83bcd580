//! The GStreamer backend: one pipeline per stream, decoding once.
//!
//! ```text
//! appsrc (video/x-h264, avc, au, codec_data) ! h264parse ! avdec_h264 ! tee
//!   tee. ! valve ! queue ! videoscale ! videoconvert
//!        ! video/x-raw,format=I420,width=W,height=H,pixel-aspect-ratio=1/1,
//!                     colorimetry=<source's>,chroma-site=<source's>
//!        ! x264enc ! video/x-h264,profile=P,stream-format=avc,alignment=au ! appsink
//!   (one branch per rung)
//! ```
//!
//! Each branch runs in its own streaming thread (the `queue`'s), so the
//! rungs encode in parallel while the decoder works ahead; see
//! `QUEUE_FRAMES`, `encoder_threads` and `add_colorimetry_probe` for what
//! made it fast.
//!
//! Timestamps: source PTS/DTS go in as nanoseconds through [`Timeline`] and
//! come back out through it, so every decoded frame keeps its source PTS
//! exactly (the decoder and scaler keep buffer timestamps) and so do the
//! encoded frames.
//!
//! Keyframe alignment: [`GstLadder::push`] records each source keyframe's PTS
//! in every rung's queue of pending keyframes. A buffer probe on each branch's
//! `queue` source pad sees the decoded frames in presentation order; when a
//! frame's PTS reaches the next pending keyframe it pushes a downstream
//! `GstForceKeyUnit` event just before that frame, which the `videoscale`,
//! `videoconvert` and `capsfilter` pass on in order and `x264enc` (through
//! `GstVideoEncoder`) applies to the next frame it receives: that frame
//! becomes an IDR. x264's own keyframe decisions are off (`key-int-max`
//! 2^31-1, `scenecut=0`), so there are no others (x264 still starts with an
//! IDR, on the first source keyframe). The same probe drops frames above
//! the rung's `max_fps`, never a keyframe.
//!
//! Dropping a rung closes its `valve` (in the decoder's thread, before the
//! queue), so that branch stops scaling and encoding; the valve still passes
//! sticky events, EOS included, so the pipeline can finish.
//!
//! Teardown: `Drop` raises the shutdown signal (unblocking any streaming
//! thread waiting on a full event channel), sets the pipeline to NULL (which
//! stops and joins its streaming threads and closes the encoders, joining
//! x264's and libav's threads) and joins the bus thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use av::{AccessUnit, H264Config};
use bytes::Bytes;
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use tokio::sync::{mpsc, watch};

use crate::config::min_frame_interval_s;
use crate::gst_elements::{describe_error, init, make, source_caps};
use crate::ladder::Timeline;
use crate::output::{EventSender, Progress, RungOutput};
use crate::{Error, LadderEvent, Result, Rung, TranscodeConfig};

/// Largest `key-int-max`: x264 never decides on a keyframe by itself.
const KEY_INT_MAX: u32 = i32::MAX as u32;
/// Decoded frames a branch's queue holds: the decoder runs ahead of the
/// slowest encoder by this much, which lets the encoders' threads share the
/// CPU without waiting on each other (2 = 12 % slower, 6 = 8 % slower than
/// 8 on a 2-core machine; 16 is no faster). 8 frames of 720p is 11 MB.
const QUEUE_FRAMES: u32 = 8;

/// x264 threads per rung: the ladder's share of the cores (cores /
/// `max_ladders`) split between its rungs, at least one. The rungs already
/// encode in parallel, one streaming thread each; on 2 cores, one x264
/// thread per rung is 15–25 % faster than x264's automatic 3 (sliced with
/// `zerolatency`), and adds no frame of latency.
fn encoder_threads(config: &TranscodeConfig, rungs: usize) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_ladder = (cores / config.effective_max_ladders()).max(1);
    (per_ladder / rungs.max(1)).max(1) as u32
}

pub(crate) struct GstLadder {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    valves: Vec<gst::Element>,
    /// Per rung: source keyframe PTS (pipeline ns) its probe has yet to see.
    keyframes: Vec<Arc<Mutex<VecDeque<u64>>>>,
    /// Set by the first push; the sinks map timestamps back through it.
    timeline: Arc<OnceLock<Timeline>>,
    shutdown: watch::Sender<bool>,
    bus_thread: Option<JoinHandle<()>>,
}

impl GstLadder {
    pub(crate) fn start(
        config: &TranscodeConfig,
        source: &H264Config,
        rungs: &[Rung],
        progress: Arc<Progress>,
    ) -> Result<(Self, mpsc::Receiver<LadderEvent>)> {
        init()?;
        let (events, rx, shutdown) = EventSender::channel();
        let pipeline = gst::Pipeline::with_name("aethex-ladder");
        let timeline = Arc::new(OnceLock::new());
        let built = build(
            config, source, rungs, &pipeline, &events, &progress, &timeline,
        );
        let (appsrc, valves, keyframes) = match built {
            Ok(parts) => parts,
            Err(e) => {
                let _ = pipeline.set_state(gst::State::Null);
                return Err(e);
            }
        };
        let bus = pipeline
            .bus()
            .ok_or_else(|| Error::Pipeline("pipeline without a bus".into()))?;
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            let detail = bus
                .pop_filtered(&[gst::MessageType::Error])
                .and_then(|m| match m.view() {
                    gst::MessageView::Error(err) => Some(describe_error(err)),
                    _ => None,
                })
                .unwrap_or_else(|| e.to_string());
            let _ = pipeline.set_state(gst::State::Null);
            return Err(Error::Pipeline(format!("could not start: {detail}")));
        }
        let bus_thread = {
            let pipeline = pipeline.clone();
            let shutdown = shutdown.subscribe();
            std::thread::Builder::new()
                .name("ladder-bus".into())
                .spawn(move || watch_bus(&pipeline, &bus, &events, &shutdown))
        };
        let bus_thread = match bus_thread {
            Ok(t) => t,
            Err(e) => {
                let _ = pipeline.set_state(gst::State::Null);
                return Err(Error::Io(e));
            }
        };
        Ok((
            GstLadder {
                pipeline,
                appsrc,
                valves,
                keyframes,
                timeline,
                shutdown,
                bus_thread: Some(bus_thread),
            },
            rx,
        ))
    }

    pub(crate) fn push(&mut self, unit: &AccessUnit) -> Result<()> {
        let timeline = *self.timeline.get_or_init(|| Timeline::new(unit.dts));
        let pts = timeline.to_ns(unit.pts, "PTS")?;
        let dts = timeline.to_ns(unit.dts, "DTS")?;
        if unit.keyframe {
            for (pending, valve) in self.keyframes.iter().zip(&self.valves) {
                // A dropped rung's probe sees no more frames to pop them.
                if !valve.property::<bool>("drop") {
                    lock(pending).push_back(pts);
                }
            }
        }
        let mut buffer = gst::Buffer::from_slice(unit.data.clone());
        {
            let buffer = buffer.make_mut();
            buffer.set_pts(gst::ClockTime::from_nseconds(pts));
            buffer.set_dts(gst::ClockTime::from_nseconds(dts));
            if !unit.keyframe {
                buffer.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        self.appsrc
            .push_buffer(buffer)
            .map(|_| ())
            .map_err(|_| Error::Finished)
    }

    pub(crate) fn drop_rung(&mut self, rung: usize) {
        if let Some(valve) = self.valves.get(rung) {
            valve.set_property("drop", true);
            lock(&self.keyframes[rung]).clear();
        }
    }

    pub(crate) fn finish(&mut self) {
        let _ = self.appsrc.end_of_stream();
    }
}

impl Drop for GstLadder {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(t) = self.bus_thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Built = (
    gst_app::AppSrc,
    Vec<gst::Element>,
    Vec<Arc<Mutex<VecDeque<u64>>>>,
);

fn link(elements: &[&gst::Element]) -> Result<()> {
    gst::Element::link_many(elements.iter().copied()).map_err(|_| {
        let names: Vec<String> = elements.iter().map(|e| e.name().to_string()).collect();
        Error::Pipeline(format!("could not link {}", names.join(" ! ")))
    })
}

fn build(
    config: &TranscodeConfig,
    source: &H264Config,
    rungs: &[Rung],
    pipeline: &gst::Pipeline,
    events: &EventSender,
    progress: &Arc<Progress>,
    timeline: &Arc<OnceLock<Timeline>>,
) -> Result<Built> {
    let appsrc = gst_app::AppSrc::builder()
        .name("src")
        .caps(&source_caps(source)?)
        .format(gst::Format::Time)
        .is_live(false)
        .block(false)
        // Queued input is bounded by the caller watching `lag`, not here:
        // a full queue would either block the caller or lose frames.
        .max_bytes(0)
        .build();
    let parse = make("h264parse", "parse")?;
    let decode = make("avdec_h264", "decode")?;
    let tee = make("tee", "tee")?;
    tee.set_property("allow-not-linked", true);
    pipeline
        .add_many([appsrc.upcast_ref(), &parse, &decode, &tee])
        .map_err(|e| Error::Pipeline(e.to_string()))?;
    link(&[appsrc.upcast_ref(), &parse, &decode, &tee])?;

    let (flag_tunes, psy_tune) = config.x264_tunes()?;
    let threads = encoder_threads(config, rungs.len());
    let mut raw_filters = Vec::with_capacity(rungs.len());
    let mut valves = Vec::with_capacity(rungs.len());
    let mut keyframes = Vec::with_capacity(rungs.len());
    for (i, rung) in rungs.iter().enumerate() {
        let n = &rung.name;
        let valve = make("valve", &format!("valve-{n}"))?;
        valve.set_property_from_str("drop-mode", "forward-sticky-events");
        let queue = make("queue", &format!("queue-{n}"))?;
        queue.set_property("max-size-buffers", QUEUE_FRAMES);
        queue.set_property("max-size-bytes", 0u32);
        queue.set_property("max-size-time", 0u64);
        let scale = make("videoscale", &format!("scale-{n}"))?;
        let convert = make("videoconvert", &format!("convert-{n}"))?;
        let raw_caps = make("capsfilter", &format!("rawcaps-{n}"))?;
        raw_caps.set_property("caps", raw_caps_for(rung, None));
        raw_filters.push((raw_caps.downgrade(), rung.clone()));
        let encode = make("x264enc", &format!("x264enc-{n}"))?;
        encode.set_property("bitrate", rung.bitrate_kbps);
        encode.set_property("vbv-buf-capacity", 1000u32);
        encode.set_property("key-int-max", KEY_INT_MAX);
        encode.set_property_from_str("speed-preset", &config.x264_speed_preset);
        if !flag_tunes.is_empty() {
            encode.set_property_from_str("tune", &flag_tunes.join("+"));
        }
        if let Some(psy) = psy_tune {
            encode.set_property_from_str("psy-tune", psy);
        }
        encode.set_property("option-string", "scenecut=0");
        encode.set_property("threads", threads);
        let h264_caps = make("capsfilter", &format!("h264caps-{n}"))?;
        h264_caps.set_property(
            "caps",
            gst::Caps::builder("video/x-h264")
                .field("profile", rung.profile.as_str())
                .field("stream-format", "avc")
                .field("alignment", "au")
                .build(),
        );
        let sink = gst_app::AppSink::builder()
            .name(format!("sink-{n}"))
            .sync(false)
            .async_(false)
            .enable_last_sample(false)
            .build();
        let branch = [
            &valve,
            &queue,
            &scale,
            &convert,
            &raw_caps,
            &encode,
            &h264_caps,
            sink.upcast_ref(),
        ];
        pipeline
            .add_many(branch)
            .map_err(|e| Error::Pipeline(e.to_string()))?;
        link(&branch)?;
        tee.link(&valve)
            .map_err(|_| Error::Pipeline(format!("could not link tee to {}", valve.name())))?;

        let pending = Arc::new(Mutex::new(VecDeque::new()));
        add_keyframe_probe(&queue, pending.clone(), min_frame_interval_s(source, rung))?;
        keyframes.push(pending);
        valves.push(valve);
        let output = RungOutput::new(i, events.clone(), progress.clone());
        set_sink_callbacks(&sink, output, timeline.clone(), encode.name().to_string());
    }
    add_colorimetry_probe(&decode, raw_filters)?;
    Ok((appsrc, valves, keyframes))
}

/// A rung's raw video caps, with the decoder's colorimetry and chroma
/// siting once known.
fn raw_caps_for(rung: &Rung, decoded: Option<&gst_video::VideoInfo>) -> gst::Caps {
    let mut caps = gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", rung.width as i32)
        .field("height", rung.height as i32)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
    if let Some(decoded) = decoded {
        // The effective values: caps without a colorimetry field mean the
        // default for the *source* size, which is not the rung's default.
        caps = caps
            .field("colorimetry", decoded.colorimetry().to_string())
            .field("chroma-site", decoded.chroma_site().to_string());
    }
    caps.build()
}

/// Keeps the renditions in the source's colorimetry and chroma siting.
///
/// Left open, the scaler picks the default colorimetry of the output size
/// (BT.601 below 720 lines), which turns scaling into a full colour-matrix
/// conversion (about 3x the CPU of scaling the planes) and changes the
/// colours the encoder signals. The decoder's caps event passes this probe
/// before it reaches the branches, so each rung's caps filter is set before
/// its scaler negotiates.
fn add_colorimetry_probe(
    decode: &gst::Element,
    filters: Vec<(glib::WeakRef<gst::Element>, Rung)>,
) -> Result<()> {
    let pad = decode
        .static_pad("src")
        .ok_or_else(|| Error::Pipeline("avdec_h264 has no src pad".into()))?;
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::EventView::Caps(event)) = info.event().map(|e| e.view())
            && let Ok(decoded) = gst_video::VideoInfo::from_caps(event.caps())
        {
            for (filter, rung) in &filters {
                if let Some(filter) = filter.upgrade() {
                    filter.set_property("caps", raw_caps_for(rung, Some(&decoded)));
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

/// The probe that forces keyframes and caps the frame rate; see the module
/// docs.
fn add_keyframe_probe(
    queue: &gst::Element,
    pending: Arc<Mutex<VecDeque<u64>>>,
    min_interval_s: Option<f64>,
) -> Result<()> {
    let pad = queue
        .static_pad("src")
        .ok_or_else(|| Error::Pipeline(format!("{} has no src pad", queue.name())))?;
    let min_interval_ns = min_interval_s.map(|s| (s * 1e9) as u64);
    let last_kept = AtomicU64::new(u64::MAX);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(pts) = info.buffer().and_then(|b| b.pts()).map(|t| t.nseconds()) else {
            return gst::PadProbeReturn::Ok;
        };
        let keyframe = {
            let mut pending = lock(&pending);
            let mut hit = false;
            // Normally the front matches exactly; a keyframe whose picture
            // never came out of the decoder moves to the next picture.
            while pending.front().is_some_and(|&k| k <= pts) {
                pending.pop_front();
                hit = true;
            }
            hit
        };
        if !keyframe && let Some(min) = min_interval_ns {
            let last = last_kept.load(Ordering::Relaxed);
            if last != u64::MAX && pts < last.saturating_add(min) {
                return gst::PadProbeReturn::Drop;
            }
        }
        last_kept.store(pts, Ordering::Relaxed);
        if keyframe {
            let event = gst_video::DownstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build();
            pad.push_event(event);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

fn set_sink_callbacks(
    sink: &gst_app::AppSink,
    output: RungOutput,
    timeline: Arc<OnceLock<Timeline>>,
    encoder: String,
) {
    let output = Mutex::new(output);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let timeline = timeline.get().ok_or(gst::FlowError::Error)?;
                let mut output = lock(&output);
                match on_sample(&mut output, &sample, *timeline) {
                    Ok(true) => Ok(gst::FlowSuccess::Ok),
                    Ok(false) => Err(gst::FlowError::Flushing),
                    Err(message) => {
                        gst::element_error!(
                            sink,
                            gst::StreamError::Format,
                            ("{encoder} output: {message}")
                        );
                        Err(gst::FlowError::Error)
                    }
                }
            })
            .build(),
    );
}

/// One encoded frame out of x264enc: its configuration from the caps, then
/// the frame. Ok(false) to stop (shutting down).
fn on_sample(
    output: &mut RungOutput,
    sample: &gst::Sample,
    timeline: Timeline,
) -> Result<bool, String> {
    let caps = sample.caps().ok_or("sample without caps")?;
    let codec_data = caps
        .structure(0)
        .and_then(|s| s.get::<gst::Buffer>("codec_data").ok())
        .ok_or("caps without codec_data")?;
    let avcc = {
        let map = codec_data.map_readable().map_err(|e| e.to_string())?;
        Bytes::copy_from_slice(&map)
    };
    if !output.config(avcc).map_err(|e| e.to_string())? {
        return Ok(false);
    }
    // x264enc (GstVideoEncoder) shifts its output by 1000 hours and says
    // so in its segment, so that DTS before the first PTS stay positive;
    // running time undoes that and equals the input's running time, which
    // is the input PTS (appsrc's segment starts at 0).
    let segment = sample
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>())
        .ok_or("sample without a time segment")?;
    let running_ns = |t: gst::ClockTime| -> Option<i64> {
        match segment.to_running_time_full(t)? {
            gst::Signed::Positive(t) => i64::try_from(t.nseconds()).ok(),
            gst::Signed::Negative(t) => i64::try_from(t.nseconds()).ok().map(|n| -n),
        }
    };
    let buffer = sample.buffer_owned().ok_or("sample without buffer")?;
    let pts = buffer
        .pts()
        .and_then(running_ns)
        .ok_or("frame without PTS")?;
    let dts = buffer.dts().and_then(running_ns).unwrap_or(pts);
    let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
    let data = buffer
        .into_mapped_buffer_readable()
        .map_err(|_| "unreadable buffer".to_owned())?;
    Ok(output.unit(
        timeline.time_of_ns(pts),
        timeline.time_of_ns(dts),
        keyframe,
        Bytes::from_owner(data),
    ))
}

fn watch_bus(
    pipeline: &gst::Pipeline,
    bus: &gst::Bus,
    events: &EventSender,
    shutdown: &watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                let _ = pipeline.set_state(gst::State::Null);
                events.send(LadderEvent::Finished);
                return;
            }
            gst::MessageView::Error(err) => {
                let message = describe_error(err);
                tracing::warn!(error = %message, "ladder pipeline failed");
                let _ = pipeline.set_state(gst::State::Null);
                events.send(LadderEvent::Error(message));
                events.send(LadderEvent::Finished);
                return;
            }
            _ => {}
        }
    }
}
