// The unaligned loader: scanning (F1, F4, F7, F8), pairing (F6), the
// official preprocess modes and sizes, seeding and resume, batching,
// prefetch and tensor hygiene.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { Rng } from '../../lib/rng';
import {
  DATA_DEFAULTS, UnalignedDataset, listImageFiles, makePower2Size,
  outputSize, pairingSchedule, planSample, roundHalfEven, sampleSteps,
  scaleWidthSize, sizeProblem, validateDataOptions,
} from '../../lib/dataset';
import { decodeImage } from '../../lib/image';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclegan-data-'));
const quiet = { log: () => undefined };

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A PNG of a flat colour (or a per-pixel function). */
async function png(width: number, height: number,
  colour: [number, number, number] | ((x: number, y: number) => number[]),
): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set(typeof colour === 'function' ? colour(x, y) : colour,
        (y * width + x) * 3);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).png()
    .toBuffer();
}

/** Writes `files` (relative path -> bytes) under a new dataset root. */
function dataset(name: string, files: Record<string, Buffer | string>) {
  const root = path.join(tmp, name);
  for (const [rel, bytes] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), bytes);
  }
  return root;
}

/** Images whose red channel encodes their index, to tell them apart. */
async function numbered(folder: string, n: number, size = 8) {
  const out: Record<string, Buffer> = {};
  for (let i = 0; i < n; i++) {
    out[`${folder}/${i}.png`] = await png(size, size, [i * 10, 50, 50]);
  }
  return out;
}

async function collect(ds: UnalignedDataset, epoch: number) {
  const out: { pathsA: string[]; pathsB: string[]; sumA: number;
    sumB: number; shapeA: number[]; shapeB: number[] }[] = [];
  for await (const b of ds.batches(epoch)) {
    out.push({ pathsA: b.pathsA.map((p) => path.basename(p)),
      pathsB: b.pathsB.map((p) => path.basename(p)),
      sumA: tf.tidy(() => b.realA.sum().arraySync() as number),
      sumB: tf.tidy(() => b.realB.sum().arraySync() as number),
      shapeA: b.realA.shape, shapeB: b.realB.shape });
    tf.dispose([b.realA, b.realB]);
  }
  return out;
}

test('DATA_DEFAULTS are the official options', () => {
  const { dataroot, ...rest } = DATA_DEFAULTS;
  assert.equal(dataroot, '');
  assert.deepEqual(rest, { phase: 'train', direction: 'AtoB',
    preprocess: 'resize_and_crop', loadSize: 286, cropSize: 256,
    noFlip: false, serialBatches: false, maxDatasetSize: Infinity,
    batchSize: 1, inputNc: 3, outputNc: 3, seed: 0 });
});

test('F6: 3 A and 5 B images give 5 steps, serial pairs (i%3, i%5)',
  async () => {
    assert.deepEqual(pairingSchedule(3, 5, true),
      [[0, 0], [1, 1], [2, 2], [0, 3], [1, 4]]);
    const root = dataset('f6', { ...await numbered('trainA', 3),
      ...await numbered('trainB', 5) });
    const ds = await UnalignedDataset.open({ dataroot: root,
      serialBatches: true, preprocess: 'none', noFlip: true, ...quiet });
    assert.equal(ds.length, 5);
    const got = await collect(ds, 1);
    assert.deepEqual(got.map((b) => [b.pathsA[0], b.pathsB[0]]), [
      ['0.png', '0.png'], ['1.png', '1.png'], ['2.png', '2.png'],
      ['0.png', '3.png'], ['1.png', '4.png']]);
    // Shuffled: still 5 steps; A is (a permutation of 0..4) mod 3.
    const shuffled = await UnalignedDataset.open({ dataroot: root,
      preprocess: 'none', ...quiet });
    const steps = shuffled.epochPlan(1);
    assert.equal(steps.length, 5);
    assert.deepEqual(steps.map((s) => s.indexA).sort(), [0, 0, 1, 1, 2]);
    assert.ok(steps.every((s) => s.indexB >= 0 && s.indexB < 5));
  });

test('F1: a grey file among RGB files loads as 3 channels (v, v, v)',
  async () => {
    const grey = await sharp(Buffer.alloc(64, 90),
      { raw: { width: 8, height: 8, channels: 1 } })
      .toColourspace('b-w').png().toBuffer();
    const root = dataset('f1', { 'trainA/a.png': await png(8, 8, [1, 2, 3]),
      'trainA/grey.png': grey, 'trainB/b.png': await png(8, 8, [4, 5, 6]) });
    const ds = await UnalignedDataset.open({ dataroot: root,
      serialBatches: true, preprocess: 'none', noFlip: true, ...quiet });
    assert.equal(ds.skipped.length, 0);
    const values: number[][] = [];
    for await (const b of ds.batches(1)) {
      assert.deepEqual(b.realA.shape, [1, 8, 8, 3]);
      values.push(tf.tidy(() => Array.from(b.realA.slice([0, 4, 4, 0],
        [1, 1, 1, 3]).dataSync()).map((v) => Math.round((v + 1) * 127.5))));
      tf.dispose([b.realA, b.realB]);
    }
    assert.deepEqual(values, [[1, 2, 3], [90, 90, 90]]);
  });

test('F7: truncated and empty files are reported at scan time', async () => {
  const jpg = await sharp(await png(32, 32, (x, y) => [x * 8, y * 8, 90]))
    .jpeg().toBuffer();
  const root = dataset('f7', {
    'trainA/good.jpg': jpg,
    'trainA/cut.jpg': jpg.subarray(0, Math.floor(jpg.length * 0.6)),
    'trainA/empty.png': Buffer.alloc(0),
    'trainA/notimage.png': 'this is text',
    'trainB/b.png': await png(8, 8, [0, 0, 0]),
  });
  const lines: string[] = [];
  const ds = await UnalignedDataset.open({ dataroot: root,
    log: (l) => lines.push(l) });
  assert.deepEqual(ds.pathsA.map((p) => path.basename(p)), ['good.jpg']);
  const reasons = Object.fromEntries(ds.skipped.map((s) =>
    [path.basename(s.path), s.reason]));
  assert.deepEqual(Object.keys(reasons).sort(),
    ['cut.jpg', 'empty.png', 'notimage.png']);
  // libvips words a truncated JPEG differently from run to run
  // ("VipsJpeg: premature end of JPEG image", "Unknown error").
  assert.match(reasons['cut.jpg'], /cannot decode: /);
  assert.match(reasons['empty.png'], /empty file \(0 bytes\)/);
  assert.match(reasons['notimage.png'], /unsupported image format/);
  // The log shortens paths relative to the working folder when shorter.
  const cut = path.join(root, 'trainA', 'cut.jpg');
  assert.ok(lines.some((l) => l.includes(cut) ||
    l.includes(path.relative(process.cwd(), cut))), 'the bad path is printed');
  await assert.rejects(UnalignedDataset.open({ dataroot: root,
    onBadFile: 'error', ...quiet }),
  (err: Error) => /3 unusable image file/.test(err.message) &&
    err.message.includes(path.join(root, 'trainA', 'cut.jpg')) &&
    err.message.includes(path.join(root, 'trainA', 'empty.png')));
});

test('F8: hidden, system and non-image entries are never opened',
  async () => {
    const img = await png(8, 8, [10, 10, 10]);
    const root = dataset('f8', {
      'trainA/.DS_Store': 'Bud1 binary junk',
      'trainA/Thumbs.db': 'junk',
      'trainA/.ipynb_checkpoints/x-checkpoint.png': img,
      'trainA/._resource.png': 'junk',
      'trainA/readme.txt': 'notes',
      'trainA/UPPER.PNG': img,
      'trainA/Mixed.JpEg': await sharp(img).jpeg().toBuffer(),
      'trainA/sub/nested.png': img,
      'trainA/old.bmp': 'BM',
      'trainB/b.png': img,
    });
    fs.symlinkSync(path.join(root, 'trainA', 'UPPER.PNG'),
      path.join(root, 'trainA', 'link.png'));
    const listed = await listImageFiles(path.join(root, 'trainA'));
    assert.deepEqual(listed.files.map((f) => path.relative(root, f)),
      ['trainA/Mixed.JpEg', 'trainA/UPPER.PNG', 'trainA/sub/nested.png']);
    assert.deepEqual(listed.ignored.map((f) => path.basename(f)).sort(),
      ['.DS_Store', '._resource.png', '.ipynb_checkpoints', 'Thumbs.db',
        'readme.txt']);
    const ds = await UnalignedDataset.open({ dataroot: root, ...quiet });
    assert.equal(ds.pathsA.length, 3);
    assert.deepEqual(ds.skipped.map((s) => [path.basename(s.path),
      s.reason.split(' ')[0]]).sort(), [['link.png', 'symbolic'],
      ['old.bmp', '.bmp']]);
  });

test('F4: smaller than the crop: scaled up, or refused at scan time',
  async () => {
    const small = await png(100, 50, [200, 100, 0]);
    const root = dataset('f4', { 'trainA/small.png': small,
      'trainA/big.png': await png(300, 280, [0, 0, 0]),
      'trainB/b.png': await png(300, 300, [1, 1, 1]) });
    // resize_and_crop (the default) scales 100x50 to 286x286 first.
    const ds = await UnalignedDataset.open({ dataroot: root,
      serialBatches: true, ...quiet });
    assert.equal(ds.skipped.length, 0);
    const got = await collect(ds, 1);
    assert.deepEqual(got.map((b) => b.shapeA), [[1, 256, 256, 3],
      [1, 256, 256, 3]]);
    // preprocess 'crop' does not resize: refused when the dataset opens.
    const crop = await UnalignedDataset.open({ dataroot: root,
      preprocess: 'crop', ...quiet });
    assert.deepEqual(crop.pathsA.map((p) => path.basename(p)), ['big.png']);
    assert.equal(crop.skipped.length, 1);
    assert.equal(crop.skipped[0].path, path.join(root, 'trainA', 'small.png'));
    assert.match(crop.skipped[0].reason,
      /100x50 is smaller than cropSize 256/);
    await assert.rejects(UnalignedDataset.open({ dataroot: root,
      preprocess: 'crop', onBadFile: 'error', ...quiet }), /small\.png/);
  });

test('preprocess sizes follow the official functions', () => {
  assert.deepEqual(scaleWidthSize(300, 200, 286, 256),
    { width: 286, height: 256 });
  assert.deepEqual(scaleWidthSize(300, 400, 286, 256),
    { width: 286, height: 381 });
  assert.deepEqual(scaleWidthSize(286, 300, 286, 256),
    { width: 286, height: 300 });
  // Python rounds half to even: 10 / 4 = 2.5 -> 2, 14 / 4 = 3.5 -> 4.
  assert.deepEqual([roundHalfEven(2.5), roundHalfEven(3.5),
    roundHalfEven(-0.5), roundHalfEven(2.4)], [2, 4, -0, 2]);
  assert.deepEqual(makePower2Size(10, 14), { width: 8, height: 16 });
  assert.deepEqual(makePower2Size(33, 35), { width: 32, height: 36 });
  const o = { loadSize: 286, cropSize: 256, noFlip: false };
  assert.deepEqual(outputSize(300, 200, { ...o, preprocess: 'scale_width' }),
    { width: 286, height: 256 });
  const rng = new Rng(1);
  const plan = planSample(300, 200, { ...o, preprocess: 'resize_and_crop' },
    rng);
  assert.deepEqual(plan.resize, { width: 286, height: 286 });
  assert.ok(plan.crop!.left >= 0 && plan.crop!.left <= 30);
  assert.equal(plan.crop!.width, 256);
  const flips = Array.from({ length: 400 }, () => planSample(8, 8,
    { ...o, preprocess: 'none' }, rng).flip).filter(Boolean).length;
  assert.ok(flips > 150 && flips < 250, `${flips} flips of 400`);
  assert.ok(Array.from({ length: 50 }, () => planSample(8, 8,
    { ...o, noFlip: true, preprocess: 'none' }, rng).flip).every((f) => !f));
});

test('sampleSteps shows each step; sizeProblem names the size',
  async () => {
    const img = await decodeImage(await png(30, 20, (x) => [x * 8, 0, 0]));
    const steps = await sampleSteps(img, { resize: { width: 40, height: 40 },
      crop: { left: 2, top: 3, width: 32, height: 32 }, flip: true });
    assert.deepEqual(steps.map((s) => s.label), ['decoded 30x20',
      'resized 40x40', 'cropped 32x32', 'flipped']);
    const [cropped, flipped] = [steps[2].image, steps[3].image];
    assert.deepEqual(Array.from(flipped.data.subarray(0, 3)),
      Array.from(cropped.data.subarray(31 * 3, 32 * 3)));
    const o = { loadSize: 286, cropSize: 256, noFlip: false };
    assert.equal(sizeProblem(100, 50, { ...o, preprocess: 'resize_and_crop' }),
      null);
    assert.match(sizeProblem(100, 50, { ...o, preprocess: 'crop' })!,
      /100x50 is smaller than cropSize 256/);
    assert.match(sizeProblem(1, 9, { ...o, preprocess: 'none' })!,
      /1x9 rounds to an empty image/);
    assert.equal(validateDataOptions({ dataroot: 'x',
      maxDatasetSize: null as unknown as number }).maxDatasetSize, Infinity);
  });

test('each preprocess mode gives its official output shape', async () => {
  const root = dataset('modes', { 'trainA/a.png': await png(300, 200,
    (x, y) => [x % 256, y, 7]), 'trainB/b.png': await png(33, 35,
    [9, 9, 9]) });
  const shapes = async (preprocess: typeof DATA_DEFAULTS.preprocess,
    extra = {}) => {
    const lines: string[] = [];
    const ds = await UnalignedDataset.open({ dataroot: root, preprocess,
      loadSize: 64, cropSize: 32, log: (l) => lines.push(l), ...extra });
    const [b] = await collect(ds, 1);
    await collect(ds, 2);
    return { a: b.shapeA.slice(1, 3), b: b.shapeB.slice(1, 3),
      warnings: lines.filter((l) => l.includes('warning')).length };
  };
  assert.deepEqual(await shapes('resize_and_crop'),
    { a: [32, 32], b: [32, 32], warnings: 0 });
  // [height, width]: scale_width keeps the aspect ratio at width 64.
  assert.deepEqual(await shapes('scale_width'),
    { a: [42, 64], b: [67, 64], warnings: 0 });
  assert.deepEqual(await shapes('scale_width_and_crop'),
    { a: [32, 32], b: [32, 32], warnings: 0 });
  assert.deepEqual(await shapes('crop', { cropSize: 30 }),
    { a: [30, 30], b: [30, 30], warnings: 0 });
  // none: 300x200 is kept; 33x35 becomes 32x36, with one warning.
  assert.deepEqual(await shapes('none'),
    { a: [200, 300], b: [36, 32], warnings: 1 });
});

test('the same seed repeats a run exactly; epochs differ', async () => {
  const root = dataset('seed', { ...await numbered('trainA', 6, 12),
    ...await numbered('trainB', 4, 12) });
  const open = (seed: number) => UnalignedDataset.open({ dataroot: root,
    loadSize: 12, cropSize: 8, seed, ...quiet });
  const one = await collect(await open(7), 1);
  const two = await collect(await open(7), 1);
  assert.deepEqual(one, two);
  const other = await collect(await open(8), 1);
  assert.notDeepEqual(one, other);
  const nextEpoch = await collect(await open(7), 2);
  assert.notDeepEqual(one.map((b) => b.pathsA), nextEpoch.map((b) => b.pathsA));
});

test('rngState/restoreRng continue an interrupted epoch exactly',
  async () => {
    const root = dataset('resume', { ...await numbered('trainA', 7, 12),
      ...await numbered('trainB', 5, 12) });
    const open = () => UnalignedDataset.open({ dataroot: root, loadSize: 12,
      cropSize: 8, batchSize: 2, seed: 3, ...quiet });
    const reference = await collect(await open(), 2);
    assert.equal(reference.length, 4); // ceil(7 / 2)

    const first = await open();
    await collect(first, 1);
    assert.deepEqual(first.rngState(), { seed: 3, epoch: 2, consumed: 0 });
    const head: typeof reference = [];
    for await (const b of first.batches(2)) {
      head.push({ pathsA: b.pathsA.map((p) => path.basename(p)),
        pathsB: b.pathsB.map((p) => path.basename(p)),
        sumA: tf.tidy(() => b.realA.sum().arraySync() as number),
        sumB: tf.tidy(() => b.realB.sum().arraySync() as number),
        shapeA: b.realA.shape, shapeB: b.realB.shape });
      tf.dispose([b.realA, b.realB]);
      if (head.length === 2) break;
    }
    const saved = JSON.parse(JSON.stringify(first.rngState()));
    assert.deepEqual(saved, { seed: 3, epoch: 2, consumed: 2 });

    const resumed = await open();
    resumed.restoreRng(saved);
    const tail = await collect(resumed, 2);
    assert.deepEqual([...head, ...tail], reference);
    assert.throws(() => resumed.restoreRng({ epoch: 1 }),
      /expected \{seed, epoch, consumed\}/);
  });

test('maxDatasetSize, batchSize, direction BtoA and one channel',
  async () => {
    const root = dataset('opts', { ...await numbered('trainA', 5),
      ...await numbered('trainB', 7) });
    const capped = await UnalignedDataset.open({ dataroot: root,
      maxDatasetSize: 3, ...quiet });
    assert.deepEqual(capped.pathsA.map((p) => path.basename(p)),
      ['0.png', '1.png', '2.png']);
    assert.equal(capped.pathsB.length, 3);
    assert.equal(capped.length, 3);

    const batched = await UnalignedDataset.open({ dataroot: root,
      batchSize: 3, preprocess: 'none', ...quiet });
    const shapes = (await collect(batched, 1)).map((b) => b.shapeA[0]);
    assert.deepEqual(shapes, [3, 3, 1]); // 7 steps
    assert.equal(batched.batchesPerEpoch, 3);

    const swapped = await UnalignedDataset.open({ dataroot: root,
      direction: 'BtoA', serialBatches: true, preprocess: 'none',
      inputNc: 1, ...quiet });
    assert.equal(swapped.pathsA.length, 7);
    assert.ok(swapped.pathsA[0].includes(`${path.sep}trainB${path.sep}`));
    const [b0] = await collect(swapped, 1);
    assert.deepEqual(b0.shapeA, [1, 8, 8, 1]);
    assert.deepEqual(b0.shapeB, [1, 8, 8, 3]);
    // Luma of (0, 50, 50) is 35; scaled to [-1, 1] over 64 pixels.
    assert.ok(Math.abs(b0.sumA - 64 * (35 / 127.5 - 1)) < 1e-3);
  });

test('clear errors for bad options, folders and oversized files',
  async () => {
    const root = dataset('errors', { 'trainA/a.png': await png(60, 50,
      [0, 0, 0]), 'trainB/bad.png': Buffer.alloc(0) });
    await assert.rejects(UnalignedDataset.open({ dataroot: root, ...quiet }),
      /no usable images in .*trainB \(1 file\(s\) skipped/);
    await assert.rejects(UnalignedDataset.open({ dataroot: root,
      phase: 'test', ...quiet }), /image folder .*test[AB] does not exist/);
    await assert.rejects(UnalignedDataset.open({ dataroot: root,
      cropSize: 300, ...quiet }), /cropSize 300 is larger than loadSize 286/);
    await assert.rejects(UnalignedDataset.open({ dataroot: root,
      preprocess: 'resize' as 'none', ...quiet }),
    /preprocess 'resize' is not one of resize_and_crop, crop/);
    await assert.rejects(UnalignedDataset.open({ dataroot: root,
      inputNc: 4, ...quiet }), /inputNc must be 1 or 3, got 4/);
    fs.writeFileSync(path.join(root, 'trainB', 'bad.png'),
      await png(60, 50, [1, 1, 1]));
    fs.writeFileSync(path.join(root, 'trainB', 'big.png'),
      await png(100, 100, [1, 1, 1]));
    const ds = await UnalignedDataset.open({ dataroot: root,
      maxPixels: 5000, ...quiet });
    assert.deepEqual(ds.skipped.map((s) => [path.basename(s.path),
      s.reason]), [['big.png', '100x100 = 10,000 pixels exceeds the limit ' +
      'of 5,000 (maxPixels)']]);
    await assert.rejects(UnalignedDataset.open({ dataroot: root,
      preprocess: 'none', batchSize: 2, ...quiet }),
    /batchSize 2 needs one image size/);
  });

test('prefetch decodes ahead; tensors are all released', async () => {
  const root = dataset('prefetch', { ...await numbered('trainA', 8, 16),
    ...await numbered('trainB', 8, 16) });
  const ds = await UnalignedDataset.open({ dataroot: root, loadSize: 16,
    cropSize: 16, prefetch: 3, ...quiet });
  const start = tf.memory().numTensors;
  assert.equal(start, 0, 'earlier tests released everything');
  let seenAfterPause = 0;
  for await (const b of ds.batches(1)) {
    tf.dispose([b.realA, b.realB]);
    if (seenAfterPause === 0) {
      // Training on the first batch: the loader keeps decoding meanwhile.
      await new Promise((r) => setTimeout(r, 300));
      seenAfterPause = ds.stats.batchesDecoded;
    }
  }
  assert.equal(seenAfterPause, 4, 'batch 1 plus 3 prefetched');
  assert.equal(ds.stats.batchesDecoded, 8);
  // Leaving an epoch early leaks nothing either.
  for await (const b of ds.batches(2)) {
    tf.dispose([b.realA, b.realB]);
    break;
  }
  await collect(ds, 3);
  assert.equal(tf.memory().numTensors, start);
});
