/**
 * The workshop exercises: what a student writes, and the checks that
 * compare it with the library on fixed inputs.
 *
 * In the finished notebooks an exercise is a code cell tagged `exercise`
 * (its body is the reference solution, written from tf ops), followed by a
 * check cell tagged `exercise-check` that calls {@link check}.
 * `npm run workshop` (lib/cli/workshop.ts) writes the student copies: the
 * exercise cell's body becomes the prompt and stub held here in
 * lib/exercises. A check never throws: it prints one `PASS` or `FAIL`
 * line, and on a failure what differs (shape, value or gradient, with the
 * input it differs on) and, when the answer matches a known mistake, a
 * hint naming it; so a notebook with unfinished exercises still runs top
 * to bottom.
 */
import * as tf from '@tensorflow/tfjs';
import { pairingSchedule } from './dataset';
import {
  CropLike, Pad2d, PadToMultiple, padToMultipleAmounts,
} from './layers';
import { cycleLoss as libCycleLoss, discriminatorLoss, ganLoss,
  identityLoss as libIdentityLoss } from './losses';
import {
  defineD, discriminatorLayers, generatorMultiple,
  receptiveField as libReceptiveField, residualBlockModel,
} from './networks';
import { CycleGANNetworks, buildNetworks, generatorObjective, variablesOf }
  from './cyclegan';
import { resolveOptions } from './options';
import { ImagePool } from './pool';
import { Rng } from './rng';
import { EXERCISES } from './exercises';

export { EXERCISES } from './exercises';

/** The weights `myResidualBlock` gets: HWIO kernels and biases. */
export interface BlockWeights {
  kernel1: tf.Tensor4D; bias1: tf.Tensor1D;
  kernel2: tf.Tensor4D; bias2: tf.Tensor1D;
}

/** The loss weights `myGeneratorLoss` gets. */
export interface LossWeights {
  lambdaA: number; lambdaB: number; lambdaIdentity: number;
}

/** The outcome of a check. */
export interface CheckResult {
  id: string;
  pass: boolean;
  /** The lines {@link check} prints; the first says PASS or FAIL. */
  lines: string[];
}

/** Raised inside a check to report the first difference. */
class Mismatch extends Error {}

/** `x` rounded for display. */
function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(6);
}

function describeError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (/^TODO/.test(msg)) return `not written yet (it still throws '${msg}')`;
  return `it threw an error: ${msg}`;
}

/** Values of a tensor-like answer, or a Mismatch saying what it is. */
function tensorOf(got: unknown, what: string): tf.Tensor {
  if (!(got instanceof tf.Tensor)) {
    throw new Mismatch(`${what}: expected a tensor, got ` +
      `${got === undefined ? 'undefined (is a return missing?)' :
        typeof got}`);
  }
  if (got.isDisposed) throw new Mismatch(`${what}: the tensor is disposed`);
  return got;
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a.toFloat(), b.toFloat())))
    .dataSync()[0]);
}

/**
 * Compares a tensor answer with the expected one: shape first, then the
 * largest difference. `hints` maps a known mistake's result to its name.
 */
function sameTensor(got: unknown, want: tf.Tensor, what: string, tol: number,
  hints: [string, tf.Tensor][] = []): void {
  const t = tensorOf(got, what);
  if (t.shape.join() !== want.shape.join()) {
    const hint = hints.find(([, h]) => h.shape.join() === t.shape.join());
    throw new Mismatch(`${what}: shape [${t.shape.join(', ')}], expected ` +
      `[${want.shape.join(', ')}]` + (hint ? `\n  hint: ${hint[0]}?` : ''));
  }
  const diff = maxAbsDiff(t, want);
  if (!(diff <= tol)) {
    const hint = hints.find(([, h]) => h.shape.join() === t.shape.join() &&
      maxAbsDiff(t, h) <= tol);
    const scalar = t.size === 1;
    throw new Mismatch(`${what}: ` + (scalar
      ? `value ${fmt(t.dataSync()[0])}, expected ${fmt(want.dataSync()[0])}`
      : `values differ from the expected ones by up to ${fmt(diff)} ` +
        `(tolerance ${tol})`) + (hint ? `\n  hint: ${hint[0]}?` : ''));
  }
}

function sameJson(got: unknown, want: unknown, what: string,
  hints: [string, unknown][] = []): void {
  const g = JSON.stringify(got);
  if (g !== JSON.stringify(want)) {
    const hint = hints.find(([, h]) => JSON.stringify(h) === g);
    const short = (s: string | undefined) => s === undefined ? 'undefined' :
      s.length > 70 ? `${s.slice(0, 70)}…` : s;
    throw new Mismatch(`${what}: got ${short(g)}, expected ` +
      `${short(JSON.stringify(want))}` + (hint ? `\n  hint: ${hint[0]}?` : ''));
  }
}

/** A random tensor from a fixed seed. */
const rand = (shape: number[], seed: number, lo = -1, hi = 1) =>
  tf.randomUniform(shape, lo, hi, 'float32', seed);

type Answer = (...args: never[]) => unknown;
type Checker = (answer: Answer) => string;

function disposeNets(nets: CycleGANNetworks): void {
  for (const m of Object.values(nets)) m.dispose();
}

/** Compares the value and the gradient of a scalar objective. */
function sameObjective(f: () => unknown, ref: () => tf.Scalar,
  vars: tf.Variable[], what: string, hints: [string, tf.Scalar][],
  detail = ''): void {
  let got: { value: tf.Scalar; grads: tf.NamedTensorMap };
  try {
    got = tf.variableGrads(() => {
      const v = f();
      tensorOf(v, `${what}: the returned loss`);
      if ((v as tf.Tensor).size !== 1) {
        throw new Mismatch(`${what}: expected a scalar loss, got shape ` +
          `[${(v as tf.Tensor).shape.join(', ')}]`);
      }
      return tf.reshape(v as tf.Tensor, []) as tf.Scalar;
    }, vars);
  } catch (e) {
    if (e instanceof Mismatch) throw e;
    if (e instanceof Error && /Cannot find a connection|gradient/.test(
      e.message)) {
      throw new Mismatch(`${what}: no gradient reaches the networks' ` +
        `weights (${e.message})`);
    }
    throw e;
  }
  const want = tf.variableGrads(ref, vars);
  try {
    try {
      sameTensor(got.value, want.value, `${what}: the loss`, 1e-4 *
        Math.max(1, Math.abs(want.value.dataSync()[0])), hints);
    } catch (e) {
      if (e instanceof Mismatch && detail) {
        throw new Mismatch(`${e.message}\n  ${detail}`);
      }
      throw e;
    }
    const largest = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t))
      .dataSync()[0]);
    // Some gradients are zero up to rounding (a conv bias before an
    // instance norm): those are judged against the largest one overall.
    const overall = Math.max(...vars.map((v) => largest(want.grads[v.name])));
    for (const v of vars) {
      const g = got.grads[v.name];
      const w = want.grads[v.name];
      if (!g) throw new Mismatch(`${what}: no gradient for ${v.name}`);
      const scale = Math.max(1e-6, largest(w));
      const bound = scale < 1e-3 * overall ? 1e-5 * overall :
        1e-3 * scale + 1e-7;
      const diff = maxAbsDiff(g, w);
      if (diff > bound) {
        throw new Mismatch(`${what}: the value matches but the gradient ` +
          `for ${v.name} differs by up to ${fmt(diff)} (largest ` +
          `expected ${fmt(scale)}, allowed ${fmt(bound)})`);
      }
    }
  } finally {
    tf.dispose([got.value, want.value, ...Object.values(got.grads),
      ...Object.values(want.grads)]);
  }
}

const CHECKS: Record<string, Checker> = {
  myPairing(answer) {
    const f = answer as (nA: number, nB: number, serial: boolean,
      rng: Rng) => unknown;
    const cases: [number, number, boolean][] = [[5, 3, true], [3, 5, true],
      [6, 4, false], [4, 7, false]];
    for (const [nA, nB, serial] of cases) {
      const what = `myPairing(${nA}, ${nB}, ${serial}, new Rng(7))`;
      const want = pairingSchedule(nA, nB, serial, new Rng(7));
      const order = new Rng(7).shuffle(Array.from(
        { length: Math.max(nA, nB) }, (_, i) => i));
      const hints: [string, unknown][] = [
        ['an epoch of min(nA, nB) steps instead of max', want.slice(0,
          Math.min(nA, nB))],
        ['B follows A (s % nB): the pairs are aligned, not drawn at random',
          order.map((s) => [s % nA, s % nB])],
      ];
      sameJson(f(nA, nB, serial, new Rng(7)), want, what, hints);
    }
    return 'matches the library on 2 serial and 2 shuffled epochs';
  },

  myReflectPad(answer) {
    const f = answer as (x: tf.Tensor4D, p: number) => unknown;
    for (const [shape, p] of [[[1, 3, 3, 1], 1], [[2, 5, 4, 3], 2]] as
      [number[], number][]) {
      tf.tidy(() => {
        const x = rand(shape, 11) as tf.Tensor4D;
        const want = new Pad2d({ padding: p, mode: 'reflect' }).apply(x) as
          tf.Tensor;
        const hints: [string, tf.Tensor][] = [
          ["'symmetric' mirroring: the edge pixel is repeated",
            tf.mirrorPad(x, [[0, 0], [p, p], [p, p], [0, 0]], 'symmetric')],
          ['zero padding instead of reflection',
            tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])],
        ];
        sameTensor(f(x, p), want, `myReflectPad(x of [${shape}], ${p})`, 1e-6,
          hints);
      });
    }
    return 'matches the library on a 3×3 and a 5×4 image';
  },

  myResidualBlock(answer) {
    const f = answer as (x: tf.Tensor4D, w: BlockWeights) => unknown;
    const dim = 4;
    const block = residualBlockModel(dim, { seed: 5 });
    const zeroPad = residualBlockModel(dim, { padMode: 'zero', seed: 5 });
    try {
      zeroPad.setWeights(block.getWeights());
      tf.tidy(() => {
        const layer = (name: string) => block.getLayer(name).getWeights();
        const [kernel1, bias1] = layer('block_conv1');
        const [kernel2, bias2] = layer('block_conv2');
        const w = { kernel1, bias1, kernel2, bias2 } as BlockWeights;
        const x = rand([1, 6, 5, dim], 12) as tf.Tensor4D;
        const want = block.apply(x) as tf.Tensor;
        const hints: [string, tf.Tensor][] = [
          ['the skip connection (x +) left out', tf.sub(want, x)],
          ['a ReLU after the addition', tf.relu(want)],
          ['zero padding instead of reflection', zeroPad.apply(x) as
            tf.Tensor],
        ];
        sameTensor(f(x, w), want, 'myResidualBlock(x of [1, 6, 5, 4], w)',
          1e-4, hints);
      });
    } finally {
      block.dispose();
      zeroPad.dispose();
    }
    return 'matches the generators\' block on a 6×5 input of 4 channels';
  },

  myReceptiveField(answer) {
    const f = answer as (layers: { kernel: number; stride: number }[]) =>
      unknown;
    const configs = [{ netD: 'basic' as const }, { netD: 'n_layers' as const,
      nLayersD: 1 }, { netD: 'n_layers' as const, nLayersD: 5 },
    { netD: 'pixel' as const }];
    for (const c of configs) {
      const layers = discriminatorLayers(c).map((l) => ({ kernel: l.kernel,
        stride: l.stride }));
      const name = c.netD === 'n_layers' ? `n_layers ${c.nLayersD}` : c.netD;
      const hints: [string, unknown][] = [
        ['the strides left out', layers.reduce((r, l) => r + l.kernel - 1, 1)],
        ['the layers walked first to last instead of last to first',
          layers.reduce((r, l) => (r - 1) * l.stride + l.kernel, 1)],
      ];
      sameJson(f(layers), libReceptiveField(c),
        `receptiveField of the ${name} discriminator`, hints);
    }
    return 'matches the library on 4 discriminators (basic: 70 px)';
  },

  myLsganLoss(answer) {
    const f = answer as (p: tf.Tensor, real: boolean) => unknown;
    for (const real of [true, false]) {
      tf.tidy(() => {
        const p = rand([2, 3, 3, 1], 13, -0.5, 2);
        const target = real ? 1 : 0;
        const hints: [string, tf.Tensor][] = [
          ['the absolute difference instead of the square',
            tf.mean(tf.abs(tf.sub(p, target)))],
          ['the target swapped (1 for fake, 0 for real)',
            tf.mean(tf.square(tf.sub(p, 1 - target)))],
          ['a sum instead of a mean', tf.sum(tf.square(tf.sub(p, target)))],
        ];
        sameTensor(f(p, real), ganLoss(p, real, 'lsgan'),
          `myLsganLoss(scores, ${real})`, 1e-5, hints);
      });
    }
    return 'matches the library towards real and towards fake';
  },

  myCycleLoss(answer) {
    const f = answer as (rec: tf.Tensor, real: tf.Tensor, l: number) =>
      unknown;
    for (const lambda of [10, 2.5]) {
      tf.tidy(() => {
        const real = rand([1, 8, 8, 3], 14);
        const rec = tf.add(real, rand([1, 8, 8, 3], 15, -0.3, 0.3));
        const l1 = tf.mean(tf.abs(tf.sub(rec, real)));
        const hints: [string, tf.Tensor][] = [
          ['λ left out', l1],
          ['the squared error instead of the absolute one',
            tf.mul(tf.mean(tf.square(tf.sub(rec, real))), lambda)],
          ['a sum instead of a mean', tf.mul(tf.sum(tf.abs(
            tf.sub(rec, real))), lambda)],
        ];
        sameTensor(f(rec, real, lambda), libCycleLoss(rec, real, lambda),
          `myCycleLoss(rec, real, ${lambda})`, 1e-5, hints);
      });
    }
    return 'matches the library for λ = 10 and λ = 2.5';
  },

  myIdentityLoss(answer) {
    const f = answer as (idt: tf.Tensor, real: tf.Tensor, l: number,
      li: number) => unknown;
    for (const [lambda, li] of [[10, 0.5], [5, 0.1]]) {
      tf.tidy(() => {
        const real = rand([1, 8, 8, 3], 16);
        const idt = tf.add(real, 0.1);
        const l1 = tf.mean(tf.abs(tf.sub(idt, real)));
        const hints: [string, tf.Tensor][] = [
          ['weighted by lambdaIdentity alone, without λ', tf.mul(l1, li)],
          ['weighted by λ alone, without lambdaIdentity', tf.mul(l1, lambda)],
          ['no weight at all', l1],
        ];
        sameTensor(f(idt, real, lambda, li),
          libIdentityLoss(idt, real, lambda, li),
          `myIdentityLoss(idt, real, ${lambda}, ${li})`, 1e-5, hints);
      });
    }
    return 'matches the library for (λ, λ_idt) = (10, 0.5) and (5, 0.1)';
  },

  myPoolQuery(answer) {
    const f = answer as (pool: number[], size: number, image: number,
      rng: Rng) => unknown;
    for (const poolSize of [5, 0]) {
      const lib = new ImagePool(poolSize, new Rng('pool'));
      const want: number[] = [];
      tf.tidy(() => {
        for (let i = 0; i < 40; i++) {
          const out = lib.query(tf.fill([1, 1, 1, 1], i) as tf.Tensor4D);
          want.push(out.dataSync()[0]);
          out.dispose();
        }
      });
      lib.dispose();
      const rng = new Rng('pool');
      const pool: number[] = [];
      const got: unknown[] = [];
      for (let i = 0; i < 40; i++) got.push(f(pool, poolSize, i, rng));
      const inputs = Array.from({ length: 40 }, (_, i) => i);
      // The classic slip: an old image handed out but never swapped for
      // the new one, so only the first poolSize images ever come back.
      const neverSwapped = poolSize > 0 && got.some((v, i) => v !== i) &&
        got.every((v, i) => v === i || (typeof v === 'number' &&
          v < poolSize));
      sameJson(got, want, `40 queries, poolSize ${poolSize}: returned`, [
        ['the pool never returns a stored image', inputs],
        ...(neverSwapped ? [['only the first images stored ever come ' +
          'back: does the new image take the slot of the one returned',
        got] as [string, unknown]] : []),
      ]);
    }
    return 'returns the library pool\'s images over 40 queries (pool of 5, ' +
      'and 0)';
  },

  myGeneratorLoss(answer) {
    const f = answer as (nets: CycleGANNetworks, a: tf.Tensor4D,
      b: tf.Tensor4D, o: LossWeights) => unknown;
    // Small seeded networks: ResNet generators and basic PatchGANs of 4
    // filters.
    const nets = buildNetworks(resolveOptions({ netG: 'resnet_6blocks',
      ngf: 4, ndf: 4 }));
    // 32 px: the smallest a basic PatchGAN gives a map at.
    const a = rand([1, 32, 32, 3], 17) as tf.Tensor4D;
    const b = rand([1, 32, 32, 3], 18) as tf.Tensor4D;
    const o = { lambdaA: 10, lambdaB: 7, lambdaIdentity: 0.5 };
    const full = resolveOptions(o);
    try {
      let expectedTerms = '';
      const terms = tf.tidy(() => {
        const obj = generatorObjective(nets, a, b, full);
        const byName = Object.fromEntries(obj.terms);
        const sum = (names: string[]) => tf.addN(names.map((n) =>
          byName[n])) as tf.Scalar;
        expectedTerms = obj.terms.map(([n, t]) =>
          `${n} ${fmt(t.dataSync()[0])}`)
          .join(', ');
        return {
          noIdt: sum(['G_A', 'G_B', 'cycle_A', 'cycle_B']),
          noCycle: sum(['G_A', 'G_B', 'idt_A', 'idt_B']),
          noGan: sum(['cycle_A', 'cycle_B', 'idt_A', 'idt_B']),
        };
      });
      try {
        sameObjective(() => f(nets, a, b, o),
          () => generatorObjective(nets, a, b, full).total,
          variablesOf(nets.generatorAtoB, nets.generatorBtoA),
          'myGeneratorLoss(nets, a, b, o)', [
            ['the identity terms left out', terms.noIdt],
            ['the cycle terms left out', terms.noCycle],
            ['the adversarial terms left out', terms.noGan],
          ], `the six expected terms (logged names): ${expectedTerms}`);
      } finally {
        tf.dispose(Object.values(terms));
      }
    } finally {
      disposeNets(nets);
      tf.dispose([a, b]);
    }
    return "the value and the generators' gradients match the library";
  },

  myDiscriminatorLoss(answer) {
    const f = answer as (d: tf.LayersModel, real: tf.Tensor4D,
      fake: tf.Tensor4D) => unknown;
    const d = defineD({ ndf: 4, seed: 9 });
    const real = rand([1, 32, 32, 3], 19) as tf.Tensor4D;
    const fake = rand([1, 32, 32, 3], 20) as tf.Tensor4D;
    const run = (x: tf.Tensor4D) => d.apply(x, { training: true }) as
      tf.Tensor4D;
    const ref = () => discriminatorLoss(run(real), run(fake), 'lsgan');
    try {
      const hints = tf.tidy(() => [
        ['the factor 1/2 left out', tf.mul(ref(), 2)],
        ['the labels swapped (fake towards real)', tf.mul(tf.add(
          ganLoss(run(real), false, 'lsgan'),
          ganLoss(run(fake), true, 'lsgan')), 0.5)],
      ] as [string, tf.Scalar][]);
      try {
        sameObjective(() => f(d, real, fake), ref, variablesOf(d),
          'myDiscriminatorLoss(d, real, fake)', hints);
      } finally {
        tf.dispose(hints.map(([, t]) => t));
      }
    } finally {
      d.dispose();
      tf.dispose([real, fake]);
    }
    return "the value and the discriminator's gradients match the library";
  },

  myTranslateAnySize(answer) {
    const f = answer as (run: (x: tf.Tensor4D) => tf.Tensor4D,
      image: tf.Tensor4D) => unknown;
    // A stand-in generator that, like the ResNet, only takes multiples of
    // 4 (at least 8) and whose output depends on where the image sits.
    const fit = generatorMultiple('resnet_6blocks');
    const run = (x: tf.Tensor4D): tf.Tensor4D => {
      const [, h, w] = x.shape;
      if (h % fit.multiple || w % fit.multiple || h < fit.minSize ||
        w < fit.minSize) {
        throw new Error(`run: got ${h}×${w}; it needs multiples of ` +
          `${fit.multiple}, at least ${fit.minSize}`);
      }
      return tf.tidy(() => tf.tanh(tf.image.resizeNearestNeighbor(
        tf.avgPool(x, 4, 4, 'valid'), [h, w])));
    };
    for (const [h, w] of [[13, 10], [5, 16], [4, 12], [8, 8]]) {
      tf.tidy(() => {
        const x = rand([1, h, w, 3], 21 + h) as tf.Tensor4D;
        const padded = new PadToMultiple({ ...fit, mode: 'reflect' })
          .apply(x) as tf.Tensor4D;
        const want = new CropLike().apply([run(padded), x]) as tf.Tensor;
        const [top, bottom] = padToMultipleAmounts(h, fit.multiple,
          fit.minSize);
        const [left, right] = padToMultipleAmounts(w, fit.multiple,
          fit.minSize);
        // Padding all at the end can exceed what mirrorPad takes (side − 1).
        const atEnd = top + bottom < h && left + right < w ?
          tf.slice(run(tf.mirrorPad(x, [[0, 0], [0, top + bottom],
            [0, left + right], [0, 0]], 'reflect')), 0, [-1, h, w, -1]) :
          undefined;
        const zero = tf.slice(run(tf.pad(x, [[0, 0], [top, bottom],
          [left, right], [0, 0]])), [0, top, left, 0], [-1, h, w, -1]);
        const hints: [string, tf.Tensor][] = [
          ['zero padding instead of reflection', zero],
          ['the output left at the padded size', run(padded)]];
        if (atEnd) hints.unshift(['all the padding at the bottom and right',
          atEnd]);
        sameTensor(f(run, x), want, `myTranslateAnySize(run, ${h}×${w} image)`,
          1e-5, hints);
      });
    }
    return 'matches the library\'s pad-and-crop on 13×10, 5×16, 4×12 and ' +
      '8×8';
  },
};

/** The result of checking `answer` against exercise `id`, not printed. */
export function checkResult(id: string, answer: unknown): CheckResult {
  const exercise = EXERCISES.find((e) => e.id === id);
  const checker = CHECKS[id];
  if (!exercise || !checker) {
    return { id, pass: false, lines: [`FAIL  ${id}: no such exercise; ` +
      `exercises are ${EXERCISES.map((e) => e.id).join(', ')}`] };
  }
  const head = `${exercise.id} (${exercise.title})`;
  if (typeof answer !== 'function') {
    return { id, pass: false, lines: [`FAIL  ${head}: expected a function, ` +
      `got ${answer === undefined ? 'undefined' : typeof answer}`] };
  }
  try {
    // tidy: the tensors the answer makes go too, pass or fail.
    const summary = tf.tidy(() => checker(answer as Answer));
    return { id, pass: true, lines: [`PASS  ${head}: ${summary}`] };
  } catch (e) {
    const text = e instanceof Mismatch ? e.message : describeError(e);
    const [first, ...rest] = text.split('\n');
    return { id, pass: false, lines: [`FAIL  ${head}: ${first}`, ...rest] };
  }
}

/**
 * Checks a student's answer to exercise `id` and prints `PASS` or `FAIL`
 * with what differs. Never throws, so the notebook goes on.
 */
export function check(id: string, answer: unknown): void {
  const result = checkResult(id, answer);
  console.log(result.lines.join('\n'));
}
