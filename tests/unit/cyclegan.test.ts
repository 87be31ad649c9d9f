import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import {
  CycleGANNetworks, buildNetworks, discriminatorObjective,
  generatorObjective, variablesOf,
} from '../../lib/cyclegan';
import { cycleLoss, discriminatorLoss, ganLoss, identityLoss }
  from '../../lib/losses';
import type { NormType } from '../../lib/networks';
import { resolveOptions } from '../../lib/options';

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

const run = (m: tf.LayersModel, x: tf.Tensor) =>
  m.apply(x, { training: true }) as tf.Tensor4D;

type Opts = ReturnType<typeof resolveOptions>;

/** The generators' six terms with one pass per network application. */
function separateGeneratorTerms(n: CycleGANNetworks, a: tf.Tensor4D,
  b: tf.Tensor4D, o: Opts): tf.Scalar[] {
  const fakeB = run(n.generatorAtoB, a);
  const fakeA = run(n.generatorBtoA, b);
  return [
    ganLoss(run(n.discriminatorB, fakeB), true, o.ganMode),
    ganLoss(run(n.discriminatorA, fakeA), true, o.ganMode),
    cycleLoss(run(n.generatorBtoA, fakeB), a, o.lambdaA),
    cycleLoss(run(n.generatorAtoB, fakeA), b, o.lambdaB),
    identityLoss(run(n.generatorAtoB, b), b, o.lambdaB, o.lambdaIdentity),
    identityLoss(run(n.generatorBtoA, a), a, o.lambdaA, o.lambdaIdentity),
  ];
}

/** Values and gradients of `total` over `vars`, as plain numbers. */
function valueAndGrads(total: () => tf.Scalar, vars: tf.Variable[]):
    { value: number; grads: tf.Tensor[] } {
  const { value, grads } = tf.variableGrads(total, vars);
  const out = { value: value.dataSync()[0],
    grads: vars.map((v) => grads[v.name]) };
  value.dispose();
  return out;
}

for (const norm of ['instance', 'batch'] as NormType[]) {
  test(`objectives with ${norm} norm equal one pass per application, ` +
    'values and gradients', () => {
    const o = resolveOptions({ netG: 'resnet_6blocks', ngf: 4, ndf: 4,
      norm, lambdaB: 7 });
    const nets = buildNetworks(o);
    const a = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 31) as
      tf.Tensor4D;
    const b = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 32) as
      tf.Tensor4D;
    const before = tf.memory().numTensors;
    const genVars = variablesOf(nets.generatorAtoB, nets.generatorBtoA);
    const ours = tf.tidy(() => generatorObjective(nets, a, b, o).terms
      .map(([, t]) => t.dataSync()[0]));
    const ref = tf.tidy(() => separateGeneratorTerms(nets, a, b, o)
      .map((t) => t.dataSync()[0]));
    ours.forEach((v, i) => assert.ok(Math.abs(v - ref[i]) < 1e-5 *
      Math.max(1, Math.abs(ref[i])), `term ${i}: ${v} vs ${ref[i]}`));
    // Batch norm over a joint pass would pool both images: the terms
    // would differ by far more than rounding.
    const g1 = valueAndGrads(() => generatorObjective(nets, a, b, o).total,
      genVars);
    const g2 = valueAndGrads(() => tf.addN(separateGeneratorTerms(nets, a,
      b, o)) as tf.Scalar, genVars);
    const overall = Math.max(...g2.grads.map((g) =>
      tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0])));
    assert.ok(overall > 1e-3, `gradient scale ${overall}`);
    g1.grads.forEach((g, i) => assert.ok(maxAbsDiff(g, g2.grads[i]) <
      1e-4 * overall, `${genVars[i].name}: ${maxAbsDiff(g, g2.grads[i])}`));
    // The discriminators' objective: each D judges real and pooled fake.
    const disVars = variablesOf(nets.discriminatorA, nets.discriminatorB);
    const pa = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 33) as
      tf.Tensor4D;
    const pb = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 34) as
      tf.Tensor4D;
    const d1 = valueAndGrads(() => discriminatorObjective(nets, a, b, pa,
      pb, o).total, disVars);
    const d2 = valueAndGrads(() => tf.add(
      discriminatorLoss(run(nets.discriminatorB, b),
        run(nets.discriminatorB, pb), o.ganMode),
      discriminatorLoss(run(nets.discriminatorA, a),
        run(nets.discriminatorA, pa), o.ganMode)) as tf.Scalar, disVars);
    assert.ok(Math.abs(d1.value - d2.value) < 1e-5, `${d1.value} ${d2.value}`);
    // Overall scales: a conv bias just before an instance norm has a
    // gradient that is zero up to rounding.
    const overallD = Math.max(...d2.grads.map((g) =>
      tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0])));
    d1.grads.forEach((g, i) => assert.ok(maxAbsDiff(g, d2.grads[i]) <
      1e-4 * overallD, `${disVars[i].name}: ${maxAbsDiff(g, d2.grads[i])}`));
    tf.dispose([...g1.grads, ...g2.grads, ...d1.grads, ...d2.grads, pa, pb]);
    assert.equal(tf.memory().numTensors, before);
    for (const m of Object.values(nets)) m.dispose();
    tf.dispose([a, b]);
  });
}

test('with instance norm a training step runs each generator twice, ' +
  'once on a batch of two', async () => {
  const o = resolveOptions({ netG: 'resnet_6blocks', ngf: 4, ndf: 4 });
  const nets = buildNetworks(o);
  const a = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 35) as
    tf.Tensor4D;
  const b = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 36) as
    tf.Tensor4D;
  // The first convolution of each generator sees every generator pass.
  const info = await tf.profile(() => tf.tidy(() => {
    generatorObjective(nets, a, b, o);
  }));
  const firstConvBatches = info.kernels
    .filter((k) => k.name === 'FusedConv2D' || k.name === 'Conv2D')
    .filter((k) => k.inputShapes[0]?.[3] === 3 &&
      k.inputShapes[0]?.[1] === 38)
    .map((k) => k.inputShapes[0]![0]);
  // G: [a; b] then F(b)'s output; F: [b; a] then G(a)'s output.
  assert.deepEqual([...firstConvBatches].sort(), [1, 1, 2, 2]);
  for (const m of Object.values(nets)) m.dispose();
  tf.dispose([a, b]);
});

test('with batch norm the generators run in the official order, one ' +
  'image a call', () => {
  const o = resolveOptions({ netG: 'resnet_6blocks', ngf: 4, ndf: 4,
    norm: 'batch' });
  const nets = buildNetworks(o);
  const a = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 37) as
    tf.Tensor4D;
  const b = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 38) as
    tf.Tensor4D;
  // Each call moves the running statistics: record what each net saw.
  const calls: string[] = [];
  for (const [tag, m] of [['G', nets.generatorAtoB],
    ['F', nets.generatorBtoA]] as const) {
    const apply = m.apply.bind(m);
    m.apply = ((x: tf.Tensor, kw?: object) => {
      const t = x as tf.Tensor;
      calls.push(`${tag}(${t === a ? 'a' : t === b ? 'b' : 'fake'}` +
        `${t.shape[0] > 1 ? ' batch' : ''})`);
      return apply(x, kw);
    }) as typeof m.apply;
  }
  tf.tidy(() => { generatorObjective(nets, a, b, o); });
  // Official: fake_B = G(a), rec_A = F(fake_B), fake_A = F(b),
  // rec_B = G(fake_A), then idt_A = G(b), idt_B = F(a).
  assert.deepEqual(calls, ['G(a)', 'F(fake)', 'F(b)', 'G(fake)', 'G(b)',
    'F(a)']);
  for (const m of Object.values(nets)) m.dispose();
  tf.dispose([a, b]);
});
