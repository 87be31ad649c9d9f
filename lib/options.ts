/**
 * The options of a CycleGAN training run: data, model and training, in
 * one typed object. Names are the official ones (pytorch-CycleGAN-and-
 * pix2pix `options/*.py`) in camelCase: `--lambda_A` is `lambdaA`,
 * `--n_epochs_decay` is `nEpochsDecay`. Build a run's options by spreading
 * overrides over `CYCLEGAN_DEFAULTS` (`resolveOptions` also checks them);
 * `optionsTable` prints them with changed defaults marked (*), and
 * `writeOptions` saves opt.json / opt.txt beside the checkpoints.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DATA_DEFAULTS, DataOptions, validateDataOptions } from './dataset';
import { GAN_MODES, GanMode, checkIdentityChannels } from './losses';
import {
  DISCRIMINATOR_DEFAULTS, DiscriminatorType, GENERATOR_DEFAULTS,
  GeneratorType, NormType, UPSAMPLE_MODES, UpsampleMode,
} from './networks';
import { InitType } from './init';
import { Profile } from './profiles';
import { LR_POLICIES, LrPolicy } from './scheduler';

/** Network options (official `base_options.py`). */
export interface ModelOptions {
  /** Generator architecture (`--netG`). */
  netG: GeneratorType;
  /** Discriminator architecture (`--netD`). */
  netD: DiscriminatorType;
  /** Generator filters in the first conv layer (`--ngf`). */
  ngf: number;
  /** Discriminator filters in the first conv layer (`--ndf`). */
  ndf: number;
  /** Conv layers of an `n_layers` discriminator (`--n_layers_D`). */
  nLayersD: number;
  /** Normalisation of both networks (`--norm`). */
  norm: NormType;
  /** Dropout in the generators (the inverse of `--no_dropout`). */
  useDropout: boolean;
  /** Weight initialisation (`--init_type`). */
  initType: InitType;
  /** Scale of the initialisation (`--init_gain`). */
  initGain: number;
  /**
   * Generator upsampling: `transpose` (official) or `resize` (ours;
   * lib/networks `GeneratorOptions.upsample`).
   */
  upsample: UpsampleMode;
}

/** Training options (official `train_options.py`, `cycle_gan_model.py`). */
export interface TrainOptions {
  /** Experiment name: checkpoints go to `<checkpointsDir>/<name>/`. */
  name: string;
  /** Where experiments are saved (`--checkpoints_dir`). */
  checkpointsDir: string;
  /** Resume from checkpoint `loadEpoch` (`--continue_train`). */
  continueTrain: boolean;
  /** Which checkpoint to resume: `latest` or an epoch number (`--epoch`). */
  loadEpoch: string;
  /**
   * First epoch of a fresh run (`--epoch_count`). A resumed run starts
   * after the checkpoint's epoch instead, whatever this says.
   */
  epochCount: number;
  /** Epochs at the initial learning rate (`--n_epochs`). */
  nEpochs: number;
  /** Epochs of linear decay to zero (`--n_epochs_decay`). */
  nEpochsDecay: number;
  /** Initial Adam learning rate (`--lr`). */
  lr: number;
  /** Adam β₁ (`--beta1`). */
  beta1: number;
  /** Adam β₂; fixed at 0.999 in the official code, an option here. */
  beta2: number;
  /** Adversarial loss form (`--gan_mode`). */
  ganMode: GanMode;
  /** WGAN-GP penalty weight (official `cal_gradient_penalty` default). */
  lambdaGp: number;
  /** Generated images kept for the discriminators (`--pool_size`). */
  poolSize: number;
  /** Weight of the forward cycle loss A→B→A (`--lambda_A`). */
  lambdaA: number;
  /** Weight of the backward cycle loss B→A→B (`--lambda_B`). */
  lambdaB: number;
  /** Identity loss weight relative to λ (`--lambda_identity`). */
  lambdaIdentity: number;
  /** Learning-rate schedule (`--lr_policy`). */
  lrPolicy: LrPolicy;
  /** `step` policy: epochs between ×0.1 steps (`--lr_decay_iters`). */
  lrDecayIters: number;
  /** Save `epoch_<n>` every this many epochs (`--save_epoch_freq`). */
  saveEpochFreq: number;
  /**
   * Log a line every this many iterations (`--print_freq`; the official
   * counts images, which is the same at batch size 1).
   */
  printFreq: number;
  /** Refresh the sample grid every this many iterations (`--display_freq`). */
  displayFreq: number;
  /**
   * Seed of the network initialisation and the image pools (ours: the
   * official code draws them from PyTorch's global generator).
   */
  modelSeed: number;
  /** Allow a fresh run into a folder that already holds checkpoints. */
  overwrite: boolean;
}

/** Every option of a training run. */
export type CycleGANOptions = DataOptions & ModelOptions & TrainOptions;

/** The official CycleGAN network defaults (networks.ts holds the source). */
export const MODEL_DEFAULTS: ModelOptions = {
  netG: GENERATOR_DEFAULTS.netG, // resnet_9blocks (cycle_gan_model.py)
  netD: DISCRIMINATOR_DEFAULTS.netD, // basic 70×70 PatchGAN
  ngf: GENERATOR_DEFAULTS.ngf, // 64
  ndf: DISCRIMINATOR_DEFAULTS.ndf, // 64
  nLayersD: DISCRIMINATOR_DEFAULTS.nLayersD, // 3
  norm: GENERATOR_DEFAULTS.norm, // instance
  useDropout: GENERATOR_DEFAULTS.useDropout, // false: CycleGAN sets no_dropout
  initType: GENERATOR_DEFAULTS.initType, // normal
  initGain: GENERATOR_DEFAULTS.initGain, // 0.02
  upsample: 'transpose', // ConvTranspose2d, as the official ResnetGenerator
};

/** The official training defaults, with their sources. */
export const TRAIN_DEFAULTS: TrainOptions = {
  name: 'experiment_name', // base_options --name
  checkpointsDir: './checkpoints', // base_options --checkpoints_dir
  continueTrain: false, // train_options --continue_train
  loadEpoch: 'latest', // base_options --epoch
  epochCount: 1, // train_options --epoch_count
  nEpochs: 100, // train_options --n_epochs; paper Sec. 4
  nEpochsDecay: 100, // train_options --n_epochs_decay; paper Sec. 4
  lr: 0.0002, // train_options --lr; paper Sec. 4
  beta1: 0.5, // train_options --beta1
  beta2: 0.999, // cycle_gan_model.py betas=(beta1, 0.999)
  ganMode: 'lsgan', // train_options --gan_mode; paper Sec. 4
  lambdaGp: 10, // networks.cal_gradient_penalty lambda_gp
  poolSize: 50, // train_options --pool_size; paper Sec. 4
  lambdaA: 10, // cycle_gan_model --lambda_A; paper Sec. 4 (λ = 10)
  lambdaB: 10, // cycle_gan_model --lambda_B
  lambdaIdentity: 0.5, // cycle_gan_model --lambda_identity; paper Sec. 5.2
  lrPolicy: 'linear', // train_options --lr_policy
  lrDecayIters: 50, // train_options --lr_decay_iters
  saveEpochFreq: 5, // train_options --save_epoch_freq
  printFreq: 100, // train_options --print_freq
  displayFreq: 400, // train_options --display_freq
  modelSeed: 0, // ours
  overwrite: false, // ours
};

/** All defaults: the official CycleGAN training configuration. */
export const CYCLEGAN_DEFAULTS: CycleGANOptions = {
  ...DATA_DEFAULTS, ...MODEL_DEFAULTS, ...TRAIN_DEFAULTS,
};

/** The option names, in table order (data, model, training). */
export const OPTION_NAMES = Object.keys(CYCLEGAN_DEFAULTS) as
  (keyof CycleGANOptions)[];

function check(ok: boolean, name: string, expected: string,
  value: unknown): void {
  if (!ok) {
    throw new Error(`option ${name}: expected ${expected}, got ` +
      `${JSON.stringify(value)}`);
  }
}

/**
 * `CYCLEGAN_DEFAULTS` overridden by `overrides`, checked: an unknown name,
 * a wrong type or an out-of-range value is an error naming the option.
 * Data options are checked by lib/dataset's `validateDataOptions` when a
 * dataroot is given, network choices when the networks are built.
 */
export function resolveOptions(overrides: Partial<CycleGANOptions> = {}):
    CycleGANOptions {
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in CYCLEGAN_DEFAULTS)) {
      throw new Error(`unknown option '${k}'; options are ` +
        OPTION_NAMES.join(', '));
    }
    const want = typeof (CYCLEGAN_DEFAULTS as unknown as
      Record<string, unknown>)[k];
    if (v !== undefined && typeof v !== want) {
      check(false, k, `a ${want}`, v);
    }
  }
  const o: CycleGANOptions = { ...CYCLEGAN_DEFAULTS, ...overrides };
  const posInt = (n: number) => Number.isInteger(n) && n >= 1;
  const nonNegInt = (n: number) => Number.isInteger(n) && n >= 0;
  check(o.name.length > 0 && !/[/\\]/.test(o.name), 'name',
    'a folder name without slashes', o.name);
  check(posInt(o.epochCount), 'epochCount', 'an integer >= 1', o.epochCount);
  check(nonNegInt(o.nEpochs), 'nEpochs', 'an integer >= 0', o.nEpochs);
  check(nonNegInt(o.nEpochsDecay), 'nEpochsDecay', 'an integer >= 0',
    o.nEpochsDecay);
  check(o.lr > 0, 'lr', 'a number > 0', o.lr);
  check(o.beta1 >= 0 && o.beta1 < 1, 'beta1', 'a number in [0, 1)', o.beta1);
  check(o.beta2 >= 0 && o.beta2 < 1, 'beta2', 'a number in [0, 1)', o.beta2);
  check(GAN_MODES.includes(o.ganMode), 'ganMode',
    `one of ${GAN_MODES.join(', ')}`, o.ganMode);
  check(LR_POLICIES.includes(o.lrPolicy), 'lrPolicy',
    `one of ${LR_POLICIES.join(', ')}`, o.lrPolicy);
  check(UPSAMPLE_MODES.includes(o.upsample), 'upsample',
    `one of ${UPSAMPLE_MODES.join(', ')}`, o.upsample);
  check(nonNegInt(o.poolSize), 'poolSize', 'an integer >= 0', o.poolSize);
  for (const k of ['lambdaA', 'lambdaB', 'lambdaIdentity', 'lambdaGp'] as
    const) {
    check(o[k] >= 0, k, 'a number >= 0', o[k]);
  }
  check(posInt(o.lrDecayIters), 'lrDecayIters', 'an integer >= 1',
    o.lrDecayIters);
  check(posInt(o.saveEpochFreq), 'saveEpochFreq', 'an integer >= 1',
    o.saveEpochFreq);
  check(posInt(o.printFreq), 'printFreq', 'an integer >= 1', o.printFreq);
  check(posInt(o.displayFreq), 'displayFreq', 'an integer >= 1',
    o.displayFreq);
  check(o.loadEpoch === 'latest' || /^\d+$/.test(o.loadEpoch), 'loadEpoch',
    "'latest' or an epoch number", o.loadEpoch);
  // The loader needs a dataroot; a model built without data does not.
  if (o.dataroot) validateDataOptions(o);
  checkIdentityChannels(o.inputNc, o.outputNc, o.lambdaIdentity);
  return o;
}

/**
 * The options that a profile sets: its data size, networks and length of
 * training (see lib/profiles.ts). Spread CLI or notebook overrides after.
 */
export function profileOptions(profile: Profile): Partial<CycleGANOptions> {
  return { ...profile.training };
}

function show(v: unknown): string {
  if (v === '') return '""';
  if (v === Infinity) return 'inf';
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
}

/**
 * The options as a table, one per line, `name: value`, with `(*)` and the
 * default after every value that differs from `defaults` (the official
 * `print_options` habit).
 */
export function optionsTable(o: CycleGANOptions,
  defaults: CycleGANOptions = CYCLEGAN_DEFAULTS): string {
  const width = Math.max(...OPTION_NAMES.map((k) => k.length));
  const lines = OPTION_NAMES.map((k) => {
    const value = show(o[k]);
    const changed = show(defaults[k]) !== value;
    const mark = changed ? `  (*) default ${show(defaults[k])}` : '';
    return `${k.padStart(width)}: ${value.padEnd(20)}${mark}`.trimEnd();
  });
  const rule = '-'.repeat(18);
  return [`${rule} Options ${rule}`, ...lines, `${rule}-- End --${rule}`]
    .join('\n');
}

/**
 * Writes `opt.json` (the options, re-readable with `readOptions`) and
 * `opt.txt` (`optionsTable`) into `dir`.
 */
export function writeOptions(dir: string, o: CycleGANOptions): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'opt.json'), JSON.stringify(o, jsonSafe,
    1) + '\n');
  fs.writeFileSync(path.join(dir, 'opt.txt'), optionsTable(o) + '\n');
}

/** JSON has no Infinity: write it as the string "Infinity". */
function jsonSafe(_key: string, v: unknown): unknown {
  return v === Infinity ? 'Infinity' : v;
}

/** Options from JSON written by `writeOptions` or stored in a checkpoint. */
export function optionsFromJson(json: Record<string, unknown>):
    CycleGANOptions {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    o[k] = v === 'Infinity' ? Infinity : v;
  }
  return { ...CYCLEGAN_DEFAULTS, ...o } as CycleGANOptions;
}

/** `options` as JSON-safe values (Infinity as "Infinity"). */
export function optionsToJson(o: CycleGANOptions): Record<string, unknown> {
  return JSON.parse(JSON.stringify(o, jsonSafe));
}
