/**
 * `npm run import-pytorch -- <latest_net_G.pth> --netG resnet_9blocks
 * --out <dir>`: converts an official PyTorch CycleGAN checkpoint (a
 * `torch.save`d state_dict: a pretrained `horse2zebra.pth`, or a training
 * run's `latest_net_G_A.pth`) into a TensorFlow.js layers model,
 * `<dir>/model.json` + `<dir>/weights.bin`, as `model.save('file://<dir>')`
 * writes it. The file is read with our restricted unpickler: nothing in it
 * is executed, and a pickle that tries to call a function is refused.
 *
 * Architecture options default to what the file's keys and shapes say
 * (`inferGenerator`); give them to check the file against what you
 * expect. `--netD basic` imports a discriminator instead.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { countParams, defineD, defineG, DiscriminatorType, GeneratorType,
  NormType } from '../networks';
import { inferGenerator, loadStateDict, readStateDict } from '../pytorch';
import { positiveInt } from './args';

/** Options of {@link importPytorch}. */
export interface ImportOptions {
  /** The `.pth` file. */
  checkpoint: string;
  /** Output folder for model.json + weights.bin (created). */
  out: string;
  /** Official `--netG`; default: read off the file. */
  netG?: GeneratorType;
  /** Official `--netD`: import a discriminator instead of a generator. */
  netD?: DiscriminatorType;
  /** `--ngf` / `--ndf`; default: read off the file. */
  width?: number;
  /** `--n_layers_D` for `--netD n_layers` (default 3). */
  nLayersD?: number;
  /** `--norm`; default: read off the file (instance unless it has
   * batch-norm statistics). */
  norm?: NormType;
}

/** What {@link importPytorch} wrote. */
export interface ImportSummary {
  /** `resnet_9blocks`, `basic`, ... */
  architecture: string;
  width: number;
  params: number;
  /** State-dict tensors loaded. */
  tensors: number;
  /** InstanceNorm buffer keys of old checkpoints that were skipped. */
  dropped: string[];
  /** Path of the written model.json. */
  modelJson: string;
  /** Max |saved − in-memory| output on a probe image (0 when exact). */
  roundTripDiff: number;
}

/**
 * Reads an official checkpoint, builds the matching network with
 * `defineG` / `defineD`, loads the weights (`loadStateDict`), saves it as
 * a layers model and checks that the saved model, read back, gives the
 * same output on a seeded 64×64 probe (256×256 for unet_256).
 */
export async function importPytorch(o: ImportOptions):
    Promise<ImportSummary> {
  if (tf.io.getSaveHandlers('file://x').length === 0) {
    throw new Error('import-pytorch needs the native TensorFlow backend ' +
      '(tfjs-node provides file:// saving); run `npm run setup`');
  }
  const sd = await readStateDict(o.checkpoint);
  const source = path.basename(o.checkpoint);
  let model: tf.LayersModel;
  let architecture: string;
  let width: number;
  let probeSize = 64;
  if (o.netD) {
    const first = sd.get('model.0.weight') ?? sd.get('net.0.weight');
    width = o.width ?? first?.shape[0] ?? 64;
    const inputNc = first?.shape[1] ?? 3;
    architecture = o.netD;
    model = defineD({ netD: o.netD, ndf: width, inputNc,
      nLayersD: o.nLayersD ?? 3, norm: o.norm ?? 'instance', seed: 0 });
  } else {
    const found = inferGenerator(sd, source);
    const netG = o.netG ?? found.netG;
    width = o.width ?? found.ngf;
    architecture = netG;
    if (netG === 'unet_256') probeSize = 256;
    if (netG === 'unet_128') probeSize = 128;
    // Dropout is inactive at inference; it only moves ResNet keys.
    model = defineG({ netG, ngf: width, inputNc: found.inputNc,
      outputNc: found.outputNc, norm: o.norm ?? found.norm,
      useDropout: found.useDropout, seed: 0 });
  }
  try {
    const res = loadStateDict(model, sd, o.checkpoint);
    fs.mkdirSync(o.out, { recursive: true });
    await model.save(`file://${path.resolve(o.out)}`);
    const modelJson = path.join(o.out, 'model.json');
    const saved = await tf.loadLayersModel(
      `file://${path.resolve(modelJson)}`);
    const inputNc = (model.inputs[0].shape[3] ?? 3) as number;
    const roundTripDiff = tf.tidy(() => {
      const x = tf.randomUniform([1, probeSize, probeSize, inputNc], -1, 1,
        'float32', 1);
      const a = model.predict(x) as tf.Tensor;
      const b = saved.predict(x) as tf.Tensor;
      return tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
    });
    saved.dispose();
    return { architecture, width, params: countParams(model),
      tensors: res.loaded, dropped: res.dropped, modelJson, roundTripDiff };
  } finally {
    model.dispose();
  }
}

function choice<T extends string>(option: string, allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`${option} expects one of ` +
        `${allowed.join(', ')}, got '${value}'`);
    }
    return value as T;
  };
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('npm run import-pytorch --')
    .description('Convert an official PyTorch CycleGAN checkpoint (.pth ' +
      'state_dict) into a TensorFlow.js layers model.')
    .argument('<checkpoint>', 'the .pth file, e.g. latest_net_G_A.pth or ' +
      'a pretrained horse2zebra.pth')
    .requiredOption('--out <dir>', 'output folder (model.json, weights.bin)')
    .option('--netG <name>', 'generator architecture (default: from the ' +
      'file)', choice('--netG', ['resnet_9blocks', 'resnet_6blocks',
      'unet_256', 'unet_128'] as const))
    .option('--netD <name>', 'import a discriminator instead', choice(
      '--netD', ['basic', 'n_layers', 'pixel'] as const))
    .option('--ngf <n>', 'generator width (default: from the file)',
      positiveInt('--ngf'))
    .option('--ndf <n>', 'discriminator width (default: from the file)',
      positiveInt('--ndf'))
    .option('--n_layers_D <n>', 'layers of --netD n_layers',
      positiveInt('--n_layers_D'), 3)
    .option('--norm <type>', 'normalisation (default: from the file)',
      choice('--norm', ['instance', 'batch', 'none'] as const));
  program.parse(argv);
  const opts = program.opts();
  const [checkpoint] = program.args;
  if (!fs.existsSync(checkpoint)) {
    program.error(`error: checkpoint file '${checkpoint}' does not exist`);
  }
  if (opts.netG && opts.netD) {
    program.error('error: give --netG or --netD, not both');
  }
  await initBackend('inference', 'auto', { quiet: true });
  const s = await importPytorch({
    checkpoint, out: opts.out, netG: opts.netG, netD: opts.netD,
    width: opts.netD ? opts.ndf : opts.ngf, nLayersD: opts.n_layers_D,
    norm: opts.norm,
  });
  const dropped = s.dropped.length > 0 ?
    `; skipped ${s.dropped.length} InstanceNorm buffers of an old ` +
    'checkpoint' : '';
  console.log(`${path.basename(checkpoint)}: ${s.architecture}, ` +
    `${opts.netD ? 'ndf' : 'ngf'} ${s.width}, ` +
    `${s.params.toLocaleString('en-US')} parameters in ${s.tensors} ` +
    `tensors${dropped}`);
  console.log(`wrote ${s.modelJson} (read back: max output difference ` +
    `${s.roundTripDiff})`);
}

if (require.main === module) {
  main(process.argv).catch((e: Error) => {
    console.error(`import-pytorch: ${e.message}`);
    process.exit(1);
  });
}
