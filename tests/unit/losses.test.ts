import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import {
  LOSS_NAMES, checkIdentityChannels, cycleLoss, discriminatorLoss,
  ganLoss, gradientPenalty, identityLoss,
} from '../../lib/losses';

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

const near = (got: number, want: number, tol = 1e-6) =>
  assert.ok(Math.abs(got - want) <= tol, `got ${got}, want ${want}`);
const value = (t: tf.Tensor) => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

/** A 1×1 conv on 3 channels computing x + shift exactly. */
function shiftModel(shift: number): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.conv2d({
    inputShape: [null, null, 3], filters: 3, kernelSize: 1,
  })] });
  model.setWeights([tf.eye(3).reshape([1, 1, 3, 3]), tf.fill([3], shift)]);
  return model;
}

test('loss names are the official ones, in the official order', () => {
  assert.deepEqual([...LOSS_NAMES], ['D_A', 'G_A', 'cycle_A', 'idt_A',
    'D_B', 'G_B', 'cycle_B', 'idt_B']);
});

test('lsgan is the mean squared distance to 1 (real) or 0 (fake)', () => {
  const pred = tf.tensor4d([0.5, 1, 0, 2], [1, 2, 2, 1]);
  near(value(ganLoss(pred, true, 'lsgan')), (0.25 + 0 + 1 + 1) / 4);
  near(value(ganLoss(pred, false, 'lsgan')), (0.25 + 1 + 0 + 4) / 4);
  pred.dispose();
});

test('vanilla is binary cross-entropy on logits, finite at ±100', () => {
  const logits = [0, 2, -3, 100, -100];
  const pred = tf.tensor4d(logits, [1, 1, 5, 1]);
  // −log σ(x) = log(1 + e^−x), −log(1 − σ(x)) = log(1 + e^x); written
  // with Math.log1p in double precision, large |x| taken as exact.
  const softplus = (z: number) => z > 30 ? z : Math.log1p(Math.exp(z));
  const bce = (t: number) => logits.reduce((s, x) =>
    s + softplus(t === 1 ? -x : x), 0) / logits.length;
  near(value(ganLoss(pred, true, 'vanilla')), bce(1), 1e-4);
  near(value(ganLoss(pred, false, 'vanilla')), bce(0), 1e-4);
  // log 2 for a logit of 0, whichever the target.
  const zero = tf.zeros([1, 2, 2, 1]);
  near(value(ganLoss(zero, true, 'vanilla')), Math.LN2);
  zero.dispose();
  pred.dispose();
});

test('wgangp is −mean for real and +mean for fake', () => {
  const pred = tf.tensor4d([1, 2, 3, 6], [1, 2, 2, 1]);
  near(value(ganLoss(pred, true, 'wgangp')), -3);
  near(value(ganLoss(pred, false, 'wgangp')), 3);
  pred.dispose();
  assert.throws(() => ganLoss(pred, true, 'hinge' as never), /lsgan/);
});

test('identity loss of a generator adding 0.1 is 10 · 0.5 · 0.1 = 0.5', () => {
  const generator = shiftModel(0.1);
  const realB = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 7);
  const idt = generator.apply(realB, { training: true }) as tf.Tensor;
  near(value(identityLoss(idt, realB, 10, 0.5)), 0.5, 1e-6);
  tf.dispose([realB, idt]);
  generator.dispose();
});

test('cycle loss is λ times the mean absolute error', () => {
  const real = tf.randomUniform([1, 4, 4, 3], -1, 1, 'float32', 3);
  const rec = tf.sub(real, 0.2);
  near(value(cycleLoss(rec, real, 10)), 2, 1e-5);
  tf.dispose([real, rec]);
});

test('the discriminator loss is halved (paper Sec. 7.1)', () => {
  const ones = tf.ones([1, 3, 3, 1]);
  // Real judged 1 (loss 0), fake judged 1 (loss 1): (0 + 1) / 2.
  near(value(discriminatorLoss(ones, ones, 'lsgan')), 0.5);
  ones.dispose();
});

test('gradient penalty and its gradient for a linear critic', () => {
  // D(x) = Σ w·x per pixel (1×1 conv): ∇x D = w at every pixel, so the
  // per-image norm is √(H·W)·|w| whatever α is.
  const critic = tf.sequential({ layers: [tf.layers.conv2d({
    inputShape: [2, 2, 3], filters: 1, kernelSize: 1, useBias: false,
  })] });
  const w = [0.5, 0.5, 0.5];
  critic.setWeights([tf.tensor4d(w, [1, 1, 3, 1])]);
  const image = (seed: number) => tf.randomUniform([2, 2, 2, 3], -1, 1,
    'float32', seed) as tf.Tensor4D;
  const real = image(1);
  const fake = image(2);
  const alpha = tf.tensor1d([0.25, 0.9]);
  const apply = (x: tf.Tensor4D) => critic.apply(x) as tf.Tensor;
  const normW = Math.sqrt(0.75);
  const norm = 2 * normW;
  near(value(gradientPenalty(apply, real, fake, alpha)),
    10 * (norm - 1) ** 2, 1e-4);

  // d/dw of 10·(2|w| − 1)² = 40·(2|w| − 1)·w/|w| (second-order path).
  const kernel = critic.trainableWeights[0].read() as tf.Variable;
  const { value: v, grads } = tf.variableGrads(
    () => gradientPenalty(apply, real, fake, alpha), [kernel]);
  const g = grads[kernel.name].dataSync();
  const want = 40 * (norm - 1) * 0.5 / normW;
  for (const gi of g) near(gi, want, 1e-3);
  tf.dispose([v, real, fake, alpha, ...Object.values(grads)]);
  critic.dispose();
});

test('identity loss is refused when channel counts differ', () => {
  assert.throws(() => checkIdentityChannels(1, 3, 0.5),
    /lambdaIdentity 0.5 needs inputNc == outputNc \(got inputNc 1, outputNc 3/);
  assert.doesNotThrow(() => checkIdentityChannels(1, 3, 0));
  assert.doesNotThrow(() => checkIdentityChannels(3, 3, 0.5));
});

test('losses leave no tensors behind', () => {
  const before = tf.memory().numTensors;
  const a = tf.ones([1, 4, 4, 3]);
  const b = tf.zeros([1, 4, 4, 3]);
  for (const mode of ['lsgan', 'vanilla', 'wgangp'] as const) {
    ganLoss(a, true, mode).dispose();
    discriminatorLoss(a, b, mode).dispose();
  }
  cycleLoss(a, b, 10).dispose();
  identityLoss(a, b, 10, 0.5).dispose();
  tf.dispose([a, b]);
  assert.equal(tf.memory().numTensors, before);
});
