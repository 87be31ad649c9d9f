/**
 * Milliseconds per 256×256 translation in headless Chromium, for each
 * backend the web page can use (WebGL, WebAssembly, plain JavaScript),
 * through the page itself (`window.cyclegan.bench`: one warm-up, then
 * timed runs, each until the output is read back). Run with
 * `npm run bench:web` (`-- --runs 5 --backends wasm,webgl --models emoji`).
 *
 * Generators (random weights: time does not depend on them): `emoji`, the
 * networks the emoji profile trains (lib/profiles), and `paper`, the
 * official resnet_9blocks with ngf 64. A run predicted to exceed the
 * budget (from a 64×64 run, scaled by the pixel count) is not made; its
 * line says so and gives the prediction.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { initBackend } from '../lib/backend';
import { ExportMetadata, writeLayersModel } from '../lib/export';
import { countMacs, countParams, defineG, generatorMultiple,
  GeneratorOptions } from '../lib/networks';
import { getProfile } from '../lib/profiles';
import type {} from '../web/plan'; // declares window.cyclegan
import { launchChromium, ROOT, startWebServer } from
  '../tests/browser/harness';

interface BenchModel {
  id: string;
  label: string;
  opts: Partial<GeneratorOptions>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] :
    (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('npm run bench:web --')
    .option('--size <px>', 'translation size', '256')
    .option('--runs <n>', 'timed runs after the warm-up', '3')
    .option('--backends <list>', 'backends to time', 'webgl,wasm,cpu')
    .option('--models <list>', 'generators: emoji, paper', 'emoji,paper')
    .option('--budget-s <s>', 'skip a backend whose runs would take ' +
      'longer than this', '150');
  program.parse(argv);
  const o = program.opts<{ size: string; runs: string; backends: string;
    models: string; budgetS: string }>();
  const size = Number(o.size);
  const runs = Number(o.runs);
  const budgetMs = Number(o.budgetS) * 1000;
  if (!Number.isInteger(size) || size < 8 || !Number.isInteger(runs) ||
      runs < 1 || !(budgetMs > 0)) {
    program.error('error: --size expects an integer >= 8, --runs an ' +
      'integer >= 1, --budget-s a positive number');
  }
  const backends = o.backends.split(',');
  const bad = backends.filter((b) => !['webgl', 'wasm', 'cpu'].includes(b));
  if (bad.length) program.error(`error: unknown backend(s) ${bad}`);

  const emoji = getProfile('emoji').training;
  const all: BenchModel[] = [
    { id: 'emoji', label: `emoji profile (${emoji.netG}, ngf ${emoji.ngf})`,
      opts: { netG: emoji.netG, ngf: emoji.ngf } },
    { id: 'paper', label: 'paper (resnet_9blocks, ngf 64)',
      opts: { netG: 'resnet_9blocks', ngf: 64 } },
  ];
  const chosen = all.filter((m) => o.models.split(',').includes(m.id));
  if (chosen.length === 0) program.error('error: --models: emoji, paper');

  await initBackend('inference', 'native', { quiet: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-web-'));
  const gmac: Record<string, number> = {};
  const params: Record<string, number> = {};
  for (const m of chosen) {
    const g = defineG({ ...m.opts, seed: 1 });
    gmac[m.id] = countMacs(g, size, size) / 1e9;
    params[m.id] = countParams(g);
    const fit = generatorMultiple(m.opts.netG ?? 'resnet_9blocks');
    // The page warms up at the training size; 64 keeps that short.
    const meta: ExportMetadata = {
      format: 'annotated-cyclegan-generator', version: 1, direction: 'AtoB',
      domains: { A: 'Twemoji', B: 'OpenMoji' }, imageSize: 64, ...fit,
      inputNc: 3, outputNc: 3, dtype: 'float32', parameters: params[m.id],
      source: 'bench/web.ts (random weights)',
    };
    await writeLayersModel(g, path.join(tmp, 'models', m.id, 'AtoB'),
      { metadata: { cyclegan: meta } });
    g.dispose();
  }

  const server = await startWebServer(['--port', '0', '--out',
    path.join(ROOT, 'build', 'site-bench'), '--models',
    path.join(tmp, 'models')]);
  const browser = await launchChromium();
  const probe = await browser.context.newPage();
  const version = /Chrome\/(\d+)/.exec(await probe.evaluate(() =>
    navigator.userAgent))?.[1] ?? '?';
  await probe.close();
  console.log(`[bench:web] ms per ${size}x${size} translation (batch 1), ` +
    `headless Chromium ${version} with --disable-gpu, ` +
    `${os.cpus().length} CPU cores; median of ${runs} after a warm-up\n`);
  const header = ['generator', 'params', 'GMAC', 'backend', 'ms', 'GFLOP/s',
    'runs (ms)'];
  const rows: string[][] = [];
  try {
    for (const m of chosen) {
      for (const backend of backends) {
        const page = await browser.context.newPage();
        await page.goto(`${server.url}?backend=${backend}&model=${m.id}`);
        await page.evaluate(() => window.cyclegan.ready);
        const got = await page.evaluate(() => window.cyclegan.backend());
        const row = [m.label, (params[m.id] / 1e6).toFixed(2) + 'M',
          gmac[m.id].toFixed(1), got || backend];
        if (got !== backend) {
          rows.push([...row, 'n/a', '', `${backend} did not start`]);
          await page.close();
          continue;
        }
        // Predict from 64×64 before committing to the full size.
        const small = median(await page.evaluate(() =>
          window.cyclegan.bench(64, 1)));
        const predicted = small * (size * size) / (64 * 64);
        if (predicted * (runs + 1) > budgetMs) {
          rows.push([...row, `~${predicted.toFixed(0)}`,
            (2 * gmac[m.id] / (predicted / 1000)).toFixed(2),
            `not run: predicted from 64x64 (${small.toFixed(0)} ms) x ` +
            `${(size * size / 4096).toFixed(0)}, over the ` +
            `${o.budgetS} s budget`]);
        } else {
          const times = await page.evaluate(([s, r]) =>
            window.cyclegan.bench(s, r), [size, runs]);
          const ms = median(times);
          rows.push([...row, ms.toFixed(0),
            (2 * gmac[m.id] / (ms / 1000)).toFixed(2),
            times.map((t) => t.toFixed(0)).join(', ')]);
        }
        console.log(`  ${rows[rows.length - 1].join('  ')}`);
        await page.close();
      }
    }
  } finally {
    await browser.close();
    await server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const widths = header.map((h, i) => Math.max(h.length,
    ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]))
    .join('  ').trimEnd();
  console.log(['', line(header), widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line)].join('\n'));
}

main(process.argv).catch((e: Error) => {
  console.error(`bench:web: ${e.message}`);
  process.exit(1);
});
