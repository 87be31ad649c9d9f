import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, missingTrainingKernels } from '../../lib/backend';

test('the native TensorFlow backend is active and can train', async () => {
  const info = await initBackend('training', 'native', { quiet: true });
  assert.equal(info.name, 'tensorflow');
  assert.equal(tf.getBackend(), 'tensorflow');
  assert.match(info.tfVersion, /^2\.\d+\.\d+/);
  assert.match(info.line, /tensorflow \(native (CPU|GPU)\)/);
  assert.deepEqual(missingTrainingKernels('tensorflow'), []);
});

test('the wasm backend is refused for training, naming its gaps', () => {
  // Registering the wasm kernels needs no initialisation of the backend.
  require('@tensorflow/tfjs-backend-wasm');
  const missing = missingTrainingKernels('wasm');
  assert.ok(missing.includes('Conv2DBackpropFilter'), String(missing));
});
