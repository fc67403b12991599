//! Threads: one place that sets how many BLAS, rayon and the kernels' team (see `team`) use,
//! and the size below which elementwise kernels stay on the calling thread.

use crate::team::{parallel_for, set_team_size};

/// Elementwise kernels over fewer elements than this run on the calling thread.
///
/// Handing work to another thread costs up to a few microseconds; a fused multiply-add pass over
/// 2^15 `f32` takes about as long, so below that threads cost more than they save (see the
/// `kernels` bench, which times both sides of the threshold).
pub const PARALLEL_THRESHOLD: usize = 1 << 15;

/// Elements per parallel task above the threshold, so that each task amortises its scheduling.
const CHUNK: usize = 1 << 13;

unsafe extern "C" {
    fn openblas_set_num_threads(num_threads: std::ffi::c_int);
    fn openblas_get_num_threads() -> std::ffi::c_int;
}

/// rayon's error when its global pool exists already (its text is all that tells it apart from
/// a failure to start the pool's threads).
const RAYON_ALREADY_STARTED: &str = "The global thread pool has already been initialized.";

/// Sets the number of threads for OpenBLAS, the kernels' team (split matrix products,
/// elementwise kernels, optimizer updates: [`crate::parallel_for`]) and rayon's global pool.
///
/// The kernels and BLAS never run at the same time (every operation is one or the other, called
/// from one thread), so `n` threads in each never oversubscribe `n` cores. Call it once, early:
/// rayon's global pool can be sized only before its first use; a later call still resizes
/// OpenBLAS and the team, and reports that rayon kept its size.
///
/// # Errors
/// When `n` is 0, when a thread of the team or of rayon's pool cannot be started (a limit on
/// processes or on memory for their stacks), or when rayon's pool already exists with another
/// size.
pub fn set_num_threads(n: usize) -> Result<(), String> {
    if n == 0 {
        return Err("set_num_threads: the thread count must be at least 1".into());
    }
    // SAFETY: plain setter of OpenBLAS, safe to call at any time from one thread.
    unsafe { openblas_set_num_threads(n as std::ffi::c_int) };
    set_team_size(n)?;
    match rayon::ThreadPoolBuilder::new().num_threads(n).build_global() {
        Ok(()) => Ok(()),
        // Asking for the pool's size is safe only when it exists: otherwise rayon would try
        // to start a default pool, and panic when that fails too.
        Err(e) if e.to_string() != RAYON_ALREADY_STARTED => {
            Err(format!("cannot start the {n} threads of rayon's pool: {e}"))
        }
        Err(_) if rayon::current_num_threads() == n => Ok(()),
        Err(_) => Err(format!(
            "set_num_threads: BLAS now uses {n} threads, but rayon's pool was already started with {}",
            rayon::current_num_threads()
        )),
    }
}

/// The number of threads OpenBLAS uses.
pub fn blas_num_threads() -> usize {
    // SAFETY: plain getter of OpenBLAS.
    unsafe { openblas_get_num_threads() as usize }
}

/// Runs `f` (a BLAS call) with OpenBLAS on the calling thread only, then restores the thread
/// count.
///
/// OpenBLAS decides by itself to split products above about 2^18 multiply-adds over its
/// threads; below a few million, waking the other threads costs more than it saves (a
/// 128×256×10 product took 9 µs on one thread and 50 µs on two). Setting the count is a plain
/// store in OpenBLAS (a few nanoseconds). The count is process-wide: a product running at the
/// same time on another thread may also run on one thread, which changes its speed, never its
/// result.
pub(crate) fn with_one_blas_thread<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: plain getter and setter of OpenBLAS.
    let threads = unsafe { openblas_get_num_threads() };
    if threads <= 1 {
        return f();
    }
    // SAFETY: as above; lowering the count never starts threads.
    unsafe { openblas_set_num_threads(1) };
    let result = f();
    // SAFETY: restores the count read above (those threads exist already).
    unsafe { openblas_set_num_threads(threads) };
    result
}

/// A pointer shared by the tasks of [`chunked`], each of which touches its own range.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);

impl<T> Shared<T> {
    /// Elements `start..start + len` (a method, so that closures capture the whole `Shared`).
    ///
    /// # Safety
    /// The range must lie in the buffer, and no other task may use it at the same time.
    unsafe fn slice<'a>(self, start: usize, len: usize) -> &'a mut [T] {
        // SAFETY: forwarded from the caller.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

// SAFETY: the tasks of `chunked` only use disjoint ranges.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Shared<T> {}

/// Runs `f(start, len)` over chunks of `CHUNK` elements of a buffer of `len` elements, on the
/// team of threads from [`PARALLEL_THRESHOLD`] elements, on the calling thread below.
pub(crate) fn chunked(len: usize, f: impl Fn(usize, usize) + Sync) {
    if len < PARALLEL_THRESHOLD {
        f(0, len);
    } else {
        parallel_for(len.div_ceil(CHUNK), |c| f(c * CHUNK, CHUNK.min(len - c * CHUNK)));
    }
}

/// Runs a slice kernel `f(src_chunk, dst_chunk)` over matching chunks, in parallel above
/// [`PARALLEL_THRESHOLD`].
pub(crate) fn zip_chunks<F: Copy + Send + Sync>(
    src: &[F],
    dst: &mut [F],
    f: impl Fn(&[F], &mut [F]) + Sync + Send,
) {
    assert_eq!(src.len(), dst.len(), "zip_chunks: source and destination lengths differ");
    let out = Shared(dst.as_mut_ptr());
    // SAFETY: each task writes only its own chunk of `dst`, which this call borrows mutably.
    chunked(src.len(), |start, n| f(&src[start..start + n], unsafe { out.slice(start, n) }));
}

/// Runs an in-place slice kernel over chunks, in parallel above [`PARALLEL_THRESHOLD`].
pub(crate) fn chunks_in_place<F: Copy + Send + Sync>(x: &mut [F], f: impl Fn(&mut [F]) + Sync + Send) {
    for_each_chunk_mut(x, |_, chunk| f(chunk));
}

/// Runs `f(start, chunk)` over consecutive chunks of `x` (`chunk` is `x[start..start + len]`),
/// on the kernels' team above [`PARALLEL_THRESHOLD`] elements and on the calling thread below:
/// for elementwise passes that read other slices at the same positions.
///
/// ```
/// let mut doubled = vec![0.0_f32; 100_000];
/// let source: Vec<f32> = (0..100_000).map(|i| i as f32).collect();
/// backprop_tensor::for_each_chunk_mut(&mut doubled, |start, chunk| {
///     for (d, s) in chunk.iter_mut().zip(&source[start..]) {
///         *d = 2.0 * s;
///     }
/// });
/// assert_eq!(doubled[99_999], 199_998.0);
/// ```
pub fn for_each_chunk_mut<F: Copy + Send + Sync>(x: &mut [F], f: impl Fn(usize, &mut [F]) + Sync + Send) {
    let len = x.len();
    let data = Shared(x.as_mut_ptr());
    // SAFETY: each task uses only its own chunk of `x`, which this call borrows mutably.
    chunked(len, |start, n| f(start, unsafe { data.slice(start, n) }));
}

/// Fills each row `r` of `out` (rows of `cols` values) with the `cols` values of `row(r)`, on
/// the kernels' team above [`PARALLEL_THRESHOLD`] values: a bias broadcast into every row of a
/// layer's output, a batch gathered from the rows of a data set.
///
/// ```
/// let bias = [1.0_f32, 2.0, 3.0];
/// let mut out = vec![0.0_f32; 3 * 20_000];
/// backprop_tensor::fill_rows(&mut out, 3, |_| &bias[..]);
/// assert_eq!(out[3 * 19_999..], bias);
/// ```
///
/// # Panics
/// When `row(r)` has fewer than `cols` values.
pub fn fill_rows<'a, F: Copy + Send + Sync + 'a>(
    out: &mut [F],
    cols: usize,
    row: impl Fn(usize) -> &'a [F] + Sync + Send,
) {
    if cols == 0 {
        return;
    }
    for_each_chunk_mut(out, |start, mut rest| {
        // A chunk may start and end inside a row.
        let (mut r, mut column) = (start / cols, start % cols);
        while !rest.is_empty() {
            let (head, tail) = rest.split_at_mut((cols - column).min(rest.len()));
            head.copy_from_slice(&row(r)[column..column + head.len()]);
            (rest, r, column) = (tail, r + 1, 0);
        }
    });
}

/// `dst[i] = f(src[i])`, in parallel above [`PARALLEL_THRESHOLD`].
pub fn map_into<F: Copy + Send + Sync>(src: &[F], dst: &mut [F], f: impl Fn(F) -> F + Sync + Send) {
    assert_eq!(src.len(), dst.len(), "map_into: source and destination lengths differ");
    zip_chunks(src, dst, |s, d| {
        for (d, &s) in d.iter_mut().zip(s) {
            *d = f(s);
        }
    });
}

/// `x[i] = f(x[i])`, in parallel above [`PARALLEL_THRESHOLD`].
pub fn map_inplace<F: Copy + Send + Sync>(x: &mut [F], f: impl Fn(F) -> F + Sync + Send) {
    chunks_in_place(x, |c| {
        for v in c.iter_mut() {
            *v = f(*v);
        }
    });
}

/// `dst[i] = f(a[i], b[i])`, in parallel above [`PARALLEL_THRESHOLD`].
pub fn zip_into<F: Copy + Send + Sync>(a: &[F], b: &[F], dst: &mut [F], f: impl Fn(F, F) -> F + Sync + Send) {
    assert!(a.len() == dst.len() && b.len() == dst.len(), "zip_into: operand lengths differ");
    let out = Shared(dst.as_mut_ptr());
    chunked(dst.len(), |start, n| {
        // SAFETY: each task writes only its own chunk of `dst`, which this call borrows mutably.
        let d = unsafe { out.slice(start, n) };
        for ((d, &x), &y) in d.iter_mut().zip(&a[start..start + n]).zip(&b[start..start + n]) {
            *d = f(x, y);
        }
    });
}

/// `x[i] = f(x[i], y[i])`, in parallel above [`PARALLEL_THRESHOLD`].
pub fn zip_inplace<F: Copy + Send + Sync>(x: &mut [F], y: &[F], f: impl Fn(F, F) -> F + Sync + Send) {
    assert_eq!(x.len(), y.len(), "zip_inplace: operand lengths differ");
    let data = Shared(x.as_mut_ptr());
    chunked(y.len(), |start, n| {
        // SAFETY: each task uses only its own chunk of `x`, which this call borrows mutably.
        let c = unsafe { data.slice(start, n) };
        for (a, &b) in c.iter_mut().zip(&y[start..start + n]) {
            *a = f(*a, b);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_and_serial_paths_agree() {
        for n in [10, PARALLEL_THRESHOLD + 12345] {
            let a: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
            let b: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
            let mut d = vec![0.0; n];
            zip_into(&a, &b, &mut d, |x, y| x * y + 1.0);
            assert!(d.iter().enumerate().all(|(i, &v)| v == a[i] * b[i] + 1.0));
            map_into(&a, &mut d, |x| x - 1.0);
            assert!(d.iter().enumerate().all(|(i, &v)| v == a[i] - 1.0));
            map_inplace(&mut d, |x| x * 2.0);
            assert!(d.iter().enumerate().all(|(i, &v)| v == (a[i] - 1.0) * 2.0));
            zip_inplace(&mut d, &b, |x, y| x + y);
            assert!(d.iter().enumerate().all(|(i, &v)| v == (a[i] - 1.0) * 2.0 + b[i]));
        }
    }

    #[test]
    fn zero_threads_is_refused() {
        assert!(set_num_threads(0).unwrap_err().contains("at least 1"));
    }
}
