//! Images made on request (Mux's thumbnail parameters): a frame of a
//! recording at a time, and any image scaled, cropped or padded to a size,
//! as JPEG, PNG or WebP, by one short ffmpeg run. At most
//! [`IMAGE_CONCURRENCY`] run at once per [`Live`] (more requests are told
//! to come back: [`ImageError::Busy`]).

use std::time::Duration;

use bytes::Bytes;
use control::{Db, SegmentRecord};
use storage::Media;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::Semaphore;

use crate::Live;
use crate::jobs::{JobError, fetch_object};
use control::{clip_rendition, clip_timeline as timeline};

/// ffmpeg runs for images at once, per process.
pub const IMAGE_CONCURRENCY: usize = 2;
/// Longest an image may take.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest width or height asked for, in pixels.
pub const IMAGE_MAX_SIDE: u32 = 3840;
/// Largest image returned, in bytes.
const IMAGE_MAX_BYTES: usize = 16 << 20;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
}

impl ImageFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
        }
    }

    fn codec(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "mjpeg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "libwebp",
        }
    }
}

/// How an image meets a requested width and height (Mux's `fit_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FitMode {
    /// Within the box, keeping the aspect ratio (the default).
    #[default]
    Preserve,
    /// Exactly the box, distorted if need be.
    Stretch,
    /// Filling the box, the excess cut off (`smartcrop` is this too).
    Crop,
    /// Within the box, the rest filled with black.
    Pad,
}

impl FitMode {
    pub fn parse(s: &str) -> Option<FitMode> {
        match s {
            "preserve" => Some(FitMode::Preserve),
            "stretch" => Some(FitMode::Stretch),
            "crop" | "smartcrop" => Some(FitMode::Crop),
            "pad" => Some(FitMode::Pad),
            _ => None,
        }
    }
}

/// What the output should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ImageShape {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: FitMode,
}

impl ImageShape {
    /// The ffmpeg video filter for this shape; `None` keeps the size.
    pub fn filter(&self) -> Option<String> {
        let even = |n: u32| n.max(2) & !1;
        match (self.width.map(even), self.height.map(even)) {
            (None, None) => None,
            (Some(w), None) => Some(format!("scale={w}:-2")),
            (None, Some(h)) => Some(format!("scale=-2:{h}")),
            (Some(w), Some(h)) => Some(match self.fit {
                FitMode::Preserve => {
                    format!(
                        "scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2"
                    )
                }
                FitMode::Stretch => format!("scale={w}:{h}"),
                FitMode::Crop => {
                    format!("scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}")
                }
                FitMode::Pad => format!(
                    "scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:black"
                ),
            }),
        }
    }
}

/// Why no image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Every slot is in use: try again shortly.
    #[error("busy making other images")]
    Busy,
    /// The recording has no frame at that time.
    #[error("{0}")]
    NoFrame(String),
    #[error("{0}")]
    Failed(String),
}

impl From<JobError> for ImageError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Failed(m) => ImageError::Failed(m),
            JobError::Lost => ImageError::Failed("lost".into()),
        }
    }
}

impl Live {
    /// `image` (any format ffmpeg reads) re-shaped and encoded as `format`.
    pub async fn reshape(
        &self,
        image: Bytes,
        shape: ImageShape,
        format: ImageFormat,
    ) -> Result<Bytes, ImageError> {
        reshape(&self.inner.image_slots, image, shape, format).await
    }

    /// The frame of a recording's broadcast `live_stream_id` at `time_s`
    /// seconds (its source rendition), shaped and encoded as asked.
    pub async fn frame_at(
        &self,
        live_stream_id: &str,
        time_s: f64,
        shape: ImageShape,
        format: ImageFormat,
    ) -> Result<Bytes, ImageError> {
        let inner = &self.inner;
        frame_at(
            &inner.image_slots,
            &inner.db,
            &inner.media,
            live_stream_id,
            time_s,
            shape,
            format,
        )
        .await
    }
}

async fn reshape(
    slots: &Semaphore,
    image: Bytes,
    shape: ImageShape,
    format: ImageFormat,
) -> Result<Bytes, ImageError> {
    let _slot = slots.try_acquire().map_err(|_| ImageError::Busy)?;
    let dir = tempdir()?;
    let input = dir.path().join("in");
    tokio::fs::write(&input, &image)
        .await
        .map_err(|e| ImageError::Failed(format!("cannot write the image: {e}")))?;
    let mut command = Command::new("ffmpeg");
    command.arg("-i").arg(&input);
    encode(command, shape, format).await
}

async fn frame_at(
    slots: &Semaphore,
    db: &Db,
    media: &Media,
    live_stream_id: &str,
    time_s: f64,
    shape: ImageShape,
    format: ImageFormat,
) -> Result<Bytes, ImageError> {
    let _slot = slots.try_acquire().map_err(|_| ImageError::Busy)?;
    let db_err = |e: control::Error| ImageError::Failed(format!("database: {e}"));
    let renditions = db
        .segment_renditions(live_stream_id)
        .await
        .map_err(db_err)?;
    let rendition = clip_rendition(&renditions)
        .ok_or_else(|| ImageError::NoFrame("the recording has no segments".into()))?
        .to_owned();
    let segments = db
        .segments(live_stream_id, &rendition)
        .await
        .map_err(db_err)?;
    let ticks = (time_s.max(0.0) * 90_000.0) as i64;
    let (start, segment): (i64, &SegmentRecord) = timeline(&segments)
        .filter(|(_, s)| !s.gap)
        .take_while(|(start, _)| *start <= ticks)
        .last()
        .ok_or_else(|| ImageError::NoFrame("no frame at that time".into()))?;
    if ticks >= start + segment.duration_90k
        && segments.last().is_some_and(|l| std::ptr::eq(l, segment))
    {
        return Err(ImageError::NoFrame(format!(
            "time {time_s} s is past the end of the recording"
        )));
    }
    let dir = tempdir()?;
    let local = dir.path().join("frame");
    let seg_path = dir.path().join("segment");
    fetch_object(media, live_stream_id, &rendition, &segment.uri, &seg_path).await?;
    match &segment.map_uri {
        // fMP4: the init segment, then the media segment, as one file.
        Some(map) => {
            let init_path = dir.path().join("init");
            fetch_object(media, live_stream_id, &rendition, map, &init_path).await?;
            let mut joined = tokio::fs::read(&init_path)
                .await
                .map_err(|e| ImageError::Failed(e.to_string()))?;
            joined.extend(
                tokio::fs::read(&seg_path)
                    .await
                    .map_err(|e| ImageError::Failed(e.to_string()))?,
            );
            tokio::fs::write(&local, joined)
                .await
                .map_err(|e| ImageError::Failed(e.to_string()))?;
        }
        None => {
            tokio::fs::rename(&seg_path, &local)
                .await
                .map_err(|e| ImageError::Failed(e.to_string()))?;
        }
    }
    let offset = (ticks - start).max(0) as f64 / 90_000.0;
    let mut command = Command::new("ffmpeg");
    command
        .arg("-i")
        .arg(&local)
        .args(["-ss", &format!("{offset:.3}")]);
    encode(command, shape, format).await
}

fn tempdir() -> Result<tempfile::TempDir, ImageError> {
    tempfile::Builder::new()
        .prefix("aethex-image-")
        .tempdir()
        .map_err(|e| ImageError::Failed(format!("cannot create a temporary directory: {e}")))
}

/// Finishes `command` (ffmpeg with its input) to one encoded frame on
/// stdout, and runs it.
async fn encode(
    command: Command,
    shape: ImageShape,
    format: ImageFormat,
) -> Result<Bytes, ImageError> {
    let program = command.as_std().get_program().to_owned();
    let inputs: Vec<std::ffi::OsString> =
        command.as_std().get_args().map(|a| a.to_owned()).collect();
    let mut full = Command::new(program);
    full.args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args(inputs)
        .args(["-frames:v", "1", "-an"]);
    if let Some(filter) = shape.filter() {
        full.args(["-vf", &filter]);
    }
    full.args(["-c:v", format.codec(), "-f", "image2pipe", "pipe:1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let run = async {
        let mut child = full
            .spawn()
            .map_err(|e| ImageError::Failed(format!("cannot run ffmpeg: {e}")))?;
        let mut stdout = child
            .stdout
            .take()
            .expect("piped")
            .take(IMAGE_MAX_BYTES as u64 + 1);
        let mut stderr = child.stderr.take().expect("piped").take(4096);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (read_out, _) =
            tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        read_out.map_err(|e| ImageError::Failed(format!("cannot read ffmpeg's output: {e}")))?;
        let status = child
            .wait()
            .await
            .map_err(|e| ImageError::Failed(format!("cannot wait for ffmpeg: {e}")))?;
        if !status.success() || out.is_empty() || out.len() > IMAGE_MAX_BYTES {
            return Err(ImageError::Failed(format!(
                "ffmpeg failed ({status}): {}",
                String::from_utf8_lossy(&err).trim()
            )));
        }
        Ok(Bytes::from(out))
    };
    tokio::time::timeout(IMAGE_TIMEOUT, run)
        .await
        .map_err(|_| ImageError::Failed("timed out".into()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_become_filters() {
        let shape = |w, h, fit| ImageShape {
            width: w,
            height: h,
            fit,
        };
        assert_eq!(shape(None, None, FitMode::Crop).filter(), None);
        assert_eq!(
            shape(Some(641), None, FitMode::Preserve).filter().unwrap(),
            "scale=640:-2"
        );
        assert_eq!(
            shape(None, Some(360), FitMode::Preserve).filter().unwrap(),
            "scale=-2:360"
        );
        assert_eq!(
            shape(Some(320), Some(320), FitMode::Crop).filter().unwrap(),
            "scale=320:320:force_original_aspect_ratio=increase,crop=320:320"
        );
        assert!(
            shape(Some(320), Some(320), FitMode::Pad)
                .filter()
                .unwrap()
                .contains("pad=320:320")
        );
        assert_eq!(
            shape(Some(100), Some(50), FitMode::Stretch)
                .filter()
                .unwrap(),
            "scale=100:50"
        );
        assert_eq!(FitMode::parse("smartcrop"), Some(FitMode::Crop));
        assert_eq!(FitMode::parse("zoom"), None);
    }

    #[tokio::test]
    async fn reshapes_a_jpeg_into_each_format() {
        // A real JPEG made by ffmpeg (the tool the server runs).
        let out = tokio::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=320x180:rate=1",
            ])
            .args([
                "-frames:v",
                "1",
                "-c:v",
                "mjpeg",
                "-f",
                "image2pipe",
                "pipe:1",
            ])
            .output()
            .await
            .expect("ffmpeg runs");
        assert!(out.status.success());
        let jpeg = Bytes::from(out.stdout);
        let shape = ImageShape {
            width: Some(160),
            height: Some(160),
            fit: FitMode::Pad,
        };
        let slots = Semaphore::new(IMAGE_CONCURRENCY);
        let png = reshape(&slots, jpeg.clone(), shape, ImageFormat::Png)
            .await
            .unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let webp = reshape(&slots, jpeg.clone(), shape, ImageFormat::Webp)
            .await
            .unwrap();
        assert_eq!(&webp[8..12], b"WEBP");
        let small = reshape(
            &slots,
            jpeg,
            ImageShape {
                width: Some(64),
                ..ImageShape::default()
            },
            ImageFormat::Jpeg,
        )
        .await
        .unwrap();
        assert_eq!(&small[..2], &[0xFF, 0xD8]);
    }
}
