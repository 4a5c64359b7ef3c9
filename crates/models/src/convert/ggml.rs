//! whisper.cpp's legacy ggml model file: writer pieces and a bounded reader, and the
//! [`GgmlType`] of tensors (shared with the silero VAD converter, whose file uses the same
//! tensor records).
//!
//! Layout (little endian, `i32` unless noted), as whisper.cpp's `models/convert-pt-to-ggml.py`
//! writes it and `whisper_model_load` reads it:
//!
//! ```text
//! magic 0x67676d6c ("ggml")
//! hparams: n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer
//!          n_text_ctx n_text_state n_text_head n_text_layer n_mels ftype
//! mel filters: n_mel n_fft, then n_mel * n_fft f32
//! vocabulary: count, then count times (u32 length, bytes)
//! tensors until end of file: n_dims name_len ftype, n_dims dims (innermost first), name, data
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ConvertError;

/// The ggml magic number, "ggml" in hex.
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// Whisper's hyper-parameters as stored in the ggml header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhisperHparams {
    /// Vocabulary size of the token embedding (51864 English-only, 51865 multilingual).
    pub n_vocab: u32,
    /// Encoder positions (1500 for 30 s of audio).
    pub n_audio_ctx: u32,
    /// Encoder width.
    pub n_audio_state: u32,
    /// Encoder attention heads.
    pub n_audio_head: u32,
    /// Encoder blocks.
    pub n_audio_layer: u32,
    /// Decoder positions (448).
    pub n_text_ctx: u32,
    /// Decoder width.
    pub n_text_state: u32,
    /// Decoder attention heads.
    pub n_text_head: u32,
    /// Decoder blocks.
    pub n_text_layer: u32,
    /// Mel bands of the input (80, or 128 for large-v3).
    pub n_mels: u32,
    /// Weight type: 0 = all f32, 1 = f16 matrices (what this crate writes).
    pub ftype: u32,
}

impl WhisperHparams {
    fn fields(&self) -> [u32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }
}

/// Element type of a tensor in a ggml file (the only two this crate writes or reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// ggml type 0: f32.
    F32,
    /// ggml type 1: IEEE half float, rounded to nearest even (`half::f16::from_f32`).
    F16,
}

impl GgmlType {
    /// The id written in the tensor header.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
        }
    }

    /// The type with header id `id`, if it is one of these two.
    pub fn from_id(id: u32) -> Option<Self> {
        match id {
            0 => Some(GgmlType::F32),
            1 => Some(GgmlType::F16),
            _ => None,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 => 2,
        }
    }

    /// `values` as this type's little-endian bytes.
    pub(crate) fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            GgmlType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            GgmlType::F16 => values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
        }
    }

    /// Little-endian bytes of this type as `f32` values.
    pub(crate) fn decode(self, data: &[u8]) -> Vec<f32> {
        match self {
            GgmlType::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            GgmlType::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        }
    }
}

/// One tensor of a ggml Whisper file.
#[derive(Debug, Clone)]
pub struct GgmlTensor {
    /// whisper.cpp's name, e.g. `encoder.blocks.0.attn.query.weight`.
    pub name: String,
    /// Shape outermost first (PyTorch order; the file stores it reversed).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: GgmlType,
    /// Byte offset of the data in the file.
    pub offset: usize,
    /// Length of the data in bytes.
    pub nbytes: usize,
}

/// A parsed ggml Whisper model file, held in memory.
#[derive(Debug)]
pub struct GgmlModel {
    /// The file it was read from.
    pub path: PathBuf,
    /// Header hyper-parameters.
    pub hparams: WhisperHparams,
    /// Mel bands in the filter bank.
    pub n_mel: usize,
    /// FFT bins per band (`n_fft / 2 + 1`, 201).
    pub n_fft_bins: usize,
    /// Mel filters, row-major `[n_mel][n_fft_bins]`.
    pub mel_filters: Vec<f32>,
    /// Vocabulary entries as raw bytes, in id order.
    pub vocab: Vec<Vec<u8>>,
    /// Tensors in file order.
    pub tensors: Vec<GgmlTensor>,
    bytes: Vec<u8>,
}

impl GgmlModel {
    /// Looks a tensor up by name.
    pub fn get(&self, name: &str) -> Option<&GgmlTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A tensor's values as `f32`; errors name the file when the tensor is missing.
    pub fn values_f32(&self, name: &str) -> Result<Vec<f32>, ConvertError> {
        let t = self.get(name).ok_or_else(|| ConvertError::unsupported(&self.path, format!("no tensor {name}")))?;
        Ok(t.dtype.decode(&self.bytes[t.offset..t.offset + t.nbytes]))
    }
}

/// Reads and checks a ggml Whisper file (as [`crate::convert_ct2_whisper`] writes it).
///
/// Bounded like [`crate::read_ct2`]: every count is checked against the bytes left.
pub fn read_ggml_whisper(path: &Path) -> Result<GgmlModel, ConvertError> {
    let bytes = std::fs::read(path).map_err(|e| ConvertError::io(path, e))?;
    let mut c = super::ct2::Cursor { path, buf: &bytes, pos: 0 };
    let magic = c.u32("magic")?;
    if magic != GGML_MAGIC {
        return Err(c.err(&format!("bad magic {magic:#010x}, want {GGML_MAGIC:#010x}")));
    }
    let mut f = [0u32; 11];
    for v in f.iter_mut() {
        *v = c.u32("hparams")?;
    }
    let hparams = WhisperHparams {
        n_vocab: f[0],
        n_audio_ctx: f[1],
        n_audio_state: f[2],
        n_audio_head: f[3],
        n_audio_layer: f[4],
        n_text_ctx: f[5],
        n_text_state: f[6],
        n_text_head: f[7],
        n_text_layer: f[8],
        n_mels: f[9],
        ftype: f[10],
    };
    let n_mel = c.u32("mel rows")? as usize;
    let n_fft_bins = c.u32("mel columns")? as usize;
    let n =
        n_mel.checked_mul(n_fft_bins).and_then(|n| n.checked_mul(4)).ok_or_else(|| c.err("absurd mel filter size"))?;
    let mel_filters =
        c.take(n, "mel filters")?.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let n_tokens = c.u32("vocabulary size")? as usize;
    if n_tokens > c.remaining() / 4 {
        return Err(c.err(&format!("vocabulary size {n_tokens} cannot fit in the file")));
    }
    let mut vocab = Vec::with_capacity(n_tokens);
    for i in 0..n_tokens {
        let len = c.u32(&format!("length of token {i}"))? as usize;
        vocab.push(c.take(len, &format!("token {i}"))?.to_vec());
    }
    let mut tensors = Vec::new();
    while c.remaining() > 0 {
        let n_dims = c.u32("tensor rank")? as usize;
        let name_len = c.u32("tensor name length")? as usize;
        let ftype = c.u32("tensor type")?;
        if !(1..=4).contains(&n_dims) {
            return Err(c.err(&format!("absurd tensor rank {n_dims}")));
        }
        let mut dims = Vec::with_capacity(n_dims);
        for _ in 0..n_dims {
            dims.push(c.u32("tensor dims")? as usize);
        }
        let name_bytes = c.take(name_len, "tensor name")?;
        let name = String::from_utf8(name_bytes.to_vec()).map_err(|_| c.err("tensor name is not UTF-8"))?;
        let dtype =
            GgmlType::from_id(ftype).ok_or_else(|| c.err(&format!("tensor {name}: unsupported type {ftype}")))?;
        let nbytes = dims
            .iter()
            .try_fold(dtype.size(), |a, &d| a.checked_mul(d))
            .ok_or_else(|| c.err(&format!("tensor {name}: absurd dims {dims:?}")))?;
        let offset = c.pos;
        c.take(nbytes, &format!("data of tensor {name}"))?;
        dims.reverse();
        tensors.push(GgmlTensor { name, shape: dims, dtype, offset, nbytes });
    }
    Ok(GgmlModel { path: path.to_path_buf(), hparams, n_mel, n_fft_bins, mel_filters, vocab, tensors, bytes })
}

/// Writes the header, mel filters and vocabulary.
pub(crate) fn write_preamble(
    w: &mut impl Write,
    hp: &WhisperHparams,
    n_mel: usize,
    n_fft_bins: usize,
    mel: &[f32],
    vocab: &[Vec<u8>],
) -> std::io::Result<()> {
    w.write_all(&GGML_MAGIC.to_le_bytes())?;
    for v in hp.fields() {
        w.write_all(&v.to_le_bytes())?;
    }
    w.write_all(&(n_mel as u32).to_le_bytes())?;
    w.write_all(&(n_fft_bins as u32).to_le_bytes())?;
    for v in mel {
        w.write_all(&v.to_le_bytes())?;
    }
    w.write_all(&(vocab.len() as u32).to_le_bytes())?;
    for t in vocab {
        w.write_all(&(t.len() as u32).to_le_bytes())?;
        w.write_all(t)?;
    }
    Ok(())
}

/// Writes one tensor record: header (`n_dims`, name length, type id, dims innermost first),
/// name, and data already in `dtype`. `shape` is outermost first (PyTorch order).
pub(crate) fn write_tensor(
    w: &mut impl Write,
    name: &str,
    shape: &[usize],
    dtype: GgmlType,
    data: &[u8],
) -> std::io::Result<()> {
    debug_assert_eq!(shape.iter().product::<usize>() * dtype.size(), data.len());
    w.write_all(&(shape.len() as u32).to_le_bytes())?;
    w.write_all(&(name.len() as u32).to_le_bytes())?;
    w.write_all(&dtype.id().to_le_bytes())?;
    for &d in shape.iter().rev() {
        w.write_all(&(d as u32).to_le_bytes())?;
    }
    w.write_all(name.as_bytes())?;
    w.write_all(data)
}
