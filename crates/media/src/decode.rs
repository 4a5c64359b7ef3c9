//! [`AudioSource`]: any container/codec symphonia decodes, as a stream of 16 kHz mono blocks.

use std::fs::File;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::error::{check_input_file, describe_unknown_file, MediaError};
use crate::resample::{output_len_for, MonoResampler};
use crate::SAMPLE_RATE;

/// Output samples gathered before [`AudioSource::next_block`] returns (one second).
const BLOCK_SAMPLES: usize = SAMPLE_RATE as usize;

/// How many packets `open` may decode without getting a single frame before it gives up
/// (decoders with priming may legitimately return empty buffers for the first few).
const MAX_EMPTY_PACKETS_AT_OPEN: usize = 1_000;

/// Sample rates a source may have (declared or decoded), in Hz. Memory (the resampler's
/// FFT sizes) and output length (16 kHz samples per source frame) follow the rate, so a
/// header is never believed outside this range: real audio is 8 kHz to 384 kHz.
pub const SOURCE_RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;
/// Channel counts a source may have.
pub const SOURCE_CHANNELS: std::ops::RangeInclusive<usize> = 1..=32;
/// Bits per sample a header may declare (PCM is 8 to 32 bits, float 32 or 64).
const SOURCE_BITS: std::ops::RangeInclusive<u32> = 1..=64;

/// Refuses a header (or a decoded packet) whose rate, channels or bits are outside what
/// real audio has, naming the file: such a file is damaged or hostile, and its numbers
/// must not size anything.
fn check_declared(
    path: &Path,
    what: &str,
    rate: Option<u32>,
    channels: Option<usize>,
    bits: Option<u32>,
) -> Result<(), MediaError> {
    let bad = |detail: String| Err(MediaError::Unsupported { path: path.to_owned(), what: format!("{what} {detail}") });
    if let Some(r) = rate.filter(|r| !SOURCE_RATES.contains(r)) {
        return bad(format!(
            "declares a sample rate of {r} Hz (accepted: {} to {} Hz)",
            SOURCE_RATES.start(),
            SOURCE_RATES.end()
        ));
    }
    if let Some(c) = channels.filter(|c| !SOURCE_CHANNELS.contains(c)) {
        return bad(format!(
            "declares {c} channels (accepted: {} to {})",
            SOURCE_CHANNELS.start(),
            SOURCE_CHANNELS.end()
        ));
    }
    if let Some(b) = bits.filter(|b| !SOURCE_BITS.contains(b)) {
        return bad(format!("declares {b} bits per sample"));
    }
    Ok(())
}

/// Facts about a source file, available right after [`AudioSource::open`].
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// The file.
    pub path: PathBuf,
    /// Short codec name as symphonia spells it: `pcm_s16le`, `flac`, `mp3`, `vorbis`, `aac`...
    pub codec: String,
    /// Short container name: `wave`, `flac`, `ogg`, `isomp4`, `mp3`, `mkv`...
    pub container: String,
    /// Sample rate of the decoded audio, in Hz (from the first decoded packet, so it is the
    /// real output rate even where a header says otherwise, e.g. HE-AAC).
    pub sample_rate: u32,
    /// Channel count of the first decoded packet.
    pub channels: u16,
    /// Duration the container declares, in seconds, if it declares one.
    pub duration_s: Option<f64>,
    /// Number of frames (at `sample_rate`) the container declares, if it declares one.
    /// Decoding checks against it at the end and reports [`MediaError::Truncated`] if the
    /// file holds fewer.
    pub declared_frames: Option<u64>,
}

/// A streaming decoder for one file: decodes any container/codec symphonia supports
/// (WAV, FLAC, MP3, Ogg/Vorbis, MP4/M4A AAC, MKV/WebM, AIFF, CAF, ALAC, ADPCM), downmixes to
/// mono (the average of the channels) and resamples to 16 kHz with rubato's band-limited
/// FFT resampler, block by block: memory use does not grow with the file's length.
///
/// Output sample `i` is source time `i / 16000` (the resampler's delay is removed) and the
/// total output length is `round(frames * 16000 / source_rate)`, where `frames` is what was
/// decoded after the decoder's gapless trimming.
///
/// Once [`next_block`](Self::next_block) has returned `Ok(None)` or an error, the source is
/// finished and returns `Ok(None)` from then on.
pub struct AudioSource {
    info: SourceInfo,
    dec: PacketDecoder,
    resampler: MonoResampler,
    out: Vec<f32>,
    samples_emitted: u64,
    done: bool,
}

impl std::fmt::Debug for AudioSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioSource")
            .field("info", &self.info)
            .field("frames_decoded", &self.dec.frames_decoded)
            .field("samples_emitted", &self.samples_emitted)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl AudioSource {
    /// Opens and validates `path`: probes the container, picks the first audio track with a
    /// known codec, and decodes until the first audio frames come out, so that a file that is
    /// not audio fails here, before the caller creates anything.
    ///
    /// Errors: [`MediaError::Missing`], [`MediaError::Empty`] (0 bytes, or no samples),
    /// [`MediaError::NotAudio`] (unknown container, no audio track, or the first packets do
    /// not decode), [`MediaError::Unsupported`] (audio in a codec this build lacks),
    /// [`MediaError::Truncated`] (ends inside its header, or before its first samples),
    /// [`MediaError::Io`].
    pub fn open(path: &Path) -> Result<Self, MediaError> {
        check_input_file(path)?;
        let file = File::open(path).map_err(|e| MediaError::io(path, e))?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        check_wave_fmt(path)?;
        // A demuxer that panics on a hostile header (an overflow in a debug build) is a
        // corrupt file, not a crash.
        let probed = catch_unwind(AssertUnwindSafe(|| {
            symphonia::default::get_probe().probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        }));
        let format = match probed {
            Ok(r) => r.map_err(|e| probe_error(path, e))?,
            Err(panic) => {
                return Err(MediaError::Corrupt {
                    path: path.to_owned(),
                    at_s: None,
                    detail: format!("header: the demuxer failed on it ({})", panic_text(&*panic)),
                })
            }
        };
        let container = format.format_info().short_name.to_owned();

        let Some(track) = format.first_track_known_codec(TrackType::Audio) else {
            return Err(no_audio_track(path, format.as_ref(), &container));
        };
        let track_id = track.id;
        let Some(params) = track.codec_params.as_ref().and_then(CodecParameters::audio) else {
            return Err(no_audio_track(path, format.as_ref(), &container));
        };
        check_declared(
            path,
            &format!("its {container} header"),
            params.sample_rate,
            params.channels.as_ref().map(|c| c.count()),
            params.bits_per_sample,
        )?;
        let codecs = symphonia::default::get_codecs();
        let codec = match codecs.get_audio_decoder(params.codec) {
            Some(reg) => reg.codec.info.short_name.to_owned(),
            None => {
                return Err(MediaError::Unsupported {
                    path: path.to_owned(),
                    what: format!("no decoder for audio codec id {} in a {container} file", params.codec),
                })
            }
        };
        let decoder =
            codecs.make_audio_decoder(params, &AudioDecoderOptions::default().gapless(true)).map_err(|e| {
                MediaError::Unsupported {
                    path: path.to_owned(),
                    what: format!("{codec} audio in a {container} file: {e}"),
                }
            })?;
        let declared_frames = track.num_frames;
        let header_rate = params.sample_rate;
        let duration_s = match (declared_frames, header_rate) {
            (Some(n), Some(rate)) if rate > 0 => Some(n as f64 / f64::from(rate)),
            _ => match (track.duration, track.time_base) {
                (Some(d), Some(tb)) => tb.calc_duration(d).map(|t| t.as_secs_f64()),
                _ => None,
            },
        };
        let lossless = codec == "flac" || codec == "alac" || codec.starts_with("pcm") || codec.starts_with("adpcm");
        let max_frames_per_packet = params.max_frames_per_packet.unwrap_or(4_096);

        let mut dec = PacketDecoder {
            path: path.to_owned(),
            format,
            decoder,
            track_id,
            planes: Vec::new(),
            mono: Vec::new(),
            rate: None,
            channels: 0,
            frames_decoded: 0,
            pending_error: None,
            lossless,
            max_frames_per_packet,
        };

        // Decode until audio comes out, so that garbage fails here and the real rate is known.
        let mut empty_packets = 0;
        loop {
            match dec.next_packet() {
                Ok(Step::Frames) if !dec.mono.is_empty() => break,
                Ok(Step::Frames) => {
                    empty_packets += 1;
                    if empty_packets > MAX_EMPTY_PACKETS_AT_OPEN {
                        return Err(MediaError::NotAudio {
                            path: path.to_owned(),
                            found: format!(
                                "a {container} file whose first {MAX_EMPTY_PACKETS_AT_OPEN} {codec} packets hold no audio"
                            ),
                        });
                    }
                }
                Ok(Step::End) => {
                    if let Some(detail) = dec.pending_error.take() {
                        return Err(undecodable(path, &container, &codec, &detail));
                    }
                    return Err(match declared_frames {
                        Some(n) if n > 0 => MediaError::Truncated {
                            path: path.to_owned(),
                            detail: format!("header declares {n} frames but the file holds none"),
                        },
                        _ => MediaError::Empty {
                            path: path.to_owned(),
                            what: format!("a {container} file with no audio samples"),
                        },
                    });
                }
                Err(MediaError::Corrupt { detail, .. }) => {
                    return Err(undecodable(path, &container, &codec, &detail));
                }
                Err(e) => return Err(e),
            }
        }

        let rate = dec.rate.unwrap_or(0);
        let mut resampler =
            MonoResampler::new(rate).map_err(|what| MediaError::Unsupported { path: path.to_owned(), what })?;
        let mut out = Vec::with_capacity(BLOCK_SAMPLES * 2);
        resampler.process(&dec.mono, &mut out).map_err(|e| resample_failed(path, &e))?;

        let info = SourceInfo {
            path: path.to_owned(),
            codec,
            container,
            sample_rate: rate,
            channels: dec.channels,
            duration_s,
            declared_frames,
        };
        Ok(AudioSource { info, dec, resampler, out, samples_emitted: 0, done: false })
    }

    /// Facts about the file.
    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Frames decoded so far, at the source rate (after gapless trimming).
    pub fn frames_decoded(&self) -> u64 {
        self.dec.frames_decoded
    }

    /// 16 kHz samples returned so far.
    pub fn samples_emitted(&self) -> u64 {
        self.samples_emitted
    }

    /// The next block of 16 kHz mono samples (about one second), or `None` at the end.
    ///
    /// At the end of the stream, if the container declared a frame count and fewer frames
    /// were decoded (beyond a small tolerance for lossy codecs' padding), this returns
    /// [`MediaError::Truncated`]. A packet that fails to decode with more packets after it is
    /// [`MediaError::Corrupt`]; a damaged *last* packet in a stream that declares no length
    /// (MP3 without a Xing/LAME header, Ogg) is taken as a file cut short and ends the
    /// stream quietly, since nothing says how long it should have been.
    pub fn next_block(&mut self) -> Result<Option<Vec<f32>>, MediaError> {
        if self.done {
            return Ok(None);
        }
        let result = self.fill_block();
        if result.is_err() {
            self.done = true;
            self.out = Vec::new();
        }
        result
    }

    fn fill_block(&mut self) -> Result<Option<Vec<f32>>, MediaError> {
        while self.out.len() < BLOCK_SAMPLES {
            match self.dec.next_packet()? {
                Step::Frames => {
                    self.resampler
                        .process(&self.dec.mono, &mut self.out)
                        .map_err(|e| resample_failed(&self.info.path, &e))?;
                }
                Step::End => {
                    self.dec.check_complete(self.info.declared_frames)?;
                    self.resampler.finish(&mut self.out).map_err(|e| resample_failed(&self.info.path, &e))?;
                    self.done = true;
                    debug_assert_eq!(
                        self.samples_emitted + self.out.len() as u64,
                        output_len_for(self.dec.frames_decoded, self.info.sample_rate)
                    );
                    break;
                }
            }
        }
        if self.out.is_empty() {
            return Ok(None);
        }
        let block = std::mem::replace(&mut self.out, Vec::with_capacity(BLOCK_SAMPLES * 2));
        self.samples_emitted += block.len() as u64;
        Ok(Some(block))
    }
}

/// What one call to [`PacketDecoder::next_packet`] produced.
enum Step {
    /// `mono` holds the next packet's frames (possibly none).
    Frames,
    /// The stream ended.
    End,
}

/// The demux + decode + downmix stage, at the source rate.
struct PacketDecoder {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    planes: Vec<Vec<f32>>,
    /// The last packet's frames, downmixed.
    mono: Vec<f32>,
    rate: Option<u32>,
    channels: u16,
    frames_decoded: u64,
    /// A packet that failed to demux or decode. If more packets follow it, the file is
    /// corrupt; if the stream ends right after it, the file was cut short.
    pending_error: Option<String>,
    lossless: bool,
    max_frames_per_packet: u64,
}

impl PacketDecoder {
    fn position_s(&self) -> Option<f64> {
        self.rate.map(|r| self.frames_decoded as f64 / f64::from(r))
    }

    fn corrupt(&self, detail: String) -> MediaError {
        MediaError::Corrupt { path: self.path.clone(), at_s: self.position_s(), detail }
    }

    /// Reads and decodes the next packet of our track into `mono`. A panic in the demuxer
    /// or decoder (hostile input) is reported as corrupt data, never propagated.
    fn next_packet(&mut self) -> Result<Step, MediaError> {
        match catch_unwind(AssertUnwindSafe(|| self.next_packet_inner())) {
            Ok(r) => r,
            Err(panic) => {
                self.mono.clear();
                Err(self.corrupt(format!("the decoder failed on it ({})", panic_text(&*panic))))
            }
        }
    }

    fn next_packet_inner(&mut self) -> Result<Step, MediaError> {
        self.mono.clear();
        let packet = loop {
            match self.format.next_packet() {
                Ok(Some(p)) if p.track_id != self.track_id => continue,
                Ok(Some(p)) => {
                    if let Some(detail) = self.pending_error.take() {
                        return Err(self.corrupt(detail));
                    }
                    break p;
                }
                Ok(None) => return Ok(Step::End),
                // Symphonia's demuxers report a stream that stops mid-packet this way.
                Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Step::End),
                Err(SymError::IoError(e)) => return Err(MediaError::io(&self.path, e)),
                Err(SymError::ResetRequired) => return Err(self.chained_stream()),
                Err(e) => {
                    // A damaged packet: look one packet further to tell corruption (more
                    // follows) from truncation (nothing does). Two failures in a row end the
                    // stream, so a demuxer that keeps failing cannot loop us forever.
                    if self.pending_error.is_some() {
                        return Ok(Step::End);
                    }
                    self.pending_error = Some(format!("demuxing: {e}"));
                }
            }
        };
        let buf = match self.decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::ResetRequired) => return Err(self.chained_stream()),
            Err(SymError::Unsupported(what)) => {
                return Err(MediaError::Unsupported {
                    path: self.path.clone(),
                    what: format!("{what} (at {:.2} s)", self.position_s().unwrap_or(0.0)),
                })
            }
            Err(e) => {
                self.pending_error = Some(format!("decoding: {e}"));
                return Ok(Step::Frames);
            }
        };
        let frames = buf.frames();
        if frames == 0 {
            return Ok(Step::Frames);
        }
        let rate = buf.spec().rate();
        match self.rate {
            None => {
                // What the decoder says may differ from the header (HE-AAC), or the
                // container may declare nothing (MP3): the same bounds apply.
                let channels = buf.spec().channels().count();
                check_declared(&self.path, "its audio", Some(rate), Some(channels), None)?;
                self.rate = Some(rate);
                self.channels = u16::try_from(channels).unwrap_or(u16::MAX);
            }
            Some(r) if r != rate => {
                return Err(MediaError::Unsupported {
                    path: self.path.clone(),
                    what: format!(
                        "sample rate changes from {r} Hz to {rate} Hz at {:.2} s",
                        self.position_s().unwrap_or(0.0)
                    ),
                })
            }
            Some(_) => {}
        }
        buf.copy_to_vecs_planar::<f32>(&mut self.planes);
        downmix(&self.planes, frames, &mut self.mono);
        self.frames_decoded += frames as u64;
        Ok(Step::Frames)
    }

    /// At the end of the stream: did we get what the header promised?
    fn check_complete(&mut self, declared: Option<u64>) -> Result<(), MediaError> {
        let rate = self.rate.unwrap_or(1).max(1);
        let pending = self.pending_error.take();
        if let Some(declared) = declared {
            // Lossy codecs may legitimately come out a little short of the declared count
            // (padding/priming handled differently by muxer and decoder).
            let tolerance = if self.lossless { 0 } else { u64::from(rate) / 10 + 2 * self.max_frames_per_packet };
            if self.frames_decoded.saturating_add(tolerance) < declared {
                let secs = |n: u64| n as f64 / f64::from(rate);
                let mut detail = format!(
                    "header declares {declared} frames ({:.2} s) but the file holds only {} ({:.2} s)",
                    secs(declared),
                    self.frames_decoded,
                    secs(self.frames_decoded)
                );
                if let Some(p) = pending {
                    detail.push_str(&format!("; last packet: {p}"));
                }
                return Err(MediaError::Truncated { path: self.path.clone(), detail });
            }
            if let Some(p) = pending {
                return Err(self.corrupt(p));
            }
        }
        // No declared length and a damaged final packet: a stream cut mid-frame. What was
        // there has been decoded; nothing says more was expected.
        Ok(())
    }

    fn chained_stream(&self) -> MediaError {
        MediaError::Unsupported {
            path: self.path.clone(),
            what: format!(
                "the stream changes its track layout part-way (at {:.2} s)",
                self.position_s().unwrap_or(0.0)
            ),
        }
    }
}

/// The message of a caught panic.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// Averages `planes[..][..frames]` into `mono`.
fn downmix(planes: &[Vec<f32>], frames: usize, mono: &mut Vec<f32>) {
    mono.clear();
    let Some((first, rest)) = planes.split_first() else {
        mono.resize(frames, 0.0);
        return;
    };
    mono.extend_from_slice(&first[..frames]);
    if rest.is_empty() {
        return;
    }
    for plane in rest {
        for (m, s) in mono.iter_mut().zip(&plane[..frames]) {
            *m += *s;
        }
    }
    let scale = 1.0 / planes.len() as f32;
    for m in mono.iter_mut() {
        *m *= scale;
    }
}

fn probe_error(path: &Path, e: SymError) -> MediaError {
    let path_buf = path.to_owned();
    match e {
        SymError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            if looks_like_audio(path) {
                MediaError::Truncated { path: path_buf, detail: "the file ends inside its header".into() }
            } else {
                MediaError::NotAudio { path: path_buf, found: describe_unknown_file(path) }
            }
        }
        SymError::IoError(e) => MediaError::io(path, e),
        SymError::Unsupported(what) => match mp4_without_index(path) {
            Some(detail) => MediaError::Truncated { path: path_buf, detail },
            None => MediaError::NotAudio { path: path_buf, found: format!("{} ({what})", describe_unknown_file(path)) },
        },
        other => {
            if let Some(detail) = riff_size_lie(path).or_else(|| mp4_without_index(path)) {
                MediaError::Truncated { path: path_buf, detail }
            } else if looks_like_audio(path) {
                MediaError::Corrupt { path: path_buf, at_s: None, detail: format!("header: {other}") }
            } else {
                MediaError::NotAudio { path: path_buf, found: format!("{} ({other})", describe_unknown_file(path)) }
            }
        }
    }
}

/// For a RIFF file that symphonia rejected: walks the chunk headers and says which one
/// declares more bytes than the file holds (a WAV whose sizes were never fixed up, or
/// garbage), so the error can say "truncated" and give numbers instead of a parser message.
fn riff_size_lie(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    let file_len = f.metadata().ok()?.len();
    let mut head = [0u8; 12];
    f.read_exact(&mut head).ok()?;
    if &head[..4] != b"RIFF" {
        return None;
    }
    let riff_len = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
    let mut pos = 12u64;
    // A WAV has a handful of chunks before "data"; stop after a few dozen.
    for _ in 0..64 {
        let mut ch = [0u8; 8];
        f.seek(SeekFrom::Start(pos)).ok()?;
        f.read_exact(&mut ch).ok()?;
        let id = String::from_utf8_lossy(&ch[..4]).into_owned();
        let len = u64::from(u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]));
        let avail = file_len.saturating_sub(pos + 8);
        if len > avail && len != u64::from(u32::MAX) {
            return Some(format!(
                "the {id:?} chunk declares {len} bytes but only {avail} remain in the file \
                 (RIFF header declares {riff_len} bytes, the file has {file_len})"
            ));
        }
        if &ch[..4] == b"data" {
            return None;
        }
        pos += 8 + len + (len & 1);
    }
    None
}

/// For a RIFF/WAVE file, before symphonia reads it: the `fmt ` chunk's channels, rate
/// and bits, checked against the bounds (symphonia's own arithmetic on them can overflow).
fn check_wave_fmt(path: &Path) -> Result<(), MediaError> {
    use std::io::{Read, Seek, SeekFrom};
    let fmt = (|| {
        let mut f = File::open(path).ok()?;
        let mut head = [0u8; 12];
        f.read_exact(&mut head).ok()?;
        if &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
            return None;
        }
        let mut pos = 12u64;
        for _ in 0..64 {
            let mut ch = [0u8; 8];
            f.seek(SeekFrom::Start(pos)).ok()?;
            f.read_exact(&mut ch).ok()?;
            let len = u64::from(u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]));
            if &ch[..4] == b"fmt " {
                let mut b = [0u8; 16];
                f.read_exact(&mut b).ok()?;
                let channels = u16::from_le_bytes([b[2], b[3]]);
                let rate = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                let bits = u16::from_le_bytes([b[14], b[15]]);
                return Some((rate, channels, bits));
            }
            if &ch[..4] == b"data" {
                return None;
            }
            pos += 8 + len + (len & 1);
        }
        None
    })();
    match fmt {
        // 0 bits: some compressed formats leave it unset; symphonia judges those.
        Some((rate, channels, bits)) => check_declared(
            path,
            "its WAV header",
            Some(rate),
            Some(usize::from(channels)),
            (bits != 0).then_some(u32::from(bits)),
        ),
        None => Ok(()),
    }
}

/// For an MP4/M4A/MOV file that symphonia rejected: walks the top-level boxes and, if there
/// is no `moov` box (the index, which most recorders write last), says so: the file was cut
/// short or its recorder never finished.
fn mp4_without_index(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    let file_len = f.metadata().ok()?.len();
    let mut pos = 0u64;
    let mut first = true;
    while pos + 8 <= file_len {
        let mut hdr = [0u8; 16];
        f.seek(SeekFrom::Start(pos)).ok()?;
        f.read_exact(&mut hdr[..8]).ok()?;
        let kind = [hdr[4], hdr[5], hdr[6], hdr[7]];
        if first && &kind != b"ftyp" {
            return None;
        }
        first = false;
        if &kind == b"moov" {
            return None;
        }
        let size = match u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) {
            0 => file_len - pos,
            1 => {
                f.read_exact(&mut hdr[8..16]).ok()?;
                u64::from_be_bytes([hdr[8], hdr[9], hdr[10], hdr[11], hdr[12], hdr[13], hdr[14], hdr[15]])
            }
            n => u64::from(n),
        };
        if size < 8 {
            return None;
        }
        if pos + size > file_len {
            return Some(format!(
                "the MP4 {:?} box declares {size} bytes but only {} remain, and there is no \
                 moov (index) box: the file was cut short or its recording never finished",
                String::from_utf8_lossy(&kind),
                file_len - pos
            ));
        }
        pos += size;
    }
    (!first).then(|| "the MP4 file has no moov (index) box: its recording never finished".to_owned())
}

/// Whether the file starts with the signature of a common audio container.
fn looks_like_audio(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 12];
    let n = File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    let head = &head[..n];
    head.starts_with(b"RIFF")
        || head.starts_with(b"fLaC")
        || head.starts_with(b"OggS")
        || head.starts_with(b"ID3")
        || head.starts_with(b"FORM")
        || head.starts_with(b"caff")
        || head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3])
        || head.get(4..8) == Some(b"ftyp")
        || (head.len() >= 2 && head[0] == 0xff && head[1] & 0xe0 == 0xe0)
}

fn no_audio_track(path: &Path, format: &dyn FormatReader, container: &str) -> MediaError {
    let tracks = format.tracks();
    let kinds: Vec<&str> = tracks
        .iter()
        .map(|t| match &t.codec_params {
            Some(CodecParameters::Audio(_)) => "audio (unknown codec)",
            Some(CodecParameters::Video(_)) => "video",
            Some(CodecParameters::Subtitle(_)) => "subtitles",
            _ => "unknown",
        })
        .collect();
    if kinds.contains(&"audio (unknown codec)") {
        return MediaError::Unsupported {
            path: path.to_owned(),
            what: format!("a {container} file whose audio codec is unknown"),
        };
    }
    let found = if kinds.is_empty() {
        format!("a {container} container with no tracks")
    } else {
        format!("a {container} container with no audio track (tracks: {})", kinds.join(", "))
    };
    MediaError::NotAudio { path: path.to_owned(), found }
}

fn undecodable(path: &Path, container: &str, codec: &str, detail: &str) -> MediaError {
    MediaError::NotAudio {
        path: path.to_owned(),
        found: format!("a {container} file whose {codec} audio does not decode ({detail})"),
    }
}

fn resample_failed(path: &Path, e: &rubato::ResampleError) -> MediaError {
    MediaError::Corrupt { path: path.to_owned(), at_s: None, detail: format!("resampling: {e}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_averages_channels() {
        let planes = vec![vec![1.0, 0.5, -1.0, 9.0], vec![0.0, 0.5, 1.0, 9.0]];
        let mut mono = Vec::new();
        downmix(&planes, 3, &mut mono);
        assert_eq!(mono, vec![0.5, 0.5, 0.0]);
        downmix(&planes[..1], 2, &mut mono);
        assert_eq!(mono, vec![1.0, 0.5]);
    }
}
