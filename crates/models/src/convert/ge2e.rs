//! The GE2E speaker encoder of resemblyzer 0.1.4 (`pretrained.pt`) as an ONNX graph that
//! OpenVINO runs.
//!
//! The network: three stacked LSTMs (40 mel inputs, 256 hidden units), then
//! `ReLU(linear(h_last))`; the caller L2-normalises the 256 values. As ONNX (opset 18):
//! `mels [B, T, 40]` → Transpose to time-major → LSTM → Squeeze → LSTM → Squeeze → LSTM →
//! `Y_h` → Squeeze → Gemm (`transB`) → Relu → `embedding [B, 256]`. (Time-major LSTMs:
//! OpenVINO 2026.4 mis-infers the shapes of stacked batch-first ones, `layout = 1`.) Torch stores the four gate
//! blocks of each weight in the order i, f, g, o; ONNX wants i, o, f, c, so the blocks are
//! reordered, and torch's two biases (`bias_ih`, `bias_hh`) concatenate into ONNX's `B`.
//!
//! The ONNX messages are written with `prost`; only the fields this graph uses are declared
//! (field numbers are onnx.proto's).

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;

use super::torch_legacy::{read_legacy_state, Tensor};
use crate::error::ConvertError;

/// Mel bands the encoder takes.
pub const GE2E_MELS: usize = 40;
/// Hidden units (and embedding size).
pub const GE2E_HIDDEN: usize = 256;
/// Stacked LSTM layers.
const LAYERS: usize = 3;

#[derive(Clone, PartialEq, prost::Message)]
struct ModelProto {
    #[prost(int64, optional, tag = "1")]
    ir_version: Option<i64>,
    #[prost(string, optional, tag = "2")]
    producer_name: Option<String>,
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    opset_import: Vec<OperatorSetIdProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OperatorSetIdProto {
    #[prost(string, optional, tag = "1")]
    domain: Option<String>,
    #[prost(int64, optional, tag = "2")]
    version: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(string, optional, tag = "2")]
    name: Option<String>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, optional, tag = "3")]
    name: Option<String>,
    #[prost(string, optional, tag = "4")]
    op_type: Option<String>,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AttributeProto {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(int64, optional, tag = "3")]
    i: Option<i64>,
    #[prost(int64, repeated, tag = "8")]
    ints: Vec<i64>,
    #[prost(int32, optional, tag = "20")]
    r#type: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorProto {
    #[prost(int64, repeated, packed = "false", tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, optional, tag = "2")]
    data_type: Option<i32>,
    #[prost(string, optional, tag = "8")]
    name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "9")]
    raw_data: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ValueInfoProto {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(message, optional, tag = "2")]
    r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TypeProto {
    #[prost(message, optional, tag = "1")]
    tensor_type: Option<TypeTensor>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TypeTensor {
    #[prost(int32, optional, tag = "1")]
    elem_type: Option<i32>,
    #[prost(message, optional, tag = "2")]
    shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    dim: Vec<Dimension>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Dimension {
    #[prost(int64, optional, tag = "1")]
    dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    dim_param: Option<String>,
}

const FLOAT: i32 = 1;
const INT64: i32 = 7;
const ATTR_INT: i32 = 2;
const ATTR_INTS: i32 = 7;

fn f32_tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(FLOAT),
        name: Some(name.into()),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
    }
}

fn i64_tensor(name: &str, data: &[i64]) -> TensorProto {
    TensorProto {
        dims: vec![data.len() as i64],
        data_type: Some(INT64),
        name: Some(name.into()),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], ints: &[(&str, i64)]) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(name.into()),
        op_type: Some(op.into()),
        attribute: ints
            .iter()
            .map(|(n, v)| AttributeProto { name: Some((*n).into()), i: Some(*v), ints: vec![], r#type: Some(ATTR_INT) })
            .collect(),
    }
}

fn transpose(name: &str, input: &str, output: &str, perm: &[i64]) -> NodeProto {
    let mut n = node("Transpose", name, &[input], &[output], &[]);
    n.attribute.push(AttributeProto {
        name: Some("perm".into()),
        i: None,
        ints: perm.to_vec(),
        r#type: Some(ATTR_INTS),
    });
    n
}

fn value(name: &str, dims: &[Result<i64, &str>]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeTensor {
                elem_type: Some(FLOAT),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            Ok(v) => Dimension { dim_value: Some(*v), dim_param: None },
                            Err(p) => Dimension { dim_value: None, dim_param: Some((*p).into()) },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// Torch's gate blocks (i, f, g, o) of a `[4H, ...]` matrix or `[4H]` vector, in ONNX's
/// order (i, o, f, c).
fn reorder_gates(data: &[f32], hidden: usize) -> Vec<f32> {
    let block = data.len() / 4;
    debug_assert_eq!(block % hidden, 0);
    let b = |k: usize| &data[k * block..(k + 1) * block];
    [b(0), b(3), b(1), b(2)].concat()
}

fn get<'t>(
    state: &'t BTreeMap<String, Tensor>,
    path: &Path,
    name: &str,
    shape: &[usize],
) -> Result<&'t Tensor, ConvertError> {
    let t = state.get(name).ok_or_else(|| ConvertError::corrupt(path, format!("no tensor {name}")))?;
    if t.shape != shape {
        return Err(ConvertError::corrupt(path, format!("tensor {name} has shape {:?}, expected {shape:?}", t.shape)));
    }
    Ok(t)
}

/// Converts resemblyzer's `pretrained.pt` (legacy torch format, `model_state`) into an
/// ONNX file at `out` (written crash-safely). Input `mels [batch, frames, 40]`, output
/// `embedding [batch, 256]` (ReLU'd, not yet normalised).
pub fn convert_ge2e(pt: &Path, out: &Path) -> Result<(), ConvertError> {
    let state = read_legacy_state(pt, Some("model_state"))?;
    let h = GE2E_HIDDEN;
    let mut init = Vec::new();
    let mut nodes = Vec::new();
    nodes.push(transpose("time_major", "mels", "X0", &[1, 0, 2]));
    let mut x = "X0".to_string();
    for l in 0..LAYERS {
        let inp = if l == 0 { GE2E_MELS } else { h };
        let w = get(&state, pt, &format!("lstm.weight_ih_l{l}"), &[4 * h, inp])?;
        let r = get(&state, pt, &format!("lstm.weight_hh_l{l}"), &[4 * h, h])?;
        let bi = get(&state, pt, &format!("lstm.bias_ih_l{l}"), &[4 * h])?;
        let bh = get(&state, pt, &format!("lstm.bias_hh_l{l}"), &[4 * h])?;
        init.push(f32_tensor(&format!("W{l}"), &[1, 4 * h, inp], &reorder_gates(&w.data, h)));
        init.push(f32_tensor(&format!("R{l}"), &[1, 4 * h, h], &reorder_gates(&r.data, h)));
        let b = [reorder_gates(&bi.data, h), reorder_gates(&bh.data, h)].concat();
        init.push(f32_tensor(&format!("B{l}"), &[1, 8 * h], &b));
        let (y, yh) = (format!("Y{l}"), format!("Yh{l}"));
        nodes.push(node(
            "LSTM",
            &format!("lstm{l}"),
            &[&x, &format!("W{l}"), &format!("R{l}"), &format!("B{l}")],
            &[&y, &yh],
            &[("hidden_size", h as i64)],
        ));
        if l + 1 < LAYERS {
            // Y is [T, 1, B, H]: drop the direction axis.
            let next = format!("X{}", l + 1);
            nodes.push(node("Squeeze", &format!("squeeze{l}"), &[&y, "axis1"], &[&next], &[]));
            x = next;
        } else {
            // Y_h is [1, B, H].
            nodes.push(node("Squeeze", "squeeze_h", &[&yh, "axis0"], &["h_last"], &[]));
        }
    }
    init.push(i64_tensor("axis0", &[0]));
    init.push(i64_tensor("axis1", &[1]));
    let lw = get(&state, pt, "linear.weight", &[h, h])?;
    let lb = get(&state, pt, "linear.bias", &[h])?;
    init.push(f32_tensor("linear_w", &[h, h], &lw.data));
    init.push(f32_tensor("linear_b", &[h], &lb.data));
    nodes.push(node("Gemm", "linear", &["h_last", "linear_w", "linear_b"], &["lin"], &[("transB", 1)]));
    nodes.push(node("Relu", "relu", &["lin"], &["embedding"], &[]));
    let model = ModelProto {
        ir_version: Some(8),
        producer_name: Some("debrief-models ge2e converter".into()),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(18) }],
        graph: Some(GraphProto {
            node: nodes,
            name: Some("ge2e".into()),
            initializer: init,
            input: vec![value("mels", &[Err("batch"), Err("frames"), Ok(GE2E_MELS as i64)])],
            output: vec![value("embedding", &[Err("batch"), Ok(h as i64)])],
        }),
    };
    debrief_config::write_file_atomic(out, &model.encode_to_vec()).map_err(|e| ConvertError::io(out, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_go_from_torch_to_onnx_order() {
        // Blocks i, f, g, o of one unit each.
        assert_eq!(reorder_gates(&[1., 2., 3., 4.], 1), vec![1., 4., 2., 3.]);
    }
}
