import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { ImagePool } from '../../lib/pool';
import { Rng } from '../../lib/rng';

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

/** A batch of `values.length` 2×2×3 images, image i filled with values[i]. */
const batch = (values: number[]) => tf.tidy(() => tf.concat(
  values.map((v) => tf.fill([1, 2, 2, 3], v)), 0)) as tf.Tensor4D;

/** The fill value of each image of a batch. */
const ids = (t: tf.Tensor4D) => {
  const data = t.dataSync();
  const per = data.length / t.shape[0];
  return Array.from({ length: t.shape[0] }, (_, i) => data[i * per]);
};

test('pool size 0 passes every batch through unchanged', () => {
  const pool = new ImagePool(0, new Rng(1));
  const input = batch([3, 4]);
  const out = pool.query(input);
  assert.deepEqual(ids(out), [3, 4]);
  assert.equal(pool.size, 0);
  tf.dispose([input, out]);
});

test('the first 50 queries store and return their input (F9)', () => {
  const pool = new ImagePool(50, new Rng(1));
  for (let i = 0; i < 50; i++) {
    const input = batch([i]);
    const out = pool.query(input);
    assert.deepEqual(ids(out), [i]);
    assert.equal(pool.size, i + 1);
    tf.dispose([input, out]);
  }
  const stored = pool.state().images.map((t) => ids(t)[0]);
  assert.deepEqual(stored, Array.from({ length: 50 }, (_, i) => i));
  pool.dispose();
});

test('a full pool swaps with p = 1/2, exactly as its generator says', () => {
  const pool = new ImagePool(50, new Rng('pool'));
  const shadow = new Rng('pool');
  const model: number[] = [];
  let swaps = 0;
  for (let i = 0; i < 1000; i++) {
    const input = batch([i]);
    const out = pool.query(input);
    const got = ids(out)[0];
    let want = i;
    if (model.length < 50) {
      model.push(i);
    } else if (shadow.next() > 0.5) {
      const slot = shadow.int(50);
      want = model[slot];
      model[slot] = i;
      swaps++;
    }
    assert.equal(got, want, `query ${i}`);
    tf.dispose([input, out]);
  }
  // 950 queries after filling: about half return an old image.
  assert.ok(swaps > 950 * 0.45 && swaps < 950 * 0.55, `swaps ${swaps}`);
  assert.deepEqual(pool.state().images.map((t) => ids(t)[0]), model);
  pool.dispose();
});

test('a batch is handled image by image', () => {
  const pool = new ImagePool(3, new Rng(5));
  const first = batch([1, 2]);
  const out = pool.query(first);
  assert.deepEqual(ids(out), [1, 2]);
  const second = batch([3, 4, 5, 6]);
  const out2 = pool.query(second);
  const mixed = ids(out2);
  // Image 3 fills the last slot; 4, 5, 6 are each new or an old one.
  assert.equal(mixed[0], 3);
  assert.equal(mixed.length, 4);
  for (const v of mixed.slice(1)) assert.ok([1, 2, 3, 4, 5, 6].includes(v));
  pool.dispose();
  tf.dispose([first, second, out, out2]);
});

test('stored images survive tf.tidy and nothing leaks (F9, F15)', () => {
  const pool = new ImagePool(5, new Rng(2));
  const start = tf.memory().numTensors;
  for (let i = 0; i < 200; i++) {
    tf.tidy(() => {
      const out = pool.query(batch([i]));
      return tf.mean(out);
    }).dispose();
  }
  // Only the 5 stored images remain, and they are readable.
  assert.equal(tf.memory().numTensors, start + 5);
  const values = pool.state().images.map((t) => ids(t)[0]);
  assert.equal(values.length, 5);
  for (const v of values) assert.ok(v >= 0 && v < 200);
  pool.dispose();
  assert.equal(tf.memory().numTensors, start);
});

test('a restored pool continues exactly as the original', () => {
  const a = new ImagePool(4, new Rng(9));
  for (let i = 0; i < 10; i++) {
    tf.tidy(() => { a.query(batch([i])); });
  }
  const b = ImagePool.restore(a.state());
  for (let i = 10; i < 40; i++) {
    tf.tidy(() => {
      const x = batch([i]);
      assert.deepEqual(ids(b.query(x)), ids(a.query(x)));
    });
  }
  a.dispose();
  b.dispose();
  assert.throws(() => new ImagePool(-1, new Rng(0)), /poolSize/);
});
