/**
 * Inference: translate images with a trained generator, as the official
 * test script does (`test.py` with `--model cycle_gan`), writing the
 * translations, the cycle reconstructions and an HTML results page.
 *
 * A generator comes from a training checkpoint (`checkpoints/<name>/latest`
 * or `epoch_N`, with `opt.json` beside it) or from the shipped emoji model
 * (`models/emoji64`), which has the same layout with float16 weights. The
 * networks pad their input to the multiple they need and crop back, so any
 * image size and aspect ratio goes through unchanged.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { loadNetwork } from './checkpoint';
import { decodeImage, rawToTensor, tensorToRaw, RawImage } from './image';
import { PROJECT_ROOT } from './show';
import './networks'; // registers the custom layers before models load

/** Translation direction, as the official `--direction`. */
export type Direction = 'AtoB' | 'BtoA';

/** The model shipped with the project (see models/README.md). */
export const SHIPPED_MODEL_DIR = path.join(PROJECT_ROOT, 'models', 'emoji64');

/** Image extensions `translatePath` reads from a folder (what sharp reads). */
export const INPUT_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.gif',
  '.tif', '.tiff', '.svg', '.avif'];

/**
 * The largest image `translatePath` takes by default, in pixels (4
 * megapixels: a 2000×2000 image needs several GB of activations in the
 * generator on the CPU). `maxPixels` raises it.
 */
export const DEFAULT_MAX_TRANSLATE_PIXELS = 4_000_000;

/** The two generators of a checkpoint folder, with what it says of them. */
export interface LoadedGenerators {
  dir: string;
  /** Generator per direction: AtoB is the paper's G, BtoA its F. */
  generators: Record<Direction, tf.LayersModel>;
  /** Channel count each generator expects. */
  inputChannels: Record<Direction, number>;
  /** `opt.json` found beside the checkpoint, if any. */
  options?: Record<string, unknown>;
  dispose(): void;
}

const NETWORK_OF: Record<Direction, string> = {
  AtoB: 'generatorAtoB', BtoA: 'generatorBtoA',
};

function readOptionsNear(dir: string): Record<string, unknown> | undefined {
  for (const d of [dir, path.dirname(dir)]) {
    const f = path.join(d, 'opt.json');
    if (fs.existsSync(f)) {
      return JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
    }
  }
  return undefined;
}

/** Expectations a caller may check a checkpoint against. */
export interface ExpectedModel {
  netG?: string;
  inputNc?: number;
  outputNc?: number;
}

/**
 * Loads both generators of a checkpoint folder (one holding
 * `generatorAtoB/model.json` and `generatorBtoA/model.json`). Errors name
 * the folder and what was expected and found: a missing folder or file,
 * or an architecture or channel count other than `expect` says.
 */
export async function loadGenerators(
  dir: string, expect: ExpectedModel = {},
): Promise<LoadedGenerators> {
  if (!fs.existsSync(dir)) {
    throw new Error(`checkpoint folder ${dir} does not exist (expected a ` +
      'folder such as checkpoints/<name>/latest or models/emoji64)');
  }
  // A training run folder holds its checkpoints in tags: use `latest`.
  if (!fs.existsSync(path.join(dir, NETWORK_OF.AtoB)) &&
      fs.existsSync(path.join(dir, 'latest', NETWORK_OF.AtoB))) {
    dir = path.join(dir, 'latest');
  }
  const options = readOptionsNear(dir);
  if (options && expect.netG && options.netG !== expect.netG) {
    throw new Error(`${dir} holds a ${String(options.netG)} generator, ` +
      `not the ${expect.netG} asked for (--netG)`);
  }
  const generators = {} as Record<Direction, tf.LayersModel>;
  const inputChannels = {} as Record<Direction, number>;
  try {
    for (const d of ['AtoB', 'BtoA'] as Direction[]) {
      // A checkpoint's networks and an exported model (float16 shards, as
      // the shipped one) are both tfjs layers model folders.
      generators[d] = await loadNetwork(dir, NETWORK_OF[d]);
      inputChannels[d] = generators[d].inputs[0].shape[3] as number;
    }
  } catch (err) {
    Object.values(generators).forEach((g) => g.dispose());
    throw err;
  }
  const want: Record<Direction, number | undefined> = {
    AtoB: expect.inputNc, BtoA: expect.outputNc,
  };
  for (const d of ['AtoB', 'BtoA'] as Direction[]) {
    if (want[d] !== undefined && want[d] !== inputChannels[d]) {
      Object.values(generators).forEach((g) => g.dispose());
      throw new Error(`${dir}: the ${d} generator takes ` +
        `${inputChannels[d]}-channel images, not ${want[d]}`);
    }
  }
  return {
    dir, generators, inputChannels, options,
    dispose: () => Object.values(generators).forEach((g) => g.dispose()),
  };
}

/**
 * Runs a generator on a batch [N, H, W, C] in [-1, 1] in inference mode
 * (no dropout); the output has the input's size. The input is not disposed.
 */
export function translateBatch(
  generator: tf.LayersModel, batch: tf.Tensor4D,
): tf.Tensor4D {
  return tf.tidy(() => generator.apply(batch, { training: false }) as
    tf.Tensor4D);
}

/** One translated image and its reconstruction, as 8-bit pixels. */
export interface Translation {
  real: RawImage;
  fake: RawImage;
  rec: RawImage;
}

/**
 * Translates decoded images with `forward` and back with `backward` (the
 * cycle reconstruction), batching images of equal size `batchSize` at a
 * time. Tensors are freed as it goes.
 */
export function translateImages(
  images: RawImage[], forward: tf.LayersModel, backward: tf.LayersModel,
  batchSize = 1,
): Translation[] {
  const out: Translation[] = new Array(images.length);
  // Group equal sizes so that a batch is one tensor.
  const groups = new Map<string, number[]>();
  images.forEach((img, i) => {
    const key = `${img.width}x${img.height}x${img.channels}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  for (const indices of groups.values()) {
    for (let s = 0; s < indices.length; s += batchSize) {
      const chunk = indices.slice(s, s + batchSize);
      const [fakes, recs] = tf.tidy(() => {
        const real = tf.stack(chunk.map((i) => rawToTensor(images[i]))) as
          tf.Tensor4D;
        const fake = translateBatch(forward, real);
        return [tf.unstack(fake), tf.unstack(translateBatch(backward, fake))];
      });
      chunk.forEach((i, k) => {
        out[i] = { real: images[i], fake: tensorToRaw(fakes[k] as tf.Tensor3D),
          rec: tensorToRaw(recs[k] as tf.Tensor3D) };
      });
      tf.dispose([...fakes, ...recs]);
    }
  }
  return out;
}

/** Image files of a folder (sorted), or the one file given. */
export function listInputs(input: string): string[] {
  if (!fs.existsSync(input)) throw new Error(`${input} does not exist`);
  if (fs.statSync(input).isFile()) return [input];
  const files = fs.readdirSync(input, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.') &&
      INPUT_EXTENSIONS.includes(path.extname(e.name).toLowerCase()))
    .map((e) => path.join(input, e.name)).sort();
  if (files.length === 0) {
    throw new Error(`${input} holds no ${INPUT_EXTENSIONS.join('/')} images`);
  }
  return files;
}

/** Options of `translatePath`. */
export interface TranslateOptions {
  /** A checkpoint folder (see `loadGenerators`). */
  checkpoint: string;
  direction: Direction;
  /** An image file or a folder of images. */
  input: string;
  /** Output folder: images, then `index.html`. */
  out: string;
  format?: 'png' | 'jpeg';
  batchSize?: number;
  /** Refuse larger images (`DEFAULT_MAX_TRANSLATE_PIXELS`). */
  maxPixels?: number;
  /** Called after each image with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Output name stems of `files`: the file name without its extension, as
 * the official test script writes, or with it (`a_png`) where two inputs
 * would otherwise share a stem.
 */
export function outputStems(files: readonly string[]): string[] {
  const stem = (f: string) => path.basename(f, path.extname(f));
  const count = new Map<string, number>();
  for (const f of files) count.set(stem(f), (count.get(stem(f)) ?? 0) + 1);
  return files.map((f) => count.get(stem(f))! > 1 ?
    `${stem(f)}_${path.extname(f).slice(1).toLowerCase()}` : stem(f));
}

/** What `translatePath` wrote for one input. */
export interface TranslatedFile {
  input: string;
  real: string;
  fake: string;
  rec: string;
}

async function encode(img: RawImage, file: string, format: 'png' | 'jpeg'):
    Promise<void> {
  const s = sharp(img.data, { raw: { width: img.width, height: img.height,
    channels: img.channels as 1 | 3 } });
  await (format === 'png' ? s.png() : s.jpeg({ quality: 95 })).toFile(file);
}

const escapeHtml = (s: string): string =>
  s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The results page, like the official test script's `index.html`: one row
 * per input with the real image, its translation and its reconstruction.
 */
export function resultsPage(title: string, rows: TranslatedFile[],
  direction: Direction): string {
  const [from, to] = direction === 'AtoB' ? ['A', 'B'] : ['B', 'A'];
  const cell = (src: string) =>
    `<td><img src="${escapeHtml(encodeURIComponent(src))}" ` +
    'style="image-rendering:pixelated;width:128px"></td>';
  const body = rows.map((r) => `<tr><td>${escapeHtml(path.basename(
    r.input))}</td>${cell(r.real)}${cell(r.fake)}${cell(r.rec)}</tr>`);
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8">` +
    `<title>${escapeHtml(title)}</title></head><body>\n` +
    `<h1>${escapeHtml(title)}</h1>\n<table>\n<tr><th>input</th>` +
    `<th>real ${from}</th><th>translated (${from}→${to})</th>` +
    `<th>reconstructed (${from}→${to}→${from})</th></tr>\n` +
    `${body.join('\n')}\n</table>\n</body></html>\n`;
}

/**
 * Translates one image or a folder: writes `<stem>_real`, `<stem>_fake`
 * and `<stem>_rec` images and `index.html` under `out`, and returns what
 * it wrote. Images keep their size and aspect ratio.
 */
export async function translatePath(opts: TranslateOptions):
    Promise<TranslatedFile[]> {
  const format = opts.format ?? 'png';
  const files = listInputs(opts.input);
  const stems = outputStems(files);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_TRANSLATE_PIXELS;
  if (fs.existsSync(opts.out) && !fs.statSync(opts.out).isDirectory()) {
    throw new Error(`--out ${opts.out} is a file, not a folder`);
  }
  const loaded = await loadGenerators(opts.checkpoint);
  const back: Direction = opts.direction === 'AtoB' ? 'BtoA' : 'AtoB';
  const channels = loaded.inputChannels[opts.direction] as 1 | 3;
  fs.mkdirSync(opts.out, { recursive: true });
  const written: TranslatedFile[] = [];
  const batchSize = opts.batchSize ?? 1;
  const ext = format === 'png' ? 'png' : 'jpg';
  try {
    for (let s = 0; s < files.length; s += batchSize) {
      const chunk = files.slice(s, s + batchSize);
      const images = await Promise.all(chunk.map((f) =>
        decodeImage(f, channels, { maxPixels }).catch((err: Error) => {
          throw /pixel limit/.test(err.message) ? new Error(`${f} has more ` +
            `than ${maxPixels.toLocaleString('en-US')} pixels; scale it ` +
            'down, or raise the limit (--max-pixels) if you have the ' +
            'memory (about 2 GB per megapixel)') : err;
        })));
      const results = translateImages(images,
        loaded.generators[opts.direction], loaded.generators[back], batchSize);
      for (let k = 0; k < chunk.length; k++) {
        const stem = stems[s + k];
        const names = { real: `${stem}_real.${ext}`,
          fake: `${stem}_fake.${ext}`, rec: `${stem}_rec.${ext}` };
        for (const key of ['real', 'fake', 'rec'] as const) {
          await encode(results[k][key], path.join(opts.out, names[key]),
            format);
        }
        written.push({ input: chunk[k], ...names });
      }
      opts.onProgress?.(written.length, files.length);
    }
  } finally {
    loaded.dispose();
  }
  fs.writeFileSync(path.join(opts.out, 'index.html'), resultsPage(
    `CycleGAN ${opts.direction}: ${loaded.dir}`, written, opts.direction));
  return written;
}
