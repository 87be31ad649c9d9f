import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanL1, ssimLuma, scorePair, meanScore, formatMetricsTable,
  RgbImage } from '../../lib/metrics';

function image(w: number, h: number, f: (x: number, y: number, c: number)
  => number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = f(x, y, c);
    }
  }
  return { data, width: w, height: h, channels: 3 };
}

const ramp = image(32, 32, (x, y, c) => (x * 7 + y * 3 + c * 40) % 256);

test('identical images score L1 0 and SSIM 1', () => {
  const s = scorePair(ramp, ramp);
  assert.equal(s.l1, 0);
  assert.ok(Math.abs(s.ssim - 1) < 1e-9, String(s.ssim));
});

test('L1 is the mean absolute difference on the [0, 1] scale', () => {
  const black = image(4, 4, () => 0);
  const gray = image(4, 4, () => 51);
  assert.ok(Math.abs(meanL1(black, gray) - 0.2) < 1e-12);
});

test('SSIM falls as noise is added, and is symmetric', () => {
  let seed = 1;
  const noise = () => ((seed = (seed * 16807) % 2147483647) % 61) - 30;
  const noisy = image(32, 32, (x, y, c) =>
    Math.max(0, Math.min(255, (x * 7 + y * 3 + c * 40) % 256 + noise())));
  const s1 = ssimLuma(ramp, noisy);
  assert.ok(s1 < 0.99 && s1 > 0.2, String(s1));
  assert.ok(Math.abs(s1 - ssimLuma(noisy, ramp)) < 1e-12);
});

test('images of different sizes are refused with both sizes named', () => {
  assert.throws(() => meanL1(ramp, image(8, 8, () => 0)),
    /32x32x3 image with a 8x8x3/);
});

test('meanScore averages and the table prints every row', () => {
  const m = meanScore([{ l1: 0.1, ssim: 0.5 }, { l1: 0.3, ssim: 0.7 }]);
  assert.ok(Math.abs(m.l1 - 0.2) < 1e-12 && Math.abs(m.ssim - 0.6) < 1e-12);
  const t = formatMetricsTable([{ name: 'trained', count: 2, ...m }]);
  assert.match(t, /trained\s+2\s+0\.2000\s+0\.6000/);
});
