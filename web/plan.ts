/**
 * The page's decisions that do not need a browser: what input it accepts,
 * the size it works at, and the conversion between canvas pixels and the
 * generator's [−1, 1] tensors. Kept apart from the DOM code so that Node
 * unit tests run them.
 */
import { padToMultipleAmounts } from '../lib/layers';

/** Input limits; beyond them the page refuses the file with a message. */
export const LIMITS = {
  /** Largest file read, bytes (40 MiB). */
  maxFileBytes: 40 * 1024 * 1024,
  /** Largest decoded image, pixels (25 megapixels, e.g. 5000×5000). */
  maxPixels: 25_000_000,
  /** Longest side the generator runs at in 'original' mode, px. */
  maxWorkSide: 512,
};

/** Where the page runs the generator: its training size or the image's. */
export type WorkMode = 'training' | 'original';

/** The size the page runs the generator at, and why. */
export interface WorkPlan {
  /** Size the image is drawn at and translated at (the result's size). */
  width: number;
  height: number;
  /** True when width × height differs from the input's. */
  resized: boolean;
  /** Size the generator pads to internally (a multiple it needs). */
  paddedWidth: number;
  paddedHeight: number;
  /** Human-readable notes: resize and padding, empty if neither. */
  notes: string[];
}

/** What the generator needs: its padding multiple and smallest side. */
export interface Geometry {
  /** Side of the training images, px. */
  imageSize: number;
  multiple: number;
  minSize: number;
}

/** `w` × `h` scaled so the longer side is `side`, aspect kept. */
export function fitLongSide(w: number, h: number, side: number):
    [number, number] {
  const s = side / Math.max(w, h);
  return [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
}

/**
 * The working size for a `width` × `height` image: in `training` mode the
 * longer side becomes the model's training size (up or down: the model
 * translates best at the scale it learned); in `original` mode the image
 * keeps its size unless its longer side exceeds `LIMITS.maxWorkSide`.
 * Either way the generator then pads to its multiple and crops back,
 * which the notes say.
 */
export function planWork(width: number, height: number, mode: WorkMode,
  g: Geometry, maxSide = LIMITS.maxWorkSide): WorkPlan {
  if (!(width >= 1 && height >= 1)) {
    throw new Error(`image size must be at least 1x1, got ${width}x${height}`);
  }
  let [w, h] = [width, height];
  const notes: string[] = [];
  if (mode === 'training') {
    [w, h] = fitLongSide(width, height, g.imageSize);
    if (w !== width || h !== height) {
      notes.push(`Resized from ${width}×${height} to ${w}×${h}: the ` +
        `model was trained on ${g.imageSize}×${g.imageSize} images.`);
    }
  } else if (Math.max(width, height) > maxSide) {
    [w, h] = fitLongSide(width, height, maxSide);
    notes.push(`Scaled down from ${width}×${height} to ${w}×${h}: the page ` +
      `translates at most ${maxSide} px on the longer side.`);
  }
  const [top, bottom] = padToMultipleAmounts(h, g.multiple, g.minSize);
  const [left, right] = padToMultipleAmounts(w, g.multiple, g.minSize);
  const paddedWidth = w + left + right;
  const paddedHeight = h + top + bottom;
  if (paddedWidth !== w || paddedHeight !== h) {
    notes.push(`The generator pads ${w}×${h} to ${paddedWidth}×` +
      `${paddedHeight} (reflection, to a multiple of ${g.multiple}` +
      `${g.minSize > g.multiple ? `, at least ${g.minSize}` : ''}) and ` +
      'crops the result back.');
  }
  return { width: w, height: h, resized: w !== width || h !== height,
    paddedWidth, paddedHeight, notes };
}

/** Megabytes with one decimal, for messages. */
function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * Why a file cannot be read before decoding it (too big, not an image
 * type), or undefined. `type` is the browser's MIME guess, maybe empty.
 */
export function checkFile(name: string, type: string, bytes: number):
    string | undefined {
  if (bytes === 0) return `“${name}” is empty (0 bytes).`;
  if (type !== '' && !type.startsWith('image/')) {
    return `“${name}” is not an image (its type is ${type}). Choose a ` +
      'PNG, JPEG, WebP, GIF or SVG file.';
  }
  if (bytes > LIMITS.maxFileBytes) {
    return `“${name}” is too large to process: ${mb(bytes)}, the page ` +
      `reads files up to ${mb(LIMITS.maxFileBytes)}.`;
  }
  return undefined;
}

/** Why a decoded `width` × `height` image is refused, or undefined. */
export function checkPixels(name: string, width: number, height: number):
    string | undefined {
  const pixels = width * height;
  if (pixels > LIMITS.maxPixels) {
    return `“${name}” is too large to process: ${width}×${height} ` +
      `(${(pixels / 1e6).toFixed(1)} megapixels); the page takes images ` +
      `up to ${LIMITS.maxPixels / 1e6} megapixels. Shrink it and try again.`;
  }
  return undefined;
}

/**
 * Canvas RGBA bytes to the generator's input: RGB scaled to [−1, 1]
 * (v / 127.5 − 1, as lib/image's writeNormalized), H×W×3 row-major. The
 * canvas was filled white first, so alpha is already composited.
 */
export function rgbaToInput(rgba: Uint8ClampedArray): Float32Array {
  const n = rgba.length / 4;
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[3 * i] = rgba[4 * i] / 127.5 - 1;
    out[3 * i + 1] = rgba[4 * i + 1] / 127.5 - 1;
    out[3 * i + 2] = rgba[4 * i + 2] / 127.5 - 1;
  }
  return out;
}

/**
 * The generator's H×W×3 output in [−1, 1] to opaque RGBA bytes, rounding
 * as lib/image's tensorToRaw does: round((v + 1) · 127.5), clamped.
 */
export function outputToRgba(values: ArrayLike<number>):
    Uint8ClampedArray<ArrayBuffer> {
  const n = values.length / 3;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      out[4 * i + c] = Math.round((values[3 * i + c] + 1) * 127.5);
    }
    out[4 * i + 3] = 255;
  }
  return out;
}

/** What the last translation produced. */
export interface ResultInfo {
  direction: 'AtoB' | 'BtoA';
  width: number;
  height: number;
  translationMs: number;
  reconstructionMs?: number;
  backend: string;
}

/**
 * What the page exposes as `window.cyclegan`, for tests, benchmarks and
 * the console.
 */
export interface PageApi {
  /** Settles once the backend and model are loaded (or have failed). */
  ready: Promise<void>;
  /** The tfjs backend in use: webgl, wasm or cpu ('' before start). */
  backend: () => string;
  result: () => ResultInfo | undefined;
  /** Ms per translation at size×size: a warm-up, then `runs` timed. */
  bench: (size?: number, runs?: number) => Promise<number[]>;
  /** tf.memory().numTensors, to check that nothing leaks. */
  numTensors: () => number;
}

declare global {
  interface Window {
    cyclegan: PageApi;
  }
}
