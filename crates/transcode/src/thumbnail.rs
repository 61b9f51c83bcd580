//! JPEG thumbnails of a live stream: one source keyframe through a one-shot
//! GStreamer pipeline,
//! `appsrc ! h264parse ! avdec_h264 ! videoscale ! videoconvert ! jpegenc ! appsink`.

use std::time::Duration;

use av::{AccessUnit, H264Config};
use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::config::even;
use crate::gst_elements::{describe_error, init, make, source_caps};
use crate::{Error, Result};

/// How long one thumbnail may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// JPEG quality (jpegenc's 0–100).
const QUALITY: i32 = 85;

/// A JPEG of `keyframe` (a source keyframe, which decodes on its own),
/// scaled to at most `max_width` pixels wide with the source's aspect ratio.
/// Blocking, up to 10 s: run it on a blocking thread.
pub fn thumbnail(source: &H264Config, keyframe: &AccessUnit, max_width: u32) -> Result<Bytes> {
    if !keyframe.keyframe {
        return Err(Error::Input(format!(
            "thumbnail of a frame that is not a keyframe (PTS {:?})",
            keyframe.pts
        )));
    }
    if max_width < 2 {
        return Err(Error::Input(format!("thumbnail width {max_width}")));
    }
    init()?;
    let width = (max_width.min(source.width) & !1).max(2);
    let height = even(
        u64::from(width) * u64::from(source.height),
        u64::from(source.width.max(1)),
    );
    let pipeline = gst::Pipeline::with_name("aethex-thumbnail");
    let result = run(&pipeline, source, keyframe, width, height);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn run(
    pipeline: &gst::Pipeline,
    source: &H264Config,
    keyframe: &AccessUnit,
    width: u32,
    height: u32,
) -> Result<Bytes> {
    let appsrc = gst_app::AppSrc::builder()
        .caps(&source_caps(source)?)
        .format(gst::Format::Time)
        .build();
    let parse = make("h264parse", "parse")?;
    let decode = make("avdec_h264", "decode")?;
    // One keyframe: frame threads would only add their buffers (and, with
    // glibc, their malloc arenas) to the process.
    decode.set_property("max-threads", 1i32);
    let scale = make("videoscale", "scale")?;
    let convert = make("videoconvert", "convert")?;
    let caps = make("capsfilter", "caps")?;
    caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", width as i32)
            .field("height", height as i32)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build(),
    );
    let encode = make("jpegenc", "jpegenc")?;
    encode.set_property("quality", QUALITY);
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .max_buffers(1)
        .build();
    let elements = [
        appsrc.upcast_ref(),
        &parse,
        &decode,
        &scale,
        &convert,
        &caps,
        &encode,
        sink.upcast_ref(),
    ];
    pipeline
        .add_many(elements)
        .map_err(|e| Error::Thumbnail(e.to_string()))?;
    gst::Element::link_many(elements)
        .map_err(|_| Error::Thumbnail("could not link the thumbnail pipeline".into()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| Error::Thumbnail(format!("could not start: {e}")))?;
    let mut buffer = gst::Buffer::from_slice(keyframe.data.clone());
    buffer.make_mut().set_pts(gst::ClockTime::ZERO);
    appsrc
        .push_buffer(buffer)
        .map_err(|e| Error::Thumbnail(format!("appsrc: {e}")))?;
    let _ = appsrc.end_of_stream();
    let timeout = gst::ClockTime::from_nseconds(TIMEOUT.as_nanos() as u64);
    if let Some(sample) = sink.try_pull_sample(timeout) {
        let buffer = sample
            .buffer()
            .ok_or_else(|| Error::Thumbnail("jpegenc produced no buffer".into()))?;
        let map = buffer
            .map_readable()
            .map_err(|e| Error::Thumbnail(e.to_string()))?;
        return Ok(Bytes::copy_from_slice(&map));
    }
    let error = pipeline.bus().and_then(|bus| {
        bus.pop_filtered(&[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(err) => Some(describe_error(err)),
                _ => None,
            })
    });
    Err(Error::Thumbnail(error.unwrap_or_else(|| {
        if sink.is_eos() {
            "the keyframe did not decode to a picture".to_owned()
        } else {
            format!("no picture within {TIMEOUT:?}")
        }
    })))
}
