/**
 * `npm run download -- horse2zebra`: fetches an official CycleGAN dataset
 * into data/<name>/ with a progress bar. An interrupted download resumes
 * on the next run; the zip is extracted safely (see lib/download.ts).
 */
import { Command, InvalidArgumentError } from 'commander';
import * as cliProgress from 'cli-progress';
import {
  OFFICIAL_BASE_URL, OFFICIAL_DATASETS, TransferProgress, downloadDataset,
} from '../lib/download';

function megabytes(n: number): string {
  return (n / 2 ** 20).toFixed(1);
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError('expected a whole number >= 0');
  }
  return n;
}

async function main(): Promise<void> {
  const program = new Command('download')
    .description('Download an official CycleGAN dataset into data/<name>/')
    .argument('[name]', `one of: ${OFFICIAL_DATASETS.join(', ')}`)
    .option('--base-url <url>', 'server folder holding <name>.zip',
      OFFICIAL_BASE_URL)
    .option('--root <dir>', 'where <name>/ goes (default: data/)')
    .option('--keep-zip', 'keep <name>.zip after extracting', false)
    .option('--force', 'replace an existing data/<name>/', false)
    .option('--retries <n>', 'resume attempts after an interruption',
      nonNegative, 3)
    .option('--list', 'print the dataset names and exit', false)
    .parse();
  const opts = program.opts<{ baseUrl: string; root?: string;
    keepZip: boolean; force: boolean; retries: number; list: boolean }>();
  const name = program.args[0];
  if (opts.list) {
    console.log(OFFICIAL_DATASETS.join('\n'));
    return;
  }
  if (!name) program.error('error: name the dataset (--list shows them)');
  if (!OFFICIAL_DATASETS.includes(name)) {
    program.error(`error: unknown dataset '${name}'; expected one of ` +
      OFFICIAL_DATASETS.join(', '));
  }

  const bar = new cliProgress.SingleBar({
    format: `[download] ${name} {stage} |{bar}| {percentage}% ` +
      '| {doneMb}/{totalMb} MB',
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  let stage = '';
  const show = (label: string) => (p: TransferProgress): void => {
    const total = p.total ?? Math.max(p.done, 1);
    const payload = { stage: label, doneMb: megabytes(p.done),
      totalMb: p.total === null ? '?' : megabytes(p.total) };
    if (stage !== label) {
      if (stage) bar.stop();
      bar.start(total, p.done, payload);
      stage = label;
    }
    bar.setTotal(total);
    bar.update(p.done, payload);
  };
  try {
    await downloadDataset(name, {
      baseUrl: opts.baseUrl, root: opts.root, keepZip: opts.keepZip,
      force: opts.force, retries: opts.retries,
      onProgress: show('download'), onExtractProgress: show('extract '),
      log: (line) => {
        if (stage) bar.stop();
        stage = '';
        console.log(line);
      },
    });
  } finally {
    if (stage) bar.stop();
  }
}

main().catch((err: Error) => {
  console.error(`[download] error: ${err.message}`);
  process.exit(1);
});
