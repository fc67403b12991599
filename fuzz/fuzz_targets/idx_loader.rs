//! Fuzzes `backprop_data::read_idx_from`: any bytes are an array or an error, never a panic
//! or an allocation larger than the input; an accepted array writes back to exactly the
//! bytes it was read from and converts to a tensor of its dimensions.

#![no_main]

use backprop_data::{idx_bytes, read_idx_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match read_idx_from(data, "fuzz.idx") {
        Ok(array) => {
            assert_eq!(idx_bytes(&array), data, "the array does not write back to its bytes");
            let count: usize = array.data().len();
            let tensor = array.to_tensor::<f32>();
            assert_eq!(tensor.shape(), array.dims());
            assert_eq!(tensor.len(), count);
            let wide = array.to_tensor::<f64>();
            assert_eq!(wide.len(), count);
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with("fuzz.idx: "), "the error does not name the source: {message}");
        }
    }
});
