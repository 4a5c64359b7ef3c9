//! Silero VAD weights → whisper.cpp's ggml VAD model.
//!
//! whisper.cpp (1.8.3, vendored by whisper-rs 0.16) runs silero-vad itself
//! (`whisper_vad_init_from_file_with_params`, whisper-rs's `WhisperVadContext`), but it wants
//! the weights in its own little ggml file, normally downloaded from a model hub. The only
//! offline source here is the PyPI package `silero-vad` 6.2.3; [`convert_silero_vad`] turns the
//! ONNX export shipped in that package into the ggml file, without Python or torch.
//!
//! # Which ONNX file
//!
//! Use `silero_vad/data/silero_vad_16k_op15.onnx` ([`SILERO_VAD_ONNX_MEMBER`]). Its 15 float
//! initializers (`model.stft.forward_basis_buffer`, `model.encoder.{0..3}.reparam_conv.*`,
//! `model.decoder.rnn.{weight,bias}_{ih,hh}`, `model.decoder.decoder.2.*`) are bit-identical
//! to the 16 kHz tensors of the package's TorchScript `silero_vad.jit`, which is what
//! whisper.cpp's own `models/convert-silero-vad-to-ggml.py` reads. `silero_vad_op18_ifless.onnx`
//! (initializers, plus a `model_8k.` set that is skipped), `silero_vad.onnx` and
//! `silero_vad_openvino_16k.onnx` (weights as `Constant` nodes inside `If` branches; the 16 kHz
//! set is picked by shape) hold the same tensors and convert to the same bytes
//! ([`SileroReport::known_source`] names them). `silero_vad_16k_sequence.onnx` (fused ONNX
//! `LSTM` op, gates reordered) is refused. `silero_vad_half.onnx` converts and runs, but holds a
//! different, unpinned set of weights: do not use it.
//!
//! # The ggml file (what whisper.cpp's loader reads, all integers little-endian `i32`)
//!
//! magic `0x67676d6c`; model type (length + bytes, `"silero-16k"`); version major, minor,
//! patch; `n_window` 512; `n_context` 64; `n_encoder_layers` 4; per layer (in, out, kernel):
//! (129,128,3) (128,64,3) (64,64,3) (64,128,3); `lstm_input_size` 128 (also the STFT hop);
//! `lstm_hidden_size` 128; `final_conv_in` 128; `final_conv_out` 1. Then each tensor:
//! `n_dims`, name length, type (0 = f32, 1 = f16), `ne[0..n_dims]` (ggml order: the ONNX /
//! PyTorch shape reversed, so the row-major data is copied unchanged), name, data. The STFT
//! basis, the four encoder conv weights and the final conv weight must be f16, everything else
//! f32 (the loader checks type sizes against the tensors it creates). The LSTM of the ONNX
//! export is an unrolled `LSTMCell` whose weights keep PyTorch's gate order (input, forget,
//! cell, output), the order whisper.cpp slices them in, so no gate reordering is needed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The silero-vad package version whose weights this converter is pinned to (and which it
/// records as the model version inside the ggml file).
pub const SILERO_VAD_VERSION: &str = "6.2.3";
/// The wheel on PyPI that holds the weights (`pip download --no-deps silero-vad==6.2.3`).
pub const SILERO_VAD_WHEEL: &str = "silero_vad-6.2.3-py3-none-any.whl";
/// sha256 of [`SILERO_VAD_WHEEL`].
pub const SILERO_VAD_WHEEL_SHA256: &str = "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8";
/// The ONNX file inside the wheel to convert.
pub const SILERO_VAD_ONNX_MEMBER: &str = "silero_vad/data/silero_vad_16k_op15.onnx";
/// sha256 of [`SILERO_VAD_ONNX_MEMBER`].
pub const SILERO_VAD_ONNX_SHA256: &str = "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49";

/// Files of silero-vad 6.2.3 known to convert to the same ggml model: (member, sha256).
const KNOWN_SOURCES: [(&str, &str); 4] = [
    (SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256),
    ("silero_vad/data/silero_vad_op18_ifless.onnx", "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28"),
    ("silero_vad/data/silero_vad.onnx", "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"),
    (
        "silero_vad/data/silero_vad_openvino_16k.onnx",
        "7776b81ad1b0350c15d7f1555943b9232eb53e9ca5d989c6d0cea9ebc8664d87",
    ),
];

/// Largest ONNX file accepted (the package's files are 1.2–2.9 MB).
const MAX_ONNX_BYTES: u64 = 64 << 20;
/// Deepest graph nesting followed (`silero_vad.onnx` nests `If` branches 5 deep).
const MAX_GRAPH_DEPTH: usize = 16;
/// Most dimensions accepted on a tensor.
const MAX_DIMS: usize = 8;

const GGML_FILE_MAGIC: u32 = 0x6767_6d6c;
const MODEL_TYPE: &str = "silero-16k";
const N_WINDOW: i32 = 512;
const N_CONTEXT: i32 = 64;
/// (in channels, out channels, kernel size) of the four encoder convolutions.
const ENCODER: [(i32, i32, i32); 4] = [(129, 128, 3), (128, 64, 3), (64, 64, 3), (64, 128, 3)];
const LSTM_INPUT: i32 = 128;
const LSTM_HIDDEN: i32 = 128;
const FINAL_CONV_IN: i32 = 128;
const FINAL_CONV_OUT: i32 = 1;

/// ONNX `TensorProto.DataType.FLOAT`.
const ONNX_FLOAT: i64 = 1;

/// Element type of a tensor in the ggml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float (ggml type 0).
    F32,
    /// IEEE half float (ggml type 1), rounded to nearest even.
    F16,
}

impl GgmlType {
    fn code(self) -> i32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
        }
    }
}

/// One tensor as written to the ggml file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgmlTensorInfo {
    /// Name whisper.cpp looks the tensor up by (e.g. `_model.decoder.rnn.weight_ih`).
    pub name: &'static str,
    /// ggml shape, fastest-varying dimension first.
    pub ne: Vec<usize>,
    /// Element type written.
    pub ty: GgmlType,
    /// Name of the ONNX tensor (initializer or `Constant` output) it came from.
    pub onnx_name: String,
}

/// What [`convert_silero_vad`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SileroReport {
    /// The ONNX file read.
    pub source: PathBuf,
    /// sha256 (hex) of the ONNX file.
    pub source_sha256: String,
    /// The package member whose pinned sha256 the source matched, if any.
    pub known_source: Option<&'static str>,
    /// Tensor-name prefix of the weight set taken (e.g. `model.`).
    pub onnx_prefix: String,
    /// The ggml file written.
    pub output: PathBuf,
    /// Size of the ggml file in bytes.
    pub output_bytes: u64,
    /// sha256 (hex) of the ggml file.
    pub output_sha256: String,
    /// The tensors written, in file order.
    pub tensors: Vec<GgmlTensorInfo>,
}

/// Why a conversion failed. Every variant names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum SileroError {
    /// Reading, writing, syncing or renaming a file failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The source is not a well-formed ONNX protobuf (truncated, corrupted, too large).
    #[error("{}: not a readable ONNX model: {reason}", path.display())]
    Malformed {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The ONNX model parsed but does not hold the 16 kHz silero-vad weights expected.
    #[error("{}: {reason}", path.display())]
    Weights {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// One tensor whisper.cpp expects: the ONNX name suffix it comes from, its ggml name, the
/// ONNX (PyTorch) shape and the ggml type.
struct Spec {
    suffix: &'static str,
    ggml_name: &'static str,
    shape: &'static [usize],
    ty: GgmlType,
}

const fn spec(suffix: &'static str, ggml_name: &'static str, shape: &'static [usize], ty: GgmlType) -> Spec {
    Spec { suffix, ggml_name, shape, ty }
}

/// In the order whisper.cpp's converter writes them (the loader accepts any order).
const SPECS: [Spec; 15] = [
    spec("encoder.0.reparam_conv.weight", "_model.encoder.0.reparam_conv.weight", &[128, 129, 3], GgmlType::F16),
    spec("encoder.0.reparam_conv.bias", "_model.encoder.0.reparam_conv.bias", &[128], GgmlType::F32),
    spec("encoder.1.reparam_conv.weight", "_model.encoder.1.reparam_conv.weight", &[64, 128, 3], GgmlType::F16),
    spec("encoder.1.reparam_conv.bias", "_model.encoder.1.reparam_conv.bias", &[64], GgmlType::F32),
    spec("encoder.2.reparam_conv.weight", "_model.encoder.2.reparam_conv.weight", &[64, 64, 3], GgmlType::F16),
    spec("encoder.2.reparam_conv.bias", "_model.encoder.2.reparam_conv.bias", &[64], GgmlType::F32),
    spec("encoder.3.reparam_conv.weight", "_model.encoder.3.reparam_conv.weight", &[128, 64, 3], GgmlType::F16),
    spec("encoder.3.reparam_conv.bias", "_model.encoder.3.reparam_conv.bias", &[128], GgmlType::F32),
    spec("decoder.rnn.weight_ih", "_model.decoder.rnn.weight_ih", &[512, 128], GgmlType::F32),
    spec("decoder.rnn.weight_hh", "_model.decoder.rnn.weight_hh", &[512, 128], GgmlType::F32),
    spec("decoder.rnn.bias_ih", "_model.decoder.rnn.bias_ih", &[512], GgmlType::F32),
    spec("decoder.rnn.bias_hh", "_model.decoder.rnn.bias_hh", &[512], GgmlType::F32),
    // [1, 128, 1] and [1] in ONNX; written squeezed, as whisper.cpp's converter does.
    spec("decoder.decoder.2.weight", "_model.decoder.decoder.2.weight", &[1, 128, 1], GgmlType::F16),
    spec("decoder.decoder.2.bias", "_model.decoder.decoder.2.bias", &[1], GgmlType::F32),
    spec("stft.forward_basis_buffer", "_model.stft.forward_basis_buffer", &[258, 1, 256], GgmlType::F16),
];

/// ggml shape written for a spec: the ONNX shape reversed; the final conv tensors squeezed,
/// the STFT basis kept 3-D (`[256, 1, 258]`), as whisper.cpp's converter writes them.
fn ggml_ne(spec: &Spec) -> Vec<usize> {
    let mut ne: Vec<usize> = spec.shape.iter().rev().copied().collect();
    if spec.suffix.starts_with("decoder.decoder.2.") {
        ne.retain(|&d| d != 1);
        if ne.is_empty() {
            ne.push(1);
        }
    }
    ne
}

/// Converts silero-vad's weights (from the unpacked silero-vad 6.2.3 package) to whisper.cpp's
/// ggml VAD model.
///
/// `src` is an ONNX file of the package, normally [`SILERO_VAD_ONNX_MEMBER`]
/// (`silero_vad_16k_op15.onnx`); see the module documentation for the others. The 16 kHz
/// weight set is found by tensor name and shape, checked completely (names, shapes, float
/// type, finite and f16-representable values) and written to `out` through `out.partial`,
/// synced and renamed, so `out` is either absent, the previous file, or complete.
/// The source is read whole but at most 64 MiB, and every length inside it is checked before
/// use: truncated or corrupted files are refused with [`SileroError::Malformed`].
pub fn convert_silero_vad(src: &Path, out: &Path) -> Result<SileroReport, SileroError> {
    let bytes = read_bounded(src)?;
    let source_sha256 = hex_sha256(&bytes);
    let known_source = KNOWN_SOURCES.iter().find(|(_, sha)| *sha == source_sha256).map(|(name, _)| *name);

    let malformed = |reason: String| SileroError::Malformed { path: src.to_path_buf(), reason };
    let weights_err = |reason: String| SileroError::Weights { path: src.to_path_buf(), reason };

    let found = collect_tensors(&bytes).map_err(malformed)?;
    let (prefix, chosen) = select_weight_set(&found).map_err(weights_err)?;

    let mut file = Vec::with_capacity(1 << 20);
    write_header(&mut file);
    let mut tensors = Vec::with_capacity(SPECS.len());
    for (spec, tensor) in SPECS.iter().zip(&chosen) {
        let n: usize = spec.shape.iter().product();
        let values = tensor.decode_f32(n).map_err(|e| malformed(format!("tensor '{}': {e}", tensor.name)))?;
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(weights_err(format!("tensor '{}' holds a non-finite value at element {bad}", tensor.name)));
        }
        if spec.ty == GgmlType::F16 {
            if let Some(bad) = values.iter().position(|v| v.abs() > 65504.0) {
                return Err(weights_err(format!(
                    "tensor '{}' element {bad} ({}) does not fit f16",
                    tensor.name, values[bad]
                )));
            }
        }
        let ne = ggml_ne(spec);
        write_tensor(&mut file, spec.ggml_name, &ne, spec.ty, &values);
        tensors.push(GgmlTensorInfo { name: spec.ggml_name, ne, ty: spec.ty, onnx_name: tensor.name.clone() });
    }

    write_atomically(out, &file)?;
    Ok(SileroReport {
        source: src.to_path_buf(),
        source_sha256,
        known_source,
        onnx_prefix: prefix,
        output: out.to_path_buf(),
        output_bytes: file.len() as u64,
        output_sha256: hex_sha256(&file),
        tensors,
    })
}

fn hex_sha256(bytes: &[u8]) -> String {
    crate::packages::hex(&Sha256::digest(bytes))
}

fn read_bounded(src: &Path) -> Result<Vec<u8>, SileroError> {
    let io_err = |op, source| SileroError::Io { path: src.to_path_buf(), op, source };
    let file = File::open(src).map_err(|e| io_err("open", e))?;
    let len = file.metadata().map_err(|e| io_err("stat", e))?.len();
    let too_large = || SileroError::Malformed {
        path: src.to_path_buf(),
        reason: format!("larger than {MAX_ONNX_BYTES} bytes; silero-vad ONNX files are a few MB"),
    };
    if len > MAX_ONNX_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_ONNX_BYTES + 1).read_to_end(&mut bytes).map_err(|e| io_err("read", e))?;
    if bytes.len() as u64 > MAX_ONNX_BYTES {
        return Err(too_large());
    }
    if bytes.is_empty() {
        return Err(SileroError::Malformed { path: src.to_path_buf(), reason: "empty file".into() });
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// Minimal protobuf reader (ONNX is protobuf): only what is needed to find float tensors.
// ---------------------------------------------------------------------------------------------

/// A field's payload.
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Iterates over the fields of one protobuf message; every length is checked against the
/// bytes left, so corrupted input yields an error, never a panic or a large allocation.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(format!("truncated varint at byte {}", self.pos));
            };
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(format!("varint overflows 64 bits at byte {}", self.pos - 1));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {}", self.pos))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "field of {n} bytes at byte {} runs past the end ({left} bytes left): truncated?",
                self.pos
            ));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// The next (field number, value), or `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(format!("field number 0 at byte {at}"));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let n = self.varint()?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            w => return Err(format!("unsupported wire type {w} at byte {at}")),
        };
        Ok(Some((field, value)))
    }
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, String> {
    std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| format!("{what} is not UTF-8"))
}

/// A float-tensor candidate: its metadata, and its `TensorProto` bytes for decoding later.
#[derive(Debug)]
struct TensorRef<'a> {
    name: String,
    dims: Vec<u64>,
    data_type: i64,
    proto: &'a [u8],
}

impl TensorRef<'_> {
    /// Decodes exactly `n` f32 values (`raw_data` or `float_data`); allocates at most `n`.
    fn decode_f32(&self, n: usize) -> Result<Vec<f32>, String> {
        let mut raw: Option<&[u8]> = None;
        let mut values = Vec::with_capacity(n);
        let push = |v: u32, values: &mut Vec<f32>| {
            if values.len() == n {
                return Err(format!("more than {n} values in float_data"));
            }
            values.push(f32::from_bits(v));
            Ok(())
        };
        let mut fields = Fields::new(self.proto);
        while let Some((field, value)) = fields.next_field()? {
            match (field, value) {
                (9, Value::Bytes(b)) => raw = Some(b),
                (4, Value::Bytes(b)) => {
                    if b.len() % 4 != 0 {
                        return Err("packed float_data length is not a multiple of 4".into());
                    }
                    for c in b.chunks_exact(4) {
                        push(u32::from_le_bytes([c[0], c[1], c[2], c[3]]), &mut values)?;
                    }
                }
                (4, Value::Fixed32(v)) => push(v, &mut values)?,
                (13, _) => return Err("weights stored in external data files are not supported".into()),
                (14, Value::Varint(1)) => return Err("weights stored in external data files are not supported".into()),
                _ => {}
            }
        }
        if let Some(raw) = raw {
            if !values.is_empty() {
                return Err("both raw_data and float_data present".into());
            }
            if raw.len() != n * 4 {
                return Err(format!("raw_data holds {} bytes, {} expected", raw.len(), n * 4));
            }
            values.extend(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        if values.len() != n {
            return Err(format!("holds {} values, {n} expected", values.len()));
        }
        Ok(values)
    }
}

/// Reads a `TensorProto`'s name, dims and data type (not its data).
fn tensor_meta<'a>(proto: &'a [u8], name_if_empty: &str) -> Result<TensorRef<'a>, String> {
    let mut name = String::new();
    let mut dims = Vec::new();
    let mut data_type = 0i64;
    let push_dim = |d: u64, dims: &mut Vec<u64>| {
        if dims.len() == MAX_DIMS {
            return Err(format!("tensor has more than {MAX_DIMS} dimensions"));
        }
        dims.push(d);
        Ok(())
    };
    let mut fields = Fields::new(proto);
    while let Some((field, value)) = fields.next_field()? {
        match (field, value) {
            (1, Value::Varint(d)) => push_dim(d, &mut dims)?,
            (1, Value::Bytes(packed)) => {
                let mut p = Fields::new(packed);
                while p.pos < packed.len() {
                    push_dim(p.varint()?, &mut dims)?;
                }
            }
            (2, Value::Varint(t)) => data_type = t as i64,
            (8, Value::Bytes(b)) => name = utf8(b, "tensor name")?,
            _ => {}
        }
    }
    if name.is_empty() {
        name = name_if_empty.to_owned();
    }
    Ok(TensorRef { name, dims, data_type, proto })
}

/// All tensors of the model: graph initializers and `Constant` node values, in every subgraph.
fn collect_tensors(model: &[u8]) -> Result<Vec<TensorRef<'_>>, String> {
    let mut graph = None;
    let mut has_opset = false;
    let mut fields = Fields::new(model);
    while let Some((field, value)) = fields.next_field()? {
        match (field, value) {
            (7, Value::Bytes(b)) => graph = Some(b),
            (8, Value::Bytes(_)) => has_opset = true,
            _ => {}
        }
    }
    let graph = graph.ok_or("no graph in the model (truncated, or not an ONNX model)")?;
    if !has_opset {
        return Err("no opset_import in the model (truncated?)".into());
    }
    let mut out = Vec::new();
    walk_graph(graph, 0, &mut out)?;
    Ok(out)
}

fn walk_graph<'a>(graph: &'a [u8], depth: usize, out: &mut Vec<TensorRef<'a>>) -> Result<(), String> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(format!("subgraphs nested deeper than {MAX_GRAPH_DEPTH}"));
    }
    let mut fields = Fields::new(graph);
    while let Some((field, value)) = fields.next_field()? {
        match (field, value) {
            (1, Value::Bytes(node)) => walk_node(node, depth, out)?,
            (5, Value::Bytes(init)) => out.push(tensor_meta(init, "")?),
            _ => {}
        }
    }
    Ok(())
}

fn walk_node<'a>(node: &'a [u8], depth: usize, out: &mut Vec<TensorRef<'a>>) -> Result<(), String> {
    let mut first_output: Option<&[u8]> = None;
    let mut op_type: &[u8] = b"";
    let mut attributes = Vec::new();
    let mut fields = Fields::new(node);
    while let Some((field, value)) = fields.next_field()? {
        match (field, value) {
            (2, Value::Bytes(b)) if first_output.is_none() => first_output = Some(b),
            (4, Value::Bytes(b)) => op_type = b,
            (5, Value::Bytes(b)) => attributes.push(b),
            _ => {}
        }
    }
    let output = utf8(first_output.unwrap_or_default(), "node output name")?;
    for attribute in attributes {
        let mut name: &[u8] = b"";
        let mut tensor = None;
        let mut fields = Fields::new(attribute);
        while let Some((field, value)) = fields.next_field()? {
            match (field, value) {
                (1, Value::Bytes(b)) => name = b,
                (5, Value::Bytes(b)) => tensor = Some(b),
                (6 | 11, Value::Bytes(g)) => walk_graph(g, depth + 1, out)?,
                _ => {}
            }
        }
        if op_type == b"Constant" && name == b"value" {
            if let Some(t) = tensor {
                // A Constant's tensor is usually unnamed: it is known by the node's output.
                let mut t = tensor_meta(t, &output)?;
                t.name = output.clone();
                out.push(t);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Weight-set selection.
// ---------------------------------------------------------------------------------------------

/// Groups the tensors by the prefix before a known silero suffix and picks the one complete
/// 16 kHz set; explains what is missing when there is none.
fn select_weight_set<'r, 'a>(found: &'r [TensorRef<'a>]) -> Result<(String, Vec<&'r TensorRef<'a>>), String> {
    #[derive(Default)]
    struct Group<'r, 'a> {
        slots: [Option<&'r TensorRef<'a>>; 15],
        problems: Vec<String>,
    }
    let mut groups: BTreeMap<&str, Group<'r, 'a>> = BTreeMap::new();
    for t in found {
        for (i, spec) in SPECS.iter().enumerate() {
            let Some(prefix) = t.name.strip_suffix(spec.suffix) else {
                continue;
            };
            if !(prefix.is_empty() || prefix.ends_with(['.', '_', '/'])) {
                continue;
            }
            let group = groups.entry(prefix).or_default();
            let want: Vec<u64> = spec.shape.iter().map(|&d| d as u64).collect();
            if t.data_type != ONNX_FLOAT {
                group.problems.push(format!("{} has ONNX data type {}, not float", t.name, t.data_type));
            } else if t.dims != want {
                group.problems.push(format!("{} has shape {:?}, {:?} expected", t.name, t.dims, want));
            } else {
                match group.slots[i] {
                    Some(prev) if prev.proto != t.proto => {
                        group.problems.push(format!("{} appears twice with different contents", t.name));
                    }
                    Some(_) => {}
                    None => group.slots[i] = Some(t),
                }
            }
        }
    }
    let complete: Vec<&str> = groups
        .iter()
        .filter(|(_, g)| g.problems.is_empty() && g.slots.iter().all(Option::is_some))
        .map(|(p, _)| *p)
        .collect();
    match complete.as_slice() {
        [prefix] => {
            let group = &groups[prefix];
            let chosen = group.slots.iter().map(|s| s.expect("checked complete")).collect();
            Ok(((*prefix).to_owned(), chosen))
        }
        [] => {
            let mut why = String::from("no complete 16 kHz silero-vad weight set");
            if groups.is_empty() {
                why.push_str(" (no tensor has a silero-vad name)");
            }
            for (prefix, g) in &groups {
                let missing: Vec<&str> =
                    SPECS.iter().zip(&g.slots).filter(|(_, s)| s.is_none()).map(|(spec, _)| spec.suffix).collect();
                let _ = write!(why, "; prefix '{prefix}':");
                if !missing.is_empty() {
                    let _ = write!(why, " missing {}", missing.join(", "));
                }
                for p in g.problems.iter().take(3) {
                    let _ = write!(why, " {p};");
                }
            }
            Err(why)
        }
        several => Err(format!("several complete 16 kHz silero-vad weight sets (prefixes {several:?}); cannot choose")),
    }
}

// ---------------------------------------------------------------------------------------------
// ggml writing.
// ---------------------------------------------------------------------------------------------

fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn write_header(out: &mut Vec<u8>) {
    out.extend_from_slice(&GGML_FILE_MAGIC.to_le_bytes());
    put_i32(out, MODEL_TYPE.len() as i32);
    out.extend_from_slice(MODEL_TYPE.as_bytes());
    for part in SILERO_VAD_VERSION.split('.') {
        put_i32(out, part.parse().expect("SILERO_VAD_VERSION is numeric"));
    }
    put_i32(out, N_WINDOW);
    put_i32(out, N_CONTEXT);
    put_i32(out, ENCODER.len() as i32);
    for (cin, cout, k) in ENCODER {
        put_i32(out, cin);
        put_i32(out, cout);
        put_i32(out, k);
    }
    put_i32(out, LSTM_INPUT);
    put_i32(out, LSTM_HIDDEN);
    put_i32(out, FINAL_CONV_IN);
    put_i32(out, FINAL_CONV_OUT);
}

fn write_tensor(out: &mut Vec<u8>, name: &str, ne: &[usize], ty: GgmlType, values: &[f32]) {
    put_i32(out, ne.len() as i32);
    put_i32(out, name.len() as i32);
    put_i32(out, ty.code());
    for &d in ne {
        put_i32(out, d as i32);
    }
    out.extend_from_slice(name.as_bytes());
    match ty {
        GgmlType::F32 => values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        GgmlType::F16 => values.iter().for_each(|&v| out.extend_from_slice(&f32_to_f16_bits(v).to_le_bytes())),
    }
}

/// IEEE 754 binary32 → binary16, round to nearest even (as numpy's `astype(float16)`).
fn f32_to_f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x007f_ffff;
    if exp == 0xff {
        // Infinity, or NaN kept quiet.
        return sign | 0x7c00 | if man != 0 { 0x0200 | (man >> 13) as u16 } else { 0 };
    }
    let round = |q: u32, rem: u32, half: u32| q + u32::from(rem > half || (rem == half && q & 1 == 1));
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal half (or zero): value = m × 2^-24.
        let shift = (14 - e) as u32;
        if shift > 24 {
            return sign;
        }
        let m = man | 0x0080_0000;
        let q = round(m >> shift, m & ((1 << shift) - 1), 1 << (shift - 1));
        return sign | q as u16;
    }
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    let q = round(((e as u32) << 10) | (man >> 13), man & 0x1fff, 0x1000);
    sign | q as u16
}

fn write_atomically(out: &Path, bytes: &[u8]) -> Result<(), SileroError> {
    let mut partial_name = out.file_name().map(|n| n.to_os_string()).ok_or_else(|| SileroError::Io {
        path: out.to_path_buf(),
        op: "choose output file",
        source: io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name"),
    })?;
    partial_name.push(".partial");
    let partial = out.with_file_name(partial_name);
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent {
        fs::create_dir_all(dir).map_err(|source| SileroError::Io {
            path: dir.to_path_buf(),
            op: "create directory",
            source,
        })?;
    }
    let write = || -> Result<(), (&'static str, io::Error)> {
        let mut file = File::create(&partial).map_err(|e| ("create", e))?;
        file.write_all(bytes).map_err(|e| ("write", e))?;
        file.sync_all().map_err(|e| ("fsync", e))?;
        Ok(())
    };
    if let Err((op, source)) = write() {
        let _ = fs::remove_file(&partial);
        return Err(SileroError::Io { path: partial, op, source });
    }
    if let Err(source) = fs::rename(&partial, out) {
        let _ = fs::remove_file(&partial);
        return Err(SileroError::Io { path: out.to_path_buf(), op: "rename into place", source });
    }
    // Make the rename durable; not every platform can open a directory for syncing.
    if let Ok(dir) = File::open(parent.unwrap_or(Path::new("."))) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::Mutex;

    // ----- helpers -----------------------------------------------------------------------

    /// A parsed ggml VAD file, checked the way whisper.cpp's loader checks it.
    #[derive(Debug)]
    struct Parsed {
        header: Vec<i32>,
        tensors: Vec<(String, Vec<usize>, i32, Vec<u8>)>,
    }

    fn parse_ggml(bytes: &[u8]) -> Parsed {
        let mut pos = 0usize;
        let i32_at = |pos: &mut usize| {
            let v = i32::from_le_bytes(bytes[*pos..*pos + 4].try_into().unwrap());
            *pos += 4;
            v
        };
        assert_eq!(i32_at(&mut pos) as u32, GGML_FILE_MAGIC);
        let len = i32_at(&mut pos) as usize;
        assert_eq!(&bytes[pos..pos + len], MODEL_TYPE.as_bytes());
        pos += len;
        // version(3), n_window, n_context, n_layers, 4×3, lstm in/hidden, final in/out
        let header: Vec<i32> = (0..3 + 3 + 12 + 4).map(|_| i32_at(&mut pos)).collect();
        let mut tensors = Vec::new();
        while pos < bytes.len() {
            let n_dims = i32_at(&mut pos) as usize;
            let name_len = i32_at(&mut pos) as usize;
            let ty = i32_at(&mut pos);
            let ne: Vec<usize> = (0..n_dims).map(|_| i32_at(&mut pos) as usize).collect();
            let name = String::from_utf8(bytes[pos..pos + name_len].to_vec()).unwrap();
            pos += name_len;
            let n: usize = ne.iter().product();
            let size = n * if ty == 1 { 2 } else { 4 };
            tensors.push((name, ne, ty, bytes[pos..pos + size].to_vec()));
            pos += size;
        }
        assert_eq!(pos, bytes.len());
        Parsed { header, tensors }
    }

    /// The tensors whisper.cpp 1.8.3 creates (name, ne, type), from `whisper_vad_init_with_params`.
    fn expected_tensors() -> Vec<(&'static str, [usize; 3], i32)> {
        vec![
            ("_model.encoder.0.reparam_conv.weight", [3, 129, 128], 1),
            ("_model.encoder.0.reparam_conv.bias", [128, 1, 1], 0),
            ("_model.encoder.1.reparam_conv.weight", [3, 128, 64], 1),
            ("_model.encoder.1.reparam_conv.bias", [64, 1, 1], 0),
            ("_model.encoder.2.reparam_conv.weight", [3, 64, 64], 1),
            ("_model.encoder.2.reparam_conv.bias", [64, 1, 1], 0),
            ("_model.encoder.3.reparam_conv.weight", [3, 64, 128], 1),
            ("_model.encoder.3.reparam_conv.bias", [128, 1, 1], 0),
            ("_model.decoder.rnn.weight_ih", [128, 512, 1], 0),
            ("_model.decoder.rnn.weight_hh", [128, 512, 1], 0),
            ("_model.decoder.rnn.bias_ih", [512, 1, 1], 0),
            ("_model.decoder.rnn.bias_hh", [512, 1, 1], 0),
            ("_model.decoder.decoder.2.weight", [128, 1, 1], 1),
            ("_model.decoder.decoder.2.bias", [1, 1, 1], 0),
            ("_model.stft.forward_basis_buffer", [256, 1, 258], 1),
        ]
    }

    fn check_ggml_layout(bytes: &[u8]) -> Parsed {
        let parsed = parse_ggml(bytes);
        assert_eq!(
            parsed.header,
            [6, 2, 3, 512, 64, 4, 129, 128, 3, 128, 64, 3, 64, 64, 3, 64, 128, 3, 128, 128, 128, 1]
        );
        let want = expected_tensors();
        assert_eq!(parsed.tensors.len(), want.len());
        for ((name, ne, ty, _), (wname, wne, wty)) in parsed.tensors.iter().zip(&want) {
            assert_eq!(name, wname);
            let mut padded = [1usize; 3];
            padded[..ne.len()].copy_from_slice(ne);
            assert_eq!(&padded, wne, "{name}");
            assert_eq!(ty, wty, "{name}");
        }
        parsed
    }

    // Tiny protobuf writer for synthetic ONNX models.
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    fn field_varint(out: &mut Vec<u8>, field: u64, v: u64) {
        varint(out, field << 3);
        varint(out, v);
    }
    fn tensor_proto(name: &str, dims: &[usize], values: &[f32], packed_floats: bool) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            field_varint(&mut t, 1, d as u64);
        }
        field_varint(&mut t, 2, 1);
        if packed_floats {
            let b: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            field_bytes(&mut t, 4, &b);
        }
        field_bytes(&mut t, 8, name.as_bytes());
        if !packed_floats {
            let b: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            field_bytes(&mut t, 9, &b);
        }
        t
    }
    fn value_of(spec_index: usize, i: usize) -> f32 {
        ((spec_index * 7919 + i) % 1000) as f32 / 256.0 - 1.5
    }
    /// A model with the 16 kHz set as initializers under `model.`, and a decoy 8 kHz-shaped
    /// encoder tensor under `model_8k.` (as in silero_vad_op18_ifless.onnx).
    fn synthetic_model() -> Vec<u8> {
        let mut graph = Vec::new();
        for (s, spec) in SPECS.iter().enumerate() {
            let n: usize = spec.shape.iter().product();
            let values: Vec<f32> = (0..n).map(|i| value_of(s, i)).collect();
            let t = tensor_proto(&format!("model.{}", spec.suffix), spec.shape, &values, s % 2 == 1);
            field_bytes(&mut graph, 5, &t);
        }
        let decoy = tensor_proto("model_8k.encoder.0.reparam_conv.weight", &[128, 65, 3], &[0.0; 128 * 65 * 3], false);
        field_bytes(&mut graph, 5, &decoy);
        let mut model = Vec::new();
        field_varint(&mut model, 1, 8); // ir_version
        let mut opset = Vec::new();
        field_varint(&mut opset, 2, 15);
        field_bytes(&mut model, 8, &opset);
        field_bytes(&mut model, 7, &graph);
        model
    }

    /// The package file `member` of silero-vad 6.2.3, fetched with pip into
    /// `${DEBRIEF_CACHE:-$HOME/.cache/debrief}/models/pip` (PyPI must be reachable) and
    /// extracted next to it; both checked against their sha256 pins.
    fn package_file(member: &str, sha256: &str) -> PathBuf {
        static FETCH: Mutex<()> = Mutex::new(());
        let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
        let cache = std::env::var_os("DEBRIEF_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/debrief")))
            .expect("set DEBRIEF_CACHE or HOME for the model cache");
        let pip_dir = cache.join("models/pip");
        let wheel = pip_dir.join(SILERO_VAD_WHEEL);
        let sha_of = |p: &Path| fs::read(p).map(|b| hex_sha256(&b)).ok();
        if sha_of(&wheel).as_deref() != Some(SILERO_VAD_WHEEL_SHA256) {
            fs::create_dir_all(&pip_dir).unwrap();
            let spec = format!("silero-vad=={SILERO_VAD_VERSION}");
            let output = Command::new("python3")
                .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d"])
                .arg(&pip_dir)
                .arg(&spec)
                .output()
                .unwrap_or_else(|e| panic!("cannot run python3 -m pip to fetch {spec}: {e}"));
            assert!(
                output.status.success(),
                "`python3 -m pip download {spec}` failed (these tests need PyPI): {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(
                sha_of(&wheel).as_deref(),
                Some(SILERO_VAD_WHEEL_SHA256),
                "{} does not match its sha256 pin",
                wheel.display()
            );
        }
        let file_name = Path::new(member).file_name().unwrap();
        let target = cache.join(format!("models/silero-vad-{SILERO_VAD_VERSION}")).join(file_name);
        if sha_of(&target).as_deref() != Some(sha256) {
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            let partial = target.with_extension("onnx.partial");
            let status = Command::new("python3")
                .args([
                    "-c",
                    "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))",
                ])
                .arg(&wheel)
                .arg(member)
                .arg(&partial)
                .status()
                .expect("run python3 to unzip the wheel");
            assert!(status.success(), "extracting {member} from {} failed", wheel.display());
            fs::rename(&partial, &target).unwrap();
            assert_eq!(sha_of(&target).as_deref(), Some(sha256), "{} does not match its pin", target.display());
        }
        target
    }

    // ----- offline tests -----------------------------------------------------------------

    #[test]
    fn f16_rounding_matches_ieee() {
        let cases: [(f32, u16); 15] = [
            (0.0, 0x0000),
            (-0.0, 0x8000),
            (1.0, 0x3c00),
            (-2.0, 0xc000),
            (0.333_333_34, 0x3555),
            (65504.0, 0x7bff),
            (65520.0, 0x7c00), // rounds up to infinity
            (65519.0, 0x7bff),
            (6.103_515_6e-5, 0x0400), // smallest normal
            (5.960_464_5e-8, 0x0001), // smallest subnormal
            (2.980_232_2e-8, 0x0000), // half of it: tie to even → 0
            (4.0e-8, 0x0001),
            (1.000_488_3, 0x3c00), // 1 + 2^-11: tie → even
            (1.000_732_4, 0x3c01), // 1 + 0.75 ulp → rounds up
            (1.001_464_8, 0x3c02), // 1 + 1.5 ulp: tie → even
        ];
        for (x, want) in cases {
            assert_eq!(f32_to_f16_bits(x), want, "{x:e}");
        }
        assert_eq!(f32_to_f16_bits(f32::INFINITY), 0x7c00);
        assert_eq!(f32_to_f16_bits(f32::NEG_INFINITY), 0xfc00);
        assert!(f32_to_f16_bits(f32::NAN) & 0x7fff > 0x7c00);
    }

    #[test]
    fn converts_a_synthetic_model() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("synthetic.onnx");
        fs::write(&src, synthetic_model()).unwrap();
        let out = dir.path().join("nested/silero.bin");
        let report = convert_silero_vad(&src, &out).unwrap();
        assert_eq!(report.onnx_prefix, "model.");
        assert_eq!(report.known_source, None);
        assert_eq!(report.tensors.len(), 15);
        assert!(!dir.path().join("nested/silero.bin.partial").exists());
        let bytes = fs::read(&out).unwrap();
        assert_eq!(bytes.len() as u64, report.output_bytes);
        assert_eq!(hex_sha256(&bytes), report.output_sha256);
        let parsed = check_ggml_layout(&bytes);
        // Data is the ONNX row-major data, unchanged in order.
        let by_suffix = |suffix: &str| SPECS.iter().position(|s| s.suffix == suffix).unwrap();
        let (_, _, _, ih) = &parsed.tensors[8];
        let s = by_suffix("decoder.rnn.weight_ih");
        for i in [0usize, 1, 127, 128, 65535] {
            let got = f32::from_le_bytes(ih[i * 4..i * 4 + 4].try_into().unwrap());
            assert_eq!(got, value_of(s, i));
        }
        let (_, _, _, basis) = &parsed.tensors[14];
        let s = by_suffix("stft.forward_basis_buffer");
        for i in [0usize, 255, 256, 66047] {
            let got = u16::from_le_bytes(basis[i * 2..i * 2 + 2].try_into().unwrap());
            assert_eq!(got, f32_to_f16_bits(value_of(s, i)));
        }
        // Same input → same bytes.
        let again = convert_silero_vad(&src, &out).unwrap();
        assert_eq!(again.output_sha256, report.output_sha256);
    }

    #[test]
    fn truncated_or_corrupted_models_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let model = synthetic_model();
        let src = dir.path().join("bad.onnx");
        let out = dir.path().join("out.bin");
        let step = (model.len() / 97).max(1);
        for len in (0..model.len()).step_by(step).chain([model.len() - 1]) {
            fs::write(&src, &model[..len]).unwrap();
            let err = convert_silero_vad(&src, &out).unwrap_err();
            assert!(err.to_string().contains("bad.onnx"), "{err}");
            assert!(matches!(err, SileroError::Malformed { .. } | SileroError::Weights { .. }), "cut at {len}: {err}");
        }
        assert!(!out.exists());
        // A length field claiming 2^62 bytes: refused, no allocation.
        let mut huge = Vec::new();
        field_varint(&mut huge, 1, 8);
        varint(&mut huge, 7 << 3 | 2);
        varint(&mut huge, 1 << 62);
        huge.extend_from_slice(&[0; 16]);
        fs::write(&src, &huge).unwrap();
        let err = convert_silero_vad(&src, &out).unwrap_err().to_string();
        assert!(err.contains("runs past the end"), "{err}");
        // Not protobuf at all.
        fs::write(&src, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff junk").unwrap();
        assert!(matches!(convert_silero_vad(&src, &out), Err(SileroError::Malformed { .. })));
        // Missing file.
        let err = convert_silero_vad(&dir.path().join("nope.onnx"), &out).unwrap_err();
        assert!(matches!(err, SileroError::Io { op: "open", .. }) && err.to_string().contains("nope.onnx"));
    }

    #[test]
    fn wrong_shapes_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let mut graph = Vec::new();
        let t = tensor_proto("model.encoder.0.reparam_conv.weight", &[128, 65, 3], &[0.0; 128 * 65 * 3], false);
        field_bytes(&mut graph, 5, &t);
        let mut model = Vec::new();
        field_bytes(&mut model, 8, &[]);
        field_bytes(&mut model, 7, &graph);
        let src = dir.path().join("eight-k.onnx");
        fs::write(&src, model).unwrap();
        let err = convert_silero_vad(&src, &dir.path().join("o.bin")).unwrap_err().to_string();
        assert!(err.contains("no complete 16 kHz") && err.contains("[128, 65, 3]"), "{err}");
    }

    // ----- tests on the real package (fetched with pip) ----------------------------------

    #[test]
    fn converts_the_package_onnx() {
        let src = package_file(SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ggml-silero-v6.2.3.bin");
        let report = convert_silero_vad(&src, &out).unwrap();
        assert_eq!(report.known_source, Some(SILERO_VAD_ONNX_MEMBER));
        assert_eq!(report.onnx_prefix, "model.");
        assert_eq!(report.tensors.len(), 15);
        let bytes = fs::read(&out).unwrap();
        let parsed = check_ggml_layout(&bytes);
        // Biases and LSTM stay exact f32 copies of the ONNX initializers; spot-check one.
        let (_, _, _, bias) = &parsed.tensors[13];
        let b = f32::from_le_bytes(bias[..4].try_into().unwrap());
        assert!(b.is_finite() && b != 0.0);
        assert_eq!(report.output_bytes, 885_102);
        assert_eq!(bytes.len(), 885_102);
    }

    #[test]
    fn package_variants_convert_identically() {
        let base = package_file(SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256);
        let dir = tempfile::tempdir().unwrap();
        let want = convert_silero_vad(&base, &dir.path().join("a.bin")).unwrap();
        for (member, sha) in &KNOWN_SOURCES[1..] {
            let src = package_file(member, sha);
            let got = convert_silero_vad(&src, &dir.path().join("b.bin")).unwrap();
            assert_eq!(got.output_sha256, want.output_sha256, "{member} ({})", got.onnx_prefix);
        }
    }

    #[test]
    fn truncated_package_onnx_is_refused() {
        let src = package_file(SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256);
        let full = fs::read(&src).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("silero_vad_16k_op15.truncated.onnx");
        for len in [16, full.len() / 2, full.len() - 1] {
            fs::write(&cut, &full[..len]).unwrap();
            let err = convert_silero_vad(&cut, &dir.path().join("x.bin")).unwrap_err();
            assert!(matches!(err, SileroError::Malformed { .. }), "cut at {len}: {err}");
            assert!(err.to_string().contains("truncated.onnx"), "{err}");
        }
    }
}
