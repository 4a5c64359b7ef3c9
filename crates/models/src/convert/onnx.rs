//! The part of ONNX's protobuf schema (`onnx/onnx.proto`, proto2) the silero VAD converter
//! reads, as `prost` messages. Field numbers are onnx.proto's; fields not declared here are
//! skipped when decoding. prost checks every length against the bytes left before it
//! allocates, so a corrupt or truncated file is an error, never a panic or a huge allocation.

/// `ModelProto`: the file's top-level message.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ModelProto {
    /// `ir_version = 1`.
    #[prost(int64, optional, tag = "1")]
    pub(crate) ir_version: Option<i64>,
    /// `graph = 7`.
    #[prost(message, optional, tag = "7")]
    pub(crate) graph: Option<GraphProto>,
    /// `opset_import = 8`.
    #[prost(message, repeated, tag = "8")]
    pub(crate) opset_import: Vec<OperatorSetIdProto>,
}

/// `OperatorSetIdProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct OperatorSetIdProto {
    /// `domain = 1`.
    #[prost(string, optional, tag = "1")]
    pub(crate) domain: Option<String>,
    /// `version = 2`.
    #[prost(int64, optional, tag = "2")]
    pub(crate) version: Option<i64>,
}

/// `GraphProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GraphProto {
    /// `node = 1`.
    #[prost(message, repeated, tag = "1")]
    pub(crate) node: Vec<NodeProto>,
    /// `initializer = 5`.
    #[prost(message, repeated, tag = "5")]
    pub(crate) initializer: Vec<TensorProto>,
}

/// `NodeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NodeProto {
    /// `output = 2`.
    #[prost(string, repeated, tag = "2")]
    pub(crate) output: Vec<String>,
    /// `op_type = 4`.
    #[prost(string, optional, tag = "4")]
    pub(crate) op_type: Option<String>,
    /// `attribute = 5`.
    #[prost(message, repeated, tag = "5")]
    pub(crate) attribute: Vec<AttributeProto>,
}

/// `AttributeProto`: the tensor of a `Constant`, the subgraphs of `If`/`Loop`/`Scan`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AttributeProto {
    /// `name = 1`.
    #[prost(string, optional, tag = "1")]
    pub(crate) name: Option<String>,
    /// `t = 5`.
    #[prost(message, optional, tag = "5")]
    pub(crate) t: Option<TensorProto>,
    /// `g = 6`.
    #[prost(message, optional, boxed, tag = "6")]
    pub(crate) g: Option<Box<GraphProto>>,
    /// `graphs = 11`.
    #[prost(message, repeated, tag = "11")]
    pub(crate) graphs: Vec<GraphProto>,
}

/// `TensorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorProto {
    /// `dims = 1`.
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub(crate) dims: Vec<i64>,
    /// `data_type = 2` (a `TensorProto.DataType`; [`DATA_TYPE_FLOAT`] is float32).
    #[prost(int32, optional, tag = "2")]
    pub(crate) data_type: Option<i32>,
    /// `float_data = 4` (packed).
    #[prost(float, repeated, tag = "4")]
    pub(crate) float_data: Vec<f32>,
    /// `name = 8`.
    #[prost(string, optional, tag = "8")]
    pub(crate) name: Option<String>,
    /// `raw_data = 9`: little-endian elements.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub(crate) raw_data: Option<Vec<u8>>,
    /// `external_data = 13`.
    #[prost(message, repeated, tag = "13")]
    pub(crate) external_data: Vec<StringStringEntryProto>,
    /// `data_location = 14` ([`DATA_LOCATION_EXTERNAL`]: the data is in another file).
    #[prost(int32, optional, tag = "14")]
    pub(crate) data_location: Option<i32>,
}

/// `StringStringEntryProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StringStringEntryProto {
    /// `key = 1`.
    #[prost(string, optional, tag = "1")]
    pub(crate) key: Option<String>,
    /// `value = 2`.
    #[prost(string, optional, tag = "2")]
    pub(crate) value: Option<String>,
}

/// `TensorProto.DataType.FLOAT`.
pub(crate) const DATA_TYPE_FLOAT: i32 = 1;
/// `TensorProto.DataLocation.EXTERNAL`.
pub(crate) const DATA_LOCATION_EXTERNAL: i32 = 1;
