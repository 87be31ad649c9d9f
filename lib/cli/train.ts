/**
 * `npm run train`: train a CycleGAN from the command line.
 *
 *   npm run train -- --dataset data/emoji64 --profile emoji
 *   npm run train -- --profile emoji --continue        resume `latest`
 *   npm run train -- --dataset datasets/horse2zebra --name h2z \
 *     --profile paper --n-epochs 50 --lambda-identity 0
 *
 * Every option of lib/options is a flag: its camelCase name in kebab case
 * (`lambdaA` is `--lambda-a`, `nEpochsDecay` is `--n-epochs-decay`);
 * booleans take an optional value (`--serial-batches`, `--use-dropout
 * false`). `--profile` (default: CYCLEGAN_PROFILE, else emoji) sets the
 * data size, networks and epochs first; flags override it. Without
 * `--dataset`, the smoke and emoji profiles build and use a sample of the
 * emoji dataset (`trainImages` per folder, e.g. data/emoji64-max400).
 */
import * as path from 'node:path';
import { Command } from 'commander';
import { MultiBar, Presets, SingleBar } from 'cli-progress';
import { initBackend } from '../backend';
import { ensureEmojiDataset } from '../emoji';
import { writePng } from '../image';
import { LOSS_NAMES } from '../losses';
import {
  CYCLEGAN_DEFAULTS, CycleGANOptions, OPTION_NAMES, profileOptions,
} from '../options';
import { lossChartPng } from '../plot';
import { getProfile } from '../profiles';
import { LossRecord, train } from '../train';

/** One line of help per option (the JSDoc in lib/options says more). */
const HELP: Record<keyof CycleGANOptions, string> = {
  dataroot: 'dataset folder with trainA/ and trainB/ (alias --dataset)',
  phase: 'train or test: which folders to read',
  direction: 'AtoB or BtoA (BtoA swaps the domains)',
  preprocess: 'resize_and_crop, crop, scale_width, scale_width_and_crop, ' +
    'none',
  loadSize: 'scale images to this size first',
  cropSize: 'then crop to this size',
  noFlip: 'no random horizontal flip',
  serialBatches: 'take images in order instead of shuffled',
  maxDatasetSize: 'cap on images per domain (inf = all)',
  batchSize: 'images per batch',
  inputNc: 'channels of domain A (1 or 3)',
  outputNc: 'channels of domain B (1 or 3)',
  seed: 'seed of the data order, crops and flips',
  netG: 'resnet_9blocks, resnet_6blocks, unet_256, unet_128',
  netD: 'basic, n_layers, pixel',
  ngf: 'generator filters in the first layer',
  ndf: 'discriminator filters in the first layer',
  nLayersD: 'conv layers of an n_layers discriminator',
  norm: 'instance, batch or none',
  useDropout: 'dropout in the generators',
  initType: 'normal, xavier, kaiming, orthogonal',
  initGain: 'scale of the initial weights',
  upsample: 'generator upsampling: transpose (official) or resize',
  name: 'experiment name: checkpoints go to <checkpoints-dir>/<name>',
  checkpointsDir: 'folder of all experiments',
  continueTrain: 'resume from a checkpoint (alias --continue)',
  loadEpoch: 'checkpoint to resume: latest or an epoch number',
  epochCount: 'first epoch of a fresh run',
  nEpochs: 'epochs at the initial learning rate',
  nEpochsDecay: 'epochs of linear decay to zero',
  lr: 'initial Adam learning rate',
  beta1: 'Adam beta1',
  beta2: 'Adam beta2',
  ganMode: 'lsgan, vanilla or wgangp',
  lambdaGp: 'wgangp: gradient penalty weight',
  poolSize: 'generated images kept for the discriminators',
  lambdaA: 'weight of the cycle loss A->B->A',
  lambdaB: 'weight of the cycle loss B->A->B',
  lambdaIdentity: 'identity loss weight, relative to lambda',
  lrPolicy: 'linear, step, cosine or plateau',
  lrDecayIters: 'step policy: epochs between x0.1 steps',
  saveEpochFreq: 'save epoch_<n> every this many epochs',
  printFreq: 'log a line every this many iterations',
  displayFreq: 'write a sample grid every this many iterations',
  modelSeed: 'seed of the initial weights and the image pools',
  overwrite: 'allow a fresh run into a folder with checkpoints',
};

/**
 * An options error as the command line spells it: lib/options names an
 * option `option lambdaA:`, the user typed `--lambda-a`.
 */
export function flagNames(message: string): string {
  return message.replace(/\boption (\w+):/g, (whole, key: string) =>
    key in CYCLEGAN_DEFAULTS ? `${flagOf(key as keyof CycleGANOptions)}:` :
      whole);
}

/**
 * The flag of an option. noFlip as `--no-flip` would be read by commander
 * as "flip: false", so it is `--disable-flip`.
 */
function flagOf(key: keyof CycleGANOptions): string {
  return key === 'noFlip' ? '--disable-flip' : `--${kebab(key)}`;
}

/** `lambdaA` → `lambda-a`, `nLayersD` → `n-layers-d`. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function parseValue(key: keyof CycleGANOptions, raw: string | boolean):
    unknown {
  const kind = typeof CYCLEGAN_DEFAULTS[key];
  if (kind === 'boolean') {
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    throw new Error(`--${kebab(key)}: expected true or false, got '${raw}'`);
  }
  if (kind === 'number') {
    const text = String(raw);
    const n = /^(inf|infinity)$/i.test(text) ? Infinity : Number(text);
    if (text.trim() === '' || Number.isNaN(n)) {
      throw new Error(`--${kebab(key)}: expected a number, got '${raw}'`);
    }
    return n;
  }
  return String(raw);
}

/** The command line parsed into option overrides (only flags given). */
export function parseTrainArgs(argv: string[]): {
  overrides: Partial<CycleGANOptions>; profile: string | undefined;
} {
  const program = new Command('train')
    .description('Train a CycleGAN (Zhu et al. 2017) on unpaired images')
    .option('--profile <name>', 'smoke, workshop, emoji or paper (default: ' +
      'CYCLEGAN_PROFILE, else emoji)')
    .option('--dataset <dir>', 'alias of --dataroot')
    .option('--continue', 'alias of --continue-train');
  for (const key of OPTION_NAMES) {
    const flag = flagOf(key);
    const arg = typeof CYCLEGAN_DEFAULTS[key] === 'boolean' ? '[bool]' :
      '<value>';
    program.option(`${flag} ${arg}`, `${HELP[key]} (default ` +
      `${String(CYCLEGAN_DEFAULTS[key])})`);
  }
  program.parse(argv, { from: 'user' });
  const given = program.opts() as Record<string, string | boolean>;
  const overrides: Record<string, unknown> = {};
  for (const key of OPTION_NAMES) {
    const prop = key === 'noFlip' ? 'disableFlip' : key;
    if (given[prop] !== undefined) {
      overrides[key] = parseValue(key, given[prop]);
    }
  }
  if (given.dataset !== undefined) overrides.dataroot = String(given.dataset);
  if (given.continue) overrides.continueTrain = true;
  return { overrides: overrides as Partial<CycleGANOptions>,
    profile: given.profile as string | undefined };
}

async function main(argv: string[]): Promise<number> {
  const { overrides, profile: profileName } = parseTrainArgs(argv);
  const profile = getProfile(profileName);
  const options: Partial<CycleGANOptions> = { ...profileOptions(profile),
    ...overrides };
  await initBackend('training');
  if (!options.dataroot) {
    if (profile.name === 'paper') {
      throw new Error('the paper profile needs --dataset <dir> (a folder ' +
        'with trainA/ and trainB/, e.g. from `npm run download`)');
    }
    options.dataroot = await ensureEmojiDataset(profile.imageSize,
      { maxImages: profile.trainImages });
  }
  console.log(`[train] profile ${profile.name}, data ${options.dataroot}`);

  const tty = process.stdout.isTTY === true;
  const bars = tty ? new MultiBar({ format: 'epoch {epoch} |{bar}| ' +
    '{value}/{total} iters | {losses}', hideCursor: true,
  clearOnComplete: false }, Presets.shades_classic) : undefined;
  let bar: SingleBar | undefined;
  let barEpoch = 0;
  const log = (line: string) => {
    if (bars) bars.log(line + '\n');
    else console.log(line);
  };
  const history: LossRecord[] = [];
  const result = await train(options, {
    log,
    onIteration: (epoch, i, total, losses) => {
      if (!bars) return;
      if (epoch !== barEpoch) {
        bar?.stop();
        bar = bars.create(total, 0, { epoch, losses: '' });
        barEpoch = epoch;
      }
      bar?.update(i, { epoch, losses: LOSS_NAMES.map((k) =>
        `${k} ${losses[k].toFixed(2)}`).join(' ') });
    },
    onLog: (record) => { history.push(record); },
    onEpoch: async (info) => {
      if (history.length === 0) return;
      await writePng(path.join(path.dirname(info.checkpoint), 'loss.png'),
        await lossChartPng(history));
    },
  });
  bars?.stop();
  if (result.status === 'diverged') return 1;
  if (result.status !== 'nothing-to-do') {
    console.log(`[train] ${result.status}: epochs ${result.firstEpoch}-` +
      `${result.lastEpoch}, ${result.iterations} iterations; checkpoints ` +
      `in ${result.dir}`);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (e: Error) => {
    console.error(`train: ${flagNames(e.message)}`);
    process.exitCode = 1;
  });
}
