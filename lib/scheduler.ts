/**
 * Learning-rate schedules, per epoch, as the official `--lr_policy`.
 *
 * The paper (Sec. 4) keeps lr 2e-4 for 100 epochs, then decays it
 * linearly towards zero over the next 100. All policies here are written
 * as functions of the absolute, 1-based epoch number, so a resumed run
 * gets the same rate as an uninterrupted one without any extra option.
 */

/** The schedules of the official `--lr_policy`. */
export type LrPolicy = 'linear' | 'step' | 'cosine' | 'plateau';

/** The policies accepted by `LrScheduler`, for option checking. */
export const LR_POLICIES: readonly LrPolicy[] =
  ['linear', 'step', 'cosine', 'plateau'];

/** The options a schedule reads (a subset of `CycleGANOptions`). */
export interface SchedulerOptions {
  /** Initial rate; official `--lr` 0.0002. */
  lr: number;
  /** Official `--lr_policy`, default `linear`. */
  lrPolicy: LrPolicy;
  /** Epochs at the initial rate; official `--n_epochs` 100. */
  nEpochs: number;
  /** Epochs of linear decay; official `--n_epochs_decay` 100. */
  nEpochsDecay: number;
  /** `step`: multiply by 0.1 every this many epochs (`--lr_decay_iters` 50). */
  lrDecayIters: number;
}

/**
 * Linear policy: lr·(1 − max(0, epoch − nEpochs)/(nEpochsDecay + 1)).
 * Epochs 1…nEpochs keep `lr`; epoch nEpochs + k gets lr·(1 − k/(D + 1)),
 * so with 100 + 100 epoch 151 gets 2e-4·(1 − 51/101) ≈ 9.90e-5 and the
 * last epoch, 200, still trains at lr/101.
 *
 * The official `lambda_rule(e)` computes 1 − max(0, e + epoch_count −
 * n_epochs)/(n_epochs_decay + 1) with e its scheduler's step counter, which
 * is 0 during the first epoch of a run started at `--epoch_count`; with
 * e = epoch − epochCount the two are the same formula.
 */
export function linearLr(epoch: number, o: SchedulerOptions): number {
  return o.lr * (1 - Math.max(0, epoch - o.nEpochs) / (o.nEpochsDecay + 1));
}

/**
 * Step policy: lr·0.1^⌊(epoch − 1)/lrDecayIters⌋ (PyTorch `StepLR`,
 * gamma 0.1, as the official code builds it).
 */
export function stepLr(epoch: number, o: SchedulerOptions): number {
  return o.lr * Math.pow(0.1, Math.floor((epoch - 1) / o.lrDecayIters));
}

/**
 * Cosine policy: lr·(1 + cos(π·(epoch − 1)/T))/2 with T = nEpochs +
 * nEpochsDecay, the whole run, so the rate falls from lr towards 0 once.
 * The official code sets T_max = n_epochs, after which PyTorch's cosine
 * rises again during the decay epochs; we use the whole run instead.
 */
export function cosineLr(epoch: number, o: SchedulerOptions): number {
  const total = o.nEpochs + o.nEpochsDecay;
  return o.lr * (1 + Math.cos(Math.PI * (epoch - 1) / total)) / 2;
}

/** What a checkpoint stores for the `plateau` policy. */
export interface SchedulerState {
  /** Current rate of the plateau policy. */
  plateauLr: number;
  /** Best (lowest) epoch metric seen. */
  best: number;
  /** Epochs since `best` improved by more than the threshold. */
  badEpochs: number;
}

/** Plateau settings of the official code (PyTorch ReduceLROnPlateau). */
export const PLATEAU = {
  /** Rate multiplier on a plateau. */
  factor: 0.2,
  /** Relative improvement that counts: metric < best·(1 − 0.01). */
  threshold: 0.01,
  /** Epochs without improvement tolerated before reducing. */
  patience: 5,
} as const;

/**
 * The learning-rate schedule of a run. `lrForEpoch(e)` gives the rate for
 * epoch e; `endEpoch(metric)` must be called after each epoch with the
 * epoch's mean summed generator loss, which the `plateau` policy watches
 * (the official code passes a metric that its CycleGAN model never sets,
 * so its plateau policy sees a constant 0 and reduces every 6 epochs).
 */
export class LrScheduler {
  readonly options: SchedulerOptions;
  private st: SchedulerState;

  /** A schedule from `options`, continuing from `state` if given. */
  constructor(options: SchedulerOptions, state?: SchedulerState) {
    const { lrPolicy, lr, nEpochs, nEpochsDecay, lrDecayIters } = options;
    if (!LR_POLICIES.includes(lrPolicy)) {
      throw new Error(`lrPolicy '${lrPolicy}' is not one of ` +
        `${LR_POLICIES.join(', ')}`);
    }
    if (!(lr > 0)) throw new Error(`lr must be > 0, got ${lr}`);
    if (!(nEpochs >= 0 && nEpochsDecay >= 0)) {
      throw new Error(`nEpochs (${nEpochs}) and nEpochsDecay ` +
        `(${nEpochsDecay}) must be >= 0`);
    }
    if (lrPolicy === 'step' && !(lrDecayIters >= 1)) {
      throw new Error(`lrDecayIters must be >= 1, got ${lrDecayIters}`);
    }
    this.options = { ...options };
    this.st = state ? { ...state } :
      { plateauLr: lr, best: Infinity, badEpochs: 0 };
  }

  /** The rate to use throughout epoch `epoch` (1-based). */
  lrForEpoch(epoch: number): number {
    const o = this.options;
    switch (o.lrPolicy) {
      case 'linear': return linearLr(epoch, o);
      case 'step': return stepLr(epoch, o);
      case 'cosine': return cosineLr(epoch, o);
      case 'plateau': return this.st.plateauLr;
    }
  }

  /**
   * Records an epoch's metric (lower is better). Only `plateau` uses it:
   * a metric below best·(1 − threshold) resets the count; more than
   * `patience` epochs without one multiply the rate by `factor`.
   */
  endEpoch(metric: number): void {
    if (this.options.lrPolicy !== 'plateau') return;
    if (!Number.isFinite(metric)) {
      throw new Error(`plateau schedule got a non-finite metric ${metric}`);
    }
    const s = this.st;
    if (metric < s.best * (1 - PLATEAU.threshold)) {
      s.best = metric;
      s.badEpochs = 0;
    } else {
      s.badEpochs += 1;
    }
    if (s.badEpochs > PLATEAU.patience) {
      s.plateauLr *= PLATEAU.factor;
      s.badEpochs = 0;
    }
  }

  /** State for a checkpoint (JSON-safe: Infinity is written as null). */
  state(): SchedulerState {
    return { ...this.st };
  }
}

/**
 * `SchedulerState` from JSON, where `JSON.stringify` turned an infinite
 * `best` into null.
 */
export function schedulerStateFromJson(json: {
  plateauLr: number; best: number | null; badEpochs: number;
}): SchedulerState {
  return { plateauLr: json.plateauLr, best: json.best ?? Infinity,
    badEpochs: json.badEpochs };
}
