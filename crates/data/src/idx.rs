//! Reading and writing IDX files, the format of the MNIST data set.
//!
//! An IDX file is a header and the elements in row-major order, all big-endian:
//! two zero bytes, a type code (`0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32,
//! `0x0E` f64), the number of dimensions `d`, then `d` sizes as u32, then the data.

use std::io::{BufReader, Read, Write};

use flate2::read::MultiGzDecoder;
use std::path::Path;

use backprop_tensor::{Float, Tensor};

use crate::error::{DataError, Result};

/// The element type of an IDX file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxType {
    /// Unsigned byte (code `0x08`), the type of MNIST images and labels.
    U8,
    /// Signed byte (code `0x09`).
    I8,
    /// Big-endian 16-bit integer (code `0x0B`).
    I16,
    /// Big-endian 32-bit integer (code `0x0C`).
    I32,
    /// Big-endian 32-bit float (code `0x0D`).
    F32,
    /// Big-endian 64-bit float (code `0x0E`).
    F64,
}

impl IdxType {
    const ALL: [IdxType; 6] =
        [IdxType::U8, IdxType::I8, IdxType::I16, IdxType::I32, IdxType::F32, IdxType::F64];

    /// The type from its code in the header.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The code in the header.
    pub fn code(self) -> u8 {
        match self {
            IdxType::U8 => 0x08,
            IdxType::I8 => 0x09,
            IdxType::I16 => 0x0B,
            IdxType::I32 => 0x0C,
            IdxType::F32 => 0x0D,
            IdxType::F64 => 0x0E,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }

    /// The Rust name of the type (`u8`, `i16`, `f32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            IdxType::U8 => "u8",
            IdxType::I8 => "i8",
            IdxType::I16 => "i16",
            IdxType::I32 => "i32",
            IdxType::F32 => "f32",
            IdxType::F64 => "f64",
        }
    }
}

/// The elements of an IDX file, in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum IdxData {
    /// `0x08` elements.
    U8(Vec<u8>),
    /// `0x09` elements.
    I8(Vec<i8>),
    /// `0x0B` elements.
    I16(Vec<i16>),
    /// `0x0C` elements.
    I32(Vec<i32>),
    /// `0x0D` elements.
    F32(Vec<f32>),
    /// `0x0E` elements.
    F64(Vec<f64>),
}

impl IdxData {
    /// The element type.
    pub fn dtype(&self) -> IdxType {
        match self {
            IdxData::U8(_) => IdxType::U8,
            IdxData::I8(_) => IdxType::I8,
            IdxData::I16(_) => IdxType::I16,
            IdxData::I32(_) => IdxType::I32,
            IdxData::F32(_) => IdxType::F32,
            IdxData::F64(_) => IdxType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `f64` (exact for every IDX type).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            IdxData::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            IdxData::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            IdxData::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            IdxData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            IdxData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            IdxData::F64(v) => v.clone(),
        }
    }

    /// The elements as integers, or `None` for the float types.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        match self {
            IdxData::U8(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            IdxData::I8(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            IdxData::I16(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            IdxData::I32(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            IdxData::F32(_) | IdxData::F64(_) => None,
        }
    }

    /// The big-endian bytes of the elements.
    fn to_be_bytes(&self) -> Vec<u8> {
        match self {
            IdxData::U8(v) => v.clone(),
            IdxData::I8(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
            IdxData::I16(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
            IdxData::I32(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
            IdxData::F32(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
            IdxData::F64(v) => v.iter().flat_map(|x| x.to_be_bytes()).collect(),
        }
    }

    /// Decodes big-endian bytes (their length is a multiple of the type's size).
    fn from_be_bytes(dtype: IdxType, bytes: Vec<u8>) -> Self {
        fn decode<const N: usize, T>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
            bytes.chunks_exact(N).map(|c| f(c.try_into().expect("chunks of N bytes"))).collect()
        }
        match dtype {
            IdxType::U8 => IdxData::U8(bytes),
            IdxType::I8 => IdxData::I8(decode(&bytes, i8::from_be_bytes)),
            IdxType::I16 => IdxData::I16(decode(&bytes, i16::from_be_bytes)),
            IdxType::I32 => IdxData::I32(decode(&bytes, i32::from_be_bytes)),
            IdxType::F32 => IdxData::F32(decode(&bytes, f32::from_be_bytes)),
            IdxType::F64 => IdxData::F64(decode(&bytes, f64::from_be_bytes)),
        }
    }
}

/// An n-dimensional array read from (or to be written to) an IDX file.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: IdxData,
}

impl IdxArray {
    /// An array of the given dimensions.
    ///
    /// # Errors
    /// When there are no dimensions, more than 255, a size does not fit in a u32, the data
    /// does not have the product of the sizes elements, or a size of 0 hides sizes whose
    /// product no tensor can have (`[0, 4294967295, 4294967295]`).
    pub fn new(dims: Vec<usize>, data: IdxData) -> Result<Self> {
        if dims.is_empty() || dims.len() > 255 {
            return Err(DataError::invalid(
                "idx",
                format!("an IDX array has 1 to 255 dimensions, got {}", dims.len()),
            ));
        }
        if let Some(&big) = dims.iter().find(|&&d| u32::try_from(d).is_err()) {
            return Err(DataError::invalid("idx", format!("dimension {big} does not fit in a u32")));
        }
        let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if count != Some(data.len()) {
            return Err(DataError::invalid(
                "idx",
                format!("dims {dims:?} need {} elements, the data has {}", describe_count(&dims), data.len()),
            ));
        }
        if !addressable(&dims) {
            return Err(DataError::invalid("idx", unaddressable(&dims)));
        }
        Ok(IdxArray { dims, data })
    }

    /// The size of each dimension.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The elements, in row-major order.
    pub fn data(&self) -> &IdxData {
        &self.data
    }

    /// The dimensions and the elements.
    pub fn into_parts(self) -> (Vec<usize>, IdxData) {
        (self.dims, self.data)
    }

    /// The element type.
    pub fn dtype(&self) -> IdxType {
        self.data.dtype()
    }

    /// The array as a tensor of the same shape, each element converted to `F`.
    pub fn to_tensor<F: Float>(&self) -> Tensor<F> {
        let values = self.data.to_f64_vec().into_iter().map(F::from_f64).collect();
        Tensor::from_vec(&self.dims, values)
    }
}

/// Whether an array of `dims` can be a tensor: the product of the sizes other than 0 must fit
/// in an `isize` (ndarray's rule), even when a size of 0 leaves no elements.
fn addressable(dims: &[usize]) -> bool {
    dims.iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .is_some_and(|n| isize::try_from(n).is_ok())
}

/// Why [`addressable`] refuses `dims`.
fn unaddressable(dims: &[usize]) -> String {
    format!(
        "dims {dims:?} hold no elements, but their other sizes multiply to more than this machine can address"
    )
}

/// The product of `dims` for a message, or "more than 2^64" when it overflows.
fn describe_count(dims: &[usize]) -> String {
    match dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)) {
        Some(count) => count.to_string(),
        None => "more than 2^64".to_string(),
    }
}

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];

/// Deflate never expands data more than 1032 times, so a compressed stream of `n` bytes
/// decompresses to at most `1032·n`: a bound on what reading it can need.
const DEFLATE_MAX_RATIO: u64 = 1032;

/// How the IDX bytes are stored, and what that says about their size before reading.
#[derive(Debug, Clone, Copy)]
enum Storage {
    /// Uncompressed; the exact size when it is a file.
    Plain { len: Option<u64> },
    /// Gzip-compressed; the compressed size when it is a file.
    Gzip { compressed_len: Option<u64> },
}

impl Storage {
    /// What the messages call the bytes that were counted.
    fn noun(self) -> &'static str {
        match self {
            Storage::Plain { .. } => "the file",
            Storage::Gzip { .. } => "the decompressed file",
        }
    }
}

/// Reads an IDX file, uncompressed or gzip-compressed (as MNIST downloads ship, `.gz`).
///
/// Gzip is recognised by its first two bytes (`1F 8B`), whatever the name, and decompressed
/// while reading (nothing is written to disk). The header is checked before any element is
/// read: against the file's size when uncompressed, so a header claiming more elements than
/// the file holds (say 2^40) is an error, not an allocation; when compressed, no more is
/// reserved than the compressed size can decompress to (deflate's 1032:1), and the header's
/// claim is checked against the bytes the stream really decompresses to.
///
/// # Errors
/// When the file cannot be read, is named `.gz` but is not gzip, holds gzip data that is
/// truncated or corrupt (a damaged block, a wrong checksum), has a wrong magic number, an
/// unknown type code or no dimensions, dimensions no tensor can have (as [`IdxArray::new`]),
/// is shorter than its header says (truncated), or longer.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let io = |source| DataError::Io { file: name.clone(), source };
    let (file, size) = crate::input_file::open_input(path).map_err(io)?;
    let (head, reader) = peek_two(BufReader::new(file), &name)?;
    let gzip = head == GZIP_MAGIC;
    if !gzip && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
        return Err(DataError::idx(&name, not_gzip(&head)));
    }
    if gzip {
        read_idx_stored(MultiGzDecoder::new(reader), &name, Storage::Gzip { compressed_len: Some(size) })
    } else {
        read_idx_stored(reader, &name, Storage::Plain { len: Some(size) })
    }
}

/// Reads an IDX array from a stream, uncompressed or gzip-compressed (recognised by its first
/// two bytes); `source` names it in error messages.
///
/// Memory grows only with the bytes actually read, so a lying header cannot make it allocate
/// more than the stream holds.
///
/// # Errors
/// As [`read_idx`].
pub fn read_idx_from(reader: impl Read, source: &str) -> Result<IdxArray> {
    let (head, reader) = peek_two(reader, source)?;
    if head == GZIP_MAGIC {
        read_idx_stored(MultiGzDecoder::new(reader), source, Storage::Gzip { compressed_len: None })
    } else {
        read_idx_stored(reader, source, Storage::Plain { len: None })
    }
}

/// The first two bytes of `reader` (fewer when it is shorter), and a reader of all its bytes.
fn peek_two(mut reader: impl Read, source: &str) -> Result<(Vec<u8>, impl Read)> {
    let mut head = Vec::with_capacity(2);
    (&mut reader)
        .take(2)
        .read_to_end(&mut head)
        .map_err(|e| DataError::Io { file: source.to_string(), source: e })?;
    Ok((head.clone(), std::io::Cursor::new(head).chain(reader)))
}

/// Why a file named `.gz` that does not start with gzip's magic is refused.
fn not_gzip(start: &[u8]) -> String {
    match start {
        [a, b, ..] => format!("not gzip data: it starts with 0x{a:02X} 0x{b:02X}, not 0x1F 0x8B"),
        _ => format!("not gzip data: the file has {} byte(s), a gzip header needs 10", start.len()),
    }
}

/// The error of a failed read: for gzip data, what is wrong with the compressed stream.
fn read_error(source: &str, storage: Storage, e: std::io::Error) -> DataError {
    match storage {
        Storage::Plain { .. } => DataError::Io { file: source.to_string(), source: e },
        Storage::Gzip { .. } if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            DataError::idx(source, "truncated gzip data: the file ends inside the compressed stream")
        }
        Storage::Gzip { .. } => DataError::idx(source, format!("corrupt gzip data: {e}")),
    }
}

fn read_idx_stored(mut reader: impl Read, source: &str, storage: Storage) -> Result<IdxArray> {
    let io = |e| read_error(source, storage, e);
    let noun = storage.noun();
    let mut magic = Vec::with_capacity(4);
    (&mut reader).take(4).read_to_end(&mut magic).map_err(io)?;
    if magic.len() >= 2 && magic[..2] == GZIP_MAGIC {
        return Err(DataError::idx(source, "the file is gzip-compressed twice; decompress it once (gunzip)"));
    }
    if magic.len() < 4 {
        return Err(DataError::idx(
            source,
            format!("truncated: {noun} has {} bytes, an IDX header needs at least 4", magic.len()),
        ));
    }
    if magic[..2] != [0, 0] {
        return Err(DataError::idx(
            source,
            format!("not an IDX file: it starts with 0x{:02X} 0x{:02X}, not 0x00 0x00", magic[0], magic[1]),
        ));
    }
    let dtype = IdxType::from_code(magic[2]).ok_or_else(|| {
        DataError::idx(
            source,
            format!(
                "unknown IDX type code 0x{:02X} (expected 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32 or 0x0E f64)",
                magic[2]
            ),
        )
    })?;
    let ndims = usize::from(magic[3]);
    if ndims == 0 {
        return Err(DataError::idx(source, "the header has 0 dimensions"));
    }
    let header_len = 4 + 4 * ndims;
    let mut raw_dims = Vec::with_capacity(4 * ndims);
    (&mut reader).take(4 * ndims as u64).read_to_end(&mut raw_dims).map_err(io)?;
    if raw_dims.len() < 4 * ndims {
        return Err(DataError::idx(
            source,
            format!(
                "truncated: the header of {ndims} dimensions needs {header_len} bytes, {noun} has {}",
                4 + raw_dims.len()
            ),
        ));
    }
    let dims: Vec<usize> = raw_dims
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")) as usize)
        .collect();

    let Some(needed) = dims.iter().try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d as u64)) else {
        let reason = format!("dims {dims:?} of {} need more than 2^64 bytes of data", dtype.name());
        return Err(DataError::idx(source, reason));
    };
    let describe = || format!("dims {dims:?} of {} need {needed} bytes of data", dtype.name());
    if needed > isize::MAX as u64 {
        return Err(DataError::idx(source, format!("{}, more than this machine can address", describe())));
    }
    if !addressable(&dims) {
        return Err(DataError::idx(source, unaddressable(&dims)));
    }
    // A gzip file's data can be far larger than the file: its decompressed size is bounded too
    // (a plain file's size was bounded when it was opened, and must equal the data's).
    let limit = crate::input_file::max_input_bytes();
    if matches!(storage, Storage::Gzip { .. }) && needed > limit {
        return Err(DataError::idx(
            source,
            format!(
                "{}, more than the input limit of {limit} bytes (set {} to raise it)",
                describe(),
                crate::input_file::MAX_INPUT_BYTES_ENV
            ),
        ));
    }
    // The most bytes the data can have, known before reading any: reserving that much (not
    // the header's claim) keeps a lying header from allocating.
    let at_most = match storage {
        Storage::Plain { len: Some(len) } => {
            let available = len.saturating_sub(header_len as u64);
            if available < needed {
                return Err(DataError::idx(
                    source,
                    format!("truncated: {}, the file has {available}", describe()),
                ));
            }
            if available > needed {
                let extra = available - needed;
                return Err(DataError::idx(
                    source,
                    format!("{}, the file has {extra} more bytes after them", describe()),
                ));
            }
            needed
        }
        Storage::Gzip { compressed_len: Some(len) } => len.saturating_mul(DEFLATE_MAX_RATIO),
        Storage::Plain { len: None } | Storage::Gzip { compressed_len: None } => 0,
    };
    let mut bytes = Vec::with_capacity(needed.min(at_most) as usize);
    (&mut reader).take(needed).read_to_end(&mut bytes).map_err(io)?;
    if (bytes.len() as u64) < needed {
        return Err(DataError::idx(source, format!("truncated: {}, {noun} has {}", describe(), bytes.len())));
    }
    // Reading to the end also makes the gzip decoder check the stream's length and CRC-32.
    let extra = std::io::copy(&mut reader, &mut std::io::sink()).map_err(io)?;
    if extra > 0 {
        return Err(DataError::idx(
            source,
            format!("{}, {noun} has {extra} more bytes after them", describe()),
        ));
    }
    Ok(IdxArray { dims, data: IdxData::from_be_bytes(dtype, bytes) })
}

/// Writes an IDX file.
///
/// # Errors
/// When the file cannot be written.
pub fn write_idx(path: impl AsRef<Path>, array: &IdxArray) -> Result<()> {
    let path = path.as_ref();
    let io = |source| DataError::Io { file: path.display().to_string(), source };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    out.write_all(&idx_bytes(array)).map_err(io)?;
    out.flush().map_err(io)
}

/// The bytes of an IDX file holding `array`.
pub fn idx_bytes(array: &IdxArray) -> Vec<u8> {
    let mut bytes = vec![0, 0, array.dtype().code(), array.dims.len() as u8];
    for &d in &array.dims {
        bytes.extend_from_slice(&(d as u32).to_be_bytes());
    }
    bytes.extend(array.data.to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A path no other test (in this process or another) uses at the same time: tests run in
    /// parallel, and two of them writing and removing the same `t.idx` race.
    fn temp_path(name: &str) -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("backprop-data-{}-{n}-{name}", std::process::id()))
    }

    fn header(code: u8, dims: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0, 0, code, dims.len() as u8];
        dims.iter().for_each(|d| bytes.extend_from_slice(&d.to_be_bytes()));
        bytes
    }

    fn message(bytes: &[u8]) -> String {
        let from_stream = read_idx_from(bytes, "t.idx").unwrap_err().to_string();
        let path = temp_path("t.idx");
        std::fs::write(&path, bytes).unwrap();
        let from_file = read_idx(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        let from_file = from_file.replace(&path.display().to_string(), "t.idx");
        assert_eq!(from_stream, from_file, "stream and file readers agree");
        from_stream
    }

    #[test]
    fn every_type_round_trips_through_a_file() {
        let arrays = [
            IdxArray::new(vec![2, 3], IdxData::U8(vec![0, 1, 2, 253, 254, 255])).unwrap(),
            IdxArray::new(vec![3], IdxData::I8(vec![-128, 0, 127])).unwrap(),
            IdxArray::new(vec![1, 2], IdxData::I16(vec![-30000, 258])).unwrap(),
            IdxArray::new(vec![2], IdxData::I32(vec![i32::MIN, 16909060])).unwrap(),
            IdxArray::new(vec![2, 1, 1], IdxData::F32(vec![-1.5, f32::MAX])).unwrap(),
            IdxArray::new(vec![2], IdxData::F64(vec![std::f64::consts::PI, -0.0])).unwrap(),
        ];
        for array in arrays {
            let path = temp_path(&format!("{}.idx", array.dtype().name()));
            write_idx(&path, &array).unwrap();
            assert_eq!(read_idx(&path).unwrap(), array);
            std::fs::remove_file(&path).unwrap();
        }
        // The bytes are big-endian as the format says: 258 = 0x0102.
        let bytes = idx_bytes(&IdxArray::new(vec![1], IdxData::I16(vec![258])).unwrap());
        assert_eq!(bytes, vec![0, 0, 0x0B, 1, 0, 0, 0, 1, 1, 2]);
        let t = IdxArray::new(vec![2, 2], IdxData::I8(vec![1, -2, 3, -4])).unwrap().to_tensor::<f32>();
        assert_eq!((t.shape(), t.to_vec()), (&[2, 2][..], vec![1.0, -2.0, 3.0, -4.0]));
    }

    #[test]
    fn bad_headers_and_sizes_are_rejected() {
        let mut huge = header(0x08, &[1 << 20, 1 << 20]);
        huge.extend_from_slice(&[1, 2, 3]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "t.idx: truncated: the file has 0 bytes, an IDX header needs at least 4"),
            (vec![0, 0, 8], "t.idx: truncated: the file has 3 bytes, an IDX header needs at least 4"),
            (
                vec![0x1F, 0x8B, 8, 0],
                "t.idx: truncated gzip data: the file ends inside the compressed stream",
            ),
            (vec![b'P', b'K', 3, 4, 0, 0], "t.idx: not an IDX file: it starts with 0x50 0x4B, not 0x00 0x00"),
            (
                vec![0, 0, 0x0A, 1, 0, 0, 0, 0],
                "t.idx: unknown IDX type code 0x0A (expected 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32 or 0x0E f64)",
            ),
            (vec![0, 0, 8, 0], "t.idx: the header has 0 dimensions"),
            (
                vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0],
                "t.idx: truncated: the header of 3 dimensions needs 16 bytes, the file has 10",
            ),
            (
                huge,
                "t.idx: truncated: dims [1048576, 1048576] of u8 need 1099511627776 bytes of data, the file has 3",
            ),
            (
                [header(0x0C, &[2, 3]), vec![0; 23]].concat(),
                "t.idx: truncated: dims [2, 3] of i32 need 24 bytes of data, the file has 23",
            ),
            (
                [header(0x08, &[2]), vec![7; 5]].concat(),
                "t.idx: dims [2] of u8 need 2 bytes of data, the file has 3 more bytes after them",
            ),
            (
                header(0x0E, &[u32::MAX, u32::MAX, u32::MAX]),
                "t.idx: dims [4294967295, 4294967295, 4294967295] of f64 need more than 2^64 bytes of data",
            ),
            (
                header(0x08, &[1 << 31, 1 << 31, 2]),
                "t.idx: dims [2147483648, 2147483648, 2] of u8 need 9223372036854775808 bytes of data, \
                 more than this machine can address",
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(message(&bytes), expected);
        }
        let missing = temp_path("missing.idx");
        let err = read_idx(&missing).unwrap_err().to_string();
        assert_eq!(err, format!("{}: No such file or directory (os error 2)", missing.display()));
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_files_and_streams_are_read_as_decompressed() {
        let array = IdxArray::new(vec![3, 2, 2], IdxData::U8((0..12).map(|i| i * 21).collect())).unwrap();
        let packed = gzip(&idx_bytes(&array));
        assert_eq!(read_idx_from(packed.as_slice(), "s.gz").unwrap(), array);
        // Recognised by its magic bytes, whatever the file's name.
        for name in ["a.idx3-ubyte.gz", "a.idx3-ubyte"] {
            let path = temp_path(name);
            std::fs::write(&path, &packed).unwrap();
            assert_eq!(read_idx(&path).unwrap(), array, "{name}");
            std::fs::remove_file(&path).unwrap();
        }
        // Two gzip members one after the other read as their concatenation (gzip's rule).
        let bytes = idx_bytes(&array);
        let members = [gzip(&bytes[..7]), gzip(&bytes[7..])].concat();
        assert_eq!(read_idx_from(members.as_slice(), "m.gz").unwrap(), array);
    }

    #[test]
    fn bad_gzip_is_named_with_what_is_wrong() {
        let array =
            IdxArray::new(vec![4, 3], IdxData::I16((0..12).map(|i| i * 1000 - 5000).collect())).unwrap();
        let packed = gzip(&idx_bytes(&array));
        let mut bad_crc = packed.clone();
        let crc = bad_crc.len() - 8;
        bad_crc[crc] ^= 0xFF;
        let mut bad_method = packed.clone();
        bad_method[2] = 7;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                packed[..packed.len() / 2].to_vec(),
                "t.idx: truncated gzip data: the file ends inside the compressed stream",
            ),
            (
                packed[..packed.len() - 4].to_vec(),
                "t.idx: truncated gzip data: the file ends inside the compressed stream",
            ),
            (bad_crc, "t.idx: corrupt gzip data: corrupt gzip stream does not have a matching checksum"),
            (bad_method, "t.idx: corrupt gzip data: invalid gzip header"),
            (
                gzip(&idx_bytes(&array)[..20]),
                "t.idx: truncated: dims [4, 3] of i16 need 24 bytes of data, the decompressed file has 8",
            ),
            (
                gzip(&[idx_bytes(&array), vec![9]].concat()),
                "t.idx: dims [4, 3] of i16 need 24 bytes of data, the decompressed file has 1 more bytes after them",
            ),
            (gzip(&packed), "t.idx: the file is gzip-compressed twice; decompress it once (gunzip)"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(message(&bytes), expected);
        }
        // A `.gz` name on bytes that are not gzip.
        let path = temp_path("plain.idx.gz");
        for (bytes, reason) in [
            (idx_bytes(&array), "not gzip data: it starts with 0x00 0x00, not 0x1F 0x8B"),
            (vec![0x1F], "not gzip data: the file has 1 byte(s), a gzip header needs 10"),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let err = read_idx(&path).unwrap_err().to_string();
            assert_eq!(err, format!("{}: {reason}", path.display()));
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_lying_gzip_header_allocates_only_what_decompresses() {
        // 2^30 bytes claimed (within the input limit), 3 present: an error, not an attempt to
        // allocate a gigabyte.
        let mut huge = header(0x08, &[1 << 15, 1 << 15]);
        huge.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            message(&gzip(&huge)),
            "t.idx: truncated: dims [32768, 32768] of u8 need 1073741824 bytes of data, the decompressed file has 3"
        );
        // 2^40 bytes claimed: more than the input limit, refused before decompressing.
        let mut huge = header(0x08, &[1 << 20, 1 << 20]);
        huge.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            message(&gzip(&huge)),
            "t.idx: dims [1048576, 1048576] of u8 need 1099511627776 bytes of data, more than the input limit of 4294967296 bytes (set BACKPROP_MAX_INPUT_BYTES to raise it)"
        );
    }

    #[test]
    fn new_checks_the_element_count() {
        let err = IdxArray::new(vec![2, 2], IdxData::U8(vec![1, 2, 3])).unwrap_err();
        assert_eq!(err.to_string(), "idx: dims [2, 2] need 4 elements, the data has 3");
        let err = IdxArray::new(vec![], IdxData::U8(vec![1])).unwrap_err();
        assert_eq!(err.to_string(), "idx: an IDX array has 1 to 255 dimensions, got 0");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn streams_round_trip(dims in prop::collection::vec(0usize..4, 1..4), seed in any::<u64>()) {
            let count: usize = dims.iter().product();
            let values: Vec<f32> = (0..count).map(|i| (seed.wrapping_mul(i as u64 + 1) % 1000) as f32 - 500.5).collect();
            let array = IdxArray::new(dims, IdxData::F32(values)).unwrap();
            prop_assert_eq!(read_idx_from(idx_bytes(&array).as_slice(), "p").unwrap(), array);
        }

        #[test]
        fn truncated_streams_never_panic(cut in 0usize..40) {
            let array = IdxArray::new(vec![3, 2], IdxData::I16(vec![1, -2, 3, -4, 5, -6])).unwrap();
            let bytes = idx_bytes(&array);
            let result = read_idx_from(&bytes[..cut.min(bytes.len())], "p");
            prop_assert_eq!(result.is_ok(), cut >= bytes.len());
        }
    }
}
