// The EBMM demo page: pick a model, build a set, store it, corrupt an item, restore it and play the read.
// Plain browser JavaScript, no dependencies. It talks only to this origin's API: GET /models, GET /memories (the
// selected model's memories, newest first, page by page), POST /memories, POST /memories/{id}/retrieve (with
// "trace": true), DELETE /memories/{id}, and GET /demo/digits.

const KEY_STORE = "ebmm.apiKey";
const PATTERN_STORE = "ebmm.patterns"; // the patterns of the memories this tab wrote, by id (the service keeps θ)
const PAGE_SIZE = 20; // memories per GET /memories
const PAGE_CALLS = 10; // GET /memories calls at most per page shown (a page filtered by model may be empty)
const TTL_SECONDS = 24 * 3600; // demo memories expire after a day
const UNKNOWN_RGB = [230, 140, 40]; // how entries marked unknown are painted
const PLAY_MS = 3000; // a read plays in about this long, at most STEP_MS per step
const STEP_MS = 200;

const $ = (id) => document.getElementById(id);

const state = {
  models: [],
  model: null,
  set: [], // patterns to store: arrays of input_dim numbers
  digits: null, // {shape, images} from /demo/digits, fetched once
  memories: [], // the selected model's memories as GET /memories lists them, newest first
  nextCursor: null, // of the next page; null: all listed
  patterns: loadPatterns(), // id -> the patterns this tab wrote there
  item: 0, // the stored item being corrupted
  seed: 1, // of the random corruption
  block: { row: 0, col: 0 }, // top-left of the occlusion block
  query: null, // {values, known (array of 0/1 or null), noisy}
  result: null, // {query, answer, original, trace}
  timer: null,
  drawing: false,
};

// ---------------------------------------------------------------- API

function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

async function api(method, path, body) {
  const headers = {};
  if (apiKey()) headers.Authorization = `Bearer ${apiKey()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new Error(`the service did not answer (${error.message})`);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && data.error;
    if (!detail) throw new Error(`${response.status} ${response.statusText}`);
    const field = detail.field ? ` (field: ${detail.field})` : "";
    throw new Error(`${response.status} ${detail.type}: ${detail.message}${field}`);
  }
  return data;
}

function showError(error) {
  $("error").textContent = error.message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

// Runs a handler, showing what went wrong instead of failing silently.
function guarded(handler) {
  return async (event) => {
    clearError();
    try {
      await handler(event);
    } catch (error) {
      showError(error);
    }
  };
}

// ---------------------------------------------------------------- patterns and their pictures

// [channels, height, width] of a model's patterns; a flat pattern of D entries is shown as a grid.
function grid(model) {
  const shape = model.input_shape;
  if (shape.length === 3) return shape;
  if (shape.length === 2) return [1, shape[0], shape[1]];
  const dim = shape[0];
  let width = Math.ceil(Math.sqrt(dim));
  while (dim % width) width += 1;
  return [1, dim / width, width];
}

const isBinary = (model) => model.domain === "binary";

// A deterministic random number generator (mulberry32): corruptions are reproducible from their seed.
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(next) {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

// k distinct indices of [0, n)
function choose(n, k, next) {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < Math.min(k, n); i += 1) {
    const j = i + Math.floor(next() * (n - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, Math.min(k, n));
}

// Paints a pattern (C, H, W order) onto a canvas; entries where `unknown` is true are painted orange.
function paint(canvas, values, model, unknown = null, label = "") {
  const [channels, height, width] = grid(model);
  const [lo, hi] = model.value_range;
  const scale = Math.max(1, Math.floor(160 / Math.max(height, width)));
  canvas.width = width;
  canvas.height = height;
  canvas.style.width = `${width * scale}px`;
  canvas.style.height = `${height * scale}px`;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const plane = height * width;
  const level = (x) => Math.max(0, Math.min(255, Math.round((255 * (x - lo)) / (hi - lo))));
  for (let i = 0; i < plane; i += 1) {
    let rgb;
    if (unknown && unknown[i]) rgb = UNKNOWN_RGB;
    else if (channels === 3) rgb = [level(values[i]), level(values[plane + i]), level(values[2 * plane + i])];
    else rgb = [level(values[i]), level(values[i]), level(values[i])];
    image.data.set([...rgb, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
  canvas.setAttribute("aria-label", `${label}${label ? ": " : ""}${describe(values, model, unknown)}`);
}

// A text alternative for a pattern's picture.
function describe(values, model, unknown) {
  if (isBinary(model)) {
    const bits = values.map((x, i) => ((unknown && unknown[i]) || x === 0 ? "?" : x > 0 ? "+" : "-")).join("");
    return `${values.length} bits (+ for 1, - for -1, ? unknown): ${bits}`;
  }
  const [channels, height, width] = grid(model);
  const mean = values.reduce((sum, x) => sum + x, 0) / values.length;
  const hidden = unknown ? unknown.filter(Boolean).length : 0;
  const part = hidden ? `, ${hidden} entries marked unknown` : "";
  return `${width}×${height} image, ${channels} channel(s), mean value ${mean.toFixed(3)}${part}`;
}

// A picture (any canvas image source) as a pattern of the model: resized to its grid, binary models
// thresholded at half brightness.
function fromPicture(source, model) {
  const [channels, height, width] = grid(model);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(source, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height).data;
  const [lo, hi] = model.value_range;
  const plane = height * width;
  const values = new Array(channels * plane);
  for (let i = 0; i < plane; i += 1) {
    const rgb = [pixels[4 * i], pixels[4 * i + 1], pixels[4 * i + 2]].map((v) => v / 255);
    for (let c = 0; c < channels; c += 1) {
      const v = channels === 3 ? rgb[c] : (rgb[0] + rgb[1] + rgb[2]) / 3;
      values[c * plane + i] = isBinary(model) ? (v >= 0.5 ? 1 : -1) : lo + (hi - lo) * v;
    }
  }
  return values;
}

// A grey image of [0, 1] values (height × width) as a canvas, to resize it like any picture.
function greyCanvas(values, height, width) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  values.forEach((v, i) => image.data.set([255 * v, 255 * v, 255 * v, 255], 4 * i));
  context.putImageData(image, 0, 0);
  return canvas;
}

function randomPattern(model, next) {
  const [lo, hi] = model.value_range;
  return Array.from({ length: model.input_dim }, () =>
    isBinary(model) ? (next() < 0.5 ? -1 : 1) : lo + (hi - lo) * next(),
  );
}

// ---------------------------------------------------------------- corruptions (those the service's models know)

// The strength a model's self-check uses for a family, read from its description, else a default.
function standardStrength(model, name, fallback) {
  const found = model.distortions.find((d) => d.name === name);
  const number = found && found.description.match(/(\d+(?:\.\d+)?)/g);
  if (!number) return fallback;
  if (name === "mixed") return Number(number[1]); // "erase E and flip K of D entries"
  return Number(number[0]);
}

function corruptions(model) {
  const trained = new Set(model.distortions.map((d) => d.name));
  const dim = model.input_dim;
  const families = isBinary(model)
    ? [
        { name: "erase", label: "erase bits", unit: "bits", strength: standardStrength(model, "erase", dim / 2) },
        { name: "flip", label: "flip bits", unit: "bits", strength: standardStrength(model, "flip", dim / 8) },
        { name: "mixed", label: "erase half as many and flip bits", unit: "flips", strength: standardStrength(model, "mixed", dim / 16) },
      ]
    : [
        { name: "occlude", label: "occlusion block (marked)", unit: "block side", strength: model.distortion_size },
        { name: "occlude-free", label: "occlusion block (not marked)", unit: "block side", strength: model.distortion_size },
        { name: "noise", label: "Gaussian noise", unit: "sigma", strength: standardStrength(model, "noise", 0.2) },
        { name: "salt-pepper", label: "salt and pepper", unit: "fraction", strength: standardStrength(model, "salt-pepper", 0.1) },
      ];
  return families.map((f) => ({ ...f, trained: trained.has(f.name) }));
}

// The query for `original`: {values, known (0/1 per entry, or null: the service's default), noisy, unknown}.
function corrupt(original, model, name, strength, seed, block) {
  const next = random(seed);
  const values = original.slice();
  const dim = values.length;
  const [lo, hi] = model.value_range;
  const middle = (lo + hi) / 2;
  if (name === "erase" || name === "flip" || name === "mixed") {
    const erased = name === "erase" ? strength : name === "mixed" ? Math.floor(model.distortion_size / 2) : 0;
    const flipped = name === "erase" ? 0 : strength;
    const chosen = choose(dim, erased + flipped, next);
    chosen.slice(0, erased).forEach((i) => { values[i] = 0; });
    chosen.slice(erased).forEach((i) => { values[i] = -values[i]; });
    // erasures alone: the service keeps every non-zero entry; with flips nothing is known to be right
    return { values, known: null, noisy: flipped > 0, unknown: values.map((x) => x === 0) };
  }
  if (name === "occlude" || name === "occlude-free") {
    const [channels, height, width] = grid(model);
    const side = Math.min(strength, height, width);
    const known = new Array(dim).fill(1);
    for (let c = 0; c < channels; c += 1)
      for (let r = block.row; r < block.row + side; r += 1)
        for (let k = block.col; k < block.col + side; k += 1) {
          const i = c * height * width + r * width + k;
          values[i] = middle;
          known[i] = 0;
        }
    if (name === "occlude") return { values, known, noisy: false, unknown: known.map((x) => x === 0) };
    return { values, known: null, noisy: false, unknown: null };
  }
  if (name === "noise") {
    for (let i = 0; i < dim; i += 1) values[i] = Math.min(hi, Math.max(lo, values[i] + strength * gaussian(next)));
    return { values, known: null, noisy: true, unknown: null };
  }
  for (let i = 0; i < dim; i += 1) if (next() < strength) values[i] = next() < 0.5 ? lo : hi; // salt and pepper
  return { values, known: null, noisy: true, unknown: null };
}

// ---------------------------------------------------------------- models

async function loadModels() {
  const { models } = await api("GET", "/models");
  state.models = models;
  const select = $("model");
  select.replaceChildren(...models.map((m) => new Option(`${m.name} (${m.domain}, ${m.input_shape.join("×")})`, m.name)));
  const previous = sessionStorage.getItem("ebmm.model");
  if (models.some((m) => m.name === previous)) select.value = previous;
  await selectModel();
}

async function selectModel() {
  const model = state.models.find((m) => m.name === $("model").value);
  if (!model) return;
  sessionStorage.setItem("ebmm.model", model.name);
  state.model = model;
  state.set = [];
  state.memories = []; // until the service lists this model's
  state.nextCursor = null;
  $("model-info").textContent =
    `${model.name}: ${model.kind} energy, ${model.domain} patterns of ${model.input_dim} numbers ` +
    `(${model.input_shape.join("×")}, values ${model.value_range.join(" to ")}), up to ${model.max_patterns} ` +
    `per memory, ${model.writable_floats} writable floats, T = ${model.write_steps} write and ` +
    `K = ${model.read_steps} read steps; trained on: ${model.distortions.map((d) => d.description).join("; ")}.`;
  $("count").max = model.max_patterns;
  // random patterns are what the binary models were trained on; image models were trained on digits
  $("source").value = isBinary(model) ? "random" : "digits";
  const families = corruptions(model);
  $("corruption").replaceChildren(
    ...families.map((f) => new Option(`${f.label}${f.trained ? " (trained)" : ""}`, f.name)),
  );
  selectCorruption();
  renderSet();
  await reloadMemories();
}

// ---------------------------------------------------------------- building and storing a set

async function digits() {
  if (!state.digits) state.digits = await api("GET", "/demo/digits");
  return state.digits;
}

async function addPatterns() {
  const model = state.model;
  const room = model.max_patterns - state.set.length;
  const count = Math.min(Number($("count").value) || 1, room);
  if (count <= 0) throw new Error(`the set is full: ${model.name} stores at most ${model.max_patterns} patterns`);
  if ($("source").value === "digits") {
    const { shape, images } = await digits();
    for (let i = 0; i < count; i += 1) {
      const image = images[(state.set.length + i) % images.length];
      state.set.push(fromPicture(greyCanvas(image, shape[1], shape[2]), model));
    }
  } else {
    const next = random(Date.now());
    for (let i = 0; i < count; i += 1) state.set.push(randomPattern(model, next));
  }
  renderSet();
}

function addPicture(source) {
  if (state.set.length >= state.model.max_patterns) throw new Error("the set is full");
  state.set.push(fromPicture(source, state.model));
  renderSet();
}

async function addUploads(files) {
  for (const file of files) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      throw new Error(`${file.name} is not an image this browser can read`);
    }
    addPicture(bitmap);
  }
  $("upload").value = "";
}

function renderSet() {
  const model = state.model;
  const items = state.set.map((pattern, index) => {
    const item = document.createElement("li");
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    paint(canvas, pattern, model, null, `Pattern ${index + 1}`);
    shrink(canvas);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "remove";
    remove.setAttribute("aria-label", `Remove pattern ${index + 1}`);
    remove.addEventListener("click", () => {
      state.set.splice(index, 1);
      renderSet();
    });
    item.append(canvas, remove);
    return item;
  });
  $("set").replaceChildren(...items);
  $("set-summary").textContent = state.set.length
    ? `The set holds ${state.set.length} of at most ${model.max_patterns} patterns.`
    : "The set is empty.";
  $("store").disabled = state.set.length === 0;
  renderItems(); // a memory written elsewhere is read with the set's patterns
}

// Gallery pictures are shown at a third of the main size.
function shrink(canvas) {
  canvas.style.width = `${Math.max(24, parseInt(canvas.style.width, 10) / 3)}px`;
  canvas.style.height = `${Math.max(24, parseInt(canvas.style.height, 10) / 3)}px`;
}

async function storeSet() {
  const model = state.model;
  if (!state.set.length) throw new Error("add patterns to the set first");
  const start = performance.now();
  const memory = await api("POST", "/memories", {
    model: model.name,
    patterns: state.set,
    ttl_seconds: TTL_SECONDS,
    metadata: { source: "demo page" },
  });
  const roundTrip = performance.now() - start;
  state.patterns[memory.id] = state.set;
  savePatterns();
  state.set = [];
  renderSet();
  const error = memory.recall_error;
  $("stored").textContent =
    `Stored memory ${memory.id}: ${memory.num_patterns} patterns. ${describeRecall(error)}. ` +
    `Write ${memory.write_ms.toFixed(1)} ms in the engine, ${roundTrip.toFixed(0)} ms round trip.`;
  state.item = 0;
  await reloadMemories(memory.id, memory);
}

const format = (x) => (Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(2) : x.toExponential(2));

function describeRecall(error) {
  if (!error) return "Written without a self-check";
  const others = error.by_distortion.slice(1).map((d) => `${d.name} ${format(d.mean)}`).join(", ");
  return `Recall error ${format(error.mean)} ${error.metric} (${error.distortion})${others ? `; ${others}` : ""}`;
}

// ---------------------------------------------------------------- the model's memories, listed by the service

function loadPatterns() {
  try {
    return JSON.parse(sessionStorage.getItem(PATTERN_STORE)) || {};
  } catch {
    return {};
  }
}

function savePatterns() {
  sessionStorage.setItem(PATTERN_STORE, JSON.stringify(state.patterns));
}

function currentMemory() {
  return state.memories.find((m) => m.id === $("memory").value) || null;
}

// The next memories of the selected model (newest first) from GET /memories, from `cursor` (null: the newest).
// A page filtered by model may come back empty with more to follow: follow next_cursor a few times.
async function fetchMemories(cursor) {
  const found = [];
  let next = cursor;
  for (let call = 0; call < PAGE_CALLS; call += 1) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE), model: state.model.name });
    if (next) query.set("cursor", next);
    const page = await api("GET", `/memories?${query}`);
    found.push(...page.memories);
    next = page.next_cursor;
    if (found.length || !next) break;
  }
  return { found, next };
}

// Lists the selected model's newest memories again, selecting `selected` (else the one already chosen). `written`:
// a memory this tab just wrote, listed even if the first page is already full of newer ones.
async function reloadMemories(selected = $("memory").value, written = null) {
  const model = state.model;
  if (!model) throw new Error("no model to list the memories of: connect first");
  state.memories = [];
  state.nextCursor = null;
  renderMemories(selected);
  const { found, next } = await fetchMemories(null);
  if (state.model !== model) return; // another model was picked meanwhile
  state.memories = found;
  if (written && !found.some((m) => m.id === written.id)) state.memories.unshift(written);
  state.nextCursor = next;
  renderMemories(selected);
}

async function moreMemories() {
  const model = state.model;
  const { found, next } = await fetchMemories(state.nextCursor);
  if (state.model !== model) return;
  const listed = new Set(state.memories.map((m) => m.id));
  const added = found.filter((m) => !listed.has(m.id));
  state.memories.push(...added);
  state.nextCursor = next;
  renderMemories();
  // the keyboard goes on from the first memory this added (the "More" button may be gone)
  if (added.length) $("memories").querySelector(`button[aria-label='Select memory ${added[0].id}']`).focus();
}

// Shows the listed memories and offers them to corrupt (`selected` first, else the one already chosen).
function renderMemories(selected = $("memory").value) {
  const model = state.model;
  $("memory").replaceChildren(
    ...state.memories.map((m) => new Option(`${m.id} (${m.num_patterns} patterns)`, m.id)),
  );
  if (state.memories.some((m) => m.id === selected)) $("memory").value = selected;
  const list = state.memories.map((memory) => {
    const item = document.createElement("li");
    const text = document.createElement("span");
    const error = memory.recall_error;
    const recall = error ? `recall error ${format(error.mean)} ${error.metric}` : "no self-check";
    const expires = memory.expires_at ? `, expires ${new Date(memory.expires_at * 1000).toLocaleString()}` : "";
    const held = state.patterns[memory.id] ? "written by this tab" : "written elsewhere (patterns not in this tab)";
    text.textContent =
      `${memory.id} · ${memory.num_patterns} patterns · ${recall} · ` +
      `stored ${new Date(memory.created_at * 1000).toLocaleString()}${expires} · ${held} `;
    const use = document.createElement("button");
    use.type = "button";
    use.textContent = "Select";
    use.setAttribute("aria-label", `Select memory ${memory.id}`);
    use.setAttribute("aria-pressed", String(memory.id === $("memory").value));
    use.addEventListener("click", () => {
      $("memory").value = memory.id;
      state.item = 0;
      renderMemories();
      $("memory").focus();
    });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete memory ${memory.id}`);
    remove.addEventListener("click", guarded(() => deleteMemory(memory.id)));
    item.append(text, use, remove);
    return item;
  });
  $("memories").replaceChildren(...list);
  $("no-memories").hidden = list.length > 0;
  $("more-memories").hidden = !state.nextCursor;
  const count = state.memories.length;
  const more = state.nextCursor ? "; more follow" : "";
  $("memories-summary").textContent = model
    ? `${count} ${count === 1 ? "memory" : "memories"} of ${model.name} listed, newest first${more}.`
    : "";
  renderItems();
}

function dropMemory(id) {
  state.memories = state.memories.filter((m) => m.id !== id);
  delete state.patterns[id];
  savePatterns();
  renderMemories();
}

// Runs a call about memory `id`; a 404 (expired, or deleted elsewhere) also takes it off the list.
async function aboutMemory(id, call) {
  try {
    return await call();
  } catch (error) {
    if (error.message.startsWith("404")) dropMemory(id);
    throw error;
  }
}

async function deleteMemory(id) {
  await aboutMemory(id, () => api("DELETE", `/memories/${encodeURIComponent(id)}`));
  dropMemory(id);
}

// ---------------------------------------------------------------- corrupting a stored item

// The patterns to corrupt for a memory: its own where this tab wrote it; else (the service keeps θ, not the
// patterns) those of the set being built in section 2. {patterns, own}
function sources(memory) {
  const own = state.patterns[memory.id];
  return own ? { patterns: own, own: true } : { patterns: state.set, own: false };
}

function itemsHint(memory, source) {
  if (!memory) return "No memory of this model is listed yet: store a set above.";
  if (source.own) return "Pick the stored item to corrupt:";
  const elsewhere = "This tab did not write this memory, and the service keeps only its weights, not the patterns";
  return source.patterns.length
    ? `${elsewhere}: pick a pattern of the set above (section 2) to corrupt.`
    : `${elsewhere}: add patterns to the set above (section 2), for instance those that were stored, to corrupt one.`;
}

function renderItems() {
  const memory = currentMemory();
  const model = state.model;
  const source = memory ? sources(memory) : { patterns: [], own: false };
  $("items-hint").textContent = itemsHint(memory, source);
  if (!source.patterns.length) {
    $("items").replaceChildren();
    state.query = null;
    $("retrieve").disabled = true;
    return;
  }
  state.item = Math.min(state.item, source.patterns.length - 1);
  const buttons = source.patterns.map((pattern, index) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("aria-pressed", String(index === state.item));
    button.setAttribute("aria-label", `Item ${index + 1}: ${describe(pattern, model, null)}`);
    const canvas = document.createElement("canvas");
    paint(canvas, pattern, model);
    canvas.removeAttribute("aria-label");
    shrink(canvas);
    button.append(canvas);
    button.addEventListener("click", () => {
      state.item = index;
      renderItems();
    });
    item.append(button);
    return item;
  });
  $("items").replaceChildren(...buttons);
  $("retrieve").disabled = false;
  renderQuery();
}

function selectCorruption() {
  const family = corruptions(state.model).find((f) => f.name === $("corruption").value);
  $("strength").value = family.strength;
  $("strength").step = family.unit === "sigma" || family.unit === "fraction" ? "0.01" : "1";
  $("strength-label").textContent = `Strength (${family.unit})`;
  const occlusion = family.name.startsWith("occlude");
  $("query-caption").textContent = occlusion
    ? "The query: drag the block, or focus the picture and move it with the arrow keys (orange: marked unknown)"
    : "The query (orange: entries marked unknown)";
  renderQuery();
}

function renderQuery() {
  const memory = currentMemory();
  if (!memory || !state.model) return;
  const model = state.model;
  const original = sources(memory).patterns[state.item];
  if (!original) return;
  const strength = Math.max(0, Number($("strength").value) || 0);
  const [, height, width] = grid(model);
  const side = Math.min(Math.round(strength), height, width);
  state.block.row = Math.max(0, Math.min(state.block.row, height - side));
  state.block.col = Math.max(0, Math.min(state.block.col, width - side));
  state.query = corrupt(original, model, $("corruption").value, strength, state.seed, state.block);
  const where = $("corruption").value.startsWith("occlude")
    ? ` with a ${side}×${side} block at row ${state.block.row + 1}, column ${state.block.col + 1}`
    : "";
  paint($("query"), state.query.values, model, state.query.unknown, `Query from item ${state.item + 1}${where}`);
}

// Moves the occlusion block so that it is centred on a point of the query canvas.
function moveBlock(event) {
  if (!$("corruption").value.startsWith("occlude")) return;
  const canvas = $("query");
  const box = canvas.getBoundingClientRect();
  const side = Number($("strength").value) || 1;
  state.block.row = Math.round(((event.clientY - box.top) / box.height) * canvas.height - side / 2);
  state.block.col = Math.round(((event.clientX - box.left) / box.width) * canvas.width - side / 2);
  renderQuery();
}

function keyBlock(event) {
  const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  if (!(event.key in moves) || !$("corruption").value.startsWith("occlude")) return;
  event.preventDefault();
  state.block.row += moves[event.key][0];
  state.block.col += moves[event.key][1];
  renderQuery();
}

// ---------------------------------------------------------------- restoring and playing the read

async function restore() {
  const memory = currentMemory();
  if (!memory || !state.query) throw new Error("store a set and pick an item first");
  const source = sources(memory);
  const body = { queries: [state.query.values], trace: true };
  if (state.query.known) body.known_mask = [state.query.known];
  if (state.query.noisy) body.noisy = true;
  const answer = await aboutMemory(memory.id, () =>
    api("POST", `/memories/${encodeURIComponent(memory.id)}/retrieve`, body),
  );
  stop();
  state.result = {
    query: state.query,
    answer: answer.patterns[0],
    energy: answer.energies[0],
    trace: answer.trace[0],
    original: source.patterns[state.item],
    // what the answer is compared with: a stored item, or a pattern of the set (maybe never stored there)
    originalName: source.own ? "original" : "pattern of the set",
  };
  renderResult();
  play();
}

function distance(a, b, model) {
  if (isBinary(model)) {
    const wrong = a.filter((x, i) => x !== 0 && Math.sign(x) !== b[i]).length;
    const unknown = a.filter((x) => x === 0).length;
    return unknown ? `${wrong} wrong and ${unknown} unknown bits` : `${wrong} wrong bits`;
  }
  const mse = a.reduce((sum, x, i) => sum + (x - b[i]) ** 2, 0) / a.length;
  return `MSE ${mse.toFixed(4)}`;
}

function renderResult() {
  const { query, answer, original, originalName, trace } = state.result;
  const model = state.model;
  const originalTitle = originalName[0].toUpperCase() + originalName.slice(1);
  paint($("result-query"), query.values, model, query.unknown, "Query");
  paint($("answer"), answer, model, null, "Answer");
  paint($("original"), original, model, null, originalTitle);
  $("original-caption").textContent = originalTitle;
  $("query-values").textContent = JSON.stringify(query.values);
  $("answer-values").textContent = JSON.stringify(answer);
  $("verdict").textContent =
    `The answer is ${distance(answer, original, model)} from the ${originalName} (the query was ` +
    `${distance(query.values, original, model)} from it); energy ${format(state.result.energy)}, ` +
    `${trace.states.length - 1} steps of descent${trace.rounds > 1 ? ` in ${trace.rounds} rounds` : ""}.`;
  $("step-slider").max = trace.states.length - 1;
  const rows = trace.energies.map((energy, step) => {
    const row = document.createElement("tr");
    for (const text of [String(step), format(energy)]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  $("energy-table").tBodies[0].replaceChildren(...rows);
  showStep(0);
}

function showStep(step) {
  const { trace } = state.result;
  const model = state.model;
  const last = trace.states.length - 1;
  const perRound = (last + 1) / trace.rounds;
  const round = Math.floor(step / perRound) + 1;
  const roundText = trace.rounds > 1 ? `, round ${round} of ${trace.rounds}` : "";
  const text = `Step ${step} of ${last}${roundText}: energy ${format(trace.energies[step])}`;
  paint($("step"), trace.states[step], model, null, text);
  $("step-caption").textContent = text;
  $("step-slider").value = String(step);
  $("step-slider").setAttribute("aria-valuetext", text);
  plotEnergy(trace.energies, step);
}

function plotEnergy(energies, current) {
  const canvas = $("energy");
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  const pad = { left: 64, right: 12, top: 12, bottom: 28 };
  const lo = Math.min(...energies);
  const hi = Math.max(...energies);
  const span = hi - lo || 1;
  const x = (i) => pad.left + ((width - pad.left - pad.right) * i) / Math.max(1, energies.length - 1);
  const y = (e) => pad.top + ((height - pad.top - pad.bottom) * (hi - e)) / span;
  context.clearRect(0, 0, width, height);
  context.strokeStyle = "#888";
  context.beginPath();
  context.moveTo(pad.left, pad.top);
  context.lineTo(pad.left, height - pad.bottom);
  context.lineTo(width - pad.right, height - pad.bottom);
  context.stroke();
  context.fillStyle = "#333";
  context.font = "11px sans-serif";
  context.fillText(format(hi), 4, pad.top + 4);
  context.fillText(format(lo), 4, height - pad.bottom);
  context.fillText("step", width / 2, height - 8);
  context.strokeStyle = "#1565c0";
  context.lineWidth = 2;
  context.beginPath();
  energies.forEach((e, i) => (i ? context.lineTo(x(i), y(e)) : context.moveTo(x(i), y(e))));
  context.stroke();
  context.fillStyle = "#d2691e";
  context.beginPath();
  context.arc(x(current), y(energies[current]), 5, 0, 2 * Math.PI);
  context.fill();
  canvas.setAttribute(
    "aria-label",
    `Energy per step: from ${format(energies[0])} at step 0 to ${format(energies[energies.length - 1])} at step ` +
      `${energies.length - 1}; now at step ${current}, ${format(energies[current])}`,
  );
}

function play() {
  stop();
  if (!state.result) return;
  const last = state.result.trace.states.length - 1;
  let step = 0;
  showStep(step);
  $("play").textContent = "Pause";
  state.timer = setInterval(() => {
    step += 1;
    showStep(step);
    if (step >= last) stop();
  }, Math.min(STEP_MS, PLAY_MS / last));
}

function stop() {
  clearInterval(state.timer);
  state.timer = null;
  $("play").textContent = "Play the read";
}

// ---------------------------------------------------------------- drawing

function setUpDrawing() {
  const canvas = $("draw");
  const context = canvas.getContext("2d");
  const clear = () => {
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * canvas.width, ((event.clientY - box.top) / box.height) * canvas.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    state.drawing = true;
    canvas.setPointerCapture(event.pointerId);
    context.beginPath();
    context.moveTo(...point(event));
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!state.drawing) return;
    context.strokeStyle = "#fff";
    context.lineWidth = canvas.width / 9;
    context.lineCap = "round";
    context.lineTo(...point(event));
    context.stroke();
  });
  canvas.addEventListener("pointerup", () => { state.drawing = false; });
  $("clear-drawing").addEventListener("click", clear);
  $("add-drawing").addEventListener("click", guarded(() => addPicture(canvas)));
}

// ---------------------------------------------------------------- wiring

function start() {
  $("api-key").value = apiKey();
  $("use-key").addEventListener("click", guarded(async () => {
    sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
    await loadModels();
  }));
  $("api-key").addEventListener("keydown", (event) => {
    if (event.key === "Enter") $("use-key").click();
  });
  $("model").addEventListener("change", guarded(selectModel));
  $("add").addEventListener("click", guarded(addPatterns));
  $("clear-set").addEventListener("click", () => {
    state.set = [];
    renderSet();
  });
  $("upload").addEventListener("change", guarded((event) => addUploads(event.target.files)));
  $("store").addEventListener("click", guarded(storeSet));
  $("memory").addEventListener("change", () => {
    state.item = 0;
    renderMemories();
  });
  $("more-memories").addEventListener("click", guarded(moreMemories));
  $("refresh-memories").addEventListener("click", guarded(() => reloadMemories()));
  $("corruption").addEventListener("change", selectCorruption);
  $("strength").addEventListener("input", renderQuery);
  $("reroll").addEventListener("click", () => {
    state.seed += 1;
    renderQuery();
  });
  $("query").addEventListener("pointerdown", (event) => {
    $("query").setPointerCapture(event.pointerId);
    moveBlock(event);
  });
  $("query").addEventListener("pointermove", (event) => {
    if (event.buttons) moveBlock(event);
  });
  $("query").addEventListener("keydown", keyBlock);
  $("retrieve").addEventListener("click", guarded(restore));
  $("step-slider").addEventListener("input", () => {
    stop();
    if (state.result) showStep(Number($("step-slider").value));
  });
  $("play").addEventListener("click", () => (state.timer ? stop() : play()));
  setUpDrawing();
  renderSet();
  renderMemories();
  guarded(loadModels)();
}

start();
