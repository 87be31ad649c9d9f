/**
 * Images per second translating 256×256 images with resnet_9blocks (ngf 64,
 * the official default generator) on the native backend, at batch sizes 1
 * and 4, inference mode. Run with `npm run bench:infer`.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { translateBatch } from '../lib/inference';
import { defineG, countMacs } from '../lib/networks';

const SIZE = 256;
const REPS = 5;

async function main(): Promise<void> {
  const backend = await initBackend('inference', 'native');
  const generator = defineG({ netG: 'resnet_9blocks', ngf: 64, seed: 1 });
  const gmacs = countMacs(generator, SIZE, SIZE) / 1e9;
  console.log(`resnet_9blocks ngf 64, ${SIZE}x${SIZE}: ${gmacs.toFixed(1)} ` +
    `GMAC per image, native ${backend.device}, TF ${backend.tfVersion}`);
  console.log('batch  ms/batch  images/s  GFLOP/s');
  for (const batch of [1, 4]) {
    const x = tf.randomUniform([batch, SIZE, SIZE, 3], -1, 1, 'float32', 7) as
      tf.Tensor4D;
    const once = async () => {
      const y = translateBatch(generator, x);
      await y.data();
      y.dispose();
    };
    await once(); // warm-up: kernel selection, allocation
    const times: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const t0 = performance.now();
      await once();
      times.push(performance.now() - t0);
    }
    x.dispose();
    times.sort((a, b) => a - b);
    const ms = times[Math.floor(REPS / 2)];
    const ips = batch / (ms / 1000);
    console.log(`${String(batch).padStart(5)}  ${ms.toFixed(0).padStart(8)}` +
      `  ${ips.toFixed(2).padStart(8)}  ` +
      `${(2 * gmacs * ips).toFixed(1).padStart(7)}`);
  }
  generator.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
