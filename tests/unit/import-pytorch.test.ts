/**
 * The .pth reader and importer: checkpoints saved by the PyTorch reference
 * (tests/fixtures/pytorch/, written by bench/pytorch/make_fixtures.py),
 * hostile pickles that must be refused, and the import CLI end to end.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { defineG } from '../../lib/networks';
import { loadNetwork } from '../../lib/checkpoint';
import { halfToFloat, inferGenerator, loadStateDict, PyTuple,
  readStateDict, unpickle, UnsafePickleError } from '../../lib/pytorch';
import { importPytorch } from '../../lib/cli/import-pytorch';

const ROOT = path.join(__dirname, '..', '..', '..');
const DIR = path.join(ROOT, 'tests', 'fixtures', 'pytorch');
const meta = JSON.parse(fs.readFileSync(path.join(DIR, 'pth.json'),
  'utf8'));
const OLD = 'resnet_9blocks_ngf4_old_norm.pth';
const LEGACY = 'basic_ndf4_legacy.pth';

/** The reference input (NHWC tensor) and output (NCHW values). */
function reference(): { x: tf.Tensor4D; y: Float32Array } {
  const m = meta[OLD];
  const raw = fs.readFileSync(path.join(DIR, m.input));
  const out = fs.readFileSync(path.join(DIR, m.output));
  const x = tf.tidy(() => tf.tensor4d(Float32Array.from(raw,
    (k) => (k - 128) / 128), m.shape).transpose([0, 2, 3, 1])) as
    tf.Tensor4D;
  const y = new Float32Array(out.buffer.slice(out.byteOffset,
    out.byteOffset + out.byteLength));
  return { x, y };
}

function maxDiffNchw(ours: tf.Tensor, ref: Float32Array): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(ours.transpose([0, 3, 1, 2])
    .reshape([-1]), tf.tensor1d(ref)))).dataSync()[0]);
}

/** Max abs difference of `model` on the reference input from its output. */
function referenceDiff(model: tf.LayersModel): number {
  const { x, y } = reference();
  const diff = tf.tidy(() => maxDiffNchw(model.predict(x) as tf.Tensor, y));
  x.dispose();
  return diff;
}

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

describe('reading .pth files', () => {
  test('a zip checkpoint with old InstanceNorm buffers: the weights load, ' +
    'the buffers are dropped, the output matches PyTorch', async () => {
    const sd = await readStateDict(path.join(DIR, OLD));
    // 48 parameters (24 convs) + 3 buffers for each of 23 norms.
    assert.equal(sd.size, 48 + 3 * 23);
    assert.deepEqual(sd.get('model.1.weight')!.shape, [4, 3, 7, 7]);
    assert.deepEqual(sd.get('model.19.weight')!.shape, [16, 8, 3, 3]);
    assert.equal(sd.get('model.2.num_batches_tracked')!.dtype, 'int64');
    assert.deepEqual(inferGenerator(sd), { netG: 'resnet_9blocks', ngf: 4,
      inputNc: 3, outputNc: 3, norm: 'instance', useDropout: false });

    const model = defineG({ netG: 'resnet_9blocks', ngf: 4, seed: 3 });
    const res = loadStateDict(model, sd);
    assert.equal(res.loaded, 48);
    assert.deepEqual(res.dropped, meta[OLD].dropped);
    const diff = referenceDiff(model);
    assert.ok(diff < 1e-4, `max abs diff ${diff}`);
    model.dispose();
  });

  test('a ResNet trained with dropout (second conv at conv_block.6)',
    async () => {
      const file = 'resnet_6blocks_ngf2_dropout.pth';
      const m = meta[file];
      const sd = await readStateDict(path.join(DIR, file));
      assert.ok(sd.has('model.10.conv_block.6.weight'));
      assert.deepEqual(inferGenerator(sd), { netG: 'resnet_6blocks', ngf: 2,
        inputNc: 3, outputNc: 3, norm: 'instance', useDropout: true });
      const model = defineG({ netG: 'resnet_6blocks', ngf: 2,
        useDropout: true, seed: 1 });
      assert.equal(loadStateDict(model, sd).loaded, sd.size);
      const diff = tf.tidy(() => {
        const x = tf.tensor4d(Float32Array.from(m.input as number[],
          (k) => (k - 128) / 128), m.shape).transpose([0, 2, 3, 1]);
        return maxDiffNchw(model.predict(x) as tf.Tensor,
          Float32Array.from(m.output as number[]));
      });
      assert.ok(diff < 1e-4, `max abs diff ${diff}`);
      model.dispose();
    });

  test('a legacy (pre-1.6, non-zip) checkpoint reads the same tensors',
    async () => {
      const sd = await readStateDict(path.join(DIR, LEGACY));
      const want = meta[LEGACY];
      assert.deepEqual([...sd.keys()], Object.keys(want.shapes));
      for (const [key, t] of sd) {
        assert.deepEqual(t.shape, want.shapes[key], key);
        const sum = t.values.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - want.sums[key]) < 1e-4,
          `${key}: sum ${sum} vs ${want.sums[key]}`);
      }
    });

  for (const [file, global] of Object.entries(meta.evil as
    Record<string, string>)) {
    test(`${file} is refused, naming ${global}`, async () => {
      await assert.rejects(readStateDict(path.join(DIR, file)),
        (e: Error) => {
          assert.ok(e instanceof UnsafePickleError, String(e));
          assert.ok(e.message.includes(file), e.message);
          assert.ok(e.message.includes(global), e.message);
          assert.match(e.message, /refused/);
          return true;
        });
    });
  }

  test('a file that is no checkpoint gets a clear error', async () => {
    await assert.rejects(readStateDict(path.join(DIR, 'pth.json')),
      /pth\.json: not a PyTorch checkpoint/);
  });
});

describe('the restricted unpickler', () => {
  const bytes = (s: string): Uint8Array => Buffer.from(s, 'latin1');

  test('builds tuples, lists, dicts, ints and strings', () => {
    // (1, [2, 'ab'], {'k': -3}) at protocol 2.
    const { value } = unpickle(bytes('\x80\x02K\x01]q\x00(K\x02X\x02\x00' +
      '\x00\x00abe}q\x01X\x01\x00\x00\x00kJ\xfd\xff\xff\xffs\x87q\x02.'));
    assert.ok(value instanceof PyTuple);
    const [a, b, c] = (value as PyTuple).items;
    assert.equal(a, 1);
    assert.deepEqual(b, [2, 'ab']);
    assert.deepEqual([...(c as Map<string, number>)], [['k', -3]]);
  });

  test('INST (an object of any class) is refused', () => {
    assert.throws(() => unpickle(bytes('(ios\nsystem\n.')), (e: Error) =>
      e instanceof UnsafePickleError && /INST opcode/.test(e.message));
  });

  test('STACK_GLOBAL of builtins.exec is refused before any call', () => {
    assert.throws(() => unpickle(bytes('\x80\x04\x8c\x08builtins\x8c\x04' +
      'exec\x93.'), { source: 'x.pkl' }), (e: Error) =>
      e instanceof UnsafePickleError &&
      e.message.startsWith('x.pkl: refused') &&
      e.message.includes('builtins.exec'));
  });

  test('a truncated pickle says so', () => {
    assert.throws(() => unpickle(bytes('\x80\x02X\x10\x00\x00\x00ab')),
      /the pickle ends early/);
  });

  test('float16 bits decode exactly', () => {
    assert.equal(halfToFloat(0x3c00), 1);
    assert.equal(halfToFloat(0xc000), -2);
    assert.equal(halfToFloat(0x3555), 0.333251953125);
    assert.equal(halfToFloat(0x0001), 2 ** -24);
  });
});

describe('npm run import-pytorch', () => {
  test('writes a layers model that reproduces the PyTorch output',
    async () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'import-pt-'));
      try {
        const s = await importPytorch({ checkpoint: path.join(DIR, OLD),
          out: path.join(out, 'G') });
        assert.equal(s.architecture, 'resnet_9blocks');
        assert.equal(s.width, 4);
        assert.equal(s.tensors, 48);
        assert.equal(s.dropped.length, 69);
        assert.equal(s.roundTripDiff, 0);
        const model = await loadNetwork(out, 'G');
        const diff = referenceDiff(model);
        assert.ok(diff < 1e-4, `max abs diff ${diff}`);
        model.dispose();
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    });

  test('the wrong --ngf fails naming the key and both shapes', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'import-pt-'));
    try {
      const r = spawnSync(process.execPath, [
        path.join(ROOT, 'build', 'lib', 'cli', 'import-pytorch.js'),
        path.join(DIR, OLD), '--ngf', '8', '--out', out],
      { encoding: 'utf8',
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
      assert.equal(r.status, 1);
      assert.match(r.stderr,
        /key model\.1\.weight: expected shape \[8,3,7,7\]/);
      assert.match(r.stderr, /found \[4,3,7,7\]/);
      assert.equal(fs.existsSync(path.join(out, 'model.json')), false);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
