// End-to-end test of `backprop serve` in a real headless chromium:
//   node e2e/playground.spec.mjs http://127.0.0.1:PORT/
// (`cargo xtask test` starts the server and runs this with CI or BACKPROP_BROWSER=1 set.)
// Each check prints `ok - name` or `not ok - name: why`; the last line is
// `e2e: N passed, M failed`, and the exit status is 1 when any check failed.

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, shownEpoch, waitFor } from './browser.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = process.env.BACKPROP_E2E_OUT || join(ROOT, 'target', 'e2e');
/** Runs of the real Playground's code (crates/playground/tests/data/README.md says how they were made). */
const RUNS = join(ROOT, 'crates', 'playground', 'tests', 'data', 'playground_runs.json');
/** Reference run compared epoch by epoch: xor with L1, noise and five input features. */
const REFERENCE_CASE = 'b_xor_l1_dead_links';
/** Epochs the page must pass while playing. */
const PLAY_EPOCHS = 100;

const url = process.argv[2];
if (!url) {
  console.error('usage: node e2e/playground.spec.mjs http://HOST:PORT/');
  process.exit(2);
}

let passed = 0;
let failed = 0;
/** Runs one named check; a thrown error or a false result fails it, and the run goes on. */
async function check(name, body) {
  try {
    const result = await body();
    if (result === false) throw new Error('condition false');
    passed++;
    console.log(`ok - ${name}${typeof result === 'string' ? ` (${result})` : ''}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e.message.split('\n')[0]}`);
  }
}

/** The heat map canvas's RGBA pixels, as a plain array. */
const heatmapPixels = (page) => page.evaluate(() => {
  const canvas = document.querySelector('#heatmap canvas');
  return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
});

/** An API call made from the page (same origin), returning {status, body}. */
const api = (page, method, path, body) => page.evaluate(async ([m, p, b]) => {
  const init = { method: m, headers: {} };
  if (b !== null) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(b);
  }
  const response = await fetch(p, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}, [method, path, body ?? null]);

const { context, close } = await launch();
const page = await context.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
// The browser logs each 4xx answer as a console error; those are expected (the bad CSV), the rest not.
page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text()); });

try {
  await check('the page loads and draws a first frame', async () => {
    await page.goto(url);
    await waitFor('a first frame', () => page.evaluate(() => window.__backprop?.stats.renders > 0));
    return (await page.locator('#epoch').textContent()) === '000,000';
  });

  // Read without waiting: after a failed first check these are NaN and empty, and the checks
  // that use them fail with that rather than the run stopping.
  const initialLoss = Number(await page.evaluate(() => document.querySelector('#test-loss').textContent));
  const before = await heatmapPixels(page);

  let playing = null;
  await check(`play runs past epoch ${PLAY_EPOCHS}`, async () => {
    await page.click('#play');
    await waitFor(`epoch > ${PLAY_EPOCHS}`, async () => (await shownEpoch(page)) > PLAY_EPOCHS, 60000);
    // The speed figures while playing (the server reports 0 epochs/s once paused).
    const eps = Number((await page.locator('#epochs-per-second').textContent()).replace(/,/g, ''));
    const latency = Number(await page.locator('#latency').textContent());
    playing = { eps, latency };
    await page.click('#play');
    await waitFor('pause', async () => (await page.locator('#play').getAttribute('data-playing')) === 'false');
    return `epoch ${await shownEpoch(page)}`;
  });

  await check('the test loss went down', async () => {
    const now = Number(await page.locator('#test-loss').textContent());
    if (!(now < initialLoss)) throw new Error(`test loss ${now} is not below the first ${initialLoss}`);
    return `${initialLoss} -> ${now}`;
  });

  await check("the heat map's pixels changed", async () => {
    const after = await heatmapPixels(page);
    let changed = 0;
    for (let p = 0; p < after.length; p += 4) {
      if (after[p] !== before[p] || after[p + 1] !== before[p + 1] || after[p + 2] !== before[p + 2]) changed++;
    }
    const share = changed / (after.length / 4);
    if (share < 0.05) throw new Error(`only ${(share * 100).toFixed(1)}% of the pixels changed`);
    return `${(share * 100).toFixed(0)}% of the pixels`;
  });

  await check('while playing the page shows epochs/s and the frame latency', async () => {
    const { eps, latency } = playing ?? {};
    if (!(eps > 0) || !Number.isFinite(latency)) throw new Error(`epochs/s ${eps}, latency ${latency} while playing`);
    return `${eps} epochs/s, latency ${latency} ms`;
  });

  await check('clicking a weight shows its value and ∂L/∂w, the same as the API', async () => {
    // Paused, so that the page, the API and the frame show one state.
    await page.evaluate(async () => { if (window.__backprop.playing) await window.__backprop.togglePlay(); });
    await page.locator('[data-weight="1-0-0"]').dispatchEvent('click');
    const grad = page.locator('[data-testid="weight-grad"]');
    await grad.waitFor({ timeout: 10000 });
    const shown = Number(await grad.getAttribute('data-value'));
    const value = Number(await page.locator('[data-testid="weight-value"]').getAttribute('data-value'));
    const sum = Number(await page.locator('[data-testid="weight-path-sum"]').getAttribute('data-value'));
    const id = await page.evaluate(() => window.__backprop.session.id);
    const direct = await api(page, 'GET', `/api/sessions/${id}/weight?layer=1&from=0&to=0&input=0&output=0`);
    if (direct.status !== 200) throw new Error(`GET weight: ${direct.status} ${JSON.stringify(direct.body)}`);
    if (direct.body.grad !== shown || direct.body.value !== value) {
      throw new Error(`page shows w=${value} grad=${shown}, the API says w=${direct.body.value} grad=${direct.body.grad}`);
    }
    if (![shown, value, sum].every(Number.isFinite)) throw new Error('a non-finite number');
    // The paused state's frame may still be on its way.
    await waitFor('the frame of the paused state', () => page.evaluate((v) => window.__backprop.frame.weights[1][0][0] === v, value), 5000);
    return `w=${value}, ∂L/∂w=${shown}, path sum ${sum}`;
  });

  await check('a backward step draws ∂L/∂z and ∂L/∂w layer by layer with the formulas', async () => {
    await page.click('#backward-step');
    await waitFor('the backward animation', async () => (await page.locator('#backward-info').getAttribute('data-done')) === 'true', 20000);
    const text = await page.locator('#backward-info').textContent();
    for (const formula of ['dW = Xᵀ·dZ', 'dX = dZ·Wᵀ']) if (!text.includes(formula)) throw new Error(`no "${formula}"`);
    const grads = await page.evaluate(() => Array.from(document.querySelectorAll('[data-weight][data-grad]')).map((p) => Number(p.dataset.grad)));
    const links = await page.locator('[data-weight]').count();
    if (grads.length !== links || !grads.every(Number.isFinite)) throw new Error(`${grads.length} of ${links} links have a finite ∂L/∂w`);
    const labelled = await page.evaluate(() => Array.from(document.querySelectorAll('.node.active .node-grad')).filter((n) => n.textContent).length);
    if (labelled === 0) throw new Error('no neuron shows ∂L/∂z');
    return `${links} links, ${labelled} neurons`;
  });

  await check('the export links give a safetensors model and the data as CSV', async () => {
    const got = await page.evaluate(async () => {
      const model = await fetch(document.querySelector('#export-model').href);
      const bytes = new Uint8Array(await model.arrayBuffer());
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(bytes.slice(8, 8 + headerLength)));
      const data = await fetch(document.querySelector('#export-data').href);
      return { status: model.status, tensors: Object.keys(header).filter((k) => k !== '__metadata__'), csv: (await data.text()).split('\n')[0] };
    });
    if (got.status !== 200 || got.tensors.length === 0) throw new Error(`model: ${JSON.stringify(got)}`);
    if (got.csv !== 'x,y,label,split') throw new Error(`data.csv header ${got.csv}`);
    return `${got.tensors.length} tensors`;
  });

  const scratch = mkdtempSync(join(tmpdir(), 'backprop-e2e-'));
  await check('a good CSV uploads and trains', async () => {
    const rows = ['x,y,label'];
    for (let k = 0; k < 200; k++) {
      const [x, y] = [Math.cos(k * 2.399) * (k % 5) * 1.2, Math.sin(k * 2.399) * (k % 5) * 1.2];
      rows.push(`${x.toFixed(4)},${y.toFixed(4)},${Math.hypot(x, y) < 2.5 ? 1 : 0}`);
    }
    const file = join(scratch, 'good.csv');
    writeFileSync(file, `${rows.join('\n')}\n`);
    await page.setInputFiles('#csv-file', file);
    await waitFor('the upload summary', async () => /200 rows/.test(await page.locator('#upload-info').textContent()), 15000);
    if (await page.locator('#error').isVisible()) throw new Error(`error shown: ${await page.locator('#error').textContent()}`);
    const frame = await page.evaluate(() => window.__backprop.session.step(5));
    if (frame.epoch !== 5 || !Number.isFinite(frame.testLoss)) throw new Error(`step after upload: ${JSON.stringify(frame).slice(0, 200)}`);
    return (await page.locator('#upload-info').textContent()).slice(0, 60);
  });

  await check('a bad CSV shows the server\'s error naming line and column', async () => {
    const file = join(scratch, 'bad.csv');
    writeFileSync(file, 'x,y,label\n1,2,0\n3,abc,1\n');
    await page.setInputFiles('#csv-file', file);
    await page.locator('#error').waitFor({ state: 'visible', timeout: 10000 });
    const message = await page.locator('#error').textContent();
    // The data crate's wording: `data.csv:3: column 'y' (2): 'abc' is not a number` (line 3 = the bad row).
    if (!/\b3\b/.test(message) || !/column/i.test(message) || !message.includes('abc')) throw new Error(`message: ${message}`);
    return message;
  });

  const reference = JSON.parse(readFileSync(RUNS, 'utf8')).cases.find((c) => c.id === REFERENCE_CASE);
  const hash = reference.url_hash.replace(/^#/, '');
  const replica = await context.newPage();
  replica.on('pageerror', (e) => pageErrors.push(e.message));
  await check(`a Playground URL (${REFERENCE_CASE}) shows the real Playground's losses at epochs 0-10`, async () => {
    await replica.goto(`${url}#${hash}`);
    await waitFor('a first frame', () => replica.evaluate(() => window.__backprop?.stats.renders > 0));
    const wanted = new Map(reference.loss.map((l) => [l.epoch, l]));
    const compared = [];
    for (let epoch = 0; epoch <= 10; epoch++) {
      if (epoch > 0) {
        await replica.click('#step');
        await waitFor(`epoch ${epoch}`, async () => (await shownEpoch(replica)) === epoch, 10000);
      }
      const ref = wanted.get(epoch);
      if (!ref) continue;
      const shown = [await replica.locator('#train-loss').textContent(), await replica.locator('#test-loss').textContent()];
      const expected = [ref.train.toFixed(3), ref.test.toFixed(3)];
      if (shown[0] !== expected[0] || shown[1] !== expected[1]) {
        throw new Error(`epoch ${epoch}: page shows train ${shown[0]} test ${shown[1]}, the Playground ${expected[0]} ${expected[1]}`);
      }
      compared.push(epoch);
    }
    return `epochs ${compared.join(',')}`;
  });

  await check('the same hash through the API gives the same numbers as the page and the Playground', async () => {
    const created = await api(replica, 'POST', '/api/sessions', { mode: 'playground', hash });
    if (created.status !== 201) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
    const stepped = await api(replica, 'POST', `/api/sessions/${created.body.id}/step`, { epochs: 10 });
    await api(replica, 'DELETE', `/api/sessions/${created.body.id}`);
    const ref = reference.loss.find((l) => l.epoch === 10);
    if (stepped.body.trainLoss !== ref.train || stepped.body.testLoss !== ref.test) {
      throw new Error(`API epoch 10: ${stepped.body.trainLoss} ${stepped.body.testLoss}, Playground ${ref.train} ${ref.test}`);
    }
    const shown = await replica.locator('#test-loss').textContent();
    if (shown !== stepped.body.testLoss.toFixed(3)) throw new Error(`page ${shown}, API ${stepped.body.testLoss.toFixed(3)}`);
    return `test loss ${stepped.body.testLoss}`;
  });

  await check('the URL hash keeps the experiment', async () => {
    const shownHash = await replica.evaluate(() => location.hash);
    for (const field of ['dataset=xor', 'regularization=L1', 'seed=l1.dead', 'networkShape=4,2']) {
      if (!shownHash.includes(field)) throw new Error(`hash ${shownHash} lacks ${field}`);
    }
    return true;
  });

  await check('engine mode: a network past the Playground\'s 6×8 with Adam, kept in the hash', async () => {
    const engine = await context.newPage();
    engine.on('pageerror', (e) => pageErrors.push(e.message));
    await engine.goto(`${url}#dataset=spiral&networkShape=10,10,10,10,10,10,10&seed=0.5&mode=engine&optimizer=adam`);
    await waitFor('a first frame', () => engine.evaluate(() => window.__backprop?.stats.renders > 0));
    const drawn = await engine.locator('[data-node="7-9"]').count();
    const shown = [await engine.locator('#mode').inputValue(), await engine.locator('#optimizer').inputValue()];
    await engine.click('#step');
    await waitFor('epoch 1', async () => (await shownEpoch(engine)) === 1, 10000);
    const loss = Number(await engine.locator('#test-loss').textContent());
    const hash = await engine.evaluate(() => location.hash);
    await engine.close();
    if (drawn !== 1) throw new Error('no node 9 in hidden layer 7');
    if (shown.join() !== 'engine,adam') throw new Error(`controls show ${shown}`);
    if (!Number.isFinite(loss)) throw new Error(`test loss ${loss}`);
    if (!hash.includes('mode=engine') || !hash.includes('optimizer=adam') || !hash.includes('networkShape=10,10,10,10,10,10,10')) throw new Error(`hash ${hash}`);
    return `test loss ${loss} after one epoch`;
  });

  await check('a screenshot is saved', async () => {
    mkdirSync(OUT, { recursive: true });
    await page.bringToFront();
    await page.screenshot({ path: join(OUT, 'playground.png'), fullPage: true });
    await replica.screenshot({ path: join(OUT, 'playground-replica.png'), fullPage: true });
    return join(OUT, 'playground.png');
  });

  await check('no JavaScript errors in the page', async () => {
    if (pageErrors.length) throw new Error(pageErrors.slice(0, 3).join(' | '));
    return true;
  });
} catch (e) {
  failed++;
  console.log(`not ok - the run stopped: ${e.message.split('\n')[0]}`);
} finally {
  await close();
}

console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
