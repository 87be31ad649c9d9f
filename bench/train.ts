/**
 * Seconds per training iteration and achieved GFLOP/s of the full
 * CycleGAN step (lib/cyclegan: generator update, then discriminator
 * update with the pools) on the native backend, batch 1. Default: the
 * official networks (resnet_9blocks, ngf 64; basic PatchGAN, ndf 64) at
 * 64 and 128 px. `npm run bench:train -- --sizes 64,128 --reps 3`; add
 * `--net-g resnet_6blocks --ngf 32 --ndf 32` to time other settings (the
 * emoji profile was sized with this).
 *
 * FLOPs per iteration, from the layer shapes (`countMacs`, 2 FLOPs per
 * multiply-accumulate of the convolutions): the generator step runs G and
 * F three times each (translation, reconstruction, identity) and each
 * discriminator once; the discriminator step runs each discriminator
 * twice (real, pooled fake). A backward pass costs about twice its
 * forward (input and kernel gradients), so every pass counts 3 forward
 * passes: 2·3·(6·MAC_G + 6·MAC_D) FLOPs, about 1.9 TFLOP at 256 px.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { CycleGAN } from '../lib/cyclegan';
import { countMacs } from '../lib/networks';
import { resolveOptions } from '../lib/options';
import { printTable } from './table';

function argValue(flag: string, fallback: string): string {
  const i = process.argv.indexOf(flag);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** FLOPs of one CycleGAN training iteration at size×size (see above). */
export function iterationFlops(model: CycleGAN, size: number): number {
  const g = countMacs(model.generatorAtoB, size, size);
  const d = countMacs(model.discriminatorA, size, size);
  return 2 * 3 * (6 * g + 6 * d);
}

async function main(): Promise<void> {
  const sizes = argValue('--sizes', '64,128').split(',').map(Number);
  const reps = Number(argValue('--reps', '3'));
  if (sizes.some((s) => !Number.isInteger(s) || s < 1) || !(reps >= 1)) {
    throw new Error('--sizes expects positive integers like 64,128 and ' +
      '--reps a count >= 1');
  }
  const o = resolveOptions({
    netG: argValue('--net-g', 'resnet_9blocks') as never,
    ngf: Number(argValue('--ngf', '64')),
    ndf: Number(argValue('--ndf', '64')),
  });
  const info = await initBackend('training', 'native');
  const full = CycleGAN.create(o);
  const at256 = iterationFlops(full, 256) / 1e12;
  full.dispose();
  console.log(`CycleGAN iteration: ${o.netG} ngf ${o.ngf}, ${o.netD} ` +
    `ndf ${o.ndf}, ${o.ganMode}, identity ${o.lambdaIdentity}, batch 1, ` +
    `median of ${reps} after a warm-up, ${info.name} (${info.device}); ` +
    `${at256.toFixed(2)} TFLOP per iteration at 256 px\n`);
  const header = ['size', 'GFLOP/iter', 's/iter', 'GFLOP/s', 'img/s',
    'tensors'];
  const rows: string[][] = [];
  for (const size of sizes) {
    const model = CycleGAN.create(o);
    const realA = tf.randomUniform([1, size, size, 3], -1, 1, 'float32',
      1) as tf.Tensor4D;
    const realB = tf.randomUniform([1, size, size, 3], -1, 1, 'float32',
      2) as tf.Tensor4D;
    // The first step also creates Adam's moments: leave it out.
    model.trainStep(realA, realB);
    const before = tf.memory().numTensors;
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      model.trainStep(realA, realB); // reads its losses: work is done
      times.push((performance.now() - t0) / 1000);
    }
    // The pools grow by one image each per step (up to 50).
    const leaked = tf.memory().numTensors - before - 2 * reps;
    times.sort((a, b) => a - b);
    const s = times[Math.floor(times.length / 2)];
    const gflop = iterationFlops(model, size) / 1e9;
    rows.push([`${size}x${size}`, gflop.toFixed(1), s.toFixed(2),
      (gflop / s).toFixed(1), (1 / s).toFixed(2),
      leaked === 0 ? 'flat' : `+${leaked}`]);
    model.dispose();
    tf.dispose([realA, realB]);
  }
  printTable(header, rows);
}

if (require.main === module) {
  main().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
