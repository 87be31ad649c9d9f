/**
 * Exporting a trained generator for the browser: a standard TensorFlow.js
 * layers model (`model.json` + binary weight shards) that
 * `tf.loadLayersModel` reads in a page once lib/layers is bundled with it
 * (the custom padding, cropping and instance-norm layers register
 * themselves on import).
 *
 * Weights are written as float32, or quantised to float16, uint16 or uint8
 * the way the tfjs converter does (`--quantize_float16`,
 * `--quantize_uint16`, `--quantize_uint8`): the stored values shrink and
 * each entry of the weights manifest carries a `quantization` field
 * (`{dtype, scale, min}`) from which tfjs's loader restores float32
 * values. A layers model saved from Node has no such option, so the
 * buffers are quantised here.
 *
 *     <out>/model.json               topology, manifest, our metadata
 *     <out>/group1-shard1of1.bin     weights, split every 4 MiB
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import './layers';
import { resolveCheckpoint } from './checkpoint';

/** How the exported weights are stored. */
export type WeightDtype = 'float32' | 'float16' | 'uint16' | 'uint8';

/** The accepted `--dtype` values. */
export const WEIGHT_DTYPES: readonly WeightDtype[] =
  ['float32', 'float16', 'uint16', 'uint8'];

/** A translation direction: A→B is the paper's G, B→A its F. */
export type Direction = 'AtoB' | 'BtoA';

/**
 * The default shard size, 4 MiB, as the tfjs converter's
 * `--weight_shard_size_bytes` (browsers cache files of that size well).
 */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/** Bytes per stored value of each weight dtype. */
const BYTES_PER_VALUE: Record<WeightDtype, number> =
  { float32: 4, float16: 2, uint16: 2, uint8: 1 };

/** Written into `model.json` as `userDefinedMetadata.cyclegan`. */
export interface ExportMetadata {
  format: 'annotated-cyclegan-generator';
  version: 1;
  /** Which way this generator translates. */
  direction: Direction;
  /** Display names of the two domains, e.g. Twemoji and OpenMoji. */
  domains: { A: string; B: string };
  /** Side of the training images, px: the size it translates best at. */
  imageSize: number;
  /** The model pads height and width to a multiple of this... */
  multiple: number;
  /** ... and to at least this (lib/layers `PadToMultiple`). */
  minSize: number;
  /** Channels in and out. */
  inputNc: number;
  outputNc: number;
  /** Storage of the weights. */
  dtype: WeightDtype;
  /** Number of weight values. */
  parameters: number;
  /** Where it came from (checkpoint folder and network), for people. */
  source: string;
}

/** Where a generator sits in a checkpoint. */
export interface GeneratorSource {
  /** The folder holding the network: a checkpoint (tag) folder, or a
   * folder of exported networks. */
  dir: string;
  /** The network's folder name inside it. */
  network: string;
  /** The checkpoint's JSON state; undefined without checkpoint.json. */
  state: unknown;
}

// ---------------------------------------------------------------- weights

/**
 * IEEE 754 binary16 bit patterns of float32 values, rounded to nearest,
 * ties to even; beyond ±65504 gives ±Infinity, below 2^−25 gives ±0,
 * with subnormals in between (the layout tfjs's float16 decoder reads).
 */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset,
    values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) { // Inf stays Inf, NaN stays a (quiet) NaN
      out[i] = sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15; // re-biased exponent
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      // Subnormal half: the implicit 1 becomes explicit and shifts right.
      if (e < -10) { out[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
      out[i] = sign | half;
    } else {
      let half = (e << 10) | (mant >>> 13);
      const rest = mant & 0x1fff;
      // A carry out of the mantissa bumps the exponent: still correct.
      if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
      out[i] = sign | half;
    }
  }
  return out;
}

/**
 * Affine quantisation of one weight to `bits` (8 or 16): stored
 * q = round((w − min) / scale), restored w ≈ q · scale + min, with
 * scale = (max − min) / (2^bits − 1), so min and max are exact and the
 * error is at most scale / 2.
 */
export function quantizeAffine(values: Float32Array, bits: 8 | 16): {
  data: Uint8Array | Uint16Array; scale: number; min: number;
} {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      throw new Error(`cannot quantise a weight holding ${v}`);
    }
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0) { min = 0; max = 0; }
  const levels = 2 ** bits - 1;
  // A constant weight (all zeros) needs no levels; any scale restores it.
  const scale = max > min ? (max - min) / levels : 1;
  const data = bits === 8 ? new Uint8Array(values.length) :
    new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const q = Math.round((values[i] - min) / scale);
    data[i] = q < 0 ? 0 : q > levels ? levels : q;
  }
  return { data, scale, min };
}

/**
 * Re-encodes a float32 weight buffer (as `model.save` hands it, in
 * `specs` order) in `dtype`, returning the new buffer and the manifest
 * entries with their `quantization` fields. Non-float32 weights (int32)
 * are kept as they are.
 */
export function encodeWeights(
  specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer, dtype: WeightDtype,
): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const parts: Uint8Array[] = [];
  const outSpecs: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization) {
      throw new Error(`weight '${spec.name}' is already quantised`);
    }
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = size * 4;
    if (offset + bytes > data.byteLength) {
      throw new Error(`weight buffer of ${data.byteLength} bytes ends ` +
        `before '${spec.name}' (needs ${offset + bytes})`);
    }
    const raw = data.slice(offset, offset + bytes);
    offset += bytes;
    if (dtype === 'float32' || spec.dtype !== 'float32') {
      parts.push(new Uint8Array(raw));
      outSpecs.push({ ...spec });
      continue;
    }
    const values = new Float32Array(raw);
    if (dtype === 'float16') {
      const half = float32ToFloat16(values);
      parts.push(new Uint8Array(half.buffer));
      outSpecs.push({ ...spec, quantization: { dtype: 'float16' } });
    } else {
      const q = quantizeAffine(values, dtype === 'uint8' ? 8 : 16);
      parts.push(new Uint8Array(q.data.buffer));
      outSpecs.push({ ...spec,
        quantization: { dtype, scale: q.scale, min: q.min } });
    }
  }
  if (offset !== data.byteLength) {
    throw new Error(`weight buffer has ${data.byteLength} bytes, the ` +
      `manifest describes ${offset}`);
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { joined.set(p, at); at += p.byteLength; }
  return { specs: outSpecs, data: joined.buffer };
}

/** Stored size of `parameters` float32 values in `dtype`, bytes. */
export function weightBytes(parameters: number, dtype: WeightDtype): number {
  return parameters * BYTES_PER_VALUE[dtype];
}

// ----------------------------------------------------------- model files

/** What {@link writeLayersModel} wrote. */
export interface WrittenModel {
  dir: string;
  /** File names inside `dir`, model.json first. */
  files: string[];
  /** Bytes of all files together. */
  bytes: number;
  /** Bytes of the weight shards. */
  weightBytes: number;
}

/**
 * Saves `model` as a tfjs layers model in `dir` (model.json and weight
 * shards of at most `shardBytes`, named as the tfjs converter names
 * them), its weights stored in `dtype`; `metadata` goes into
 * `model.json`'s `userDefinedMetadata`. Writes to `<dir>.tmp` first and
 * renames, so a failed export leaves no half-written model behind.
 */
export async function writeLayersModel(
  model: tf.LayersModel, dir: string,
  opts: { dtype?: WeightDtype; shardBytes?: number;
    metadata?: Record<string, unknown> } = {},
): Promise<WrittenModel> {
  const dtype = opts.dtype ?? 'float32';
  if (!WEIGHT_DTYPES.includes(dtype)) {
    throw new Error(`weight dtype must be one of ${WEIGHT_DTYPES.join(', ')}` +
      `, got '${dtype}'`);
  }
  const shardBytes = opts.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isInteger(shardBytes) || shardBytes < 1024) {
    throw new Error(`shard size must be an integer >= 1024 bytes, got ` +
      `${shardBytes}`);
  }
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(),
      modelTopologyType: 'JSON' } };
  }));
  if (!artifacts?.weightSpecs || !artifacts.weightData) {
    throw new Error('model.save returned no weights');
  }
  const encoded = encodeWeights(artifacts.weightSpecs,
    tf.io.CompositeArrayBuffer.join(artifacts.weightData), dtype);

  // Shards as the converter cuts them: the byte stream in fixed chunks,
  // a weight may span two shards (the loader joins them first).
  const count = Math.max(1, Math.ceil(encoded.data.byteLength / shardBytes));
  const shardNames = Array.from({ length: count },
    (_, i) => `group1-shard${i + 1}of${count}.bin`);
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: `annotated-cyclegan export (${dtype} weights)`,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: shardNames, weights: encoded.specs }],
    ...(opts.metadata ? { userDefinedMetadata: opts.metadata } : {}),
  };

  checkReplaceable(dir);
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const bytes = new Uint8Array(encoded.data);
  shardNames.forEach((name, i) => {
    fs.writeFileSync(path.join(tmp, name),
      bytes.subarray(i * shardBytes, (i + 1) * shardBytes));
  });
  const jsonText = JSON.stringify(modelJson);
  fs.writeFileSync(path.join(tmp, 'model.json'), jsonText);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(path.resolve(dir)), { recursive: true });
  fs.renameSync(tmp, dir);
  return { dir, files: ['model.json', ...shardNames],
    bytes: Buffer.byteLength(jsonText) + bytes.byteLength,
    weightBytes: bytes.byteLength };
}

/**
 * An export replaces its output folder, so that folder must be missing,
 * empty, or an earlier export (model.json and weight shards, nothing
 * else): anything else, a checkpoint or a folder of the user's, is
 * refused rather than deleted.
 */
function checkReplaceable(dir: string): void {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) {
    throw new Error(`--out ${dir} is a file, not a folder`);
  }
  const entries = fs.readdirSync(dir);
  const exported = (f: string) => f === 'model.json' ||
    /^group\d+-shard\d+of\d+\.bin$/.test(f);
  const other = entries.filter((f) => !exported(f));
  if (other.length > 0) {
    throw new Error(`--out ${dir} already holds other files (` +
      `${other.slice(0, 3).join(', ')}${other.length > 3 ? ', ...' : ''}); ` +
      'an export replaces its folder, so give a new or empty one');
  }
}

/** The parsed `model.json` of an exported model. */
interface ModelJson {
  format?: string;
  modelTopology: object;
  weightsManifest: tf.io.WeightsManifestConfig;
  userDefinedMetadata?: Record<string, unknown>;
}

/**
 * Reads a layers model written by {@link writeLayersModel} (or any tfjs
 * layers model folder) in Node, as a browser would: shards joined,
 * quantised weights restored by tfjs's own decoder. Errors name the file.
 */
export async function loadExportedModel(dir: string):
    Promise<tf.LayersModel> {
  const jsonFile = path.join(dir, 'model.json');
  if (!fs.existsSync(jsonFile)) {
    throw new Error(`no exported model in ${dir} (expected ${jsonFile})`);
  }
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as ModelJson;
  } catch (e) {
    throw new Error(`${jsonFile} is not valid JSON: ${(e as Error).message}`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${jsonFile} is not a tfjs layers model (no ` +
      'modelTopology / weightsManifest)');
  }
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const file = path.join(dir, p);
      if (!fs.existsSync(file)) {
        throw new Error(`${jsonFile} lists weight shard ${p}, missing ` +
          `from ${dir}`);
      }
      buffers.push(fs.readFileSync(file));
    }
  }
  const joined = Buffer.concat(buffers);
  const weightData = joined.buffer.slice(joined.byteOffset,
    joined.byteOffset + joined.byteLength);
  return tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData,
    userDefinedMetadata: json.userDefinedMetadata,
  }));
}

/** Our metadata in an exported `model.json`, or undefined. */
export function readExportMetadata(dir: string): ExportMetadata | undefined {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'),
    'utf8')) as ModelJson;
  return json.userDefinedMetadata?.cyclegan as ExportMetadata | undefined;
}

// ------------------------------------------------------------ checkpoints

/**
 * The network names a checkpoint may use for each direction, in order of
 * preference: ours (`generatorAtoB`), then the official `G_A` (which maps
 * A to B) and `netG_A`.
 */
export const GENERATOR_NAMES: Record<Direction, string[]> = {
  AtoB: ['generatorAtoB', 'G_A', 'netG_A'],
  BtoA: ['generatorBtoA', 'G_B', 'netG_B'],
};

/** Network folders of `dir` that hold a model.json. */
function modelFolders(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) =>
    fs.existsSync(path.join(dir, n, 'model.json')));
}

/**
 * Finds the generator of `direction` in `dir`: a checkpoint folder (with
 * checkpoint.json), a run folder holding tags (`tag`, default `latest`,
 * with the `.old` fallback of lib/checkpoint), or a folder of exported
 * networks without a manifest (`generatorAtoB/model.json`, as the shipped
 * emoji model). Errors name the folder and what it holds.
 */
export function findGenerator(dir: string, direction: Direction,
  tag = 'latest'): GeneratorSource {
  if (!fs.existsSync(dir)) {
    throw new Error(`--checkpoint ${dir}: no such folder`);
  }
  const wanted = GENERATOR_NAMES[direction];
  const hasManifest = fs.existsSync(path.join(dir, 'checkpoint.json'));
  if (!hasManifest && wanted.some((n) => modelFolders(dir).includes(n))) {
    const network = wanted.find((n) => modelFolders(dir).includes(n))!;
    return { dir, network, state: undefined };
  }
  const tagDir = hasManifest ? dir : resolveCheckpoint(dir, tag);
  if (!tagDir) {
    throw new Error(`--checkpoint ${dir}: expected a checkpoint folder ` +
      `(with checkpoint.json), a run folder with ${tag}/checkpoint.json, ` +
      `or a folder with ${wanted[0]}/model.json`);
  }
  const manifestFile = path.join(tagDir, 'checkpoint.json');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as {
    networks?: string[]; state?: unknown;
  };
  const networks = manifest.networks ?? [];
  const network = wanted.find((n) => networks.includes(n));
  if (!network) {
    throw new Error(`${manifestFile}: no ${direction} generator (looked ` +
      `for ${wanted.join(', ')}; it holds ` +
      `${networks.join(', ') || 'no networks'})`);
  }
  return { dir: tagDir, network, state: manifest.state };
}

/** The PadToMultiple settings and channel counts of a generator. */
export function generatorGeometry(model: tf.LayersModel): {
  multiple: number; minSize: number; inputNc: number; outputNc: number;
} {
  const pad = model.layers.find((l) =>
    l.getClassName() === 'PadToMultiple');
  const cfg = pad?.getConfig() as { multiple?: number; minSize?: number } ??
    {};
  const inputNc = model.inputs[0].shape[3];
  const outputNc = model.outputs[0].shape[3];
  if (inputNc == null || outputNc == null) {
    throw new Error(`model '${model.name}' has an unknown channel count`);
  }
  // Without the layer the model takes only sizes it was built for; 1
  // says the page need not pad (the model itself will complain).
  return { multiple: cfg.multiple ?? 1, minSize: cfg.minSize ?? 1,
    inputNc, outputNc };
}

/**
 * The training options known for a checkpoint, most specific first: its
 * JSON state, the state's `options`, then `opt.json` (lib/options
 * `writeOptions`) in the checkpoint folder or the run folder above it.
 */
function trainingRecords(source: GeneratorSource):
    Record<string, unknown>[] {
  const state = source.state as Record<string, unknown> | undefined;
  const records = [state, state?.options as Record<string, unknown>];
  for (const dir of [source.dir, path.dirname(source.dir)]) {
    const file = path.join(dir, 'opt.json');
    if (fs.existsSync(file)) {
      try {
        records.push(JSON.parse(fs.readFileSync(file, 'utf8')));
      } catch {
        // An unreadable opt.json only loses defaults that options set.
      }
    }
  }
  return records.filter((r): r is Record<string, unknown> =>
    r != null && typeof r === 'object');
}

/**
 * The side of the training crops (official `--crop_size`, our `cropSize`)
 * of a checkpoint, from {@link trainingRecords}; undefined if none says.
 */
export function trainingSize(source: GeneratorSource): number | undefined {
  const records = trainingRecords(source);
  for (const key of ['cropSize', 'imageSize']) {
    for (const r of records) {
      const v = r[key];
      if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    }
  }
  return undefined;
}

/**
 * Display names of the model's domains A and B, from the training
 * `dataroot`: the embedded emoji set (data/emoji*) is Twemoji → OpenMoji;
 * a folder named like the official sets (`horse2zebra`) gives its two
 * halves; else plain A and B. The official `--direction BtoA` trains on
 * the folders swapped, so the names swap too.
 */
export function domainNames(source: GeneratorSource): { A: string;
  B: string } {
  const records = trainingRecords(source);
  const pick = (key: string): string | undefined => {
    const r = records.find((x) => typeof x[key] === 'string');
    return r?.[key] as string | undefined;
  };
  const root = path.basename(pick('dataroot') ?? '');
  let names = { A: 'A', B: 'B' };
  const pair = /^([a-z]+)2([a-z]+)$/i.exec(root);
  if (/emoji/i.test(root)) names = { A: 'Twemoji', B: 'OpenMoji' };
  else if (pair) names = { A: pair[1], B: pair[2] };
  return pick('direction') === 'BtoA' ? { A: names.B, B: names.A } : names;
}

// ------------------------------------------------------------------ export

/** Options of {@link exportGenerator}. */
export interface ExportOptions {
  /** Checkpoint folder or run folder (see {@link findGenerator}). */
  checkpoint: string;
  direction: Direction;
  /** Output folder; replaced. */
  out: string;
  /** Weight storage; default float32. */
  dtype?: WeightDtype;
  /** Checkpoint tag inside a run folder; default `latest`. */
  tag?: string;
  /** Shard size, bytes; default 4 MiB. */
  shardBytes?: number;
  /** Training image side; default {@link trainingSize}, else 256. */
  imageSize?: number;
  /** Domain names; default {@link domainNames}. */
  domains?: { A: string; B: string };
  /**
   * Makes the images the exported model is compared on against the
   * float32 one, [N, H, W, C] in [−1, 1], given the training size and the
   * input channels (disposed after use); default or undefined: a seeded
   * random image at the training size.
   */
  probe?: (imageSize: number, inputNc: number) =>
    Promise<tf.Tensor4D | undefined>;
}

/** What {@link exportGenerator} did, with the figures it prints. */
export interface ExportReport extends WrittenModel {
  metadata: ExportMetadata;
  /** Largest |exported − float32| output difference, in 8-bit levels. */
  maxDiff: number;
  /** Mean |exported − float32| output difference, in 8-bit levels. */
  meanDiff: number;
  /** The bytes the same weights take as float32. */
  float32Bytes: number;
  /** The shape of the probe batch the differences were measured on. */
  probeShape: number[];
}

/**
 * Output difference between two generators on `probe`, in 8-bit levels
 * (outputs in [−1, 1] span 255 levels, so a difference d is d·127.5).
 */
export function outputDifference(a: tf.LayersModel, b: tf.LayersModel,
  probe: tf.Tensor4D): { maxDiff: number; meanDiff: number } {
  return tf.tidy(() => {
    const diff = tf.abs(tf.sub(a.predict(probe) as tf.Tensor,
      b.predict(probe) as tf.Tensor)).mul(127.5);
    return { maxDiff: diff.max().dataSync()[0],
      meanDiff: diff.mean().dataSync()[0] };
  });
}

/**
 * Exports one generator of a checkpoint as a browser-ready tfjs layers
 * model (see the module comment), then loads the export back as a page
 * would and compares its outputs with the float32 generator.
 */
export async function exportGenerator(opts: ExportOptions):
    Promise<ExportReport> {
  const dtype = opts.dtype ?? 'float32';
  if (!WEIGHT_DTYPES.includes(dtype)) {
    throw new Error(`--dtype must be one of ${WEIGHT_DTYPES.join(', ')}, ` +
      `got '${dtype}'`);
  }
  if (opts.direction !== 'AtoB' && opts.direction !== 'BtoA') {
    throw new Error(`--direction must be AtoB or BtoA, got ` +
      `'${String(opts.direction)}'`);
  }
  const source = findGenerator(opts.checkpoint, opts.direction, opts.tag);
  // A checkpoint network (weights.bin) and an already exported one
  // (shards, maybe quantised) are both tfjs layers model folders.
  const model = await loadExportedModel(path.join(source.dir,
    source.network));
  let exported: tf.LayersModel | undefined;
  let probe: tf.Tensor4D | undefined;
  try {
    const geometry = generatorGeometry(model);
    const imageSize = opts.imageSize ?? trainingSize(source) ?? 256;
    const parameters = model.countParams();
    const metadata: ExportMetadata = {
      format: 'annotated-cyclegan-generator', version: 1,
      direction: opts.direction,
      domains: opts.domains ?? domainNames(source),
      imageSize, ...geometry, dtype, parameters,
      source: `${source.dir}#${source.network}`,
    };
    const written = await writeLayersModel(model, opts.out, {
      dtype, shardBytes: opts.shardBytes, metadata: { cyclegan: metadata },
    });
    exported = await loadExportedModel(opts.out);
    probe = await opts.probe?.(imageSize, geometry.inputNc) ??
      tf.randomUniform([1, imageSize, imageSize, geometry.inputNc], -1, 1,
        'float32', 7);
    const diff = outputDifference(model, exported, probe);
    return { ...written, ...diff, metadata,
      float32Bytes: weightBytes(parameters, 'float32'),
      probeShape: probe.shape.slice() };
  } finally {
    model.dispose();
    exported?.dispose();
    probe?.dispose();
  }
}
