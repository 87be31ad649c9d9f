import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { loadCheckpoint } from '../../lib/checkpoint';
import { CycleGAN, CycleGANNetworks } from '../../lib/cyclegan';
import { Batch } from '../../lib/dataset';
import { discriminatorLoss, gradientPenalty } from '../../lib/losses';
import { Rng } from '../../lib/rng';
import {
  CYCLEGAN_DEFAULTS, CycleGANOptions, optionsTable, profileOptions,
  resolveOptions,
} from '../../lib/options';
import { PROFILES } from '../../lib/profiles';
import { lossChartPng, lossChartSpec } from '../../lib/plot';
import { flagNames, parseTrainArgs } from '../../lib/cli/train';
import { TrainingData, formatLogLine, train } from '../../lib/train';
import { tempDirs } from './tmp';

const tmpRoot = tempDirs('train-test-');
before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

const quiet = () => undefined;

/**
 * Data of fixed tensors: `steps` batches per epoch of 1×size×size×3
 * images, seeded by (epoch, step); `poison(epoch, step)` puts a NaN in.
 */
function fixedData(steps: number, size: number,
  poison?: (epoch: number, step: number) => boolean): TrainingData {
  let position = 0;
  return {
    length: steps,
    async *batches(epoch: number): AsyncGenerator<Batch> {
      for (let i = 0; i < steps; i++) {
        const seed = epoch * 1000 + i;
        const realA = tf.randomUniform([1, size, size, 3], -1, 1, 'float32',
          seed) as tf.Tensor4D;
        let realB = tf.randomUniform([1, size, size, 3], -1, 1, 'float32',
          seed + 500) as tf.Tensor4D;
        if (poison?.(epoch, i)) {
          const bad = tf.mul(realB, NaN) as tf.Tensor4D;
          realB.dispose();
          realB = bad;
        }
        position++;
        yield { realA, realB, pathsA: [], pathsB: [] };
      }
    },
    rngState: () => ({ position }),
    restoreRng: (s: unknown) => {
      position = (s as { position: number }).position;
    },
  };
}

/** One-conv generators and discriminators: the loop without the cost. */
function tinyNetworks(): CycleGANNetworks {
  const g = (seed: number) => tf.sequential({ layers: [tf.layers.conv2d({
    inputShape: [null, null, 3], filters: 3, kernelSize: 3, padding: 'same',
    activation: 'tanh',
    kernelInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed }),
  })] });
  const d = (seed: number) => tf.sequential({ layers: [tf.layers.conv2d({
    inputShape: [null, null, 3], filters: 1, kernelSize: 4, strides: 2,
    padding: 'same',
    kernelInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed }),
  })] });
  return { generatorAtoB: g(1), generatorBtoA: g(2), discriminatorA: d(3),
    discriminatorB: d(4) };
}

/**
 * The smallest real networks: resnet_6blocks with ngf 4, and a one-layer
 * PatchGAN with ndf 4 (the 3-layer one needs at least 24 px).
 */
const tinyReal: Partial<CycleGANOptions> = {
  netG: 'resnet_6blocks', ngf: 4, ndf: 4, netD: 'n_layers', nLayersD: 1,
};

const maxAbsDiff = (a: tf.LayersModel, b: tf.LayersModel) => {
  let max = 0;
  a.getWeights().forEach((w, i) => {
    const x = w.dataSync();
    const y = b.getWeights()[i].dataSync();
    for (let j = 0; j < x.length; j++) {
      max = Math.max(max, Math.abs(x[j] - y[j]));
    }
  });
  return max;
};

/** Two 12×12 PNG folders of one image each, for the real loader. */
async function tinyImageFolder(root: string): Promise<string> {
  const dir = path.join(root, 'data');
  for (const [sub, seed] of [['trainA', 1], ['trainB', 2]] as const) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
    const px = Buffer.alloc(12 * 12 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37 * seed + 11) % 256;
    await sharp(px, { raw: { width: 12, height: 12, channels: 3 } }).png()
      .toFile(path.join(dir, sub, 'img.png'));
  }
  return dir;
}

test('the step weights losses as the paper: identity 0.5 for x + 0.1', () => {
  // 1×1 conv generators computing x + 0.1: |G(b) − b| = 0.1, so idt_A =
  // λ_B·λ_idt·0.1 = 0.5; the cycle adds 0.1 twice: cycle_A = 10·0.2 = 2.
  const shift = () => {
    const m = tf.sequential({ layers: [tf.layers.conv2d({
      inputShape: [null, null, 3], filters: 3, kernelSize: 1 })] });
    m.setWeights([tf.eye(3).reshape([1, 1, 3, 3]), tf.fill([3], 0.1)]);
    return m;
  };
  const nets = { ...tinyNetworks(), generatorAtoB: shift(),
    generatorBtoA: shift() };
  const model = new CycleGAN(nets, { ...CYCLEGAN_DEFAULTS, poolSize: 0 });
  const realA = tf.randomUniform([1, 8, 8, 3], -0.5, 0.5, 'float32', 1) as
    tf.Tensor4D;
  const realB = tf.randomUniform([1, 8, 8, 3], -0.5, 0.5, 'float32', 2) as
    tf.Tensor4D;
  const losses = model.trainStep(realA, realB);
  for (const k of ['idt_A', 'idt_B'] as const) {
    assert.ok(Math.abs(losses[k] - 0.5) < 1e-6, `${k} ${losses[k]}`);
  }
  for (const k of ['cycle_A', 'cycle_B'] as const) {
    assert.ok(Math.abs(losses[k] - 2) < 1e-5, `${k} ${losses[k]}`);
  }
  model.dispose();
  tf.dispose([realA, realB]);
});

test('identity loss is refused for 1-channel A and 3-channel B', () => {
  assert.throws(() => resolveOptions({ inputNc: 1 }),
    /lambdaIdentity 0.5 needs inputNc == outputNc \(got inputNc 1/);
  assert.doesNotThrow(() => resolveOptions({ inputNc: 1,
    lambdaIdentity: 0 }));
  assert.throws(() => resolveOptions({ lamdaA: 1 } as never),
    /unknown option 'lamdaA'/);
  assert.throws(() => resolveOptions({ lr: '0.1' } as never),
    /option lr: expected a number, got "0.1"/);
});

test('the options table marks changed defaults and profiles resolve', () => {
  const table = optionsTable(resolveOptions({ ngf: 32 }));
  assert.match(table, /\n\s+ngf: 32\s+\(\*\) default 64\n/);
  assert.match(table, /\n\s+lambdaA: 10\n/);
  for (const p of Object.values(PROFILES)) {
    assert.doesNotThrow(() => resolveOptions(profileOptions(p)), p.name);
  }
});

test('1,000 steps with saves and samples leak no tensor (F15)', async () => {
  const root = tmpRoot();
  const counts: number[] = [];
  // 50 steps an epoch: Adam's moments exist and the pools (50 each) are
  // full after epoch 1; then 20 more epochs = 1,000 steps, with 20
  // checkpoints and 40 sample grids.
  const result = await train({ checkpointsDir: root, name: 'leak',
    nEpochs: 21, nEpochsDecay: 0, printFreq: 10, displayFreq: 25,
    saveEpochFreq: 10 }, {
    dataset: fixedData(50, 8), networks: tinyNetworks, log: quiet,
    onEpoch: ({ epoch }) => { counts.push(tf.memory().numTensors); },
  });
  assert.equal(result.status, 'finished');
  assert.equal(result.iterations, 1050);
  assert.equal(counts.length, 21);
  assert.deepEqual([...new Set(counts)], [counts[0]]);
  // Mid-epoch counts (log lines) are flat too, 2 above: the batch.
  const logged = result.history.filter((r) => r.epoch >= 2)
    .map((r) => r.numTensors);
  assert.deepEqual([...new Set(logged)], [counts[0] + 2]);
  assert.deepEqual(fs.readdirSync(path.join(root, 'leak')).sort(), [
    'epoch_10', 'epoch_20', 'latest', 'loss_log.txt', 'opt.json', 'opt.txt',
    'samples']);
  assert.equal(fs.readdirSync(path.join(root, 'leak', 'samples')).length, 21);
});

test('real networks: same tensor count at step 3 and 13 (F15)', async () => {
  const root = tmpRoot();
  const counts = new Map<number, number>();
  await train({ ...tinyReal, checkpointsDir: root, name: 'f15', poolSize: 2,
    nEpochs: 13, nEpochsDecay: 0, printFreq: 1, displayFreq: 1 }, {
    dataset: fixedData(1, 8), log: quiet,
    onEpoch: ({ epoch }) => { counts.set(epoch, tf.memory().numTensors); },
  });
  assert.equal(counts.get(13), counts.get(3));
});

test('log lines have a fixed format and go to loss_log.txt', async () => {
  const root = tmpRoot();
  const lines: string[] = [];
  const result = await train({ checkpointsDir: root, name: 'log',
    nEpochs: 1, nEpochsDecay: 0, printFreq: 2 }, {
    dataset: fixedData(4, 8), networks: tinyNetworks,
    log: (l) => lines.push(l) });
  const record = result.history[0];
  assert.match(formatLogLine(record), new RegExp('^\\(epoch: 1, iters: 2, ' +
    'ms/iter: \\d+\\.\\d, img/s: \\d+\\.\\d\\d, tensors: \\d+\\) D_A: ' +
    '\\d\\.\\d{3} G_A: \\d\\.\\d{3} cycle_A: \\d+\\.\\d{3} idt_A: ' +
    '\\d+\\.\\d{3} D_B: \\d\\.\\d{3} G_B: \\d\\.\\d{3} cycle_B: ' +
    '\\d+\\.\\d{3} idt_B: \\d+\\.\\d{3}$'));
  const log = fs.readFileSync(path.join(result.dir, 'loss_log.txt'), 'utf8');
  assert.equal(log.split('\n').filter((l) => l.startsWith('(epoch')).length,
    2);
  assert.ok(lines.some((l) => l.includes('nEpochs: 1') &&
    l.includes('(*) default 100')));
  const opt = JSON.parse(fs.readFileSync(path.join(result.dir, 'opt.json'),
    'utf8'));
  assert.equal(opt.nEpochs, 1);
  assert.equal(opt.maxDatasetSize, 'Infinity');
  // A fresh run into the same folder is refused.
  await assert.rejects(train({ checkpointsDir: root, name: 'log' }, {
    dataset: fixedData(1, 8), networks: tinyNetworks, log: quiet }),
  /already holds checkpoints: resume with continueTrain/);
});

test('resume at epoch 150 of 100+100: epoch 151 at 9.90e-5, numbering ' +
  'continues (F10)', async () => {
  const root = tmpRoot();
  const o = { checkpointsDir: root, name: 'f10', epochCount: 150,
    nEpochs: 100, nEpochsDecay: 100, saveEpochFreq: 5 };
  const first = await train(o, { dataset: fixedData(1, 8),
    networks: tinyNetworks, log: quiet, stopAfterEpoch: 150 });
  assert.equal(first.status, 'stopped');
  assert.equal(first.lastEpoch, 150);
  const lrs: [number, number][] = [];
  const second = await train({ ...o, continueTrain: true }, {
    dataset: fixedData(1, 8), networks: tinyNetworks, log: quiet,
    stopAfterEpoch: 151, onEpoch: (e) => { lrs.push([e.epoch, e.lr]); } });
  assert.equal(second.firstEpoch, 151);
  assert.deepEqual(lrs.map(([e]) => e), [151]);
  assert.equal(lrs[0][1].toExponential(2), '9.90e-5');
  assert.ok(Math.abs(lrs[0][1] - 2e-4 * (1 - 51 / 101)) < 1e-15);
  // epoch_150 is kept as it was; latest moved on to 151.
  const e150 = await loadCheckpoint(second.dir, 'epoch_150');
  const latest = await loadCheckpoint(second.dir, 'latest');
  assert.equal((e150.state as { epoch: number }).epoch, 150);
  assert.equal((latest.state as { epoch: number }).epoch, 151);
  e150.dispose();
  latest.dispose();
  // Resuming a numbered checkpoint (--epoch 150) starts after it, too.
  const again = await train({ ...o, continueTrain: true, loadEpoch: '150' },
    { dataset: fixedData(1, 8), networks: tinyNetworks, log: quiet,
      stopAfterEpoch: 151 });
  assert.equal(again.firstEpoch, 151);
  await assert.rejects(train({ ...o, continueTrain: true, loadEpoch: '7' },
    { dataset: fixedData(1, 8), networks: tinyNetworks, log: quiet }),
  /no checkpoint 'epoch_7'/);
});

test('2 steps, save, load, 1 step equals 3 uninterrupted steps (F11)',
  async () => {
    const root = tmpRoot();
    const dataroot = await tinyImageFolder(root);
    // One image per domain: an epoch is one step. Random crops and flips
    // (data generator), pool size 1 (pool generator at step 3) and a
    // decaying lr all have to resume exactly.
    const o: Partial<CycleGANOptions> = { ...tinyReal, dataroot,
      checkpointsDir: root, loadSize: 10, cropSize: 8, poolSize: 1,
      nEpochs: 1, nEpochsDecay: 2, lr: 0.01 };
    const hooks = { log: quiet, keepModel: true };
    const straight = await train({ ...o, name: 'straight' }, hooks);
    const part = await train({ ...o, name: 'resumed' },
      { ...hooks, stopAfterEpoch: 2 });
    assert.equal(part.iterations, 2);
    part.model!.dispose();
    const rest = await train({ ...o, name: 'resumed', continueTrain: true },
      hooks);
    assert.equal(rest.iterations, 1);
    assert.equal(rest.firstEpoch, 3);
    const a = straight.model!;
    const b = rest.model!;
    for (const k of ['generatorAtoB', 'generatorBtoA', 'discriminatorA',
      'discriminatorB'] as const) {
      const diff = maxAbsDiff(a[k], b[k]);
      assert.ok(diff < 1e-6, `${k}: max abs diff ${diff}`);
    }
    // The weights did move: lr 0.01 over 3 steps is far from 1e-6.
    const fresh = CycleGAN.create(resolveOptions(o));
    assert.ok(maxAbsDiff(fresh.generatorAtoB, a.generatorAtoB) > 1e-3);
    assert.equal(b.optimizerG.iterations, 3);
    [a, b, fresh].forEach((m) => m.dispose());

    // Past the last epoch there is nothing to do.
    const lines: string[] = [];
    const none = await train({ ...o, name: 'resumed', continueTrain: true },
      { log: (l) => lines.push(l) });
    assert.equal(none.status, 'nothing-to-do');
    assert.match(lines.join('\n'), new RegExp('nothing to do: checkpoint ' +
      '.*latest finished epoch 3, and training ends at epoch 3'));
  });

test('a NaN loss stops training, naming it; the last checkpoint stays',
  async () => {
    const root = tmpRoot();
    const lines: string[] = [];
    const result = await train({ checkpointsDir: root, name: 'nan',
      nEpochs: 3, nEpochsDecay: 0 }, {
      dataset: fixedData(2, 8, (epoch, step) => epoch === 2 && step === 1),
      networks: tinyNetworks, log: (l) => lines.push(l) });
    assert.equal(result.status, 'diverged');
    assert.equal(result.lastEpoch, 1);
    assert.match(result.message!, new RegExp('non-finite loss at ' +
      'iteration 4, generator step: G_B = NaN, cycle_B = NaN, idt_A = NaN' +
      '.*epoch 2, iteration 2 of the epoch.*Last good checkpoint: .*latest'));
    const ck = await loadCheckpoint(result.dir, 'latest');
    assert.equal((ck.state as { epoch: number }).epoch, 1);
    for (const w of Object.values(ck.networkWeights).flat()) {
      assert.ok(w.dataSync().every(Number.isFinite));
    }
    ck.dispose();
  });

test('wgangp: the critic loss includes the gradient penalty', () => {
  const o = resolveOptions({ ...tinyReal, ganMode: 'wgangp', poolSize: 0 });
  const model = CycleGAN.create(o);
  const realA = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 1) as
    tf.Tensor4D;
  const realB = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 2) as
    tf.Tensor4D;
  // D_A as the step must compute it: discriminatorB on realB and on
  // G(realA) made before the generator update, α from the model's
  // generator (seeded "<modelSeed>/gp"), plus λ_GP·E[(‖∇D(x̂)‖ − 1)²].
  const want = tf.tidy(() => {
    const d = (x: tf.Tensor4D) => model.discriminatorB.apply(x,
      { training: true }) as tf.Tensor;
    const fakeB = model.generatorAtoB.apply(realA, { training: true }) as
      tf.Tensor4D;
    const rng = new Rng(`${o.modelSeed}/gp`);
    const alpha = tf.tensor1d([rng.next(), rng.next()]);
    const penalty = gradientPenalty(d, realB, fakeB, alpha);
    return [discriminatorLoss(d(realB), d(fakeB), 'wgangp').dataSync()[0],
      penalty.dataSync()[0]];
  });
  const first = model.trainStep(realA, realB);
  const second = model.trainStep(realA, realB);
  for (const l of [first, second]) {
    assert.ok(Object.values(l).every(Number.isFinite), JSON.stringify(l));
  }
  assert.ok(want[1] > 0.1, `penalty ${want[1]}`);
  assert.ok(Math.abs(first.D_A - (want[0] + want[1])) < 1e-4,
    `D_A ${first.D_A}, want ${want[0]} + ${want[1]}`);
  model.dispose();
  tf.dispose([realA, realB]);
});

test('the CLI maps kebab-case flags onto every option', () => {
  const { overrides, profile } = parseTrainArgs(['--profile', 'smoke',
    '--dataset', 'data/x', '--lambda-a', '5', '--n-epochs-decay', '3',
    '--max-dataset-size', 'inf', '--serial-batches', '--use-dropout',
    'false', '--disable-flip', '--continue', '--net-g', 'unet_128']);
  assert.equal(profile, 'smoke');
  assert.deepEqual(overrides, { dataroot: 'data/x', lambdaA: 5,
    nEpochsDecay: 3, maxDatasetSize: Infinity, serialBatches: true,
    useDropout: false, noFlip: true, continueTrain: true, netG: 'unet_128' });
  assert.throws(() => parseTrainArgs(['--lr', 'fast']),
    /--lr: expected a number, got 'fast'/);
});

test('the loss chart has both panels and renders to PNG', async () => {
  const records = [1, 2, 3].map((i) => ({ epoch: 1, epochIteration: i,
    iteration: i, lr: 2e-4, msPerIteration: 1, imagesPerSecond: 1,
    numTensors: 1, losses: { D_A: 0.1 * i, G_A: 0.2, cycle_A: 3, idt_A: 1.5,
      D_B: 0.3, G_B: 0.4, cycle_B: 2.5, idt_B: 1.2 } }));
  const spec = lossChartSpec(records) as { data: { values: unknown[] } };
  assert.equal(spec.data.values.length, 24);
  const png = await lossChartPng(records);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.ok(meta.width! > 560 && meta.height! > 320,
    `${meta.width}x${meta.height}`);
});

test('all-white images train to finite losses and weights (F12)', () => {
  const model = CycleGAN.create(resolveOptions(tinyReal));
  const white = tf.ones([1, 8, 8, 3]) as tf.Tensor4D;
  for (let i = 0; i < 2; i++) {
    const losses = model.trainStep(white, white);
    assert.ok(Object.values(losses).every(Number.isFinite),
      JSON.stringify(losses));
  }
  for (const net of Object.values(model.networks)) {
    for (const w of net.getWeights()) {
      assert.ok(w.dataSync().every(Number.isFinite), net.name);
    }
  }
  model.dispose();
  white.dispose();
});

test('the train CLI names options as flags in errors', () => {
  let message = '';
  try {
    resolveOptions({ lambdaIdentity: -1, nLayersD: 3 });
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /^option lambdaIdentity: expected a number >= 0/);
  assert.match(flagNames(message), /^--lambda-identity: expected a number >= 0/);
  assert.equal(flagNames('option noFlip: expected a boolean'),
    '--disable-flip: expected a boolean');
  assert.equal(flagNames('option other: x'), 'option other: x');
});
