//! Reader for the legacy (pre-zip, PyTorch < 1.6) `torch.save` format, which libtorch cannot load.
//!
//! Layout: a pickle of the magic number, a pickle of the protocol version (1001), a pickle of
//! system info (endianness, type sizes), the pickled state dict (tensors refer to storages by
//! persistent id `('storage', StorageType, key, location, numel, view_metadata)`), a pickled list
//! of storage keys, then for each key in that order: the element count as 8 little-endian bytes
//! and the raw elements. Tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size,
//! stride, ...)`; they are gathered through their strides (converted TF weights are often not
//! contiguous) into dense row-major f32.

use super::pickle::{self, Value};
use anyhow::{anyhow, bail, ensure, Context, Result};
use std::collections::HashMap;
use std::path::Path;

const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
const LEGACY_PROTOCOL: i128 = 1001;

/// One tensor of a checkpoint, dense, row-major, converted to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Element types of torch storages we can convert to f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StorageType {
    Float,
    Double,
    Long,
    Int,
}

impl StorageType {
    fn from_class(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::Float,
            "DoubleStorage" => Self::Double,
            "LongStorage" => Self::Long,
            "IntStorage" => Self::Int,
            _ => return None,
        })
    }

    fn element_size(self) -> usize {
        match self {
            Self::Float | Self::Int => 4,
            Self::Double | Self::Long => 8,
        }
    }

    fn decode(self, raw: &[u8]) -> Vec<f32> {
        let size = self.element_size();
        raw.chunks_exact(size)
            .map(|b| match self {
                Self::Float => f32::from_le_bytes(b.try_into().unwrap()),
                Self::Double => f64::from_le_bytes(b.try_into().unwrap()) as f32,
                Self::Long => i64::from_le_bytes(b.try_into().unwrap()) as f32,
                Self::Int => i32::from_le_bytes(b.try_into().unwrap()) as f32,
            })
            .collect()
    }
}

/// A tensor as the state dict describes it, before its storage is read.
struct TensorRef {
    storage_key: String,
    storage_type: StorageType,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// Reads every tensor of a legacy torch.save file, in state-dict order.
pub fn read_checkpoint(path: &Path) -> Result<Vec<(String, CheckpointTensor)>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_checkpoint(&bytes)
        .with_context(|| format!("{}: not a readable legacy torch checkpoint", path.display()))
}

/// [`read_checkpoint`] on bytes in memory.
pub fn parse_checkpoint(bytes: &[u8]) -> Result<Vec<(String, CheckpointTensor)>> {
    if bytes.starts_with(b"PK\x03\x04") {
        bail!("this is the zip-based torch.save format (PyTorch >= 1.6); only the legacy format is supported");
    }
    let (magic, pos) = pickle::read(bytes, 0).context("reading the magic number")?;
    ensure!(
        magic.as_int() == Some(LEGACY_MAGIC),
        "bad magic number: not a legacy torch.save file"
    );
    let (protocol, pos) = pickle::read(bytes, pos).context("reading the protocol version")?;
    ensure!(
        protocol.as_int() == Some(LEGACY_PROTOCOL),
        "unsupported legacy protocol {protocol:?}"
    );
    let (sys_info, pos) = pickle::read(bytes, pos).context("reading the system info")?;
    check_little_endian(&sys_info)?;
    let (state, pos) = pickle::read(bytes, pos).context("reading the state dict")?;
    let entries = tensor_refs(&state)?;
    let (keys, pos) = pickle::read(bytes, pos).context("reading the storage keys")?;
    let storages = read_storages(bytes, pos, &string_list(&keys)?, &entries)?;
    entries
        .into_iter()
        .map(|(name, tensor)| {
            let data = gather(&storages[&tensor.storage_key], &tensor)
                .with_context(|| format!("tensor {name}"))?;
            Ok((
                name,
                CheckpointTensor {
                    shape: tensor.size,
                    data,
                },
            ))
        })
        .collect()
}

fn check_little_endian(sys_info: &Value) -> Result<()> {
    let Value::Dict(items) = sys_info else {
        bail!("system info is a {}, not a dict", sys_info.kind());
    };
    let little = items
        .borrow()
        .iter()
        .find(|(k, _)| k.as_str() == Some("little_endian"))
        .map(|(_, v)| matches!(v, Value::Bool(true)));
    ensure!(
        little == Some(true),
        "only little-endian checkpoints are supported"
    );
    Ok(())
}

fn string_list(value: &Value) -> Result<Vec<String>> {
    let Value::List(items) = value else {
        bail!("storage keys are a {}, not a list", value.kind());
    };
    items
        .borrow()
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("a storage key is a {}", v.kind()))
        })
        .collect()
}

/// The state dict's name -> tensor description, in order.
fn tensor_refs(state: &Value) -> Result<Vec<(String, TensorRef)>> {
    let Value::Dict(items) = state else {
        bail!("the state dict is a {}, not a dict", state.kind());
    };
    items
        .borrow()
        .iter()
        .map(|(key, value)| {
            let name = key
                .as_str()
                .ok_or_else(|| anyhow!("a state-dict key is a {}", key.kind()))?
                .to_string();
            let tensor = tensor_ref(value).with_context(|| format!("entry {name}"))?;
            Ok((name, tensor))
        })
        .collect()
}

/// Decodes `_rebuild_tensor_v2(storage, offset, size, stride, ...)`.
fn tensor_ref(value: &Value) -> Result<TensorRef> {
    let Value::Object(object) = value else {
        bail!("expected a tensor, found a {}", value.kind());
    };
    let object = object.borrow();
    ensure!(
        object
            .callable
            .is_global("torch._utils", "_rebuild_tensor_v2"),
        "unsupported tensor constructor {:?}",
        object.callable
    );
    let [storage, offset, size, stride, ..] = &object.args[..] else {
        bail!("_rebuild_tensor_v2 needs at least 4 arguments");
    };
    let (storage_key, storage_type) = storage_ref(storage)?;
    Ok(TensorRef {
        storage_key,
        storage_type,
        offset: usize_of(offset)?,
        size: usize_tuple(size)?,
        stride: usize_tuple(stride)?,
    })
}

/// Decodes the persistent id `('storage', torch.XStorage, key, location, numel, view_metadata)`.
fn storage_ref(value: &Value) -> Result<(String, StorageType)> {
    let Value::Persistent(pid) = value else {
        bail!("tensor storage is a {}, not a persistent id", value.kind());
    };
    let Value::Tuple(fields) = pid.as_ref() else {
        bail!("persistent id is a {}, not a tuple", pid.kind());
    };
    let [kind, Value::Global { module, name }, key, ..] = &fields[..] else {
        bail!("persistent id does not look like ('storage', type, key, ...)");
    };
    ensure!(
        kind.as_str() == Some("storage"),
        "persistent id of kind {kind:?}"
    );
    let storage_type = StorageType::from_class(name)
        .filter(|_| module == "torch")
        .ok_or_else(|| anyhow!("unsupported storage type {module}.{name}"))?;
    let key = key
        .as_str()
        .ok_or_else(|| anyhow!("storage key is a {}", key.kind()))?;
    Ok((key.to_string(), storage_type))
}

fn usize_of(value: &Value) -> Result<usize> {
    let i = value
        .as_int()
        .ok_or_else(|| anyhow!("expected an integer, found a {}", value.kind()))?;
    usize::try_from(i).map_err(|_| anyhow!("{i} is not a valid size or offset"))
}

fn usize_tuple(value: &Value) -> Result<Vec<usize>> {
    let Value::Tuple(items) = value else {
        bail!("expected a tuple, found a {}", value.kind());
    };
    items.iter().map(usize_of).collect()
}

/// Reads the raw storages that follow the pickles, converting each to f32.
fn read_storages(
    bytes: &[u8],
    mut pos: usize,
    keys: &[String],
    entries: &[(String, TensorRef)],
) -> Result<HashMap<String, Vec<f32>>> {
    let types: HashMap<&str, StorageType> = entries
        .iter()
        .map(|(_, t)| (t.storage_key.as_str(), t.storage_type))
        .collect();
    let mut storages = HashMap::new();
    for key in keys {
        let storage_type = *types.get(key.as_str()).ok_or_else(|| {
            anyhow!("storage {key} is not used by any tensor, so its type is unknown")
        })?;
        let header = bytes
            .get(pos..pos + 8)
            .ok_or_else(|| anyhow!("storage {key}: the file ends before its size"))?;
        let numel = usize::try_from(u64::from_le_bytes(header.try_into().unwrap()))?;
        pos += 8;
        let len = numel
            .checked_mul(storage_type.element_size())
            .ok_or_else(|| anyhow!("storage {key}: absurd size {numel}"))?;
        let raw = bytes.get(pos..pos + len).ok_or_else(|| {
            anyhow!(
                "storage {key}: needs {len} bytes, the file has {} left",
                bytes.len() - pos
            )
        })?;
        pos += len;
        storages.insert(key.clone(), storage_type.decode(raw));
    }
    for (name, tensor) in entries {
        ensure!(
            storages.contains_key(&tensor.storage_key),
            "tensor {name}: storage {} is not in the file",
            tensor.storage_key
        );
    }
    Ok(storages)
}

/// Copies a strided view of a storage into a dense row-major buffer.
fn gather(storage: &[f32], t: &TensorRef) -> Result<Vec<f32>> {
    ensure!(
        t.size.len() == t.stride.len(),
        "size and stride differ in length"
    );
    let numel: usize = t.size.iter().product();
    if numel == 0 {
        return Ok(Vec::new());
    }
    let last = t.offset
        + t.size
            .iter()
            .zip(&t.stride)
            .map(|(n, s)| (n - 1) * s)
            .sum::<usize>();
    ensure!(
        last < storage.len(),
        "its view reaches element {last} of a storage of {}",
        storage.len()
    );
    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.size.len()];
    for _ in 0..numel {
        let at = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.push(storage[at]);
        // Odometer increment, last dimension fastest (row-major).
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by `scripts/effnet-reference.py --write-tiny-fixture` (Python's own pickle, torch's
    /// legacy layout): a transposed (non-contiguous) view, an offset view, a view sharing a
    /// storage, a LongStorage scalar and the `_metadata` that real state dicts carry.
    const TINY: &[u8] = include_bytes!("../../../tests/data/tiny-legacy.pth");

    fn tensor<'a>(all: &'a [(String, CheckpointTensor)], name: &str) -> &'a CheckpointTensor {
        &all.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn reads_strided_offset_and_shared_views() {
        let all = parse_checkpoint(TINY).unwrap();
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "conv.weight",
                "bn.running_mean",
                "bn.num_batches_tracked",
                "shared"
            ]
        );
        let conv = tensor(&all, "conv.weight");
        assert_eq!(conv.shape, vec![2, 3]);
        // storage [0..6) viewed with stride (1, 2): the transpose of [[0,1],[2,3],[4,5]].
        assert_eq!(conv.data, vec![0.0, 2.0, 4.0, 1.0, 3.0, 5.0]);
        assert_eq!(tensor(&all, "bn.running_mean").data, vec![7.0, 8.0]);
        let count = tensor(&all, "bn.num_batches_tracked");
        assert_eq!((count.shape.len(), count.data.clone()), (0, vec![42.0]));
        assert_eq!(tensor(&all, "shared").data, vec![3.0, 4.0, 5.0]);
    }

    #[test]
    fn a_truncated_file_names_the_storage() {
        let err = format!(
            "{:#}",
            parse_checkpoint(&TINY[..TINY.len() - 3]).unwrap_err()
        );
        assert!(err.contains("storage") && err.contains("bytes"), "{err}");
    }

    #[test]
    fn zip_and_foreign_files_are_refused_clearly() {
        let err = format!("{:#}", parse_checkpoint(b"PK\x03\x04rest").unwrap_err());
        assert!(err.contains("zip-based"), "{err}");
        let not_magic = b"\x80\x02K\x05.";
        let err = format!("{:#}", parse_checkpoint(not_magic).unwrap_err());
        assert!(err.contains("magic"), "{err}");
    }

    #[test]
    fn views_past_the_storage_end_are_errors() {
        let t = TensorRef {
            storage_key: "0".into(),
            storage_type: StorageType::Float,
            offset: 2,
            size: vec![2, 2],
            stride: vec![2, 1],
        };
        let err = gather(&[0.0; 5], &t).unwrap_err().to_string();
        assert!(err.contains("element 5"), "{err}");
        assert_eq!(
            gather(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &t).unwrap(),
            vec![2.0, 3.0, 4.0, 5.0]
        );
    }
}
