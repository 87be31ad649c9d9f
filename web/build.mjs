// Builds the web page into one folder that any static server can serve:
//
//   index.html style.css icon.svg   the page (web/)
//   app.js                          web/main.ts bundled by esbuild, with
//                                   TensorFlow.js and lib/layers.ts
//   wasm/*.wasm                     the tfjs WebAssembly backend's binaries
//   samples/{A,B}/<code>.png        sample emoji from the test split
//   models/index.json               the models the page offers
//   models/<id>/{AtoB,BtoA}/        exported generators (model.json + .bin)
//
// Models come from models/<id>/ (a training run folder with latest/, a
// checkpoint folder with checkpoint.json, or exported networks such as the
// shipped emoji model, models/emoji64/ with generatorAtoB/ and
// generatorBtoA/), exported by `npm run export` in both directions, or,
// with `modelsFrom`, from a folder of models already exported in that
// layout.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root. */
export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)),
  '..');
/** Where `npm run web` builds the page. */
export const DEFAULT_OUT = path.join(ROOT, 'build', 'site');
/** Where trained checkpoints for the page are looked for. */
export const MODELS_ROOT = path.join(ROOT, 'models');

const require = createRequire(import.meta.url);

/**
 * Sample emoji, all from the held-out test split (lib/emoji `splitOf`), so
 * the page shows what the model does on images it did not train on.
 */
export const SAMPLE_EMOJI = [
  ['1f606', 'grinning squinting face'], ['1f349', 'watermelon'],
  ['1f42f', 'tiger face'], ['1f4a3', 'bomb'], ['1f30e', 'globe'],
  ['1f3af', 'bullseye'],
];
/** Side of the sample rasters, px. */
const SAMPLE_SIZE = 128;

function log(message) {
  console.log(`[web] ${message}`);
}

/** Compiles lib/ (tsc) when a compiled module the build needs is missing. */
function ensureCompiled(files) {
  if (files.every((f) => fs.existsSync(path.join(ROOT, 'build', f)))) return;
  log('compiling lib/ (tsc)');
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  spawnSync(process.execPath, [tsc, '-p', ROOT], { stdio: 'inherit' });
  const missing = files.filter((f) => !fs.existsSync(path.join(ROOT,
    'build', f)));
  if (missing.length) {
    throw new Error(`tsc did not produce ${missing.join(', ')}`);
  }
}

async function bundle(out, { minify }) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(ROOT, 'web', 'main.ts')],
    outfile: path.join(out, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify,
    sourcemap: true,
    legalComments: 'linked',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
    metafile: true,
  });
  const bytes = fs.statSync(path.join(out, 'app.js')).size;
  const inputs = Object.keys(result.metafile.inputs);
  if (!inputs.some((f) => f.endsWith('lib/layers.ts'))) {
    throw new Error('the bundle does not include lib/layers.ts: the ' +
      "page could not rebuild the model's custom layers");
  }
  log(`app.js: ${(bytes / 1024).toFixed(0)} KiB from ${inputs.length} ` +
    'modules (esbuild)');
}

function copyStatic(out) {
  for (const f of ['index.html', 'style.css', 'icon.svg']) {
    fs.copyFileSync(path.join(ROOT, 'web', f), path.join(out, f));
  }
  const wasmDir = path.join(path.dirname(require.resolve(
    '@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  fs.mkdirSync(path.join(out, 'wasm'), { recursive: true });
  for (const f of fs.readdirSync(wasmDir).filter((x) => x.endsWith('.wasm'))) {
    fs.copyFileSync(path.join(wasmDir, f), path.join(out, 'wasm', f));
  }
}

async function writeSamples(out) {
  const emoji = require(path.join(ROOT, 'build', 'lib', 'emoji.js'));
  const dirs = { A: emoji.twemojiDir(), B: emoji.openmojiDir() };
  const samples = [];
  for (const domain of ['A', 'B']) {
    const files = new Map(fs.readdirSync(dirs[domain])
      .filter((f) => f.endsWith('.svg'))
      .map((f) => [emoji.normalizeCodePoint(f), f]));
    fs.mkdirSync(path.join(out, 'samples', domain), { recursive: true });
    for (const [code, name] of SAMPLE_EMOJI) {
      const svg = files.get(code);
      if (!svg) continue;
      const png = await emoji.rasteriseSvg(path.join(dirs[domain], svg),
        SAMPLE_SIZE);
      const file = `${domain}/${code}.png`;
      fs.writeFileSync(path.join(out, 'samples', file), png);
      samples.push({ file, domain, name });
    }
  }
  fs.writeFileSync(path.join(out, 'samples', 'index.json'),
    JSON.stringify({ size: SAMPLE_SIZE, samples }, null, 1));
  log(`samples: ${samples.length} emoji at ${SAMPLE_SIZE} px`);
}

/**
 * Whether `dir` holds generators lib/export reads: a checkpoint folder, a
 * run folder with latest/, or exported networks (generatorAtoB/...).
 */
function checkpointIn(dir) {
  const has = (...p) => fs.existsSync(path.join(dir, ...p));
  return has('checkpoint.json') || has('latest', 'checkpoint.json') ||
    has('latest.old', 'checkpoint.json') ||
    has('generatorAtoB', 'model.json') || has('generatorBtoA', 'model.json');
}

/** Newest modification time of any file under `dir`, ms. */
function newestMtime(dir) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) :
      fs.statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Exports both generators of each checkpoint under models/ into
 * `<out>/models/<id>/`, skipping an export already made from the same
 * checkpoint files with the same dtype.
 */
function exportCheckpoints(out, dtype, root) {
  if (!fs.existsSync(root)) return [];
  const entries = [];
  for (const id of fs.readdirSync(root).sort()) {
    const source = path.join(root, id);
    if (!fs.statSync(source).isDirectory() || !checkpointIn(source)) continue;
    ensureCompiled(['lib/cli/export.js']);
    const target = path.join(out, 'models', id);
    const stampFile = path.join(target, 'stamp.json');
    const stamp = JSON.stringify({ source, dtype,
      mtime: newestMtime(source) });
    const directions = {};
    const fresh = fs.existsSync(stampFile) &&
      fs.readFileSync(stampFile, 'utf8') === stamp;
    for (const dir of ['AtoB', 'BtoA']) {
      const dest = path.join(target, dir);
      if (!fresh) {
        log(`exporting ${path.relative(ROOT, source)} ${dir} (${dtype})`);
        const r = spawnSync(process.execPath, [
          path.join(ROOT, 'build', 'lib', 'cli', 'export.js'),
          '--checkpoint', source, '--direction', dir, '--out', dest,
          '--dtype', dtype, '--quiet'], { stdio: 'inherit',
          env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
        if (r.status !== 0) {
          throw new Error(`exporting ${source} (${dir}) failed`);
        }
      }
      directions[dir] = `${id}/${dir}/model.json`;
    }
    fs.writeFileSync(stampFile, stamp);
    if (fresh) log(`models/${id}: export is up to date (${dtype})`);
    entries.push({ id, title: titleOf(id), directions });
  }
  return entries;
}

/** A model's display name from its folder: `emoji64` → `Emoji (64 px)`. */
function titleOf(id) {
  const m = /^(.*?)[-_]?(\d+)$/.exec(id);
  const name = (m && m[1] ? m[1] : id).replace(/[-_]/g, ' ');
  const title = name.charAt(0).toUpperCase() + name.slice(1);
  return m && m[1] ? `${title} (${m[2]} px)` : title;
}

/** Copies models exported in the page's layout (`<id>/<dir>/model.json`). */
function copyExported(out, from) {
  if (!fs.existsSync(from)) {
    throw new Error(`--models ${from}: no such folder`);
  }
  const entries = [];
  for (const id of fs.readdirSync(from).sort()) {
    const directions = {};
    for (const dir of ['AtoB', 'BtoA']) {
      if (fs.existsSync(path.join(from, id, dir, 'model.json'))) {
        directions[dir] = `${id}/${dir}/model.json`;
      }
    }
    if (Object.keys(directions).length === 0) continue;
    fs.cpSync(path.join(from, id), path.join(out, 'models', id),
      { recursive: true });
    entries.push({ id, title: titleOf(id), directions });
  }
  if (entries.length === 0) {
    throw new Error(`--models ${from}: expected <id>/AtoB/model.json ` +
      'and/or <id>/BtoA/model.json inside');
  }
  return entries;
}

/**
 * Builds the page into `out` (default build/site). Options:
 * `checkpointsRoot` (default models/: each `<id>/` holding a checkpoint is
 * exported as model `<id>`), `modelsFrom` (a folder of models already
 * exported, shipped instead), `dtype` of the exported weights (default
 * float16: half the download, outputs within a few 8-bit levels of
 * float32), `minify` (default true). Returns the folder and its models.
 */
export async function buildWeb({ out = DEFAULT_OUT, modelsFrom,
  checkpointsRoot = MODELS_ROOT, dtype = 'float16', minify = true } = {}) {
  const t0 = Date.now();
  ensureCompiled(['lib/emoji.js']);
  fs.mkdirSync(out, { recursive: true });
  // Keep exported models between builds (they are slow to redo); the
  // rest is rebuilt.
  for (const e of fs.readdirSync(out)) {
    if (e !== 'models') fs.rmSync(path.join(out, e), { recursive: true });
  }
  await bundle(out, { minify });
  copyStatic(out);
  await writeSamples(out);
  let models;
  if (modelsFrom) {
    fs.rmSync(path.join(out, 'models'), { recursive: true, force: true });
    models = copyExported(out, modelsFrom);
  } else {
    models = exportCheckpoints(out, dtype, checkpointsRoot);
    const keep = new Set(models.map((m) => m.id));
    const modelsDir = path.join(out, 'models');
    if (fs.existsSync(modelsDir)) {
      for (const e of fs.readdirSync(modelsDir)) {
        if (!keep.has(e)) fs.rmSync(path.join(modelsDir, e),
          { recursive: true, force: true });
      }
    }
  }
  if (models.length > 0) {
    fs.mkdirSync(path.join(out, 'models'), { recursive: true });
    fs.writeFileSync(path.join(out, 'models', 'index.json'),
      JSON.stringify({ models }, null, 1));
    log(`models: ${models.map((m) => m.id).join(', ')}`);
  } else {
    log(`no model: put a trained checkpoint in ${path.relative(ROOT,
      checkpointsRoot) || '.'}/emoji64/ (the page will say it has none)`);
  }
  log(`built ${path.relative(ROOT, out) || out} in ${Date.now() - t0} ms`);
  return { out, models };
}
