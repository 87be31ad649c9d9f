/**
 * Three kernels for the native TensorFlow backend that tfjs-node does not
 * define: instance normalisation forward and backward as TensorFlow's
 * fused batch-norm ops, and the gradient of a reflection pad as
 * TensorFlow's own `MirrorPadGrad`. Registered by `initBackend` when it
 * loads tfjs-node; lib/layers calls them when the current backend has
 * them (see {@link FUSED_KERNELS}) and otherwise builds the same values
 * from tfjs ops, as in the browser.
 *
 * Why: at the emoji size a training step launched about 8,500 kernels,
 * most of them tiny, and tfjs-node pays tens of microseconds for each.
 * An instance norm took 9 kernels forward and 18 backward, a reflection
 * pad's gradient 16; each is one here. Node only (it reaches into the
 * tfjs-node backend); lib/layers stays browser-safe by naming the kernels
 * in lib/fused-kernels.
 *
 * Instance norm of one image is batch norm in training mode over a batch
 * of that one image: statistics over height and width per channel, the
 * biased variance, y = (x − μ)/√(σ² + ε), scale 1 and offset 0 (the
 * official `InstanceNorm2d(affine=False)`). The caller folds a batch of
 * N images into one image of N·C channels.
 */
import * as tf from '@tensorflow/tfjs';
import { FUSED_KERNELS } from './fused-kernels';

/** The slice of the tfjs-node backend these kernels use. */
interface NodeBackend {
  binding: {
    TF_ATTR_TYPE: number; TF_ATTR_FLOAT: number; TF_ATTR_BOOL: number;
    TF_ATTR_STRING: number; TF_FLOAT: number; TF_INT32: number;
  };
  executeSingleOutput(name: string, attrs: unknown[],
    inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: unknown[],
    inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
}

function batchNormAttrs(b: NodeBackend, epsilon: number): unknown[] {
  return [
    { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
    { name: 'U', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
    { name: 'epsilon', type: b.binding.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.binding.TF_ATTR_BOOL, value: true },
  ];
}

/** Scale 1 and offset 0 for `channels` channels. */
function unitScale(channels: number): [tf.Tensor1D, tf.Tensor1D] {
  return [tf.ones([channels]), tf.zeros([channels])];
}

let registered = false;

/**
 * Registers the kernels of {@link FUSED_KERNELS} for the `tensorflow`
 * backend (once per process).
 */
export function registerNativeKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: FUSED_KERNELS.instanceNorm,
    backendName: 'tensorflow',
    // x: [1, H, W, C] float32 → [y, reserve1, reserve2, reserve3]; the
    // reserves are what the gradient kernel needs (mean and variance in
    // the layout of the build of TensorFlow that made them).
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as NodeBackend;
      const x = inputs.x as tf.TensorInfo;
      const epsilon = (attrs as { epsilon: number }).epsilon;
      const [scale, offset] = unitScale(x.shape[3]);
      const empty = tf.tensor1d([], 'float32');
      const out = b.executeMultipleOutputs('FusedBatchNormV3',
        batchNormAttrs(b, epsilon), [x, scale, offset, empty, empty], 6);
      tf.dispose([scale, offset, empty, out[1], out[2]]);
      return [out[0], out[3], out[4], out[5]];
    },
  });
  tf.registerKernel({
    kernelName: FUSED_KERNELS.instanceNormGrad,
    backendName: 'tensorflow',
    // dy, x, reserve1..3 from the forward kernel → dx.
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as NodeBackend;
      const { dy, x, reserve1, reserve2, reserve3 } =
        inputs as Record<string, tf.TensorInfo>;
      const epsilon = (attrs as { epsilon: number }).epsilon;
      const [scale, offset] = unitScale(x.shape[3]);
      const out = b.executeMultipleOutputs('FusedBatchNormGradV3',
        batchNormAttrs(b, epsilon),
        [dy, x, scale, reserve1, reserve2, reserve3], 5);
      tf.dispose([scale, offset, ...out.slice(1)]);
      return out[0];
    },
  });
  tf.registerKernel({
    kernelName: FUSED_KERNELS.mirrorPadGrad,
    backendName: 'tensorflow',
    // dy of a padded NHWC batch, paddings [[0,0],[t,b],[l,r],[0,0]] →
    // the gradient at the unpadded input (mode REFLECT).
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as NodeBackend;
      const { paddings } = attrs as unknown as { paddings: number[][] };
      const pads = tf.tensor2d(paddings, [paddings.length, 2], 'int32');
      const out = b.executeSingleOutput('MirrorPadGrad', [
        { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
        { name: 'Tpaddings', type: b.binding.TF_ATTR_TYPE,
          value: b.binding.TF_INT32 },
        { name: 'mode', type: b.binding.TF_ATTR_STRING, value: 'REFLECT' },
      ], [inputs.dy as tf.TensorInfo, pads]);
      pads.dispose();
      return out;
    },
  });
}
