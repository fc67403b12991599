// Everything drawn on a canvas: the colour scales, heat maps with points, the data-set and
// feature thumbnails, and the loss chart. The SVG network lives in network.js.

/** The Playground's look: orange for −1, light grey for 0, blue for +1. */
const NEGATIVE = [245, 147, 34];
const NEUTRAL = [232, 234, 235];
const POSITIVE = [8, 119, 189];
/** Class colours of multiclass data (class 0 and 1 keep the binary orange and blue). */
const CLASS_COLOURS = [NEGATIVE, POSITIVE, [76, 175, 80], [156, 39, 176], [233, 30, 99],
  [0, 150, 136], [121, 85, 72], [255, 193, 7], [63, 81, 181], [96, 125, 139]];

const mix = (a, b, t) => [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * t));

/** The colour of a value in [−1, 1] (clamped; NaN is neutral), optionally thresholded at 0. */
export function valueColour(value, discretize = false) {
  if (Number.isNaN(value)) return NEUTRAL;
  let v = Math.max(-1, Math.min(1, value));
  if (discretize) v = v >= 0 ? 1 : -1;
  return v < 0 ? mix(NEUTRAL, NEGATIVE, -v) : mix(NEUTRAL, POSITIVE, v);
}

/** The colour of class `c`. */
export function classColour(c) {
  return CLASS_COLOURS[((c % CLASS_COLOURS.length) + CLASS_COLOURS.length) % CLASS_COLOURS.length];
}

/** CSS `rgb()` of a colour triple. */
export const css = (rgb) => `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;

/** The colour of a point's label: ±1 (or a regression value) on the scale, classes by index. */
export function labelColour(label, classes) {
  return classes > 1 ? classColour(Math.round(label)) : valueColour(label);
}

/** Paints `map` ({size, values}) into `ctx` over `width`×`height`, scaled without smoothing. */
export function paintMap(ctx, map, width, height, { classes = 1, discretize = false } = {}) {
  const { size, values } = map;
  const cells = size * size;
  const perClass = classes > 1 && values.length === cells * classes;
  const image = new ImageData(size, size);
  for (let p = 0; p < cells; p++) {
    let rgb;
    if (classes <= 1) {
      rgb = valueColour(values[p], discretize);
    } else if (perClass) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (values[p * classes + c] > values[p * classes + best]) best = c;
      const confidence = discretize ? 1 : values[p * classes + best];
      rgb = mix(NEUTRAL, classColour(best), Math.max(0, Math.min(1, confidence)));
    } else {
      rgb = mix(NEUTRAL, classColour(Math.round(values[p])), 0.75);
    }
    image.data.set([rgb[0], rgb[1], rgb[2], 255], p * 4);
  }
  const scratch = paintMap.scratch ?? (paintMap.scratch = document.createElement('canvas'));
  scratch.width = size;
  scratch.height = size;
  scratch.getContext('2d').putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, 0, 0, width, height);
}

/** Draws points [x, y, label] over a heat map of `domain` (y up); test points get a dark ring. */
export function paintPoints(ctx, points, domain, width, height, { classes = 1, test = false } = {}) {
  const [lo, hi] = domain;
  const sx = width / (hi - lo);
  const sy = height / (hi - lo);
  ctx.lineWidth = 1;
  for (const [x, y, label] of points) {
    ctx.beginPath();
    ctx.arc((x - lo) * sx, (hi - y) * sy, width > 150 ? 3.5 : 1.6, 0, 2 * Math.PI);
    ctx.fillStyle = css(labelColour(label, classes));
    ctx.fill();
    ctx.strokeStyle = test ? '#000' : '#fff';
    if (width > 150) ctx.stroke();
  }
}

/**
 * A map of f(x, y) over [−6, 6]² (`n`×`n`, top row first), for thumbnails made in the page:
 * input features and data-set previews are pictures, not the server's data.
 */
export function sampleMap(f, n = 20) {
  const values = new Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const x = -6 + (12 * (c + 0.5)) / n;
      const y = 6 - (12 * (r + 0.5)) / n;
      values[r * n + c] = f(x, y);
    }
  }
  return { size: n, values };
}

/** The seven input features of the Playground, by hash name: label and function of (x, y). */
export const FEATURES = [
  { name: 'x', label: 'X₁', f: (x) => x / 6 },
  { name: 'y', label: 'X₂', f: (x, y) => y / 6 },
  { name: 'xSquared', label: 'X₁²', f: (x) => (x * x) / 18 - 1 },
  { name: 'ySquared', label: 'X₂²', f: (x, y) => (y * y) / 18 - 1 },
  { name: 'xTimesY', label: 'X₁X₂', f: (x, y) => (x * y) / 18 },
  { name: 'sinX', label: 'sin(X₁)', f: (x) => Math.sin(x) },
  { name: 'sinY', label: 'sin(X₂)', f: (x, y) => Math.sin(y) },
];

/** Preview pictures of the six data sets: the shape each generator draws, as a label field. */
export const DATASETS = [
  { name: 'circle', problem: 'classification', title: 'Circle', f: (x, y) => (Math.hypot(x, y) < 3 ? 1 : -1) },
  { name: 'xor', problem: 'classification', title: 'Exclusive or', f: (x, y) => (x * y >= 0 ? 1 : -1) },
  { name: 'gauss', problem: 'classification', title: 'Gaussian', f: gaussPreview },
  { name: 'spiral', problem: 'classification', title: 'Spiral', f: spiralPreview },
  { name: 'reg-plane', problem: 'regression', title: 'Plane', f: (x, y) => (x + y) / 10 },
  { name: 'reg-gauss', problem: 'regression', title: 'Multi Gaussian', f: regGaussPreview },
];

function gaussPreview(x, y) {
  // Two blobs, +1 around (2, 2) and −1 around (−2, −2), fading into the background.
  const near = (cx, cy) => Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 6);
  return near(2, 2) - near(-2, -2);
}

function spiralPreview(x, y) {
  const r = Math.hypot(x, y);
  const angle = Math.atan2(y, x);
  // Two interleaved arms: the class is the arm (the phase of the winding) the point lies nearest to.
  const turns = (r / 5) * 1.75 - angle / (2 * Math.PI);
  return Math.cos(2 * Math.PI * turns) >= 0 ? 1 : -1;
}

function regGaussPreview(x, y) {
  const centres = [[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]];
  let v = 0;
  for (const [cx, cy, s] of centres) v += s * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 3);
  return v;
}

/** The loss chart: train and test curves over epochs, autoscaled to the largest loss seen. */
export class LossChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.train = [];
    this.test = [];
  }

  reset() {
    this.train = [];
    this.test = [];
    this.draw();
  }

  /** Adds one frame's losses (frames may skip epochs: the x axis is the epoch). */
  add(epoch, train, test) {
    const last = this.train[this.train.length - 1];
    if (last && epoch <= last[0]) {
      if (epoch < last[0]) this.reset();
      else return;
    }
    this.train.push([epoch, train]);
    this.test.push([epoch, test]);
    if (this.train.length > 4000) {
      // Keep the chart's cost bounded on long runs: drop every other point.
      this.train = this.train.filter((_, i) => i % 2 === 0);
      this.test = this.test.filter((_, i) => i % 2 === 0);
    }
    this.draw();
  }

  draw() {
    const { canvas } = this;
    const ctx = canvas.getContext('2d');
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    if (this.train.length === 0) return;
    const epochs = this.train[this.train.length - 1][0] || 1;
    const finite = (v) => (Number.isFinite(v) ? v : 0);
    const top = Math.max(1e-9, ...this.train.map((p) => finite(p[1])), ...this.test.map((p) => finite(p[1])));
    const line = (series, colour) => {
      ctx.beginPath();
      series.forEach(([e, v], i) => {
        const px = (e / epochs) * (width - 2) + 1;
        const py = height - 1 - (finite(v) / top) * (height - 2);
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    };
    line(this.test, '#333');
    line(this.train, '#999');
  }
}
