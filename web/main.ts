/**
 * The in-browser translator: loads the exported generators (both
 * directions, so that the cycle A → B → A can be shown), picks the fastest
 * TensorFlow.js backend the browser offers (WebGL, then WebAssembly, then
 * plain JavaScript), and translates an image the person drops, picks or
 * chooses from the samples.
 *
 * URL parameters (for tests and benchmarks): `backend=webgl|wasm|cpu`
 * forces a backend; `model=<id>` picks a model of models/index.json.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// Registers the custom layers (padding, cropping, instance norm) that the
// exported model.json names; without it tf.loadLayersModel fails.
import '../lib/layers';
import type { ExportMetadata } from '../lib/export';
import { checkFile, checkPixels, Geometry, outputToRgba, planWork,
  ResultInfo, rgbaToInput, WorkMode, WorkPlan } from './plan';

type Direction = 'AtoB' | 'BtoA';

/** One entry of models/index.json, written by the web build. */
interface ModelEntry {
  id: string;
  title: string;
  /** model.json paths relative to models/, per direction. */
  directions: Partial<Record<Direction, string>>;
}

/** One entry of samples/index.json. */
interface SampleEntry {
  file: string;
  domain: 'A' | 'B';
  name: string;
}

interface LoadedModels {
  entry: ModelEntry;
  meta: ExportMetadata;
  generators: Partial<Record<Direction, tf.LayersModel>>;
}

const BACKEND_NAMES: Record<string, string> = {
  webgl: 'WebGL (GPU)', wasm: 'WebAssembly (CPU)',
  cpu: 'plain JavaScript (CPU)',
};

const params = new URLSearchParams(location.search);
const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el as T;
};

let models: LoadedModels | undefined;
let backend = '';
/** The image last chosen, kept to re-run on a direction or size change. */
let current: { image: CanvasImageSource; width: number; height: number;
  name: string; } | undefined;
/** Bumped per request; a slower earlier run does not overwrite a newer. */
let generation = 0;
let downloadUrl: string | undefined;
let lastResult: ResultInfo | undefined;

// ------------------------------------------------------------ messages

function showMessage(text: string, kind: 'error' | 'note' = 'note'): void {
  const box = $('message');
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
  box.dataset.kind = kind;
}

function clearMessage(): void {
  const box = $('message');
  box.hidden = true;
  box.textContent = '';
  delete box.dataset.kind;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ------------------------------------------------------------- backend

function withTimeout<T>(p: Promise<T>, ms: number, message: string):
    Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); reject(e); });
  });
}

/**
 * The WebGL renderer's name when it draws in software (SwiftShader,
 * llvmpipe: a browser without a usable GPU), else undefined. There WebGL
 * runs slower than WebAssembly, even slower than plain JavaScript.
 */
function softwareWebGL(): string | undefined {
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2') ?? canvas.getContext('webgl');
  if (!gl) return undefined;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(info ?
    info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return /swiftshader|llvmpipe|softpipe|software/i.test(renderer) ?
    renderer : undefined;
}

/** Why the backend order changed, for the status line. */
let backendNote = '';

/**
 * Tries WebGL, then wasm, then cpu (or only the one the URL forces) and
 * returns the first that initialises and runs a tiny op. WebGL drawn in
 * software goes after wasm.
 */
async function pickBackend(): Promise<string> {
  setWasmPaths(new URL('wasm/', location.href).href);
  const forced = params.get('backend');
  let order = ['webgl', 'wasm', 'cpu'];
  const software = forced ? undefined : softwareWebGL();
  if (forced) {
    order = [forced];
    backendNote = ' (chosen by the URL)';
  } else if (software) {
    order = ['wasm', 'webgl', 'cpu'];
    const name = /swiftshader|llvmpipe|softpipe/i.exec(software)?.[0] ??
      'a software renderer';
    backendNote = ` (WebGL here is drawn in software by ${name}, slower ` +
      'than WebAssembly)';
  }
  const failures: string[] = [];
  for (const name of order) {
    try {
      // A backend whose start hangs (a worker that never answers) must
      // not stop the page: give up on it after a while.
      const started = await withTimeout(tf.setBackend(name), 30_000,
        `${name} did not start within 30 s`);
      if (!started) throw new Error('did not start');
      await tf.ready();
      // A context can exist and still fail its first program.
      const probe = tf.tidy(() => tf.add(tf.ones([2]), 1));
      await probe.data();
      probe.dispose();
      return name;
    } catch (e) {
      failures.push(`${name}: ${errorText(e)}`);
    }
  }
  throw new Error('no TensorFlow.js backend works here ' +
    `(${failures.join('; ')})`);
}

// -------------------------------------------------------------- models

async function fetchJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${r.statusText}`);
  try {
    return await r.json() as T;
  } catch {
    throw new Error(`${url} is not valid JSON`);
  }
}

async function loadModels(): Promise<LoadedModels> {
  const index = await fetchJson<{ models: ModelEntry[] }>('models/index.json')
    .catch((e: Error) => {
      throw new Error(`no model list (${e.message}). This build ships no ` +
        'model: put a trained model in models/emoji64/ and run ' +
        '`npm run web`.');
    });
  const wanted = params.get('model');
  const entry = wanted ? index.models.find((m) => m.id === wanted) :
    index.models[0];
  if (!entry) {
    throw new Error(wanted ? `no model '${wanted}' in models/index.json` :
      'models/index.json lists no model');
  }
  const generators: LoadedModels['generators'] = {};
  let meta: ExportMetadata | undefined;
  for (const dir of ['AtoB', 'BtoA'] as Direction[]) {
    const rel = entry.directions[dir];
    if (!rel) continue;
    const url = `models/${rel}`;
    try {
      const model = await tf.loadLayersModel(url);
      generators[dir] = model;
      const m = (model.getUserDefinedMetadata() as
        { cyclegan?: ExportMetadata } | undefined)?.cyclegan;
      meta ??= m;
    } catch (e) {
      Object.values(generators).forEach((g) => g?.dispose());
      throw new Error(`the ${dir} generator (${url}) failed to load: ` +
        errorText(e));
    }
  }
  if (!generators.AtoB && !generators.BtoA) {
    throw new Error(`model '${entry.id}' lists no generator`);
  }
  if (!meta) {
    throw new Error(`model '${entry.id}' has no export metadata; export ` +
      'it with `npm run export`');
  }
  return { entry, meta, generators };
}

function describeModel(m: LoadedModels): string {
  const { meta } = m;
  const dirs = (Object.keys(m.generators) as Direction[]).join(' and ');
  return `${m.entry.title}: ${meta.domains.A} (A) ↔ ${meta.domains.B} (B), ` +
    `${dirs}, ${meta.parameters.toLocaleString('en')} parameters each, ` +
    `trained at ${meta.imageSize}×${meta.imageSize} px, ${meta.dtype} ` +
    'weights.';
}

/**
 * Runs each generator once on a blank image at the training size so the
 * first real translation does not pay for compiling GPU programs.
 */
async function warmUp(m: LoadedModels): Promise<void> {
  const s = m.meta.imageSize;
  for (const g of Object.values(m.generators)) {
    const y = tf.tidy(() => g!.predict(tf.zeros([1, s, s, m.meta.inputNc])) as
      tf.Tensor);
    await y.data();
    y.dispose();
  }
}

// ----------------------------------------------------------- translate

function direction(): Direction {
  const el = document.querySelector<HTMLInputElement>(
    'input[name=direction]:checked');
  return (el?.value as Direction) ?? 'AtoB';
}

function setDirection(d: Direction): void {
  const el = document.querySelector<HTMLInputElement>(
    `input[name=direction][value=${d}]`);
  if (el) el.checked = true;
}

function geometry(): Geometry {
  const meta = models?.meta;
  return meta ? { imageSize: meta.imageSize, multiple: meta.multiple,
    minSize: meta.minSize } : { imageSize: 256, multiple: 1, minSize: 1 };
}

function paint(canvas: HTMLCanvasElement,
  rgba: Uint8ClampedArray<ArrayBuffer>, w: number, h: number): void {
  canvas.width = w;
  canvas.height = h;
  canvas.classList.toggle('small', Math.max(w, h) < 256);
  const ctx = canvas.getContext('2d')!;
  ctx.putImageData(new ImageData(rgba, w, h), 0, 0);
}

/** Draws the source on white at the planned size and returns its RGBA. */
function drawOriginal(plan: WorkPlan): Uint8ClampedArray {
  const canvas = $<HTMLCanvasElement>('canvas-original');
  canvas.width = plan.width;
  canvas.height = plan.height;
  canvas.classList.toggle('small', Math.max(plan.width, plan.height) < 256);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  // Transparent pixels become white, as in the training data.
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, plan.width, plan.height);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(current!.image, 0, 0, plan.width, plan.height);
  return ctx.getImageData(0, 0, plan.width, plan.height).data;
}

/** Runs `g` on an H×W×3 input, returning its output values and the time. */
async function runGenerator(g: tf.LayersModel, input: Float32Array,
  h: number, w: number): Promise<{ values: Float32Array; ms: number }> {
  const t0 = performance.now();
  const y = tf.tidy(() => g.predict(tf.tensor4d(input, [1, h, w, 3])) as
    tf.Tensor);
  try {
    const values = await y.data() as Float32Array;
    return { values, ms: performance.now() - t0 };
  } finally {
    y.dispose();
  }
}

async function translate(): Promise<void> {
  if (!current) return;
  const gen = ++generation;
  const results = $('results');
  results.dataset.state = 'working';
  const dir = direction();
  const back: Direction = dir === 'AtoB' ? 'BtoA' : 'AtoB';
  // Without a model there is no training size to go to.
  const mode = models ? $<HTMLSelectElement>('work-size').value as
    WorkMode : 'original';
  const plan = planWork(current.width, current.height, mode, geometry());
  const rgba = drawOriginal(plan);
  const meta = models?.meta;
  const [from, to] = dir === 'AtoB' ? ['A', 'B'] as const :
    ['B', 'A'] as const;
  $('caption-original').textContent = `Original, ${plan.width}×` +
    `${plan.height}` + (meta ? ` (${meta.domains[from]})` : '');
  const g = models?.generators[dir];
  if (!g) {
    results.dataset.state = 'error';
    showMessage(models ? `This model has no ${dir} generator; choose the ` +
      'other direction.' : 'No model is loaded, so the image cannot be ' +
      'translated (see the model status above).', 'error');
    return;
  }
  $('details').replaceChildren();
  setDownload(undefined);
  try {
    const input = rgbaToInput(rgba);
    const fake = await runGenerator(g, input, plan.height, plan.width);
    if (gen !== generation) return;
    const fakeRgba = outputToRgba(fake.values);
    const fakeCanvas = $<HTMLCanvasElement>('canvas-translation');
    paint(fakeCanvas, fakeRgba, plan.width, plan.height);
    $('caption-translation').textContent = `Translation ${from} → ${to}` +
      (meta ? ` (${meta.domains[to]})` : '');

    // The reconstruction starts from the translation as the page shows
    // it (8-bit), the way a downloaded translation would be fed back.
    let recMs: number | undefined;
    const gBack = models?.generators[back];
    const recCanvas = $<HTMLCanvasElement>('canvas-reconstruction');
    if (gBack) {
      const rec = await runGenerator(gBack, rgbaToInput(fakeRgba),
        plan.height, plan.width);
      if (gen !== generation) return;
      recMs = rec.ms;
      paint(recCanvas, outputToRgba(rec.values), plan.width, plan.height);
      $('caption-reconstruction').textContent = `Reconstruction ${to} → ` +
        `${from}` + (meta ? ` (${meta.domains[from]})` : '');
    } else {
      paint(recCanvas, new Uint8ClampedArray(4).fill(255), 1, 1);
      $('caption-reconstruction').textContent = `No ${back} generator: ` +
        'no reconstruction';
    }
    lastResult = { direction: dir, width: plan.width, height: plan.height,
      translationMs: fake.ms, reconstructionMs: recMs, backend };
    showDetails(plan, lastResult);
    fakeCanvas.toBlob((blob) => {
      if (blob && gen === generation) setDownload(blob);
    }, 'image/png');
    results.dataset.state = 'done';
    clearMessage();
  } catch (e) {
    if (gen !== generation) return;
    results.dataset.state = 'error';
    showMessage(`The translation failed on ${BACKEND_NAMES[backend] ??
      backend}: ${errorText(e)}. Try the training size, or a smaller ` +
      'image.', 'error');
  }
}

function showDetails(plan: WorkPlan, r: ResultInfo): void {
  const items = [
    `Backend: ${BACKEND_NAMES[r.backend] ?? r.backend} (tfjs ` +
      `${tf.version.tfjs}).`,
    `Time: translation ${r.translationMs.toFixed(0)} ms` +
      (r.reconstructionMs !== undefined ? `, reconstruction ` +
        `${r.reconstructionMs.toFixed(0)} ms` : '') +
      ` at ${plan.width}×${plan.height}.`,
    ...plan.notes,
  ];
  $('details').replaceChildren(...items.map((t) => {
    const li = document.createElement('li');
    li.textContent = t;
    return li;
  }));
  const results = $('results');
  results.dataset.backend = r.backend;
  results.dataset.ms = r.translationMs.toFixed(1);
}

function setDownload(blob: Blob | undefined): void {
  const a = $<HTMLAnchorElement>('download');
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = blob ? URL.createObjectURL(blob) : undefined;
  a.href = downloadUrl ?? '#';
  a.setAttribute('aria-disabled', blob ? 'false' : 'true');
  const base = (current?.name ?? 'image').replace(/\.[^.]*$/, '');
  a.download = `${base}-${direction()}.png`;
}

// --------------------------------------------------------------- input

/** Decodes a file as an image element, or throws a readable message. */
function decodeImage(blob: Blob, name: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(blob);
    const img = new Image();
    img.onload = () => { URL.revokeObjectURL(url); resolve(img); };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error(`“${name}” is not an image this browser can read` +
        (blob.type ? ` (its type is ${blob.type})` : '') + '. Choose a ' +
        'PNG, JPEG, WebP, GIF or SVG file.'));
    };
    img.src = url;
  });
}

async function useFile(blob: Blob, name: string): Promise<void> {
  const refused = checkFile(name, blob.type, blob.size);
  if (refused) {
    showMessage(refused, 'error');
    return;
  }
  let img: HTMLImageElement;
  try {
    img = await decodeImage(blob, name);
  } catch (e) {
    showMessage(errorText(e), 'error');
    return;
  }
  // An SVG without a width/height attribute has no intrinsic size.
  const width = img.naturalWidth || geometry().imageSize;
  const height = img.naturalHeight || geometry().imageSize;
  const tooBig = checkPixels(name, width, height);
  if (tooBig) {
    showMessage(tooBig, 'error');
    return;
  }
  current = { image: img, width, height, name };
  clearMessage();
  await translate();
}

function wireInput(): void {
  const input = $<HTMLInputElement>('file-input');
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    if (f) void useFile(f, f.name);
    input.value = '';
  });
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const f = e.dataTransfer?.files?.[0];
    if (f) void useFile(f, f.name);
    else showMessage('Nothing to read: drop an image file.', 'error');
  });
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });
  // Dropping outside the zone must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  for (const el of document.querySelectorAll<HTMLInputElement>(
    'input[name=direction]')) {
    el.addEventListener('change', () => void translate());
  }
  $('work-size').addEventListener('change', () => void translate());
}

async function loadSamples(): Promise<void> {
  let samples: SampleEntry[];
  try {
    samples = (await fetchJson<{ samples: SampleEntry[] }>(
      'samples/index.json')).samples;
  } catch {
    $('samples').hidden = true;
    return;
  }
  const list = $('sample-list');
  const rows: Record<string, HTMLElement> = {};
  for (const domain of ['A', 'B']) {
    const row = document.createElement('div');
    row.className = 'sample-row';
    const label = document.createElement('span');
    label.className = 'sample-label';
    label.id = `sample-label-${domain}`;
    label.textContent = models?.meta.domains[domain as 'A' | 'B'] ??
      `Domain ${domain}`;
    row.append(label);
    rows[domain] = row;
    list.append(row);
  }
  for (const s of samples) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.domain = s.domain;
    b.dataset.file = s.file;
    const label = `${s.name} (domain ${s.domain})`;
    b.title = label;
    const img = document.createElement('img');
    img.src = `samples/${s.file}`;
    img.alt = label;
    b.append(img);
    b.addEventListener('click', async () => {
      try {
        const r = await fetch(`samples/${s.file}`);
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        // A sample of domain A is translated A → B, and vice versa.
        setDirection(s.domain === 'A' ? 'AtoB' : 'BtoA');
        await useFile(await r.blob(), s.file.split('/').pop()!);
      } catch (e) {
        showMessage(`The sample ${s.file} could not be read: ` +
          errorText(e), 'error');
      }
    });
    rows[s.domain]?.append(b);
  }
}

// ----------------------------------------------------- bench interface

/**
 * Milliseconds per translation at `size`×`size` on the current backend:
 * one warm-up run, then `runs` timed runs (each until its output is read
 * back), of the A→B generator (or the only one) on a random image.
 */
async function bench(size = 256, runs = 3): Promise<number[]> {
  const g = models?.generators.AtoB ?? models?.generators.BtoA;
  if (!g) throw new Error('no model loaded');
  const x = tf.randomUniform([1, size, size, 3], -1, 1, 'float32', 1);
  const times: number[] = [];
  try {
    for (let i = 0; i <= runs; i++) {
      const t0 = performance.now();
      const y = g.predict(x) as tf.Tensor;
      await y.data();
      y.dispose();
      if (i > 0) times.push(performance.now() - t0);
    }
  } finally {
    x.dispose();
  }
  return times;
}

// ---------------------------------------------------------------- start

async function start(): Promise<void> {
  wireInput();
  void loadSamples();
  $('direction-field').setAttribute('aria-disabled', 'true');
  try {
    backend = await pickBackend();
    if (!backendNote && backend !== 'webgl') {
      backendNote = ' (WebGL is not available here)';
    }
    $('backend-status').textContent = `Backend: ${BACKEND_NAMES[backend] ??
      backend}${backendNote}.`;
    document.body.dataset.backend = backend;
  } catch (e) {
    $('backend-status').textContent = errorText(e);
    document.body.dataset.state = 'error';
    showMessage(`The page cannot compute anything: ${errorText(e)}`, 'error');
    return;
  }
  try {
    const t0 = performance.now();
    models = await loadModels();
    await warmUp(models);
    const ms = performance.now() - t0;
    $('model-status').textContent = describeModel(models) +
      ` Loaded in ${ms.toFixed(0)} ms.`;
    $('label-AtoB').textContent = `${models.meta.domains.A} → ` +
      `${models.meta.domains.B}`;
    $('label-BtoA').textContent = `${models.meta.domains.B} → ` +
      `${models.meta.domains.A}`;
    for (const d of ['A', 'B'] as const) {
      const label = document.getElementById(`sample-label-${d}`);
      if (label) label.textContent = models.meta.domains[d];
    }
    for (const d of ['AtoB', 'BtoA'] as Direction[]) {
      const el = document.querySelector<HTMLInputElement>(
        `input[name=direction][value=${d}]`);
      if (el) el.disabled = !models.generators[d];
    }
    if (!models.generators.AtoB) setDirection('BtoA');
    document.body.dataset.state = 'ready';
  } catch (e) {
    $('model-status').textContent = `The model failed to load: ` +
      `${errorText(e)}`;
    $('model-status').classList.add('error');
    document.body.dataset.state = 'model-error';
    showMessage('The model failed to load, so images cannot be translated. ' +
      'You can still open images; reload the page to try again.', 'error');
  }
  $('direction-field').removeAttribute('aria-disabled');
}

let resolveReady!: () => void;
window.cyclegan = {
  ready: new Promise<void>((r) => { resolveReady = r; }),
  backend: () => backend,
  result: () => lastResult,
  bench,
  numTensors: () => tf.memory().numTensors,
};
void start().finally(() => resolveReady());
