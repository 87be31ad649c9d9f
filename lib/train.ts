/**
 * The training loop (official `train.py`): epochs `epochCount` …
 * nEpochs + nEpochsDecay, the learning rate set per epoch by the
 * schedule, one `CycleGAN.trainStep` per batch, a log line every
 * `printFreq` iterations, a sample grid every `displayFreq`, checkpoints
 * `latest` after every epoch and `epoch_<n>` every `saveEpochFreq`.
 *
 * Everything the loop writes goes to `<checkpointsDir>/<name>/`:
 * opt.json / opt.txt (options), loss_log.txt (the log lines), latest/ and
 * epoch_<n>/ (checkpoints, lib/checkpoint), samples/epoch_<n>.png.
 *
 * A resumed run (`continueTrain`) reads the whole state from the
 * checkpoint (weights, Adam moments and step counts, pools, random
 * generators, schedule) and goes on with the next epoch, so it repeats an
 * uninterrupted run exactly; epoch numbers and file names continue.
 *
 * > Limitation: checkpoints are written at epoch ends only, so a run
 * > killed mid-epoch repeats that epoch from its start.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  listEpochCheckpoints, loadCheckpoint, resolveCheckpoint, saveCheckpoint,
  setModelWeights,
} from './checkpoint';
import {
  CycleGAN, CycleGANNetworks, CycleGANState, NonFiniteLossError,
  buildNetworks,
} from './cyclegan';
import { Batch, UnalignedDataset } from './dataset';
import { imageGrid, writePng } from './image';
import { LOSS_NAMES, LossValues } from './losses';
import {
  CycleGANOptions, MODEL_DEFAULTS, optionsFromJson, optionsTable,
  optionsToJson, resolveOptions, writeOptions,
} from './options';
import { LrScheduler, SchedulerState, schedulerStateFromJson } from
  './scheduler';

/** What the loop needs from a dataset (lib/dataset's UnalignedDataset). */
export interface TrainingData {
  /** Images per epoch: max(nA, nB). */
  readonly length: number;
  /** Batches of an epoch (1-based); the loop disposes their tensors. */
  batches(epoch: number): AsyncIterable<Batch>;
  /** JSON state for the checkpoint. */
  rngState(): unknown;
  /** Continues from a saved `rngState()`. */
  restoreRng(state: unknown): void;
}

/** One log record: interval means of the losses. */
export interface LossRecord {
  epoch: number;
  /** Iteration within the epoch (1-based). */
  epochIteration: number;
  /** Iterations since the run's first epoch began (resumed runs count on). */
  iteration: number;
  losses: LossValues;
  msPerIteration: number;
  imagesPerSecond: number;
  numTensors: number;
  lr: number;
}

/** Passed to `onSample`: the grid of the current batch. */
export interface SampleInfo {
  epoch: number;
  iteration: number;
  /** PNG: row A (realA, fakeB, recA), row B (realB, fakeA, recB). */
  png: Buffer;
}

/** Passed to `onEpoch` after an epoch's checkpoint is written. */
export interface EpochInfo {
  epoch: number;
  lastEpoch: number;
  seconds: number;
  lr: number;
  meanLosses: LossValues;
  checkpoint: string;
}

/** Optional hooks and replacements for `train`. */
export interface TrainHooks {
  /** Data to train on instead of `UnalignedDataset.open(options)`. */
  dataset?: TrainingData;
  /** Builds the networks instead of `buildNetworks` (tests, experiments). */
  networks?: (o: CycleGANOptions) => CycleGANNetworks;
  /** Where text lines go (default console.log). */
  log?: (line: string) => void;
  /** After every iteration (a progress bar). */
  onIteration?: (epoch: number, epochIteration: number,
    iterationsPerEpoch: number, losses: LossValues) => void;
  /** Every `printFreq` iterations, with the logged record. */
  onLog?: (record: LossRecord) => void | Promise<void>;
  /** Every `displayFreq` iterations and at each epoch's end. */
  onSample?: (sample: SampleInfo) => void | Promise<void>;
  /** At each epoch's end. */
  onEpoch?: (info: EpochInfo) => void | Promise<void>;
  /** Stop (with a checkpoint) after this epoch, as if killed after it. */
  stopAfterEpoch?: number;
  /** Keep the model instead of disposing it; the caller disposes it. */
  keepModel?: boolean;
}

/** How a run ended. */
export type TrainStatus = 'finished' | 'stopped' | 'nothing-to-do' |
  'diverged';

/** What `train` returns. */
export interface TrainResult {
  status: TrainStatus;
  /** The experiment folder `<checkpointsDir>/<name>`. */
  dir: string;
  /** First epoch of this run and the last one completed (0 if none). */
  firstEpoch: number;
  lastEpoch: number;
  /** Iterations of this run. */
  iterations: number;
  /** Every logged record of this run. */
  history: LossRecord[];
  /** With `keepModel`: the trained model. */
  model?: CycleGAN;
  /** Message of a `diverged` or `nothing-to-do` run. */
  message?: string;
}

/** JSON state of a training checkpoint. */
export interface TrainingState {
  /** The last epoch completed. */
  epoch: number;
  /** Total iterations done when it was saved. */
  iteration: number;
  scheduler: SchedulerState;
  dataset: unknown;
  model: CycleGANState;
  options: Record<string, unknown>;
}

/** Options that decide the networks' shapes: a resume must keep them. */
const ARCHITECTURE: (keyof CycleGANOptions)[] = [
  'inputNc', 'outputNc', ...Object.keys(MODEL_DEFAULTS) as
    (keyof CycleGANOptions)[]];

/** The epoch at which a run ends: nEpochs + nEpochsDecay. */
export function lastEpochOf(o: Pick<CycleGANOptions, 'nEpochs' |
  'nEpochsDecay'>): number {
  return o.nEpochs + o.nEpochsDecay;
}

/**
 * One fixed-format log line: epoch, iteration, each loss by official
 * name to 3 decimals (interval means), ms per iteration, images per
 * second, live tensors.
 */
export function formatLogLine(r: LossRecord): string {
  const losses = LOSS_NAMES.map((k) => `${k}: ${r.losses[k].toFixed(3)}`);
  return `(epoch: ${r.epoch}, iters: ${r.epochIteration}, ` +
    `ms/iter: ${r.msPerIteration.toFixed(1)}, ` +
    `img/s: ${r.imagesPerSecond.toFixed(2)}, tensors: ${r.numTensors}) ` +
    losses.join(' ');
}

/** The sample grid of a batch's first image pair, enlarged to ≥ 96 px. */
export async function sampleGrid(model: CycleGAN, batch: Batch):
    Promise<Buffer> {
  const realA = tf.slice(batch.realA, [0, 0, 0, 0], [1, -1, -1, -1]);
  const realB = tf.slice(batch.realB, [0, 0, 0, 0], [1, -1, -1, -1]);
  const v = model.visuals(realA, realB);
  tf.dispose([realA, realB]);
  try {
    const img = (t: tf.Tensor4D) => tf.squeeze(t, [0]) as tf.Tensor3D;
    const rows = [[img(v.realA), img(v.fakeB), img(v.recA)],
      [img(v.realB), img(v.fakeA), img(v.recB)]];
    const size = batch.realA.shape[1];
    const png = await imageGrid(rows, {
      labels: ['real', 'translated', 'reconstructed'],
      scale: Math.max(1, Math.round(96 / size)) });
    tf.dispose(rows.flat());
    return png;
  } finally {
    tf.dispose(Object.values(v) as tf.Tensor[]);
  }
}

function zeroLosses(): LossValues {
  return Object.fromEntries(LOSS_NAMES.map((k) => [k, 0])) as LossValues;
}

/** Sum of the generator-side losses: the plateau schedule's signal. */
function generatorTotal(l: LossValues): number {
  return l.G_A + l.G_B + l.cycle_A + l.cycle_B + l.idt_A + l.idt_B;
}

/**
 * Trains a CycleGAN with `overrides` over the official defaults (see
 * lib/options). Resolves when the last epoch is done, `stopAfterEpoch` is
 * reached, a loss turns non-finite (status `diverged`: the message names
 * the iteration and the loss; the last checkpoint is the one before), or
 * at once if a resumed run has nothing left to do.
 */
export async function train(overrides: Partial<CycleGANOptions>,
  hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? ((line: string) => console.log(line));
  let o = resolveOptions(overrides);
  const dir = path.join(o.checkpointsDir, o.name);
  const lastEpoch = lastEpochOf(o);
  const result = (status: TrainStatus, extra: Partial<TrainResult> = {}):
      TrainResult => ({ status, dir, firstEpoch: 0, lastEpoch: 0,
    iterations: 0, history: [], ...extra });

  // Resume: the checkpoint decides the architecture and the start epoch.
  let saved: TrainingState | undefined;
  let checkpoint: Awaited<ReturnType<typeof loadCheckpoint>> | undefined;
  if (o.continueTrain) {
    const tag = o.loadEpoch === 'latest' ? 'latest' : `epoch_${o.loadEpoch}`;
    checkpoint = await loadCheckpoint(dir, tag);
    saved = checkpoint.state as TrainingState;
    o = mergeResumedOptions(o, optionsFromJson(saved.options), overrides);
    if (saved.epoch + 1 > lastEpoch) {
      checkpoint.dispose();
      const message = `nothing to do: checkpoint ${checkpoint.dir} ` +
        `finished epoch ${saved.epoch}, and training ends at epoch ` +
        `${lastEpoch} (nEpochs ${o.nEpochs} + nEpochsDecay ` +
        `${o.nEpochsDecay}); raise them to train on`;
      log(message);
      return result('nothing-to-do', { message });
    }
  } else if (!o.overwrite && (resolveCheckpoint(dir, 'latest') ||
    listEpochCheckpoints(dir).length > 0)) {
    throw new Error(`${dir} already holds checkpoints: resume with ` +
      'continueTrain (--continue), pick another name, or set overwrite ' +
      '(--overwrite) to start over in it');
  }
  const firstEpoch = saved ? saved.epoch + 1 : o.epochCount;

  log(optionsTable(o));
  writeOptions(dir, o);
  const dataset = hooks.dataset ?? await UnalignedDataset.open(
    { ...o, log });
  const model = new CycleGAN((hooks.networks ?? buildNetworks)(o), o);
  const scheduler = new LrScheduler(o, saved ?
    schedulerStateFromJson(saved.scheduler as never) : undefined);
  let iteration = 0;
  if (saved && checkpoint) {
    try {
      await model.restore(checkpoint.networkWeights, checkpoint.tensors,
        saved.model, setModelWeights);
      dataset.restoreRng(saved.dataset);
    } finally {
      checkpoint.dispose();
    }
    iteration = saved.iteration;
    log(`[train] resumed from ${checkpoint.dir}: epoch ${saved.epoch} ` +
      `done, ${saved.iteration} iterations; continuing at epoch ` +
      `${firstEpoch}`);
  }

  const lossLog = path.join(dir, 'loss_log.txt');
  fs.appendFileSync(lossLog, `================ Training Loss ` +
    `(${new Date().toISOString()}, epochs ${firstEpoch}-${lastEpoch}) ` +
    '================\n');
  const history: LossRecord[] = [];
  const iterationsPerEpoch = Math.ceil(dataset.length /
    Math.max(1, o.batchSize));
  const startIteration = iteration;
  let status: TrainStatus = 'finished';
  let message: string | undefined;
  let completed = 0;

  try {
    for (let epoch = firstEpoch; epoch <= lastEpoch; epoch++) {
      const lr = scheduler.lrForEpoch(epoch);
      model.setLearningRate(lr);
      const epochStart = Date.now();
      const epochSum = zeroLosses();
      const interval = { sum: zeroLosses(), n: 0, images: 0,
        start: Date.now() };
      let epochIteration = 0;
      let lastPng: Buffer | undefined;
      const batches = dataset.batches(epoch)[Symbol.asyncIterator]();
      for (;;) {
        const next = await batches.next();
        if (next.done) break;
        const batch = next.value;
        try {
          const losses = model.trainStep(batch.realA, batch.realB);
          epochIteration++;
          iteration++;
          for (const k of LOSS_NAMES) {
            epochSum[k] += losses[k];
            interval.sum[k] += losses[k];
          }
          interval.n++;
          interval.images += batch.realA.shape[0];
          hooks.onIteration?.(epoch, epochIteration, iterationsPerEpoch,
            losses);
          if (epochIteration % o.printFreq === 0) {
            const ms = Date.now() - interval.start;
            const record: LossRecord = {
              epoch, epochIteration, iteration, lr,
              losses: Object.fromEntries(LOSS_NAMES.map((k) =>
                [k, interval.sum[k] / interval.n])) as LossValues,
              msPerIteration: ms / interval.n,
              imagesPerSecond: interval.images / Math.max(ms, 1) * 1000,
              numTensors: tf.memory().numTensors,
            };
            history.push(record);
            const line = formatLogLine(record);
            log(line);
            fs.appendFileSync(lossLog, line + '\n');
            await hooks.onLog?.(record);
            Object.assign(interval, { sum: zeroLosses(), n: 0, images: 0,
              start: Date.now() });
          }
          const lastOfEpoch = epochIteration === iterationsPerEpoch;
          if (epochIteration % o.displayFreq === 0 || lastOfEpoch) {
            lastPng = await sampleGrid(model, batch);
            await hooks.onSample?.({ epoch, iteration, png: lastPng });
          }
        } catch (e) {
          if (!(e instanceof NonFiniteLossError)) throw e;
          const good = resolveCheckpoint(dir, 'latest');
          message = `[train] stopped: ${e.message} (epoch ${epoch}, ` +
            `iteration ${epochIteration + 1} of the epoch). ` + (good ?
            `Last good checkpoint: ${good}` : 'No checkpoint was saved yet');
          log(message);
          fs.appendFileSync(lossLog, message + '\n');
          status = 'diverged';
          await batches.return?.(undefined);
          break;
        } finally {
          tf.dispose([batch.realA, batch.realB]);
        }
      }
      if (status === 'diverged') break;

      const n = Math.max(1, epochIteration);
      const meanLosses = Object.fromEntries(LOSS_NAMES.map((k) =>
        [k, epochSum[k] / n])) as LossValues;
      scheduler.endEpoch(generatorTotal(meanLosses));
      const state: TrainingState = {
        epoch, iteration, scheduler: scheduler.state(),
        dataset: dataset.rngState(), model: undefined as never,
        options: optionsToJson(o),
      };
      const tags = ['latest'];
      if (epoch % o.saveEpochFreq === 0) tags.push(`epoch_${epoch}`);
      const snap = await model.snapshot();
      try {
        state.model = snap.state;
        for (const tag of tags) {
          await saveCheckpoint(dir, tag, { networks: snap.networks,
            tensors: snap.tensors, state });
        }
      } finally {
        snap.dispose();
      }
      if (lastPng) {
        await writePng(path.join(dir, 'samples',
          `epoch_${String(epoch).padStart(3, '0')}.png`), lastPng);
      }
      const seconds = (Date.now() - epochStart) / 1000;
      const summary = `[train] end of epoch ${epoch} / ${lastEpoch}: ` +
        `${seconds.toFixed(1)} s, lr ${lr.toExponential(3)}, saved ` +
        `${tags.join(' and ')}; means ` + LOSS_NAMES.map((k) =>
        `${k} ${meanLosses[k].toFixed(3)}`).join(' ');
      log(summary);
      fs.appendFileSync(lossLog, summary + '\n');
      completed = epoch;
      await hooks.onEpoch?.({ epoch, lastEpoch, seconds, lr, meanLosses,
        checkpoint: path.join(dir, 'latest') });
      if (hooks.stopAfterEpoch !== undefined &&
          epoch >= hooks.stopAfterEpoch && epoch < lastEpoch) {
        status = 'stopped';
        break;
      }
    }
  } finally {
    if (!hooks.keepModel || status === 'diverged') model.dispose();
  }
  return {
    status, dir, firstEpoch, lastEpoch: completed,
    iterations: iteration - startIteration, history, message,
    model: hooks.keepModel && status !== 'diverged' ? model : undefined,
  };
}

/**
 * The options of a resumed run: the saved ones, with the given overrides
 * on top. Overriding an architecture option with a different value is
 * refused (the saved weights would not fit), and `continueTrain` stays on.
 */
function mergeResumedOptions(current: CycleGANOptions,
  savedOptions: CycleGANOptions, overrides: Partial<CycleGANOptions>):
    CycleGANOptions {
  for (const k of ARCHITECTURE) {
    if (overrides[k] !== undefined && overrides[k] !== savedOptions[k]) {
      throw new Error(`option ${k} is ${JSON.stringify(overrides[k])} but ` +
        `the checkpoint was trained with ${JSON.stringify(savedOptions[k])}` +
        ': architecture options cannot change on resume');
    }
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(
    ([, v]) => v !== undefined));
  return resolveOptions({ ...savedOptions, ...defined, continueTrain: true,
    name: current.name, checkpointsDir: current.checkpointsDir });
}
