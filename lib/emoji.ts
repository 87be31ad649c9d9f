/**
 * The embedded real dataset: two emoji artworks drawn for the same code
 * points, used as two unpaired styles.
 *
 * - Domain A: Twemoji (`@twemoji/svg`), flat shapes without outlines.
 *   Graphics © Twitter, Inc. and other contributors, CC-BY 4.0.
 * - Domain B: OpenMoji (`openmoji`), black outlines and a margin.
 *   © HfG Schwäbisch Gmünd and contributors, CC-BY-SA 4.0.
 *
 * Both are SVG; sharp rasterises them onto white at 32, 64, 128 or 256 px
 * into the official layout `data/emoji<size>/{trainA,trainB,testA,testB}`,
 * one `<codepoint>.png` per emoji. Training stays unpaired; the code points
 * both sets draw give a paired ground truth for measuring a translation
 * (`pairs.json`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { PROJECT_ROOT } from './show';
import { BACKGROUND } from './image';

/** Raster sizes the builder accepts, px. */
export const EMOJI_SIZES: readonly number[] = [32, 64, 128, 256];

/** Bumped when the builder's output changes; older builds are redone. */
export const EMOJI_BUILD_VERSION = 1;

/** Credits to show wherever the emoji images appear (Markdown). */
export const EMOJI_CREDITS =
  'Emoji artwork: domain A is [Twemoji](https://github.com/jdecked/twemoji) ' +
  '(graphics © Twitter, Inc. and other contributors, licensed ' +
  '[CC-BY 4.0](https://creativecommons.org/licenses/by/4.0/)); domain B is ' +
  '[OpenMoji](https://openmoji.org/) (© HfG Schwäbisch Gmünd and ' +
  'contributors, licensed ' +
  '[CC-BY-SA 4.0](https://creativecommons.org/licenses/by-sa/4.0/)). ' +
  'The rasters are resized renderings of their SVG files.';

/** The folder holding built datasets (`<project>/data`). */
export const DATA_ROOT = path.join(PROJECT_ROOT, 'data');

/** Folder of an npm package's files. */
function packageDir(name: string): string {
  return path.dirname(require.resolve(`${name}/package.json`,
    { paths: [PROJECT_ROOT] }));
}

/** The Twemoji SVG folder (domain A). */
export function twemojiDir(): string {
  return packageDir('@twemoji/svg');
}

/** The OpenMoji colour SVG folder (domain B). */
export function openmojiDir(): string {
  return path.join(packageDir('openmoji'), 'color', 'svg');
}

/**
 * The key both sets are matched on: the file name's code points as
 * lower-case hex without leading zeros, variation selector 16 (`fe0f`)
 * dropped. `1F600.svg` and `1f600.svg` match; so do OpenMoji's
 * `0023-FE0F-20E3.svg` and Twemoji's `23-20e3.svg` (keycap #).
 */
export function normalizeCodePoint(fileName: string): string {
  const base = path.basename(fileName).replace(/\.svg$/i, '');
  const parts = base.split('-').map((p) => {
    const v = parseInt(p, 16);
    if (!/^[0-9a-f]+$/i.test(p) || !Number.isFinite(v)) {
      throw new Error(`'${fileName}' is not a code point file name`);
    }
    return v;
  });
  return parts.filter((v) => v !== 0xfe0f).map((v) => v.toString(16))
    .join('-');
}

/** 32-bit FNV-1a hash of a string's UTF-8 bytes. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The split of a shared code point, a fixed rule: `test` when the FNV-1a
 * hash of its normalised code point is divisible by 10 (about 10 %),
 * else `train`. It does not depend on the package versions or the size.
 */
export function splitOf(codepoint: string): 'train' | 'test' {
  return fnv1a(codepoint) % 10 === 0 ? 'test' : 'train';
}

/** True for private-use code points (logos and extras, not emoji). */
function isPrivateUse(codepoint: string): boolean {
  return codepoint.split('-').some((p) => {
    const v = parseInt(p, 16);
    return (v >= 0xe000 && v <= 0xf8ff) || v >= 0xf0000;
  });
}

/** The SVG sources of one code point. */
export interface EmojiSource {
  codepoint: string;
  /** Twemoji SVG, when Twemoji draws it. */
  svgA?: string;
  /** OpenMoji SVG, when OpenMoji draws it. */
  svgB?: string;
}

/** Both sets, matched. */
export interface EmojiSources {
  /** Drawn by both, sorted by code point. */
  shared: EmojiSource[];
  /** Drawn by Twemoji only (private-use code points excluded). */
  onlyA: EmojiSource[];
  /** Drawn by OpenMoji only (private-use code points excluded). */
  onlyB: EmojiSource[];
  /** Private-use code points left out: OpenMoji's logos and extras. */
  privateUse: number;
}

function svgMap(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of fs.readdirSync(dir).filter((x) => /\.svg$/i.test(x))) {
    out.set(normalizeCodePoint(f), path.join(dir, f));
  }
  return out;
}

/** Lists and matches the SVG files of both packages. */
export function listEmojiSources(): EmojiSources {
  const a = svgMap(twemojiDir());
  const b = svgMap(openmojiDir());
  const byKey = (x: EmojiSource, y: EmojiSource): number =>
    (x.codepoint < y.codepoint ? -1 : x.codepoint > y.codepoint ? 1 : 0);
  const shared: EmojiSource[] = [];
  const onlyA: EmojiSource[] = [];
  const onlyB: EmojiSource[] = [];
  let privateUse = 0;
  for (const [codepoint, svgA] of a) {
    if (b.has(codepoint)) {
      shared.push({ codepoint, svgA, svgB: b.get(codepoint) });
    } else if (isPrivateUse(codepoint)) privateUse++;
    else onlyA.push({ codepoint, svgA });
  }
  for (const [codepoint, svgB] of b) {
    if (a.has(codepoint)) continue;
    if (isPrivateUse(codepoint)) privateUse++;
    else onlyB.push({ codepoint, svgB });
  }
  return { shared: shared.sort(byKey), onlyA: onlyA.sort(byKey),
    onlyB: onlyB.sort(byKey), privateUse };
}

/**
 * An SVG rendered as a size × size PNG on white: the SVG's own size sets
 * the density, so the drawing fills the frame it was designed for
 * (Twemoji 36 units, OpenMoji 72 with its margin).
 */
export async function rasteriseSvg(
  svg: string | Buffer, size: number,
): Promise<Buffer> {
  const bytes = typeof svg === 'string' ? await fs.promises.readFile(svg) : svg;
  const meta = await sharp(bytes).metadata();
  const intrinsic = Math.max(meta.width ?? size, meta.height ?? size);
  return sharp(bytes, { density: (72 * size) / intrinsic })
    .resize(size, size, { fit: 'contain', background: BACKGROUND })
    .flatten({ background: BACKGROUND })
    .removeAlpha()
    .png()
    .toBuffer();
}

/** The four folders of the official layout. */
export const SPLIT_FOLDERS = ['trainA', 'trainB', 'testA', 'testB'] as const;
/** One of `SPLIT_FOLDERS`. */
export type SplitFolder = typeof SPLIT_FOLDERS[number];

/** One file to render. */
export interface EmojiJob {
  folder: SplitFolder;
  codepoint: string;
  svg: string;
}

/**
 * What the dataset holds: trainA and trainB take the shared code points
 * of the train split plus the code points only that set draws (more
 * unpaired material; private-use extras excluded); testA and testB hold
 * the same shared test code points, so each test image has its pair.
 * With `maxImages`, each folder keeps its first `maxImages` code points
 * in hash order (a fixed pseudo-random sample).
 */
export function planEmojiDataset(maxImages = Infinity): EmojiJob[] {
  const src = listEmojiSources();
  const folders: Record<SplitFolder, EmojiJob[]> =
    { trainA: [], trainB: [], testA: [], testB: [] };
  for (const s of src.shared) {
    const split = splitOf(s.codepoint);
    folders[`${split}A`].push({ folder: `${split}A`, codepoint: s.codepoint,
      svg: s.svgA! });
    folders[`${split}B`].push({ folder: `${split}B`, codepoint: s.codepoint,
      svg: s.svgB! });
  }
  for (const s of src.onlyA) {
    folders.trainA.push({ folder: 'trainA', codepoint: s.codepoint,
      svg: s.svgA! });
  }
  for (const s of src.onlyB) {
    folders.trainB.push({ folder: 'trainB', codepoint: s.codepoint,
      svg: s.svgB! });
  }
  const byHash = (x: EmojiJob, y: EmojiJob): number =>
    fnv1a(x.codepoint) - fnv1a(y.codepoint) ||
    (x.codepoint < y.codepoint ? -1 : 1);
  return SPLIT_FOLDERS.flatMap((f) => Number.isFinite(maxImages)
    ? folders[f].slice().sort(byHash).slice(0, maxImages) : folders[f]);
}

/** Folder of the dataset at `size` (`emoji64`, or `emoji32-max24`). */
export function emojiDatasetDir(
  size: number, maxImages = Infinity, root = DATA_ROOT,
): string {
  const name = Number.isFinite(maxImages)
    ? `emoji${size}-max${maxImages}` : `emoji${size}`;
  return path.join(root, name);
}

/** A shared code point and its two images, relative to the dataset. */
export interface EmojiPair {
  codepoint: string;
  split: 'train' | 'test';
  a: string;
  b: string;
}

/** `manifest.json`: what a complete build holds. */
export interface EmojiManifest {
  version: number;
  size: number;
  maxImages: number | null;
  splitRule: string;
  counts: Record<SplitFolder, number>;
  shared: number;
  files: Record<SplitFolder, string[]>;
  sources: { twemoji: string; openmoji: string };
  credits: string;
  buildSeconds: number;
}

function packageVersion(name: string): string {
  const file = path.join(packageDir(name), 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string })
    .version;
}

/** The manifest of a complete build in `dir`, or null. */
export function readEmojiManifest(dir: string): EmojiManifest | null {
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as EmojiManifest;
  } catch {
    return null;
  }
}

/** True when `dir` holds a complete build of this builder version. */
export function isEmojiDatasetComplete(dir: string, size: number): boolean {
  const m = readEmojiManifest(dir);
  if (!m || m.version !== EMOJI_BUILD_VERSION || m.size !== size) return false;
  return SPLIT_FOLDERS.every((f) => m.files[f].every((cp) =>
    fs.existsSync(path.join(dir, f, `${cp}.png`))));
}

/** The shared code points of a built dataset (`pairs.json`). */
export function readEmojiPairs(dir: string): EmojiPair[] {
  const file = path.join(dir, 'pairs.json');
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing; build the dataset with ` +
      '`npm run data` or ensureEmojiDataset()');
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as EmojiPair[];
}

/** Options of `buildEmojiDataset` and `ensureEmojiDataset`. */
export interface EmojiBuildOptions {
  /** Cap per folder (see `planEmojiDataset`); a separate folder. */
  maxImages?: number;
  /** Where dataset folders go (`data/`). */
  root?: string;
  /** Renders in flight (default: 2 per CPU core). */
  concurrency?: number;
  /** Called after each file with (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Where status lines go (stdout by default). */
  log?: (line: string) => void;
}

async function writeAtomic(file: string, bytes: Buffer | string) {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(tmp, bytes);
  await fs.promises.rename(tmp, file);
}

/**
 * Renders the dataset at `size` and writes its manifest last, so a folder
 * with a manifest is complete. Files already rendered by an interrupted
 * build are kept (each is written atomically); a build of another
 * version is replaced. Returns the folder.
 */
export async function buildEmojiDataset(
  size: number, opts: EmojiBuildOptions = {},
): Promise<string> {
  if (!EMOJI_SIZES.includes(size)) {
    throw new Error(`emoji size ${size} is not one of ` +
      `${EMOJI_SIZES.join(', ')}`);
  }
  const maxImages = opts.maxImages ?? Infinity;
  if (!(maxImages >= 1)) {
    throw new Error(`maxImages must be at least 1, got ${maxImages}`);
  }
  const dir = emojiDatasetDir(size, maxImages, opts.root);
  const old = readEmojiManifest(dir);
  if (old && old.version !== EMOJI_BUILD_VERSION) {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
  const started = Date.now();
  const jobs = planEmojiDataset(maxImages);
  for (const f of SPLIT_FOLDERS) {
    await fs.promises.mkdir(path.join(dir, f), { recursive: true });
  }
  const concurrency = opts.concurrency ??
    Math.max(2, 2 * os.availableParallelism());
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++];
      const out = path.join(dir, job.folder, `${job.codepoint}.png`);
      if (!fs.existsSync(out)) {
        try {
          await writeAtomic(out, await rasteriseSvg(job.svg, size));
        } catch (err) {
          throw new Error(`rendering ${job.svg}: ${(err as Error).message}`);
        }
      }
      opts.onProgress?.(++done, jobs.length);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  const files = Object.fromEntries(SPLIT_FOLDERS.map((f) =>
    [f, jobs.filter((j) => j.folder === f).map((j) => j.codepoint)])) as
    Record<SplitFolder, string[]>;
  const pairs: EmojiPair[] = [];
  for (const split of ['train', 'test'] as const) {
    const inB = new Set(files[`${split}B`]);
    for (const cp of files[`${split}A`].slice().sort()) {
      if (inB.has(cp) && splitOf(cp) === split) {
        pairs.push({ codepoint: cp, split, a: `${split}A/${cp}.png`,
          b: `${split}B/${cp}.png` });
      }
    }
  }
  const manifest: EmojiManifest = {
    version: EMOJI_BUILD_VERSION,
    size,
    maxImages: Number.isFinite(maxImages) ? maxImages : null,
    splitRule: 'test when fnv1a(codepoint) % 10 == 0 (32-bit FNV-1a of ' +
      'the normalised code point), else train',
    counts: Object.fromEntries(SPLIT_FOLDERS.map((f) =>
      [f, files[f].length])) as Record<SplitFolder, number>,
    shared: listEmojiSources().shared.length,
    files,
    sources: { twemoji: packageVersion('@twemoji/svg'),
      openmoji: packageVersion('openmoji') },
    credits: EMOJI_CREDITS,
    buildSeconds: (Date.now() - started) / 1000,
  };
  await writeAtomic(path.join(dir, 'pairs.json'),
    JSON.stringify(pairs, null, 1));
  await writeAtomic(path.join(dir, 'manifest.json'),
    JSON.stringify(manifest, null, 1));
  return dir;
}

/**
 * The folder of the emoji dataset at `size`, built first if it is missing
 * or incomplete (`maxImages` gives a small separate copy, e.g. for the
 * smoke profile). For notebooks, the CLI and tests.
 */
export async function ensureEmojiDataset(
  size: number, opts: EmojiBuildOptions = {},
): Promise<string> {
  const dir = emojiDatasetDir(size, opts.maxImages ?? Infinity, opts.root);
  if (isEmojiDatasetComplete(dir, size)) return dir;
  const log = opts.log ?? ((line: string) => console.log(line));
  log(`[data] building ${dir} ...`);
  const started = Date.now();
  await buildEmojiDataset(size, opts);
  log(`[data] built ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return dir;
}
