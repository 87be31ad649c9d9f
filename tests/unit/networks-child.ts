/**
 * Run by networks.test.ts in a fresh Node process: loads saved models with
 * only lib/layers imported (which registers the custom layers), predicts
 * on the saved input and writes the outputs as JSON.
 *
 *   node build/tests/unit/networks-child.js <dir> <name>...
 *
 * reads <dir>/input.json and <dir>/<name>/model.json, writes
 * <dir>/<name>/prediction.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import '../../lib/layers';

async function main(): Promise<void> {
  const [dir, ...names] = process.argv.slice(2);
  await initBackend('inference', 'native', { quiet: true });
  const input = JSON.parse(fs.readFileSync(path.join(dir, 'input.json'),
    'utf8')) as { shape: number[]; values: number[] };
  const x = tf.tensor(input.values, input.shape);
  for (const name of names) {
    const url = `file://${path.join(dir, name, 'model.json')}`;
    const model = await tf.loadLayersModel(url);
    const y = model.predict(x) as tf.Tensor;
    fs.writeFileSync(path.join(dir, name, 'prediction.json'), JSON.stringify(
      { shape: y.shape, values: Array.from(y.dataSync()) }));
    y.dispose();
    model.dispose();
  }
}

main().catch((e: Error) => {
  console.error(e.stack ?? String(e));
  process.exit(1);
});
