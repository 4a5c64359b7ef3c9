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
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use prost::Message as _;
use sha2::{Digest, Sha256};

/// The element type of a tensor in the ggml file: the crate's one [`crate::GgmlType`].
pub use super::ggml::GgmlType;
use super::ggml::{write_tensor, GGML_MAGIC};
use super::onnx::{GraphProto, ModelProto, NodeProto, TensorProto, DATA_LOCATION_EXTERNAL, DATA_TYPE_FLOAT};
use crate::catalogue::pins::SILERO_VAD;

/// The silero-vad package version whose weights this converter is pinned to (and which it
/// records as the model version inside the ggml file).
pub const SILERO_VAD_VERSION: &str = "6.2.3";
/// The wheel on PyPI that holds the weights (`pip download --no-deps silero-vad==6.2.3`).
/// (The file of the pin [`crate::SILERO_VAD`].)
pub const SILERO_VAD_WHEEL: &str = SILERO_VAD.file;
/// sha256 of [`SILERO_VAD_WHEEL`].
pub const SILERO_VAD_WHEEL_SHA256: &str = SILERO_VAD.sha256;
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

const MODEL_TYPE: &str = "silero-16k";
const N_WINDOW: i32 = 512;
const N_CONTEXT: i32 = 64;
/// (in channels, out channels, kernel size) of the four encoder convolutions.
const ENCODER: [(i32, i32, i32); 4] = [(129, 128, 3), (128, 64, 3), (64, 64, 3), (64, 128, 3)];
const LSTM_INPUT: i32 = 128;
const LSTM_HIDDEN: i32 = 128;
const FINAL_CONV_IN: i32 = 128;
const FINAL_CONV_OUT: i32 = 1;

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
        source: std::io::Error,
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
/// type, finite and f16-representable values) and written to `out` through
/// [`debrief_config::AtomicFile`] (`out.partial`, synced, renamed, folder synced), so `out` is
/// either absent, the previous file, or complete (`out`'s folder is created if needed).
/// The source is read whole but at most 64 MiB and decoded with `prost`, which checks every
/// length inside it before use: truncated or corrupted files are refused with
/// [`SileroError::Malformed`].
pub fn convert_silero_vad(src: &Path, out: &Path) -> Result<SileroReport, SileroError> {
    let bytes = read_bounded(src)?;
    let source_sha256 = hex_sha256(&bytes);
    let known_source = KNOWN_SOURCES.iter().find(|(_, sha)| *sha == source_sha256).map(|(name, _)| *name);

    let malformed = |reason: String| SileroError::Malformed { path: src.to_path_buf(), reason };
    let weights_err = |reason: String| SileroError::Weights { path: src.to_path_buf(), reason };

    let model = ModelProto::decode(bytes.as_slice()).map_err(|e| malformed(format!("not valid protobuf: {e}")))?;
    let found = collect_tensors(&model).map_err(malformed)?;
    let (prefix, chosen) = select_weight_set(&found).map_err(weights_err)?;

    let mut file = Vec::with_capacity(1 << 20);
    write_header(&mut file);
    let mut tensors = Vec::with_capacity(SPECS.len());
    for (spec, tensor) in SPECS.iter().zip(&chosen) {
        let n: usize = spec.shape.iter().product();
        let values = decode_f32(tensor.tensor, n).map_err(|e| malformed(format!("tensor '{}': {e}", tensor.name)))?;
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
        let shape: Vec<usize> = ne.iter().rev().copied().collect();
        write_tensor(&mut file, spec.ggml_name, &shape, spec.ty, &spec.ty.encode(&values))
            .expect("writing to a Vec cannot fail");
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
    crate::pip::hex(&Sha256::digest(bytes))
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
// Finding the float tensors of the decoded model.
// ---------------------------------------------------------------------------------------------

/// A float-tensor candidate: the name it is known by, and its `TensorProto`.
#[derive(Debug)]
struct TensorRef<'a> {
    name: String,
    tensor: &'a TensorProto,
}

impl TensorRef<'_> {
    fn dims(&self) -> &[i64] {
        &self.tensor.dims
    }
    fn data_type(&self) -> i32 {
        self.tensor.data_type.unwrap_or(0)
    }
}

/// Decodes exactly `n` f32 values of `t` (`raw_data` or `float_data`).
fn decode_f32(t: &TensorProto, n: usize) -> Result<Vec<f32>, String> {
    if !t.external_data.is_empty() || t.data_location == Some(DATA_LOCATION_EXTERNAL) {
        return Err("weights stored in external data files are not supported".into());
    }
    match &t.raw_data {
        Some(_) if !t.float_data.is_empty() => Err("both raw_data and float_data present".into()),
        Some(raw) if raw.len() != n * 4 => Err(format!("raw_data holds {} bytes, {} expected", raw.len(), n * 4)),
        Some(raw) => Ok(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        None if t.float_data.len() != n => Err(format!("holds {} values, {n} expected", t.float_data.len())),
        None => Ok(t.float_data.clone()),
    }
}

/// A tensor known by `name`, refused if it has absurdly many dimensions.
fn tensor_ref(tensor: &TensorProto, name: String) -> Result<TensorRef<'_>, String> {
    if tensor.dims.len() > MAX_DIMS {
        return Err(format!("tensor '{name}' has more than {MAX_DIMS} dimensions"));
    }
    Ok(TensorRef { name, tensor })
}

/// All tensors of the model: graph initializers and `Constant` node values, in every subgraph.
fn collect_tensors(model: &ModelProto) -> Result<Vec<TensorRef<'_>>, String> {
    let graph = model.graph.as_ref().ok_or("no graph in the model (truncated, or not an ONNX model)")?;
    if model.opset_import.is_empty() {
        return Err("no opset_import in the model (truncated?)".into());
    }
    let mut out = Vec::new();
    walk_graph(graph, 0, &mut out)?;
    Ok(out)
}

fn walk_graph<'a>(graph: &'a GraphProto, depth: usize, out: &mut Vec<TensorRef<'a>>) -> Result<(), String> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(format!("subgraphs nested deeper than {MAX_GRAPH_DEPTH}"));
    }
    for node in &graph.node {
        walk_node(node, depth, out)?;
    }
    for init in &graph.initializer {
        out.push(tensor_ref(init, init.name.clone().unwrap_or_default())?);
    }
    Ok(())
}

fn walk_node<'a>(node: &'a NodeProto, depth: usize, out: &mut Vec<TensorRef<'a>>) -> Result<(), String> {
    let is_constant = node.op_type.as_deref() == Some("Constant");
    for attribute in &node.attribute {
        for g in attribute.g.as_deref().into_iter().chain(&attribute.graphs) {
            walk_graph(g, depth + 1, out)?;
        }
        if let (true, Some("value"), Some(t)) = (is_constant, attribute.name.as_deref(), &attribute.t) {
            // A Constant's tensor is usually unnamed: it is known by the node's output.
            out.push(tensor_ref(t, node.output.first().cloned().unwrap_or_default())?);
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
            let want: Vec<i64> = spec.shape.iter().map(|&d| d as i64).collect();
            if t.data_type() != DATA_TYPE_FLOAT {
                group.problems.push(format!("{} has ONNX data type {}, not float", t.name, t.data_type()));
            } else if t.dims() != want {
                group.problems.push(format!("{} has shape {:?}, {:?} expected", t.name, t.dims(), want));
            } else {
                match group.slots[i] {
                    Some(prev) if prev.tensor != t.tensor => {
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
    out.extend_from_slice(&GGML_MAGIC.to_le_bytes());
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

fn write_atomically(out: &Path, bytes: &[u8]) -> Result<(), SileroError> {
    fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> SileroError + 'a {
        move |source| SileroError::Io { path: path.to_path_buf(), op, source }
    }
    if out.file_name().is_none() {
        let source = std::io::Error::new(std::io::ErrorKind::InvalidInput, "output path has no file name");
        return Err(io_err(out, "choose output file")(source));
    }
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
    }
    let partial = debrief_config::partial_path(out);
    // Dropped on an error, the AtomicFile removes the partial file.
    let mut file = debrief_config::AtomicFile::create(out).map_err(io_err(&partial, "create"))?;
    file.write_all(bytes).map_err(io_err(&partial, "write"))?;
    file.commit().map_err(io_err(out, "fsync and rename into place"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(i32_at(&mut pos) as u32, GGML_MAGIC);
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
            let size = n * GgmlType::from_id(ty as u32).expect("f32 or f16").size();
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

    // Synthetic ONNX models, encoded with the same prost messages.
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn tensor_proto(name: &str, dims: &[usize], values: &[f32], packed_floats: bool) -> TensorProto {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DATA_TYPE_FLOAT),
            float_data: if packed_floats { values.to_vec() } else { Vec::new() },
            name: Some(name.to_owned()),
            raw_data: (!packed_floats).then_some(raw),
            ..Default::default()
        }
    }
    fn model_of(initializer: Vec<TensorProto>) -> ModelProto {
        ModelProto {
            ir_version: Some(8),
            graph: Some(GraphProto { initializer, ..Default::default() }),
            opset_import: vec![super::super::onnx::OperatorSetIdProto { domain: None, version: Some(15) }],
        }
    }
    fn value_of(spec_index: usize, i: usize) -> f32 {
        ((spec_index * 7919 + i) % 1000) as f32 / 256.0 - 1.5
    }
    /// A model with the 16 kHz set as initializers under `model.`, and a decoy 8 kHz-shaped
    /// encoder tensor under `model_8k.` (as in silero_vad_op18_ifless.onnx).
    fn synthetic_model() -> Vec<u8> {
        let mut initializers = Vec::new();
        for (s, spec) in SPECS.iter().enumerate() {
            let n: usize = spec.shape.iter().product();
            let values: Vec<f32> = (0..n).map(|i| value_of(s, i)).collect();
            initializers.push(tensor_proto(&format!("model.{}", spec.suffix), spec.shape, &values, s % 2 == 1));
        }
        let decoy = tensor_proto("model_8k.encoder.0.reparam_conv.weight", &[128, 65, 3], &[0.0; 128 * 65 * 3], false);
        initializers.push(decoy);
        model_of(initializers).encode_to_vec()
    }

    /// The weights of [`synthetic_model`] as `Constant` nodes inside an `If` branch, as in
    /// `silero_vad.onnx`.
    fn synthetic_model_with_constants() -> Vec<u8> {
        let mut model = ModelProto::decode(synthetic_model().as_slice()).unwrap();
        let graph = model.graph.as_mut().unwrap();
        let constant = |t: TensorProto| NodeProto {
            output: vec![t.name.clone().unwrap()],
            op_type: Some("Constant".into()),
            attribute: vec![super::super::onnx::AttributeProto {
                name: Some("value".into()),
                t: Some(TensorProto { name: None, ..t }),
                ..Default::default()
            }],
        };
        let branch = GraphProto { node: graph.initializer.drain(..).map(constant).collect(), ..Default::default() };
        graph.node.push(NodeProto {
            output: vec!["out".into()],
            op_type: Some("If".into()),
            attribute: vec![super::super::onnx::AttributeProto {
                name: Some("then_branch".into()),
                g: Some(Box::new(branch)),
                ..Default::default()
            }],
        });
        model.encode_to_vec()
    }

    /// The package file `member` of silero-vad 6.2.3, fetched with the crate's own pip fetch into
    /// the default model cache (PyPI must be reachable) and unpacked into a temporary folder
    /// (dropped with the returned guard); checked against its sha256 pin.
    fn package_file(member: &str, sha256: &str) -> (tempfile::TempDir, PathBuf) {
        let cache = crate::default_cache_dir();
        let wheel = crate::fetch(&SILERO_VAD, &cache)
            .unwrap_or_else(|e| panic!("fetching {SILERO_VAD_WHEEL} (these tests need PyPI): {e}"));
        let dir = tempfile::tempdir().unwrap();
        crate::unpack_matching(&wheel, dir.path(), &|name| name == member).unwrap();
        let target = dir.path().join(member);
        assert_eq!(
            fs::read(&target).map(|b| hex_sha256(&b)).ok().as_deref(),
            Some(sha256),
            "{} does not match its pin",
            target.display()
        );
        (dir, target)
    }

    // ----- offline tests -----------------------------------------------------------------

    /// `half` (used for every f16 written) rounds as IEEE 754 and numpy's `astype(float16)` do.
    #[test]
    fn f16_rounding_matches_ieee() {
        let f32_to_f16_bits = |x: f32| half::f16::from_f32(x).to_bits();
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
            assert_eq!(got, half::f16::from_f32(value_of(s, i)).to_bits());
        }
        // Same input → same bytes.
        let again = convert_silero_vad(&src, &out).unwrap();
        assert_eq!(again.output_sha256, report.output_sha256);
        // The same weights as Constant nodes in a subgraph → the same bytes.
        let consts = dir.path().join("constants.onnx");
        fs::write(&consts, synthetic_model_with_constants()).unwrap();
        let c = convert_silero_vad(&consts, &dir.path().join("c.bin")).unwrap();
        assert_eq!(c.output_sha256, report.output_sha256);
        assert_eq!(c.onnx_prefix, "model.");
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
        let mut huge = vec![1 << 3, 8]; // ir_version = 8
        varint(&mut huge, 7 << 3 | 2);
        varint(&mut huge, 1 << 62);
        huge.extend_from_slice(&[0; 16]);
        fs::write(&src, &huge).unwrap();
        let err = convert_silero_vad(&src, &out).unwrap_err().to_string();
        assert!(err.contains("not valid protobuf") && err.contains("buffer underflow"), "{err}");
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
        let t = tensor_proto("model.encoder.0.reparam_conv.weight", &[128, 65, 3], &[0.0; 128 * 65 * 3], false);
        let src = dir.path().join("eight-k.onnx");
        fs::write(&src, model_of(vec![t]).encode_to_vec()).unwrap();
        let err = convert_silero_vad(&src, &dir.path().join("o.bin")).unwrap_err().to_string();
        assert!(err.contains("no complete 16 kHz") && err.contains("[128, 65, 3]"), "{err}");
    }

    // ----- tests on the real package (fetched with pip) ----------------------------------

    #[test]
    fn converts_the_package_onnx() {
        let (_pkg, src) = package_file(SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256);
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
        let (_pkg, base) = package_file(SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256);
        let dir = tempfile::tempdir().unwrap();
        let want = convert_silero_vad(&base, &dir.path().join("a.bin")).unwrap();
        for (member, sha) in &KNOWN_SOURCES[1..] {
            let (_pkg, src) = package_file(member, sha);
            let got = convert_silero_vad(&src, &dir.path().join("b.bin")).unwrap();
            assert_eq!(got.output_sha256, want.output_sha256, "{member} ({})", got.onnx_prefix);
        }
    }

    #[test]
    fn truncated_package_onnx_is_refused() {
        let (_pkg, src) = package_file(SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256);
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
