/**
 * GFLOP/s of one fixed convolution training step (forward, backward, Adam)
 * on every tfjs backend this machine has: native TensorFlow, pure JS and
 * wasm. Run with `npm run bench:backends`.
 *
 * The step: a [1, 64, 64, 32] input through two 3x3 convolutions of 32
 * channels (ReLU between), mean-square loss, Adam. A conv's forward pass is
 * 2·H·W·Cin·Cout·9 FLOPs; its backward pass (gradients for the input and
 * the kernel) costs twice that, so a step is 3× the forward FLOPs.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, missingTrainingKernels } from '../lib/backend';

const H = 64;
const W = 64;
const C = 32;
const LAYERS = 2;
const FORWARD_FLOPS = LAYERS * 2 * H * W * C * C * 9;
const STEP_FLOPS = 3 * FORWARD_FLOPS;

/** Median seconds of `reps` training steps after one warm-up step. */
async function timeStep(reps: number): Promise<number> {
  const x = tf.randomNormal([1, H, W, C], 0, 1, 'float32', 1) as tf.Tensor4D;
  const kernels = Array.from({ length: LAYERS }, (_, i) =>
    tf.variable(tf.randomNormal([3, 3, C, C], 0, 0.05, 'float32', 2 + i)));
  const adam = tf.train.adam(1e-3);
  const step = async () => {
    const loss = adam.minimize(() => {
      let h: tf.Tensor4D = x;
      kernels.forEach((k, i) => {
        h = tf.conv2d(h, k as tf.Tensor4D, 1, 'same');
        if (i < LAYERS - 1) h = tf.relu(h) as tf.Tensor4D;
      });
      return h.square().mean() as tf.Scalar;
    }, true);
    await loss!.data();
    loss!.dispose();
  };
  await step();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await step();
    times.push((performance.now() - t0) / 1000);
  }
  x.dispose();
  kernels.forEach((k) => k.dispose());
  adam.dispose();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function main(): Promise<void> {
  console.log(`conv training step: [1,${H},${W},${C}] x ${LAYERS} conv3x3 ` +
    `${C}->${C}, ${(STEP_FLOPS / 1e6).toFixed(0)} MFLOP per step`);
  const rows: { backend: string; seconds?: number; note: string }[] = [];
  const native = await initBackend('training', 'native');
  rows.push({ backend: `tensorflow (${native.device}, TF ${native.tfVersion})`,
    seconds: await timeStep(20), note: '' });

  await tf.setBackend('cpu');
  rows.push({ backend: 'cpu (pure JS)', seconds: await timeStep(1),
    note: '' });

  require('@tensorflow/tfjs-backend-wasm');
  if (await tf.setBackend('wasm')) {
    const missing = missingTrainingKernels('wasm');
    rows.push({ backend: 'wasm', note: missing.length ?
      `cannot train: no ${missing.join(', ')} kernel` : '' });
  }

  const base = rows.find((r) => r.backend.startsWith('cpu'))!.seconds!;
  console.log('\nbackend                          s/step    GFLOP/s' +
    '  vs pure JS');
  for (const r of rows) {
    if (r.seconds === undefined) {
      console.log(`${r.backend.padEnd(32)} ${r.note}`);
      continue;
    }
    const gflops = STEP_FLOPS / r.seconds / 1e9;
    console.log(`${r.backend.padEnd(32)} ${r.seconds.toFixed(4).padStart(7)}` +
      `  ${gflops.toFixed(2).padStart(9)}  ${(base / r.seconds).toFixed(0)
        .padStart(9)}x`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
