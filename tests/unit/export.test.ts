// The browser export (lib/export) and the web page's size and pixel
// decisions (web/plan): quantisation against tfjs's own decoder, model
// files that reload to the same outputs, export from a real checkpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { saveCheckpoint } from '../../lib/checkpoint';
import {
  domainNames, encodeWeights, exportGenerator, findGenerator,
  float32ToFloat16,
  loadExportedModel, quantizeAffine, readExportMetadata, trainingSize,
  WeightDtype, writeLayersModel,
} from '../../lib/export';
import { defineG } from '../../lib/networks';
import {
  checkFile, checkPixels, LIMITS, outputToRgba, planWork, rgbaToInput,
} from '../../web/plan';
import { tempDirs } from './tmp';

const tmpRoot = tempDirs('export-test-');
before(async () => {
  await initBackend('inference', 'native', { quiet: true });
});

/** A small real generator: ResNet, 6 blocks, ngf 4, seeded weights. */
function smallGenerator(seed: number): tf.LayersModel {
  return defineG({ netG: 'resnet_6blocks', ngf: 4, seed, initGain: 0.2 });
}

/** Decodes an encoded buffer with tfjs's own loader code. */
function decode(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer):
    Float32Array[] {
  const named = tf.io.decodeWeights(data, specs);
  const out = specs.map((s) => named[s.name].dataSync() as Float32Array);
  tf.dispose(Object.values(named));
  return out;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('weight encoding', () => {
  test('float16 bit patterns, rounding and range', () => {
    const values = new Float32Array([1, -2, 0.1, 65504, 65520, 1e-8,
      6e-8, 2 ** -14, 0, -0, Infinity, 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
    const bits = Array.from(float32ToFloat16(values));
    assert.deepEqual(bits, [
      0x3c00, 0xc000, 0x2e66, 0x7bff,
      0x7c00, // past the largest half rounds to Infinity
      0x0000, // below half the smallest subnormal: zero
      0x0001, // the smallest subnormal, 2^-24
      0x0400, // the smallest normal
      0x0000, 0x8000, 0x7c00,
      0x3c00, // 1 + 2^-11 is a tie: to the even mantissa, 1.0
      0x3c02, // 1 + 3·2^-11 is a tie: to the even mantissa, 1 + 2^-9
    ]);
    const nan = float32ToFloat16(new Float32Array([NaN]))[0];
    assert.equal(nan & 0x7c00, 0x7c00);
    assert.notEqual(nan & 0x3ff, 0);
  });

  test('each dtype decodes with tfjs within its error bound', () => {
    const a = tf.randomNormal([3, 3, 4, 5], 0, 0.3, 'float32', 3);
    const b = tf.tensor1d([0, 0, 0]); // constant: any scale restores it
    const raw = [a.dataSync() as Float32Array, b.dataSync() as Float32Array];
    const specs: tf.io.WeightsManifestEntry[] = [
      { name: 'a', shape: a.shape, dtype: 'float32' },
      { name: 'b', shape: b.shape, dtype: 'float32' },
    ];
    const joined = new Float32Array(raw[0].length + raw[1].length);
    joined.set(raw[0]);
    joined.set(raw[1], raw[0].length);
    const range = Math.max(...raw[0]) - Math.min(...raw[0]);
    const bytesPer: Record<WeightDtype, number> =
      { float32: 4, float16: 2, uint16: 2, uint8: 1 };
    for (const dtype of ['float32', 'float16', 'uint16', 'uint8'] as const) {
      const enc = encodeWeights(specs, joined.buffer, dtype);
      assert.equal(enc.data.byteLength, joined.length * bytesPer[dtype],
        dtype);
      const [da, db] = decode(enc.specs, enc.data);
      const bound = dtype === 'float32' ? 0 :
        dtype === 'float16' ? Math.max(...raw[0].map(Math.abs)) * 2 ** -11 :
          range / (dtype === 'uint8' ? 255 : 65535) / 2 + 1e-7;
      assert.ok(maxAbs(da, raw[0]) <= bound,
        `${dtype}: error ${maxAbs(da, raw[0])} > ${bound}`);
      assert.deepEqual(Array.from(db), [0, 0, 0], dtype);
    }
    tf.dispose([a, b]);
  });

  test('uint8 keeps min and max exactly and rejects non-finite', () => {
    const v = new Float32Array([-0.75, 0.1, 0.25, 1.5]);
    const q = quantizeAffine(v, 8);
    assert.equal(q.min, -0.75);
    assert.equal(q.scale, 2.25 / 255);
    assert.deepEqual(Array.from(q.data), [0, 96, 113, 255]);
    assert.throws(() => quantizeAffine(new Float32Array([1, NaN]), 8),
      /cannot quantise a weight holding NaN/);
  });
});

describe('model files', () => {
  test('a float32 export reloads to identical outputs at an odd size',
    async () => {
      const before = tf.memory().numTensors;
      const dir = path.join(tmpRoot(), 'g');
      const g = smallGenerator(1);
      const written = await writeLayersModel(g, dir, { shardBytes: 16384,
        metadata: { cyclegan: { direction: 'AtoB' } } });
      // 4·params bytes in 16 KiB shards named as the tfjs converter does.
      const params = g.countParams();
      assert.equal(written.weightBytes, 4 * params);
      const shards = Math.ceil(4 * params / 16384);
      assert.equal(written.files.length, 1 + shards);
      assert.equal(written.files[1], `group1-shard1of${shards}.bin`);
      assert.deepEqual(fs.readdirSync(dir).sort(), [...written.files].sort());
      const sizes = written.files.slice(1).map((f) =>
        fs.statSync(path.join(dir, f)).size);
      assert.equal(sizes.reduce((a, b) => a + b, 0), 4 * params);
      assert.ok(!fs.existsSync(`${dir}.tmp`));

      const back = await loadExportedModel(dir);
      assert.deepEqual(readExportMetadata(dir), { direction: 'AtoB' });
      const x = tf.randomUniform([1, 21, 30, 3], -1, 1, 'float32', 5);
      const [y1, y2] = [g.predict(x) as tf.Tensor, back.predict(x) as
        tf.Tensor];
      assert.deepEqual(y2.shape, [1, 21, 30, 3]);
      assert.equal(maxAbs(y1.dataSync(), y2.dataSync()), 0);
      tf.dispose([x, y1, y2]);
      g.dispose();
      back.dispose();
      assert.equal(tf.memory().numTensors, before);
    });

  test('a missing shard is named', async () => {
    const dir = path.join(tmpRoot(), 'g');
    const g = smallGenerator(2);
    await writeLayersModel(g, dir);
    g.dispose();
    fs.rmSync(path.join(dir, 'group1-shard1of1.bin'));
    await assert.rejects(loadExportedModel(dir),
      /lists weight shard group1-shard1of1\.bin, missing/);
    await assert.rejects(loadExportedModel(path.join(dir, 'nope')),
      /no exported model in .*nope/);
  });
});

describe('export from a checkpoint', () => {
  let run: string;
  let gAB: tf.LayersModel;
  let gBA: tf.LayersModel;
  before(async () => {
    run = tmpRoot();
    gAB = smallGenerator(11);
    gBA = smallGenerator(12);
    await saveCheckpoint(run, 'latest', {
      networks: { generatorAtoB: gAB, generatorBtoA: gBA }, tensors: {},
      state: { iterations: 4 },
    });
    fs.writeFileSync(path.join(run, 'opt.json'),
      JSON.stringify({ cropSize: 32, ngf: 4 }));
  });
  after(() => {
    gAB.dispose();
    gBA.dispose();
  });

  test('finds each direction and the training size', () => {
    const ab = findGenerator(run, 'AtoB');
    assert.equal(ab.dir, path.join(run, 'latest'));
    assert.equal(ab.network, 'generatorAtoB');
    assert.equal(findGenerator(ab.dir, 'BtoA').network, 'generatorBtoA');
    assert.equal(trainingSize(ab), 32);
    assert.throws(() => findGenerator(path.join(run, 'none'), 'AtoB'),
      /--checkpoint .*none: no such folder/);
    const empty = tmpRoot();
    assert.throws(() => findGenerator(empty, 'AtoB'),
      /expected a checkpoint folder \(with checkpoint\.json\)/);
  });

  test('domain names from the training dataroot and direction', () => {
    const src = (opt: object) => ({ dir: run, network: 'generatorAtoB',
      state: { options: opt } });
    assert.deepEqual(domainNames(src({ dataroot: '/d/emoji64' })),
      { A: 'Twemoji', B: 'OpenMoji' });
    assert.deepEqual(domainNames(src({ dataroot: 'datasets/horse2zebra',
      direction: 'BtoA' })), { A: 'zebra', B: 'horse' });
    // opt.json of this run has no dataroot.
    assert.deepEqual(domainNames(findGenerator(run, 'AtoB')),
      { A: 'A', B: 'B' });
  });

  test('a folder of exported networks (float16) exports again', async () => {
    const before = tf.memory().numTensors;
    // The layout of a shipped model: <dir>/generatorBtoA/ and opt.json.
    const shipped = path.join(tmpRoot(), 'emoji64');
    await writeLayersModel(gBA, path.join(shipped, 'generatorBtoA'),
      { dtype: 'float16' });
    fs.writeFileSync(path.join(shipped, 'opt.json'),
      JSON.stringify({ cropSize: 48, dataroot: 'data/emoji64' }));
    const found = findGenerator(shipped, 'BtoA');
    assert.deepEqual([found.dir, found.network, found.state],
      [shipped, 'generatorBtoA', undefined]);
    assert.throws(() => findGenerator(shipped, 'AtoB'),
      /or a folder with generatorAtoB\/model\.json/);
    const out = path.join(shipped, 'web');
    const r = await exportGenerator({ checkpoint: shipped,
      direction: 'BtoA', out, dtype: 'float16' });
    // float16 values survive a second float16 encoding exactly.
    assert.equal(r.maxDiff, 0);
    assert.equal(r.metadata.imageSize, 48);
    assert.deepEqual(r.metadata.domains, { A: 'Twemoji', B: 'OpenMoji' });
    assert.equal(tf.memory().numTensors, before);
  });

  test('float16 and uint8 exports: sizes, metadata, output differences',
    async () => {
      const before = tf.memory().numTensors;
      const params = gBA.countParams();
      const probe = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 9);
      const reports = [];
      for (const dtype of ['float32', 'float16', 'uint8'] as const) {
        const out = path.join(run, 'web', dtype);
        const r = await exportGenerator({ checkpoint: run, direction: 'BtoA',
          out, dtype, probe: async () => probe.clone() as tf.Tensor4D });
        assert.equal(r.weightBytes, params * { float32: 4, float16: 2,
          uint8: 1 }[dtype]);
        assert.equal(r.metadata.direction, 'BtoA');
        assert.equal(r.metadata.imageSize, 32);
        assert.equal(r.metadata.multiple, 4);
        assert.equal(r.metadata.minSize, 8);
        assert.equal(r.metadata.parameters, params);
        assert.deepEqual(readExportMetadata(out), r.metadata);
        assert.deepEqual(r.probeShape, [2, 32, 32, 3]);
        reports.push(r);
      }
      const [f32, f16, u8] = reports;
      assert.equal(f32.maxDiff, 0);
      assert.ok(f16.maxDiff > 0 && f16.maxDiff < 8, `f16 ${f16.maxDiff}`);
      assert.ok(u8.meanDiff > f16.meanDiff, 'uint8 is coarser than float16');

      // The export is the BtoA network: same outputs as generatorBtoA.
      const back = await loadExportedModel(path.join(run, 'web', 'float32'));
      const [y1, y2] = [gBA.predict(probe) as tf.Tensor,
        back.predict(probe) as tf.Tensor];
      assert.equal(maxAbs(y1.dataSync(), y2.dataSync()), 0);
      tf.dispose([y1, y2, probe]);
      back.dispose();
      assert.equal(tf.memory().numTensors, before);
    });

  test('bad options are named', async () => {
    await assert.rejects(exportGenerator({ checkpoint: run,
      direction: 'AtoB', out: path.join(run, 'x'),
      dtype: 'int4' as WeightDtype }), /--dtype must be one of float32/);
    const other = tmpRoot();
    const d = smallGenerator(3);
    await saveCheckpoint(other, 'latest', { networks: { discriminatorA: d },
      tensors: {}, state: {} });
    d.dispose();
    assert.throws(() => findGenerator(other, 'AtoB'),
      new RegExp('no AtoB generator \\(looked for generatorAtoB, G_A, ' +
        'netG_A; it holds discriminatorA\\)'));
  });
});

describe('web page plan', () => {
  const g = { imageSize: 64, multiple: 4, minSize: 8 };

  test('training mode scales the longer side to the training size', () => {
    const p = planWork(72, 72, 'training', g);
    assert.deepEqual([p.width, p.height, p.resized], [64, 64, true]);
    assert.match(p.notes[0], /Resized from 72×72 to 64×64/);
    const q = planWork(300, 100, 'training', g);
    assert.deepEqual([q.width, q.height], [64, 21]);
    // 21 rows pad to 24, and the page says so.
    assert.deepEqual([q.paddedWidth, q.paddedHeight], [64, 24]);
    assert.match(q.notes[1], /pads 64×21 to 64×24/);
    assert.deepEqual(planWork(64, 64, 'training', g).notes, []);
  });

  test('original mode keeps the size up to the limit', () => {
    const p = planWork(50, 30, 'original', g);
    assert.deepEqual([p.width, p.height, p.resized], [50, 30, false]);
    assert.deepEqual([p.paddedWidth, p.paddedHeight], [52, 32]);
    const big = planWork(2000, 1000, 'original', g);
    assert.deepEqual([big.width, big.height], [LIMITS.maxWorkSide,
      LIMITS.maxWorkSide / 2]);
    const tiny = planWork(5, 3, 'original', g);
    assert.deepEqual([tiny.paddedWidth, tiny.paddedHeight], [8, 8]);
    assert.match(tiny.notes[0], /at least 8/);
  });

  test('file checks name the file and the limit', () => {
    assert.match(checkFile('notes.txt', 'text/plain', 10)!,
      /“notes\.txt” is not an image \(its type is text\/plain\)/);
    assert.match(checkFile('e.png', 'image/png', 0)!, /is empty/);
    assert.match(checkFile('big.png', 'image/png', 50 * 2 ** 20)!,
      /too large to process: 50\.0 MB, the page reads files up to 40\.0 MB/);
    assert.equal(checkFile('ok.png', '', 1000), undefined);
    assert.match(checkPixels('huge.png', 6000, 5000)!,
      /6000×5000 \(30\.0 megapixels\); the page takes images up to 25/);
    assert.equal(checkPixels('ok.png', 5000, 5000), undefined);
  });

  test('pixel conversions invert each other on every byte value', () => {
    const rgba = new Uint8ClampedArray(256 * 4);
    for (let v = 0; v < 256; v++) rgba.set([v, 255 - v, v, 7], 4 * v);
    const input = rgbaToInput(rgba);
    assert.equal(input.length, 256 * 3);
    assert.equal(input[0], -1);
    assert.equal(input[3 * 255], 1);
    const back = outputToRgba(input);
    for (let v = 0; v < 256; v++) {
      assert.deepEqual(Array.from(back.subarray(4 * v, 4 * v + 4)),
        [v, 255 - v, v, 255]);
    }
    assert.deepEqual(Array.from(outputToRgba([-2, 2, 0])), [0, 255, 128,
      255]);
  });
});

test('an export refuses to replace a folder that is not an export', async () => {
  const root = tmpRoot();
  const generator = defineG({ netG: 'resnet_6blocks', ngf: 4, seed: 3 });
  const out = path.join(root, 'mine');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'precious.txt'), 'keep me');
  await assert.rejects(writeLayersModel(generator, out),
    /--out .*mine already holds other files \(precious\.txt\)/);
  assert.equal(fs.readFileSync(path.join(out, 'precious.txt'), 'utf8'),
    'keep me');
  // An earlier export is replaced.
  const again = path.join(root, 'export');
  await writeLayersModel(generator, again);
  await writeLayersModel(generator, again);
  assert.ok(fs.existsSync(path.join(again, 'model.json')));
  generator.dispose();
});
