/**
 * Choosing the TensorFlow.js backend.
 *
 * Training wants the native TensorFlow backend: GPU (tfjs-node-gpu) first,
 * then CPU (tfjs-node). The pure-JS `cpu` backend is kept for inference
 * only; the `wasm` backend lacks the kernels a conv net needs to train.
 * Every lib/ module imports `@tensorflow/tfjs`, and the native packages
 * register themselves on that same engine, so calling `initBackend` once at
 * start is all a program or notebook has to do.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { registerNativeKernels } from './native-kernels';

/** What `initBackend` found, with the one line it prints. */
export interface BackendInfo {
  /** tfjs backend name: `tensorflow` (native), `cpu`, `wasm`. */
  name: string;
  /** The npm package that provided it. */
  pkg: string;
  /** `GPU` or `CPU`. */
  device: 'GPU' | 'CPU';
  /** TensorFlow C library version for native backends, else `n/a`. */
  tfVersion: string;
  native: boolean;
  /** The one line printed at start. */
  line: string;
}

/** What the caller will do with the backend. */
export type BackendPurpose = 'training' | 'inference';

/** Which backend to get; `auto` = GPU native, CPU native, then pure JS. */
export type BackendChoice = 'auto' | 'native' | 'cpu' | 'wasm';

/**
 * Kernels a CycleGAN training step dispatches, forward and backward. A
 * backend missing any of them cannot train our networks.
 */
export const TRAINING_KERNELS = [
  'Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput',
  'Mean', 'Sum', 'Sub', 'Multiply', 'RealDiv', 'Rsqrt', 'Tanh', 'Relu',
  'LeakyRelu', 'Abs', 'Square', 'Slice', 'Reverse', 'Concat', 'PadV2',
] as const;

/** The training kernels that `backendName` has not registered. */
export function missingTrainingKernels(backendName: string): string[] {
  return TRAINING_KERNELS.filter((k) =>
    tf.getKernel(k, backendName) === undefined);
}

let current: BackendInfo | undefined;

function tryRequire(pkg: string): boolean {
  try {
    // Requiring a tfjs-node package registers its kernels before it loads
    // the addon: only touch a package whose addon has been built.
    const dir = path.dirname(require.resolve(`${pkg}/package.json`));
    if (!fs.existsSync(path.join(dir, 'lib', 'napi-v8', 'tfjs_binding.node'))) {
      return false;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(pkg);
    return true;
  } catch {
    return false;
  }
}

function nativeInfo(pkg: string): BackendInfo {
  // The native backend exposes its binding and whether it runs on a GPU.
  const b = tf.backend() as unknown as {
    binding: { TF_Version: string }; isUsingGpuDevice: boolean;
  };
  const device = b.isUsingGpuDevice ? 'GPU' : 'CPU';
  return {
    name: 'tensorflow', pkg, device, tfVersion: b.binding.TF_Version,
    native: true,
    line: `[backend] tensorflow (native ${device}) via ${pkg}, ` +
      `TensorFlow ${b.binding.TF_Version}, tfjs ${tf.version_core}`,
  };
}

async function loadNative(): Promise<BackendInfo | undefined> {
  // TensorFlow's C++ start-up chatter (oneDNN notices) goes to stderr,
  // which notebook tests treat as a failure; keep warnings and errors.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if (tryRequire(pkg) && (await tf.setBackend('tensorflow'))) {
      const info = nativeInfo(pkg);
      // The fused kernels are verified on the CPU build only (no GPU was
      // at hand): the GPU build keeps tfjs's own ops.
      if (info.device === 'CPU') registerNativeKernels();
      return info;
    }
  }
  return undefined;
}

async function loadJs(name: 'cpu' | 'wasm'): Promise<BackendInfo> {
  if (name === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(name))) {
    throw new Error(`the tfjs '${name}' backend failed to initialise`);
  }
  return {
    name, pkg: name === 'wasm' ? '@tensorflow/tfjs-backend-wasm' :
      '@tensorflow/tfjs', device: 'CPU', tfVersion: 'n/a', native: false,
    line: `[backend] ${name} (pure JS, CPU, slow), tfjs ${tf.version_core}`,
  };
}

/**
 * Picks and initialises the backend, prints one line saying which it got,
 * and returns it. `purpose: 'training'` refuses a backend that lacks a
 * training kernel, naming them; the pure-JS backend serves inference only,
 * with a warning. The `CYCLEGAN_BACKEND` environment variable overrides
 * `choice` (`native`, `cpu`, `wasm`).
 */
export async function initBackend(
  purpose: BackendPurpose = 'training',
  choice: BackendChoice = 'auto',
  opts: { quiet?: boolean } = {},
): Promise<BackendInfo> {
  const env = process.env.CYCLEGAN_BACKEND as BackendChoice | undefined;
  const want = env ?? choice;
  let info: BackendInfo | undefined;
  if (want === 'auto' || want === 'native') info = await loadNative();
  if (!info && want === 'native') {
    throw new Error('no native TensorFlow backend: the tfjs-node addon did ' +
      'not load. Run `npm run setup` and read its last line.');
  }
  if (!info && want === 'auto' && purpose === 'training') {
    throw new Error('training needs the native TensorFlow backend and the ' +
      'tfjs-node addon did not load; run `npm run setup` and read its last ' +
      'line (set CYCLEGAN_BACKEND=cpu to train tiny models on pure JS).');
  }
  if (!info) info = await loadJs(want === 'wasm' ? 'wasm' : 'cpu');
  if (purpose === 'training') {
    const missing = missingTrainingKernels(info.name);
    if (missing.length > 0) {
      throw new Error(`the '${info.name}' backend cannot train: it has no ` +
        `${missing.join(', ')} kernel(s). Use the native backend ` +
        '(`npm run setup`).');
    }
  }
  if (!opts.quiet) {
    console.log(info.line);
    if (!info.native) {
      console.warn(`[backend] warning: pure-JS '${info.name}' is about ` +
        '1,000x slower than native TensorFlow; use it for small inference ' +
        'only. Run `npm run setup` to build the native backend.');
    }
  }
  current = info;
  return info;
}

/** The backend chosen by the last `initBackend` call. */
export function backendInfo(): BackendInfo {
  if (!current) throw new Error('initBackend() has not been called yet');
  return current;
}
