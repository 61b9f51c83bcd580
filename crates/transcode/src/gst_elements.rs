//! GStreamer setup shared by the ladder and thumbnail pipelines: one lazy
//! `gst::init`, element creation whose error names the missing element and
//! the Debian package that has it, the `avcC` the source caps carry, and bus
//! error messages that name the failing element.

use std::sync::OnceLock;

use av::H264Config;
use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;

use crate::{Error, Result};

/// Initializes GStreamer once per process.
pub(crate) fn init() -> Result<()> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::Init)
}

/// Every element factory the GStreamer ladder and thumbnails use.
const FACTORIES: &[&str] = &[
    "h264parse",
    "avdec_h264",
    "tee",
    "queue",
    "valve",
    "videoscale",
    "videoconvert",
    "capsfilter",
    "x264enc",
    "jpegenc",
];

/// Initializes GStreamer (loading or building its plugin registry, which
/// takes seconds on a cold machine) and checks that every element the
/// pipelines use is installed; the error names the first missing one and
/// its Debian package.
pub(crate) fn preflight() -> Result<()> {
    init()?;
    for &factory in FACTORIES {
        if gst::ElementFactory::find(factory).is_none() {
            return Err(Error::MissingElement {
                element: factory,
                package: package_of(factory),
                message: "no such element factory".into(),
            });
        }
    }
    Ok(())
}

/// The Debian package with a factory, for error messages.
fn package_of(factory: &str) -> &'static str {
    match factory {
        "x264enc" => "gstreamer1.0-plugins-ugly",
        "avdec_h264" => "gstreamer1.0-libav",
        "h264parse" => "gstreamer1.0-plugins-bad",
        "jpegenc" => "gstreamer1.0-plugins-good",
        "tee" | "queue" | "valve" | "capsfilter" => "libgstreamer1.0-0",
        _ => "gstreamer1.0-plugins-base",
    }
}

/// Makes element `factory` named `name`.
pub(crate) fn make(factory: &'static str, name: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|e| Error::MissingElement {
            element: factory,
            package: package_of(factory),
            message: e.to_string(),
        })
}

/// The source's `avcC` with 4-byte NAL lengths declared, matching
/// [`av::AccessUnit::data`] (the demuxers normalize shorter lengths).
pub(crate) fn avcc_with_4_byte_lengths(source: &H264Config) -> Result<Bytes> {
    let avcc = &source.avcc;
    if avcc.len() < 7 || avcc[0] != 1 {
        return Err(Error::Input(format!(
            "source avcC of {} bytes is not an AVCDecoderConfigurationRecord",
            avcc.len()
        )));
    }
    if avcc[4] & 0x03 == 0x03 {
        return Ok(avcc.clone());
    }
    let mut patched = avcc.to_vec();
    patched[4] |= 0x03;
    Ok(Bytes::from(patched))
}

/// Caps for an `appsrc` that pushes source access units.
pub(crate) fn source_caps(source: &H264Config) -> Result<gst::Caps> {
    let avcc = avcc_with_4_byte_lengths(source)?;
    Ok(gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .field("codec_data", gst::Buffer::from_slice(avcc))
        .build())
}

/// "element NAME: message (debug)" for a bus error.
pub(crate) fn describe_error(err: &gst::message::Error) -> String {
    let element = err
        .src()
        .map(|s| s.path_string().to_string())
        .unwrap_or_else(|| "pipeline".to_owned());
    match err.debug() {
        Some(debug) => format!("{element}: {} ({debug})", err.error()),
        None => format!("{element}: {}", err.error()),
    }
}
