/**
 * Reading and writing images with sharp (libvips), and the pixel-level
 * preprocessing steps of the official data pipeline.
 *
 * Every file decodes to 8-bit RGB, H×W×3 (or H×W×1 for a one-channel
 * network): EXIF orientation is applied first, alpha is composited onto
 * white, grey, palette, CMYK and 16-bit images are converted to 8-bit
 * sRGB. Shapes come from what sharp returns, never from the header.
 * Network tensors hold pixels scaled to [-1, 1], as the official
 * `transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))` leaves them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type { OutputInfo, SharpOptions } from 'sharp';
import * as tf from '@tensorflow/tfjs';

/** Decoded pixels, row-major, interleaved channels (HWC), 8 bits each. */
export interface RawImage {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/**
 * The background transparent pixels are composited onto before alpha is
 * dropped. White, like the emoji rasters; PIL's `convert('RGB')` in the
 * official loader drops alpha instead, which shows whatever colour a
 * transparent pixel happens to store.
 */
export const BACKGROUND = '#ffffff';

/**
 * Decompression-bomb guard: the largest width × height a file may declare
 * (100 megapixels; sharp's own default is about 268 million).
 */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** Options of `decodeImage`. */
export interface DecodeOptions {
  /** Refuse files declaring more pixels than this (`DEFAULT_MAX_PIXELS`). */
  maxPixels?: number;
  /**
   * Resize to this size (bicubic) in the same sharp pipeline, after
   * orientation; used by the loader to save a second pass.
   */
  resize?: { width: number; height: number };
}

/** libvips reports one line per warning, often repeated: keep each once. */
function oneLine(err: Error): string {
  return [...new Set(err.message.split('\n').map((l) => l.trim())
    .filter(Boolean))].join('; ');
}

/** Options of the sharp constructor shared by every read. */
function sharpInput(maxPixels: number): SharpOptions {
  // failOn 'error' also rejects truncated files (VipsJpeg "premature end").
  return { failOn: 'error', limitInputPixels: maxPixels };
}

/** A file's bytes, with a clear error for a missing or empty file. */
export async function readImageBytes(src: string | Buffer): Promise<Buffer> {
  if (Buffer.isBuffer(src)) {
    if (src.length === 0) throw new Error('empty image buffer (0 bytes)');
    return src;
  }
  const bytes = await fs.promises.readFile(src);
  if (bytes.length === 0) throw new Error(`${src}: empty file (0 bytes)`);
  return bytes;
}

/**
 * ITU-R 601-2 luma, the formula of PIL's `convert('L')` that the official
 * `transforms.Grayscale(1)` uses: L = (299 R + 587 G + 114 B) / 1000, in
 * PIL's fixed-point form. Grey v stays v.
 */
export function rgbToLuma(rgb: RawImage): RawImage {
  if (rgb.channels === 1) return rgb;
  const n = rgb.width * rgb.height;
  const out = new Uint8Array(n);
  const d = rgb.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    out[i] = (d[j] * 19595 + d[j + 1] * 38470 + d[j + 2] * 7471 + 0x8000)
      >> 16;
  }
  return { data: out, height: rgb.height, width: rgb.width, channels: 1 };
}

/**
 * Decodes an image file or buffer to 8-bit RGB (`channels` 3, the default)
 * or to luma (`channels` 1). Orientation from EXIF is applied first, so a
 * phone photo stored 4 wide × 2 high with Orientation 6 comes out 4 high ×
 * 2 wide; alpha is composited onto `BACKGROUND`; grey becomes (v, v, v).
 * Errors name the file.
 */
export async function decodeImage(
  src: string | Buffer, channels: 1 | 3 = 3, opts: DecodeOptions = {},
): Promise<RawImage> {
  const name = typeof src === 'string' ? src : 'image buffer';
  const bytes = await readImageBytes(src);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  let pipeline = sharp(bytes, sharpInput(maxPixels))
    .autoOrient()
    .flatten({ background: BACKGROUND });
  if (opts.resize) {
    pipeline = pipeline.resize(opts.resize.width, opts.resize.height,
      { fit: 'fill', kernel: 'cubic', fastShrinkOnLoad: false });
  }
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await pipeline.removeAlpha().toColourspace('srgb').raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new Error(`${name}: cannot decode: ${oneLine(err as Error)}`);
  }
  const { data, info } = out;
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new Error(`${name}: decoded to ${info.channels} channels, ` +
      `${data.length} bytes for ${info.width}x${info.height}; expected RGB`);
  }
  const rgb: RawImage = {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    height: info.height, width: info.width, channels: 3,
  };
  return channels === 1 ? rgbToLuma(rgb) : rgb;
}

/**
 * Resizes decoded pixels to width × height with sharp's bicubic
 * (Catmull-Rom) kernel, the official loader's `Image.BICUBIC`.
 */
export async function resizeImage(
  img: RawImage, width: number, height: number,
): Promise<RawImage> {
  if (img.width === width && img.height === height) return img;
  const { data, info } = await sharp(img.data, {
    raw: { width: img.width, height: img.height,
      channels: img.channels as 1 | 3 },
  }).resize(width, height, { fit: 'fill', kernel: 'cubic' })
    .raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== img.channels) {
    throw new Error(`resize changed ${img.channels} channels to ` +
      `${info.channels}`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    height: info.height, width: info.width, channels: info.channels };
}

/** A rectangle inside an image, in pixels. */
export interface CropBox { left: number; top: number; width: number;
  height: number }

/** The pixels inside `box` (throws naming the sizes if it does not fit). */
export function cropImage(img: RawImage, box: CropBox): RawImage {
  const { left, top, width, height } = box;
  if (left < 0 || top < 0 || left + width > img.width ||
      top + height > img.height) {
    throw new Error(`crop ${width}x${height} at (${left}, ${top}) does not ` +
      `fit a ${img.width}x${img.height} image`);
  }
  const c = img.channels;
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * c;
    out.set(img.data.subarray(from, from + width * c), y * width * c);
  }
  return { data: out, height, width, channels: c };
}

/** The image mirrored left to right. */
export function flipImage(img: RawImage): RawImage {
  const { width, height, channels: c } = img;
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * c;
    for (let x = 0; x < width; x++) {
      const from = row + x * c;
      const to = row + (width - 1 - x) * c;
      for (let k = 0; k < c; k++) out[to + k] = img.data[from + k];
    }
  }
  return { data: out, height, width, channels: c };
}

/**
 * Writes pixels scaled to [-1, 1] (v / 127.5 − 1, the official
 * `ToTensor` then `Normalize(0.5, 0.5)`) into `out` from `offset`.
 */
export function writeNormalized(
  img: RawImage, out: Float32Array, offset = 0,
): void {
  const d = img.data;
  for (let i = 0; i < d.length; i++) out[offset + i] = d[i] / 127.5 - 1;
}

/** Decoded pixels as a [-1, 1] float tensor [H, W, C]. */
export function rawToTensor(img: RawImage): tf.Tensor3D {
  const values = new Float32Array(img.data.length);
  writeNormalized(img, values);
  return tf.tensor3d(values, [img.height, img.width, img.channels]);
}

/** Options of `loadImageTensor`. */
export interface LoadImageOptions {
  /** 3 (RGB, default) or 1 (luma). */
  channels?: 1 | 3;
  /** Resize (bicubic) to a square side or to `{width, height}`. */
  resize?: number | { width: number; height: number };
  /** Pixel limit, `DEFAULT_MAX_PIXELS` by default. */
  maxPixels?: number;
}

/**
 * One image as a [-1, 1] tensor [H, W, C], no augmentation: for
 * inference and for showing images. The caller disposes it.
 */
export async function loadImageTensor(
  src: string | Buffer, opts: LoadImageOptions = {},
): Promise<tf.Tensor3D> {
  const resize = typeof opts.resize === 'number'
    ? { width: opts.resize, height: opts.resize } : opts.resize;
  const img = await decodeImage(src, opts.channels ?? 3,
    { resize, maxPixels: opts.maxPixels });
  return rawToTensor(img);
}

/** A [-1, 1] tensor [H, W, C] (or [1, H, W, C]) back to 8-bit pixels. */
export function tensorToRaw(t: tf.Tensor3D | tf.Tensor4D): RawImage {
  const [height, width, channels] = t.shape.slice(-3);
  if (t.rank === 4) {
    if (t.shape[0] !== 1) {
      throw new Error(`expected a batch of one image, got shape ` +
        `[${t.shape.join(', ')}]`);
    }
  }
  if (channels !== 1 && channels !== 3) {
    throw new Error(`expected 1 or 3 channels, got shape [${t.shape}]`);
  }
  const values = t.dataSync();
  const data = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Math.round((values[i] + 1) * 127.5);
    data[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return { data, height, width, channels };
}

/** Encodes decoded pixels as PNG. */
export async function rawToPng(img: RawImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height,
    channels: img.channels as 1 | 3 } }).png().toBuffer();
}

/**
 * A [-1, 1] tensor [H, W, C] or [1, H, W, C] as a PNG (C = 1 or 3).
 * The tensor is read, not disposed.
 */
export async function tensorToPng(
  t: tf.Tensor3D | tf.Tensor4D,
): Promise<Buffer> {
  return rawToPng(tensorToRaw(t));
}

/** Options of `imageGrid`. */
export interface GridOptions {
  /** One heading per column, drawn above it. */
  labels?: string[];
  /** Integer nearest-neighbour enlargement, so 32 px images are visible. */
  scale?: number;
  /** White gap between cells, px (default 2). */
  gap?: number;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A PNG grid of [-1, 1] images [H, W, C]: `rows[r][c]` is drawn at row r,
 * column c, each cell as large as the largest image, on white. Grey
 * images are shown as grey. Tensors are read, not disposed.
 */
export async function imageGrid(
  rows: tf.Tensor3D[][], opts: GridOptions = {},
): Promise<Buffer> {
  const scale = Math.max(1, Math.round(opts.scale ?? 1));
  const gap = opts.gap ?? 2;
  const cells = rows.map((row) => row.map((t) => tensorToRaw(t)));
  const nCols = Math.max(0, ...cells.map((r) => r.length));
  if (cells.length === 0 || nCols === 0) {
    throw new Error('imageGrid: no images');
  }
  const cellW = Math.max(...cells.flat().map((c) => c.width)) * scale;
  const cellH = Math.max(...cells.flat().map((c) => c.height)) * scale;
  const fontSize = Math.max(10, Math.min(14, Math.floor(cellW / 6)));
  const header = opts.labels?.length ? fontSize + 8 : 0;
  const width = nCols * cellW + (nCols + 1) * gap;
  const height = header + cells.length * cellH + (cells.length + 1) * gap;
  const canvas = new Uint8Array(width * height * 3).fill(255);
  cells.forEach((row, r) => row.forEach((img, c) => {
    const x0 = gap + c * (cellW + gap);
    const y0 = header + gap + r * (cellH + gap);
    for (let y = 0; y < img.height * scale; y++) {
      for (let x = 0; x < img.width * scale; x++) {
        const from = (Math.floor(y / scale) * img.width +
          Math.floor(x / scale)) * img.channels;
        const to = ((y0 + y) * width + x0 + x) * 3;
        for (let k = 0; k < 3; k++) {
          canvas[to + k] = img.data[from + (img.channels === 1 ? 0 : k)];
        }
      }
    }
  }));
  let image = sharp(canvas, { raw: { width, height, channels: 3 } });
  if (header > 0) {
    const texts = (opts.labels ?? []).slice(0, nCols).map((label, c) => {
      const x = gap + c * (cellW + gap) + cellW / 2;
      return `<text x="${x}" y="${fontSize + 2}" text-anchor="middle">` +
        `${escapeXml(label)}</text>`;
    });
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" ` +
      `height="${header}" font-family="DejaVu Sans, Arial, sans-serif" ` +
      `font-size="${fontSize}" fill="#222">${texts.join('')}</svg>`;
    image = image.composite([{ input: Buffer.from(svg), top: 0, left: 0 }]);
  }
  return image.png().toBuffer();
}

/** Writes a PNG buffer, creating the folder. */
export async function writePng(file: string, png: Buffer): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await fs.promises.writeFile(file, png);
}
