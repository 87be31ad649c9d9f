/**
 * `npm run bench:data`: how fast the loader decodes and augments real
 * files at 256×256 with the official preprocessing (resize 286, random
 * crop 256, random flip, scale to [-1, 1], batches of one A and one B).
 *
 * Inputs are emoji rasters at 256 px (PNG) and the same images re-encoded
 * as JPEG quality 90 (like the official photo datasets). Each setting runs
 * in a child process, since libuv's thread-pool size is fixed at start:
 * one decode thread (UV_THREADPOOL_SIZE=1, sharp.concurrency(1)) and the
 * default four. Besides wall-clock rates it prints images per CPU-second
 * of the whole process, which is what one core would sustain.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const STEPS = Number(process.env.BENCH_DATA_STEPS ?? 200);

interface Result {
  format: string; threads: number; images: number; wallS: number;
  cpuS: number; scanS: number; waitMs: number;
}

async function child(): Promise<void> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const sharp = (await import('sharp')).default;
  sharp.concurrency(threads === 1 ? 1 : 0);
  const { initBackend } = await import('../lib/backend');
  const tf = await import('@tensorflow/tfjs');
  const { UnalignedDataset } = await import('../lib/dataset');
  await initBackend('training', 'native', { quiet: true });
  const dataroot = process.env.BENCH_DATA_ROOT!;
  const t0 = performance.now();
  const ds = await UnalignedDataset.open({ dataroot, seed: 1,
    maxDatasetSize: STEPS, log: () => undefined });
  const scanS = (performance.now() - t0) / 1000;
  // Warm-up batch, then time one epoch.
  for await (const b of ds.batches(0)) {
    tf.dispose([b.realA, b.realB]);
    break;
  }
  const cpu0 = process.cpuUsage();
  const wait0 = ds.stats.waitMs;
  const t1 = performance.now();
  let images = 0;
  for await (const b of ds.batches(1)) {
    images += b.realA.shape[0] + b.realB.shape[0];
    if (b.realA.shape[1] !== 256 || b.realB.shape[2] !== 256) {
      throw new Error(`unexpected shape ${b.realA.shape}`);
    }
    tf.dispose([b.realA, b.realB]);
  }
  const wallS = (performance.now() - t1) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const result: Result = { format: process.env.BENCH_DATA_FORMAT!, threads,
    images, wallS, cpuS: (cpu.user + cpu.system) / 1e6, scanS,
    waitMs: ds.stats.waitMs - wait0 };
  console.log(JSON.stringify(result));
}

async function parent(): Promise<void> {
  const sharp = (await import('sharp')).default;
  const { ensureEmojiDataset } = await import('../lib/emoji');
  const started = performance.now();
  const pngRoot = await ensureEmojiDataset(256, { maxImages: STEPS });
  console.log(`[bench:data] PNG inputs: ${pngRoot} (` +
    `${((performance.now() - started) / 1000).toFixed(1)} s to ensure)`);
  const jpgRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-data-'));
  try {
    for (const f of ['trainA', 'trainB']) {
      fs.mkdirSync(path.join(jpgRoot, f));
      for (const name of fs.readdirSync(path.join(pngRoot, f))) {
        await sharp(path.join(pngRoot, f, name)).jpeg({ quality: 90 })
          .toFile(path.join(jpgRoot, f, name.replace(/\.png$/, '.jpg')));
      }
    }
    const results: Result[] = [];
    for (const [format, root] of [['png', pngRoot], ['jpeg', jpgRoot]]) {
      for (const threads of [1, 4]) {
        const r = spawnSync(process.execPath, [__filename], {
          env: { ...process.env, BENCH_DATA_CHILD: '1',
            UV_THREADPOOL_SIZE: String(threads), BENCH_DATA_ROOT: root,
            BENCH_DATA_FORMAT: format, TF_CPP_MIN_LOG_LEVEL: '2' },
          encoding: 'utf8' });
        const line = r.stdout.trim().split('\n').at(-1) ?? '';
        if (r.status !== 0 || !line.startsWith('{')) {
          throw new Error(`benchmark child failed:\n${r.stdout}${r.stderr}`);
        }
        results.push(JSON.parse(line) as Result);
      }
    }
    console.log(`[bench:data] ${STEPS} steps (${2 * STEPS} images) per ` +
      'run, 256x256 inputs, resize_and_crop 286 -> 256, flip, batch 1, ' +
      `prefetch 3, ${os.availableParallelism()} CPUs visible`);
    console.log('format  decode threads  images/s (wall)  ' +
      'images per CPU-second  consumer wait  scan');
    for (const r of results) {
      console.log(`${r.format.padEnd(6)}  ${String(r.threads).padStart(14)}` +
        `  ${(r.images / r.wallS).toFixed(0).padStart(15)}` +
        `  ${(r.images / r.cpuS).toFixed(0).padStart(21)}` +
        `  ${(r.waitMs / 1000).toFixed(2).padStart(11)} s` +
        `  ${r.scanS.toFixed(2)} s`);
    }
    const single = results.filter((r) => r.threads === 1);
    const worst = Math.min(...single.map((r) => r.images / r.cpuS));
    console.log(`[bench:data] single core: ${worst.toFixed(0)} images per ` +
      `CPU-second at worst (target >= 150)`);
  } finally {
    fs.rmSync(jpgRoot, { recursive: true, force: true });
  }
}

(process.env.BENCH_DATA_CHILD ? child() : parent()).catch((err: Error) => {
  console.error(`[bench:data] error: ${err.message}`);
  process.exit(1);
});
