//! Frames of a video file (feature `video`): FFmpeg's libavformat, libavcodec and
//! libswscale through `ffmpeg-next`, sampled at a fixed interval of the video's own
//! timestamps. One decoded frame and one RGB picture are in memory at a time, whatever
//! the file's length; only sampled frames are converted to RGB.

use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

use crate::frame::{RgbImage, MAX_PIXELS};

/// Why frames could not be read, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The file could not be opened or its video stream not decoded (from the start).
    #[error("{path}: video: {why}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// Decoding failed part-way (damaged or truncated video): the frames before `at_ms`
    /// were delivered.
    #[error("{path}: video damaged after {at_ms} ms: {why}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Video time of the last good frame (ms).
        at_ms: i64,
        /// What went wrong.
        why: String,
    },
    /// The caller's sink refused a frame.
    #[error(transparent)]
    Sink(Box<dyn std::error::Error + Send + Sync>),
}

/// What sampling a file found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoStats {
    /// Frames decoded.
    pub decoded: u64,
    /// Frames handed to the sink.
    pub sampled: u64,
    /// Video time of the last decoded frame (ms).
    pub last_ms: i64,
}

fn init() -> Result<(), String> {
    ff::init().map_err(|e| e.to_string())?;
    ff::util::log::set_level(ff::util::log::Level::Fatal);
    Ok(())
}

/// The file's video stream, if it has one: its index, width and height. Cover art (an
/// attached picture in an audio file) is not video.
fn video_stream(ictx: &ff::format::context::Input) -> Option<ff::format::stream::Stream<'_>> {
    ictx.streams()
        .filter(|s| s.parameters().medium() == ff::media::Type::Video)
        .find(|s| !s.disposition().contains(ff::format::stream::Disposition::ATTACHED_PIC))
}

/// The file's time zero (µs): the earliest start of its audio and video streams, so that
/// frames and audio samples are timed from the same point (a recording whose video starts
/// half a second after its audio keeps that half second). `None` when no stream says.
fn start_us(ictx: &ff::format::context::Input) -> Option<i64> {
    ictx.streams()
        .filter(|s| matches!(s.parameters().medium(), ff::media::Type::Video | ff::media::Type::Audio))
        .filter(|s| s.start_time() != ff::ffi::AV_NOPTS_VALUE)
        .map(|s| {
            let tb = s.time_base();
            let v = i128::from(s.start_time()) * i128::from(tb.numerator()) * 1_000_000
                / i128::from(tb.denominator().max(1));
            i64::try_from(v).unwrap_or(0)
        })
        .min()
}

/// Whether `path` has a video stream FFmpeg can open (`Ok(false)` for audio-only files).
pub fn has_video(path: &Path) -> Result<bool, VideoError> {
    let open = |why: String| VideoError::Open { path: path.to_path_buf(), why };
    init().map_err(open)?;
    let ictx = ff::format::input(&path).map_err(|e| open(e.to_string()))?;
    Ok(video_stream(&ictx).is_some())
}

/// Decodes the video stream of `path` and hands `sink` the first frame at or after
/// every `every_ms` of the file's time (time 0 = the file's start, see [`start_us`]), as RGB at the
/// video's size. A file without video gives no frames. Errors part-way are
/// [`VideoError::Damaged`]: the frames before were delivered.
pub fn sample_frames(
    path: &Path,
    every_ms: i64,
    mut sink: impl FnMut(i64, &RgbImage) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
) -> Result<VideoStats, VideoError> {
    let open = |why: String| VideoError::Open { path: path.to_path_buf(), why };
    init().map_err(open)?;
    let mut ictx = ff::format::input(&path).map_err(|e| open(e.to_string()))?;
    let Some(stream) = video_stream(&ictx) else {
        return Ok(VideoStats::default());
    };
    let index = stream.index();
    let tb = stream.time_base();
    let ctx = ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| open(e.to_string()))?;
    let mut decoder = ctx.decoder().video().map_err(|e| open(format!("no decoder: {e}")))?;
    let (w, h) = (decoder.width(), decoder.height());
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(open(format!("{w}x{h} pixels is not a picture size this reads")));
    }
    let mut scaler = ff::software::scaling::Context::get(
        decoder.format(),
        w,
        h,
        ff::format::Pixel::RGB24,
        w,
        h,
        ff::software::scaling::Flags::BILINEAR,
    )
    .map_err(|e| open(format!("no conversion to RGB: {e}")))?;
    let every = every_ms.max(1);
    let mut stats = VideoStats::default();
    let mut first: Option<i64> = start_us(&ictx).map(|us| us / 1000);
    let mut due: i64 = 0;
    let mut frame = ff::frame::Video::empty();
    let mut rgb = ff::frame::Video::empty();
    let ms_of = |ts: i64| -> i64 {
        let v = ts as i128 * i128::from(tb.numerator()) * 1000 / i128::from(tb.denominator().max(1));
        i64::try_from(v).unwrap_or(i64::MAX)
    };
    let damaged = |at_ms: i64, why: String| VideoError::Damaged { path: path.to_path_buf(), at_ms, why };
    let mut handle = |decoder: &mut ff::decoder::Video, stats: &mut VideoStats| -> Result<(), VideoError> {
        while decoder.receive_frame(&mut frame).is_ok() {
            let Some(ts) = frame.timestamp().or(frame.pts()) else {
                continue;
            };
            let t0 = *first.get_or_insert(ms_of(ts));
            let t = (ms_of(ts) - t0).max(0);
            stats.decoded += 1;
            stats.last_ms = stats.last_ms.max(t);
            if t < due || frame.width() != w || frame.height() != h {
                continue;
            }
            scaler.run(&frame, &mut rgb).map_err(|e| damaged(t, format!("conversion to RGB: {e}")))?;
            let img = to_rgb(&rgb);
            sink(t, &img).map_err(VideoError::Sink)?;
            stats.sampled += 1;
            due = (t / every + 1) * every;
        }
        Ok(())
    };
    for (s, packet) in ictx.packets() {
        if s.index() != index {
            continue;
        }
        if let Err(e) = decoder.send_packet(&packet) {
            return Err(damaged(stats.last_ms, e.to_string()));
        }
        handle(&mut decoder, &mut stats)?;
    }
    // The frames the decoder still holds.
    if decoder.send_eof().is_ok() {
        handle(&mut decoder, &mut stats)?;
    }
    Ok(stats)
}

/// Packed RGB rows (libswscale pads each row to its stride).
fn to_rgb(f: &ff::frame::Video) -> RgbImage {
    let (w, h) = (f.width() as usize, f.height() as usize);
    let stride = f.stride(0);
    let data = f.data(0);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        rgb.extend_from_slice(&data[y * stride..y * stride + w * 3]);
    }
    RgbImage { rgb, width: f.width(), height: f.height() }
}

/// The audio of a video file, decoded by FFmpeg and resampled to 16 kHz mono by
/// libswresample, in blocks of about a second. FFmpeg resynchronises after damaged
/// packets and reads a truncated file up to its end, so a damaged screen recording keeps
/// the audio it still has (`damaged` counts the packets it could not decode).
pub struct VideoAudio {
    path: PathBuf,
    ictx: ff::format::context::Input,
    index: usize,
    decoder: ff::decoder::Audio,
    resampler: Option<(ff::software::resampling::Context, (ff::format::Sample, u16, u32))>,
    eof: bool,
    time_base: ff::Rational,
    /// The file's time zero (µs, [`start_us`]; else the first frame's time), and how many
    /// samples have been given out since.
    zero_us: Option<i64>,
    produced: u64,
    /// Packets that could not be read or decoded.
    pub damaged: u64,
    /// Samples of silence put where damage took audio out, so what follows stays at its
    /// time (in step with the video).
    pub filled: u64,
    /// What the container says its length is (s).
    pub duration_s: Option<f64>,
}

impl std::fmt::Debug for VideoAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoAudio").field("path", &self.path).finish_non_exhaustive()
    }
}

impl VideoAudio {
    /// Opens the best audio stream of `path`; `Ok(None)` when it has none.
    pub fn open(path: &Path) -> Result<Option<Self>, VideoError> {
        let open = |why: String| VideoError::Open { path: path.to_path_buf(), why };
        init().map_err(open)?;
        let ictx = ff::format::input(&path).map_err(|e| open(e.to_string()))?;
        let Some(stream) = ictx.streams().best(ff::media::Type::Audio) else {
            return Ok(None);
        };
        let index = stream.index();
        let time_base = stream.time_base();
        let ctx = ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| open(e.to_string()))?;
        let decoder = ctx.decoder().audio().map_err(|e| open(format!("no audio decoder: {e}")))?;
        let zero_us = start_us(&ictx);
        let duration = ictx.duration();
        let duration_s = (duration > 0).then(|| duration as f64 / f64::from(ff::ffi::AV_TIME_BASE));
        Ok(Some(Self {
            path: path.to_path_buf(),
            ictx,
            index,
            decoder,
            resampler: None,
            eof: false,
            time_base,
            zero_us,
            produced: 0,
            damaged: 0,
            filled: 0,
            duration_s,
        }))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next block of 16 kHz mono samples, `None` at the end.
    pub fn next_block(&mut self) -> Result<Option<Vec<f32>>, VideoError> {
        let mut out: Vec<f32> = Vec::new();
        let mut frame = ff::frame::Audio::empty();
        // Consecutive unreadable packets before the rest of the file is given up on.
        let mut bad_run = 0u32;
        while out.len() < crate::SAMPLE_RATE as usize && !self.eof {
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.ictx) {
                Ok(()) => bad_run = 0,
                Err(ff::Error::Eof) => {
                    self.eof = true;
                    let _ = self.decoder.send_eof();
                    self.drain(&mut frame, &mut out)?;
                    self.flush(&mut out)?;
                    break;
                }
                Err(_) => {
                    self.damaged += 1;
                    bad_run += 1;
                    if bad_run > 1_000 {
                        self.eof = true;
                    }
                    continue;
                }
            }
            if packet.stream() != self.index {
                continue;
            }
            if self.decoder.send_packet(&packet).is_err() {
                self.damaged += 1;
                continue;
            }
            self.drain(&mut frame, &mut out)?;
        }
        self.produced += out.len() as u64;
        // Short of a block only at the end.
        Ok((!out.is_empty()).then_some(out))
    }

    fn drain(&mut self, frame: &mut ff::frame::Audio, out: &mut Vec<f32>) -> Result<(), VideoError> {
        while self.decoder.receive_frame(frame).is_ok() {
            if frame.samples() == 0 || frame.rate() == 0 {
                continue;
            }
            // Where this frame belongs: after damage, the audio that is left keeps its
            // time (more than 0.1 s missing is filled with silence).
            if let Some(pts) = frame.timestamp().or(frame.pts()) {
                let tb = self.time_base;
                let us = i128::from(pts) * i128::from(tb.numerator()) * 1_000_000 / i128::from(tb.denominator().max(1));
                let zero = i128::from(*self.zero_us.get_or_insert(i64::try_from(us).unwrap_or(0)));
                let at = (us - zero) * i128::from(crate::SAMPLE_RATE) / 1_000_000;
                let have = (self.produced + out.len() as u64) as i128;
                if at > have + i128::from(crate::SAMPLE_RATE / 10) {
                    let gap = usize::try_from(at - have).unwrap_or(0).min(crate::SAMPLE_RATE as usize * 3600);
                    out.resize(out.len() + gap, 0.0);
                    self.filled += gap as u64;
                }
            }
            let channels = frame.channels().max(1);
            let key = (frame.format(), channels, frame.rate());
            if self.resampler.as_ref().is_none_or(|(_, k)| *k != key) {
                self.flush(out)?;
                let layout = if frame.channel_layout().is_empty() {
                    ff::ChannelLayout::default(i32::from(channels))
                } else {
                    frame.channel_layout()
                };
                let ctx = ff::software::resampling::Context::get(
                    frame.format(),
                    layout,
                    frame.rate(),
                    ff::format::Sample::F32(ff::format::sample::Type::Packed),
                    ff::ChannelLayout::MONO,
                    crate::SAMPLE_RATE,
                )
                .map_err(|e| VideoError::Open { path: self.path.clone(), why: format!("audio conversion: {e}") })?;
                self.resampler = Some((ctx, key));
            }
            if frame.channel_layout().is_empty() {
                frame.set_channel_layout(ff::ChannelLayout::default(i32::from(channels)));
            }
            let Some((ctx, _)) = self.resampler.as_mut() else { continue };
            // Room for all of this frame's output, so nothing piles up in the resampler.
            let room = frame.samples() * crate::SAMPLE_RATE as usize / frame.rate() as usize + 256;
            let mut converted = mono_frame(room);
            if ctx.run(frame, &mut converted).is_err() {
                self.damaged += 1;
                continue;
            }
            out.extend_from_slice(&converted.plane::<f32>(0)[..converted.samples()]);
        }
        Ok(())
    }

    /// What the resampler still holds.
    fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), VideoError> {
        if let Some((ctx, _)) = self.resampler.as_mut() {
            loop {
                let mut converted = mono_frame(4096);
                match ctx.flush(&mut converted) {
                    Ok(_) if converted.samples() > 0 => {
                        out.extend_from_slice(&converted.plane::<f32>(0)[..converted.samples()]);
                    }
                    _ => break,
                }
            }
        }
        Ok(())
    }
}

/// An allocated frame of `samples` 16 kHz mono f32 samples, for the resampler to fill.
fn mono_frame(samples: usize) -> ff::frame::Audio {
    let mut f = ff::frame::Audio::new(
        ff::format::Sample::F32(ff::format::sample::Type::Packed),
        samples,
        ff::ChannelLayout::MONO,
    );
    f.set_rate(crate::SAMPLE_RATE);
    f
}
