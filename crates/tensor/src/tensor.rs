//! The `Tensor` type: an n-dimensional array of `f32` or `f64` in row-major order.

use ndarray::{Array1, Array2, ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, ArrayViewMutD, IxDyn};

use crate::error::{Result, TensorError, or_panic};
use crate::float::Float;

/// A dense n-dimensional array of `F` (`f32` or `f64`), stored contiguously in row-major order.
///
/// A tensor owns an [`ndarray::ArrayD`] and keeps it in standard (C) layout, so every kernel runs
/// over one flat slice. Arrays move in and out without copying when they are already in that
/// layout ([`Tensor::from_array`], [`Tensor::into_array`]); [`Tensor::view`] and
/// [`Tensor::view2`] lend them to ndarray code without copying at all.
///
/// Shapes follow NumPy: `[]` is a scalar, `[n]` a vector, `[rows, cols]` a matrix (a
/// mini-batch is `[batch, features]`).
#[derive(Clone, PartialEq)]
pub struct Tensor<F: Float> {
    data: ArrayD<F>,
}

impl<F: Float> std::fmt::Debug for Tensor<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor<{}>{:?} {}", F::NAME, self.shape(), self.data)
    }
}

impl<F: Float> Tensor<F> {
    /// A tensor of zeros. One of 2 MiB or more is laid out as [`Tensor::zeros_aligned`] lays
    /// it out, on huge pages where the system offers them.
    pub fn zeros(shape: &[usize]) -> Self {
        if spans_huge_pages::<F>(shape) {
            return Self::zeros_aligned(shape);
        }
        Tensor { data: ArrayD::zeros(IxDyn(shape)) }
    }

    /// A tensor of zeros whose first element starts on a 64-byte cache line.
    ///
    /// For outputs that threads write side by side (a product split by columns): from an
    /// unaligned start, the cache line where one thread's columns meet the next one's would be
    /// written by both, in every row (a 128×784·784×512 product on two threads: 410–431 µs,
    /// against 373–381 µs with its output on a line). The storage has up to a line of slack
    /// in front; reshaping in place keeps the alignment (a clone is a new allocation and need
    /// not).
    ///
    /// A tensor of 2 MiB or more starts on a 2 MiB boundary instead, and its pages are offered
    /// to Linux's transparent huge pages before they are first touched: a product's tile of
    /// `C` spans 12 rows, each on a page of its own once rows are 4 KiB long, and with 4 KiB
    /// pages the page-table walks of a large output cost 5–15% of a product's time
    /// (docs/PERFORMANCE.md). The slack in front and the rounding to whole huge pages are
    /// never touched, so they cost address space, not memory.
    ///
    /// ```
    /// use backprop_tensor::Tensor;
    ///
    /// let t = Tensor::<f32>::zeros_aligned(&[128, 512]);
    /// assert_eq!(t.as_slice().as_ptr() as usize % 64, 0);
    /// assert_eq!((t.shape(), t.sum()), (&[128, 512][..], 0.0));
    /// ```
    pub fn zeros_aligned(shape: &[usize]) -> Self {
        let len: usize = shape.iter().product();
        let (storage, offset) = line_aligned(len, F::zero());
        let flat = Array1::from_vec(storage).slice_move(ndarray::s![offset..offset + len]);
        Tensor { data: flat.into_shape_with_order(IxDyn(shape)).expect("len elements in standard layout") }
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, F::one())
    }

    /// A tensor with every element equal to `value` (laid out as [`Tensor::zeros`]).
    pub fn full(shape: &[usize], value: F) -> Self {
        if spans_huge_pages::<F>(shape) {
            // Filled after the advice, so that the first touch of each page takes a huge one.
            let mut t = Self::zeros_aligned(shape);
            t.fill(value);
            return t;
        }
        Tensor { data: ArrayD::from_elem(IxDyn(shape), value) }
    }

    /// Moves the whole 2 MiB pages of this tensor's memory to transparent huge pages now,
    /// where Linux offers them (`madvise(MADV_HUGEPAGE)`, then `MADV_COLLAPSE`, Linux 6.1 and
    /// later); elsewhere, or when the system refuses, nothing changes. The contents stay.
    ///
    /// For large tensors that live long and were filled before they could be placed on huge
    /// pages, such as a model's weights ([`Tensor::zeros_aligned`] explains why products
    /// care). The graph does it for every parameter.
    ///
    /// ```
    /// use backprop_tensor::Tensor;
    ///
    /// let w = Tensor::<f32>::from_shape_fn(&[1024, 1024], |ij| (ij[0] + ij[1]) as f32);
    /// w.prefer_huge_pages();
    /// assert_eq!(w.as_slice()[1025], 2.0);
    /// ```
    pub fn prefer_huge_pages(&self) {
        let (start, bytes) = (self.data.as_ptr() as usize, std::mem::size_of_val(self.as_slice()));
        let (first, end) = (start.next_multiple_of(HUGE_PAGE), (start + bytes) / HUGE_PAGE * HUGE_PAGE);
        if end > first {
            // SAFETY: whole pages inside this tensor's allocation.
            unsafe { advise_huge_pages(first as *const u8, end - first, true) };
        }
    }

    /// A scalar (shape `[]`).
    pub fn scalar(value: F) -> Self {
        Self::full(&[], value)
    }

    /// A tensor whose element at each index is `f(index)`.
    pub fn from_shape_fn(shape: &[usize], mut f: impl FnMut(&[usize]) -> F) -> Self {
        Tensor { data: ArrayD::from_shape_fn(IxDyn(shape), |index| f(ndarray::Dimension::slice(&index))) }
    }

    /// A tensor from row-major data.
    ///
    /// # Errors
    /// When `data.len()` is not the product of `shape`.
    pub fn try_from_vec(shape: &[usize], data: Vec<F>) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(TensorError::invalid(
                "from_vec",
                format!("shape {shape:?} needs {expected} elements, got {}", data.len()),
            ));
        }
        let data = ArrayD::from_shape_vec(IxDyn(shape), data)
            .map_err(|e| TensorError::invalid("from_vec", e.to_string()))?;
        Ok(Tensor { data })
    }

    /// Panicking twin of [`Tensor::try_from_vec`].
    #[track_caller]
    pub fn from_vec(shape: &[usize], data: Vec<F>) -> Self {
        or_panic(Self::try_from_vec(shape, data))
    }

    /// A matrix from rows of equal length.
    ///
    /// # Panics
    /// When the rows differ in length.
    #[track_caller]
    pub fn from_rows<R: AsRef<[F]>>(rows: &[R]) -> Self {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            assert!(row.len() == cols, "from_rows: row {i} has {} elements, row 0 has {cols}", row.len());
            data.extend_from_slice(row);
        }
        Self::from_vec(&[rows.len(), cols], data)
    }

    /// Wraps an ndarray array; copies only when it is not in standard layout.
    pub fn from_array(array: ArrayD<F>) -> Self {
        let data = if array.is_standard_layout() { array } else { array.as_standard_layout().into_owned() };
        Tensor { data }
    }

    /// The underlying array, without copying.
    pub fn into_array(self) -> ArrayD<F> {
        self.data
    }

    /// The underlying matrix, without copying.
    ///
    /// # Errors
    /// When the tensor is not 2-D.
    pub fn into_array2(self) -> Result<Array2<F>> {
        let shape = self.shape().to_vec();
        self.data.into_dimensionality().map_err(|_| {
            TensorError::invalid("into_array2", format!("expected a matrix, got shape {shape:?}"))
        })
    }

    /// Borrowed view for ndarray code.
    pub fn view(&self) -> ArrayViewD<'_, F> {
        self.data.view()
    }

    /// Mutable view for ndarray code.
    pub fn view_mut(&mut self) -> ArrayViewMutD<'_, F> {
        self.data.view_mut()
    }

    /// Borrowed view as a matrix.
    ///
    /// # Errors
    /// When the tensor is not 2-D.
    pub fn view2(&self) -> Result<ArrayView2<'_, F>> {
        match *self.shape() {
            // SAFETY: the data is in standard layout (every constructor keeps it so), hence
            // rows·cols contiguous elements from `as_ptr`, borrowed for the view's lifetime.
            [rows, cols] => Ok(unsafe { ArrayView2::from_shape_ptr((rows, cols), self.data.as_ptr()) }),
            _ => {
                Err(TensorError::invalid("view2", format!("expected a matrix, got shape {:?}", self.shape())))
            }
        }
    }

    /// Mutable view as a matrix.
    ///
    /// # Errors
    /// When the tensor is not 2-D.
    pub fn view2_mut(&mut self) -> Result<ArrayViewMut2<'_, F>> {
        match *self.shape() {
            // SAFETY: as in `view2`, with a unique borrow of the data.
            [rows, cols] => {
                Ok(unsafe { ArrayViewMut2::from_shape_ptr((rows, cols), self.data.as_mut_ptr()) })
            }
            _ => Err(TensorError::invalid(
                "view2_mut",
                format!("expected a matrix, got shape {:?}", self.shape()),
            )),
        }
    }

    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[F] {
        debug_assert!(self.data.is_standard_layout());
        // SAFETY: every constructor keeps the data in standard layout, so its `len()` elements
        // lie contiguously from `as_ptr` (checking that on every call cost more than many of
        // the kernels that ask for the slice).
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.data.len()) }
    }

    /// The elements in row-major order, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [F] {
        debug_assert!(self.data.is_standard_layout());
        let len = self.data.len();
        // SAFETY: as in `as_slice`, with a unique borrow of the data.
        unsafe { std::slice::from_raw_parts_mut(self.data.as_mut_ptr(), len) }
    }

    /// The elements as a vector, in row-major order.
    pub fn to_vec(&self) -> Vec<F> {
        self.as_slice().to_vec()
    }

    /// The shape, one length per axis.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.data.ndim()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The value of a one-element tensor (a scalar, `[1]`, `[1, 1]`, ...).
    ///
    /// # Errors
    /// When the tensor has more or fewer than one element.
    pub fn try_item(&self) -> Result<F> {
        if self.len() == 1 {
            Ok(self.as_slice()[0])
        } else {
            Err(TensorError::invalid(
                "item",
                format!("needs exactly one element, shape is {:?}", self.shape()),
            ))
        }
    }

    /// Panicking twin of [`Tensor::try_item`].
    #[track_caller]
    pub fn item(&self) -> F {
        or_panic(self.try_item())
    }

    /// Rows and columns of a matrix.
    ///
    /// # Errors
    /// When the tensor is not 2-D.
    pub fn try_dim2(&self, op: &'static str) -> Result<(usize, usize)> {
        match *self.shape() {
            [rows, cols] => Ok((rows, cols)),
            _ => Err(TensorError::invalid(op, format!("expected a matrix, got shape {:?}", self.shape()))),
        }
    }

    /// Checks that `shape` has as many elements as this tensor.
    fn check_reshape(&self, shape: &[usize]) -> Result<()> {
        let count: usize = shape.iter().product();
        if count == self.len() {
            return Ok(());
        }
        Err(TensorError::shape(
            "reshape",
            self.shape(),
            shape,
            format!("{} elements cannot take a shape of {count}", self.len()),
        ))
    }

    /// The same elements under another shape with the same number of elements.
    ///
    /// # Errors
    /// When the element counts differ.
    pub fn try_reshape(&self, shape: &[usize]) -> Result<Self> {
        self.check_reshape(shape)?;
        Ok(Tensor { data: ArrayD::from_shape_vec(IxDyn(shape), self.to_vec()).expect("count checked") })
    }

    /// Panicking twin of [`Tensor::try_reshape`].
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Self {
        or_panic(self.try_reshape(shape))
    }

    /// Reshapes in place (no copy).
    ///
    /// # Errors
    /// When the element counts differ.
    pub fn try_reshape_in_place(&mut self, shape: &[usize]) -> Result<()> {
        self.check_reshape(shape)?;
        let data = std::mem::replace(&mut self.data, ArrayD::zeros(IxDyn(&[0])));
        self.data = data.into_shape_with_order(IxDyn(shape)).expect("standard layout and count checked");
        Ok(())
    }

    /// The transpose of a matrix, as a new row-major tensor.
    ///
    /// Matrix products never need this: [`crate::gemm`] takes transposes as flags.
    ///
    /// # Errors
    /// When the tensor is not 2-D.
    pub fn try_t(&self) -> Result<Self> {
        let view = self.view2().map_err(|_| {
            TensorError::invalid("transpose", format!("expected a matrix, got shape {:?}", self.shape()))
        })?;
        Ok(Tensor { data: view.t().as_standard_layout().into_owned().into_dyn() })
    }

    /// Panicking twin of [`Tensor::try_t`].
    #[track_caller]
    pub fn t(&self) -> Self {
        or_panic(self.try_t())
    }

    /// Converts every element to another float type.
    pub fn cast<G: Float>(&self) -> Tensor<G> {
        Tensor { data: self.data.mapv(|x| G::from_f64(x.to_f64())) }
    }

    /// Fills every element with `value`.
    pub fn fill(&mut self, value: F) {
        self.as_mut_slice().fill(value);
    }

    /// Copies `other` into `self`.
    ///
    /// # Errors
    /// When the shapes differ.
    pub fn try_assign(&mut self, other: &Tensor<F>) -> Result<()> {
        if self.shape() != other.shape() {
            return Err(TensorError::shape("assign", self.shape(), other.shape(), "shapes differ"));
        }
        self.as_mut_slice().copy_from_slice(other.as_slice());
        Ok(())
    }

    /// Whether every element is finite (neither NaN nor infinite).
    pub fn is_finite(&self) -> bool {
        crate::reduce::first_non_finite(self.as_slice()).is_none()
    }
}

/// Bytes of a cache line: [`Tensor::zeros_aligned`] (and the product's panels) start on one.
pub(crate) const LINE: usize = 64;

/// Bytes of a huge page of x86-64 Linux's transparent huge pages.
const HUGE_PAGE: usize = 2 << 20;

/// Whether a tensor of `shape` is large enough to lie on huge pages (2 MiB or more).
fn spans_huge_pages<F>(shape: &[usize]) -> bool {
    shape.iter().product::<usize>().saturating_mul(std::mem::size_of::<F>()) >= HUGE_PAGE
}

/// Storage for `len` copies of `value` with slack in front, and the number of values to skip so
/// that the rest starts on a cache line, or on a huge page when it spans [`HUGE_PAGE`] bytes or
/// more (Linux only). Then the huge pages it spans, rounded up, lie inside the storage and are
/// offered to transparent huge pages before they are touched, which gives them huge pages
/// where `value` is zero (the allocator hands fresh, untouched memory for large zeroed
/// buffers); otherwise they are advised, and the kernel may merge them later.
pub(crate) fn line_aligned<E: Clone>(len: usize, value: E) -> (Vec<E>, usize) {
    let size = std::mem::size_of::<E>().max(1);
    let bytes = len * size;
    let huge = cfg!(target_os = "linux") && bytes >= HUGE_PAGE;
    let (align, span) = if huge { (HUGE_PAGE, bytes.next_multiple_of(HUGE_PAGE)) } else { (LINE, bytes) };
    let storage = vec![value; (span + align) / size];
    // A `Vec<E>` starts on a multiple of E's alignment, so the distance to the boundary is a
    // whole number of values for the element types here.
    let offset = (align - storage.as_ptr() as usize % align) % align / size;
    if huge {
        // SAFETY: `offset·size + span ≤ span + align` bytes lie inside the storage.
        unsafe { advise_huge_pages(storage.as_ptr().add(offset).cast(), span, false) };
    }
    (storage, offset)
}

/// Offers `bytes` at `start` (both multiples of [`HUGE_PAGE`]) to transparent huge pages, and
/// with `collapse` moves the pages already there onto huge pages now. A system without them,
/// or with them off, refuses: the memory then stays on small pages, which costs only speed, so
/// the answer is not checked.
///
/// # Safety
/// The range must lie inside one allocation of this process.
unsafe fn advise_huge_pages(start: *const u8, bytes: usize, collapse: bool) {
    #[cfg(target_os = "linux")]
    // SAFETY: the caller's range is mapped memory of this process; the advice changes how it is
    // backed, never its contents.
    unsafe {
        let start = start.cast_mut().cast();
        libc::madvise(start, bytes, libc::MADV_HUGEPAGE);
        if collapse {
            // MADV_COLLAPSE (Linux 6.1, <linux/mman.h>), which not every libc target names.
            const MADV_COLLAPSE: libc::c_int = 25;
            libc::madvise(start, bytes, MADV_COLLAPSE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, bytes, collapse);
}

impl<F: Float> From<ArrayD<F>> for Tensor<F> {
    fn from(array: ArrayD<F>) -> Self {
        Tensor::from_array(array)
    }
}

impl<F: Float> From<Array2<F>> for Tensor<F> {
    fn from(array: Array2<F>) -> Self {
        Tensor::from_array(array.into_dyn())
    }
}

impl<F: Float> From<Array1<F>> for Tensor<F> {
    fn from(array: Array1<F>) -> Self {
        Tensor::from_array(array.into_dyn())
    }
}

impl<F: Float> From<Tensor<F>> for ArrayD<F> {
    fn from(tensor: Tensor<F>) -> Self {
        tensor.into_array()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn large_buffers_start_on_a_huge_page_and_keep_their_values() {
        // 2 MiB and more: on a 2 MiB boundary (Linux), zeros, and reshaping keeps the start.
        let mut big = Tensor::<f32>::zeros(&[1024, 513]);
        let start = big.as_slice().as_ptr() as usize;
        if cfg!(target_os = "linux") {
            assert_eq!(start % HUGE_PAGE, 0);
        }
        assert!(big.as_slice().iter().all(|&v| v == 0.0));
        big.try_reshape_in_place(&[513, 1024]).unwrap();
        assert_eq!(big.as_slice().as_ptr() as usize, start);
        // `full` fills after placing; `prefer_huge_pages` keeps the contents.
        let filled = Tensor::<f64>::full(&[300, 1000], 1.5);
        assert!(filled.as_slice().iter().all(|&v| v == 1.5));
        let w = Tensor::<f32>::from_shape_fn(&[2048, 1024], |ij| (ij[0] * 1024 + ij[1]) as f32);
        w.prefer_huge_pages();
        assert!(w.as_slice().iter().enumerate().all(|(i, &v)| v == i as f32));
        // Below 2 MiB: on a cache line only.
        let small = Tensor::<f32>::zeros_aligned(&[128, 512]);
        assert_eq!(small.as_slice().as_ptr() as usize % LINE, 0);
    }

    #[test]
    fn conversions_keep_values_and_avoid_copies() {
        let a = array![[1.0_f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let ptr = a.as_ptr();
        let t = Tensor::from(a);
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.as_slice().as_ptr(), ptr, "standard-layout arrays move in without a copy");
        let back = t.into_array2().unwrap();
        assert_eq!(back.as_ptr(), ptr);
        // A transposed (column-major) array is copied into row-major order.
        let t = Tensor::from(back.reversed_axes());
        assert_eq!(t.to_vec(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn reshape_and_transpose() {
        let t = Tensor::from_vec(&[2, 3], vec![1.0_f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(t.reshape(&[3, 2]).view2().unwrap(), array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
        assert_eq!(t.t().view2().unwrap(), array![[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]);
        let err = t.try_reshape(&[4, 2]).unwrap_err();
        assert_eq!(err.to_string(), "reshape: [2, 3] x [4, 2]: 6 elements cannot take a shape of 8");
        let mut u = t.clone();
        u.try_reshape_in_place(&[6]).unwrap();
        assert_eq!(u.shape(), &[6]);
        assert_eq!(u.as_slice(), t.as_slice());
    }

    #[test]
    fn constructors_check_their_input() {
        let err = Tensor::<f32>::try_from_vec(&[2, 2], vec![1.0; 3]).unwrap_err();
        assert_eq!(err.to_string(), "from_vec: shape [2, 2] needs 4 elements, got 3");
        assert_eq!(Tensor::<f64>::scalar(2.5).item(), 2.5);
        assert!(Tensor::<f64>::zeros(&[2]).try_item().is_err());
        let r = Tensor::from_rows(&[[1.0_f64, 2.0], [3.0, 4.0]]);
        assert_eq!(r.shape(), &[2, 2]);
        assert_eq!(r.cast::<f32>().to_vec(), vec![1.0_f32, 2.0, 3.0, 4.0]);
    }
}
