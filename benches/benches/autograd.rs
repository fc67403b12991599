//! Autograd overhead: the cost of a backward pass per edge, and of one op recorded and
//! backpropagated on 1x1 tensors.
//!
//! - `backward_chain/E`: `y = tanh(tanh(…tanh(x)))`, E ops in a row, one edge each.
//! - `backward_layered/E`: a wide graph, layers of 5 values, each value the product of two values
//!   of the layer before (2 edges), summed at the end; about E edges in all.
//!
//! Both report throughput in edges (criterion's elements), so a flat throughput across
//! E = 10 … 10000 means the backward pass is linear in the number of edges. The graph is built
//! once; each iteration is one backward pass (interior gradients are recomputed, leaves
//! accumulate).
//!
//! - `op_overhead/<op>`: record one op on 1x1 parameters, backpropagate, clear: the fixed cost
//!   that a scalar-sized op pays, i.e. the bookkeeping the graph adds around the arithmetic.
//!
//! `cargo bench -p backprop-benches --bench autograd -- --quick`

use std::hint::black_box;

use backprop_autograd::{Graph, Result, Var};
use backprop_tensor::Tensor;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const EDGE_COUNTS: [usize; 4] = [10, 100, 1000, 10000];
const WIDTH: usize = 5;

/// A chain of `edges` tanh ops; returns the graph, its output, and the number of edges.
fn chain(edges: usize) -> (Graph<f64>, Var, usize) {
    let mut g = Graph::new();
    let mut v = g.leaf(Tensor::from_vec(&[1, 1], vec![0.5]));
    for _ in 0..edges {
        v = g.tanh(v).unwrap();
    }
    (g, v, edges)
}

/// Layers of `WIDTH` products of neighbours, then the last layer summed with a chain of adds;
/// returns the graph, its output, and the exact number of edges (close to `edges`).
fn layered(edges: usize) -> (Graph<f64>, Var, usize) {
    let mut g = Graph::new();
    // Ones keep every product at 1, so no value over- or underflows however deep it goes.
    let mut layer: Vec<Var> = (0..WIDTH).map(|_| g.leaf(Tensor::ones(&[1, 1]))).collect();
    let summing_edges = 2 * (WIDTH - 1);
    let layers = (edges.saturating_sub(summing_edges) / (2 * WIDTH)).max(1);
    for _ in 0..layers {
        layer = (0..WIDTH).map(|i| g.mul(layer[i], layer[(i + 1) % WIDTH]).unwrap()).collect();
    }
    let mut total = layer[0];
    for &v in &layer[1..] {
        total = g.add(total, v).unwrap();
    }
    (g, total, layers * 2 * WIDTH + summing_edges)
}

fn backward(c: &mut Criterion) {
    type Builder = fn(usize) -> (Graph<f64>, Var, usize);
    for (name, build) in [("backward_chain", chain as Builder), ("backward_layered", layered as Builder)] {
        let mut group = c.benchmark_group(name);
        for nominal in EDGE_COUNTS {
            let (mut g, out, edges) = build(nominal);
            group.throughput(Throughput::Elements(edges as u64));
            group.bench_with_input(BenchmarkId::from_parameter(nominal), &nominal, |bench, _| {
                bench.iter(|| {
                    g.backward(out).unwrap();
                    black_box(&g);
                })
            });
        }
        group.finish();
    }
}

type OpFn = fn(&mut Graph<f64>, Var, Var, Var) -> Result<Var>;

fn op_overhead(c: &mut Criterion) {
    let ops: [(&str, OpFn); 9] = [
        ("add", |g, a, b, _| g.add(a, b)),
        ("mul", |g, a, b, _| g.mul(a, b)),
        ("tanh", |g, a, _, _| g.tanh(a)),
        ("sigmoid", |g, a, _, _| g.sigmoid(a)),
        ("relu", |g, a, _, _| g.relu(a)),
        ("sum", |g, a, _, _| g.sum(a)),
        ("matmul", |g, a, b, _| g.matmul(a, b)),
        ("affine", |g, a, b, bias| g.affine(a, b, bias)),
        ("softmax", |g, a, _, _| g.softmax(a)),
    ];
    let mut group = c.benchmark_group("op_overhead");
    group.throughput(Throughput::Elements(1));
    for (name, op) in ops {
        let mut g = Graph::<f64>::new();
        let a = g.param("a", Tensor::from_vec(&[1, 1], vec![0.3]));
        let b = g.param("b", Tensor::from_vec(&[1, 1], vec![-0.7]));
        let bias = g.param("bias", Tensor::from_vec(&[1], vec![0.1]));
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let y = op(&mut g, a, b, bias).unwrap();
                g.backward(y).unwrap();
                black_box(g.value(y).unwrap());
                g.clear();
            })
        });
        black_box(g.grad(a).unwrap());
    }
    group.finish();
}

criterion_group!(benches, backward, op_overhead);
criterion_main!(benches);
