// Decoding every kind of input to 8-bit RGB (F1 grey, F2 alpha, F3 EXIF
// orientation, palette, CMYK, 16-bit, progressive JPEG, WebP), the pixel
// steps of the preprocessing, and tensor <-> PNG round trips.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import {
  cropImage, decodeImage, flipImage, imageGrid, loadImageTensor,
  resizeImage, rgbToLuma, tensorToPng,
} from '../../lib/image';

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

/** A W×H RGB raw image whose pixel (x, y) is f(x, y). */
function rawRgb(width: number, height: number,
  f: (x: number, y: number) => [number, number, number]) {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(f(x, y), (y * width + x) * 3);
  }
  return { data, raw: { width, height, channels: 3 as const } };
}

function pixel(img: { data: Uint8Array; width: number; channels: number },
  x: number, y: number): number[] {
  const i = (y * img.width + x) * img.channels;
  return Array.from(img.data.subarray(i, i + img.channels));
}

function near(actual: number[], expected: number[], tol: number) {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= tol,
    `got [${actual}], expected [${expected}] within ${tol}`));
}

const gradient = rawRgb(16, 12, (x, y) => [x * 16, y * 20, 255 - x * 8]);

test('F1: a one-channel PNG decodes to HxWx3 with (v, v, v)', async () => {
  const png = await sharp(Buffer.alloc(6 * 4, 77),
    { raw: { width: 6, height: 4, channels: 1 } })
    .toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(png).metadata()).channels, 1);
  const img = await decodeImage(png);
  assert.deepEqual([img.height, img.width, img.channels], [4, 6, 3]);
  assert.equal(img.data.length, 4 * 6 * 3);
  assert.ok(img.data.every((v) => v === 77));
});

test('F2: transparent pixels are composited onto white', async () => {
  // Pixel 0 is fully transparent but stores pure red; pixel 1 is opaque
  // blue; pixel 2 is black at alpha 128 (half way to white).
  const rgba = Buffer.from([255, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 128]);
  const png = await sharp(rgba, { raw: { width: 3, height: 1, channels: 4 } })
    .png().toBuffer();
  assert.equal((await sharp(png).metadata()).hasAlpha, true);
  const img = await decodeImage(png);
  assert.equal(img.channels, 3);
  assert.deepEqual(pixel(img, 0, 0), [255, 255, 255]);
  assert.deepEqual(pixel(img, 1, 0), [0, 0, 255]);
  near(pixel(img, 2, 0), [127, 127, 127], 1);
});

test('F3: EXIF orientation 6 is applied before anything else', async () => {
  // Stored 4 wide x 2 high: left half red, right half blue. Orientation 6
  // means "rotate 90 degrees clockwise to display".
  const src = rawRgb(4, 2, (x) => (x < 2 ? [255, 0, 0] : [0, 0, 255]));
  const jpg = await sharp(src.data, { raw: src.raw })
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .withMetadata({ orientation: 6 }).toBuffer();
  const meta = await sharp(jpg).metadata();
  assert.deepEqual([meta.width, meta.height, meta.orientation], [4, 2, 6]);
  const img = await decodeImage(jpg);
  assert.deepEqual([img.height, img.width], [4, 2]);
  // Clockwise: the stored left columns become the top rows.
  for (const y of [0, 1]) near(pixel(img, 1, y), [255, 0, 0], 8);
  for (const y of [2, 3]) near(pixel(img, 0, y), [0, 0, 255], 8);
  const t = await loadImageTensor(jpg);
  assert.deepEqual(t.shape, [4, 2, 3]);
  t.dispose();
});

test('palette PNG, with and without transparency', async () => {
  const colours: [number, number, number][] =
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [250, 250, 10]];
  const src = rawRgb(8, 8, (x, y) => colours[(x + y) % 4]);
  const png = await sharp(src.data, { raw: src.raw })
    .png({ palette: true, colours: 4, dither: 0 }).toBuffer();
  assert.equal((await sharp(png).metadata()).isPalette, true);
  const img = await decodeImage(png);
  assert.equal(img.channels, 3);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      assert.deepEqual(pixel(img, x, y), colours[(x + y) % 4]);
    }
  }
  const rgba = Buffer.from([0, 200, 0, 0, 0, 0, 200, 255, 0, 0, 200, 255,
    0, 200, 0, 0]);
  const palA = await sharp(rgba, { raw: { width: 2, height: 2, channels: 4 } })
    .png({ palette: true, colours: 2, dither: 0 }).toBuffer();
  assert.equal((await sharp(palA).metadata()).isPalette, true);
  const imgA = await decodeImage(palA);
  assert.deepEqual(pixel(imgA, 0, 0), [255, 255, 255]);
  assert.deepEqual(pixel(imgA, 1, 0), [0, 0, 200]);
});

test('CMYK JPEG decodes to RGB', async () => {
  const src = rawRgb(16, 16, (x) => (x < 8 ? [200, 30, 30] : [255, 255, 255]));
  const jpg = await sharp(src.data, { raw: src.raw }).jpeg({ quality: 95 })
    .toColourspace('cmyk').toBuffer();
  const meta = await sharp(jpg).metadata();
  assert.deepEqual([meta.space, meta.channels], ['cmyk', 4]);
  const img = await decodeImage(jpg);
  assert.deepEqual([img.height, img.width, img.channels], [16, 16, 3]);
  near(pixel(img, 2, 8), [200, 30, 30], 30);
  near(pixel(img, 13, 8), [255, 255, 255], 8);
});

test('16-bit PNG (RGB and grey) decodes to 8 bits', async () => {
  const png16 = await sharp(gradient.data, { raw: gradient.raw })
    .toColourspace('rgb16').png().toBuffer();
  assert.equal((await sharp(png16).metadata()).depth, 'ushort');
  const img = await decodeImage(png16);
  assert.equal(img.data.length, 16 * 12 * 3);
  for (let i = 0; i < img.data.length; i++) {
    assert.ok(Math.abs(img.data[i] - gradient.data[i]) <= 1, `byte ${i}`);
  }
  const grey16 = await sharp(Buffer.alloc(9, 200),
    { raw: { width: 3, height: 3, channels: 1 } })
    .toColourspace('grey16').png().toBuffer();
  const g = await sharp(grey16).metadata();
  assert.deepEqual([g.depth, g.channels], ['ushort', 1]);
  const gi = await decodeImage(grey16);
  assert.deepEqual([gi.channels, ...pixel(gi, 1, 1)], [3, 200, 200, 200]);
});

test('progressive JPEG and WebP (lossless and lossy)', async () => {
  const prog = await sharp(gradient.data, { raw: gradient.raw })
    .jpeg({ progressive: true, quality: 100, chromaSubsampling: '4:4:4' })
    .toBuffer();
  assert.equal((await sharp(prog).metadata()).isProgressive, true);
  const p = await decodeImage(prog);
  assert.deepEqual([p.height, p.width, p.channels], [12, 16, 3]);
  near(pixel(p, 5, 5), [80, 100, 215], 6);
  const webp = await sharp(gradient.data, { raw: gradient.raw })
    .webp({ lossless: true }).toBuffer();
  assert.equal((await sharp(webp).metadata()).format, 'webp');
  const w = await decodeImage(webp);
  assert.deepEqual(Buffer.from(w.data), gradient.data);
  const lossy = await decodeImage(await sharp(gradient.data,
    { raw: gradient.raw }).webp({ quality: 90 }).toBuffer());
  assert.deepEqual([lossy.height, lossy.width, lossy.channels], [12, 16, 3]);
});

test('truncated and empty inputs fail with the file named', async () => {
  const jpg = await sharp(gradient.data, { raw: gradient.raw }).jpeg()
    .toBuffer();
  await assert.rejects(decodeImage(jpg.subarray(0, Math.floor(jpg.length *
    0.6))), /cannot decode: .*premature end/);
  await assert.rejects(decodeImage(Buffer.alloc(0)), /empty image buffer/);
  await assert.rejects(decodeImage('/nonexistent/x.png'),
    /ENOENT.*\/nonexistent\/x\.png/);
});

test('one channel: PIL luma (299 R + 587 G + 114 B) / 1000', async () => {
  const src = rawRgb(2, 1, (x) => (x === 0 ? [10, 20, 30] : [255, 0, 0]));
  const png = await sharp(src.data, { raw: src.raw }).png().toBuffer();
  const img = await decodeImage(png, 1);
  assert.deepEqual([img.channels, ...img.data], [1, 18, 76]);
  const grey = rgbToLuma({ data: new Uint8Array([9, 9, 9]), width: 1,
    height: 1, channels: 3 });
  assert.deepEqual(Array.from(grey.data), [9]);
});

test('crop, flip and bicubic resize on known pixels', async () => {
  const img = await decodeImage(await sharp(gradient.data,
    { raw: gradient.raw }).png().toBuffer());
  const c = cropImage(img, { left: 3, top: 2, width: 4, height: 5 });
  assert.deepEqual([c.width, c.height], [4, 5]);
  assert.deepEqual(pixel(c, 0, 0), [48, 40, 231]);
  const f = flipImage(c);
  assert.deepEqual(pixel(f, 3, 0), pixel(c, 0, 0));
  assert.deepEqual(pixel(f, 0, 4), pixel(c, 3, 4));
  assert.throws(() => cropImage(img, { left: 10, top: 0, width: 8,
    height: 2 }), /crop 8x2 at \(10, 0\) does not fit a 16x12 image/);
  // A step 64 | 192 enlarged 4x: a cubic kernel overshoots on both sides
  // of the edge, which linear or nearest resampling never does.
  const step = { data: new Uint8Array([64, 64, 64, 192, 192, 192].flatMap(
    (v) => [v, v, v])), width: 6, height: 1, channels: 3 };
  const big = await resizeImage(step, 24, 1);
  const row = Array.from({ length: 24 }, (_, x) => big.data[x * 3]);
  assert.ok(Math.min(...row) < 64, `no undershoot in ${row}`);
  assert.ok(Math.max(...row) > 192, `no overshoot in ${row}`);
});

test('tensors: [-1, 1] scaling and PNG round trip', async () => {
  const src = rawRgb(3, 2, (x, y) => [x * 127.5, 255 * y, 128]);
  const png = await sharp(src.data, { raw: src.raw }).png().toBuffer();
  const before = tf.memory().numTensors;
  const t = await loadImageTensor(png);
  assert.deepEqual(t.shape, [2, 3, 3]);
  const v = await t.array();
  near(v[0][0].map((x) => x * 1e6), [-1e6, -1e6, (128 / 127.5 - 1) * 1e6], 1);
  assert.ok(Math.abs(v[1][2][0] - 1) < 1e-6 && Math.abs(v[1][2][1] - 1) < 1e-6);
  const back = await decodeImage(await tensorToPng(t));
  assert.deepEqual(Buffer.from(back.data), src.data.map((x) => Math.round(x)));
  const t4 = t.expandDims(0) as tf.Tensor4D;
  const again = await decodeImage(await tensorToPng(t4));
  assert.deepEqual(Buffer.from(again.data), Buffer.from(back.data));
  const resized = await loadImageTensor(png, { resize: 8, channels: 1 });
  assert.deepEqual(resized.shape, [8, 8, 1]);
  tf.dispose([t, t4, resized]);
  assert.equal(tf.memory().numTensors, before);
});

test('imageGrid lays out rows and columns at a scale', async () => {
  const white = tf.ones([4, 5, 3]) as tf.Tensor3D;
  const black = tf.fill([4, 5, 1], -1) as tf.Tensor3D;
  const png = await imageGrid([[white, black], [black, white]],
    { scale: 2, gap: 1 });
  const img = await decodeImage(png);
  // 2 columns of 10 px, 2 rows of 8 px, gaps of 1 px around and between.
  assert.deepEqual([img.width, img.height], [2 * 10 + 3, 2 * 8 + 3]);
  assert.deepEqual(pixel(img, 1 + 11, 1), [0, 0, 0]);
  assert.deepEqual(pixel(img, 1, 1 + 9), [0, 0, 0]);
  assert.deepEqual(pixel(img, 1, 1), [255, 255, 255]);
  const labelled = await decodeImage(await imageGrid([[white, black]],
    { labels: ['real A', 'fake B'], scale: 8 }));
  assert.ok(labelled.height > 4 * 8 + 4, 'a heading row is added');
  tf.dispose([white, black]);
});

test('F5, data side: an odd-sized file keeps its size (33 high, 35 wide)',
  async () => {
    // The generator pads and crops back; the loader must not round first.
    const src = rawRgb(35, 33, (x, y) => [x * 7, y * 7, 0]);
    const png = await sharp(src.data, { raw: src.raw }).png().toBuffer();
    const t = await loadImageTensor(png);
    assert.deepEqual(t.shape, [33, 35, 3]);
    const back = await decodeImage(await tensorToPng(t));
    assert.deepEqual([back.height, back.width], [33, 35]);
    assert.deepEqual(Buffer.from(back.data), src.data);
    t.dispose();
  });
