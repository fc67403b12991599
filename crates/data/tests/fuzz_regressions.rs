//! Inputs the `csv_loader` and `idx_loader` fuzz targets (`fuzz/`) found, kept as tests.

use backprop_data::{IdxArray, IdxData, read_idx_from};

fn idx_header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0, 0, code, dims.len() as u8];
    dims.iter().for_each(|d| bytes.extend_from_slice(&d.to_be_bytes()));
    bytes
}

/// The fuzzer's input (`idx_loader`, crash-2fb755b7): 13 dimensions, one of them 0, so no
/// data; the others multiply past 2^64. It was read as an empty array whose `to_tensor`
/// panicked in ndarray (`from_vec: ShapeError/Overflow`).
const IDX_CRASH_2FB755B7: [u8; 56] = [
    0, 0, 8, 13, 3, 0, 227, 227, 227, 3, 0, 0, 0, 0, 0, 0, 0, 56, 227, 227, 227, 227, 227, 227, 227, 227,
    227, 227, 227, 227, 227, 227, 227, 227, 227, 227, 227, 227, 102, 227, 227, 227, 227, 0, 1, 0, 0, 0, 34,
    0, 192, 1, 127, 255, 255, 255,
];

#[test]
fn an_empty_idx_array_with_unaddressable_dims_is_refused() {
    assert_eq!(
        read_idx_from(&IDX_CRASH_2FB755B7[..], "crash.idx").unwrap_err().to_string(),
        "crash.idx: dims [50389987, 3808624640, 0, 3728355, 3823363043, 3823363043, 3823363043, 3823363043, \
         3823331043, 3823362816, 16777216, 570474497, 2147483647] hold no elements, but their other sizes \
         multiply to more than this machine can address"
    );

    let minimal = idx_header(0x08, &[0, u32::MAX, u32::MAX]);
    assert_eq!(
        read_idx_from(minimal.as_slice(), "t.idx").unwrap_err().to_string(),
        "t.idx: dims [0, 4294967295, 4294967295] hold no elements, but their other sizes multiply to more \
         than this machine can address"
    );
    let err = IdxArray::new(vec![0, u32::MAX as usize, u32::MAX as usize], IdxData::F32(vec![])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "idx: dims [0, 4294967295, 4294967295] hold no elements, but their other sizes multiply to more than \
         this machine can address"
    );
}

#[test]
fn empty_idx_arrays_with_addressable_dims_still_read_and_convert() {
    // 2^31 · 2^31 = 2^62 fits an isize: a valid, empty tensor.
    let bytes = idx_header(0x0D, &[1 << 31, 0, 1 << 31]);
    let array = read_idx_from(bytes.as_slice(), "t.idx").unwrap();
    let tensor = array.to_tensor::<f32>();
    assert_eq!((tensor.shape(), tensor.len()), (&[1 << 31, 0, 1 << 31][..], 0));
    // One more factor of 2 is 2^63, past isize::MAX.
    let bytes = idx_header(0x0D, &[1 << 31, 0, 1 << 31, 2]);
    assert!(read_idx_from(bytes.as_slice(), "t.idx").is_err());
}
