//! Reader for CTranslate2's `model.bin`.
//!
//! Layout (little endian), as written by CTranslate2's `ModelSpec._serialize` and read by its
//! C++ `models::Model::load` for binary versions 4 to 6:
//!
//! ```text
//! u32 version
//! string spec_name            (string = u16 length including a trailing NUL, then the bytes)
//! u32 spec_revision
//! u32 n_variables
//!   n_variables times: string name, u8 rank, rank x u32 dims, u8 dtype, u32 n_bytes, bytes
//! u32 n_aliases
//!   n_aliases times: string alias, string variable_name
//! ```
//!
//! Every length read from the file is checked against the bytes that remain before anything is
//! allocated or sliced, so a corrupt or truncated file gives [`ConvertError::Corrupt`], never a
//! panic or a huge allocation.

use std::path::{Path, PathBuf};

use crate::error::ConvertError;

/// Largest tensor rank accepted (CTranslate2 models use at most 3).
const MAX_RANK: usize = 8;

/// Element type of a CTranslate2 variable (CTranslate2's `DataType` ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2DType {
    /// id 0: IEEE float32.
    F32,
    /// id 1: int8 (flags, or quantized weights with a separate `*_scale` variable).
    I8,
    /// id 2: int16.
    I16,
    /// id 3: int32.
    I32,
    /// id 4: IEEE float16.
    F16,
    /// id 5: bfloat16.
    BF16,
}

impl Ct2DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Ct2DType::F32,
            1 => Ct2DType::I8,
            2 => Ct2DType::I16,
            3 => Ct2DType::I32,
            4 => Ct2DType::F16,
            5 => Ct2DType::BF16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Ct2DType::I8 => 1,
            Ct2DType::I16 | Ct2DType::F16 | Ct2DType::BF16 => 2,
            Ct2DType::F32 | Ct2DType::I32 => 4,
        }
    }

    /// Whether the type is a floating-point type this crate converts.
    pub fn is_float(self) -> bool {
        matches!(self, Ct2DType::F32 | Ct2DType::F16 | Ct2DType::BF16)
    }
}

/// One variable of a CTranslate2 model: its name, shape and element type, and where its bytes
/// lie in the file (see [`Ct2Model::data`]).
#[derive(Debug, Clone)]
pub struct Ct2Variable {
    /// Full scoped name, e.g. `encoder/layer_0/self_attention/linear_0/weight`.
    pub name: String,
    /// Dimensions, outermost first (row-major); empty for a scalar.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Ct2DType,
    /// Byte offset of the data in the file.
    pub offset: usize,
    /// Length of the data in bytes.
    pub nbytes: usize,
}

impl Ct2Variable {
    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed CTranslate2 `model.bin`, with the whole file held in memory.
#[derive(Debug)]
pub struct Ct2Model {
    /// The file it was read from.
    pub path: PathBuf,
    /// Binary format version (4 to 6).
    pub version: u32,
    /// Model specification name, e.g. `WhisperSpec`.
    pub spec: String,
    /// Specification revision.
    pub revision: u32,
    /// The variables, in file order.
    pub variables: Vec<Ct2Variable>,
    /// Aliases: (alias, name of the variable it stands for).
    pub aliases: Vec<(String, String)>,
    bytes: Vec<u8>,
}

impl Ct2Model {
    /// Parses a `model.bin` already in memory; `path` only names it in errors.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Self, ConvertError> {
        let mut c = Cursor { path, buf: &bytes, pos: 0 };
        let version = c.u32("binary version")?;
        if !(4..=6).contains(&version) {
            return Err(ConvertError::corrupt(
                path,
                format!("not a CTranslate2 model.bin of binary version 4 to 6 (found version {version})"),
            ));
        }
        let spec = c.string("spec name")?;
        let revision = c.u32("spec revision")?;
        let n_vars = c.u32("variable count")? as usize;
        // Each variable takes at least 2 (name length) + 1 (NUL) + 1 (rank) + 1 (dtype) + 4 bytes.
        if n_vars > c.remaining() / 9 {
            return Err(c.err(&format!("variable count {n_vars} cannot fit in the {} bytes left", c.remaining())));
        }
        let mut variables = Vec::with_capacity(n_vars);
        for i in 0..n_vars {
            let name = c.string(&format!("name of variable {i}"))?;
            let rank = c.u8(&format!("rank of {name}"))? as usize;
            if rank > MAX_RANK {
                return Err(c.err(&format!("variable {name}: absurd rank {rank}")));
            }
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(c.u32(&format!("shape of {name}"))? as usize);
            }
            let dtype_id = c.u8(&format!("dtype of {name}"))?;
            let dtype = Ct2DType::from_id(dtype_id)
                .ok_or_else(|| c.err(&format!("variable {name}: unknown dtype id {dtype_id}")))?;
            let nbytes = c.u32(&format!("byte count of {name}"))? as usize;
            let expected = shape
                .iter()
                .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| c.err(&format!("variable {name}: absurd shape {shape:?}")))?;
            if expected != nbytes {
                return Err(c.err(&format!(
                    "variable {name}: shape {shape:?} of {dtype:?} needs {expected} bytes, header says {nbytes}"
                )));
            }
            let offset = c.pos;
            c.skip(nbytes, &format!("data of {name}"))?;
            variables.push(Ct2Variable { name, shape, dtype, offset, nbytes });
        }
        let mut aliases = Vec::new();
        if version >= 3 {
            let n_aliases = c.u32("alias count")? as usize;
            if n_aliases > c.remaining() / 6 {
                return Err(c.err(&format!("alias count {n_aliases} cannot fit in the file")));
            }
            for i in 0..n_aliases {
                let alias = c.string(&format!("alias {i}"))?;
                let target = c.string(&format!("target of alias {alias}"))?;
                aliases.push((alias, target));
            }
        }
        if c.remaining() != 0 {
            return Err(c.err(&format!("{} unexpected bytes after the aliases", c.remaining())));
        }
        Ok(Ct2Model { path: path.to_path_buf(), version, spec, revision, variables, aliases, bytes })
    }

    /// Looks a variable up by name, following aliases.
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        let target = self.aliases.iter().find(|(a, _)| a == name).map(|(_, t)| t.as_str()).unwrap_or(name);
        self.variables.iter().find(|v| v.name == target)
    }

    /// The raw little-endian bytes of a variable.
    pub fn data(&self, var: &Ct2Variable) -> &[u8] {
        &self.bytes[var.offset..var.offset + var.nbytes]
    }

    /// A floating-point variable's values as `f32`. Errors name the file when the variable is
    /// missing or not of a float type.
    pub fn values_f32(&self, name: &str) -> Result<Vec<f32>, ConvertError> {
        let var = self.require(name)?;
        decode_f32(&self.path, var, self.data(var))
    }

    /// An integer scalar (a flag or a count such as `encoder/num_heads`), if present.
    pub fn scalar_i64(&self, name: &str) -> Option<i64> {
        let v = self.get(name)?;
        if v.numel() != 1 {
            return None;
        }
        let d = self.data(v);
        Some(match v.dtype {
            Ct2DType::I8 => d[0] as i8 as i64,
            Ct2DType::I16 => i16::from_le_bytes([d[0], d[1]]) as i64,
            Ct2DType::I32 => i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64,
            _ => return None,
        })
    }

    pub(crate) fn require(&self, name: &str) -> Result<&Ct2Variable, ConvertError> {
        self.get(name).ok_or_else(|| ConvertError::unsupported(&self.path, format!("missing variable {name}")))
    }
}

/// Decodes a float variable's bytes to `f32`.
pub(crate) fn decode_f32(path: &Path, var: &Ct2Variable, data: &[u8]) -> Result<Vec<f32>, ConvertError> {
    Ok(match var.dtype {
        Ct2DType::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Ct2DType::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Ct2DType::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => {
            return Err(ConvertError::unsupported(
                path,
                format!(
                    "variable {} is {other:?}; only float32/float16/bfloat16 weights are supported \
                     (quantized int8/int16 CTranslate2 models are not)",
                    var.name
                ),
            ))
        }
    })
}

/// Reads and parses a CTranslate2 `model.bin`.
///
/// The whole file is read into memory (its size bounds every allocation); errors name `path`.
pub fn read_ct2(path: &Path) -> Result<Ct2Model, ConvertError> {
    let bytes = std::fs::read(path).map_err(|e| ConvertError::io(path, e))?;
    Ct2Model::parse(path, bytes)
}

/// A bounds-checked little-endian reader over a whole file's bytes; every error names
/// the file and the byte offset. Shared by the CT2 and ggml readers.
pub(crate) struct Cursor<'a> {
    pub(crate) path: &'a Path,
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl Cursor<'_> {
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub(crate) fn err(&self, detail: &str) -> ConvertError {
        ConvertError::corrupt(self.path, format!("at byte {}: {detail}", self.pos))
    }
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&[u8], ConvertError> {
        if n > self.remaining() {
            return Err(self.err(&format!(
                "{what}: needs {n} bytes, only {} left (file size {})",
                self.remaining(),
                self.buf.len()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn skip(&mut self, n: usize, what: &str) -> Result<(), ConvertError> {
        self.take(n, what).map(|_| ())
    }
    fn u8(&mut self, what: &str) -> Result<u8, ConvertError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, ConvertError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, ConvertError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self, what: &str) -> Result<String, ConvertError> {
        let start = self.pos;
        let len = self.u16(what)? as usize;
        if len == 0 {
            return Err(self.err(&format!("{what}: zero-length string")));
        }
        let b = self.take(len, what)?;
        let (text, nul) = b.split_at(len - 1);
        if nul != [0] || text.contains(&0) {
            self.pos = start;
            return Err(self.err(&format!("{what}: string is not NUL-terminated")));
        }
        match std::str::from_utf8(text) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => {
                self.pos = start;
                Err(self.err(&format!("{what}: string is not UTF-8")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16 + 1).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    /// A small model.bin laid out as CTranslate2's `_serialize` writes it.
    fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&6u32.to_le_bytes());
        string(&mut b, "WhisperSpec");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        // A scalar flag, a float16 matrix, a float32 vector.
        string(&mut b, "decoder/pre_norm");
        b.extend_from_slice(&[0, 1]);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(1);
        string(&mut b, "decoder/embeddings/weight");
        b.push(2);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.push(4);
        b.extend_from_slice(&12u32.to_le_bytes());
        for v in [1.0f32, -2.0, 0.5, 0.25, 3.0, -0.125] {
            b.extend_from_slice(&half::f16::from_f32(v).to_le_bytes());
        }
        string(&mut b, "encoder/layer_norm/gamma");
        b.push(1);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.push(0);
        b.extend_from_slice(&8u32.to_le_bytes());
        for v in [1.5f32, -7.0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&1u32.to_le_bytes());
        string(&mut b, "decoder/projection/weight");
        string(&mut b, "decoder/embeddings/weight");
        b
    }

    #[test]
    fn parses_a_well_formed_file() {
        let m = Ct2Model::parse(Path::new("m.bin"), sample()).unwrap();
        assert_eq!((m.version, m.spec.as_str(), m.revision), (6, "WhisperSpec", 3));
        assert_eq!(m.variables.len(), 3);
        assert_eq!(m.scalar_i64("decoder/pre_norm"), Some(1));
        assert_eq!(m.values_f32("decoder/projection/weight").unwrap(), vec![1.0, -2.0, 0.5, 0.25, 3.0, -0.125]);
        assert_eq!(m.values_f32("encoder/layer_norm/gamma").unwrap(), vec![1.5, -7.0]);
        let e = m.values_f32("decoder/pre_norm").unwrap_err().to_string();
        assert!(e.contains("m.bin") && e.contains("int8"), "{e}");
    }

    #[test]
    fn every_truncation_is_refused_with_the_file_name() {
        let good = sample();
        for cut in 0..good.len() {
            let err = Ct2Model::parse(Path::new("cut/model.bin"), good[..cut].to_vec())
                .expect_err("truncated file must be refused");
            assert!(err.to_string().starts_with("cut/model.bin: corrupt"), "cut {cut}: {err}");
        }
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let good = sample();
        let mut refused = 0;
        for i in 0..good.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] ^= mask;
                if Ct2Model::parse(Path::new("model.bin"), b).is_err() {
                    refused += 1;
                }
            }
        }
        // Flips inside tensor data are undetectable (no checksum: packages are pinned by
        // sha256); flips in the structure are refused.
        assert!(refused > good.len(), "{refused}");
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        let mut b = sample();
        b[22..26].copy_from_slice(&u32::MAX.to_le_bytes()); // variable count
        let e = Ct2Model::parse(Path::new("model.bin"), b).unwrap_err().to_string();
        assert!(e.contains("variable count"), "{e}");
    }
}
