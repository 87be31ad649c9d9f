/**
 * `npm run data -- --size 64`: builds the embedded emoji dataset
 * (Twemoji as domain A, OpenMoji as domain B) into data/emoji<size>/ with
 * a progress bar. A complete build is left as it is unless --force.
 */
import * as fs from 'node:fs';
import { Command } from 'commander';
import * as cliProgress from 'cli-progress';
import {
  EMOJI_CREDITS, EMOJI_SIZES, buildEmojiDataset, emojiDatasetDir,
  isEmojiDatasetComplete, readEmojiManifest,
} from '../lib/emoji';
import { positiveInt } from '../lib/cli/args';

async function main(): Promise<void> {
  const program = new Command('build-emoji')
    .description('Rasterise Twemoji (A) and OpenMoji (B) into ' +
      'data/emoji<size>/{trainA,trainB,testA,testB}')
    .option('--size <px>', `raster size, one of ${EMOJI_SIZES.join(', ')}`,
      positiveInt('--size'), 64)
    .option('--max-images <n>', 'cap per folder (a separate, small copy)',
      positiveInt('--max-images'))
    .option('--root <dir>', 'where dataset folders go (default: data/)')
    .option('--force', 'rebuild even if a complete build exists', false)
    .parse();
  const opts = program.opts<{ size: number; maxImages?: number;
    root?: string; force: boolean }>();
  if (!EMOJI_SIZES.includes(opts.size)) {
    program.error(`error: --size ${opts.size} is not one of ` +
      EMOJI_SIZES.join(', '));
  }
  const maxImages = opts.maxImages ?? Infinity;
  const dir = emojiDatasetDir(opts.size, maxImages, opts.root);
  if (!opts.force && isEmojiDatasetComplete(dir, opts.size)) {
    const m = readEmojiManifest(dir)!;
    console.log(`[data] ${dir} is complete (${JSON.stringify(m.counts)}); ` +
      'nothing to do (--force rebuilds)');
    return;
  }
  if (opts.force) await fs.promises.rm(dir, { recursive: true, force: true });

  const bar = new cliProgress.SingleBar({
    format: '[data] emoji{size} |{bar}| {value}/{total} images ' +
      '| {rate} img/s | eta {eta}s',
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  const started = Date.now();
  let barStarted = false;
  await buildEmojiDataset(opts.size, {
    maxImages, root: opts.root,
    onProgress: (done, total) => {
      if (!barStarted) {
        bar.start(total, 0, { size: opts.size, rate: '0' });
        barStarted = true;
      }
      const rate = done / Math.max(1e-3, (Date.now() - started) / 1000);
      bar.update(done, { size: opts.size, rate: rate.toFixed(0) });
    },
  });
  if (barStarted) bar.stop();
  const m = readEmojiManifest(dir)!;
  const seconds = (Date.now() - started) / 1000;
  console.log(`[data] built ${dir} in ${seconds.toFixed(1)} s: ` +
    Object.entries(m.counts).map(([k, v]) => `${k} ${v}`).join(', ') +
    `; ${m.shared} code points drawn by both sets`);
  const plainLinks = /\[([^\]]+)\]\([^)]+\)/g;
  console.log(`[data] ${EMOJI_CREDITS.replace(plainLinks, '$1')}`);
}

main().catch((err: Error) => {
  console.error(`[data] error: ${err.message}`);
  process.exit(1);
});
