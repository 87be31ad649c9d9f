/**
 * Checkpoints on disk: networks, optimizer moments, the image pools, and a
 * JSON state (epoch, schedule, random-generator states, options), written
 * so that a process killed in the middle of a save never destroys the
 * previous checkpoint.
 *
 * Layout of one checkpoint, `<root>/<tag>/` (tag `latest` or `epoch_5`):
 *
 *     checkpoint.json           manifest + JSON state (see CheckpointData)
 *     <network>/model.json      a standard tfjs layers model (topology +
 *     <network>/weights.bin       weights), loadable by tf.loadLayersModel
 *     <group>.json, <group>.bin tensor groups: optimizer state, pool images
 *
 * Atomic replacement: everything is written to `<tag>.tmp/` and flushed
 * (fsync of each file and of the folder); then an existing `<tag>/` is
 * renamed to `<tag>.old/`, `<tag>.tmp/` to `<tag>/`, and `<tag>.old/` is
 * deleted. A kill before the second rename leaves `<tag>/` untouched; a
 * kill between the renames leaves `<tag>.old/`, which `resolveCheckpoint`
 * falls back to. Renames within one folder are atomic on POSIX and NTFS.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/** Identifies our checkpoint manifest (`format` in checkpoint.json). */
export const CHECKPOINT_FORMAT = 'annotated-cyclegan-checkpoint';
/** Layout version of the checkpoint folder described above. */
export const CHECKPOINT_VERSION = 1;

/** A tensor with a name, as optimizers' `getWeights()` return them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** What `saveCheckpoint` writes. */
export interface CheckpointData {
  /** Networks by name, saved as tfjs layers models. */
  networks: Record<string, tf.LayersModel>;
  /** Named tensor lists by group name (optimizer weights, pool images). */
  tensors: Record<string, NamedTensor[]>;
  /** Any JSON-serialisable state (epoch, scheduler, rng, options). */
  state: unknown;
}

/** A checkpoint read back; call `dispose()` once its tensors are used. */
export interface LoadedCheckpoint {
  /** The folder it was read from (`<tag>/` or its `.old` fallback). */
  dir: string;
  /** The network names it holds. */
  networkNames: string[];
  /** Weight tensors of each network, in `model.weights` order. */
  networkWeights: Record<string, tf.Tensor[]>;
  /** Tensor groups, in saved order. */
  tensors: Record<string, NamedTensor[]>;
  state: unknown;
  /** Frees every tensor read. */
  dispose(): void;
}

interface Manifest {
  format: string;
  version: number;
  networks: string[];
  tensors: string[];
  state: unknown;
}

interface TensorSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
}

/** Writes `data` to `file` and flushes it to the disk before returning. */
function writeFileSynced(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    // writeSync may write less than asked; loop until all is out.
    for (let done = 0; done < bytes.byteLength;) {
      done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Flushes a folder's entries (new names, renames) where the OS allows. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot open or fsync a folder; its renames are journaled.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function checkName(kind: string, name: string): void {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new Error(`checkpoint ${kind} name '${name}' must use only ` +
      'letters, digits, _ and -');
  }
}

async function writeNetwork(dir: string, model: tf.LayersModel):
    Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weights = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    const modelJson = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{
        paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [],
      }],
    };
    writeFileSynced(path.join(dir, 'weights.bin'), new Uint8Array(weights));
    writeFileSynced(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    return { modelArtifactsInfo: {
      dateSaved: new Date(), modelTopologyType: 'JSON',
      weightDataBytes: weights.byteLength,
    } };
  }));
  syncDir(dir);
}

async function writeTensors(dir: string, group: string,
  tensors: NamedTensor[]): Promise<void> {
  const specs: TensorSpec[] = [];
  const parts: Uint8Array[] = [];
  for (const { name, tensor } of tensors) {
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
      throw new Error(`checkpoint tensor '${group}/${name}' has dtype ` +
        `${tensor.dtype}; only float32 and int32 are stored`);
    }
    const values = await tensor.data();
    specs.push({ name, shape: tensor.shape.slice(), dtype: tensor.dtype });
    parts.push(new Uint8Array(values.buffer, values.byteOffset,
      values.byteLength));
  }
  writeFileSynced(path.join(dir, `${group}.bin`), Buffer.concat(parts));
  writeFileSynced(path.join(dir, `${group}.json`), JSON.stringify(specs));
}

/**
 * Writes a checkpoint as `<root>/<tag>/`, replacing an earlier one of the
 * same tag atomically (see the module comment). Returns the folder.
 */
export async function saveCheckpoint(
  root: string, tag: string, data: CheckpointData,
): Promise<string> {
  checkName('tag', tag);
  const finalDir = path.join(root, tag);
  const tmpDir = `${finalDir}.tmp`;
  const oldDir = `${finalDir}.old`;
  fs.mkdirSync(root, { recursive: true });
  // A `.tmp` left by a killed save is incomplete by construction.
  fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.mkdirSync(tmpDir);

  const networks = Object.keys(data.networks);
  const groups = Object.keys(data.tensors);
  for (const name of networks) {
    checkName('network', name);
    await writeNetwork(path.join(tmpDir, name), data.networks[name]);
  }
  for (const group of groups) {
    checkName('tensor group', group);
    await writeTensors(tmpDir, group, data.tensors[group]);
  }
  const manifest: Manifest = {
    format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION,
    networks, tensors: groups, state: data.state,
  };
  writeFileSynced(path.join(tmpDir, 'checkpoint.json'),
    JSON.stringify(manifest, null, 1));
  syncDir(tmpDir);

  if (fs.existsSync(finalDir)) {
    // Only when `<tag>/` exists is a leftover `.old` stale: if `<tag>/`
    // is missing, `.old` is the last good checkpoint and stays until the
    // new one is in place.
    fs.rmSync(oldDir, { recursive: true, force: true });
    fs.renameSync(finalDir, oldDir);
  }
  fs.renameSync(tmpDir, finalDir);
  syncDir(root);
  fs.rmSync(oldDir, { recursive: true, force: true });
  return finalDir;
}

/**
 * The folder holding checkpoint `tag` under `root`: `<tag>/` if complete,
 * else `<tag>.old/` (a save killed between its two renames), else
 * undefined. A `.tmp` folder is never used.
 */
export function resolveCheckpoint(root: string, tag: string):
    string | undefined {
  for (const dir of [path.join(root, tag), path.join(root, `${tag}.old`)]) {
    if (fs.existsSync(path.join(dir, 'checkpoint.json'))) return dir;
  }
  return undefined;
}

/** The epoch tags (`epoch_<n>`) saved under `root`, in epoch order. */
export function listEpochCheckpoints(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  const epochOf = (t: string) => Number(t.slice('epoch_'.length));
  return fs.readdirSync(root)
    .filter((t) => /^epoch_\d+$/.test(t))
    .filter((t) => resolveCheckpoint(root, t) !== undefined)
    .sort((a, b) => epochOf(a) - epochOf(b));
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read checkpoint file ${file}: ` +
      `${(e as Error).message}`);
  }
}

/** Splits a weights buffer into tensors, one per spec, in order. */
function splitWeights(file: string, buffer: Buffer, specs: TensorSpec[]):
    tf.Tensor[] {
  const out: tf.Tensor[] = [];
  let offset = 0;
  for (const s of specs) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const bytes = size * 4;
    if (offset + bytes > buffer.byteLength) {
      out.forEach((t) => t.dispose());
      throw new Error(`checkpoint file ${file} is truncated: ` +
        `${buffer.byteLength} bytes, '${s.name}' needs ${offset + bytes}`);
    }
    // Copy into an aligned buffer: a Node Buffer may start at any offset.
    const copy = new ArrayBuffer(bytes);
    new Uint8Array(copy).set(buffer.subarray(offset, offset + bytes));
    const values = s.dtype === 'int32' ? new Int32Array(copy) :
      new Float32Array(copy);
    out.push(tf.tensor(values, s.shape, s.dtype));
    offset += bytes;
  }
  if (offset !== buffer.byteLength) {
    out.forEach((t) => t.dispose());
    throw new Error(`checkpoint file ${file} has ${buffer.byteLength} ` +
      `bytes, its manifest describes ${offset}`);
  }
  return out;
}

/**
 * Reads checkpoint `tag` under `root` (falling back to `<tag>.old/`, see
 * `resolveCheckpoint`). Throws, naming the folder, if there is none.
 */
export async function loadCheckpoint(root: string, tag: string):
    Promise<LoadedCheckpoint> {
  const dir = resolveCheckpoint(root, tag);
  if (!dir) {
    throw new Error(`no checkpoint '${tag}' in ${root} (expected ` +
      `${path.join(root, tag, 'checkpoint.json')})`);
  }
  const manifestFile = path.join(dir, 'checkpoint.json');
  const manifest = readJson(manifestFile) as Manifest;
  if (manifest.format !== CHECKPOINT_FORMAT ||
      manifest.version !== CHECKPOINT_VERSION) {
    throw new Error(`${manifestFile} is not a version ` +
      `${CHECKPOINT_VERSION} ${CHECKPOINT_FORMAT} manifest`);
  }
  const networkWeights: Record<string, tf.Tensor[]> = {};
  const tensors: Record<string, NamedTensor[]> = {};
  const dispose = () => {
    Object.values(networkWeights).forEach((ts) => tf.dispose(ts));
    Object.values(tensors).forEach((ts) => tf.dispose(ts.map((t) => t.tensor)));
  };
  try {
    for (const name of manifest.networks) {
      const modelFile = path.join(dir, name, 'model.json');
      const json = readJson(modelFile) as {
        weightsManifest: { weights: TensorSpec[] }[];
      };
      const specs = json.weightsManifest.flatMap((g) => g.weights);
      const binFile = path.join(dir, name, 'weights.bin');
      networkWeights[name] = splitWeights(binFile,
        fs.readFileSync(binFile), specs);
    }
    for (const group of manifest.tensors) {
      const specs = readJson(path.join(dir, `${group}.json`)) as TensorSpec[];
      const binFile = path.join(dir, `${group}.bin`);
      const values = splitWeights(binFile, fs.readFileSync(binFile), specs);
      tensors[group] = specs.map((s, i) => ({ name: s.name,
        tensor: values[i] }));
    }
  } catch (e) {
    dispose();
    throw e;
  }
  return { dir, networkNames: manifest.networks, networkWeights, tensors,
    state: manifest.state, dispose };
}

/**
 * Copies saved weights into `model` (same architecture, weights in
 * `model.weights` order), checking every shape; `label` names the
 * network in errors.
 */
export function setModelWeights(model: tf.LayersModel, weights: tf.Tensor[],
  label: string): void {
  const vars = model.weights;
  if (vars.length !== weights.length) {
    throw new Error(`checkpoint network '${label}' has ${weights.length} ` +
      `weight tensors, the model built from the options has ${vars.length}` +
      ': the options (netG/netD, ngf/ndf, norm, upsample, channels) must ' +
      'match');
  }
  vars.forEach((v, i) => {
    const want = v.shape.join('x');
    const got = weights[i].shape.join('x');
    if (want !== got) {
      throw new Error(`checkpoint network '${label}': weight ${i} ` +
        `(${v.originalName}) is ${got}, the model expects ${want}`);
    }
  });
  model.setWeights(weights);
}

/**
 * Loads one saved network as a tfjs LayersModel, e.g. a generator for
 * inference from `checkpoints/<name>/latest`. Any tfjs layers model folder
 * works: the weight files are the ones its manifest lists (`weights.bin`
 * here; shards, and float16 or quantised weights, in an exported model).
 * Custom layers must be registered first (importing lib/networks does it).
 */
export async function loadNetwork(checkpointDir: string, name: string):
    Promise<tf.LayersModel> {
  return loadModelFolder(path.join(checkpointDir, name));
}

/** Reads the tfjs layers model in `dir` (`model.json` and its weights). */
export async function loadModelFolder(dir: string): Promise<tf.LayersModel> {
  const modelFile = path.join(dir, 'model.json');
  if (!fs.existsSync(modelFile)) {
    throw new Error(`no network '${path.basename(dir)}' in ` +
      `${path.dirname(dir)} (expected ${modelFile})`);
  }
  const json = readJson(modelFile) as {
    modelTopology?: object;
    weightsManifest?: { paths: string[]; weights: TensorSpec[] }[];
  };
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${modelFile} is not a tfjs layers model (no ` +
      'modelTopology / weightsManifest)');
  }
  const buffers = json.weightsManifest.flatMap((g) => g.paths).map((p) => {
    const file = path.join(dir, p);
    if (!fs.existsSync(file)) {
      throw new Error(`${modelFile} lists weight file ${p}, missing ` +
        `from ${dir}`);
    }
    return fs.readFileSync(file);
  });
  const joined = Buffer.concat(buffers);
  return tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as
      tf.io.WeightsManifestEntry[],
    weightData: joined.buffer.slice(joined.byteOffset,
      joined.byteOffset + joined.byteLength),
  }));
}
