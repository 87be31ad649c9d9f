import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { FlatAdam } from '../../lib/adam';

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** Three variables of different ranks with fixed values. */
function variables(tag: string): tf.Variable[] {
  return tf.tidy(() => [
    tf.variable(tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 1), true,
      `${tag}/kernel`),
    tf.variable(tf.randomNormal([4], 0, 1, 'float32', 2), true,
      `${tag}/bias`),
    tf.variable(tf.randomNormal([5, 2], 0, 1, 'float32', 3), true,
      `${tag}/dense`),
  ]);
}

/** A loss with different curvature per variable; its gradients. */
function gradients(vars: tf.Variable[], step: number): tf.Tensor[] {
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(() => tf.addN(vars.map((v, i) =>
      tf.sum(tf.mul(tf.square(tf.sub(v, step * 0.1)), i + 1)))) as tf.Scalar,
    vars);
    return vars.map((v) => tf.keep(grads[v.name]));
  });
}

test('FlatAdam: same updates and saved state as tf.train.adam', async () => {
  const ours = variables('flat');
  const theirs = variables('tfjs');
  const flat = new FlatAdam(0.01, 0.5, 0.999, 1e-8);
  const ref = tf.train.adam(0.01, 0.5, 0.999, 1e-8);
  for (let step = 0; step < 4; step++) {
    if (step === 2) {
      flat.learningRate = 0.003;
      (ref as unknown as { learningRate: number }).learningRate = 0.003;
    }
    const g1 = gradients(ours, step);
    const g2 = gradients(theirs, step);
    flat.applyGradients(ours, g1);
    ref.applyGradients(theirs.map((v, i) => ({ name: v.name,
      tensor: g2[i] })));
    tf.dispose([...g1, ...g2]);
  }
  assert.equal(flat.iterations, 4);
  ours.forEach((v, i) => {
    assert.ok(maxAbsDiff(v, theirs[i]) < 1e-6, `${v.name}`);
    assert.deepEqual(v.shape, theirs[i].shape);
  });
  // The weights moved: 4 steps of about lr each.
  const start = variables('start');
  assert.ok(maxAbsDiff(ours[0], start[0]) > 0.01);
  // Saved state: the layout of tf.train.adam's getWeights, same values.
  const mine = await flat.getWeights();
  const tfjs = await ref.getWeights();
  assert.deepEqual(mine.map((w) => w.name), ['iter', 'flat/kernel/m',
    'flat/bias/m', 'flat/dense/m', 'flat/kernel/v', 'flat/bias/v',
    'flat/dense/v']);
  assert.deepEqual(mine.map((w) => w.tensor.shape),
    tfjs.map((w) => w.tensor.shape));
  assert.equal(mine[0].tensor.dataSync()[0], 4);
  for (let i = 1; i < mine.length; i++) {
    assert.ok(maxAbsDiff(mine[i].tensor, tfjs[i].tensor) < 1e-6,
      mine[i].name);
  }
  tf.dispose([...mine.map((w) => w.tensor), tfjs[0].tensor, ...start]);
  ref.dispose();
  flat.dispose();
  tf.dispose([...ours, ...theirs]);
});

test('FlatAdam: a restored state continues as the original, from its ' +
  'own or tfjs\'s saved layout; no tensor left per step', async () => {
  const a = variables('a');
  const b = variables('b');
  const c = variables('c');
  const straight = new FlatAdam(0.02, 0.5, 0.999, 1e-8);
  const ref = tf.train.adam(0.02, 0.5, 0.999, 1e-8);
  for (let step = 0; step < 2; step++) {
    const g = gradients(a, step);
    straight.applyGradients(a, g);
    const gc = gradients(c, step);
    ref.applyGradients(c.map((v, i) => ({ name: v.name, tensor: gc[i] })));
    tf.dispose([...g, ...gc]);
  }
  // b takes a's weights and state; c's state comes from tf.train.adam.
  b.forEach((v, i) => v.assign(a[i]));
  const saved = await straight.getWeights();
  const restored = new FlatAdam(0.02, 0.5, 0.999, 1e-8);
  await restored.setWeights(saved);
  tf.dispose(saved.map((w) => w.tensor));
  const fromTfjs = new FlatAdam(0.02, 0.5, 0.999, 1e-8);
  const tfjsState = await ref.getWeights();
  await fromTfjs.setWeights(tfjsState);
  tfjsState[0].tensor.dispose();
  assert.equal(restored.iterations, 2);
  const count = tf.memory().numTensors;
  for (let step = 2; step < 5; step++) {
    for (const [opt, vars] of [[straight, a], [restored, b],
      [fromTfjs, c]] as const) {
      const g = gradients(vars, step);
      opt.applyGradients(vars, g);
      tf.dispose(g);
    }
    assert.equal(tf.memory().numTensors, count, `step ${step}`);
  }
  a.forEach((v, i) => {
    assert.ok(maxAbsDiff(v, b[i]) < 1e-7, v.name);
    assert.ok(maxAbsDiff(v, c[i]) < 1e-6, v.name);
  });
  [straight, restored, fromTfjs].forEach((o) => o.dispose());
  ref.dispose();
  tf.dispose([...a, ...b, ...c]);
});

test('FlatAdam: refuses other variables, a missing gradient and a bad ' +
  'saved state, naming them', async () => {
  const vars = variables('x');
  const opt = new FlatAdam(0.01, 0.5, 0.999, 1e-8);
  const g = gradients(vars, 0);
  opt.applyGradients(vars, g);
  assert.throws(() => opt.applyGradients(vars.slice(1), g.slice(1)),
    /called with 2 variables \(first 'x\/bias'\), but its state holds 3/);
  assert.throws(() => opt.applyGradients(vars, g.slice(1)),
    /one gradient per variable, got 2 gradients for 3 variables/);
  assert.throws(() => opt.applyGradients(vars, [g[0], g[2], g[1]]),
    /gradient of 'x\/bias' has shape \[5,2\], expected \[4\]/);
  const reshaped = tf.reshape(g[1], [2, 2]);
  assert.throws(() => opt.applyGradients(vars, [g[0], reshaped, g[2]]),
    /gradient of 'x\/bias' has shape \[2,2\], expected \[4\]/);
  assert.throws(() => opt.applyGradients(vars,
    [g[0], undefined as unknown as tf.Tensor, g[2]]),
  /no gradient for 'x\/bias'/);
  // A restored state names what does not fit the networks.
  const saved = await opt.getWeights();
  const restored = new FlatAdam(0.01, 0.5, 0.999, 1e-8);
  await restored.setWeights(saved);
  assert.equal(restored.mismatch(vars), undefined);
  assert.match(restored.mismatch(vars.slice(1)) ?? '', new RegExp(
    'holds moments for 3 weight tensors, the networks have 2; the first ' +
    "difference is at tensor 0: saved 'x/kernel' \\[3,3,2,4\\], " +
    "network 'x/bias' \\[4\\]"));
  assert.equal(new FlatAdam(0.01, 0.5, 0.999, 1e-8).mismatch(vars),
    undefined);
  restored.dispose();
  tf.dispose([reshaped, ...saved.map((w) => w.tensor)]);
  const scalar = tf.scalar(1, 'int32');
  await assert.rejects(opt.setWeights([{ name: 'm', tensor: scalar }]),
    /expected an 'iter' scalar first, got 'm'/);
  await assert.rejects(opt.setWeights([{ name: 'iter', tensor: scalar },
    { name: 'k/m', tensor: g[1] }, { name: 'k/v', tensor: g[2] }]),
  /moment 0 is 'k\/m' \[4\] with 'k\/v' \[5,2\]/);
  tf.dispose([...g, scalar, ...vars]);
  opt.dispose();
});
