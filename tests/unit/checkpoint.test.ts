import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import {
  listEpochCheckpoints, loadCheckpoint, loadNetwork, resolveCheckpoint,
  saveCheckpoint, setModelWeights,
} from '../../lib/checkpoint';
import { tempDirs } from './tmp';

const tmpRoot = tempDirs('ckpt-test-');
before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

function tinyModel(seed: number): tf.LayersModel {
  return tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [4, 4, 2], filters: 3, kernelSize: 3,
      kernelInitializer: tf.initializers.randomNormal({ seed }) }),
    tf.layers.dense({ units: 2,
      kernelInitializer: tf.initializers.randomNormal({ seed: seed + 1 }) }),
  ] });
}

const flat = (ts: tf.Tensor[]) => ts.flatMap((t) => Array.from(t.dataSync()));

test('a checkpoint round-trips networks, tensor groups and state', async () => {
  const root = tmpRoot();
  const model = tinyModel(1);
  const groups = { optimizer: [
    { name: 'iter', tensor: tf.scalar(7, 'int32') },
    { name: 'w/m', tensor: tf.tensor([0.5, -1.5]) },
  ] };
  const dir = await saveCheckpoint(root, 'epoch_3', {
    networks: { generatorAtoB: model }, tensors: groups,
    state: { epoch: 3, best: null, rng: { i: 1, S: [1, 2] } },
  });
  assert.equal(dir, path.join(root, 'epoch_3'));
  assert.deepEqual(fs.readdirSync(root), ['epoch_3']);

  const ck = await loadCheckpoint(root, 'epoch_3');
  assert.deepEqual(ck.state,
    { epoch: 3, best: null, rng: { i: 1, S: [1, 2] } });
  assert.deepEqual(ck.networkNames, ['generatorAtoB']);
  assert.deepEqual(flat(ck.networkWeights.generatorAtoB),
    flat(model.getWeights()));
  const opt = ck.tensors.optimizer;
  assert.deepEqual(opt.map((t) => t.name), ['iter', 'w/m']);
  assert.equal(opt[0].tensor.dtype, 'int32');
  assert.deepEqual(flat(opt.map((t) => t.tensor)), [7, 0.5, -1.5]);

  // Into a fresh model of the same shape; and as a standalone network.
  const other = tinyModel(50);
  setModelWeights(other, ck.networkWeights.generatorAtoB, 'generatorAtoB');
  assert.deepEqual(flat(other.getWeights()), flat(model.getWeights()));
  const loaded = await loadNetwork(dir, 'generatorAtoB');
  const x = tf.ones([1, 4, 4, 2]);
  assert.deepEqual(Array.from((loaded.predict(x) as tf.Tensor).dataSync()),
    Array.from((model.predict(x) as tf.Tensor).dataSync()));
  ck.dispose();
  assert.deepEqual(listEpochCheckpoints(root), ['epoch_3']);
});

test('a shape mismatch names the network and the weight', async () => {
  const root = tmpRoot();
  await saveCheckpoint(root, 'latest', { networks: { discriminatorA:
    tinyModel(1) }, tensors: {}, state: {} });
  const ck = await loadCheckpoint(root, 'latest');
  const wrong = tf.sequential({ layers: [tf.layers.conv2d({
    inputShape: [4, 4, 2], filters: 5, kernelSize: 3 }),
  tf.layers.dense({ units: 2 })] });
  assert.throws(() => setModelWeights(wrong, ck.networkWeights.discriminatorA,
    'discriminatorA'),
  /'discriminatorA': weight 0 .* is 3x3x2x3, the model expects 3x3x2x5/);
  ck.dispose();
  await assert.rejects(loadCheckpoint(root, 'epoch_9'),
    /no checkpoint 'epoch_9' in .*epoch_9.checkpoint\.json/);
});

test('saving again replaces atomically, leaving no temp folder', async () => {
  const root = tmpRoot();
  const model = tinyModel(1);
  for (const k of [1, 2]) {
    await saveCheckpoint(root, 'latest', { networks: { net: model },
      tensors: {}, state: { k } });
  }
  assert.deepEqual(fs.readdirSync(root), ['latest']);
  const ck = await loadCheckpoint(root, 'latest');
  assert.deepEqual(ck.state, { k: 2 });
  ck.dispose();
});

test('a save killed between its renames falls back to <tag>.old', async () => {
  const root = tmpRoot();
  const model = tinyModel(1);
  await saveCheckpoint(root, 'latest', { networks: { net: model },
    tensors: {}, state: { k: 1 } });
  // The state a kill after the first rename leaves: .old and a .tmp.
  fs.renameSync(path.join(root, 'latest'), path.join(root, 'latest.old'));
  fs.mkdirSync(path.join(root, 'latest.tmp'));
  fs.writeFileSync(path.join(root, 'latest.tmp', 'checkpoint.json'), '{"trunc');
  assert.equal(resolveCheckpoint(root, 'latest'),
    path.join(root, 'latest.old'));
  const ck = await loadCheckpoint(root, 'latest');
  assert.deepEqual(ck.state, { k: 1 });
  ck.dispose();
  // The next save completes the replacement and cleans up.
  await saveCheckpoint(root, 'latest', { networks: { net: model },
    tensors: {}, state: { k: 2 } });
  assert.deepEqual(fs.readdirSync(root), ['latest']);
});

test('a truncated weights file is refused, naming the file', async () => {
  const root = tmpRoot();
  await saveCheckpoint(root, 'latest', { networks: { net: tinyModel(1) },
    tensors: {}, state: {} });
  const bin = path.join(root, 'latest', 'net', 'weights.bin');
  fs.truncateSync(bin, 10);
  await assert.rejects(loadCheckpoint(root, 'latest'),
    (e: Error) => e.message.includes(bin) && /truncated/.test(e.message));
});

/** Runs the saving child, kills it during save number > 1, returns k. */
async function killDuringSave(root: string, extraDelayMs: number):
    Promise<number> {
  const child = spawn(process.execPath,
    [path.join(__dirname, 'checkpoint-child.js'), root],
    { stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
  let lastSaved = 0;
  child.stdout.on('data', (d: Buffer) => {
    const m = /saved (\d+)\n$/.exec(d.toString());
    if (m) lastSaved = Number(m[1]);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () =>
    resolve()));
  const tmp = path.join(root, 'latest.tmp');
  // Wait for one complete save, then for the next one to start.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline &&
    !(lastSaved >= 1 && fs.existsSync(tmp))) {
    await new Promise((r) => setTimeout(r, 1));
  }
  await new Promise((r) => setTimeout(r, extraDelayMs));
  child.kill('SIGKILL');
  await exited;
  assert.ok(lastSaved >= 1, 'the child never completed a save');
  return lastSaved;
}

test('a process killed mid-save leaves the previous checkpoint intact',
  async () => {
    let interrupted = 0;
    for (const delay of [0, 3, 8]) {
      const root = tmpRoot();
      const lastReported = await killDuringSave(root, delay);
      if (fs.existsSync(path.join(root, 'latest.tmp')) ||
        fs.existsSync(path.join(root, 'latest.old'))) interrupted++;
      const ck = await loadCheckpoint(root, 'latest');
      const { k } = ck.state as { k: number };
      // The checkpoint is whole: every value is the k its state names,
      // and k is the last reported save or the one in flight.
      assert.ok(k === lastReported || k === lastReported + 1,
        `k ${k}, last reported ${lastReported}`);
      const values = new Set(flat([...ck.networkWeights.net,
        ...ck.tensors.optimizer.map((t) => t.tensor)]));
      assert.deepEqual([...values], [k]);
      ck.dispose();
    }
    // At least one kill really landed inside a save.
    assert.ok(interrupted >= 1, 'no kill interrupted a save');
  });
