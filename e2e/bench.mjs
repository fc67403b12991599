// Browser-side speed of `backprop serve`, in headless chromium:
//   node e2e/bench.mjs http://127.0.0.1:PORT/ [seconds per experiment, default 10]
// For each experiment it opens the page at a URL hash, presses play, skips a 2 s warm-up, then
// counts over the window: frames drawn per second, step-to-frame latency (Date.now() -
// frame.stepTimeMs when the frame is drawn: median and 95th percentile), and epochs per second
// (epochs advanced in the window, and the server's own figure). Prints one JSON line per
// experiment and writes them all to target/e2e/bench.json. Numbers are only meaningful on an
// idle machine; docs/PERFORMANCE.md says how they were taken.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, waitFor } from './browser.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = process.env.BACKPROP_E2E_OUT || join(ROOT, 'target', 'e2e');
const ALL_FEATURES = 'x=true&y=true&xSquared=true&ySquared=true&xTimesY=true&sinX=true&sinY=true';
/** The Playground's default experiment, and the spiral with all features and 6 hidden layers of 8. */
const EXPERIMENTS = [
  { name: 'playground-default', hash: 'seed=0.12345' },
  { name: 'spiral-8x6-all-features', hash: `dataset=spiral&networkShape=8,8,8,8,8,8&${ALL_FEATURES}&seed=0.12345` },
  { name: 'engine-spiral-8x6-all-features', hash: `dataset=spiral&networkShape=8,8,8,8,8,8&${ALL_FEATURES}&seed=0.12345&mode=engine` },
];
const WARMUP_MS = 2000;

const url = process.argv[2];
const seconds = Number(process.argv[3] ?? 10);
if (!url || !(seconds > 0)) {
  console.error('usage: node e2e/bench.mjs http://HOST:PORT/ [seconds]');
  process.exit(2);
}

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const { context, close } = await launch();
const results = [];
try {
  for (const experiment of EXPERIMENTS) {
    const page = await context.newPage();
    await page.goto(`${url}#${experiment.hash}`);
    await waitFor('a first frame', () => page.evaluate(() => window.__backprop?.stats.renders > 0));
    await page.click('#play');
    await page.waitForTimeout(WARMUP_MS);
    const start = await page.evaluate(() => ({ renders: window.__backprop.stats.renders, epoch: window.__backprop.frame.epoch, t: performance.now(), latencies: window.__backprop.stats.latencies.length }));
    await page.waitForTimeout(seconds * 1000);
    const end = await page.evaluate(() => ({
      renders: window.__backprop.stats.renders, epoch: window.__backprop.frame.epoch, t: performance.now(),
      latencies: window.__backprop.stats.latencies.slice(), serverEpochsPerSecond: window.__backprop.frame.epochsPerSecond,
    }));
    await page.click('#play');
    const elapsed = (end.t - start.t) / 1000;
    const window_ = end.latencies.slice(-(end.renders - start.renders)).sort((a, b) => a - b);
    const result = {
      experiment: experiment.name,
      hash: experiment.hash,
      seconds: Number(elapsed.toFixed(2)),
      framesPerSecond: Number(((end.renders - start.renders) / elapsed).toFixed(1)),
      latencyMedianMs: Number(percentile(window_, 0.5)?.toFixed(1)),
      latencyP95Ms: Number(percentile(window_, 0.95)?.toFixed(1)),
      epochsPerSecond: Math.round((end.epoch - start.epoch) / elapsed),
      serverEpochsPerSecond: Math.round(end.serverEpochsPerSecond),
    };
    console.log(JSON.stringify(result));
    results.push(result);
    await page.close();
  }
} finally {
  await close();
}
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
