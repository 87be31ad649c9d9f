import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import {
  CropLike, Crop2d, InstanceNorm, Pad2d, PadToMultiple, instanceNorm, pad2d,
  padToMultipleAmounts, reflectAxis,
} from '../../lib/layers';

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

/** A 1×H×W×1 tensor from a 2-D array. */
const image = (rows: number[][]): tf.Tensor4D =>
  tf.tensor4d(rows.flat(), [1, rows.length, rows[0].length, 1]);

/** The H×W values of channel 0 of image 0. */
const rowsOf = (t: tf.Tensor): number[][] =>
  (t.squeeze([0, 3]).arraySync() as number[][]);

/** Gradient of sum(f(x)) with respect to x, as rows. */
function sumGradient(x: tf.Tensor4D,
  f: (x: tf.Tensor4D) => tf.Tensor): number[][] {
  return tf.tidy(() => rowsOf(tf.grad((v: tf.Tensor) =>
    tf.sum(f(v as tf.Tensor4D)))(x)));
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

const grid3 = [[1, 2, 3], [4, 5, 6], [7, 8, 9]];

test('reflection pad: gradient of the sum over a 3x3 padded by 1', () => {
  const x = image(grid3);
  const layer = new Pad2d({ padding: 1, mode: 'reflect' });
  const grad = sumGradient(x, (v) => layer.apply(v) as tf.Tensor);
  // Each border pixel mirrors an inner one: the edge centres are copied
  // twice more (3), the centre is copied by all 8 neighbours (9).
  assert.deepEqual(grad, [[1, 3, 1], [3, 9, 3], [1, 3, 1]]);
  x.dispose();
});

test('reflection pad: values equal tf.mirrorPad reflect (forward)', () => {
  tf.tidy(() => {
    const x = tf.randomUniform([2, 5, 6, 3], -1, 1, 'float32', 7) as
      tf.Tensor4D;
    const ours = pad2d(x, [2, 1, 3, 0], 'reflect');
    const theirs = tf.mirrorPad(x, [[0, 0], [2, 1], [3, 0], [0, 0]],
      'reflect');
    assert.deepEqual(ours.shape, [2, 8, 9, 3]);
    assert.equal(maxAbsDiff(ours, theirs), 0);
  });
});

test('reflection pad: a 1-D row [a b c d] padded by 2 is [c b a b c d c b]',
  () => {
    const y = tf.tidy(() => rowsOf(pad2d(image([[1, 2, 3, 4]]),
      [0, 0, 2, 2], 'reflect')));
    assert.deepEqual(y, [[3, 2, 1, 2, 3, 4, 3, 2]]);
  });

test('reflection pad wider than the image repeats the reflection', () => {
  // numpy.pad([1, 2, 3], 5, 'reflect'): the row is periodic with period
  // 2·(3 − 1) = 4 around the original.
  const row = tf.tidy(() => rowsOf(pad2d(image([[1, 2, 3]]), [0, 0, 5, 5],
    'reflect'))[0]);
  const period = [1, 2, 3, 2];
  const want = Array.from({ length: 13 }, (_, i) =>
    period[(((i - 5) % 4) + 4) % 4]);
  assert.deepEqual(row, want);
  assert.deepEqual(row, [2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2]);
});

test('reflection pad of a single pixel replicates it', () => {
  const y = tf.tidy(() => rowsOf(pad2d(image([[5]]), [1, 2, 0, 1],
    'reflect')));
  assert.deepEqual(y, [[5, 5], [5, 5], [5, 5], [5, 5]]);
});

test('replicate pad: values and gradient of the sum', () => {
  const x = image(grid3);
  const layer = new Pad2d({ padding: [1, 0, 0, 2], mode: 'replicate' });
  const y = tf.tidy(() => rowsOf(layer.apply(x) as tf.Tensor));
  assert.deepEqual(y, [[1, 2, 3, 3, 3], [1, 2, 3, 3, 3], [4, 5, 6, 6, 6],
    [7, 8, 9, 9, 9]]);
  const grad = sumGradient(x, (v) => new Pad2d({ padding: 1,
    mode: 'replicate' }).apply(v) as tf.Tensor);
  // Corners feed 4 outputs, edge centres 2, the centre 1.
  assert.deepEqual(grad, [[4, 2, 4], [2, 1, 2], [4, 2, 4]]);
  x.dispose();
});

test('zero pad: zeros around, gradient of the sum all ones', () => {
  const x = image(grid3);
  const layer = new Pad2d({ padding: [0, 1, 1, 0], mode: 'zero' });
  const y = tf.tidy(() => rowsOf(layer.apply(x) as tf.Tensor));
  assert.deepEqual(y, [[0, 1, 2, 3], [0, 4, 5, 6], [0, 7, 8, 9],
    [0, 0, 0, 0]]);
  assert.deepEqual(sumGradient(x, (v) => layer.apply(v) as tf.Tensor),
    [[1, 1, 1], [1, 1, 1], [1, 1, 1]]);
  x.dispose();
});

test('Pad2d rejects a bad padding or mode, naming it', () => {
  assert.throws(() => new Pad2d({ padding: [1, 2] as never }),
    /padding: expected \[top, bottom, left, right\]/);
  assert.throws(() => new Pad2d({ padding: 1, mode: 'wrap' as never }),
    /mode must be reflect, replicate or zero, got 'wrap'/);
});

test('Pad2d output shape keeps unknown sizes unknown', () => {
  const layer = new Pad2d({ padding: [1, 2, 3, 4] });
  assert.deepEqual(layer.computeOutputShape([null, null, 10, 3]),
    [null, null, 17, 3]);
  const sym = tf.input({ shape: [null, null, 3] });
  assert.deepEqual((layer.apply(sym) as tf.SymbolicTensor).shape,
    [null, null, null, 3]);
});

test('instance norm: a flat (constant) image gives finite output and ' +
  'gradients', () => {
  tf.tidy(() => {
    const x = tf.fill([1, 4, 4, 2], 1) as tf.Tensor4D;
    const layer = new InstanceNorm();
    const y = layer.apply(x) as tf.Tensor;
    const g = tf.grad((v: tf.Tensor) =>
      tf.sum(tf.square(layer.apply(v) as tf.Tensor)))(x);
    // An odd constant whose mean is inexact in float32.
    const z = layer.apply(tf.fill([1, 3, 5, 1], 0.7)) as tf.Tensor;
    for (const t of [y, g, z]) {
      assert.ok(t.dataSync().every(Number.isFinite));
    }
    assert.ok(tf.max(tf.abs(y)).dataSync()[0] === 0);
    assert.ok(tf.max(tf.abs(z)).dataSync()[0] < 1e-2);
  });
});

test('instance norm: (x - mean) / sqrt(var + 1e-5) per image and channel',
  () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 4, 2], 0.5, 2, 'float32', 3) as
        tf.Tensor4D;
      const y = new InstanceNorm().apply(x) as tf.Tensor4D;
      const xs = x.arraySync();
      const ys = y.arraySync();
      for (let n = 0; n < 2; n++) {
        for (let c = 0; c < 2; c++) {
          const v = xs[n].flat().map((p) => p[c]);
          const mean = v.reduce((a, b) => a + b, 0) / v.length;
          const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) /
            v.length;
          const want = v.map((p) => (p - mean) / Math.sqrt(variance + 1e-5));
          const got = ys[n].flat().map((p) => p[c]);
          got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-5,
            `n${n} c${c} pixel ${i}: ${g} vs ${want[i]}`));
        }
      }
    });
  });

test('instance norm: the 1e-5 sits inside the square root', () => {
  // Variance 1e-6: (x - mean) / sqrt(1e-6 + 1e-5) = ±1e-3 / 3.3166e-3.
  const y = tf.tidy(() => (new InstanceNorm().apply(
    tf.tensor4d([-1e-3, 1e-3], [1, 1, 2, 1])) as tf.Tensor).dataSync());
  const want = 1e-3 / Math.sqrt(1e-6 + 1e-5);
  assert.ok(Math.abs(y[1] - want) < 1e-4, `${y[1]} vs ${want}`);
  assert.ok(Math.abs(y[0] + want) < 1e-4);
});

test('instance norm: training equals inference, batch of 1 equals batch ' +
  'of 2', () => {
  tf.tidy(() => {
    const a = tf.randomNormal([1, 5, 6, 3], 0, 1, 'float32', 1);
    const b = tf.randomNormal([1, 5, 6, 3], 3, 5, 'float32', 2);
    const layer = new InstanceNorm();
    const train = layer.apply(a, { training: true }) as tf.Tensor;
    const infer = layer.apply(a, { training: false }) as tf.Tensor;
    const both = layer.apply(tf.concat([a, b], 0)) as tf.Tensor;
    const alone = layer.apply(b) as tf.Tensor;
    assert.ok(maxAbsDiff(train, infer) <= 1e-5);
    assert.ok(maxAbsDiff(tf.slice(both, [0], [1]), train) <= 1e-5);
    assert.ok(maxAbsDiff(tf.slice(both, [1], [1]), alone) <= 1e-5);
  });
});

test('instance norm: no weights by default; affine adds gamma and beta', () => {
  const plain = new InstanceNorm();
  plain.apply(tf.input({ shape: [null, null, 4] }));
  assert.equal(plain.weights.length, 0);
  const affine = new InstanceNorm({ affine: true });
  affine.apply(tf.input({ shape: [null, null, 4] }));
  assert.deepEqual(affine.trainableWeights.map((w) => w.shape),
    [[4], [4]]);
  tf.tidy(() => {
    affine.setWeights([tf.tensor1d([2, 2, 2, 2]), tf.tensor1d([1, 1, 1, 1])]);
    const x = tf.randomNormal([1, 3, 3, 4], 0, 1, 'float32', 5);
    const y = affine.apply(x) as tf.Tensor;
    const want = tf.add(tf.mul(plain.apply(x) as tf.Tensor, 2), 1);
    assert.ok(maxAbsDiff(y, want) < 1e-5);
  });
});

test('padToMultipleAmounts centres the image, odd pixel at the end', () => {
  assert.deepEqual(padToMultipleAmounts(33, 4, 8), [1, 2]);
  assert.deepEqual(padToMultipleAmounts(36, 4, 8), [0, 0]);
  assert.deepEqual(padToMultipleAmounts(1, 4, 8), [3, 4]);
  assert.deepEqual(padToMultipleAmounts(35, 256, 256), [110, 111]);
  assert.deepEqual(padToMultipleAmounts(257, 128, 128), [63, 64]);
});

test('PadToMultiple then CropLike gives the input back exactly', () => {
  tf.tidy(() => {
    const x = tf.randomUniform([2, 33, 35, 3], -1, 1, 'float32', 9);
    const padded = new PadToMultiple({ multiple: 4, minSize: 8 }).apply(x) as
      tf.Tensor;
    assert.deepEqual(padded.shape, [2, 36, 36, 3]);
    const back = new CropLike().apply([padded, x]) as tf.Tensor;
    assert.deepEqual(back.shape, [2, 33, 35, 3]);
    assert.equal(maxAbsDiff(back, x), 0);
    const tiny = tf.ones([1, 1, 1, 3]);
    const big = new PadToMultiple({ multiple: 4, minSize: 8 }).apply(tiny) as
      tf.Tensor;
    assert.deepEqual(big.shape, [1, 8, 8, 3]);
  });
});

test('Crop2d trims fixed borders and refuses to crop everything', () => {
  tf.tidy(() => {
    const x = image([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    const y = new Crop2d({ cropping: [1, 0, 0, 1] }).apply(x) as tf.Tensor;
    assert.deepEqual(rowsOf(y), [[4, 5], [7, 8]]);
    assert.throws(() => new Crop2d({ cropping: [2, 1, 0, 0] }).apply(x),
      /cannot crop \[2,1,0,0\] from a 3x3 image/);
  });
});

test('every layer survives a config round trip', () => {
  const layers: tf.layers.Layer[] = [
    new Pad2d({ padding: [1, 2, 3, 4], mode: 'replicate' }),
    new Crop2d({ cropping: [1, 0, 1, 0] }),
    new PadToMultiple({ multiple: 256, minSize: 256, mode: 'reflect' }),
    new CropLike(),
    new InstanceNorm({ epsilon: 1e-3, affine: true }),
  ];
  for (const layer of layers) {
    // What tf.loadLayersModel looks up by the saved class name.
    const entry = tf.serialization.SerializationMap.getMap()
      .classNameMap[layer.getClassName()];
    assert.ok(entry, `${layer.getClassName()} is registered`);
    const [cls, fromConfig] = entry;
    const again = fromConfig(cls, layer.getConfig()) as tf.layers.Layer;
    assert.deepEqual(again.getConfig(), layer.getConfig());
  }
});

test('the layers leak no tensors', () => {
  const x = tf.randomUniform([1, 7, 9, 2]);
  const layers = [new Pad2d({ padding: 9 }), new InstanceNorm({ affine: true }),
    new PadToMultiple({ multiple: 8 })];
  const run = () => tf.tidy(() => {
    for (const layer of layers) {
      tf.grad((v: tf.Tensor) => tf.sum(layer.apply(v) as tf.Tensor))(x);
    }
  });
  run();
  const before = tf.memory().numTensors;
  run();
  run();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});

// The fast paths (one mirror-pad kernel, the closed-form instance-norm
// backward) against the op-by-op compositions autodiff differentiates.

/** Reflection by slice/reverse/concat along height, then width. */
const reflectOpByOp = (x: tf.Tensor4D, [t, b, l, r]: number[]) =>
  reflectAxis(reflectAxis(x, 1, t, b), 2, l, r);

/** Instance norm as plain ops: (x − μ) / √(σ² + ε). */
function instanceNormOpByOp(x: tf.Tensor4D, epsilon: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, [1, 2], true);
  return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
}

/**
 * Gradient of L = sum((f(x) + f(x)²)·u), u random, and the second-order
 * gradient of sum((∇ₓL)²) that a gradient penalty needs (the square
 * makes ∇ₓL depend on x even where f is linear).
 */
function firstAndSecond(x: tf.Tensor4D, f: (x: tf.Tensor4D) => tf.Tensor,
  seed: number): [tf.Tensor, tf.Tensor] {
  const u = tf.randomUniform(f(x).shape, -1, 1, 'float32', seed);
  const first = (v: tf.Tensor) => tf.grad((w: tf.Tensor) =>
    tf.sum(tf.mul(tf.add(f(w as tf.Tensor4D), tf.square(f(w as
      tf.Tensor4D))), u)))(v);
  const second = tf.grad((v: tf.Tensor) => tf.sum(tf.square(first(v))))(x);
  return [first(x), second];
}

test('reflection pad: mirror-pad gradient equals the op-by-op one, ' +
  'first and second order', () => {
  tf.tidy(() => {
    const x = tf.randomUniform([2, 5, 6, 3], -1, 1, 'float32', 3) as
      tf.Tensor4D;
    // Up to side − 1 (the widest one reflection covers), one-sided, none.
    for (const sides of [[1, 1, 1, 1], [2, 1, 3, 0], [4, 4, 5, 5],
      [0, 3, 0, 0]] as [number, number, number, number][]) {
      const [fast1, fast2] = firstAndSecond(x,
        (v) => pad2d(v, sides, 'reflect'), 11);
      const [ref1, ref2] = firstAndSecond(x,
        (v) => reflectOpByOp(v, sides), 11);
      // Sums of up to 4 float32 terms of size ~100: relative tolerance.
      const scale2 = tf.max(tf.abs(ref2)).dataSync()[0];
      assert.ok(maxAbsDiff(fast1, ref1) < 1e-5, `first order, ${sides}`);
      assert.ok(maxAbsDiff(fast2, ref2) < 1e-5 * Math.max(1, scale2),
        `second order, ${sides}: ${maxAbsDiff(fast2, ref2)} of ${scale2}`);
      // A border row copies up to two inner rows: gradients reach 4·|u|.
      assert.ok(tf.max(tf.abs(fast1)).dataSync()[0] > 1);
    }
  });
});

test('instance norm: closed-form gradient equals the op-by-op one, ' +
  'first and second order', () => {
  tf.tidy(() => {
    const x = tf.add(tf.mul(tf.randomNormal([2, 5, 4, 3], 0, 1, 'float32',
      5), 2), 0.5) as tf.Tensor4D;
    const [fast1, fast2] = firstAndSecond(x, (v) => instanceNorm(v, 1e-5),
      13);
    const [ref1, ref2] = firstAndSecond(x,
      (v) => instanceNormOpByOp(v, 1e-5), 13);
    const scale1 = tf.max(tf.abs(ref1)).dataSync()[0];
    const scale2 = tf.max(tf.abs(ref2)).dataSync()[0];
    assert.ok(scale1 > 0.1 && scale2 > 0.01, `${scale1} ${scale2}`);
    assert.ok(maxAbsDiff(fast1, ref1) < 1e-5 * Math.max(1, scale1),
      `first order differs by ${maxAbsDiff(fast1, ref1)}`);
    assert.ok(maxAbsDiff(fast2, ref2) < 1e-5 * Math.max(1, scale2),
      `second order differs by ${maxAbsDiff(fast2, ref2)}`);
  });
});

test('instance norm: affine gradients (x, gamma, beta) equal the ' +
  'op-by-op ones', () => {
  tf.tidy(() => {
    const x = tf.randomNormal([2, 4, 5, 3], 0, 1, 'float32', 8) as
      tf.Tensor4D;
    const u = tf.randomUniform([2, 4, 5, 3], -1, 1, 'float32', 9);
    const gamma = tf.tensor1d([0.5, -1.5, 2]);
    const beta = tf.tensor1d([0.1, 0.2, -0.3]);
    const layer = new InstanceNorm({ affine: true });
    layer.apply(x);
    layer.setWeights([gamma, beta]);
    const loss = (norm: (v: tf.Tensor4D) => tf.Tensor) =>
      (v: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.add(tf.mul(norm(v as tf.Tensor4D), g), b), u));
    const fast = tf.grads(loss((v) => instanceNorm(v, 1e-5)))([x, gamma,
      beta]);
    const ref = tf.grads(loss((v) => instanceNormOpByOp(v, 1e-5)))([x,
      gamma, beta]);
    for (let i = 0; i < 3; i++) {
      assert.ok(maxAbsDiff(fast[i], ref[i]) < 1e-5, `input ${i}`);
    }
    // The layer computes the same function as the reference.
    assert.ok(maxAbsDiff(layer.apply(x) as tf.Tensor, tf.add(tf.mul(
      instanceNormOpByOp(x, 1e-5), gamma), beta)) < 1e-5);
  });
});

/** Kernels run by f, not counting Identity (no work on the native side). */
async function kernelsOf(f: () => void): Promise<string[]> {
  const info = await tf.profile(() => tf.tidy(() => { f(); }));
  return info.kernels.map((k) => k.name).filter((n) => n !== 'Identity');
}

/** Runs f with the fused native kernels switched off (CYCLEGAN_FUSED=0). */
async function composite<T>(f: () => T | Promise<T>): Promise<T> {
  const saved = process.env.CYCLEGAN_FUSED;
  process.env.CYCLEGAN_FUSED = '0';
  try {
    return await f();
  } finally {
    if (saved === undefined) delete process.env.CYCLEGAN_FUSED;
    else process.env.CYCLEGAN_FUSED = saved;
  }
}

test('reflection pad and instance norm: kernel counts forward and ' +
  'backward, fused and composite, no leaks', async () => {
  const x = tf.randomUniform([1, 6, 6, 4], -1, 1, 'float32', 1) as
    tf.Tensor4D;
  const padGrad = () => tf.grad((v: tf.Tensor) =>
    tf.sum(pad2d(v as tf.Tensor4D, [1, 1, 1, 1], 'reflect')))(x);
  const normGrad = () => tf.grad((v: tf.Tensor) =>
    tf.sum(instanceNorm(v as tf.Tensor4D, 1e-5)))(x);
  // Native backend: one MirrorPad forward and one MirrorPadGrad backward;
  // one fused batch-norm kernel each way for the instance norm. Both
  // counts include the sum and its gradient (3) and a scope entry.
  const pad = await kernelsOf(padGrad);
  const norm = await kernelsOf(normGrad);
  assert.deepEqual(pad.filter((n) => n.startsWith('MirrorPad') ||
    n.startsWith('CycleGAN')), ['MirrorPad', 'CycleGANMirrorPadGrad']);
  assert.ok(pad.length <= 8, `${pad.length}: ${pad}`);
  assert.deepEqual(norm.filter((n) => n.startsWith('CycleGAN')),
    ['CycleGANInstanceNorm', 'CycleGANInstanceNormGrad']);
  assert.ok(norm.length <= 8, `${norm.length}: ${norm}`);
  // Composite path (the browser's): reflection 1 MirrorPad and per axis 8
  // (slices, reverses, pads, AddN): 21, where autodiff of the
  // slice/reverse/concat path ran 27; instance norm 9 forward and 9
  // backward: 22, where autodiff ran 49.
  const padJs = await composite(() => kernelsOf(padGrad));
  const normJs = await composite(() => kernelsOf(normGrad));
  assert.equal(padJs.filter((n) => n === 'MirrorPad').length, 1);
  assert.ok(padJs.length <= 22 && padJs.length > pad.length, `${padJs}`);
  assert.ok(normJs.length <= 24 && !normJs.some((n) =>
    n.startsWith('CycleGAN')), `${normJs.length}: ${normJs}`);
  const before = tf.memory().numTensors;
  for (const run of [(f: () => Promise<string[]>) => f(), composite]) {
    await run(() => kernelsOf(() => tf.grad((v: tf.Tensor) =>
      tf.sum(instanceNorm(pad2d(v as tf.Tensor4D, [2, 1, 1, 2], 'reflect'),
        1e-5)))(x)));
    assert.equal(tf.memory().numTensors, before);
  }
  x.dispose();
});

test('fused native kernels give the composite values and gradients, ' +
  'batches of 1 and 3', async () => {
  for (const n of [1, 3]) {
    // Per-channel offsets and spreads, so that the statistics differ.
    const x = tf.tidy(() => tf.add(tf.mul(tf.randomNormal([n, 9, 7, 5], 0,
      1, 'float32', 21), tf.range(1, 6)), tf.range(-2, 3))) as tf.Tensor4D;
    const f = (v: tf.Tensor4D) => tf.tanh(pad2d(instanceNorm(v, 1e-5),
      [3, 2, 1, 3], 'reflect'));
    const run = () => tf.tidy(() => {
      const u = tf.randomUniform([n, 14, 11, 5], -1, 1, 'float32', 22);
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v as tf.Tensor4D),
        u)))(x);
      return [f(x), g];
    });
    const [y, g] = run();
    const [y0, g0] = await composite(run);
    assert.deepEqual(y.shape, [n, 14, 11, 5]);
    assert.ok(maxAbsDiff(y, y0) < 1e-5, `n=${n}: value ${maxAbsDiff(y, y0)}`);
    const scale = tf.tidy(() => tf.max(tf.abs(g0)).dataSync()[0]);
    assert.ok(scale > 0.05, `gradient scale ${scale}`);
    assert.ok(maxAbsDiff(g, g0) < 1e-5 * Math.max(1, scale),
      `n=${n}: gradient ${maxAbsDiff(g, g0)} of ${scale}`);
    // Each image keeps its own statistics: image 0 alone gives the same.
    if (n > 1) {
      const first = tf.tidy(() => instanceNorm(tf.slice(x, [0], [1]), 1e-5));
      const all = tf.tidy(() => tf.slice(instanceNorm(x, 1e-5), [0], [1]));
      assert.ok(maxAbsDiff(first, all) < 1e-6);
      tf.dispose([first, all]);
    }
    tf.dispose([x, y, g, y0, g0]);
  }
});
