/**
 * Forward and forward+backward time of the official CycleGAN generator
 * (resnet_9blocks, ngf 64, instance norm) at 64, 128 and 256 px, batch 1,
 * on the native backend, with the achieved GFLOP/s. Run with
 * `npm run bench:models` (`-- --sizes 64,128 --reps 3` to change).
 *
 * FLOPs are counted from the layer shapes (`countMacs`: 2 FLOPs per
 * multiply-accumulate of the convolutions; norms and activations left
 * out). The backward pass computes gradients for the inputs and for the
 * kernels of every conv, each as costly as the forward conv, so forward +
 * backward is counted as 3× the forward FLOPs.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { countMacs, countParams, defineG } from '../lib/networks';
import { printTable } from './table';

function argValue(flag: string, fallback: string): string {
  const i = process.argv.indexOf(flag);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** Median seconds of `reps` runs of `f` after one warm-up run. */
async function medianSeconds(reps: number,
  f: () => Promise<void>): Promise<number> {
  await f();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function main(): Promise<void> {
  const sizes = argValue('--sizes', '64,128,256').split(',').map(Number);
  const reps = Number(argValue('--reps', '3'));
  if (sizes.some((s) => !Number.isInteger(s) || s < 1) || !(reps >= 1)) {
    throw new Error('--sizes expects positive integers like 64,128,256 ' +
      'and --reps a count >= 1');
  }
  const info = await initBackend('training', 'native');
  const generator = defineG({ seed: 1 });
  console.log(`resnet_9blocks, ngf 64, instance norm: ` +
    `${countParams(generator).toLocaleString('en-US')} parameters, ` +
    `batch 1, median of ${reps} after a warm-up, ${info.name} ` +
    `(${info.device})\n`);
  const header = ['size', 'GMAC', 'fwd s', 'fwd GFLOP/s', 'fwd+bwd s',
    'fwd+bwd GFLOP/s', 'tensors'];
  const rows: string[][] = [];
  for (const size of sizes) {
    const x = tf.randomUniform([1, size, size, 3], -1, 1, 'float32', 2);
    const forward = async () => {
      const y = tf.tidy(() => generator.apply(x, { training: true }) as
        tf.Tensor);
      await y.data();
      y.dispose();
    };
    const backward = async () => {
      const { value, grads } = tf.variableGrads(() => tf.mean(
        generator.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      // Wait for every gradient, not just the loss.
      await Promise.all(Object.values(grads).map((g) => g.data()));
      value.dispose();
      tf.dispose(grads);
    };
    const before = tf.memory().numTensors;
    const fwd = await medianSeconds(reps, forward);
    const both = await medianSeconds(reps, backward);
    const leaked = tf.memory().numTensors - before;
    x.dispose();
    const macs = countMacs(generator, size, size);
    const gflop = (2 * macs) / 1e9;
    rows.push([`${size}x${size}`, (macs / 1e9).toFixed(2), fwd.toFixed(3),
      (gflop / fwd).toFixed(1), both.toFixed(3),
      ((3 * gflop) / both).toFixed(1), leaked === 0 ? 'flat' :
        `+${leaked}`]);
  }
  printTable(header, rows);
  generator.dispose();
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
