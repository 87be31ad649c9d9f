import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { pad2d } from '../../lib/layers';
import { kernelStd } from '../../lib/init';
import {
  DISCRIMINATOR_DEFAULTS, GENERATOR_DEFAULTS, GeneratorType, countMacs,
  countParams, defineD, defineG, layerShapes, modelSummary, receptiveField,
  torchWeightMap,
} from '../../lib/networks';

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

const GENERATORS: GeneratorType[] =
  ['resnet_9blocks', 'resnet_6blocks', 'unet_256', 'unet_128'];

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** Builds, measures and disposes a model. */
function withModel<T>(model: tf.LayersModel, f: (m: tf.LayersModel) => T): T {
  try {
    return f(model);
  } finally {
    model.dispose();
  }
}

test('the defaults are the official CycleGAN ones', () => {
  assert.equal(GENERATOR_DEFAULTS.netG, 'resnet_9blocks');
  assert.equal(GENERATOR_DEFAULTS.ngf, 64);
  assert.equal(GENERATOR_DEFAULTS.norm, 'instance');
  assert.equal(GENERATOR_DEFAULTS.useDropout, false);
  assert.equal(GENERATOR_DEFAULTS.initGain, 0.02);
  assert.equal(DISCRIMINATOR_DEFAULTS.netD, 'basic');
  assert.equal(DISCRIMINATOR_DEFAULTS.ndf, 64);
});

test('parameter counts equal the official networks (ngf = ndf = 64)', () => {
  const want: Record<GeneratorType, number> = {
    resnet_9blocks: 11_378_179, resnet_6blocks: 7_837_699,
    unet_256: 54_409_603, unet_128: 41_825_667,
  };
  for (const netG of GENERATORS) {
    // A fixed seed keeps the (large) weight draw cheap to repeat.
    const n = withModel(defineG({ netG, seed: 1 }), countParams);
    assert.equal(n, want[netG], netG);
  }
  assert.equal(withModel(defineD({ seed: 1 }), countParams), 2_764_737);
});

test('batch norm: no conv bias before a norm, scale and shift counted, ' +
  'running statistics not', () => {
  withModel(defineG({ norm: 'batch', seed: 1 }), (g) => {
    // Instance count − the biases of the 18 + 5 convs before a norm
    // + γ and β of each of those norms.
    const normed = 64 + 128 + 256 + 18 * 256 + 128 + 64;
    assert.equal(countParams(g), 11_378_179 - normed + 2 * normed);
    const biased = g.layers.filter((l) => l.getClassName().startsWith('Conv')
      && l.weights.length === 2).map((l) => l.name);
    assert.deepEqual(biased, ['out_conv']);
  });
  withModel(defineD({ norm: 'batch', ndf: 8, seed: 1 }), (d) => {
    const biased = d.layers.filter((l) => l.getClassName() === 'Conv2D' &&
      l.weights.length === 2).map((l) => l.name);
    assert.deepEqual(biased, ['conv0', 'conv4']);
  });
});

test('basic PatchGAN maps 256x256 to 30x30 raw logits', () => {
  withModel(defineD({ ndf: 8, seed: 1 }), (d) => {
    const shape = tf.tidy(() => (d.predict(tf.randomUniform(
      [1, 256, 256, 3], -1, 1)) as tf.Tensor).shape);
    assert.deepEqual(shape, [1, 30, 30, 1]);
  });
  withModel(defineD({ ndf: 4, seed: 1, initGain: 1 }), (d) => {
    const y = tf.tidy(() => (d.predict(tf.randomUniform([1, 64, 64, 3], -1,
      1, 'float32', 2)) as tf.Tensor).dataSync());
    // No sigmoid at the end: logits of both signs, some beyond [-1, 1].
    assert.ok(y.some((v) => v < 0) && y.some((v) => v > 0));
    assert.ok(y.some((v) => Math.abs(v) > 1));
  });
});

test('receptive field: 70 for basic (measured by a gradient), 1 for pixel',
  () => {
    assert.equal(receptiveField(), 70);
    assert.equal(receptiveField({ netD: 'n_layers', nLayersD: 3 }), 70);
    assert.equal(receptiveField({ netD: 'n_layers', nLayersD: 1 }), 16);
    assert.equal(receptiveField({ netD: 'pixel' }), 1);
    // Without norm (instance norm mixes the whole image), the input
    // pixels that reach one output are those with a non-zero gradient.
    const span = (netD: 'basic' | 'pixel', row: number): number =>
      withModel(defineD({ netD, ndf: 4, norm: 'none', seed: 3,
        initGain: 1 }), (d) => tf.tidy(() => {
        const x = tf.randomUniform([1, 128, 128, 1], -1, 1, 'float32', 4);
        const g = tf.grad((v: tf.Tensor) => tf.slice(d.apply(v) as tf.Tensor,
          [0, row, row, 0], [1, 1, 1, 1]).sum())(
          tf.tile(x, [1, 1, 1, 3]));
        const rows = g.abs().sum([0, 2, 3]).dataSync();
        const hit = [...rows.keys()].filter((i) => rows[i] > 0);
        return hit[hit.length - 1] - hit[0] + 1;
      }));
    assert.equal(span('basic', 3), 70);
    assert.equal(span('pixel', 50), 1);
  });

for (const netG of GENERATORS) {
  test(`${netG} keeps odd and tiny sizes (33x35, 1x1, 8x12)`, () => {
    withModel(defineG({ netG, ngf: 4, seed: 2 }), (g) => {
      for (const [h, w] of [[33, 35], [1, 1], [8, 12]]) {
        const out = tf.tidy(() => {
          const y = g.predict(tf.randomUniform([1, h, w, 3], -1, 1)) as
            tf.Tensor;
          return { shape: y.shape, data: y.dataSync() };
        });
        assert.deepEqual(out.shape, [1, h, w, 3], `${netG} at ${h}x${w}`);
        assert.ok(out.data.every((v) => Number.isFinite(v) && Math.abs(v) <=
          1), 'tanh output in [-1, 1]');
      }
    });
  });
}

test('an odd size runs the network on the reflect-padded, centred image',
  () => {
    withModel(defineG({ netG: 'resnet_6blocks', ngf: 4, seed: 5 }), (g) => {
      tf.tidy(() => {
        const x = tf.randomUniform([1, 33, 35, 3], -1, 1, 'float32', 6) as
          tf.Tensor4D;
        // 33 → 36 pads (1, 2); 35 → 36 pads (0, 1).
        const padded = pad2d(x, [1, 2, 0, 1], 'reflect');
        const full = g.predict(padded) as tf.Tensor;
        const want = tf.slice(full, [0, 1, 0, 0], [1, 33, 35, 3]);
        assert.ok(maxAbsDiff(g.predict(x) as tf.Tensor, want) < 1e-6);
      });
    });
  });

test('the inputs are NHWC with unknown height and width', () => {
  withModel(defineG({ ngf: 4, seed: 1 }), (g) => {
    assert.deepEqual(g.inputs[0].shape, [null, null, null, 3]);
    assert.deepEqual(g.outputs[0].shape, [null, null, null, 3]);
  });
  withModel(defineG({ ngf: 4, inputNc: 1, outputNc: 2, seed: 1 }), (g) => {
    const shape = tf.tidy(() => (g.predict(tf.zeros([2, 16, 20, 1])) as
      tf.Tensor).shape);
    assert.deepEqual(shape, [2, 16, 20, 2]);
  });
});

test('instance-norm generator: training equals inference, batch of one ' +
  'equals batch of two', () => {
  withModel(defineG({ netG: 'resnet_6blocks', ngf: 4, seed: 7 }), (g) => {
    tf.tidy(() => {
      const a = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 1);
      const b = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 2);
      const train = g.apply(a, { training: true }) as tf.Tensor;
      const infer = g.apply(a, { training: false }) as tf.Tensor;
      const pair = g.predict(tf.concat([a, b], 0)) as tf.Tensor;
      assert.ok(maxAbsDiff(train, infer) <= 1e-5);
      assert.ok(maxAbsDiff(tf.slice(pair, [0], [1]), infer) <= 1e-5);
      assert.ok(maxAbsDiff(tf.slice(pair, [1], [1]), g.predict(b) as
        tf.Tensor) <= 1e-5);
    });
  });
});

test('dropout 0.5: in every residual / inner U-Net block, only when ' +
  'training', () => {
  const dropouts = (netG: GeneratorType): number =>
    withModel(defineG({ netG, ngf: 2, useDropout: true, seed: 1 }), (g) =>
      g.layers.filter((l) => l.getClassName() === 'Dropout').length);
  assert.equal(dropouts('resnet_9blocks'), 9);
  assert.equal(dropouts('resnet_6blocks'), 6);
  assert.equal(dropouts('unet_256'), 3);
  assert.equal(dropouts('unet_128'), 2);
  withModel(defineG({ ngf: 2, seed: 1 }), (g) => assert.equal(
    g.layers.filter((l) => l.getClassName() === 'Dropout').length, 0));
  withModel(defineG({ netG: 'resnet_6blocks', ngf: 4, useDropout: true,
    seed: 3 }), (g) => {
    tf.tidy(() => {
      const x = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 1);
      const t1 = g.apply(x, { training: true }) as tf.Tensor;
      const t2 = g.apply(x, { training: true }) as tf.Tensor;
      assert.ok(maxAbsDiff(t1, t2) > 1e-4, 'training draws new masks');
      assert.equal(maxAbsDiff(g.predict(x) as tf.Tensor,
        g.predict(x) as tf.Tensor), 0);
    });
  });
});

test('batch norm: training uses and updates batch statistics', () => {
  withModel(defineG({ netG: 'resnet_6blocks', ngf: 4, norm: 'batch',
    seed: 3 }), (g) => {
    const movingMean = () => g.getLayer('in_norm').getWeights()[2]
      .dataSync().slice();
    const before = movingMean();
    tf.tidy(() => {
      const x = tf.randomUniform([2, 16, 16, 3], -1, 1, 'float32', 1);
      const train = g.apply(x, { training: true }) as tf.Tensor;
      const infer = g.predict(x) as tf.Tensor;
      assert.ok(maxAbsDiff(train, infer) > 1e-4);
    });
    assert.notDeepEqual(movingMean(), before);
  });
});

test('trainable with tf.variableGrads: every weight gets a finite, non-zero ' +
  'gradient, no tensor leaks', () => {
  for (const make of [
    () => defineG({ netG: 'resnet_6blocks', ngf: 4, useDropout: true,
      seed: 1 }),
    () => defineG({ netG: 'unet_128', ngf: 2, seed: 1 }),
    () => defineG({ netG: 'unet_128', ngf: 2, norm: 'batch',
      useDropout: true, seed: 1 }),
    () => defineD({ ndf: 4, seed: 1 }),
  ]) {
    withModel(make(), (m) => {
      const x = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 8);
      const step = () => tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() =>
          tf.mean(tf.square(m.apply(x, { training: true }) as tf.Tensor)) as
            tf.Scalar);
        return { loss: value.dataSync()[0], grads: Object.entries(grads)
          .map(([name, g]) => [name, g.abs().max().dataSync()[0]] as const) };
      });
      const first = step();
      assert.ok(Number.isFinite(first.loss));
      assert.equal(first.grads.length, m.trainableWeights.length);
      for (const [name, g] of first.grads) {
        assert.ok(Number.isFinite(g) && g > 0, `${m.name} ${name}: ${g}`);
      }
      const count = tf.memory().numTensors;
      step();
      assert.equal(tf.memory().numTensors, count);
      x.dispose();
    });
  }
});

test('init: seeded weights repeat; normal, xavier and kaiming have the ' +
  'official spreads; biases zero', () => {
  const weightsOf = (seed: number) => withModel(defineG({
    netG: 'resnet_6blocks', ngf: 4, seed }), (g) =>
    g.getWeights().map((w) => Array.from(w.dataSync())));
  assert.deepEqual(weightsOf(11), weightsOf(11));
  assert.notDeepEqual(weightsOf(11), weightsOf(12));
  for (const initType of ['normal', 'xavier', 'kaiming'] as const) {
    withModel(defineG({ netG: 'resnet_6blocks', ngf: 16, initType,
      initGain: 0.02, seed: 4 }), (g) => {
      for (const name of ['res1_conv1', 'up1_convT']) {
        const [kernel, bias] = g.getLayer(name).getWeights();
        const std = Math.sqrt(tf.tidy(() => tf.moments(kernel).variance
          .dataSync()[0]));
        const want = kernelStd(initType, 0.02, kernel.shape) as number;
        assert.ok(Math.abs(std / want - 1) < 0.03,
          `${initType} ${name}: std ${std}, want ${want}`);
        assert.ok(bias.dataSync().every((v) => v === 0));
      }
    });
  }
  // PyTorch fans: a 3x3 conv 64→64 has fan_in = fan_out = 576; the
  // transposed conv 64→32 (weight [64, 32, 3, 3]) fan_in = 32·9 = 288.
  assert.equal(kernelStd('kaiming', 0.02, [3, 3, 64, 64]), Math.sqrt(2 / 576));
  assert.equal(kernelStd('kaiming', 0.02, [3, 3, 32, 64]), Math.sqrt(2 / 288));
  assert.equal(kernelStd('xavier', 0.5, [3, 3, 32, 64]),
    0.5 * Math.sqrt(2 / (288 + 576)));
});

test('init: orthogonal kernels have orthonormal rows (times gain); batch ' +
  'norm scales ~ N(1, gain)', () => {
  withModel(defineD({ ndf: 4, initType: 'orthogonal', initGain: 0.5,
    seed: 2 }), (d) => tf.tidy(() => {
    // conv1: PyTorch weight [8, 4, 4, 4] → an 8 × 64 matrix.
    const kernel = d.getLayer('conv1').getWeights()[0];
    const rows = tf.reshape(tf.transpose(kernel, [3, 2, 0, 1]), [8, 64]);
    const gram = tf.matMul(rows, rows, false, true);
    assert.ok(maxAbsDiff(gram, tf.mul(tf.eye(8), 0.25)) < 1e-5);
    // conv0: [4, 3, 4, 4] → 4 × 48; last conv [1, 32, 4, 4] → 1 × 512.
    const k0 = tf.reshape(tf.transpose(d.getLayer('conv0').getWeights()[0],
      [3, 2, 0, 1]), [4, 48]);
    assert.ok(maxAbsDiff(tf.matMul(k0, k0, false, true),
      tf.mul(tf.eye(4), 0.25)) < 1e-5);
  }));
  withModel(defineG({ netG: 'unet_128', ngf: 2, initType: 'orthogonal',
    initGain: 1, seed: 2 }), (g) => tf.tidy(() => {
    // Outermost transposed conv: PyTorch weight [4, 3, 4, 4] → 4 × 48.
    const k = g.getLayer('unet0_up_convT').getWeights()[0];
    const m = tf.reshape(tf.transpose(k, [3, 2, 0, 1]), [4, 48]);
    assert.ok(maxAbsDiff(tf.matMul(m, m, false, true), tf.eye(4)) < 1e-5);
  }));
  withModel(defineG({ ngf: 64, norm: 'batch', seed: 3 }), (g) => {
    const [gamma, beta] = g.getLayer('res1_norm1').getWeights();
    const { mean, variance } = tf.tidy(() => {
      const mv = tf.moments(gamma);
      return { mean: mv.mean.dataSync()[0], variance: mv.variance
        .dataSync()[0] };
    });
    assert.ok(Math.abs(mean - 1) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(Math.sqrt(variance) - 0.02) < 0.005);
    assert.ok(beta.dataSync().every((v) => v === 0));
  });
});

test('bad options are refused with the option named', () => {
  assert.throws(() => defineG({ netG: 'resnet_7blocks' as never }),
    /generator option netG: expected one of resnet_9blocks, resnet_6blocks, unet_256, unet_128, got 'resnet_7blocks'/);
  assert.throws(() => defineG({ norm: 'layer' as never }),
    /generator option norm/);
  assert.throws(() => defineG({ ngf: 0 }),
    /generator option ngf: expected a positive integer, got 0/);
  assert.throws(() => defineD({ netD: 'patch' as never }),
    /discriminator option netD/);
  assert.throws(() => defineD({ nLayersD: 2.5 }),
    /discriminator option nLayersD/);
});

test('torchWeightMap names every weight once with its official key', () => {
  const cases: [tf.LayersModel, string[]][] = [
    [defineG({ ngf: 2, seed: 1 }), ['model.1.weight', 'model.4.weight',
      'model.10.conv_block.1.weight', 'model.18.conv_block.5.bias',
      'model.19.weight', 'model.22.weight', 'model.26.bias']],
    [defineG({ netG: 'resnet_6blocks', ngf: 2, useDropout: true,
      norm: 'batch', seed: 1 }), ['model.2.running_var',
      'model.10.conv_block.6.weight', 'model.15.conv_block.7.bias']],
    [defineG({ netG: 'unet_256', ngf: 2, seed: 1 }), ['model.model.0.weight',
      'model.model.3.bias', 'model.model.1.model.1.weight',
      'model.model.1.model.3.model.3.model.3.model.3.model.3.model.3.' +
      'model.3.weight']],
    [defineD({ ndf: 2, seed: 1 }), ['model.0.weight', 'model.2.weight',
      'model.11.bias']],
    [defineD({ netD: 'pixel', ndf: 2, norm: 'batch', seed: 1 }),
      ['net.0.bias', 'net.3.weight', 'net.5.weight']],
  ];
  for (const [model, keys] of cases) {
    const map = torchWeightMap(model);
    const all = map.map((e) => e.torchKey);
    assert.equal(new Set(all).size, all.length, `${model.name}: unique`);
    assert.equal(map.length, model.weights.length);
    for (const key of keys) assert.ok(all.includes(key), key);
    for (const e of map) {
      const rank = model.getLayer(e.layer).weights[e.index].shape.length;
      assert.equal(e.perm === undefined, rank === 1, e.torchKey);
    }
    model.dispose();
  }
});

test('countMacs: resnet_9blocks at 256x256 is about 50 GMAC, layer by layer',
  () => {
    withModel(defineG({ seed: 1 }), (g) => {
      const ngf = 64;
      const want = 256 ** 2 * 49 * 3 * ngf + // c7s1-64
        128 ** 2 * 9 * ngf * 2 * ngf + 64 ** 2 * 9 * 2 * ngf * 4 * ngf + // d
        18 * 64 ** 2 * 9 * (4 * ngf) ** 2 + // 9 residual blocks
        64 ** 2 * 9 * 4 * ngf * 2 * ngf + 128 ** 2 * 9 * 2 * ngf * ngf + // u
        256 ** 2 * 49 * ngf * 3; // c7s1-3
      assert.equal(countMacs(g, 256, 256), want);
      assert.ok(want > 49e9 && want < 51e9);
      assert.equal(countMacs(g, 256, 256, 2), 2 * want);
    });
  });

test('modelSummary: one line per layer with its shape at H x W, and the ' +
  'total', () => {
  withModel(defineD({ seed: 1 }), (d) => {
    const lines = modelSummary(d, 256, 256).split('\n');
    assert.equal(lines.length, d.layers.length + 3);
    assert.match(lines.find((l) => l.startsWith('conv4 ')) ?? '',
      /^conv4 +Conv2D +\[1, 30, 30, 1\] +8,193$/);
    assert.equal(lines[lines.length - 1],
      'total trainable parameters: 2,764,737');
    // 70 → 35 → 17 → 8 → 7 → 6 (each conv pads 1); 24 → ... → 1.
    assert.deepEqual(layerShapes(d, 70, 70).get('conv4'), [1, 6, 6, 1]);
    assert.deepEqual(layerShapes(d, 24, 24).get('conv4'), [1, 1, 1, 1]);
  });
});

test('save and load in a fresh process reproduce predictions exactly', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclegan-nets-'));
  try {
    const models: Record<string, tf.LayersModel> = {
      resnet: defineG({ netG: 'resnet_6blocks', ngf: 4, seed: 1,
        useDropout: true }),
      unet: defineG({ netG: 'unet_128', ngf: 2, norm: 'batch', seed: 1 }),
      patch: defineD({ ndf: 4, seed: 1 }),
    };
    const x = tf.randomUniform([1, 33, 35, 3], -1, 1, 'float32', 9);
    fs.writeFileSync(path.join(dir, 'input.json'), JSON.stringify(
      { shape: x.shape, values: Array.from(x.dataSync()) }));
    const want: Record<string, number[]> = {};
    for (const [name, model] of Object.entries(models)) {
      await model.save(`file://${path.join(dir, name)}`);
      want[name] = tf.tidy(() => Array.from((model.predict(x) as tf.Tensor)
        .dataSync()));
      model.dispose();
    }
    x.dispose();
    const child = path.join(__dirname, 'networks-child.js');
    execFileSync(process.execPath, [child, dir, ...Object.keys(models)],
      { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' }, stdio: 'pipe' });
    for (const name of Object.keys(models)) {
      const got = JSON.parse(fs.readFileSync(path.join(dir, name,
        'prediction.json'), 'utf8')) as { shape: number[]; values: number[] };
      assert.equal(got.values.length, want[name].length, name);
      assert.deepEqual(got.values, want[name], `${name} predictions`);
    }
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'resnet',
      'model.json'), 'utf8'));
    const classes = new Set((saved.modelTopology.config
      .layers as { class_name: string }[]).map((l) => l.class_name));
    for (const cls of ['Pad2d', 'PadToMultiple', 'CropLike', 'InstanceNorm',
      'Crop2d']) {
      assert.ok(classes.has(cls), `${cls} saved`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("upsample 'resize': nearest x2 then a 3x3 conv, same parameters and " +
  'sizes, 4x the upsampling MACs; ResNets only', () => {
  const transpose = defineG({ netG: 'resnet_6blocks', ngf: 8, seed: 1 });
  const resize = defineG({ netG: 'resnet_6blocks', ngf: 8, seed: 1,
    upsample: 'resize' });
  try {
    const names = resize.layers.map((l) => l.name);
    for (const n of ['up1_resize', 'up1_conv', 'up2_resize', 'up2_conv']) {
      assert.ok(names.includes(n), n);
    }
    assert.ok(!names.some((n) => n.endsWith('_convT')));
    assert.equal(resize.getLayer('up1_resize').getClassName(),
      'UpSampling2D');
    // A 3x3 conv and a 3x3 transposed conv of the same channels have the
    // same weights.
    assert.equal(countParams(resize), countParams(transpose));
    const shape = tf.tidy(() => (resize.predict(tf.zeros([1, 33, 35, 3])) as
      tf.Tensor).shape);
    assert.deepEqual(shape, [1, 33, 35, 3]);
    // At ngf 8 the resize convs map 32->16 channels at 32x32 and 16->8 at
    // 64x64; the transposed ones do the same work at a quarter of it.
    const extra = 0.75 * (32 * 32 * 9 * 32 * 16 + 64 * 64 * 9 * 16 * 8);
    assert.equal(countMacs(resize, 64, 64) - countMacs(transpose, 64, 64),
      extra);
  } finally {
    resize.dispose();
    transpose.dispose();
  }
  assert.throws(() => defineG({ netG: 'unet_128', upsample: 'resize' }),
    /upsample: 'resize' applies to the ResNet generators only, not unet_128/);
  assert.throws(() => defineG({ upsample: 'bilinear' as never }),
    /generator option upsample: expected one of transpose, resize/);
});
