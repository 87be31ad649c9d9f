/**
 * Golden tests: our networks, loaded with weights of the PyTorch reference
 * (bench/pytorch/cyclegan_ref.py, the official layer recipe and
 * state_dict keys), reproduce its outputs. The fixtures under
 * tests/fixtures/ were written by bench/pytorch/make_fixtures.py; torch is
 * not needed here.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { countParams, defineD, defineG, GeneratorType }
  from '../../lib/networks';
import { halfToFloat, loadStateDict, StateDict } from '../../lib/pytorch';
import { buildNetworks, CycleGAN, ModelStepOptions } from '../../lib/cyclegan';
import { LOSS_NAMES } from '../../lib/losses';
import { CYCLEGAN_DEFAULTS } from '../../lib/options';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'tests', 'fixtures');
const TOLERANCE = 1e-4;

interface ArrayInfo { dtype: 'float16' | 'float32' | 'uint8';
  shape: number[]; offset: number }
interface ImageCase { height: number; width: number; input: string;
  output: string; rows?: number[]; cols?: number[] }
interface NetCase { name: string; ngf?: number; ndf?: number;
  netG?: GeneratorType; params: number; weights: string; keys: string[];
  cases: ImageCase[] }
interface Manifest {
  arrays: Record<string, ArrayInfo>;
  generators: NetCase[];
  discriminators: NetCase[];
  training: Record<string, unknown>;
}

const manifest = JSON.parse(fs.readFileSync(
  path.join(FIXTURES, 'golden.json'), 'utf8')) as Manifest;
const blob = fs.readFileSync(path.join(FIXTURES, 'golden.bin'));

/** One fixture array as float32 (uint8 images decoded to [-1, 1)). */
function fixtureArray(name: string): { shape: number[];
  values: Float32Array } {
  const info = manifest.arrays[name];
  assert.ok(info, `fixture array ${name} is missing from golden.json`);
  const n = info.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(blob.buffer, blob.byteOffset + info.offset);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    values[i] = info.dtype === 'float16' ? halfToFloat(view.getUint16(2 * i,
      true)) : info.dtype === 'float32' ? view.getFloat32(4 * i, true) :
      (view.getUint8(i) - 128) / 128;
  }
  return { shape: info.shape, values };
}

/** The state_dict stored under `prefix/` (official keys, in order). */
function fixtureStateDict(prefix: string, keys: string[]): StateDict {
  const sd: StateDict = new Map();
  for (const key of keys) {
    sd.set(key, { dtype: 'float32', ...fixtureArray(`${prefix}/${key}`) });
  }
  return sd;
}

/** An NCHW fixture image as an NHWC tensor. */
function nhwc(name: string): tf.Tensor4D {
  const { shape, values } = fixtureArray(name);
  return tf.tidy(() => tf.tensor4d(values, shape as [number, number,
    number, number]).transpose([0, 2, 3, 1]));
}

/** max |ours − reference| with ours NHWC, the reference NCHW. */
function maxAbsDiff(ours: tf.Tensor4D, refName: string, rows?: number[],
  cols?: number[]): number {
  return tf.tidy(() => {
    let y: tf.Tensor4D = ours.transpose([0, 3, 1, 2]);
    if (rows) y = tf.gather(y, rows, 2);
    if (cols) y = tf.gather(y, cols, 3);
    const { shape, values } = fixtureArray(refName);
    assert.deepEqual(y.shape, shape, `output shape of ${refName}`);
    return tf.max(tf.abs(tf.sub(y, tf.tensor(values, shape)))).dataSync()[0];
  });
}

/** Key order of the state_dicts of keys, as PyTorch wrote them. */
function trainingKeys(prefix: string): string[] {
  return Object.keys(manifest.arrays)
    .filter((k) => k.startsWith(`${prefix}/`))
    .map((k) => k.slice(prefix.length + 1));
}

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

describe('golden: generators against the PyTorch reference', () => {
  for (const g of manifest.generators) {
    test(`${g.name} ngf ${g.ngf}: ${g.cases.map((c) =>
      `${c.height}x${c.width}`).join(', ')} within ${TOLERANCE}`, (t) => {
      const start = tf.memory().numTensors;
      const model = defineG({ netG: g.netG, ngf: g.ngf, seed: 1 });
      assert.equal(countParams(model), g.params);
      const res = loadStateDict(model, fixtureStateDict(g.weights, g.keys),
        g.name);
      assert.equal(res.loaded, g.keys.length);
      assert.deepEqual(res.dropped, []);
      for (const c of g.cases) {
        const diff = tf.tidy(() => {
          const y = model.predict(nhwc(c.input)) as tf.Tensor4D;
          assert.deepEqual(y.shape, [1, c.height, c.width, 3]);
          return maxAbsDiff(y, c.output, c.rows, c.cols);
        });
        t.diagnostic(`${c.height}x${c.width}: max abs diff ` +
          diff.toExponential(2));
        assert.ok(diff < TOLERANCE, `${g.name} ${c.height}x${c.width}: max ` +
          `abs diff ${diff.toExponential(2)} >= ${TOLERANCE}`);
      }
      model.dispose();
      assert.equal(tf.memory().numTensors, start);
    });
  }
});

describe('golden: discriminator against the PyTorch reference', () => {
  for (const d of manifest.discriminators) {
    test(`${d.name} ndf ${d.ndf}: ${d.cases.map((c) =>
      `${c.height}x${c.width}`).join(', ')} within ${TOLERANCE}`, (t) => {
      const start = tf.memory().numTensors;
      const model = defineD({ netD: 'basic', ndf: d.ndf, seed: 1 });
      assert.equal(countParams(model), d.params);
      loadStateDict(model, fixtureStateDict(d.weights, d.keys), d.name);
      for (const c of d.cases) {
        const diff = tf.tidy(() => maxAbsDiff(
          model.predict(nhwc(c.input)) as tf.Tensor4D, c.output));
        t.diagnostic(`${c.height}x${c.width}: max abs diff ` +
          diff.toExponential(2));
        assert.ok(diff < TOLERANCE, `${d.name} ${c.height}x${c.width}: max ` +
          `abs diff ${diff.toExponential(2)} >= ${TOLERANCE}`);
      }
      model.dispose();
      assert.equal(tf.memory().numTensors, start);
    });
  }
});

describe('golden: the loader refuses weights that do not fit', () => {
  test('a state_dict of ngf 8 into an ngf 4 model names key and shapes', () => {
    const g = manifest.generators.find((x) => x.name === 'resnet_9blocks')!;
    const model = defineG({ netG: 'resnet_9blocks', ngf: 4, seed: 1 });
    assert.throws(() => loadStateDict(model, fixtureStateDict(g.weights,
      g.keys), 'fixture'),
    /key model\.1\.weight: expected shape \[4,3,7,7\].*found \[8,3,7,7\]/);
    model.dispose();
  });

  test('resnet_6blocks weights into resnet_9blocks: missing keys', () => {
    const g = manifest.generators.find((x) => x.name === 'resnet_6blocks')!;
    const model = defineG({ netG: 'resnet_9blocks', ngf: 8, seed: 1 });
    // model.16.conv_block.* is a block in a 9-block net; in the 6-block
    // file index 16 is the first transposed conv.
    assert.throws(() => loadStateDict(model, fixtureStateDict(g.weights,
      g.keys), 'fixture'), /missing key model\.17\.conv_block\.1\.weight/);
    model.dispose();
  });
});


describe('golden: CycleGAN training iterations against the PyTorch ' +
  'reference', () => {
  const tr = manifest.training as {
    ngf: number; ndf: number; size: number; lambdaA: number;
    lambdaB: number; lambdaIdentity: number; lr: number; beta1: number;
    beta2: number; poolSize: number; weights: Record<string, string>;
    steps: { realA: string; realB: string;
      losses: Record<string, number> }[];
  };

  // The reference losses are PyTorch's in float64. In float32 the second
  // iteration is ill-conditioned: Adam's first update is about
  // lr·sign(gradient), so weights with a near-zero gradient move either
  // way with rounding; PyTorch's own float32 run (kept in the fixture as
  // lossesFloat32) is 9e-5 off its float64 one in G_A.
  test(`${tr.steps.length} iterations (lsgan, identity ` +
    `${tr.lambdaIdentity}, lambda ${tr.lambdaA}, empty pools): every loss ` +
    `within ${TOLERANCE}`, (t) => {
    const start = tf.memory().numTensors;
    const opts: ModelStepOptions = {
      ...CYCLEGAN_DEFAULTS, ngf: tr.ngf, ndf: tr.ndf, lr: tr.lr,
      beta1: tr.beta1, beta2: tr.beta2, ganMode: 'lsgan',
      poolSize: tr.poolSize, lambdaA: tr.lambdaA, lambdaB: tr.lambdaB,
      lambdaIdentity: tr.lambdaIdentity, modelSeed: 1,
    };
    const networks = buildNetworks(opts);
    // Official roles: G_A maps A to B; D_A judges domain B, so it is our
    // discriminatorB; D_B is our discriminatorA.
    const roles: [string, tf.LayersModel][] = [
      ['G_A', networks.generatorAtoB], ['G_B', networks.generatorBtoA],
      ['D_A', networks.discriminatorB], ['D_B', networks.discriminatorA],
    ];
    for (const [role, net] of roles) {
      const prefix = tr.weights[role];
      loadStateDict(net, fixtureStateDict(prefix, trainingKeys(prefix)),
        role);
    }
    const model = new CycleGAN(networks, opts);
    tr.steps.forEach((step, i) => {
      const realA = nhwc(step.realA);
      const realB = nhwc(step.realB);
      const losses = model.trainStep(realA, realB) as Record<string,
        number>;
      tf.dispose([realA, realB]);
      for (const name of LOSS_NAMES) {
        const want = step.losses[name];
        const diff = Math.abs(losses[name] - want);
        t.diagnostic(`iteration ${i + 1} ${name}: ours ` +
          `${losses[name].toFixed(6)}, PyTorch ${want.toFixed(6)}, diff ` +
          diff.toExponential(1));
        assert.ok(diff < TOLERANCE, `iteration ${i + 1} ${name}: ` +
          `${losses[name]} vs PyTorch ${want}`);
      }
    });
    model.dispose();
    assert.equal(tf.memory().numTensors, start);
  });
});
