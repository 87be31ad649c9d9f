/**
 * `npm run translate`: translate an image or a folder with a checkpoint,
 * or score a checkpoint on the emoji test split.
 *
 *   npm run translate -- --input photo.jpg --direction AtoB --out out/t
 *   npm run translate -- --checkpoint checkpoints/emoji/latest \
 *     --input data/emoji64/testA --out out/testA
 *   npm run translate -- --evaluate data/emoji64
 *
 * Without --checkpoint the shipped emoji model (models/emoji64) is used.
 */
import { Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { initBackend } from '../backend';
import { positiveInt } from './args';
import { evaluateEmoji, beatsBaselines } from '../evaluate';
import { loadGenerators, translatePath, SHIPPED_MODEL_DIR,
  DEFAULT_MAX_TRANSLATE_PIXELS, Direction } from '../inference';

interface CliOptions {
  checkpoint: string;
  input?: string;
  out?: string;
  direction: Direction;
  format: 'png' | 'jpeg';
  batchSize: number;
  evaluate?: string;
  maxPairs?: number;
  maxPixels: number;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('translate')
    .description('Translate images with a trained CycleGAN generator')
    .option('--checkpoint <dir>', 'checkpoint folder (…/latest or ' +
      'models/emoji64)', SHIPPED_MODEL_DIR)
    .option('--input <path>', 'an image (PNG, JPEG, WebP, GIF, TIFF, SVG, ' +
      'AVIF) or a folder of them')
    .option('--out <dir>', 'output folder for images and index.html')
    .addOption(new Option('--direction <d>', 'AtoB or BtoA')
      .choices(['AtoB', 'BtoA']).default('AtoB'))
    .addOption(new Option('--format <f>', 'output image format')
      .choices(['png', 'jpeg']).default('png'))
    .option('--batch-size <n>', 'images per generator call',
      positiveInt('--batch-size'), 4)
    .option('--max-pixels <n>', 'refuse larger images', positiveInt(
      '--max-pixels'), DEFAULT_MAX_TRANSLATE_PIXELS)
    .option('--evaluate <dataset>', 'score on the test pairs of an emoji ' +
      'dataset folder (e.g. data/emoji64) instead of translating')
    .option('--max-pairs <n>', 'with --evaluate: score at most n pairs',
      positiveInt('--max-pairs'))
    .parse(argv);
  const o = program.opts<CliOptions>();
  const batchSize = o.batchSize;
  if (o.evaluate && (o.input || o.out)) {
    throw new Error('--evaluate scores the test pairs of a dataset and ' +
      'writes no images: drop --input/--out, or drop --evaluate to ' +
      'translate');
  }
  if (!o.evaluate && o.maxPairs !== undefined) {
    throw new Error('--max-pairs applies to --evaluate only');
  }
  await initBackend('inference');

  if (o.evaluate) {
    const loaded = await loadGenerators(o.checkpoint);
    const result = await evaluateEmoji(o.evaluate, loaded, { batchSize,
      maxPairs: o.maxPairs });
    loaded.dispose();
    console.log(`\n${result.table}\n`);
    console.log(beatsBaselines(result.rows)
      ? 'the trained generators beat both baselines in both directions'
      : 'the trained generators do NOT beat both baselines');
    return;
  }
  if (!o.input || !o.out) {
    throw new Error('--input and --out are required (or use --evaluate)');
  }
  const bar = new SingleBar({ format: 'translate |{bar}| {value}/{total}' },
    Presets.shades_classic);
  let started = false;
  const written = await translatePath({ checkpoint: o.checkpoint,
    direction: o.direction, input: o.input, out: o.out, format: o.format,
    batchSize, maxPixels: o.maxPixels, onProgress: (done, total) => {
      if (!started) { bar.start(total, 0); started = true; }
      bar.update(done);
    } });
  bar.stop();
  console.log(`${written.length} image(s) translated ${o.direction}; ` +
    `results page: ${o.out}/index.html`);
}

main(process.argv).catch((err: Error) => {
  console.error(`translate: ${err.message}`);
  process.exit(1);
});
