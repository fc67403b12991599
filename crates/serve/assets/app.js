// The page's controller: the experiment (mirrored in the URL hash), the session on the server,
// the controls, and drawing each frame the server streams. Training runs on the server; the
// page only asks and draws.

import { Session, parsePoints } from './api.js';
import { DATASETS, FEATURES, LossChart, paintMap, paintPoints, sampleMap } from './draw.js';
import { NetworkView, short } from './network.js';

/** The Playground's UI limits, kept in Playground mode (the engine has only the parameter cap). */
const PLAYGROUND_MAX_LAYERS = 6;
const PLAYGROUND_MAX_NEURONS = 8;
/** Experiment fields the page sends in every mode, and those only the engine takes. */
const COMMON_FIELDS = ['mode', 'dataset', 'problem', 'noise', 'percTrainData', 'batchSize', 'seed', 'features',
  'hidden', 'activation', 'learningRate', 'regularization', 'regularizationRate', 'showTestData', 'discretize'];
const ENGINE_FIELDS = ['optimizer', 'schedule', 'loss', 'classes'];
/** Page-only keys added to the Playground hash (the Playground ignores unknown keys). */
const PAGE_HASH_KEYS = ['mode', ...ENGINE_FIELDS];
/** The start of a streamed frame's JSON (the server writes these fields first): epoch and losses. */
const FRAME_HEAD = /^\{"epoch":(\d+),"trainLoss":([^,]*),"testLoss":([^,]*),/;
/**
 * While playing, the network's links and neuron maps are redrawn at most this often: repainting
 * a 6×8 network's 384 links and 55 maps every frame kept the browser painting, and frames
 * waited for it (the heat map, the losses and the epoch counter still follow every frame).
 */
const NETWORK_REDRAW_MS = 250;
/** Delay between layers of the backward-pass animation. */
const BACKWARD_LAYER_MS = 700;

const $ = (id) => document.getElementById(id);

/** The Playground's epoch counter: six digits, zero-padded, with thousands commas. */
export function formatEpoch(epoch) {
  const padded = String(epoch).padStart(6, '0');
  return padded.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** The Playground's loss figures: three decimals. */
export const formatLoss = (loss) => (Number.isFinite(loss) ? loss.toFixed(3) : String(loss));

/** Splits a URL hash into the Playground part and the page's own keys (mode, optimizer, ...). */
function splitHash(hash) {
  const own = {};
  const rest = [];
  for (const pair of hash.replace(/^#/, '').split('&')) {
    if (!pair) continue;
    const [key, value = ''] = pair.split('=');
    if (PAGE_HASH_KEYS.includes(key)) own[key] = decodeURIComponent(value);
    else rest.push(pair);
  }
  if (own.classes !== undefined) own.classes = Number(own.classes);
  return { playground: rest.join('&'), own };
}

class App {
  constructor() {
    this.session = null;
    this.experiment = null;
    this.latestFrame = null;
    this.frameText = null;
    this.points = { train: [], test: [] };
    this.hasHeatmap = true;
    this.playing = false;
    this.renderScheduled = false;
    this.inputLabels = [];
    // Figures the page shows, also read by e2e/bench.mjs.
    this.stats = { frames: 0, renders: 0, latencies: [], renderTimes: [] };
    window.__backprop = this;
    this.chart = new LossChart($('loss-chart'));
    this.network = new NetworkView($('network'), {
      onWeight: (l, i, j) => this.readWeight(l, i, j),
      onHoverNode: (l, i, div) => this.zoomNode(l, i, div),
      onLeaveNode: () => { $('neuron-zoom').hidden = true; },
    });
    this.buildDatasetThumbnails();
    this.buildFeatureToggles();
    this.bindControls();
  }

  /** Creates the session from the URL hash (a Playground hash works as is) and opens its stream. */
  async start() {
    const body = this.experimentFromHash(location.hash) ?? { mode: 'playground' };
    await this.guard(async () => {
      const { session, created } = await Session.create(body);
      this.session = session;
      this.limits = created.limits;
      await this.applyExperiment(created.experiment);
      this.events = session.events((text) => this.onFrameText(text), (message) => this.showError(message));
      addEventListener('hashchange', () => this.onHashChange());
      // Free the session's memory now rather than at the idle timeout.
      addEventListener('pagehide', () => fetch(session.base, { method: 'DELETE', keepalive: true }));
    });
  }

  /** The Experiment for a hash, or null when the hash is empty. */
  experimentFromHash(hash) {
    const { playground, own } = splitHash(hash);
    if (!playground && Object.keys(own).length === 0) return null;
    const body = { mode: own.mode === 'engine' ? 'engine' : 'playground' };
    if (playground) body.hash = playground;
    if (body.mode === 'engine') for (const key of ENGINE_FIELDS) if (own[key] !== undefined) body[key] = own[key];
    return body;
  }

  /** The hash the page shows: the server's resolved Playground hash plus the page's own keys. */
  hashOf(experiment) {
    // The two display switches change the drawing, not the training: set here, as the Playground does.
    let hash = (experiment.hash ?? '').replace(/^#/, '');
    for (const key of ['showTestData', 'discretize']) {
      hash = hash.replace(new RegExp(`(^|&)${key}=[^&]*`), `$1${key}=${Boolean(experiment[key])}`);
    }
    const extra = [];
    if (experiment.mode === 'engine') {
      extra.push('mode=engine');
      for (const key of ENGINE_FIELDS) if (experiment[key] !== undefined) extra.push(`${key}=${encodeURIComponent(experiment[key])}`);
    }
    return [hash, ...extra].filter(Boolean).join('&');
  }

  async onHashChange() {
    const wanted = location.hash.replace(/^#/, '');
    if (wanted === this.shownHash) return;
    const body = this.experimentFromHash(location.hash);
    if (body) await this.guard(() => this.sendExperiment(body));
  }

  /** Runs an action; its failure becomes the page's error line instead of an uncaught rejection. */
  async guard(action) {
    try {
      const result = await action();
      return result;
    } catch (e) {
      this.showError(e.message);
      return undefined;
    }
  }

  showError(message) {
    const box = $('error');
    box.textContent = message;
    box.hidden = false;
  }

  clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  /** PUTs an experiment (a full one, or {mode, hash}) and shows what the server resolved. */
  async sendExperiment(body) {
    this.clearError();
    this.network.clearBackward();
    const answer = await this.session.setExperiment(body);
    await this.applyExperiment(answer.experiment);
  }

  /** The current experiment with `changes`, as the fields the server takes (never `hash`). */
  changed(changes) {
    const next = { ...this.experiment, ...changes };
    const body = {};
    const fields = next.mode === 'engine' ? [...COMMON_FIELDS, ...ENGINE_FIELDS] : COMMON_FIELDS;
    for (const key of fields) if (next[key] !== undefined && next[key] !== null) body[key] = next[key];
    return body;
  }

  update(changes) {
    return this.guard(() => this.sendExperiment(this.changed(changes)));
  }

  /** Shows a resolved experiment in the controls and the hash; training restarted at epoch 0. */
  async applyExperiment(experiment) {
    this.experiment = experiment;
    // Only uploaded data can lack the plane's two coordinates.
    if (experiment.dataset !== 'upload') this.hasHeatmap = true;
    this.playing = false;
    this.showPlaying();
    const e = experiment;
    const set = (id, value) => { if (value !== undefined) $(id).value = String(value); };
    set('learning-rate', e.learningRate);
    set('activation', e.activation);
    set('regularization', e.regularization);
    set('regularization-rate', e.regularizationRate);
    set('problem', e.problem);
    set('mode', e.mode);
    set('optimizer', e.optimizer);
    set('schedule', e.schedule);
    set('loss', e.loss);
    set('perc-train', e.percTrainData);
    set('noise', e.noise);
    set('batch-size', e.batchSize);
    $('perc-value').textContent = e.percTrainData;
    $('noise-value').textContent = e.noise;
    $('batch-value').textContent = e.batchSize;
    $('show-test').checked = Boolean(e.showTestData);
    $('discretize').checked = Boolean(e.discretize);
    document.body.classList.toggle('engine', e.mode === 'engine');
    for (const thumb of document.querySelectorAll('[data-dataset]')) {
      thumb.classList.toggle('selected', thumb.dataset.dataset === e.dataset);
    }
    for (const toggle of document.querySelectorAll('[data-feature]')) {
      toggle.classList.toggle('selected', (e.features ?? []).includes(toggle.dataset.feature));
    }
    this.buildNeuronControls();
    const hash = this.hashOf(e);
    this.shownHash = hash;
    if (location.hash.replace(/^#/, '') !== hash) history.replaceState(null, '', `#${hash}`);
    $('export-model').href = this.session.url('model.safetensors');
    $('export-data').href = this.session.url('data.csv');
    this.inputLabels = e.dataset === 'upload' && this.uploadFeatures
      ? this.uploadFeatures
      : FEATURES.filter((f) => (e.features ?? []).includes(f.name)).map((f) => f.label);
    const pathInput = $('path-input');
    pathInput.textContent = '';
    this.inputLabels.forEach((label, k) => pathInput.add(new Option(label, String(k))));
    this.chart.reset();
    this.frame = null;
    await this.loadPoints();
  }

  /** The points from data.csv (frames carry them only right after a change). */
  async loadPoints() {
    if (!this.hasHeatmap) {
      this.points = { train: [], test: [] };
      return;
    }
    const text = await this.session.dataCsv().catch(() => null);
    if (text) this.setPoints(parsePoints(text));
  }

  /** Points to draw: uploaded {0, 1} class labels shown as the Playground's −1 (orange) and +1 (blue). */
  setPoints(points) {
    const all = [...points.train, ...points.test];
    const zeroOne = this.experiment?.dataset === 'upload' && all.length > 0 && all.every((p) => p[2] === 0 || p[2] === 1);
    const signed = (list) => list.map(([x, y, label]) => [x, y, 2 * label - 1]);
    this.points = zeroOne ? { train: signed(points.train), test: signed(points.test) } : points;
  }

  /** The latest frame; a streamed one is parsed on first use. */
  get frame() {
    if (this.frameText !== null) {
      this.latestFrame = JSON.parse(this.frameText);
      this.frameText = null;
    }
    return this.latestFrame;
  }

  set frame(frame) {
    this.latestFrame = frame;
    this.frameText = null;
  }

  onFrame(frame) {
    this.stats.frames++;
    if (frame.points) this.setPoints(frame.points);
    this.frame = frame;
    this.chart.add(frame.epoch, frame.trainLoss, frame.testLoss);
    this.scheduleRender();
  }

  /**
   * A streamed frame's JSON text. Only its losses are read now (for the chart); the rest is
   * parsed when the page draws, if no newer frame came meanwhile: a 6×8 network's frame takes
   * longer to parse than the stream's interval, and parsing each one queued the frames behind
   * the page's work. Frames with points are parsed at once.
   */
  onFrameText(text) {
    const head = FRAME_HEAD.exec(text.slice(0, 200));
    if (!head || text.includes('"points":')) {
      this.onFrame(JSON.parse(text));
      return;
    }
    this.stats.frames++;
    this.frameText = text;
    this.chart.add(Number(head[1]), JSON.parse(head[2]), JSON.parse(head[3]));
    this.scheduleRender();
  }

  scheduleRender() {
    if (!this.renderScheduled) {
      this.renderScheduled = true;
      requestAnimationFrame(() => this.render());
    }
  }

  /** Draws the latest frame (at most once per display frame, however many arrived). */
  render() {
    this.renderScheduled = false;
    const frame = this.frame;
    if (!frame) return;
    const started = performance.now();
    // Two classes draw as the Playground's one scale (orange −1, blue +1); more get a colour each.
    const classes = (frame.classes ?? 1) > 2 ? frame.classes : 1;
    $('epoch').textContent = formatEpoch(frame.epoch);
    $('test-loss').textContent = formatLoss(frame.testLoss);
    $('train-loss').textContent = formatLoss(frame.trainLoss);
    $('epochs-per-second').textContent = Number.isFinite(frame.epochsPerSecond) ? Math.round(frame.epochsPerSecond).toLocaleString('en-US') : '–';
    const sizes = frame.weights && frame.weights.length
      ? [frame.weights[0].length, ...frame.weights.map((w) => (w[0] ? w[0].length : 0))]
      : null;
    if (sizes && !this.network.matches(sizes)) {
      // The feature toggles name the Playground's inputs; uploaded columns are named on the nodes.
      this.network.build(sizes, this.experiment.dataset === 'upload' ? this.inputLabels : []);
      const output = $('path-output');
      output.textContent = '';
      for (let o = 0; o < sizes[sizes.length - 1]; o++) output.add(new Option(String(o), String(o)));
    }
    if (!this.playing || !(started - this.networkDrawnAt < NETWORK_REDRAW_MS)) {
      this.network.update(frame);
      this.networkDrawnAt = started;
    }
    const canvas = $('heatmap').querySelector('canvas');
    $('heatmap').hidden = !frame.heatmap;
    $('no-heatmap').hidden = Boolean(frame.heatmap);
    if (frame.heatmap) {
      const ctx = canvas.getContext('2d');
      const options = { classes, discretize: $('discretize').checked };
      paintMap(ctx, frame.heatmap, canvas.width, canvas.height, options);
      const domain = frame.heatmap.domain ?? [-6, 6];
      paintPoints(ctx, this.points.train, domain, canvas.width, canvas.height, { classes });
      if ($('show-test').checked) paintPoints(ctx, this.points.test, domain, canvas.width, canvas.height, { classes, test: true });
    }
    const now = Date.now();
    const latency = now - frame.stepTimeMs;
    this.stats.renders++;
    this.stats.latencies.push(latency);
    this.stats.renderTimes.push(performance.now());
    if (this.stats.latencies.length > 2000) this.stats.latencies.splice(0, 1000);
    if (this.stats.renderTimes.length > 2000) this.stats.renderTimes.splice(0, 1000);
    const recent = this.stats.renderTimes.filter((t) => t > performance.now() - 1000);
    $('fps').textContent = String(recent.length);
    $('latency').textContent = String(Math.max(0, Math.round(latency)));
    this.stats.lastRenderMs = performance.now() - started;
  }

  /** A display switch: redraw and keep it in the hash, without restarting the training. */
  setDisplay(field, value) {
    this.experiment = { ...this.experiment, [field]: value };
    this.shownHash = this.hashOf(this.experiment);
    history.replaceState(null, '', `#${this.shownHash}`);
    this.render();
  }

  showPlaying() {
    const play = $('play');
    play.textContent = this.playing ? '❚❚' : '▶';
    play.dataset.playing = String(this.playing);
    play.classList.toggle('playing', this.playing);
  }

  async togglePlay() {
    this.clearError();
    this.network.clearBackward();
    const answer = await this.guard(() => this.session.command(this.playing ? 'pause' : 'play'));
    if (answer) {
      this.playing = answer.playing;
      this.showPlaying();
    }
  }

  async stepOnce() {
    this.clearError();
    this.network.clearBackward();
    if (this.playing) await this.togglePlay();
    const frame = await this.guard(() => this.session.step(1));
    if (frame) this.onFrame(frame);
  }

  async reset() {
    this.clearError();
    this.network.clearBackward();
    const answer = await this.guard(() => this.session.command('reset'));
    if (answer) {
      this.playing = answer.playing;
      this.showPlaying();
      this.chart.reset();
    }
  }

  async regenerate() {
    this.clearError();
    await this.guard(async () => {
      await this.session.command('regenerate');
      const state = await this.session.get();
      await this.applyExperiment(state.experiment);
    });
  }

  /** Uploads the chosen CSV; the server's message (row and column) is shown for a bad file. */
  async upload(file) {
    this.clearError();
    const info = $('upload-info');
    info.textContent = '';
    await this.guard(async () => {
      const text = await file.text();
      // The replica trains only the Playground's own data sets: own data goes to the engine.
      if (this.experiment.mode !== 'engine') await this.sendExperiment(this.changed({ mode: 'engine' }));
      const answer = await this.session.upload(text);
      this.hasHeatmap = answer.heatmap;
      this.uploadFeatures = answer.features;
      info.textContent = `${file.name}: ${answer.rows} rows, ${answer.columns} columns (${answer.features.join(', ')})`
        + (answer.classes && answer.classes.length ? `, classes ${answer.classes.join(', ')}` : '')
        + (answer.heatmap ? '' : ': curves and metrics only');
      const state = await this.session.get();
      await this.applyExperiment(state.experiment);
    });
  }

  /** The derivative panel for link l-i-j: value, ∂L/∂w and the path sum for the chosen input/output. */
  async readWeight(l, i, j) {
    this.network.select(l, i, j);
    const query = { layer: l, from: i, to: j, input: $('path-input').value || 0, output: $('path-output').value || 0 };
    const info = await this.guard(() => this.session.weight(query));
    if (!info) return;
    const box = $('weight-info');
    box.textContent = '';
    const line = (label, value, testid) => {
      const div = document.createElement('div');
      div.append(`${label} `);
      const out = document.createElement('output');
      out.dataset.testid = testid;
      out.dataset.value = String(value);
      out.textContent = short(value);
      div.append(out);
      box.append(div);
    };
    const head = document.createElement('div');
    head.className = 'weight-name';
    head.textContent = `Weight of layer ${l}, node ${i} → node ${j}`;
    box.append(head);
    line('w =', info.value, 'weight-value');
    line('∂L/∂w =', info.grad, 'weight-grad');
    line(`Path sum, input ${query.input} → output ${query.output}, through this weight (${info.pathCount} paths): Σ Π ∂child/∂parent =`, info.pathSum, 'weight-path-sum');
    const list = document.createElement('ol');
    list.className = 'paths';
    for (const path of info.paths.slice(0, 8)) {
      const item = document.createElement('li');
      item.textContent = `${path.nodes.map(([a, b]) => `${a}:${b}`).join(' → ')}  = ${short(path.product)}`;
      list.append(item);
    }
    if (info.paths.length > 8 || info.pathCount > info.paths.length) {
      const more = document.createElement('li');
      more.textContent = `… ${info.pathCount - Math.min(8, info.paths.length)} more`;
      list.append(more);
    }
    box.append(list);
  }

  /**
   * One mini-batch through the backward endpoint, then the backward pass drawn layer by layer
   * from the output: each link's ∂L/∂w, each neuron's ∂L/∂z, the Dense layer's formulas beside.
   */
  async backwardStep() {
    this.clearError();
    if (this.playing) await this.togglePlay();
    const answer = await this.guard(() => this.session.backward());
    if (!answer) return;
    const panel = $('backward-info');
    panel.textContent = '';
    const batch = document.createElement('div');
    batch.textContent = `Mini-batch of ${answer.batch.length} rows (${answer.batch.slice(0, 10).join(', ')}${answer.batch.length > 10 ? ', …' : ''}); values before the update.`;
    panel.append(batch);
    const token = (this.backwardToken = (this.backwardToken ?? 0) + 1);
    this.network.clearBackward();
    for (let l = answer.layers.length - 1; l >= 0; l--) {
      if (token !== this.backwardToken) return;
      const layer = answer.layers[l];
      this.network.showBackward(l, layer);
      const block = document.createElement('div');
      block.className = 'backward-layer';
      block.dataset.layer = String(l);
      const inputs = layer.W.length;
      const outputs = layer.db.length;
      block.innerHTML = '';
      const title = document.createElement('div');
      title.className = 'weight-name';
      title.textContent = `Layer ${l + 1} (${inputs} → ${outputs})`;
      const rows = [
        `∂L/∂z = [${layer.dZ.map(short).join(', ')}]`,
        `${answer.formulas.dW}: ${inputs}×${outputs}, largest |∂L/∂w| = ${short(Math.max(...layer.dW.flat().map(Math.abs)))}`,
        `${answer.formulas.db}: [${layer.db.map(short).join(', ')}]`,
        l > 0 ? `${answer.formulas.dX}: passes ∂L/∂a to layer ${l}` : `${answer.formulas.dX}: ∂L/∂inputs (not used to update)`,
      ];
      block.append(title);
      for (const text of rows) {
        const div = document.createElement('div');
        div.textContent = text;
        block.append(div);
      }
      panel.append(block);
      await new Promise((resolve) => setTimeout(resolve, BACKWARD_LAYER_MS));
    }
    panel.dataset.done = 'true';
  }

  zoomNode(l, i, div) {
    const map = this.frame?.neurons?.[l]?.[i];
    if (!map) return;
    const zoom = $('neuron-zoom');
    const canvas = zoom.querySelector('canvas');
    paintMap(canvas.getContext('2d'), map, canvas.width, canvas.height);
    zoom.querySelector('span').textContent = l === 0 ? (this.inputLabels[i] ?? `input ${i}`) : `layer ${l}, neuron ${i}`;
    const box = div.getBoundingClientRect();
    const host = zoom.offsetParent?.getBoundingClientRect() ?? { left: 0, top: 0 };
    zoom.style.left = `${box.right - host.left + 8}px`;
    zoom.style.top = `${box.top - host.top - 60}px`;
    zoom.hidden = false;
  }

  buildDatasetThumbnails() {
    const host = $('datasets');
    for (const d of DATASETS) {
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 48;
      canvas.className = 'thumb';
      canvas.dataset.dataset = d.name;
      canvas.dataset.testid = `dataset-${d.name}`;
      canvas.title = d.title;
      paintMap(canvas.getContext('2d'), sampleMap(d.f, 24), 48, 48);
      canvas.addEventListener('click', () => this.update({ dataset: d.name, problem: d.problem }));
      host.append(canvas);
    }
  }

  buildFeatureToggles() {
    const host = $('features');
    for (const f of FEATURES) {
      const toggle = document.createElement('div');
      toggle.className = 'feature';
      toggle.dataset.feature = f.name;
      toggle.dataset.testid = `feature-${f.name}`;
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 28;
      paintMap(canvas.getContext('2d'), sampleMap(f.f, 14), 28, 28);
      const label = document.createElement('span');
      label.textContent = f.label;
      toggle.append(canvas, label);
      toggle.addEventListener('click', () => {
        const features = new Set(this.experiment.features);
        if (features.has(f.name)) features.delete(f.name); else features.add(f.name);
        this.update({ features: FEATURES.map((g) => g.name).filter((n) => features.has(n)) });
      });
      host.append(toggle);
    }
  }

  /** +/− per hidden layer; the Playground's limits of 6 layers and 8 neurons only in its mode. */
  buildNeuronControls() {
    const hidden = this.experiment.hidden ?? [];
    const playground = this.experiment.mode !== 'engine';
    $('layer-count').textContent = `${hidden.length} hidden layer${hidden.length === 1 ? '' : 's'}`;
    $('add-layer').disabled = playground && hidden.length >= PLAYGROUND_MAX_LAYERS;
    $('remove-layer').disabled = hidden.length === 0;
    const host = $('neuron-controls');
    host.textContent = '';
    hidden.forEach((n, h) => {
      const group = document.createElement('div');
      group.className = 'neurons';
      const button = (text, delta, testid, disabled) => {
        const b = document.createElement('button');
        b.className = 'round small';
        b.textContent = text;
        b.dataset.testid = testid;
        b.disabled = disabled;
        b.addEventListener('click', () => {
          const next = hidden.slice();
          next[h] = n + delta;
          this.update({ hidden: next });
        });
        return b;
      };
      const count = document.createElement('span');
      count.textContent = `${n} neuron${n === 1 ? '' : 's'}`;
      group.append(button('+', 1, `neurons-plus-${h}`, playground && n >= PLAYGROUND_MAX_NEURONS),
        button('−', -1, `neurons-minus-${h}`, n <= 1), count);
      host.append(group);
    });
  }

  bindControls() {
    $('play').addEventListener('click', () => this.togglePlay());
    $('step').addEventListener('click', () => this.stepOnce());
    $('reset').addEventListener('click', () => this.reset());
    $('regenerate').addEventListener('click', () => this.regenerate());
    $('backward-step').addEventListener('click', () => this.backwardStep());
    $('add-layer').addEventListener('click', () => {
      const hidden = this.experiment.hidden ?? [];
      this.update({ hidden: [...hidden, hidden[hidden.length - 1] ?? 2] });
    });
    $('remove-layer').addEventListener('click', () => this.update({ hidden: (this.experiment.hidden ?? []).slice(0, -1) }));
    const numeric = { 'learning-rate': 'learningRate', 'regularization-rate': 'regularizationRate' };
    for (const [id, field] of Object.entries(numeric)) {
      $(id).addEventListener('change', (e) => this.update({ [field]: Number(e.target.value) }));
    }
    const text = { activation: 'activation', regularization: 'regularization', problem: 'problem', mode: 'mode',
      optimizer: 'optimizer', schedule: 'schedule', loss: 'loss' };
    for (const [id, field] of Object.entries(text)) {
      $(id).addEventListener('change', (e) => {
        const changes = { [field]: e.target.value };
        if (field === 'problem') changes.dataset = e.target.value === 'regression' ? 'reg-plane' : 'circle';
        this.update(changes);
      });
    }
    const sliders = { 'perc-train': ['percTrainData', 'perc-value'], noise: ['noise', 'noise-value'], 'batch-size': ['batchSize', 'batch-value'] };
    for (const [id, [field, shown]] of Object.entries(sliders)) {
      $(id).addEventListener('input', (e) => { $(shown).textContent = e.target.value; });
      $(id).addEventListener('change', (e) => this.update({ [field]: Number(e.target.value) }));
    }
    for (const [id, field] of [['show-test', 'showTestData'], ['discretize', 'discretize']]) {
      $(id).addEventListener('change', (e) => this.setDisplay(field, e.target.checked));
    }
    $('open-url').addEventListener('submit', (e) => {
      e.preventDefault();
      const text = $('playground-url').value.trim();
      const body = this.experimentFromHash(text.includes('#') ? text.slice(text.indexOf('#')) : text);
      if (body) this.guard(() => this.sendExperiment(body));
    });
    $('csv-file').addEventListener('change', (e) => {
      const file = e.target.files[0];
      if (file) this.upload(file);
      e.target.value = '';
    });
  }
}

new App().start();
