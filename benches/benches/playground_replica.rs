//! The Playground replica's speed: 500 epochs of the page's default circle run (2-4-2-1 tanh
//! network, 250 training points, batch size 10, losses over 500 points after every epoch),
//! from a fresh start. The page itself needs several seconds for this in Node (it also
//! redraws its 100 × 100 decision boundary every epoch).

use std::hint::black_box;

use backprop_playground::{Playground, PlaygroundConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const DEFAULT_CIRCLE: &str = "https://playground.tensorflow.org/#activation=tanh&batchSize=10&dataset=circle\
     &regDataset=reg-plane&learningRate=0.03&regularizationRate=0&noise=0&networkShape=4,2&seed=0.12345\
     &percTrainData=50&x=true&y=true&problem=classification";
const EPOCHS: usize = 500;

fn bench_default_circle(c: &mut Criterion) {
    let config = PlaygroundConfig::from_url(DEFAULT_CIRCLE).expect("the default URL parses");
    let mut group = c.benchmark_group("playground_replica");
    group.sample_size(20);
    // One element per trained example.
    group.throughput(Throughput::Elements((EPOCHS * config.split_index()) as u64));
    group.bench_function("default_circle_500_epochs", |bench| {
        bench.iter(|| {
            let mut run = Playground::new(&config).expect("the default config is valid");
            let history = run.run(EPOCHS);
            black_box(history[EPOCHS].test_loss)
        })
    });
    // The page's decision-boundary grid: one element per grid point.
    group.throughput(Throughput::Elements(100 * 100));
    group.bench_function("heatmap_100x100", |bench| {
        let run = Playground::new(&config).expect("the default config is valid");
        bench.iter(|| black_box(run.heatmap(100)))
    });
    group.finish();
}

criterion_group!(benches, bench_default_circle);
criterion_main!(benches);
