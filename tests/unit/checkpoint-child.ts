/**
 * Child process of the kill-during-save test: saves checkpoint `latest`
 * under the folder given as argv[2] again and again, the k-th save with
 * every weight equal to k and state {k}, printing "saved k" after each.
 * The parent kills it with SIGKILL while a save is in progress.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { saveCheckpoint } from '../../lib/checkpoint';

async function main(): Promise<void> {
  await initBackend('training', 'native', { quiet: true });
  const root = process.argv[2];
  // About 4 MB of weights, so that a save takes a while.
  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [1000], units: 1000 }),
  ] });
  for (let k = 1; k < 100000; k++) {
    const values = model.weights.map((w) => tf.fill(w.shape as number[], k));
    model.setWeights(values);
    tf.dispose(values);
    const moments = [{ name: 'm', tensor: tf.fill([1000], k) }];
    await saveCheckpoint(root, 'latest', {
      networks: { net: model }, tensors: { optimizer: moments },
      state: { k },
    });
    tf.dispose(moments.map((m) => m.tensor));
    process.stdout.write(`saved ${k}\n`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
