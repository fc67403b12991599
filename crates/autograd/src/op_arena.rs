//! Recycled memory for recorded ops, so that ops with state (a slope, a scale, a reduction)
//! cost no allocation in a training loop's steady state.
//!
//! A recorded op lives in a `Box<dyn Op<F>>` until `Graph::clear`. Boxing an op without fields
//! allocates nothing, but one with fields does, at every step. The arena keeps the memory of
//! the boxes that `clear` dropped, by size and alignment, and the next op of the same layout is
//! written into one of them instead of a fresh allocation.

use std::alloc::Layout;
use std::ptr::NonNull;

use backprop_tensor::Float;

use crate::op::Op;

/// Blocks of memory that held dropped ops, waiting for an op of the same layout.
pub(crate) struct OpArena {
    free: Vec<(Layout, NonNull<u8>)>,
}

// SAFETY: the blocks are uniquely owned, uninitialised allocations (like a `Box<[u8]>`): no
// other handle to them exists, so moving the arena to another thread is sound.
unsafe impl Send for OpArena {}

impl std::fmt::Debug for OpArena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpArena").field("free_blocks", &self.free.len()).finish()
    }
}

impl OpArena {
    /// An empty arena.
    pub(crate) fn new() -> Self {
        OpArena { free: Vec::new() }
    }

    /// Boxes `op`, in a recycled block of its layout when there is one.
    pub(crate) fn boxed<F: Float, O: Op<F> + 'static>(&mut self, op: O) -> Box<dyn Op<F>> {
        let layout = Layout::new::<O>();
        if layout.size() == 0 {
            return Box::new(op);
        }
        match self.free.iter().rposition(|(l, _)| *l == layout) {
            Some(at) => {
                let (_, block) = self.free.swap_remove(at);
                let typed = block.as_ptr().cast::<O>();
                // SAFETY: the block was allocated by the global allocator with exactly this
                // layout (size and alignment) for a box that has been dropped in place, so it
                // is valid, unaliased memory for one `O`; writing it and handing it to a `Box`
                // gives that box the allocation it will free with the same layout.
                unsafe {
                    typed.write(op);
                    Box::from_raw(typed)
                }
            }
            None => Box::new(op),
        }
    }

    /// Drops the op and keeps its memory for a later op of the same layout.
    pub(crate) fn recycle<F: Float>(&mut self, op: Box<dyn Op<F>>) {
        let layout = Layout::for_value(&*op);
        let raw = Box::into_raw(op);
        // SAFETY: `raw` came from a box, so it points to a valid op that nothing else owns; it is
        // dropped exactly once, here, and its memory is then kept (not freed) below.
        unsafe { std::ptr::drop_in_place(raw) };
        if layout.size() == 0 {
            // A zero-sized box owns no allocation.
            return;
        }
        let block = NonNull::new(raw.cast::<u8>()).expect("a box is never null");
        self.free.push((layout, block));
    }

    /// Frees every kept block.
    pub(crate) fn release(&mut self) {
        for (layout, block) in self.free.drain(..) {
            // SAFETY: each block was allocated by the global allocator with `layout` (by a
            // `Box` of that layout) and its contents were already dropped.
            unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
        }
    }
}

impl Drop for OpArena {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Result;
    use crate::op::{BackwardCtx, ForwardCtx, GradSink};
    use backprop_tensor::Tensor;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An op with state whose drops are counted.
    struct Counted(Arc<AtomicUsize>, [u64; 3]);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Op<f64> for Counted {
        fn name(&self) -> &str {
            if self.1[0] > 0 { "counted" } else { "counted-zero" }
        }
        fn forward(&mut self, _: &mut ForwardCtx<'_, f64>, inputs: &[&Tensor<f64>]) -> Result<Tensor<f64>> {
            Ok(inputs[0].clone())
        }
        fn backward_into(&self, _: &BackwardCtx<'_, f64>, _: &mut [GradSink<'_, f64>]) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn memory_is_reused_and_every_op_dropped_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut arena = OpArena::new();
        let first = arena.boxed::<f64, _>(Counted(drops.clone(), [1, 2, 3]));
        let address = &*first as *const dyn Op<f64> as *const u8;
        arena.recycle(first);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        let second = arena.boxed::<f64, _>(Counted(drops.clone(), [4, 5, 6]));
        assert_eq!(&*second as *const dyn Op<f64> as *const u8, address, "the block is reused");
        assert_eq!(second.name(), "counted");
        drop(second);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
        // A zero-sized op keeps no block.
        let zst = arena_box_zst(&mut arena);
        arena.recycle(zst);
        assert!(arena.free.is_empty());
    }

    struct Zst;
    impl Op<f64> for Zst {
        fn name(&self) -> &str {
            "zst"
        }
        fn forward(&mut self, _: &mut ForwardCtx<'_, f64>, inputs: &[&Tensor<f64>]) -> Result<Tensor<f64>> {
            Ok(inputs[0].clone())
        }
        fn backward_into(&self, _: &BackwardCtx<'_, f64>, _: &mut [GradSink<'_, f64>]) -> Result<()> {
            Ok(())
        }
    }

    fn arena_box_zst(arena: &mut OpArena) -> Box<dyn Op<f64>> {
        arena.boxed::<f64, _>(Zst)
    }
}
