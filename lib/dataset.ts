/**
 * The unaligned (unpaired) dataset of CycleGAN: two folders of images,
 * domain A and domain B, with no correspondence between their files.
 *
 * Layout (the official one): `<dataroot>/trainA`, `trainB`, `testA`,
 * `testB`; any folder of images in that layout works. Each folder is
 * scanned once when the dataset opens: bad files are reported by path and
 * skipped (or refused) before training starts, never mid-epoch. Batches are
 * decoded and augmented ahead of the training step by sharp, which works on
 * libuv's thread pool, off the main thread.
 *
 * Pairing follows the official `UnalignedDataset`: an epoch has
 * max(nA, nB) steps; step i takes A image i mod nA (after a shuffle of the
 * step order) and a random B image, or B image i mod nB with
 * `serialBatches`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { Rng } from './rng';
import {
  CropBox, DEFAULT_MAX_PIXELS, RawImage, cropImage, decodeImage, flipImage,
  readImageBytes, resizeImage, writeNormalized,
} from './image';

/** The official `--preprocess` choices. */
export type Preprocess = 'resize_and_crop' | 'crop' | 'scale_width' |
  'scale_width_and_crop' | 'none';

/** All `Preprocess` values, for validation and help texts. */
export const PREPROCESS_MODES: readonly Preprocess[] = ['resize_and_crop',
  'crop', 'scale_width', 'scale_width_and_crop', 'none'];

/**
 * Data options, named after the official options (camelCase here; the
 * official flag is given in each comment).
 */
export interface DataOptions {
  /** `--dataroot`: folder holding trainA, trainB, testA, testB. */
  dataroot: string;
  /** `--phase`: which pair of folders to read. */
  phase: 'train' | 'test';
  /** `--direction`: BtoA swaps the folders, so realA comes from B. */
  direction: 'AtoB' | 'BtoA';
  /** `--preprocess`: resize and crop policy at load time. */
  preprocess: Preprocess;
  /** `--load_size`: side (or width) images are scaled to first. */
  loadSize: number;
  /** `--crop_size`: side of the random crop. */
  cropSize: number;
  /** `--no_flip`: disable the random horizontal flip. */
  noFlip: boolean;
  /** `--serial_batches`: no shuffle, B taken in order. */
  serialBatches: boolean;
  /** `--max_dataset_size`: cap on images per domain (and steps). */
  maxDatasetSize: number;
  /** `--batch_size`. */
  batchSize: number;
  /** `--input_nc`: channels of realA (1 = luma, 3 = RGB). */
  inputNc: number;
  /** `--output_nc`: channels of realB. */
  outputNc: number;
  /** Seed of the loader's random numbers (ours; the official has none). */
  seed: number;
}

/**
 * The official defaults (base and train options of
 * pytorch-CycleGAN-and-pix2pix): load 286, crop 256, random flip,
 * shuffled, batch 1, RGB in and out. `dataroot` must be given.
 */
export const DATA_DEFAULTS: DataOptions = {
  dataroot: '',
  phase: 'train',
  direction: 'AtoB',
  preprocess: 'resize_and_crop',
  loadSize: 286,
  cropSize: 256,
  noFlip: false,
  serialBatches: false,
  maxDatasetSize: Infinity,
  batchSize: 1,
  inputNc: 3,
  outputNc: 3,
  seed: 0,
};

/**
 * Options for reading a test split as the official test script does:
 * load size = crop size (so resize_and_crop only resizes), no flip, in
 * order, one image at a time.
 */
export function testDataOptions(
  opts: Partial<DataOptions> & { dataroot: string },
): Partial<DataOptions> & { dataroot: string } {
  const cropSize = opts.cropSize ?? DATA_DEFAULTS.cropSize;
  return { phase: 'test', loadSize: cropSize, noFlip: true,
    serialBatches: true, batchSize: 1, ...opts };
}

/** How the loader treats files and how far it reads ahead. */
export interface LoaderOptions {
  /** `skip` (default): report bad files and go on; `error`: refuse. */
  onBadFile: 'skip' | 'error';
  /** Decompression-bomb guard per file (`DEFAULT_MAX_PIXELS`). */
  maxPixels: number;
  /** Batches decoded ahead of the one being trained on (default 3). */
  prefetch: number;
  /** Files decoded at once while scanning (default 4). */
  scanConcurrency: number;
  /** Where report lines go (stdout by default; `() => {}` silences). */
  log: (line: string) => void;
}

/** Defaults of `LoaderOptions`. */
export const LOADER_DEFAULTS: LoaderOptions = {
  onBadFile: 'skip',
  maxPixels: DEFAULT_MAX_PIXELS,
  prefetch: 3,
  scanConcurrency: 4,
  log: (line) => console.log(line),
};

/**
 * Extensions read as images, matched case-insensitively: those of the
 * official `IMG_EXTENSIONS` that sharp decodes, plus WebP, GIF and AVIF.
 */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png',
  '.webp', '.tif', '.tiff', '.gif', '.avif'];

/**
 * Image extensions sharp's prebuilt libvips cannot decode (BMP and PPM are
 * in the official list). Such files are reported, not silently dropped.
 */
export const UNSUPPORTED_IMAGE_EXTENSIONS: readonly string[] = ['.bmp',
  '.ppm', '.pgm', '.pbm', '.heic', '.heif'];

/** System files that are never images, whatever their name says. */
const SYSTEM_FILES = new Set(['thumbs.db', 'desktop.ini']);

/** A file that was not used, and why. */
export interface SkippedFile { path: string; reason: string }

/** A usable image and its size after EXIF orientation. */
export interface ImageEntry { path: string; width: number; height: number }

/** What scanning a folder found. */
export interface ScanResult {
  images: ImageEntry[];
  skipped: SkippedFile[];
  /** Hidden files and folders, system files, non-image extensions. */
  ignored: string[];
}

/**
 * Candidate image files under `dir`, recursively, sorted: regular files
 * with an allowed extension. Hidden entries (`.DS_Store`,
 * `.ipynb_checkpoints/`), `Thumbs.db` and other extensions are ignored;
 * links and unsupported image formats are reported in `skipped`.
 */
export async function listImageFiles(dir: string): Promise<{
  files: string[]; skipped: SkippedFile[]; ignored: string[] }> {
  const files: string[] = [];
  const skipped: SkippedFile[] = [];
  const ignored: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    const entries = await fs.promises.readdir(folder, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = path.join(folder, e.name);
      const lower = e.name.toLowerCase();
      if (e.name.startsWith('.') || SYSTEM_FILES.has(lower)) {
        ignored.push(full);
      } else if (e.isDirectory()) {
        await walk(full);
      } else if (e.isSymbolicLink()) {
        skipped.push({ path: full, reason: 'symbolic link (only regular ' +
          'files are read)' });
      } else if (!e.isFile()) {
        ignored.push(full);
      } else if (IMAGE_EXTENSIONS.includes(path.extname(lower))) {
        files.push(full);
      } else if (UNSUPPORTED_IMAGE_EXTENSIONS.includes(path.extname(lower))) {
        skipped.push({ path: full, reason: `${path.extname(lower)} is not ` +
          'decoded by sharp; convert it to PNG or JPEG' });
      } else {
        ignored.push(full);
      }
    }
  };
  await walk(dir);
  return { files, skipped, ignored };
}

/** `file` relative to the working directory when that is shorter. */
function shortPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.length < file.length ? rel : file;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function mapLimit<T, R>(
  items: readonly T[], limit: number, fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  return out;
}

/**
 * Checks one file completely: non-empty, within the pixel limit, decodes
 * to the end (a truncated JPEG fails here). Returns its oriented size or
 * the reason it is unusable.
 */
export async function checkImageFile(
  file: string, maxPixels = DEFAULT_MAX_PIXELS,
): Promise<ImageEntry | SkippedFile> {
  let bytes: Buffer;
  try {
    bytes = await readImageBytes(file);
  } catch (err) {
    const msg = (err as Error).message;
    return { path: file, reason: msg.replace(`${file}: `, '') };
  }
  try {
    const img = await decodeImage(bytes, 3, { maxPixels });
    return { path: file, width: img.width, height: img.height };
  } catch (err) {
    const reason = (err as Error).message.replace(/^image buffer: /, '');
    if (!/pixel limit/.test(reason)) return { path: file, reason };
  }
  // Over the limit: read the header alone to say how large it claims to be.
  const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  return { path: file, reason: `${meta.width}x${meta.height} = ` +
    `${pixels.toLocaleString('en-US')} pixels exceeds the limit of ` +
    `${maxPixels.toLocaleString('en-US')} (maxPixels)` };
}

/**
 * Scans `dir` once: lists the candidates (sorted), then checks each file.
 * With `limit`, checking stops once that many usable images are found,
 * as the official loader takes the first `max_dataset_size` files.
 */
export async function scanImageFolder(
  dir: string, opts: Partial<LoaderOptions> & { limit?: number } = {},
): Promise<ScanResult> {
  const { maxPixels, scanConcurrency } = { ...LOADER_DEFAULTS, ...opts };
  const limit = opts.limit ?? Infinity;
  let stat: fs.Stats | undefined;
  try {
    stat = await fs.promises.stat(dir);
  } catch {
    stat = undefined;
  }
  if (!stat?.isDirectory()) {
    throw new Error(`image folder ${dir} does not exist (expected ` +
      '<dataroot>/<phase>A and <dataroot>/<phase>B, e.g. data/horse2zebra/' +
      'trainA)');
  }
  const listed = await listImageFiles(dir);
  const images: ImageEntry[] = [];
  const skipped = listed.skipped.slice();
  let from = 0;
  while (images.length < limit && from < listed.files.length) {
    const want = Math.min(listed.files.length - from,
      Math.max(scanConcurrency, limit - images.length));
    const chunk = listed.files.slice(from, from + want);
    from += want;
    const checked = await mapLimit(chunk, scanConcurrency,
      (f) => checkImageFile(f, maxPixels));
    for (const c of checked) {
      if ('reason' in c) skipped.push(c);
      else if (images.length < limit) images.push(c);
    }
  }
  return { images, skipped, ignored: listed.ignored };
}

/** Python's `round` (half to even), which the official sizes rely on. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The official `__scale_width`: width becomes `target`, height keeps the
 * aspect ratio but never drops below `cropSize`; an image already
 * `target` wide and tall enough is kept.
 */
export function scaleWidthSize(
  width: number, height: number, target: number, cropSize: number,
): { width: number; height: number } {
  if (width === target && height >= cropSize) return { width, height };
  return { width: target,
    height: Math.floor(Math.max((target * height) / width, cropSize)) };
}

/**
 * The official `__make_power_2` (used by preprocess `none`): each side
 * rounded (half to even) to a multiple of `base` (4).
 */
export function makePower2Size(
  width: number, height: number, base = 4,
): { width: number; height: number } {
  return { width: roundHalfEven(width / base) * base,
    height: roundHalfEven(height / base) * base };
}

/** The random and size decisions for one sample, made before loading. */
export interface SamplePlan {
  /** Bicubic resize target, or null to keep the decoded size. */
  resize: { width: number; height: number } | null;
  /** Crop after the resize, or null. */
  crop: CropBox | null;
  /** Mirror left to right after the crop. */
  flip: boolean;
}

type PlanOptions = Pick<DataOptions, 'preprocess' | 'loadSize' | 'cropSize' |
  'noFlip'>;

/** The size a sample has after preprocessing (without random parts). */
export function outputSize(
  width: number, height: number, opts: PlanOptions,
): { width: number; height: number } {
  switch (opts.preprocess) {
    case 'resize_and_crop':
    case 'crop':
    case 'scale_width_and_crop':
      return { width: opts.cropSize, height: opts.cropSize };
    case 'scale_width':
      return scaleWidthSize(width, height, opts.loadSize, opts.cropSize);
    case 'none':
      return makePower2Size(width, height);
  }
}

/**
 * Plans the official transform for a `width` × `height` image: resize
 * (`resize_and_crop`: to loadSize²; `scale_width*`: to loadSize wide;
 * `none`: to multiples of 4), then a random cropSize² crop (`*crop`),
 * then a flip with probability ½ unless `noFlip`. Draws, in this order,
 * the crop's top, its left and the flip from `rng`.
 */
export function planSample(
  width: number, height: number, opts: PlanOptions, rng: Rng,
): SamplePlan {
  let size = { width, height };
  if (opts.preprocess === 'resize_and_crop') {
    size = { width: opts.loadSize, height: opts.loadSize };
  } else if (opts.preprocess.startsWith('scale_width')) {
    size = scaleWidthSize(width, height, opts.loadSize, opts.cropSize);
  } else if (opts.preprocess === 'none') {
    size = makePower2Size(width, height);
  }
  const resize = size.width === width && size.height === height
    ? null : size;
  let crop: CropBox | null = null;
  if (opts.preprocess.endsWith('crop')) {
    const c = opts.cropSize;
    const top = rng.int(size.height - c + 1);
    const left = rng.int(size.width - c + 1);
    crop = { left, top, width: c, height: c };
  }
  const flip = opts.noFlip ? false : rng.next() < 0.5;
  return { resize, crop, flip };
}

/**
 * Loads one sample as `plan` says: decode (with orientation, white
 * background) and resize in one sharp pass, then crop and flip. For one
 * channel the luma is taken after the resize; the official code converts
 * first, which differs only by rounding.
 */
export async function loadSample(
  file: string, plan: SamplePlan, channels: 1 | 3,
  maxPixels = DEFAULT_MAX_PIXELS,
): Promise<RawImage> {
  let img = await decodeImage(file, channels,
    { resize: plan.resize ?? undefined, maxPixels });
  if (plan.crop) img = cropImage(img, plan.crop);
  if (plan.flip) img = flipImage(img);
  return img;
}

/**
 * The image after each step of `plan` (resize, crop, flip), labelled, for
 * showing the preprocessing one step at a time. The loader runs the same
 * steps in `loadSample`, with the resize fused into the decode.
 */
export async function sampleSteps(
  img: RawImage, plan: SamplePlan,
): Promise<{ label: string; image: RawImage }[]> {
  const steps = [{ label: `decoded ${img.width}x${img.height}`, image: img }];
  let cur = img;
  if (plan.resize) {
    cur = await resizeImage(cur, plan.resize.width, plan.resize.height);
    steps.push({ label: `resized ${cur.width}x${cur.height}`, image: cur });
  }
  if (plan.crop) {
    cur = cropImage(cur, plan.crop);
    steps.push({ label: `cropped ${cur.width}x${cur.height}`, image: cur });
  }
  if (plan.flip) {
    cur = flipImage(cur);
    steps.push({ label: 'flipped', image: cur });
  }
  return steps;
}

/**
 * The options with defaults filled in, or an error naming the first one
 * the loader cannot honour. `maxDatasetSize: null` (Infinity after a JSON
 * round trip) means no cap.
 */
export function validateDataOptions(
  given: Partial<DataOptions> & { dataroot: string },
): DataOptions {
  const defined = Object.fromEntries(
    Object.entries(given).filter(([, v]) => v !== undefined));
  const o: DataOptions = { ...DATA_DEFAULTS, ...defined };
  // JSON writes Infinity as null: an options file read back means no cap.
  if ((o.maxDatasetSize as number | null) === null) {
    o.maxDatasetSize = Infinity;
  }
  const bad = (msg: string): never => {
    throw new Error(`data options: ${msg}`);
  };
  if (!o.dataroot) bad('dataroot is required (a folder with trainA, trainB)');
  if (!PREPROCESS_MODES.includes(o.preprocess)) {
    bad(`preprocess '${o.preprocess}' is not one of ` +
      PREPROCESS_MODES.join(', '));
  }
  if (o.phase !== 'train' && o.phase !== 'test') {
    bad(`phase '${o.phase}' must be 'train' or 'test'`);
  }
  if (o.direction !== 'AtoB' && o.direction !== 'BtoA') {
    bad(`direction '${o.direction}' must be 'AtoB' or 'BtoA'`);
  }
  for (const k of ['loadSize', 'cropSize', 'batchSize'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) {
      bad(`${k} must be a positive integer, got ${o[k]}`);
    }
  }
  if (!(o.maxDatasetSize >= 1)) {
    bad(`maxDatasetSize must be at least 1, got ${o.maxDatasetSize}`);
  }
  for (const k of ['inputNc', 'outputNc'] as const) {
    if (o[k] !== 1 && o[k] !== 3) bad(`${k} must be 1 or 3, got ${o[k]}`);
  }
  if ((o.preprocess === 'resize_and_crop' ||
       o.preprocess === 'scale_width_and_crop') && o.cropSize > o.loadSize) {
    bad(`cropSize ${o.cropSize} is larger than loadSize ${o.loadSize} ` +
      `(preprocess '${o.preprocess}' crops the resized image)`);
  }
  return o;
}

/** One step of an epoch: which A and B images, and how to load them. */
export interface EpochStep {
  indexA: number;
  indexB: number;
  planA: SamplePlan;
  planB: SamplePlan;
}

/**
 * The (A, B) index pairs of one epoch, the official unaligned pairing:
 * max(nA, nB) steps; in serial mode step i pairs (i mod nA, i mod nB);
 * otherwise the step order is shuffled, A is the shuffled index mod nA and
 * B is uniform over nB. With nA = 3, nB = 5, serial:
 * (0,0), (1,1), (2,2), (0,3), (1,4).
 */
export function pairingSchedule(
  nA: number, nB: number, serial: boolean, rng?: Rng,
): [number, number][] {
  const length = Math.max(nA, nB);
  const order = Array.from({ length }, (_, i) => i);
  if (serial) return order.map((i) => [i % nA, i % nB]);
  if (!rng) throw new Error('pairingSchedule: a shuffled schedule needs rng');
  return rng.shuffle(order).map((i) => [i % nA, rng.int(nB)]);
}

/** The loader's position: enough to continue a run exactly. */
export interface LoaderState {
  seed: number;
  /** The epoch in progress, or the next one. */
  epoch: number;
  /** Batches of that epoch already handed out. */
  consumed: number;
}

/** One batch: [batch, H, W, C] tensors in [-1, 1]; the caller disposes. */
export interface Batch {
  realA: tf.Tensor4D;
  realB: tf.Tensor4D;
  pathsA: string[];
  pathsB: string[];
}

/** A batch decoded into plain arrays, before tensors exist. */
interface PendingBatch {
  dataA: Float32Array; shapeA: [number, number, number, number];
  dataB: Float32Array; shapeB: [number, number, number, number];
  pathsA: string[]; pathsB: string[];
}

/** Images of one batch stacked into one float array [b, H, W, C]. */
function stack(
  images: RawImage[], paths: string[],
): { data: Float32Array; shape: [number, number, number, number] } {
  const { height, width, channels } = images[0];
  images.forEach((img, i) => {
    if (img.height !== height || img.width !== width) {
      throw new Error(`a batch needs one image size: ${paths[0]} gives ` +
        `${width}x${height}, ${paths[i]} gives ${img.width}x${img.height}`);
    }
  });
  const per = height * width * channels;
  const data = new Float32Array(per * images.length);
  images.forEach((img, i) => writeNormalized(img, data, i * per));
  return { data, shape: [images.length, height, width, channels] };
}

/**
 * Unpaired images of two domains, batched as the official
 * `UnalignedDataset` with its data loader. Open with
 * `UnalignedDataset.open({dataroot})`; iterate `batches(epoch)`.
 */
export class UnalignedDataset {
  /** The options in force (defaults filled in). */
  readonly options: DataOptions;
  /** max(nA, nB): steps per epoch (before batching). */
  readonly length: number;
  /** Images of realA's domain (folder B when direction is BtoA). */
  readonly pathsA: string[];
  /** Images of realB's domain. */
  readonly pathsB: string[];
  /** Files left out at scan time, with the reason. */
  readonly skipped: SkippedFile[];
  /** Hidden, system and non-image entries passed over. */
  readonly ignored: string[];
  /** Folders read for realA and realB. */
  readonly dirA: string;
  readonly dirB: string;
  /**
   * Loader counters: batches decoded so far, and the total time the
   * consumer waited for one (near zero when loading keeps up).
   */
  readonly stats = { batchesDecoded: 0, waitMs: 0 };

  private readonly loader: LoaderOptions;
  private readonly sizesA: ImageEntry[];
  private readonly sizesB: ImageEntry[];
  private seed: number;
  private position = { epoch: 1, consumed: 0 };
  private pendingSkip: { epoch: number; consumed: number } | null = null;
  private warnedSize = false;

  private constructor(options: DataOptions, loader: LoaderOptions,
    dirA: string, dirB: string, a: ImageEntry[], b: ImageEntry[],
    skipped: SkippedFile[], ignored: string[]) {
    this.options = options;
    this.loader = loader;
    this.dirA = dirA;
    this.dirB = dirB;
    this.sizesA = a;
    this.sizesB = b;
    this.pathsA = a.map((e) => e.path);
    this.pathsB = b.map((e) => e.path);
    this.length = Math.max(a.length, b.length);
    this.skipped = skipped;
    this.ignored = ignored;
    this.seed = options.seed;
  }

  /**
   * Scans `<dataroot>/<phase>A` and `<phase>B` and returns the dataset.
   * Files that cannot be used (empty, truncated, undecodable, over the
   * pixel limit, a link, smaller than the crop with preprocess `crop`) are
   * reported by path and skipped, or refused when `onBadFile` is `error`.
   * A folder with no usable image is an error.
   */
  static async open(
    opts: Partial<DataOptions> & { dataroot: string } &
      Partial<LoaderOptions>,
  ): Promise<UnalignedDataset> {
    const loader: LoaderOptions = { ...LOADER_DEFAULTS };
    const dataOpts: Partial<DataOptions> & { dataroot: string } =
      { dataroot: opts.dataroot };
    for (const [k, v] of Object.entries(opts)) {
      if (v === undefined) continue;
      const target = k in LOADER_DEFAULTS ? loader : dataOpts;
      (target as unknown as Record<string, unknown>)[k] = v;
    }
    const o = validateDataOptions(dataOpts);
    const swap = o.direction === 'BtoA';
    const dirA = path.join(o.dataroot, `${o.phase}${swap ? 'B' : 'A'}`);
    const dirB = path.join(o.dataroot, `${o.phase}${swap ? 'A' : 'B'}`);
    const started = Date.now();
    // With preprocess 'crop' some checked images may still be too small,
    // so only cap the scan when every decodable image is usable.
    const scanOpts = { ...loader, limit: o.preprocess === 'crop'
      ? Infinity : o.maxDatasetSize };
    const [scanA, scanB] = await Promise.all([
      scanImageFolder(dirA, scanOpts), scanImageFolder(dirB, scanOpts)]);
    const skipped = [...scanA.skipped, ...scanB.skipped];
    const usable = (scan: ScanResult): ImageEntry[] =>
      scan.images.filter((e) => {
        const reason = sizeProblem(e.width, e.height, o);
        if (reason) skipped.push({ path: e.path, reason });
        return !reason;
      });
    let a = usable(scanA);
    let b = usable(scanB);
    if (skipped.length > 0 && loader.onBadFile === 'error') {
      throw new Error(`${skipped.length} unusable image file(s) ` +
        '(onBadFile: error):\n' +
        skipped.map((s) => `  ${s.path}: ${s.reason}`).join('\n'));
    }
    for (const s of skipped) {
      loader.log(`[data] skipped ${shortPath(s.path)}: ${s.reason}`);
    }
    for (const [dir, list] of [[dirA, a], [dirB, b]] as const) {
      if (list.length === 0) {
        const n = skipped.filter((s) => s.path.startsWith(dir)).length;
        throw new Error(`no usable images in ${dir}` +
          (n ? ` (${n} file(s) skipped, see above)` : '') + '; expected ' +
          IMAGE_EXTENSIONS.join(' ') + ' files');
      }
    }
    // The official make_dataset caps each list, then the lists are sorted.
    const byPath = (x: ImageEntry, y: ImageEntry): number =>
      (x.path < y.path ? -1 : x.path > y.path ? 1 : 0);
    a = a.sort(byPath).slice(0, Math.min(a.length, o.maxDatasetSize));
    b = b.sort(byPath).slice(0, Math.min(b.length, o.maxDatasetSize));
    if (o.batchSize > 1) {
      checkOneSize(a, o);
      checkOneSize(b, o);
    }
    const ds = new UnalignedDataset(o, loader, dirA, dirB, a, b, skipped,
      [...scanA.ignored, ...scanB.ignored]);
    loader.log(`[data] ${shortPath(dirA)}: ${a.length} images, ` +
      `${shortPath(dirB)}: ${b.length} ` +
      `images, ${skipped.length} skipped, ${ds.length} steps per epoch ` +
      `(scanned in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return ds;
  }

  /** Number of batches per epoch: ceil(length / batchSize). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.length / this.options.batchSize);
  }

  /**
   * The steps of `epoch` (1-based): which images pair up and how each is
   * cropped and flipped. Its random numbers come from a generator seeded
   * with (seed, epoch), so an epoch repeats exactly whatever ran before.
   */
  epochPlan(epoch: number): EpochStep[] {
    const o = this.options;
    const rng = new Rng(`${this.seed}/epoch ${epoch}`);
    const pairs = pairingSchedule(this.sizesA.length, this.sizesB.length,
      o.serialBatches, rng);
    return pairs.map(([indexA, indexB]) => {
      const a = this.sizesA[indexA];
      const b = this.sizesB[indexB];
      return { indexA, indexB, planA: planSample(a.width, a.height, o, rng),
        planB: planSample(b.width, b.height, o, rng) };
    });
  }

  /**
   * The batches of `epoch`, decoded `prefetch` batches ahead. Each batch
   * holds `batchSize` steps (the last may hold fewer); realA is
   * [b, H, W, inputNc], realB [b, H, W, outputNc], in [-1, 1]. The caller
   * disposes both tensors. After `restoreRng`, the batches already handed
   * out in the saved epoch are skipped without decoding.
   */
  async *batches(epoch: number): AsyncGenerator<Batch> {
    const steps = this.epochPlan(epoch);
    const bs = this.options.batchSize;
    let first = 0;
    if (this.pendingSkip && this.pendingSkip.epoch === epoch) {
      first = this.pendingSkip.consumed;
    }
    this.pendingSkip = null;
    this.warnSizeOnce(steps);
    const total = Math.ceil(steps.length / bs);
    const queue: Promise<PendingBatch>[] = [];
    let next = first;
    const fill = (): void => {
      while (queue.length < Math.max(1, this.loader.prefetch) &&
             next < total) {
        const p = this.loadBatch(steps.slice(next * bs, (next + 1) * bs));
        p.catch(() => undefined); // awaited below; avoid unhandled reports
        queue.push(p);
        next++;
      }
    };
    this.position = { epoch, consumed: first };
    try {
      fill();
      while (queue.length > 0) {
        const waitStart = performance.now();
        const pending = await queue.shift()!;
        this.stats.waitMs += performance.now() - waitStart;
        fill();
        const realA = tf.tensor4d(pending.dataA, pending.shapeA);
        const realB = tf.tensor4d(pending.dataB, pending.shapeB);
        this.position = { epoch, consumed: this.position.consumed + 1 };
        yield { realA, realB, pathsA: pending.pathsA, pathsB: pending.pathsB };
      }
      this.position = { epoch: epoch + 1, consumed: 0 };
    } finally {
      // Stopped early: let decodes in flight finish; they hold no tensors.
      await Promise.allSettled(queue);
    }
  }

  /**
   * The loader's random state for a checkpoint: the seed and how far the
   * current epoch got (batches handed out). Each epoch's generator is
   * derived from (seed, epoch), so this restores the exact sequence.
   */
  rngState(): LoaderState {
    return { seed: this.seed, ...this.position };
  }

  /** Continues from a saved `rngState()`. */
  restoreRng(state: unknown): void {
    const s = state as Partial<LoaderState> | null;
    if (!s || typeof s.seed !== 'number' || !Number.isInteger(s.epoch) ||
        !Number.isInteger(s.consumed)) {
      throw new Error('restoreRng: expected {seed, epoch, consumed} from ' +
        `rngState(), got ${JSON.stringify(state)}`);
    }
    this.seed = s.seed;
    this.position = { epoch: s.epoch!, consumed: s.consumed! };
    this.pendingSkip = { epoch: s.epoch!, consumed: s.consumed! };
  }

  private async loadBatch(steps: EpochStep[]): Promise<PendingBatch> {
    const o = this.options;
    const maxPixels = this.loader.maxPixels;
    const pathsA = steps.map((s) => this.pathsA[s.indexA]);
    const pathsB = steps.map((s) => this.pathsB[s.indexB]);
    const [imagesA, imagesB] = await Promise.all([
      Promise.all(steps.map((s, i) => loadSample(pathsA[i], s.planA,
        o.inputNc as 1 | 3, maxPixels))),
      Promise.all(steps.map((s, i) => loadSample(pathsB[i], s.planB,
        o.outputNc as 1 | 3, maxPixels))),
    ]);
    const a = stack(imagesA, pathsA);
    const b = stack(imagesB, pathsB);
    this.stats.batchesDecoded++;
    return { dataA: a.data, shapeA: a.shape, dataB: b.data, shapeB: b.shape,
      pathsA, pathsB };
  }

  private warnSizeOnce(steps: EpochStep[]): void {
    if (this.warnedSize || this.options.preprocess !== 'none') return;
    const s = steps.find((x) => x.planA.resize || x.planB.resize);
    if (!s) return;
    const entry = s.planA.resize
      ? this.sizesA[s.indexA] : this.sizesB[s.indexB];
    const to = (s.planA.resize ?? s.planB.resize)!;
    this.warnedSize = true;
    this.loader.log(`[data] warning: preprocess 'none' needs sides that ` +
      `are multiples of 4; ${entry.path} is ${entry.width}x${entry.height} ` +
      `and loads as ${to.width}x${to.height}. Every such image is ` +
      'resized the same way (this is said once).');
  }
}

/**
 * Why a width × height image cannot go through the preprocessing, or
 * null. Checked at scan time, so no epoch fails on it halfway.
 */
export function sizeProblem(
  width: number, height: number, o: PlanOptions,
): string | null {
  // preprocess 'crop' does not resize: refuse at scan time rather than
  // scale up, since scaling would silently change the image's scale.
  if (o.preprocess === 'crop' && (width < o.cropSize || height < o.cropSize)) {
    return `${width}x${height} is smaller than cropSize ${o.cropSize} ` +
      `(preprocess 'crop' does not resize; use 'resize_and_crop')`;
  }
  const out = outputSize(width, height, o);
  if (out.width < 1 || out.height < 1) {
    return `${width}x${height} rounds to an empty image with ` +
      `preprocess '${o.preprocess}'`;
  }
  return null;
}

/** With batchSize > 1 every sample must come out the same size. */
function checkOneSize(entries: ImageEntry[], o: DataOptions): void {
  const first = outputSize(entries[0].width, entries[0].height, o);
  for (const e of entries) {
    const s = outputSize(e.width, e.height, o);
    if (s.width !== first.width || s.height !== first.height) {
      throw new Error(`batchSize ${o.batchSize} needs one image size, but ` +
        `preprocess '${o.preprocess}' gives ${first.width}x${first.height} ` +
        `for ${entries[0].path} and ${s.width}x${s.height} for ${e.path}; ` +
        'use batchSize 1 or a cropping preprocess');
    }
  }
}
