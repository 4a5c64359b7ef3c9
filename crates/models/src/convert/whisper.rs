//! CTranslate2 Whisper model folder -> whisper.cpp ggml file.

use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::Path;

use debrief_config::AtomicFile;

use super::ct2::{decode_f32, read_ct2, Ct2DType, Ct2Model};
use super::ggml::{write_preamble, write_tensor, GgmlType, WhisperHparams};
use super::mel::{mel_filters, N_FFT, SAMPLE_RATE};
use super::vocab::regular_token_bytes;
use crate::error::ConvertError;

/// What [`convert_ct2_whisper`] wrote.
#[derive(Debug, Clone)]
pub struct ConvertReport {
    /// Number of tensors written.
    pub tensors: usize,
    /// Vocabulary size of the model (rows of the token embedding; `hparams.n_vocab`).
    pub n_vocab: usize,
    /// Vocabulary entries written to the file: the regular BPE tokens, as whisper.cpp's own
    /// converter writes them (whisper.cpp names the special tokens itself).
    pub vocab_written: usize,
    /// The hyper-parameters in the header.
    pub hparams: WhisperHparams,
    /// Size of the written file in bytes.
    pub out_bytes: u64,
}

enum Source {
    /// Rows `rows` (along the first dimension) of a CTranslate2 variable.
    Var { name: String, rows: Range<usize> },
    /// Values computed here (the encoder's sinusoidal positions when the model lacks them).
    Computed(Vec<f32>),
}

struct OutTensor {
    name: String,
    shape: Vec<usize>,
    dtype: GgmlType,
    source: Source,
}

/// Converts a CTranslate2 Whisper model folder (`model.bin` plus `vocabulary.json`,
/// `vocabulary.txt` or `tokenizer.json`) into a ggml file that whisper.cpp loads.
///
/// Matrices (including conv kernels and the token embedding) are written in f16, as
/// whisper.cpp's `convert-pt-to-ggml.py` does with its default `ftype = 1`; biases, layer
/// norms and both positional embeddings in f32; conv biases as `[n, 1]`. The file is written
/// through [`AtomicFile`] (`out` + `.partial`, synced, renamed to `out`, folder synced), so
/// `out` is either absent or complete.
pub fn convert_ct2_whisper(src_dir: &Path, out: &Path) -> Result<ConvertReport, ConvertError> {
    let bin = src_dir.join("model.bin");
    let m = read_ct2(&bin)?;
    if m.spec != "WhisperSpec" {
        return Err(ConvertError::unsupported(&bin, format!("model spec is {:?}, not WhisperSpec", m.spec)));
    }
    check_flags(&m)?;
    let hp = hparams(&m)?;
    let vocab = regular_token_bytes(src_dir)?;
    if vocab.len() >= hp.n_vocab as usize {
        return Err(ConvertError::unsupported(
            src_dir,
            format!("{} regular tokens but the embedding has only {} rows", vocab.len(), hp.n_vocab),
        ));
    }
    let plan = plan(&m, &hp)?;
    let mel = mel_filters(hp.n_mels as usize, N_FFT, SAMPLE_RATE);

    let partial = debrief_config::partial_path(out);
    let mut file = AtomicFile::create(out).map_err(|e| ConvertError::io(&partial, e))?;
    // On an error the AtomicFile is dropped, which removes the partial file.
    write_all(&m, &hp, &mel, &vocab, &plan, &mut file, &partial)?;
    file.commit().map_err(|e| ConvertError::io(out, e))?;
    let out_bytes = std::fs::metadata(out).map_err(|e| ConvertError::io(out, e))?.len();
    Ok(ConvertReport {
        tensors: plan.len(),
        n_vocab: hp.n_vocab as usize,
        vocab_written: vocab.len(),
        hparams: hp,
        out_bytes,
    })
}

fn write_all(
    m: &Ct2Model,
    hp: &WhisperHparams,
    mel: &[f32],
    vocab: &[Vec<u8>],
    plan: &[OutTensor],
    file: &mut impl Write,
    partial: &Path,
) -> Result<(), ConvertError> {
    let io = |e| ConvertError::io(partial, e);
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write_preamble(&mut w, hp, hp.n_mels as usize, N_FFT / 2 + 1, mel, vocab).map_err(io)?;
    for t in plan {
        let data = tensor_bytes(m, t)?;
        write_tensor(&mut w, &t.name, &t.shape, t.dtype, &data).map_err(io)?;
    }
    w.flush().map_err(io)
}

fn tensor_bytes(m: &Ct2Model, t: &OutTensor) -> Result<Vec<u8>, ConvertError> {
    let values: Vec<f32> = match &t.source {
        Source::Computed(v) => v.clone(),
        Source::Var { name, rows } => {
            let var = m.require(name)?;
            let row_elems = var.numel() / var.shape[0].max(1);
            let size = var.dtype.size();
            let bytes = &m.data(var)[rows.start * row_elems * size..rows.end * row_elems * size];
            if var.dtype == Ct2DType::F16 && t.dtype == GgmlType::F16 {
                return Ok(bytes.to_vec());
            }
            let mut sub = var.clone();
            sub.shape[0] = rows.len();
            decode_f32(&m.path, &sub, bytes)?
        }
    };
    Ok(t.dtype.encode(&values))
}

/// Refuses CTranslate2 decoders whose flags mean something Whisper (and whisper.cpp) does not do.
fn check_flags(m: &Ct2Model) -> Result<(), ConvertError> {
    // (variable, value whisper needs, meaning)
    let checks = [
        ("decoder/scale_embeddings", 0, "scaled embeddings"),
        ("decoder/alibi", 0, "ALiBi positions"),
        ("decoder/pre_norm", 1, "post-norm layers"),
        ("decoder/activation", 3, "an activation other than GELU"),
        ("decoder/start_from_zero_embedding", 0, "a zero start embedding"),
    ];
    for (name, want, meaning) in checks {
        if let Some(v) = m.scalar_i64(name) {
            if v != want {
                return Err(ConvertError::unsupported(
                    &m.path,
                    format!("{name} = {v}: the decoder uses {meaning}, which whisper.cpp does not"),
                ));
            }
        }
    }
    Ok(())
}

fn count_layers(m: &Ct2Model, prefix: &str) -> u32 {
    m.variables
        .iter()
        .filter_map(|v| v.name.strip_prefix(prefix))
        .filter_map(|rest| rest.split('/').next()?.parse::<u32>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

fn dim(m: &Ct2Model, name: &str, rank: usize, axis: usize) -> Result<u32, ConvertError> {
    let v = m.require(name)?;
    if v.shape.len() != rank {
        return Err(ConvertError::unsupported(
            &m.path,
            format!("{name} has shape {:?}, expected rank {rank}", v.shape),
        ));
    }
    u32::try_from(v.shape[axis]).map_err(|_| ConvertError::corrupt(&m.path, format!("{name}: dimension too large")))
}

fn hparams(m: &Ct2Model) -> Result<WhisperHparams, ConvertError> {
    let n_audio_state = dim(m, "encoder/conv1/weight", 3, 0)?;
    let n_mels = dim(m, "encoder/conv1/weight", 3, 1)?;
    let n_vocab = dim(m, "decoder/embeddings/weight", 2, 0)?;
    let n_text_state = dim(m, "decoder/embeddings/weight", 2, 1)?;
    let n_text_ctx = dim(m, "decoder/position_encodings/encodings", 2, 0)?;
    let n_audio_ctx = if m.get("encoder/position_encodings/encodings").is_some() {
        dim(m, "encoder/position_encodings/encodings", 2, 0)?
    } else {
        1500
    };
    let heads = |name: &str, state: u32| -> Result<u32, ConvertError> {
        // Whisper's head width is always 64; older specs do not store the head count.
        let h = m.scalar_i64(name).unwrap_or(i64::from(state / 64));
        match u32::try_from(h) {
            Ok(h) if h > 0 && state.is_multiple_of(h) => Ok(h),
            _ => Err(ConvertError::unsupported(&m.path, format!("{name} = {h} does not divide the width {state}"))),
        }
    };
    let hp = WhisperHparams {
        n_vocab,
        n_audio_ctx,
        n_audio_state,
        n_audio_head: heads("encoder/num_heads", n_audio_state)?,
        n_audio_layer: count_layers(m, "encoder/layer_"),
        n_text_ctx,
        n_text_state,
        n_text_head: heads("decoder/num_heads", n_text_state)?,
        n_text_layer: count_layers(m, "decoder/layer_"),
        n_mels,
        ftype: 1,
    };
    if hp.n_audio_layer == 0 || hp.n_text_layer == 0 || hp.n_audio_state == 0 || hp.n_text_state == 0 {
        return Err(ConvertError::unsupported(&m.path, format!("not a Whisper model: {hp:?}")));
    }
    Ok(hp)
}

/// The encoder's sinusoidal positions, as openai-whisper's `sinusoids(length, channels)`.
pub(crate) fn sinusoids(length: usize, channels: usize) -> Vec<f32> {
    let half = channels / 2;
    let inc = 10000f64.ln() / (half as f64 - 1.0);
    let inv: Vec<f64> = (0..half).map(|j| (-inc * j as f64).exp()).collect();
    let mut out = Vec::with_capacity(length * channels);
    for t in 0..length {
        out.extend(inv.iter().map(|&f| (t as f64 * f).sin() as f32));
        out.extend(inv.iter().map(|&f| (t as f64 * f).cos() as f32));
    }
    out
}

struct Planner<'a> {
    m: &'a Ct2Model,
    out: Vec<OutTensor>,
}

impl Planner<'_> {
    /// Checks that `src` has exactly `shape`.
    fn expect(&self, src: &str, shape: &[usize]) -> Result<(), ConvertError> {
        let v = self.m.require(src)?;
        if v.shape != shape {
            return Err(ConvertError::unsupported(
                &self.m.path,
                format!("{src} has shape {:?}, expected {shape:?}", v.shape),
            ));
        }
        if !v.dtype.is_float() {
            return Err(ConvertError::unsupported(
                &self.m.path,
                format!(
                    "{src} is {:?}; only float32/float16/bfloat16 weights are supported \
                     (quantized int8/int16 CTranslate2 models are not)",
                    v.dtype
                ),
            ));
        }
        Ok(())
    }

    fn push(&mut self, name: String, shape: Vec<usize>, dtype: GgmlType, src: &str, rows: Range<usize>) {
        self.out.push(OutTensor { name, shape, dtype, source: Source::Var { name: src.to_string(), rows } });
    }

    /// A whole variable, reshaped to `shape` (same element count).
    fn whole(
        &mut self,
        src: &str,
        src_shape: &[usize],
        name: &str,
        shape: &[usize],
        dtype: GgmlType,
    ) -> Result<(), ConvertError> {
        self.expect(src, src_shape)?;
        self.push(name.to_string(), shape.to_vec(), dtype, src, 0..src_shape[0]);
        Ok(())
    }

    fn layer_norm(&mut self, src: &str, dst: &str, n: usize) -> Result<(), ConvertError> {
        self.whole(&format!("{src}/gamma"), &[n], &format!("{dst}.weight"), &[n], GgmlType::F32)?;
        self.whole(&format!("{src}/beta"), &[n], &format!("{dst}.bias"), &[n], GgmlType::F32)
    }

    fn linear(&mut self, src: &str, dst: &str, n_out: usize, n_in: usize) -> Result<(), ConvertError> {
        self.whole(&format!("{src}/weight"), &[n_out, n_in], &format!("{dst}.weight"), &[n_out, n_in], GgmlType::F16)?;
        self.whole(&format!("{src}/bias"), &[n_out], &format!("{dst}.bias"), &[n_out], GgmlType::F32)
    }

    /// Splits a fused projection of `parts.len() * n` rows into `n`-row pieces. A piece named
    /// `*.key` gets no bias: Whisper's key projection has none (CTranslate2 stores zeros there,
    /// and a key bias would not change attention anyway: it adds the same amount to every logit
    /// of a query).
    fn fused(&mut self, src: &str, dst: &str, parts: &[&str], n: usize) -> Result<(), ConvertError> {
        let k = parts.len();
        let w = format!("{src}/weight");
        let b = format!("{src}/bias");
        self.expect(&w, &[k * n, n])?;
        self.expect(&b, &[k * n])?;
        for (i, part) in parts.iter().enumerate() {
            let rows = i * n..(i + 1) * n;
            self.push(format!("{dst}.{part}.weight"), vec![n, n], GgmlType::F16, &w, rows.clone());
            if *part != "key" {
                self.push(format!("{dst}.{part}.bias"), vec![n], GgmlType::F32, &b, rows);
            }
        }
        Ok(())
    }

    fn ffn(&mut self, src: &str, dst: &str, n: usize) -> Result<(), ConvertError> {
        let ff = self.m.require(&format!("{src}/linear_0/weight"))?.shape.first().copied().unwrap_or(0);
        self.layer_norm(&format!("{src}/layer_norm"), &format!("{dst}.mlp_ln"), n)?;
        self.linear(&format!("{src}/linear_0"), &format!("{dst}.mlp.0"), ff, n)?;
        self.linear(&format!("{src}/linear_1"), &format!("{dst}.mlp.2"), n, ff)
    }
}

fn plan(m: &Ct2Model, hp: &WhisperHparams) -> Result<Vec<OutTensor>, ConvertError> {
    let mut p = Planner { m, out: Vec::new() };
    let na = hp.n_audio_state as usize;
    let nt = hp.n_text_state as usize;
    let mels = hp.n_mels as usize;
    let actx = hp.n_audio_ctx as usize;

    // Encoder.
    let pe = "encoder/position_encodings/encodings";
    if m.get(pe).is_some() {
        p.whole(pe, &[actx, na], "encoder.positional_embedding", &[actx, na], GgmlType::F32)?;
    } else {
        p.out.push(OutTensor {
            name: "encoder.positional_embedding".into(),
            shape: vec![actx, na],
            dtype: GgmlType::F32,
            source: Source::Computed(sinusoids(actx, na)),
        });
    }
    p.whole("encoder/conv1/weight", &[na, mels, 3], "encoder.conv1.weight", &[na, mels, 3], GgmlType::F16)?;
    p.whole("encoder/conv1/bias", &[na], "encoder.conv1.bias", &[na, 1], GgmlType::F32)?;
    p.whole("encoder/conv2/weight", &[na, na, 3], "encoder.conv2.weight", &[na, na, 3], GgmlType::F16)?;
    p.whole("encoder/conv2/bias", &[na], "encoder.conv2.bias", &[na, 1], GgmlType::F32)?;
    for i in 0..hp.n_audio_layer {
        let s = format!("encoder/layer_{i}");
        let d = format!("encoder.blocks.{i}");
        p.layer_norm(&format!("{s}/self_attention/layer_norm"), &format!("{d}.attn_ln"), na)?;
        p.fused(&format!("{s}/self_attention/linear_0"), &format!("{d}.attn"), &["query", "key", "value"], na)?;
        p.linear(&format!("{s}/self_attention/linear_1"), &format!("{d}.attn.out"), na, na)?;
        p.ffn(&format!("{s}/ffn"), &d, na)?;
    }
    p.layer_norm("encoder/layer_norm", "encoder.ln_post", na)?;

    // Decoder.
    let tctx = hp.n_text_ctx as usize;
    let nv = hp.n_vocab as usize;
    p.whole(
        "decoder/position_encodings/encodings",
        &[tctx, nt],
        "decoder.positional_embedding",
        &[tctx, nt],
        GgmlType::F32,
    )?;
    p.whole("decoder/embeddings/weight", &[nv, nt], "decoder.token_embedding.weight", &[nv, nt], GgmlType::F16)?;
    for i in 0..hp.n_text_layer {
        let s = format!("decoder/layer_{i}");
        let d = format!("decoder.blocks.{i}");
        p.layer_norm(&format!("{s}/self_attention/layer_norm"), &format!("{d}.attn_ln"), nt)?;
        p.fused(&format!("{s}/self_attention/linear_0"), &format!("{d}.attn"), &["query", "key", "value"], nt)?;
        p.linear(&format!("{s}/self_attention/linear_1"), &format!("{d}.attn.out"), nt, nt)?;
        p.layer_norm(&format!("{s}/attention/layer_norm"), &format!("{d}.cross_attn_ln"), nt)?;
        p.linear(&format!("{s}/attention/linear_0"), &format!("{d}.cross_attn.query"), nt, nt)?;
        p.fused(&format!("{s}/attention/linear_1"), &format!("{d}.cross_attn"), &["key", "value"], nt)?;
        p.linear(&format!("{s}/attention/linear_2"), &format!("{d}.cross_attn.out"), nt, nt)?;
        p.ffn(&format!("{s}/ffn"), &d, nt)?;
    }
    p.layer_norm("decoder/layer_norm", "decoder.ln", nt)?;
    Ok(p.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoids_match_openai_formula_at_known_points() {
        let s = sinusoids(1500, 384);
        // Position 0: sin = 0, cos = 1.
        assert_eq!(s[0], 0.0);
        assert_eq!(s[192], 1.0);
        // Position 1, channel 0: sin(1).
        assert!((s[384] - 1f32.sin()).abs() < 1e-7);
        assert_eq!(s.len(), 1500 * 384);
    }
}
