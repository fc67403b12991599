// The network drawn as the Playground draws it: a column of nodes per layer, each node a small
// heat map of its output over the input plane, links whose width and colour show the weight.
// Nodes are canvases in positioned divs, links SVG paths; both carry stable data attributes
// (data-node="l-i", data-weight="l-i-j", l counting layers from the inputs at 0).

import { css, paintMap, valueColour } from './draw.js';

const SVG = 'http://www.w3.org/2000/svg';
/** Above this many links the SVG would be slow to update at frame rate: links are not drawn. */
const MAX_DRAWN_LINKS = 20000;
/** Above this many nodes in a layer, nodes are drawn as dots without heat maps. */
const MAX_MAPPED_NODES = 32;

/** Link width from a weight (or gradient) relative to `scale`: 0.5 px to 6 px. */
const linkWidth = (v, scale) => 0.5 + 5.5 * Math.min(1, Math.abs(v) / scale);

/** Short text of a number for labels: 3 significant digits, exponent when tiny or huge. */
export function short(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(2);
  return v.toPrecision(3).replace(/\.?0+$/, '');
}

export class NetworkView {
  /**
   * `container` is an empty positioned element; `handlers.onWeight(l, i, j)` is called when a
   * link is clicked, `handlers.onHoverNode(l, i, node)` / `onLeaveNode()` when the pointer
   * enters/leaves a node.
   */
  constructor(container, handlers) {
    this.container = container;
    this.handlers = handlers;
    this.sizes = [];
    this.links = [];
    this.nodes = [];
    this.selected = null;
  }

  /** Rebuilds the drawing for `sizes` (nodes per layer, inputs first) and the input labels. */
  build(sizes, inputLabels) {
    this.sizes = sizes.slice();
    this.container.textContent = '';
    const width = this.container.clientWidth || 600;
    const widest = Math.max(...sizes);
    const nodeSize = widest > MAX_MAPPED_NODES ? 8 : Math.max(14, Math.min(32, Math.floor(380 / widest) - 6));
    const gap = nodeSize + Math.max(4, Math.min(14, nodeSize / 2));
    const height = Math.max(200, widest * gap + 20);
    this.container.style.height = `${height}px`;
    const column = (l) => (sizes.length === 1 ? width / 2 : 40 + ((width - 80) * l) / (sizes.length - 1));
    const row = (l, i) => height / 2 + (i - (sizes[l] - 1) / 2) * gap;
    this.nodeSize = nodeSize;

    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('width', width);
    svg.setAttribute('height', height);
    svg.classList.add('links');
    this.container.append(svg);
    this.svg = svg;

    const linkCount = sizes.slice(1).reduce((sum, n, l) => sum + n * sizes[l], 0);
    this.links = [];
    if (linkCount <= MAX_DRAWN_LINKS) {
      for (let l = 0; l + 1 < sizes.length; l++) {
        const layer = [];
        for (let i = 0; i < sizes[l]; i++) {
          const from = [];
          for (let j = 0; j < sizes[l + 1]; j++) {
            const [x1, y1, x2, y2] = [column(l) + nodeSize / 2, row(l, i), column(l + 1) - nodeSize / 2, row(l + 1, j)];
            const mx = (x1 + x2) / 2;
            const path = document.createElementNS(SVG, 'path');
            path.setAttribute('d', `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`);
            path.classList.add('link');
            path.dataset.weight = `${l}-${i}-${j}`;
            const title = document.createElementNS(SVG, 'title');
            path.append(title);
            path.addEventListener('click', () => this.handlers.onWeight(l, i, j));
            svg.append(path);
            from.push(path);
          }
          layer.push(from);
        }
        this.links.push(layer);
      }
    } else {
      const note = document.createElement('div');
      note.className = 'note';
      note.textContent = `${linkCount} links: too many to draw; the derivative panel still reads any weight.`;
      this.container.append(note);
    }

    this.nodes = sizes.map((n, l) => {
      const layer = [];
      for (let i = 0; i < n; i++) {
        const div = document.createElement('div');
        div.className = 'node';
        div.dataset.node = `${l}-${i}`;
        div.style.left = `${column(l) - nodeSize / 2}px`;
        div.style.top = `${row(l, i) - nodeSize / 2}px`;
        div.style.width = div.style.height = `${nodeSize}px`;
        const canvas = document.createElement('canvas');
        canvas.width = canvas.height = nodeSize;
        div.append(canvas);
        const label = document.createElement('span');
        label.className = 'node-grad';
        div.append(label);
        if (l === 0 && inputLabels[i]) {
          const name = document.createElement('span');
          name.className = 'node-name';
          name.textContent = inputLabels[i];
          div.append(name);
        }
        div.addEventListener('mouseenter', () => this.handlers.onHoverNode(l, i, div));
        div.addEventListener('mouseleave', () => this.handlers.onLeaveNode());
        this.container.append(div);
        layer.push({ div, canvas, label });
      }
      return layer;
    });
  }

  /** Whether the drawing has these layer sizes. */
  matches(sizes) {
    return sizes.length === this.sizes.length && sizes.every((n, l) => n === this.sizes[l]);
  }

  /** Shows a frame: per-neuron maps and links by weight (their titles say the weight). */
  update(frame) {
    if (frame.neurons && this.nodeSize >= 14) {
      frame.neurons.forEach((layer, l) => layer.forEach((map, i) => {
        const node = this.nodes[l]?.[i];
        if (node && map) paintMap(node.canvas.getContext('2d'), map, this.nodeSize, this.nodeSize, { classes: 1 });
      }));
    }
    if (this.backwardShown || !frame.weights) return;
    frame.weights.forEach((layer, l) => layer.forEach((row, i) => row.forEach((w, j) => {
      const path = this.links[l]?.[i]?.[j];
      if (!path) return;
      path.style.stroke = css(valueColour(w));
      path.style.strokeWidth = linkWidth(w, 1);
      path.firstChild.textContent = `w = ${short(w)} (layer ${l}, ${i} → ${j})`;
    })));
  }

  /** Marks link l-i-j as the selected one (the derivative panel shows it). */
  select(l, i, j) {
    this.svg?.querySelectorAll('.link.selected').forEach((p) => p.classList.remove('selected'));
    this.links[l]?.[i]?.[j]?.classList.add('selected');
    this.selected = [l, i, j];
  }

  /**
   * Backward-pass view of weight layer `l`: links coloured and sized by dW (their titles and
   * data-grad say ∂L/∂w), the nodes of layer l+1 labelled with ∂L/∂z.
   */
  showBackward(l, layer) {
    this.backwardShown = true;
    const scale = Math.max(1e-12, ...layer.dW.flat().map(Math.abs));
    layer.dW.forEach((row, i) => row.forEach((g, j) => {
      const path = this.links[l]?.[i]?.[j];
      if (!path) return;
      path.classList.add('backward');
      path.style.stroke = css(valueColour(-g / scale));
      path.style.strokeWidth = linkWidth(g, scale);
      path.dataset.grad = String(g);
      path.firstChild.textContent = `∂L/∂w = ${short(g)}, w = ${short(layer.W[i][j])} (layer ${l}, ${i} → ${j})`;
    }));
    layer.dZ.forEach((dz, j) => {
      const node = this.nodes[l + 1]?.[j];
      if (!node) return;
      node.div.classList.add('active');
      node.label.textContent = short(dz);
      node.div.title = `∂L/∂z = ${dz}`;
    });
  }

  /** Leaves the backward view (the next frame redraws weights). */
  clearBackward() {
    this.backwardShown = false;
    this.container.querySelectorAll('.node.active').forEach((n) => n.classList.remove('active'));
    this.container.querySelectorAll('.node-grad').forEach((n) => { n.textContent = ''; });
    this.svg?.querySelectorAll('.link.backward').forEach((p) => p.classList.remove('backward'));
  }
}
