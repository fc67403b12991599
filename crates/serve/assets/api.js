// The HTTP API of `backprop serve` (docs: /openapi.yaml), as the page uses it. One place
// turns a 4xx body `{"error": "..."}` into a thrown Error whose message is shown in the page.

/** A failed request: `status` is the HTTP status, `message` the server's sentence. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * Sends one request and returns the parsed JSON body (or null for 204).
 * `body` is JSON-encoded unless it is a string, which goes as `contentType`.
 */
export async function request(method, path, body, contentType = 'application/json') {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = contentType;
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${e.message})`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // A non-JSON body (a proxy's page, say) is reported by its status below.
  }
  if (!response.ok) {
    const message = json && typeof json.error === 'string' ? json.error : `${method} ${path}: HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return json;
}

/** The session endpoints, bound to one session id. */
export class Session {
  /** Creates a session for `experiment`; resolves to the Session and the server's answer. */
  static async create(experiment) {
    const created = await request('POST', '/api/sessions', experiment);
    return { session: new Session(created.id), created };
  }

  constructor(id) {
    this.id = id;
    this.base = `/api/sessions/${encodeURIComponent(id)}`;
  }

  get() { return request('GET', this.base); }
  setExperiment(experiment) { return request('PUT', `${this.base}/experiment`, experiment); }
  command(name) { return request('POST', `${this.base}/${name}`, {}); }
  step(epochs = 1) { return request('POST', `${this.base}/step`, { epochs }); }
  upload(csvText) { return request('POST', `${this.base}/data`, csvText, 'text/csv'); }
  backward(example) { return request('POST', `${this.base}/backward`, example === undefined ? {} : { example }); }
  weight(query) { return request('GET', `${this.base}/weight?${new URLSearchParams(query)}`); }
  remove() { return request('DELETE', this.base); }
  url(file) { return `${this.base}/${file}`; }

  /** The current data as text (x,y,label,split rows), for the points when a frame has none. */
  async dataCsv() {
    const response = await fetch(this.url('data.csv'));
    if (!response.ok) throw new ApiError(response.status, `data.csv: HTTP ${response.status}`);
    return response.text();
  }

  /**
   * Opens the event stream: `onFrameText(json)` for each `frame` event (the Frame's JSON text:
   * the caller parses what it draws), `onError(message)` for an `error` event. Returns the
   * EventSource so the caller can close it.
   */
  events(onFrameText, onError) {
    const source = new EventSource(`${this.base}/events`);
    source.addEventListener('frame', (event) => onFrameText(event.data));
    source.addEventListener('error', (event) => {
      // A server-sent `error` event carries data; a broken connection does not (EventSource retries).
      if (event.data) onError(JSON.parse(event.data).error);
    });
    return source;
  }
}

/** Parses data.csv (header x,y,label,split) into {train, test} lists of [x, y, label]. */
export function parsePoints(csvText) {
  const lines = csvText.trim().split(/\r?\n/);
  const header = lines.shift().split(',');
  const at = (name) => header.indexOf(name);
  const [ix, iy, il, is] = [at('x'), at('y'), at('label'), at('split')];
  const points = { train: [], test: [] };
  if (ix < 0 || iy < 0 || il < 0) return points;
  for (const line of lines) {
    const cells = line.split(',');
    const point = [Number(cells[ix]), Number(cells[iy]), Number(cells[il])];
    (is >= 0 && cells[is].trim() === 'test' ? points.test : points.train).push(point);
  }
  return points;
}
