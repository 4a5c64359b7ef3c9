//! Reading the float tensors of a PyTorch file in the *legacy* (pre-1.6, not zip) format,
//! without torch: five pickles in a row (magic number, protocol version, system info, the
//! object, the list of storage keys), then for each key an int64 element count and the
//! storage's raw little-endian bytes.
//!
//! The pickles are run on a small stack machine that knows the opcodes `torch.save` writes
//! with protocol 2 (nothing is imported or called: `GLOBAL` only names things, `REDUCE`
//! of `torch._utils._rebuild_tensor_v2` becomes a tensor view, of
//! `collections.OrderedDict` an empty dict). Every count is checked against the bytes
//! left, so a damaged file is an error naming it, never a panic or a huge allocation.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ConvertError;

/// The magic number `torch.save` writes first (legacy format).
const MAGIC: i128 = 0x1950a86a20f9469cfc6c;
/// The protocol version it writes second.
const PROTOCOL_VERSION: i128 = 1001;

/// One float32 tensor: its shape and row-major elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Elements, row-major.
    pub data: Vec<f32>,
}

#[derive(Debug, Clone)]
enum V {
    None,
    Bool,
    Int(i128),
    Float,
    Str(String),
    Tuple(Vec<V>),
    List(Vec<V>),
    Dict(Vec<(V, V)>),
    Global(String),
    Mark,
    /// A storage reference: (dtype global, key).
    Storage(String, String),
    /// A tensor view: storage key, dtype, offset, shape, strides.
    View {
        key: String,
        dtype: String,
        offset: usize,
        shape: Vec<usize>,
        stride: Vec<usize>,
    },
}

struct Reader<'a> {
    path: &'a Path,
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, what: impl std::fmt::Display) -> ConvertError {
        ConvertError::corrupt(self.path, format!("at byte {}: {what}", self.at))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ConvertError> {
        if self.b.len() - self.at < n {
            return Err(self.err(format!("needs {n} more bytes, {} left", self.b.len() - self.at)));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, ConvertError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, ConvertError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn line(&mut self) -> Result<String, ConvertError> {
        let rest = &self.b[self.at..];
        let n = rest.iter().position(|&c| c == b'\n').ok_or_else(|| self.err("unterminated text line"))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(s)
    }

    /// Runs one pickle to its STOP and returns its value.
    fn pickle(&mut self) -> Result<V, ConvertError> {
        let mut stack: Vec<V> = Vec::new();
        let mut memo: BTreeMap<u32, V> = BTreeMap::new();
        let pop_mark = |stack: &mut Vec<V>, r: &Reader<'_>| -> Result<Vec<V>, ConvertError> {
            let m = stack.iter().rposition(|v| matches!(v, V::Mark)).ok_or_else(|| r.err("no MARK on the stack"))?;
            let items = stack.split_off(m + 1);
            stack.pop();
            Ok(items)
        };
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO n
                }
                b'.' => return stack.pop().ok_or_else(|| self.err("STOP on an empty stack")),
                b'}' => stack.push(V::Dict(Vec::new())),
                b']' => stack.push(V::List(Vec::new())),
                b')' => stack.push(V::Tuple(Vec::new())),
                b'(' => stack.push(V::Mark),
                b'N' => stack.push(V::None),
                0x88 => stack.push(V::Bool),
                0x89 => stack.push(V::Bool),
                b'K' => stack.push(V::Int(i128::from(self.u8()?))),
                b'M' => stack.push(V::Int(i128::from(u16::from_le_bytes(self.take(2)?.try_into().expect("2"))))),
                b'J' => stack.push(V::Int(i128::from(i32::from_le_bytes(self.take(4)?.try_into().expect("4"))))),
                0x8a => {
                    // LONG1: n little-endian two's-complement bytes.
                    let n = usize::from(self.u8()?);
                    let bytes = self.take(n)?;
                    if n > 15 {
                        return Err(self.err("LONG1 wider than 120 bits"));
                    }
                    let mut v: i128 = 0;
                    for (i, &by) in bytes.iter().enumerate() {
                        v |= i128::from(by) << (8 * i);
                    }
                    if n > 0 && bytes[n - 1] & 0x80 != 0 {
                        v -= 1i128 << (8 * n);
                    }
                    stack.push(V::Int(v));
                }
                b'G' => {
                    self.take(8)?;
                    stack.push(V::Float);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    stack.push(V::Str(s));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    stack.push(V::Global(format!("{module}.{name}")));
                }
                b'q' => {
                    let k = u32::from(self.u8()?);
                    memo.insert(k, stack.last().cloned().ok_or_else(|| self.err("BINPUT on an empty stack"))?);
                }
                b'r' => {
                    let k = self.u32()?;
                    memo.insert(k, stack.last().cloned().ok_or_else(|| self.err("LONG_BINPUT on an empty stack"))?);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' { u32::from(self.u8()?) } else { self.u32()? };
                    stack.push(memo.get(&k).cloned().ok_or_else(|| self.err(format!("memo {k} unset")))?);
                }
                b't' => {
                    let items = pop_mark(&mut stack, self)?;
                    stack.push(V::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if stack.len() < n {
                        return Err(self.err("TUPLEn on a short stack"));
                    }
                    let items = stack.split_off(stack.len() - n);
                    stack.push(V::Tuple(items));
                }
                b'Q' => {
                    // BINPERSID: ('storage', dtype, key, location, size[, view]).
                    let pid = stack.pop().ok_or_else(|| self.err("BINPERSID on an empty stack"))?;
                    match pid {
                        V::Tuple(t) if t.len() >= 3 => match (&t[1], &t[2]) {
                            (V::Global(dtype), V::Str(key)) => stack.push(V::Storage(dtype.clone(), key.clone())),
                            _ => return Err(self.err("persistent id is not a storage")),
                        },
                        _ => return Err(self.err("persistent id is not a tuple")),
                    }
                }
                b'R' => {
                    let args = stack.pop().ok_or_else(|| self.err("REDUCE on an empty stack"))?;
                    let f = stack.pop().ok_or_else(|| self.err("REDUCE without a callable"))?;
                    stack.push(self.reduce(f, args)?);
                }
                b'b' => {
                    // BUILD: the state of an object we do not model (e.g. an OrderedDict's
                    // metadata); keep the object.
                    stack.pop().ok_or_else(|| self.err("BUILD on an empty stack"))?;
                }
                b's' => {
                    if stack.len() < 3 {
                        return Err(self.err("SETITEM on a short stack"));
                    }
                    let v = stack.pop().expect("len checked");
                    let k = stack.pop().expect("len checked");
                    match stack.last_mut() {
                        Some(V::Dict(d)) => d.push((k, v)),
                        _ => return Err(self.err("SETITEM on a non-dict")),
                    }
                }
                b'u' => {
                    let items = pop_mark(&mut stack, self)?;
                    if items.len() % 2 != 0 {
                        return Err(self.err("SETITEMS with an odd count"));
                    }
                    let mut it = items.into_iter();
                    let Some(V::Dict(d)) = stack.last_mut() else { return Err(self.err("SETITEMS on a non-dict")) };
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        d.push((k, v));
                    }
                }
                b'a' => {
                    let v = stack.pop().ok_or_else(|| self.err("APPEND on an empty stack"))?;
                    match stack.last_mut() {
                        Some(V::List(l)) => l.push(v),
                        _ => return Err(self.err("APPEND on a non-list")),
                    }
                }
                b'e' => {
                    let items = pop_mark(&mut stack, self)?;
                    match stack.last_mut() {
                        Some(V::List(l)) => l.extend(items),
                        _ => return Err(self.err("APPENDS on a non-list")),
                    }
                }
                other => return Err(self.err(format!("unsupported pickle opcode 0x{other:02x}"))),
            }
            if stack.len() > 1 << 20 {
                return Err(self.err("pickle stack too deep"));
            }
        }
    }

    fn reduce(&self, f: V, args: V) -> Result<V, ConvertError> {
        let V::Global(name) = f else { return Err(self.err("REDUCE of a non-global")) };
        let V::Tuple(a) = args else { return Err(self.err("REDUCE arguments are not a tuple")) };
        let ints = |v: &V| -> Result<Vec<usize>, ConvertError> {
            match v {
                V::Tuple(t) => t
                    .iter()
                    .map(|x| match x {
                        V::Int(i) => usize::try_from(*i).map_err(|_| self.err("tensor size or stride out of range")),
                        _ => Err(self.err("tensor size or stride is not a non-negative int")),
                    })
                    .collect(),
                _ => Err(self.err("tensor size or stride is not a tuple")),
            }
        };
        match name.as_str() {
            "collections.OrderedDict" => Ok(V::Dict(Vec::new())),
            "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
                let (Some(V::Storage(dtype, key)), Some(V::Int(offset)), Some(size), Some(stride)) =
                    (a.first(), a.get(1), a.get(2), a.get(3))
                else {
                    return Err(self.err("malformed _rebuild_tensor_v2 arguments"));
                };
                Ok(V::View {
                    key: key.clone(),
                    dtype: dtype.clone(),
                    offset: usize::try_from(*offset).map_err(|_| self.err("negative storage offset"))?,
                    shape: ints(size)?,
                    stride: ints(stride)?,
                })
            }
            // Anything else (a module's class) is kept by name; its tensors are not used.
            _ => Ok(V::Global(name)),
        }
    }
}

fn find_dict<'v>(v: &'v V, key: &str) -> Option<&'v [(V, V)]> {
    match v {
        V::Dict(d) => d.iter().find_map(|(k, val)| match (k, val) {
            (V::Str(s), V::Dict(inner)) if s == key => Some(inner.as_slice()),
            _ => None,
        }),
        _ => None,
    }
}

/// Reads every float32 tensor of `state_key` (for example `model_state`; `None`: the
/// top-level dict itself) in a legacy-format torch file.
pub fn read_legacy_state(path: &Path, state_key: Option<&str>) -> Result<BTreeMap<String, Tensor>, ConvertError> {
    let bytes = std::fs::read(path).map_err(|e| ConvertError::io(path, e))?;
    let mut r = Reader { path, b: &bytes, at: 0 };
    match r.pickle()? {
        V::Int(m) if m == MAGIC => {}
        _ => {
            return Err(ConvertError::unsupported(
                path,
                "not a legacy torch file (no magic number; a zip-format .pt is not supported)",
            ))
        }
    }
    match r.pickle()? {
        V::Int(p) if p == PROTOCOL_VERSION => {}
        other => return Err(r.err(format!("unsupported torch protocol {other:?}"))),
    }
    let _sys_info = r.pickle()?;
    let obj = r.pickle()?;
    let V::List(keys) = r.pickle()? else { return Err(r.err("the storage key list is not a list")) };
    let mut storages: BTreeMap<String, &[u8]> = BTreeMap::new();
    for k in keys {
        let V::Str(k) = k else { return Err(r.err("a storage key is not a string")) };
        let n = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
        // Every storage here is float32; a count past the file's end is refused by take().
        let len = usize::try_from(n).ok().and_then(|n| n.checked_mul(4)).ok_or_else(|| r.err("storage too large"))?;
        storages.insert(k, r.take(len)?);
    }
    let state: &[(V, V)] = match state_key {
        Some(key) => find_dict(&obj, key).ok_or_else(|| r.err(format!("no {key:?} dict in the file")))?,
        None => match &obj {
            V::Dict(d) => d.as_slice(),
            _ => return Err(r.err("the saved object is not a dict")),
        },
    };
    let mut out = BTreeMap::new();
    for (k, v) in state {
        let (V::Str(name), V::View { key, dtype, offset, shape, stride }) = (k, v) else { continue };
        if dtype != "torch.FloatStorage" {
            return Err(r.err(format!("tensor {name} is {dtype}, not float32")));
        }
        let raw = storages.get(key).ok_or_else(|| r.err(format!("tensor {name}: storage {key} missing")))?;
        let count: usize = shape.iter().product();
        // Contiguous row-major views only (what a state dict holds).
        let mut expect = 1usize;
        for (d, s) in shape.iter().zip(stride).rev() {
            if *d > 1 && *s != expect {
                return Err(r.err(format!("tensor {name} is not contiguous")));
            }
            expect *= d;
        }
        let end = offset.checked_add(count).ok_or_else(|| r.err("tensor extent overflows"))?;
        if end * 4 > raw.len() {
            return Err(r.err(format!("tensor {name} runs past its storage")));
        }
        let data =
            raw[offset * 4..end * 4].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4"))).collect();
        out.insert(name.clone(), Tensor { shape: shape.clone(), data });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A legacy file holding `{"model_state": OrderedDict(w=tensor([[1,2],[3,4]]))}`,
    /// written opcode by opcode as torch.save does.
    fn tiny_file() -> Vec<u8> {
        let mut f = Vec::new();
        // The magic number: LONG1 of 10 bytes (it has 77 bits).
        f.extend([0x80, 2, 0x8a, 10]);
        f.extend(&MAGIC.to_le_bytes()[..10]);
        f.push(b'.');
        // Protocol 1001 as BININT2.
        f.extend([0x80, 2, b'M']);
        f.extend(1001u16.to_le_bytes());
        f.push(b'.');
        // System info: an empty dict.
        f.extend([0x80, 2, b'}', b'.']);
        // The object.
        let s = |f: &mut Vec<u8>, t: &str| {
            f.push(b'X');
            f.extend((t.len() as u32).to_le_bytes());
            f.extend(t.as_bytes());
        };
        f.extend([0x80, 2, b'}', b'(']);
        s(&mut f, "model_state");
        f.extend(b"ccollections\nOrderedDict\n");
        f.extend([b')', b'R', b'(']);
        s(&mut f, "w");
        f.extend(b"ctorch._utils\n_rebuild_tensor_v2\n");
        f.extend([b'(', b'(']);
        s(&mut f, "storage");
        f.extend(b"ctorch\nFloatStorage\n");
        s(&mut f, "123");
        s(&mut f, "cpu");
        f.extend([b'K', 4, b'N', b't', b'Q', b'K', 0, b'K', 2, b'K', 2, 0x86, b'K', 2, b'K', 1, 0x86, 0x89]);
        f.extend(b"ccollections\nOrderedDict\n");
        f.extend([b')', b'R', b't', b'R', b'u', b'u', b'.']);
        // Storage keys.
        f.extend([0x80, 2, b']', b'(']);
        s(&mut f, "123");
        f.extend([b'e', b'.']);
        f.extend(4u64.to_le_bytes());
        for v in [1f32, 2., 3., 4.] {
            f.extend(v.to_le_bytes());
        }
        f
    }

    #[test]
    fn reads_a_legacy_state_dict() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tiny.pt");
        std::fs::write(&p, tiny_file()).unwrap();
        let t = read_legacy_state(&p, Some("model_state")).unwrap();
        assert_eq!(t["w"], Tensor { shape: vec![2, 2], data: vec![1., 2., 3., 4.] });
    }

    #[test]
    fn truncated_or_foreign_files_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.pt");
        let full = tiny_file();
        for cut in [0, 5, 40, full.len() - 3] {
            std::fs::write(&p, &full[..cut]).unwrap();
            let e = read_legacy_state(&p, Some("model_state")).unwrap_err().to_string();
            assert!(e.contains("cut.pt"), "{e}");
        }
        std::fs::write(&p, b"PK\x03\x04 a zip").unwrap();
        assert!(read_legacy_state(&p, None).is_err());
    }
}
