/**
 * `npm run export -- --checkpoint <dir> --direction AtoB --out <dir>`:
 * writes one generator of a training checkpoint as a TensorFlow.js layers
 * model for the web page, and prints its size and how far its outputs are
 * from the float32 generator's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { normalizeCodePoint, openmojiDir, rasteriseSvg, twemojiDir }
  from '../emoji';
import { loadImageTensor } from '../image';
import { DEFAULT_SHARD_BYTES, Direction, exportGenerator, WEIGHT_DTYPES,
  WeightDtype } from '../export';
import { positiveInt } from './args';


function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/**
 * Real emoji of the generator's source domain at `size` px (rasterised as
 * the training data is), as the probe the export is compared on:
 * [N, size, size, 3] in [−1, 1].
 */
async function emojiProbe(direction: Direction, size: number):
    Promise<tf.Tensor4D> {
  const dir = direction === 'AtoB' ? twemojiDir() : openmojiDir();
  // Grinning face, red apple, rocket, sun: flat colours and outlines.
  const wanted = ['1f600', '1f34e', '1f680', '2600'];
  const files = fs.readdirSync(dir).filter((f) => /^[0-9a-f-]+\.svg$/i
    .test(f) && wanted.includes(normalizeCodePoint(f)));
  const images: tf.Tensor3D[] = [];
  try {
    for (const f of files) {
      const png = await rasteriseSvg(path.join(dir, f), size);
      images.push(await loadImageTensor(png));
    }
    return tf.stack(images) as tf.Tensor4D;
  } finally {
    tf.dispose(images);
  }
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('npm run export --')
    .description('Export a trained generator as a TensorFlow.js layers ' +
      'model for the web page.')
    .requiredOption('--checkpoint <dir>', 'checkpoint folder (with ' +
      'checkpoint.json), a run folder holding <tag>/, or a folder of ' +
      'exported networks (generatorAtoB/model.json...)')
    .option('--direction <dir>', 'AtoB or BtoA', 'AtoB')
    .requiredOption('--out <dir>', 'output folder (replaced)')
    .option('--dtype <type>', `weight storage: ${WEIGHT_DTYPES.join(', ')}`,
      'float32')
    .option('--tag <tag>', 'checkpoint tag inside a run folder', 'latest')
    .option('--shard-kib <n>', 'weight shard size, KiB',
      positiveInt('--shard-kib'), DEFAULT_SHARD_BYTES / 1024)
    .option('--image-size <px>', 'training image size (default: from ' +
      'the checkpoint)', positiveInt('--image-size'))
    .option('--domains <a,b>', 'names of domains A and B (default: from ' +
      'the training dataroot)')
    .option('--quiet', 'print only the summary line');
  program.parse(argv);
  const o = program.opts<{ checkpoint: string; direction: string;
    out: string; dtype: string; tag: string; shardKib: number;
    imageSize?: number; domains?: string; quiet?: boolean }>();
  if (o.direction !== 'AtoB' && o.direction !== 'BtoA') {
    program.error(`error: --direction must be AtoB or BtoA, got ` +
      `'${o.direction}'`);
  }
  if (!WEIGHT_DTYPES.includes(o.dtype as WeightDtype)) {
    program.error(`error: --dtype must be one of ` +
      `${WEIGHT_DTYPES.join(', ')}, got '${o.dtype}'`);
  }
  let domains: { A: string; B: string } | undefined;
  if (o.domains !== undefined) {
    const [a, b, ...rest] = o.domains.split(',').map((x) => x.trim());
    if (!a || !b || rest.length) {
      program.error(`error: --domains expects two names like ` +
        `'Twemoji,OpenMoji', got '${o.domains}'`);
    }
    domains = { A: a, B: b };
  }
  await initBackend('inference', 'auto', { quiet: o.quiet });
  const direction = o.direction as Direction;

  const report = await exportGenerator({
    checkpoint: o.checkpoint, direction, out: o.out,
    dtype: o.dtype as WeightDtype, tag: o.tag,
    shardBytes: o.shardKib * 1024, imageSize: o.imageSize, domains,
    // One-channel models get the default random probe.
    probe: async (size, channels) => channels === 3 ?
      emojiProbe(direction, size) : undefined,
  });
  const m = report.metadata;
  if (!o.quiet) {
    console.log(`[export] ${m.source} -> ${report.dir}`);
    console.log(`[export] ${m.direction} (AtoB is ${m.domains.A} -> ` +
      `${m.domains.B}), ${m.parameters.toLocaleString('en')} parameters, ` +
      `trained at ${m.imageSize} px, pads to a multiple of ${m.multiple} ` +
      `(min ${m.minSize})`);
    console.log(`[export] files: ${report.files.join(', ')}`);
  }
  const [n, h, w] = report.probeShape;
  console.log(`[export] ${m.dtype}: ${mib(report.bytes)} (as float32: ` +
    `${mib(report.float32Bytes)}); output vs float32 on ${n} image(s) ` +
    `${h}x${w}: max ${report.maxDiff.toFixed(3)}, mean ` +
    `${report.meanDiff.toFixed(4)} (8-bit levels)`);
}

main(process.argv).catch((e: Error) => {
  console.error(`export: ${e.message}`);
  process.exit(1);
});
