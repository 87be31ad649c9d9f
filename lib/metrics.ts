/**
 * Measuring a translation against its real counterpart.
 *
 * CycleGAN trains on unpaired data, but the embedded emoji dataset has a
 * real pair for every shared code point (the same emoji drawn by Twemoji
 * and by OpenMoji), so a translation G(a) can be scored against the real b.
 * Two scores, on 8-bit RGB images of the same size:
 *
 * - mean L1: the mean absolute difference per channel on the [0, 1] scale
 *   (0 = identical, lower is better);
 * - SSIM (Wang et al. 2004) on the luma channel, 11×11 Gaussian window, as
 *   computed by ssim.js's `original` variant (1 = identical, higher is
 *   better).
 */
import { ssim } from 'ssim.js';

/** An 8-bit image, row-major, `channels` values per pixel. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** The scores of one translated image against its target. */
export interface PairScore {
  l1: number;
  ssim: number;
}

function checkSameSize(a: RgbImage, b: RgbImage): void {
  if (a.width !== b.width || a.height !== b.height ||
      a.channels !== b.channels) {
    throw new Error(`cannot compare a ${a.width}x${a.height}x${a.channels} ` +
      `image with a ${b.width}x${b.height}x${b.channels} one`);
  }
}

/** Mean absolute difference per channel, on the [0, 1] scale. */
export function meanL1(a: RgbImage, b: RgbImage): number {
  checkSameSize(a, b);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    sum += Math.abs(a.data[i] - b.data[i]);
  }
  return sum / a.data.length / 255;
}

/** ssim.js reads RGBA; gray and RGB images are widened to it. */
function toRgba(img: RgbImage): { data: Uint8ClampedArray; width: number;
  height: number; } {
  const n = img.width * img.height;
  const out = new Uint8ClampedArray(n * 4);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      out[p * 4 + c] = img.data[p * img.channels +
        (img.channels === 1 ? 0 : c)];
    }
    out[p * 4 + 3] = 255;
  }
  return { data: out, width: img.width, height: img.height };
}

/** Mean SSIM of the luma channels (Wang et al. 2004). */
export function ssimLuma(a: RgbImage, b: RgbImage): number {
  checkSameSize(a, b);
  return ssim(toRgba(a), toRgba(b), { ssim: 'original',
    downsample: false }).mssim;
}

/** Both scores of `translated` against `target`. */
export function scorePair(translated: RgbImage, target: RgbImage): PairScore {
  return { l1: meanL1(translated, target), ssim: ssimLuma(translated, target) };
}

/** The mean of each score over a set of pairs. */
export function meanScore(scores: readonly PairScore[]): PairScore {
  if (scores.length === 0) throw new Error('no scores to average');
  const sum = scores.reduce((s, x) => ({ l1: s.l1 + x.l1,
    ssim: s.ssim + x.ssim }), { l1: 0, ssim: 0 });
  return { l1: sum.l1 / scores.length, ssim: sum.ssim / scores.length };
}

/** One row of the metrics table. */
export interface MetricsRow extends PairScore {
  name: string;
  count: number;
}

/** The metrics table as fixed-width text, as the notebook and CLI print. */
export function formatMetricsTable(rows: readonly MetricsRow[]): string {
  const width = Math.max(10, ...rows.map((r) => r.name.length));
  const lines = [`${'model'.padEnd(width)}  images  mean L1 ↓  SSIM ↑`];
  for (const r of rows) {
    lines.push(`${r.name.padEnd(width)}  ${String(r.count).padStart(6)}  ` +
      `${r.l1.toFixed(4).padStart(9)}  ${r.ssim.toFixed(4).padStart(6)}`);
  }
  return lines.join('\n');
}
