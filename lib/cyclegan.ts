/**
 * The CycleGAN model: two generators, two discriminators, two Adam
 * optimizers, two image pools, and the training step of Zhu et al. 2017
 * (Sec. 3 and 4) with the official code's order of updates.
 *
 * Names: `generatorAtoB` is the paper's G: X→Y (official G_A),
 * `generatorBtoA` is F: Y→X (official G_B). `discriminatorA` judges
 * images of domain A (the paper's D_X, the official **D_B**) and
 * `discriminatorB` judges domain B (D_Y, the official **D_A**). Losses keep
 * the official names (see `LOSS_NAMES`), so `D_A` is discriminatorB's loss.
 *
 * One step, as the official `optimize_parameters`:
 * 1. generators: fakeB = G(realA), recA = F(fakeB), fakeA = F(realB),
 *    recB = G(fakeA), identities G(realB) and F(realA); the loss
 *    L_GAN(G) + L_GAN(F) + L_cyc + L_idt (Eq. 3 plus Sec. 5.2) is minimised
 *    by one Adam over the weights of both generators only, so the
 *    discriminators stay fixed while gradients flow through them;
 * 2. discriminators: each sees its domain's real batch and a fake batch
 *    drawn from its image pool (fakes made in step 1, before the generator
 *    update), loss halved; one Adam updates both.
 *
 * Every loss is read back and checked before its update is applied: a
 * NaN or infinite value throws `NonFiniteLossError` and leaves the
 * weights as they were before that update.
 */
import * as tf from '@tensorflow/tfjs';
import { FlatAdam } from './adam';
import { NamedTensor } from './checkpoint';
import {
  LOSS_NAMES, LossName, LossValues, checkIdentityChannels, cycleLoss,
  discriminatorLoss, ganLoss, gradientPenalty, identityLoss,
} from './losses';
import { defineD, defineG } from './networks';
import type { NormType } from './networks';
import { CycleGANOptions } from './options';
import { ImagePool } from './pool';
import { Rng, RngState } from './rng';

/** The four networks of a CycleGAN. */
export interface CycleGANNetworks {
  /** G: A→B (official netG_A). */
  generatorAtoB: tf.LayersModel;
  /** F: B→A (official netG_B). */
  generatorBtoA: tf.LayersModel;
  /** D_X, judges domain A (official netD_B). */
  discriminatorA: tf.LayersModel;
  /** D_Y, judges domain B (official netD_A). */
  discriminatorB: tf.LayersModel;
}

/** Network names in checkpoints, in a fixed order. */
export const NETWORK_NAMES = ['generatorAtoB', 'generatorBtoA',
  'discriminatorA', 'discriminatorB'] as const;

/** The options the model itself reads (the rest go to data and loop). */
export type ModelStepOptions = Pick<CycleGANOptions,
  'inputNc' | 'outputNc' | 'netG' | 'netD' | 'ngf' | 'ndf' | 'nLayersD' |
  'norm' | 'useDropout' | 'initType' | 'initGain' | 'upsample' | 'lr' |
  'beta1' | 'beta2' | 'ganMode' | 'lambdaGp' | 'poolSize' | 'lambdaA' | 'lambdaB' |
  'lambdaIdentity' | 'modelSeed'>;

/** Images of one batch, for a sample grid. The caller disposes them. */
export interface Visuals {
  realA: tf.Tensor4D;
  fakeB: tf.Tensor4D;
  recA: tf.Tensor4D;
  realB: tf.Tensor4D;
  fakeA: tf.Tensor4D;
  recB: tf.Tensor4D;
}

/** A loss came out NaN or infinite; its update was not applied. */
export class NonFiniteLossError extends Error {
  /** Official names of the offending losses, with their values. */
  readonly losses: Partial<LossValues>;
  constructor(losses: Partial<LossValues>, where: string) {
    const list = Object.entries(losses).map(([k, v]) => `${k} = ${v}`);
    super(`non-finite loss at ${where}: ${list.join(', ')}; the update ` +
      'was not applied');
    this.name = 'NonFiniteLossError';
    this.losses = losses;
  }
}

/** JSON part of a model checkpoint (tensors go in tensor groups). */
export interface CycleGANState {
  /** Training steps taken. */
  iterations: number;
  poolA: { poolSize: number; rng: RngState };
  poolB: { poolSize: number; rng: RngState };
  /** Generator of the WGAN-GP interpolation weights. */
  gpRng: RngState;
}

/** Tensors and JSON of a model, as saved in a checkpoint. */
export interface CycleGANSnapshot {
  networks: Record<string, tf.LayersModel>;
  tensors: Record<string, NamedTensor[]>;
  state: CycleGANState;
  /** Frees the tensors made for the snapshot (not the live weights). */
  dispose(): void;
}

/** The trainable variables of `models`, in order. */
export const variablesOf = (...models: tf.LayersModel[]): tf.Variable[] =>
  models.flatMap((m) => m.trainableWeights.map((w) => w.read() as
    tf.Variable));

function makeAdam(o: ModelStepOptions): FlatAdam {
  // ε = 1e-8 as PyTorch's Adam (tfjs would take its backend's 1e-7).
  return new FlatAdam(o.lr, o.beta1, o.beta2, 1e-8);
}

/**
 * Builds the four networks of the options (official `define_G`,
 * `define_D`), each with its own seed derived from `modelSeed`.
 */
export function buildNetworks(o: ModelStepOptions): CycleGANNetworks {
  const g = (inputNc: number, outputNc: number, seed: number, name: string) =>
    defineG({ inputNc, outputNc, ngf: o.ngf, netG: o.netG, norm: o.norm,
      useDropout: o.useDropout, initType: o.initType, initGain: o.initGain,
      upsample: o.upsample, seed: o.modelSeed * 4 + seed, name });
  const d = (inputNc: number, seed: number, name: string) =>
    defineD({ inputNc, ndf: o.ndf, netD: o.netD, nLayersD: o.nLayersD,
      norm: o.norm, initType: o.initType, initGain: o.initGain,
      seed: o.modelSeed * 4 + seed, name });
  return {
    generatorAtoB: g(o.inputNc, o.outputNc, 1, 'generatorAtoB'),
    generatorBtoA: g(o.outputNc, o.inputNc, 2, 'generatorBtoA'),
    discriminatorA: d(o.inputNc, 3, 'discriminatorA'),
    discriminatorB: d(o.outputNc, 4, 'discriminatorB'),
  };
}

/** A network applied in training mode (dropout and batch norm train). */
function run(model: tf.LayersModel, x: tf.Tensor): tf.Tensor4D {
  return model.apply(x, { training: true }) as tf.Tensor4D;
}

/**
 * `model` applied to `x` and to `y`, in training mode: as one pass over
 * the batch [x; y] where that changes nothing, else as two passes. With
 * instance norm (or none) each image is normalised on its own, so the
 * two halves of the joint pass are the two separate passes, to float
 * rounding; one pass launches half the kernels and runs wider
 * convolutions (bench/RESULTS.md). Batch norm would pool the statistics of
 * both, so it gets two passes, as do inputs of different shapes.
 */
function runPair(model: tf.LayersModel, x: tf.Tensor4D, y: tf.Tensor4D,
  norm: NormType): [tf.Tensor4D, tf.Tensor4D] {
  const sameShape = x.shape.slice(1).every((d, i) => d === y.shape[i + 1]);
  if (norm === 'batch' || !sameShape) return [run(model, x), run(model, y)];
  const both = run(model, tf.concat([x, y], 0));
  const [fx, fy] = tf.split(both, [x.shape[0], y.shape[0]], 0);
  return [fx as tf.Tensor4D, fy as tf.Tensor4D];
}

/** Named loss terms and their sum. */
export interface Objective {
  total: tf.Scalar;
  terms: [LossName, tf.Scalar][];
}

/**
 * The generators' objective, Eq. 3 with the least-squares adversarial
 * terms (Sec. 4) and the identity terms (Sec. 5.2), for one batch:
 *
 *   G_A = L_GAN(G, D_Y): D_Y(G(a)) should read "real";
 *   G_B = L_GAN(F, D_X): D_X(F(b)) should read "real";
 *   cycle_A = λ_A·‖F(G(a)) − a‖₁,  cycle_B = λ_B·‖G(F(b)) − b‖₁;
 *   idt_A = λ_B·λ_idt·‖G(b) − b‖₁, idt_B = λ_A·λ_idt·‖F(a) − a‖₁.
 *
 * Also returns the translations fakeA = F(b) and fakeB = G(a), which the
 * discriminator step reuses. Call it inside a gradient closure.
 */
export function generatorObjective(nets: CycleGANNetworks,
  realA: tf.Tensor4D, realB: tf.Tensor4D, o: ModelStepOptions):
    Objective & { fakeA: tf.Tensor4D; fakeB: tf.Tensor4D } {
  const G = nets.generatorAtoB;
  const F = nets.generatorBtoA;
  const identity = o.lambdaIdentity > 0;
  // The official names: idt_A = G(b), idt_B = F(a).
  let fakeB: tf.Tensor4D;
  let fakeA: tf.Tensor4D | undefined;
  let idtA: tf.Tensor4D | undefined;
  let idtB: tf.Tensor4D | undefined;
  if (identity && o.norm !== 'batch') {
    // G(a) with G(b) in one pass, F(b) with F(a) (runPair).
    [fakeB, idtA] = runPair(G, realA, realB, o.norm);
    [fakeA, idtB] = runPair(F, realB, realA, o.norm);
  } else {
    // One call per application in the official order, G(a), F(G(a)),
    // F(b), G(F(b)), then G(b), F(a): batch norm's running statistics
    // follow the calls.
    fakeB = run(G, realA);
  }
  const recA = run(F, fakeB); // F(G(a))
  fakeA ??= run(F, realB); // F(b)
  const recB = run(G, fakeA); // G(F(b))
  const terms: [LossName, tf.Scalar][] = [
    ['G_A', ganLoss(run(nets.discriminatorB, fakeB), true, o.ganMode)],
    ['G_B', ganLoss(run(nets.discriminatorA, fakeA), true, o.ganMode)],
    ['cycle_A', cycleLoss(recA, realA, o.lambdaA)],
    ['cycle_B', cycleLoss(recB, realB, o.lambdaB)],
  ];
  if (identity) {
    terms.push(['idt_A', identityLoss(idtA ?? run(G, realB), realB,
      o.lambdaB, o.lambdaIdentity)]);
    terms.push(['idt_B', identityLoss(idtB ?? run(F, realA), realA,
      o.lambdaA, o.lambdaIdentity)]);
  } else {
    terms.push(['idt_A', tf.scalar(0)], ['idt_B', tf.scalar(0)]);
  }
  const total = tf.addN(terms.map(([, t]) => t)) as tf.Scalar;
  return { total, terms, fakeA, fakeB };
}

/**
 * The discriminators' objective for one batch: each judges its domain's
 * real images (target real) and pooled fakes (target fake), loss halved
 * (Sec. 7.1). D_A is discriminatorB's loss (it judges B), D_B is
 * discriminatorA's, as the official names go. With `wgangp`, each adds
 * the gradient penalty at x̂ = α·real + (1 − α)·fake (`alphas`, one per
 * image): the term the official CycleGAN defines but never adds.
 */
export function discriminatorObjective(nets: CycleGANNetworks,
  realA: tf.Tensor4D, realB: tf.Tensor4D, pooledA: tf.Tensor4D,
  pooledB: tf.Tensor4D, o: ModelStepOptions,
  alphas?: { a: tf.Tensor1D; b: tf.Tensor1D }): Objective {
  const lossOf = (d: tf.LayersModel, real: tf.Tensor4D,
    fake: tf.Tensor4D, alpha?: tf.Tensor1D): tf.Scalar => {
    const loss = discriminatorLoss(...runPair(d, real, fake, o.norm),
      o.ganMode);
    if (o.ganMode !== 'wgangp' || !alpha) return loss;
    return tf.add(loss, gradientPenalty((x) => run(d, x), real, fake,
      alpha, { lambdaGp: o.lambdaGp })) as tf.Scalar;
  };
  const terms: [LossName, tf.Scalar][] = [
    ['D_A', lossOf(nets.discriminatorB, realB, pooledB, alphas?.b)],
    ['D_B', lossOf(nets.discriminatorA, realA, pooledA, alphas?.a)],
  ];
  return { total: tf.add(terms[0][1], terms[1][1]) as tf.Scalar, terms };
}

/** Two generators, two discriminators and their training step. */
export class CycleGAN {
  readonly options: ModelStepOptions;
  readonly generatorAtoB: tf.LayersModel;
  readonly generatorBtoA: tf.LayersModel;
  readonly discriminatorA: tf.LayersModel;
  readonly discriminatorB: tf.LayersModel;
  /** One Adam for both generators (official optimizer_G). */
  optimizerG: FlatAdam;
  /** One Adam for both discriminators (official optimizer_D). */
  optimizerD: FlatAdam;
  /** History of generated A images, shown to discriminatorA. */
  poolA: ImagePool;
  /** History of generated B images, shown to discriminatorB. */
  poolB: ImagePool;
  /** Training steps taken (restored from checkpoints). */
  iterations = 0;
  private gpRng: Rng;
  private readonly generatorVars: tf.Variable[];
  private readonly discriminatorVars: tf.Variable[];

  /**
   * A model over given networks (e.g. with weights from elsewhere); use
   * `CycleGAN.create` to build them from the options.
   */
  constructor(networks: CycleGANNetworks, options: ModelStepOptions) {
    checkIdentityChannels(options.inputNc, options.outputNc,
      options.lambdaIdentity);
    this.options = { ...options };
    this.generatorAtoB = networks.generatorAtoB;
    this.generatorBtoA = networks.generatorBtoA;
    this.discriminatorA = networks.discriminatorA;
    this.discriminatorB = networks.discriminatorB;
    this.optimizerG = makeAdam(options);
    this.optimizerD = makeAdam(options);
    const seed = options.modelSeed;
    this.poolA = new ImagePool(options.poolSize, new Rng(`${seed}/poolA`));
    this.poolB = new ImagePool(options.poolSize, new Rng(`${seed}/poolB`));
    this.gpRng = new Rng(`${seed}/gp`);
    this.generatorVars = variablesOf(this.generatorAtoB, this.generatorBtoA);
    this.discriminatorVars = variablesOf(this.discriminatorA,
      this.discriminatorB);
  }

  /** A model with freshly initialised networks (`buildNetworks`). */
  static create(options: ModelStepOptions): CycleGAN {
    return new CycleGAN(buildNetworks(options), options);
  }

  /** The four networks, by checkpoint name. */
  get networks(): CycleGANNetworks {
    return { generatorAtoB: this.generatorAtoB,
      generatorBtoA: this.generatorBtoA,
      discriminatorA: this.discriminatorA,
      discriminatorB: this.discriminatorB };
  }

  /** Sets both optimizers' learning rate (the schedule calls this). */
  setLearningRate(lr: number): void {
    for (const opt of [this.optimizerG, this.optimizerD]) {
      opt.learningRate = lr;
    }
  }

  /** The optimizers' current learning rate. */
  get learningRate(): number {
    return this.optimizerG.learningRate;
  }

  /** Reads scalar losses in one transfer and checks they are finite. */
  private readLosses(named: [LossName, tf.Scalar][], where: string):
      Partial<LossValues> {
    const values = tf.tidy(() => tf.stack(named.map(([, t]) => t))
      .dataSync());
    const out: Partial<LossValues> = {};
    const bad: Partial<LossValues> = {};
    named.forEach(([name], i) => {
      out[name] = values[i];
      if (!Number.isFinite(values[i])) bad[name] = values[i];
    });
    if (Object.keys(bad).length > 0) {
      throw new NonFiniteLossError(bad, where);
    }
    return out;
  }

  /**
   * One training iteration on a batch (realA [N,H,W,inputNc], realB
   * [N,H,W,outputNc], values in [−1, 1]): the generator update, then the
   * discriminator update. Returns the eight losses by official name.
   * Creates no lasting tensors beyond the pools' images and, on the first
   * call, Adam's moments.
   */
  trainStep(realA: tf.Tensor4D, realB: tf.Tensor4D): LossValues {
    const where = `iteration ${this.iterations + 1}`;
    const fakes: { fakeA?: tf.Tensor4D; fakeB?: tf.Tensor4D } = {};
    try {
      const lossesG = this.generatorStep(realA, realB, fakes, where);
      const lossesD = this.discriminatorStep(realA, realB, fakes.fakeA!,
        fakes.fakeB!, where);
      this.iterations += 1;
      const all = { ...lossesG, ...lossesD } as LossValues;
      return Object.fromEntries(LOSS_NAMES.map((k) => [k, all[k]])) as
        LossValues;
    } finally {
      tf.dispose([fakes.fakeA, fakes.fakeB].filter(
        (t): t is tf.Tensor4D => t !== undefined));
    }
  }

  private generatorStep(realA: tf.Tensor4D, realB: tf.Tensor4D,
    fakes: { fakeA?: tf.Tensor4D; fakeB?: tf.Tensor4D }, where: string):
      Partial<LossValues> {
    let terms: [LossName, tf.Scalar][] = [];
    // Only the generators' weights are in the variable list: the
    // discriminators are frozen, though gradients flow through them.
    const { value, grads } = tf.variableGrads(() => {
      const g = generatorObjective(this.networks, realA, realB,
        this.options);
      terms = g.terms.map(([name, t]) => [name, tf.keep(t)]);
      fakes.fakeA = tf.keep(g.fakeA);
      fakes.fakeB = tf.keep(g.fakeB);
      return g.total;
    }, this.generatorVars);
    try {
      const losses = this.readLosses(terms, `${where}, generator step`);
      this.optimizerG.applyGradients(this.generatorVars,
        this.generatorVars.map((v) => grads[v.name]));
      return losses;
    } finally {
      tf.dispose([value, ...Object.values(grads), ...terms.map(([, t]) => t)]);
    }
  }

  private discriminatorStep(realA: tf.Tensor4D, realB: tf.Tensor4D,
    fakeA: tf.Tensor4D, fakeB: tf.Tensor4D, where: string):
      Partial<LossValues> {
    // Official order: the B pool (for D_A) is queried first.
    const pooledB = this.poolB.query(fakeB);
    const pooledA = this.poolA.query(fakeA);
    // α for D_A (domain B) is drawn first, then for D_B.
    const alphas = this.options.ganMode !== 'wgangp' ? undefined : {
      b: tf.tensor1d(Array.from({ length: realB.shape[0] },
        () => this.gpRng.next())),
      a: tf.tensor1d(Array.from({ length: realA.shape[0] },
        () => this.gpRng.next())),
    };
    let terms: [LossName, tf.Scalar][] = [];
    try {
      const { value, grads } = tf.variableGrads(() => {
        const d = discriminatorObjective(this.networks, realA, realB,
          pooledA, pooledB, this.options, alphas);
        terms = d.terms.map(([name, t]) => [name, tf.keep(t)]);
        return d.total;
      }, this.discriminatorVars);
      try {
        const losses = this.readLosses(terms,
          `${where}, discriminator step`);
        this.optimizerD.applyGradients(this.discriminatorVars,
          this.discriminatorVars.map((v) => grads[v.name]));
        return losses;
      } finally {
        tf.dispose([value, ...Object.values(grads)]);
      }
    } finally {
      tf.dispose([pooledA, pooledB, ...(alphas ? [alphas.a, alphas.b] : []),
        ...terms.map(([, t]) => t)]);
    }
  }

  /**
   * Translations of a batch for display: fakeB = G(realA), recA =
   * F(fakeB), fakeA = F(realB), recB = G(fakeA), in inference mode
   * (dropout off). The inputs are cloned into the result; the caller
   * disposes every tensor of it.
   */
  visuals(realA: tf.Tensor4D, realB: tf.Tensor4D): Visuals {
    return tf.tidy(() => {
      const run = (m: tf.LayersModel, x: tf.Tensor) =>
        m.apply(x, { training: false }) as tf.Tensor4D;
      const fakeB = run(this.generatorAtoB, realA);
      const fakeA = run(this.generatorBtoA, realB);
      return { realA: tf.clone(realA), fakeB, recA: run(this.generatorBtoA,
        fakeB), realB: tf.clone(realB), fakeA, recB: run(this.generatorAtoB,
        fakeA) };
    });
  }

  /**
   * Everything a resumed run needs besides the options: the networks,
   * both Adam states (moments and step counts), the pools' images and
   * the random-generator states.
   */
  async snapshot(): Promise<CycleGANSnapshot> {
    const [optG, optD] = await Promise.all([this.optimizerG.getWeights(),
      this.optimizerD.getWeights()]);
    // getWeights makes new tensors (the step count, the moments).
    const made = [...optG, ...optD].map((t) => t.tensor);
    const poolTensors = (p: ImagePool) => p.state().images.map((t, i) =>
      ({ name: `image_${i}`, tensor: t as tf.Tensor }));
    return {
      networks: { ...this.networks },
      tensors: { optimizerG: optG, optimizerD: optD,
        poolA: poolTensors(this.poolA), poolB: poolTensors(this.poolB) },
      state: {
        iterations: this.iterations,
        poolA: { poolSize: this.poolA.poolSize, rng: this.poolA.state().rng },
        poolB: { poolSize: this.poolB.poolSize, rng: this.poolB.state().rng },
        gpRng: this.gpRng.state(),
      },
      dispose: () => tf.dispose(made),
    };
  }

  /**
   * Restores a snapshot read from a checkpoint: copies network weights
   * (by position, shapes checked), replaces both optimizers by ones
   * holding the saved moments and step counts, and rebuilds the pools.
   * `setWeights` copies; the caller still disposes its tensors.
   */
  async restore(networkWeights: Record<string, tf.Tensor[]>,
    tensors: Record<string, NamedTensor[]>, state: CycleGANState,
    setWeights: (m: tf.LayersModel, w: tf.Tensor[], label: string) => void):
      Promise<void> {
    const nets = this.networks as unknown as Record<string, tf.LayersModel>;
    for (const name of NETWORK_NAMES) {
      if (!networkWeights[name]) {
        throw new Error(`checkpoint has no network '${name}'`);
      }
      setWeights(nets[name], networkWeights[name], name);
    }
    for (const group of ['optimizerG', 'optimizerD', 'poolA', 'poolB']) {
      if (!tensors[group]) {
        throw new Error(`checkpoint has no tensor group '${group}'`);
      }
    }
    const adam = async (saved: NamedTensor[], vars: tf.Variable[],
      group: string) => {
      const opt = makeAdam(this.options);
      try {
        // setWeights copies the moments into its flat buffers, so the
        // caller may dispose the tensors.
        await opt.setWeights(saved);
        const why = opt.mismatch(vars);
        if (why) {
          throw new Error(`checkpoint '${group}' does not match the ` +
            `networks: ${why}`);
        }
        return opt;
      } catch (e) {
        opt.dispose();
        throw e;
      }
    };
    const optG = await adam(tensors.optimizerG, this.generatorVars,
      'optimizerG');
    let optD: FlatAdam;
    try {
      optD = await adam(tensors.optimizerD, this.discriminatorVars,
        'optimizerD');
    } catch (e) {
      optG.dispose();
      throw e;
    }
    this.optimizerG.dispose();
    this.optimizerD.dispose();
    this.optimizerG = optG;
    this.optimizerD = optD;
    const pool = (group: NamedTensor[], s: { poolSize: number;
      rng: RngState }) => ImagePool.restore({ poolSize: s.poolSize,
      images: group.map((t) => t.tensor as tf.Tensor4D), rng: s.rng });
    this.poolA.dispose();
    this.poolB.dispose();
    this.poolA = pool(tensors.poolA, state.poolA);
    this.poolB = pool(tensors.poolB, state.poolB);
    this.gpRng = new Rng(0, state.gpRng);
    this.iterations = state.iterations;
  }

  /** Frees networks, optimizers and pools. */
  dispose(): void {
    for (const m of Object.values(this.networks)) m.dispose();
    this.optimizerG.dispose();
    this.optimizerD.dispose();
    this.poolA.dispose();
    this.poolB.dispose();
  }
}
