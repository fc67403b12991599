//! Reading and writing safetensors files: atomic writes, and reads that say exactly what is
//! wrong with a file (empty, truncated, not safetensors, a tensor of another dtype or shape,
//! data altered after saving).
//!
//! Model files and checkpoints are built on these two functions. Besides the caller's
//! metadata, every file written here carries a checksum of its tensors and of its other
//! metadata entries under [`CHECKSUM_KEY`], which [`SafetensorsFile::read`] verifies, so that
//! a flipped byte, in the tensors or in the header (architecture, scaling, names), is an error
//! rather than a silently different model. Other readers (PyTorch's
//! `safetensors.torch.load_file`) ignore it.
//!
//! Files written before the metadata was covered carry a checksum of the tensors alone,
//! prefixed [`TENSORS_ONLY_SCHEME`]; they still load, verified as far as their checksum goes.
//! The scheme is told by the prefix, so the model header's format version did not change.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use backprop_tensor::{Float, Tensor};
use safetensors::{Dtype, SafeTensors, View};

pub use crate::atomic_file::{write_atomic, write_atomic_with};
use crate::error::{ModelFileError, ModelFileErrorKind as Kind};

/// The metadata key of the checksum over all tensors (names, dtypes, shapes and bytes) and
/// the other metadata entries.
pub const CHECKSUM_KEY: &str = "backprop.checksum";

/// The prefix of the checksum this crate writes: tensors and metadata.
pub const CHECKSUM_SCHEME: &str = "fnv1a64m:";

/// The prefix of the checksum older versions wrote: tensors only (still read).
pub const TENSORS_ONLY_SCHEME: &str = "fnv1a64:";

/// The safetensors dtype of `F` (`F32` or `F64`).
pub fn dtype_of<F: Float>() -> Dtype {
    if F::NAME == "f32" { Dtype::F32 } else { Dtype::F64 }
}

/// A tensor's bytes in safetensors layout (little-endian, row-major).
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn to_bytes<F: Float>(t: &Tensor<F>) -> Bytes {
    let dtype = dtype_of::<F>();
    let mut data = Vec::with_capacity(t.len() * dtype.bitsize() / 8);
    for &x in t.as_slice() {
        if dtype == Dtype::F32 {
            data.extend_from_slice(&(x.to_f64() as f32).to_le_bytes());
        } else {
            data.extend_from_slice(&x.to_f64().to_le_bytes());
        }
    }
    Bytes { dtype, shape: t.shape().to_vec(), data }
}

/// A 64-bit FNV-1a checksum over the tensors in name order (each: name, dtype, shape, bytes)
/// and, when `metadata` is given, over its entries but [`CHECKSUM_KEY`] in key order (each:
/// key and value, both length-prefixed so that no two maps hash the same bytes). `None` gives
/// the older [`TENSORS_ONLY_SCHEME`]. It detects accidental alteration, not tampering.
fn checksum<'a>(
    tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
    metadata: Option<&HashMap<String, String>>,
) -> String {
    let mut sorted: Vec<_> = tensors.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (name, dtype, shape, data) in sorted {
        eat(name.as_bytes());
        eat(format!("{dtype:?}{shape:?}").as_bytes());
        eat(&(data.len() as u64).to_le_bytes());
        eat(data);
    }
    let Some(metadata) = metadata else {
        return format!("{TENSORS_ONLY_SCHEME}{h:016x}");
    };
    let entries: BTreeMap<&String, &String> = metadata.iter().filter(|(k, _)| *k != CHECKSUM_KEY).collect();
    for (key, value) in entries {
        for text in [key, value] {
            eat(&(text.len() as u64).to_le_bytes());
            eat(text.as_bytes());
        }
    }
    format!("{CHECKSUM_SCHEME}{h:016x}")
}

#[cfg(test)]
thread_local! {
    /// How many times this thread parsed a safetensors header: the counted work of the test
    /// that loading is linear in the number of tensors.
    pub(crate) static HEADER_PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts one header parse (tests only; nothing in release builds).
fn count_header_parse() {
    #[cfg(test)]
    HEADER_PARSES.with(|c| c.set(c.get() + 1));
}

/// Writes `tensors` (all of dtype `F`) and `metadata` to `path` atomically: into a temporary
/// file in the same directory, flushed to disk, then renamed over `path`. A reader never sees
/// a half-written file, and a failed write leaves the old file untouched.
///
/// # Errors
/// When a name repeats, or the file system refuses (naming the step).
pub fn write_safetensors<F: Float>(
    path: &Path,
    tensors: &[(String, &Tensor<F>)],
    metadata: &BTreeMap<String, String>,
) -> Result<(), ModelFileError> {
    let err = |kind| ModelFileError::new(path, kind);
    let bytes: Vec<(String, Bytes)> = tensors.iter().map(|(n, t)| (n.clone(), to_bytes(t))).collect();
    for (i, (name, _)) in bytes.iter().enumerate() {
        if bytes[..i].iter().any(|(n, _)| n == name) {
            return Err(err(Kind::Inconsistent { reason: format!("tensor name '{name}' is used twice") }));
        }
    }
    let mut meta: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let sum = checksum(
        bytes.iter().map(|(n, b)| (n.as_str(), b.dtype, b.shape.as_slice(), b.data.as_slice())),
        Some(&meta),
    );
    meta.insert(CHECKSUM_KEY.to_string(), sum);
    let views: Vec<(String, &Bytes)> = bytes.iter().map(|(n, b)| (n.clone(), b)).collect();
    let serialized = safetensors::serialize(views, Some(meta))
        .map_err(|e| err(Kind::Inconsistent { reason: format!("cannot serialize: {e}") }))?;
    let canonical = with_sorted_header(&serialized)
        .map_err(|reason| err(Kind::Inconsistent { reason: format!("cannot serialize: {reason}") }))?;
    write_atomic(path, &canonical)
}

/// Rewrites a serialized safetensors buffer with its JSON header's keys in sorted order.
///
/// `safetensors::serialize` takes the metadata as a `HashMap`, whose iteration order changes from
/// run to run; sorting makes the same model give the same bytes. Data offsets are relative to the
/// end of the header, so only the header and its length change.
fn with_sorted_header(serialized: &[u8]) -> Result<Vec<u8>, String> {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let entries: BTreeMap<String, serde_json::Value> =
                    map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::Value::Object(entries.into_iter().collect())
            }
            other => other,
        }
    }
    let len_bytes: [u8; 8] = serialized.get(..8).and_then(|b| b.try_into().ok()).ok_or("no header length")?;
    let header_len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|e| e.to_string())?;
    let header = serialized.get(8..8 + header_len).ok_or("header longer than the buffer")?;
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let mut text = serde_json::to_string(&sorted(value)).map_err(|e| e.to_string())?;
    // The format pads the header with spaces so that the data starts 8-byte aligned.
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + serialized.len() - 8 - header_len);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&serialized[8 + header_len..]);
    Ok(out)
}

/// The first tensor entry of a header whose dtype, shape and data offsets do not agree, named
/// (the `safetensors` crate's own message does not say which tensor).
fn bad_entry(entries: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let mut spans = Vec::new();
    for (name, entry) in entries.iter().filter(|(k, _)| *k != "__metadata__") {
        let dtype: Dtype = serde_json::from_value(entry.get("dtype")?.clone()).ok()?;
        let shape: Vec<usize> = serde_json::from_value(entry.get("shape")?.clone()).ok()?;
        let [start, end]: [usize; 2] = serde_json::from_value(entry.get("data_offsets")?.clone()).ok()?;
        let bits = shape.iter().try_fold(dtype.bitsize(), |n, &d| n.checked_mul(d))?;
        if end < start || end - start != bits / 8 {
            return Some(format!(
                "tensor '{name}' ({dtype:?}, shape {shape:?}) needs {} bytes but its data_offsets [{start}, {end}] hold {}",
                bits / 8,
                end.saturating_sub(start)
            ));
        }
        spans.push((start, end, name));
    }
    spans.sort();
    let mut expected_start = 0;
    for (start, end, name) in spans {
        if start != expected_start {
            return Some(format!(
                "tensor '{name}' starts at byte {start} of the data, expected {expected_start} (tensors must follow each other without gaps or overlaps)"
            ));
        }
        expected_start = end;
    }
    None
}

/// Where one tensor lies in a file's bytes, taken from the header once when the file is read.
struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    /// Absolute byte range of the tensor's data in the file.
    span: std::ops::Range<usize>,
}

/// A safetensors file read into memory and checked.
///
/// The header is parsed once, in [`SafetensorsFile::from_bytes`]; every later question (names,
/// shapes, dtypes, tensors) is answered from the index built then, so loading is linear in the
/// file's size however many tensors it holds.
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
    index: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile").field("path", &self.path).field("bytes", &self.bytes.len()).finish()
    }
}

const MAX_HEADER: u64 = 100_000_000;

impl SafetensorsFile {
    /// Reads and checks `path`: the header, that the data covers exactly what the header
    /// announces, and the checksum when the file has one.
    ///
    /// # Errors
    /// A read failure, a file that is not safetensors, is truncated, or was altered.
    pub fn read(path: &Path) -> Result<Self, ModelFileError> {
        let err = |kind| ModelFileError::new(path, kind);
        let bytes =
            backprop_data::read_input(path).map_err(|source| err(Kind::Io { action: "read", source }))?;
        Self::from_bytes(path, bytes)
    }

    /// Checks bytes as [`SafetensorsFile::read`] does; `path` only names them in errors.
    ///
    /// # Errors
    /// As [`SafetensorsFile::read`].
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, ModelFileError> {
        let err = |kind| ModelFileError::new(path, kind);
        let len = bytes.len();
        if len == 0 {
            return Err(err(Kind::NotSafetensors { reason: "the file is empty".into() }));
        }
        if len < 8 {
            return Err(err(Kind::Truncated {
                reason: format!(
                    "the file has {len} bytes; a safetensors file starts with an 8-byte header length"
                ),
            }));
        }
        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        if !(2..=MAX_HEADER).contains(&n) {
            return Err(err(Kind::NotSafetensors {
                reason: format!(
                    "its first 8 bytes give a header length of {n} bytes, which no safetensors file has"
                ),
            }));
        }
        let n = n as usize;
        if 8 + n > len {
            return Err(err(Kind::Truncated {
                reason: format!(
                    "the header needs {n} bytes after the length field but the file has only {}",
                    len - 8
                ),
            }));
        }
        let header = std::str::from_utf8(&bytes[8..8 + n])
            .ok()
            .filter(|h| h.trim_start().starts_with('{'))
            .ok_or_else(|| err(Kind::NotSafetensors { reason: "the header is not JSON".into() }))?;
        let value: serde_json::Value = serde_json::from_str(header).map_err(|e| {
            err(Kind::NotSafetensors { reason: format!("the header is not valid JSON: {e}") })
        })?;
        let entries = value
            .as_object()
            .ok_or_else(|| err(Kind::NotSafetensors { reason: "the header is not a JSON object".into() }))?;
        let data_end = entries
            .iter()
            .filter(|(k, _)| *k != "__metadata__")
            .filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64())
            .max()
            .unwrap_or(0) as usize;
        let available = len - 8 - n;
        if data_end > available {
            return Err(err(Kind::Truncated {
                reason: format!(
                    "the tensor data should end at byte {} but the file has only {len} bytes",
                    8 + n + data_end
                ),
            }));
        }
        if data_end < available {
            return Err(err(Kind::NotSafetensors {
                reason: format!("{} bytes follow the last tensor's data", available - data_end),
            }));
        }
        let parsed = SafeTensors::deserialize(&bytes).map_err(|e| {
            let reason = bad_entry(entries).unwrap_or_else(|| e.to_string());
            err(Kind::NotSafetensors { reason: format!("invalid header: {reason}") })
        })?;
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| err(Kind::NotSafetensors { reason: format!("invalid header: {e}") }))?;
        count_header_parse();
        let metadata = meta.metadata().clone().unwrap_or_default();
        if let Some(stored) = metadata.get(CHECKSUM_KEY) {
            let tensors = parsed.tensors();
            let views = || tensors.iter().map(|(n, v)| (n.as_str(), v.dtype(), v.shape(), v.data()));
            let (computed, what) = if stored.starts_with(TENSORS_ONLY_SCHEME) {
                (checksum(views(), None), "the tensors were")
            } else {
                (checksum(views(), Some(&metadata)), "the tensors or the metadata were")
            };
            if *stored != computed {
                return Err(err(Kind::Inconsistent {
                    reason: format!(
                        "checksum mismatch: {what} altered after saving (stored {stored}, computed {computed})"
                    ),
                }));
            }
        }
        drop(parsed);
        let data_start = 8 + n;
        let index = meta
            .tensors()
            .into_iter()
            .map(|(name, info)| {
                let (start, end) = info.data_offsets;
                let entry = Entry {
                    dtype: info.dtype,
                    shape: info.shape.clone(),
                    span: data_start + start..data_start + end,
                };
                (name, entry)
            })
            .collect();
        Ok(SafetensorsFile { path: path.to_path_buf(), bytes, metadata, index })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The string metadata (`__metadata__`).
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.index.keys().cloned().collect()
    }

    /// Whether the file holds a tensor `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The shape of a tensor, if the file has it.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.index.get(name).map(|e| e.shape.clone())
    }

    /// The dtype of a tensor, if the file has it.
    pub fn dtype(&self, name: &str) -> Option<Dtype> {
        self.index.get(name).map(|e| e.dtype)
    }

    /// Reads tensor `name` as `F`, checking its dtype and, when given, its shape.
    ///
    /// # Errors
    /// A missing tensor, another dtype, another shape.
    pub fn tensor<F: Float>(
        &self,
        name: &str,
        expected_shape: Option<&[usize]>,
    ) -> Result<Tensor<F>, ModelFileError> {
        let err = |kind| ModelFileError::new(&self.path, kind);
        let view = self.index.get(name).ok_or_else(|| {
            err(Kind::MissingTensor {
                name: name.to_string(),
                expected: expected_shape.unwrap_or_default().to_vec(),
            })
        })?;
        let want = dtype_of::<F>();
        if view.dtype != want {
            return Err(err(Kind::DtypeMismatch {
                name: name.to_string(),
                found: format!("{:?}", view.dtype),
                expected: format!("{want:?}"),
            }));
        }
        if let Some(shape) = expected_shape
            && view.shape != shape
        {
            return Err(err(Kind::ShapeMismatch {
                name: name.to_string(),
                found: view.shape.clone(),
                expected: shape.to_vec(),
            }));
        }
        // In range: `from_bytes` checked that the data covers every span the header announces.
        let data = &self.bytes[view.span.clone()];
        let values: Vec<F> = if want == Dtype::F32 {
            data.chunks_exact(4)
                .map(|c| F::from_f64(f32::from_le_bytes(c.try_into().expect("4")) as f64))
                .collect()
        } else {
            data.chunks_exact(8).map(|c| F::from_f64(f64::from_le_bytes(c.try_into().expect("8")))).collect()
        };
        Tensor::try_from_vec(&view.shape, values)
            .map_err(|e| err(Kind::Inconsistent { reason: format!("tensor '{name}': {e}") }))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("backprop-nn-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trip_is_exact_and_leaves_no_temporary_file() {
        let dir = temp_dir("st-roundtrip");
        let path = dir.join("t.safetensors");
        let a = Tensor::from_vec(&[2, 2], vec![0.1_f32, -2.5, f32::MIN_POSITIVE, 3.0e38]);
        let b = Tensor::from_vec(&[3], vec![1.0_f32 / 3.0, 0.0, -0.0]);
        let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
        write_safetensors(&path, &[("a".into(), &a), ("b".into(), &b)], &meta).unwrap();
        let file = SafetensorsFile::read(&path).unwrap();
        assert_eq!(file.tensor::<f32>("a", Some(&[2, 2])).unwrap(), a);
        assert_eq!(file.tensor::<f32>("b", None).unwrap().to_vec(), b.to_vec());
        assert_eq!(file.metadata()["k"], "v");
        assert_eq!(file.names(), ["a", "b"]);
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        let err = file.tensor::<f64>("a", None).unwrap_err().to_string();
        assert!(err.ends_with("tensor 'a' has dtype F32, expected F64"), "{err}");
        let err = file.tensor::<f32>("a", Some(&[4])).unwrap_err().to_string();
        assert!(err.ends_with("tensor 'a' has shape [2, 2], expected [4]"), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn damaged_files_are_explained() {
        let dir = temp_dir("st-damaged");
        let path = dir.join("t.safetensors");
        let a = Tensor::from_vec(&[4], vec![1.0_f64, 2.0, 3.0, 4.0]);
        write_safetensors(&path, &[("a".into(), &a)], &BTreeMap::new()).unwrap();
        let good = fs::read(&path).unwrap();
        let check = |bytes: Vec<u8>, expected: &str| {
            let err = SafetensorsFile::from_bytes(Path::new("m.safetensors"), bytes).unwrap_err().to_string();
            assert!(err.starts_with("m.safetensors: "), "{err}");
            assert!(err.contains(expected), "{err} does not contain {expected}");
        };
        check(Vec::new(), "not a safetensors file: the file is empty");
        check(good[..5].to_vec(), "truncated: the file has 5 bytes");
        check(good[..20].to_vec(), "truncated: the header needs");
        check(good[..good.len() - 3].to_vec(), "truncated: the tensor data should end at byte");
        check(
            b"name,value\n1,2\n3,4\n".to_vec(),
            "not a safetensors file: its first 8 bytes give a header length",
        );
        let mut short_span = good.clone();
        let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&good[8..8 + header_len]).unwrap();
        let changed = header.replacen("\"data_offsets\":[0,32]", "\"data_offsets\":[0,24]", 1);
        assert_ne!(header, changed);
        short_span[8..8 + header_len].copy_from_slice(changed.as_bytes());
        short_span.truncate(short_span.len() - 8);
        check(
            short_span,
            "not a safetensors file: invalid header: tensor 'a' (F64, shape [4]) needs 32 bytes but its data_offsets [0, 24] hold 24",
        );
        let mut extra = good.clone();
        extra.push(0);
        check(extra, "not a safetensors file: 1 bytes follow the last tensor's data");
        let mut altered = good.clone();
        let last = altered.len() - 1;
        altered[last] ^= 0x40;
        check(
            altered,
            "inconsistent: checksum mismatch: the tensors or the metadata were altered after saving",
        );
        assert!(SafetensorsFile::from_bytes(Path::new("m"), good).is_ok());
        let err = SafetensorsFile::read(&dir.join("absent.safetensors")).unwrap_err().to_string();
        assert!(err.contains("absent.safetensors: cannot read: "), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }
}

#[cfg(test)]
mod checksum_tests {
    use super::*;

    /// The bytes of a file holding tensor `a` and metadata `k = v`, with `sum` (a function of
    /// the tensors and the metadata) as its checksum, as an older version would have written it.
    fn file_with(
        sum: impl Fn(&[(&str, Dtype, &[usize], &[u8])], &HashMap<String, String>) -> String,
    ) -> Vec<u8> {
        let a = to_bytes(&Tensor::from_vec(&[2], vec![1.5_f32, -2.0]));
        let mut meta = HashMap::from([("k".to_string(), "v".to_string())]);
        let tensors = [("a", a.dtype, a.shape.as_slice(), a.data.as_slice())];
        meta.insert(CHECKSUM_KEY.to_string(), sum(&tensors, &meta));
        safetensors::serialize([("a".to_string(), &a)], Some(meta)).unwrap()
    }

    #[test]
    fn the_checksum_covers_the_metadata() {
        let bytes = file_with(|t, m| checksum(t.iter().copied(), Some(m)));
        assert!(SafetensorsFile::from_bytes(Path::new("m"), bytes.clone()).is_ok());
        let at = bytes.windows(5).position(|w| w == br#""k":""#).expect("the key is in the header");
        let mut changed = bytes.clone();
        changed[at + 1] = b'j';
        let err = SafetensorsFile::from_bytes(Path::new("m"), changed).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch: the tensors or the metadata were altered"), "{err}");
    }

    #[test]
    fn files_with_the_older_tensors_only_checksum_still_load_and_are_checked() {
        let bytes = file_with(|t, _| checksum(t.iter().copied(), None));
        let file = SafetensorsFile::from_bytes(Path::new("m"), bytes.clone()).unwrap();
        assert!(file.metadata()[CHECKSUM_KEY].starts_with(TENSORS_ONLY_SCHEME));
        assert_eq!(file.tensor::<f32>("a", Some(&[2])).unwrap().to_vec(), vec![1.5, -2.0]);
        let mut altered = bytes;
        let last = altered.len() - 1;
        altered[last] ^= 1;
        let err = SafetensorsFile::from_bytes(Path::new("m"), altered).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch: the tensors were altered"), "{err}");
    }
}

#[cfg(test)]
mod sorted_header_tests {
    use std::fs;

    use super::*;

    #[test]
    fn same_tensors_and_metadata_give_the_same_bytes() {
        let dir = std::env::temp_dir().join(format!("backprop-nn-sorted-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let w = Tensor::<f32>::from_vec(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = Tensor::<f32>::from_vec(&[3], vec![0.5, -0.5, 0.25]);
        let metadata: BTreeMap<String, String> =
            (0..12).map(|i| (format!("key{i}"), format!("value {i}"))).collect();
        let mut files = Vec::new();
        for run in 0..4 {
            let path = dir.join(format!("m{run}.safetensors"));
            write_safetensors(&path, &[("0.weight".into(), &w), ("0.bias".into(), &b)], &metadata).unwrap();
            files.push(fs::read(&path).unwrap());
        }
        assert!(files.windows(2).all(|p| p[0] == p[1]), "every write gives the same bytes");
        let file = SafetensorsFile::read(&dir.join("m0.safetensors")).unwrap();
        assert_eq!(file.tensor::<f32>("0.weight", Some(&[2, 3])).unwrap(), w);
        assert_eq!(file.metadata()["key7"], "value 7");
        fs::remove_dir_all(dir).unwrap();
    }
}
