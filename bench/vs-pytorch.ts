/**
 * Our CycleGAN against the PyTorch reference (bench/pytorch/), on the CPU,
 * in one run: one full training iteration (both generators, both
 * discriminators, identity loss on, batch 1) and one generator forward
 * pass, resnet_9blocks ngf 64 with the basic PatchGAN ndf 64, at 64, 128
 * and 256 px. The two frameworks alternate run by run with the same
 * thread count, so load from other processes hits both alike; the table
 * gives medians after one warm-up each, the ratio ours / PyTorch (below 1
 * is faster; also of the best runs, which background load disturbs less)
 * and the achieved GFLOP/s, also as a share of the machine's attainable
 * peak (the faster framework's 2048×2048 float32 matmul).
 *
 *   npm run bench:vs-pytorch                 (-- --sizes 64,128 --reps 3)
 *
 * PyTorch's OpenMP threads spin while they wait, which on cores shared
 * with other processes made its training step 6-10 times slower here;
 * the worker runs with OMP_WAIT_POLICY=PASSIVE (set it in the environment
 * to override).
 *
 * Needs torch in .venv: `.venv/bin/pip install -r
 * bench/pytorch/requirements-pytorch.txt`.
 *
 * FLOPs are the model's, counted from conv shapes (`countMacs`, 2 FLOPs
 * per multiply-accumulate) and the same for both: a training iteration
 * runs 6 generator passes (fakeB, recA, fakeA, recB and two identities)
 * and 6 discriminator passes (2 on fakes in the generator step, 4 in the
 * discriminator step); backward through a pass that updates weights costs
 * 2 forwards (input and kernel gradients), through the frozen
 * discriminators of the generator step 1 (input gradients only):
 * 18 G + 16 D forward-equivalents.
 */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { CycleGAN } from '../lib/cyclegan';
import { countMacs } from '../lib/networks';
import { CYCLEGAN_DEFAULTS } from '../lib/options';

const THREADS = 2;
// TensorFlow reads these when its first session starts.
process.env.TF_NUM_INTRAOP_THREADS ??= String(THREADS);
process.env.TF_NUM_INTEROP_THREADS ??= String(THREADS);

function argValue(flag: string, fallback: string): string {
  const i = process.argv.indexOf(flag);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** The Python worker, one JSON request and reply per line. */
class TorchWorker {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;

  constructor(python: string, script: string) {
    this.proc = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'],
      env: { OMP_WAIT_POLICY: 'PASSIVE', ...process.env,
        OMP_NUM_THREADS: String(THREADS), PYTHONUNBUFFERED: '1' } });
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    this.lines = readline.createInterface({ input: this.proc.stdout })[
      Symbol.asyncIterator]();
  }

  async call(msg: object): Promise<Record<string, number | string>> {
    this.proc.stdin.write(`${JSON.stringify(msg)}\n`);
    const next = await this.lines.next();
    if (next.done) {
      throw new Error('the PyTorch worker stopped (see its error above); ' +
        'is torch installed? .venv/bin/pip install -r ' +
        'bench/pytorch/requirements-pytorch.txt');
    }
    const reply = JSON.parse(next.value);
    if (reply.error) throw new Error(`PyTorch worker: ${reply.error}`);
    return reply;
  }

  close(): void {
    this.proc.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length,
    ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(w[i])).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '),
    ...rows.map(line)].join('\n');
}

/**
 * TensorFlow's rate on a 2048×2048 float32 matrix product, GFLOP/s
 * (median of 5 after a warm-up).
 */
function tfMatmulGflops(): number {
  const n = 2048;
  const a = tf.randomUniform([n, n], -1, 1, 'float32', 3);
  const b = tf.randomUniform([n, n], -1, 1, 'float32', 4);
  const rates: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    const s = (performance.now() - t0) / 1000;
    c.dispose();
    if (r > 0) rates.push(2 * n ** 3 / s / 1e9); // the first is a warm-up
  }
  tf.dispose([a, b]);
  return median(rates);
}

async function main(): Promise<void> {
  const sizes = argValue('--sizes', '64,128,256').split(',').map(Number);
  const repsArg = argValue('--reps', '');
  if (sizes.some((s) => !Number.isInteger(s) || s < 8)) {
    throw new Error('--sizes expects integers >= 8 like 64,128,256');
  }
  const root = path.join(__dirname, '..', '..');
  const python = process.env.PYTHON ?? path.join(root, '.venv', 'bin',
    'python');
  if (!fs.existsSync(python)) {
    throw new Error(`no Python at ${python}: run npm install, or set PYTHON`);
  }
  const info = await initBackend('training', 'native', { quiet: true });
  const worker = new TorchWorker(python,
    path.join(root, 'bench', 'pytorch', 'bench_worker.py'));
  const ngf = 64;
  const ndf = 64;
  const rows: string[][] = [];
  let torchVersion = '';
  // Other processes on the same cores slow both sides (PyTorch's OpenMP
  // threads more so): the load average says how quiet the machine was.
  const loadBefore = os.loadavg()[0].toFixed(1);
  // The machine's attainable float32 rate on these threads: the faster
  // framework's 2048×2048 matrix product, the densest kernel either runs.
  const tfPeak = tfMatmulGflops();
  const torchPeak = Number((await worker.call({ cmd: 'matmul', n: 2048,
    threads: THREADS })).gflops);
  const peak = Math.max(tfPeak, torchPeak);
  const ofPeak = (gflops: number) => `${(100 * gflops / peak).toFixed(0)}%`;
  try {
    for (const size of sizes) {
      // Fewer repetitions where one iteration takes tens of seconds.
      const reps = repsArg ? Number(repsArg) : size >= 256 ? 3 : 5;
      const setup = await worker.call({ cmd: 'setup', size, ngf, ndf,
        threads: THREADS });
      torchVersion = String(setup.torch);
      const model = CycleGAN.create({ ...CYCLEGAN_DEFAULTS, ngf, ndf,
        modelSeed: 0 });
      const realA = tf.randomUniform([1, size, size, 3], -1, 1, 'float32',
        1) as tf.Tensor4D;
      const realB = tf.randomUniform([1, size, size, 3], -1, 1, 'float32',
        2) as tf.Tensor4D;
      const oursTrain = (): number => {
        const t0 = performance.now();
        model.trainStep(realA, realB);
        return (performance.now() - t0) / 1000;
      };
      const oursInfer = (): number => {
        const t0 = performance.now();
        const y = model.generatorAtoB.predict(realA) as tf.Tensor;
        y.dataSync();
        const s = (performance.now() - t0) / 1000;
        y.dispose();
        return s;
      };
      const times = { ourTrain: [] as number[], torchTrain: [] as number[],
        ourInfer: [] as number[], torchInfer: [] as number[] };
      // Warm-up (graph set-up, Adam moments, allocator), then alternate.
      oursTrain();
      await worker.call({ cmd: 'train' });
      for (let r = 0; r < reps; r++) {
        times.ourTrain.push(oursTrain());
        times.torchTrain.push(Number((await worker.call({ cmd: 'train' }))
          .seconds));
      }
      oursInfer();
      await worker.call({ cmd: 'infer' });
      for (let r = 0; r < reps; r++) {
        times.ourInfer.push(oursInfer());
        times.torchInfer.push(Number((await worker.call({ cmd: 'infer' }))
          .seconds));
      }
      const gMacs = countMacs(model.generatorAtoB, size, size);
      const dMacs = countMacs(model.discriminatorB, size, size);
      const trainFlop = 2 * (18 * gMacs + 16 * dMacs);
      const inferFlop = 2 * gMacs;
      const m = {
        ourTrain: median(times.ourTrain), torchTrain: median(times.torchTrain),
        ourInfer: median(times.ourInfer), torchInfer: median(times.torchInfer),
      };
      // Best-of ratio: less sensitive to load from other processes.
      const best = Math.min(...times.ourTrain) /
        Math.min(...times.torchTrain);
      rows.push([`${size}`, `${reps}`, (trainFlop / 1e9).toFixed(0),
        m.ourTrain.toFixed(2), m.torchTrain.toFixed(2),
        (m.ourTrain / m.torchTrain).toFixed(2), best.toFixed(2),
        (trainFlop / m.ourTrain / 1e9).toFixed(1),
        (trainFlop / m.torchTrain / 1e9).toFixed(1),
        ofPeak(trainFlop / m.ourTrain / 1e9),
        ofPeak(trainFlop / m.torchTrain / 1e9),
        (m.ourInfer * 1000).toFixed(0), (m.torchInfer * 1000).toFixed(0),
        (m.ourInfer / m.torchInfer).toFixed(2)]);
      console.log(`  ${size} px done (train ours ${m.ourTrain.toFixed(2)} ` +
        `s, PyTorch ${m.torchTrain.toFixed(2)} s)`);
      tf.dispose([realA, realB]);
      model.dispose();
    }
  } finally {
    worker.close();
  }
  console.log(`\nresnet_9blocks ngf ${ngf} + basic D ndf ${ndf}, batch 1, ` +
    `${THREADS} threads each; ours: ${info.name} (${info.device}, ` +
    `TensorFlow ${info.tfVersion}); PyTorch ${torchVersion} (CPU). ` +
    'Medians after one warm-up; runs alternate; load average ' +
    `${loadBefore} before, ${os.loadavg()[0].toFixed(1)} after.\n` +
    `Peak: ${peak.toFixed(0)} GFLOP/s, the faster 2048x2048 float32 ` +
    `matmul on ${THREADS} threads (PyTorch ${torchPeak.toFixed(0)}, ` +
    `TensorFlow ${tfPeak.toFixed(0)}); % peak is the training ` +
    'iteration\'s share of it.\n');
  console.log(table(['px', 'reps', 'train GFLOP', 'ours s', 'torch s',
    'ratio', 'best ratio', 'ours GFLOP/s', 'torch GFLOP/s', 'ours % peak',
    'torch % peak', 'infer ours ms',
    'torch ms', 'ratio'], rows));
}

main().catch((e: Error) => {
  console.error(`bench:vs-pytorch: ${e.message}`);
  process.exit(1);
});
