/**
 * Names of the fused kernels that lib/native-kernels registers for the
 * native backend, and the check lib/layers makes before calling one.
 * Browser-safe: nothing here touches tfjs-node.
 */
import * as tf from '@tensorflow/tfjs';

export const FUSED_KERNELS = {
  instanceNorm: 'CycleGANInstanceNorm',
  instanceNormGrad: 'CycleGANInstanceNormGrad',
  mirrorPadGrad: 'CycleGANMirrorPadGrad',
} as const;

/**
 * Whether the current backend has the fused kernel `name`, and fused
 * kernels are not switched off (`CYCLEGAN_FUSED=0`, to compare the two
 * paths).
 */
export function hasFusedKernel(name: string): boolean {
  if (typeof process !== 'undefined' && process.env?.CYCLEGAN_FUSED === '0') {
    return false;
  }
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}
