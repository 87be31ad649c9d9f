/**
 * Building blocks TensorFlow.js lacks, as serialisable custom layers:
 * reflection/replication/zero padding with correct gradients, instance
 * normalisation, fixed cropping, and the pad-to-a-multiple / crop-back pair
 * that lets a generator take images of any size.
 *
 * Every class follows the tfjs-layers template (args interface, static
 * `className`, `build`, `call`, `computeOutputShape`, `getConfig`) and is
 * registered right after its definition, so importing this module is
 * enough for `tf.loadLayersModel` to rebuild a saved model in a new process.
 *
 * Tensors are NHWC. Spatial sizes may be unknown (`null`) when a model is
 * built; the layers read the real sizes from the tensor at call time.
 */
import * as tf from '@tensorflow/tfjs';
import { FUSED_KERNELS, hasFusedKernel } from './fused-kernels';

/** Arguments every tfjs layer accepts (name, trainable, inputShape...). */
export type LayerArgs = NonNullable<ConstructorParameters<
  typeof tf.layers.Layer>[0]>;

// The ReLU gradient of tfjs 4.22 is dy · cast(step(x)), and the native
// backend builds Step from five TensorFlow ops (isNaN, greater, ones,
// fill, select): ~8 kernels per ReLU of the generator, about a tenth of
// the element-wise time of a training step. dy · sign(y) on the saved
// output y = max(x, 0) is the same value (1 where x > 0, else 0; NaN
// stays NaN) in 2 kernels, and its own gradient is zero as before.
// Registered here, with the layers every network imports; it replaces
// the gradient for every tf.relu in the process.
tf.registerGradient({
  kernelName: 'Relu',
  outputsToSave: [true],
  gradFunc: (dy, saved) => ({
    x: () => tf.mul(dy as tf.Tensor, tf.sign(saved[0])),
  }),
});

/** A layer's tensor shape; `null` where a size is unknown. */
type Shape = (number | null)[];

// Layers receive keyword arguments such as `training` in an untyped bag.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Kwargs = { [key: string]: any };

/** How to fill a border: the official `padding_type` choices. */
export type PaddingMode = 'reflect' | 'replicate' | 'zero';

/** Padding or cropping of a 2-D image: [top, bottom, left, right]. */
export type Sides = [number, number, number, number];

function oneTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor4D {
  return (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
}

function oneShape(shape: Shape | Shape[]): Shape {
  return Array.isArray(shape[0]) ? (shape as Shape[])[0] : (shape as Shape);
}

function checkSides(sides: unknown, what: string): Sides {
  const ok = Array.isArray(sides) && sides.length === 4 &&
    sides.every((v) => Number.isInteger(v) && v >= 0);
  if (!ok) {
    throw new Error(`${what}: expected [top, bottom, left, right] as four ` +
      `non-negative integers, got ${JSON.stringify(sides)}`);
  }
  return sides as Sides;
}

/**
 * Mirrors `before` rows/columns at the start of `axis` and `after` at its
 * end, without repeating the edge (PyTorch `ReflectionPad2d`, numpy
 * 'reflect'): [a b c d] padded by 2 is [c b | a b c d | c b].
 *
 * Built from slice, reverse and concat, whose gradients are right; the
 * gradient of `tf.mirrorPad(x, ..., 'reflect')` in tfjs 4.22 drops what
 * flowed into the border. A pad wider than the image (size − 1) is done
 * as repeated reflections of the growing image; an image one pixel wide
 * has nothing to mirror, so it is replicated instead.
 */
export function reflectAxis(
  x: tf.Tensor4D, axis: 1 | 2, before: number, after: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    let y = x;
    while (before > 0 || after > 0) {
      const size = y.shape[axis];
      if (size === 1) return replicateAxis(y, axis, before, after);
      const b = Math.min(before, size - 1);
      const a = Math.min(after, size - 1);
      const parts: tf.Tensor4D[] = [];
      if (b > 0) parts.push(tf.reverse(sliceAxis(y, axis, 1, b), axis));
      parts.push(y);
      if (a > 0) {
        parts.push(tf.reverse(sliceAxis(y, axis, size - 1 - a, a), axis));
      }
      y = tf.concat(parts, axis);
      before -= b;
      after -= a;
    }
    return y;
  });
}

/** Repeats the edge row/column (PyTorch `ReplicationPad2d`). */
export function replicateAxis(
  x: tf.Tensor4D, axis: 1 | 2, before: number, after: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const size = x.shape[axis];
    const reps = (n: number): number[] => axis === 1 ? [1, n, 1, 1] :
      [1, 1, n, 1];
    const parts: tf.Tensor4D[] = [];
    if (before > 0) parts.push(tf.tile(sliceAxis(x, axis, 0, 1), reps(before)));
    parts.push(x);
    if (after > 0) {
      parts.push(tf.tile(sliceAxis(x, axis, size - 1, 1), reps(after)));
    }
    return parts.length === 1 ? x.clone() : tf.concat(parts, axis);
  });
}

function sliceAxis(
  x: tf.Tensor4D, axis: 1 | 2, start: number, length: number,
): tf.Tensor4D {
  const begin = [0, 0, 0, 0];
  const size = [-1, -1, -1, -1];
  begin[axis] = start;
  size[axis] = length;
  return tf.slice(x, begin, size);
}

/**
 * The gradient of a reflection pad along one axis: folds the mirrored
 * border of `dy` (size + before + after along `axis`) back onto the rows
 * or columns it copied. Border row i (0 ≤ i < before) copied input row
 * before − i; the centre is the input itself. Needs before, after ≤
 * size − 1 (one reflection), as `tf.mirrorPad`. At most 8 kernels: the
 * centre slice, per side a slice, a reverse and a zero pad that puts it
 * in place, and one AddN.
 */
function reflectAxisGrad(dy: tf.Tensor4D, axis: 1 | 2, size: number,
  before: number, after: number): tf.Tensor4D {
  if (before === 0 && after === 0) return dy;
  const parts = [sliceAxis(dy, axis, before, size)];
  const place = (t: tf.Tensor4D, start: number): tf.Tensor4D => {
    const pads: [number, number][] = [[0, 0], [0, 0], [0, 0], [0, 0]];
    pads[axis] = [start, size - start - t.shape[axis]];
    return tf.pad(t, pads);
  };
  if (before > 0) {
    // Border rows 0..before−1 went to input rows before..1: reversed,
    // they land at 1..before.
    parts.push(place(tf.reverse(sliceAxis(dy, axis, 0, before), axis), 1));
  }
  if (after > 0) {
    // Rows before+size.. copied input rows size−2 down to size−1−after.
    parts.push(place(tf.reverse(sliceAxis(dy, axis, before + size, after),
      axis), size - 1 - after));
  }
  return tf.addN(parts);
}

/**
 * Reflection padding in one kernel, `tf.mirrorPad(x, ..., 'reflect')`,
 * whose forward values are right, with the gradient tfjs 4.22 gets wrong
 * (it keeps only the centre) replaced by {@link reflectAxisGrad} along
 * height, then width: 17 kernels forward and backward where autodiff of
 * the slice/reverse/concat composition {@link reflectAxis} runs 24.
 * The backward is linear in dy, so second derivatives (the gradient
 * penalty) stay right. Requires every pad ≤ side − 1.
 */
function mirrorPadReflect(x: tf.Tensor4D, sides: Sides): tf.Tensor4D {
  const [top, bottom, left, right] = sides;
  const [, h, w] = x.shape;
  const op = tf.customGrad<tf.Tensor4D>((...args) => ({
    value: tf.mirrorPad(args[0] as tf.Tensor4D,
      [[0, 0], [top, bottom], [left, right], [0, 0]], 'reflect'),
    gradFunc: (dy) => {
      // One native MirrorPadGrad kernel where the backend has it, unless
      // an outer tape must differentiate this gradient again.
      if (hasFusedKernel(FUSED_KERNELS.mirrorPadGrad) &&
        !tf.engine().isTapeOn()) {
        return tf.engine().runKernel(FUSED_KERNELS.mirrorPadGrad, { dy },
          { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]] } as
            unknown as tf.NamedAttrMap) as tf.Tensor4D;
      }
      return reflectAxisGrad(reflectAxisGrad(dy, 2, w, left, right), 1, h,
        top, bottom);
    },
  }));
  return op(x);
}

/**
 * Pads the height and width of an NHWC batch by `sides` =
 * [top, bottom, left, right] in one of the official `padding_type` modes:
 * `reflect` (the default of the ResNet generator), `replicate` or `zero`.
 * Reflection by at most side − 1 (every pad of the official networks)
 * runs as one mirror-pad kernel with a hand-written gradient; wider pads
 * and one-pixel sides take the slice/reverse/concat path.
 */
export function pad2d(x: tf.Tensor4D, sides: Sides,
  mode: PaddingMode): tf.Tensor4D {
  const [top, bottom, left, right] = sides;
  return tf.tidy(() => {
    if (mode === 'zero') {
      return tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    }
    const [, h, w] = x.shape;
    if (mode === 'reflect') {
      if (top + bottom + left + right === 0) return x.clone();
      if (h > 1 && w > 1 && Math.max(top, bottom) < h &&
        Math.max(left, right) < w) {
        return mirrorPadReflect(x, sides);
      }
    }
    const alongAxis = mode === 'reflect' ? reflectAxis : replicateAxis;
    return alongAxis(alongAxis(x, 1, top, bottom), 2, left, right);
  });
}

/** Arguments of {@link Pad2d}. */
export interface Pad2dArgs extends LayerArgs {
  /** [top, bottom, left, right], or one number for all four sides. */
  padding: number | Sides;
  /** Border mode; default `reflect`. */
  mode?: PaddingMode;
}

/**
 * Pads height and width by fixed amounts: PyTorch `ReflectionPad2d(p)`,
 * `ReplicationPad2d(p)` or the zero padding of `Conv2d(..., padding=p)`.
 * Explicit padding plus a 'valid' convolution reproduces PyTorch exactly
 * where TF's 'same' would not (a 3×3 stride-2 conv: PyTorch pads (1, 1),
 * TF 'same' pads (0, 1)).
 */
export class Pad2d extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'Pad2d';
  readonly padding: Sides;
  readonly mode: PaddingMode;

  constructor(args: Pad2dArgs) {
    super(args);
    const p = args.padding;
    this.padding = checkSides(typeof p === 'number' ? [p, p, p, p] : p,
      `Pad2d '${this.name}' padding`);
    this.mode = args.mode ?? 'reflect';
    if (!['reflect', 'replicate', 'zero'].includes(this.mode)) {
      throw new Error(`Pad2d '${this.name}': mode must be reflect, ` +
        `replicate or zero, got '${this.mode}'`);
    }
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = oneShape(inputShape);
    if (shape.length !== 4) {
      throw new Error(`Pad2d '${this.name}' expects NHWC input (rank 4), ` +
        `got shape [${shape}]`);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, h, w, c] = oneShape(inputShape);
    const [top, bottom, left, right] = this.padding;
    return [n, h == null ? null : h + top + bottom,
      w == null ? null : w + left + right, c];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    void kwargs;
    return pad2d(oneTensor(inputs), this.padding, this.mode);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), padding: this.padding, mode: this.mode };
  }
}
tf.serialization.registerClass(Pad2d);

/** Arguments of {@link Crop2d}. */
export interface Crop2dArgs extends LayerArgs {
  /** Rows/columns removed: [top, bottom, left, right]. */
  cropping: Sides;
}

/**
 * Removes fixed borders. After a 'valid' transposed convolution it gives
 * PyTorch's `ConvTranspose2d(padding=p, output_padding=q)`, which trims p
 * from the start and p − q from the end of the full output.
 */
export class Crop2d extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'Crop2d';
  readonly cropping: Sides;

  constructor(args: Crop2dArgs) {
    super(args);
    this.cropping = checkSides(args.cropping, `Crop2d '${this.name}' cropping`);
  }

  override build(inputShape: Shape | Shape[]): void {
    void inputShape;
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, h, w, c] = oneShape(inputShape);
    const [top, bottom, left, right] = this.cropping;
    return [n, h == null ? null : h - top - bottom,
      w == null ? null : w - left - right, c];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    void kwargs;
    const x = oneTensor(inputs);
    const [, h, w] = x.shape;
    const [top, bottom, left, right] = this.cropping;
    if (h - top - bottom < 1 || w - left - right < 1) {
      throw new Error(`Crop2d '${this.name}': cannot crop [${this.cropping}]` +
        ` from a ${h}x${w} image`);
    }
    return tf.slice(x, [0, top, left, 0],
      [-1, h - top - bottom, w - left - right, -1]);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), cropping: this.cropping };
  }
}
tf.serialization.registerClass(Crop2d);

/**
 * The padding that brings a side of `size` pixels to the next multiple of
 * `multiple` that is at least `minSize`, split evenly (the odd pixel goes
 * to the end) so the image stays centred: [before, after].
 */
export function padToMultipleAmounts(
  size: number, multiple: number, minSize: number,
): [number, number] {
  const target = Math.max(minSize, Math.ceil(size / multiple) * multiple);
  const extra = target - size;
  const before = Math.floor(extra / 2);
  return [before, extra - before];
}

/** Arguments of {@link PadToMultiple}. */
export interface PadToMultipleArgs extends LayerArgs {
  /** Height and width are padded up to a multiple of this. */
  multiple: number;
  /** ... and to at least this; default `multiple`. */
  minSize?: number;
  /** Border mode; default `reflect`. */
  mode?: PaddingMode;
}

/**
 * Pads an image whose sides are not a multiple of what the network needs
 * (4 for two stride-2 downsamplings, 256 for an 8-level U-Net), so that
 * the output can be cropped back to the input size by {@link CropLike}.
 * Sizes that already fit pass through unchanged, so the network equals
 * the official one there. The official code has no such step: a 33×35
 * input to its ResNet generator comes out 36×36.
 */
export class PadToMultiple extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'PadToMultiple';
  readonly multiple: number;
  readonly minSize: number;
  readonly mode: PaddingMode;

  constructor(args: PadToMultipleArgs) {
    super(args);
    this.multiple = args.multiple;
    this.minSize = args.minSize ?? args.multiple;
    this.mode = args.mode ?? 'reflect';
    for (const [key, v] of [['multiple', this.multiple],
      ['minSize', this.minSize]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(`PadToMultiple '${this.name}': ${key} must be a ` +
          `positive integer, got ${v}`);
      }
    }
  }

  override build(inputShape: Shape | Shape[]): void {
    void inputShape;
    this.built = true;
  }

  private target(size: number | null): number | null {
    if (size == null) return null;
    const [before, after] = padToMultipleAmounts(size, this.multiple,
      this.minSize);
    return size + before + after;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, h, w, c] = oneShape(inputShape);
    return [n, this.target(h), this.target(w), c];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    void kwargs;
    const x = oneTensor(inputs);
    const [, h, w] = x.shape;
    const [top, bottom] = padToMultipleAmounts(h, this.multiple, this.minSize);
    const [left, right] = padToMultipleAmounts(w, this.multiple,
      this.minSize);
    return pad2d(x, [top, bottom, left, right], this.mode);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), multiple: this.multiple,
      minSize: this.minSize, mode: this.mode };
  }
}
tf.serialization.registerClass(PadToMultiple);

/**
 * Crops its first input to the height and width of its second, taking the
 * centre the way {@link PadToMultiple} padded it: inputs
 * [y: N×H'×W'×C, reference: N×H×W×C'] → N×H×W×C.
 */
export class CropLike extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'CropLike';

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override build(inputShape: Shape | Shape[]): void {
    if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) {
      throw new Error(`CropLike '${this.name}' expects two inputs ` +
        '[image, reference]');
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [y, ref] = inputShape as Shape[];
    return [y[0], ref[1], ref[2], y[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    void kwargs;
    const [y, ref] = inputs as tf.Tensor4D[];
    const [, h, w] = ref.shape;
    const [, hy, wy] = y.shape;
    if (hy < h || wy < w) {
      throw new Error(`CropLike '${this.name}': a ${hy}x${wy} image cannot ` +
        `be cropped to ${h}x${w}`);
    }
    if (hy === h && wy === w) return y.clone();
    const top = Math.floor((hy - h) / 2);
    const left = Math.floor((wy - w) / 2);
    return tf.slice(y, [0, top, left, 0], [-1, h, w, -1]);
  }
}
tf.serialization.registerClass(CropLike);

/**
 * x̂ = (x − μ) · 1/√(σ² + ε) per image and channel, and the 1/√(σ² + ε)
 * it used: mean, subtract, square, mean, add, rsqrt, multiply (`tf.moments`
 * adds casts, a reshape and a second subtraction).
 */
function normalizeInstance(x: tf.Tensor4D,
  epsilon: number): [tf.Tensor4D, tf.Tensor4D] {
  const mean = tf.mean(x, [1, 2], true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), [1, 2], true);
  // ε inside the root keeps a flat image (σ² = 0) finite, with finite
  // gradients.
  const invStd = tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor4D;
  return [tf.mul(centred, invStd), invStd];
}

/**
 * Instance normalisation of one image (Ulyanov et al. 2016), per channel:
 * y = (x − μ) / √(σ² + ε), with μ and the biased σ² taken over height and
 * width. No running statistics: training and inference compute the same
 * thing, and each image is independent of the others in its batch.
 *
 * The gradient is the closed form, per image and channel over the H·W
 * pixels: dx = (1/σ)·(dy − mean(dy) − x̂·mean(dy·x̂)). Forward and
 * backward run 18 kernels (the native Mean adds a Cast to each mean);
 * autodiff of the op-by-op forward ran 46. Under an outer tape (the
 * gradient penalty differentiates this gradient again) x̂ and 1/σ are
 * recomputed from x with recorded ops, so second derivatives stay right.
 */
export function instanceNorm(x: tf.Tensor4D, epsilon: number): tf.Tensor4D {
  if (x.dtype === 'float32' && hasFusedKernel(FUSED_KERNELS.instanceNorm)) {
    return fusedInstanceNorm(x, epsilon);
  }
  const op = tf.customGrad<tf.Tensor4D>((...args) => {
    const input = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const [normalized, invStd] = normalizeInstance(input, epsilon);
    save([input, normalized, invStd]);
    return {
      value: normalized,
      gradFunc: (dy, saved) => {
        if (tf.engine().isTapeOn()) {
          return instanceNormGrad(dy as tf.Tensor4D, saved[0] as tf.Tensor4D,
            epsilon);
        }
        return closedFormGrad(dy as tf.Tensor4D, saved[1] as tf.Tensor4D,
          saved[2] as tf.Tensor4D);
      },
    };
  });
  return op(x);
}

/**
 * The closed-form instance-norm gradient from the normalised input x̂ and
 * 1/σ: (1/σ)·(dy − mean(dy) − x̂·mean(dy·x̂)) over height and width.
 */
function closedFormGrad(dy: tf.Tensor4D, xhat: tf.Tensor4D,
  inv: tf.Tensor4D): tf.Tensor4D {
  const meanDy = tf.mean(dy, [1, 2], true);
  const meanDyXhat = tf.mean(tf.mul(dy, xhat), [1, 2], true);
  return tf.mul(tf.sub(tf.sub(dy, meanDy), tf.mul(xhat, meanDyXhat)), inv);
}

/**
 * The gradient of {@link instanceNorm} with x̂ and 1/σ recomputed from x
 * by recorded ops, for an outer tape (second derivatives).
 */
function instanceNormGrad(dy: tf.Tensor4D, x: tf.Tensor4D,
  epsilon: number): tf.Tensor4D {
  return closedFormGrad(dy, ...normalizeInstance(x, epsilon));
}

/**
 * {@link instanceNorm} on the native backend: one fused batch-norm kernel
 * forward and one backward (lib/native-kernels), on the batch folded into
 * one image of N·C channels, [N,H,W,C] → [1,H,W,N·C], so that each image
 * and channel keeps its own statistics. Under an outer tape the backward
 * takes the composite path, whose ops the tape records.
 */
function fusedInstanceNorm(x: tf.Tensor4D, epsilon: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const fold = (t: tf.Tensor4D): tf.Tensor4D => n === 1 ? t :
    tf.reshape(tf.transpose(t, [1, 2, 0, 3]), [1, h, w, n * c]);
  const unfold = (t: tf.Tensor4D): tf.Tensor4D => n === 1 ? t :
    tf.transpose(tf.reshape(t, [h, w, n, c]), [2, 0, 1, 3]);
  const op = tf.customGrad<tf.Tensor4D>((...args) => {
    const input = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const folded = fold(input);
    const [y, ...reserves] = tf.engine().runKernel(
      FUSED_KERNELS.instanceNorm, { x: folded },
      { epsilon } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([input, folded, ...reserves]);
    return {
      value: unfold(y as tf.Tensor4D),
      gradFunc: (dy, saved) => {
        if (tf.engine().isTapeOn()) {
          return instanceNormGrad(dy as tf.Tensor4D, saved[0] as tf.Tensor4D,
            epsilon);
        }
        const [reserve1, reserve2, reserve3] = saved.slice(2);
        return unfold(tf.engine().runKernel(FUSED_KERNELS.instanceNormGrad,
          { dy: fold(dy as tf.Tensor4D), x: saved[1], reserve1, reserve2,
            reserve3 }, { epsilon } as unknown as tf.NamedAttrMap) as
          tf.Tensor4D);
      },
    };
  });
  return op(x);
}

/** Arguments of {@link InstanceNorm}. */
export interface InstanceNormArgs extends LayerArgs {
  /** Added to the variance inside the square root; default 1e-5. */
  epsilon?: number;
  /**
   * Learn a per-channel scale γ (init 1) and shift β (init 0); default
   * false, as the official `norm='instance'` (`affine=False`).
   */
  affine?: boolean;
}

/**
 * Instance normalisation layer: the official `norm='instance'`, i.e.
 * PyTorch `InstanceNorm2d(affine=False, track_running_stats=False,
 * eps=1e-5)`; with `affine: true`, y = γ · norm(x) + β.
 */
export class InstanceNorm extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'InstanceNorm';
  readonly epsilon: number;
  readonly affine: boolean;
  private gamma?: tf.LayerVariable;
  private beta?: tf.LayerVariable;

  constructor(args: InstanceNormArgs = {}) {
    super(args);
    this.epsilon = args.epsilon ?? 1e-5;
    this.affine = args.affine ?? false;
    if (!(this.epsilon > 0)) {
      throw new Error(`InstanceNorm '${this.name}': epsilon must be > 0, ` +
        `got ${this.epsilon}`);
    }
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = oneShape(inputShape);
    const channels = shape[shape.length - 1];
    if (shape.length !== 4 || channels == null) {
      throw new Error(`InstanceNorm '${this.name}' expects NHWC input with ` +
        `a known channel count, got shape [${shape}]`);
    }
    if (this.affine) {
      this.gamma = this.addWeight('gamma', [channels], 'float32',
        tf.initializers.ones());
      this.beta = this.addWeight('beta', [channels], 'float32',
        tf.initializers.zeros());
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    void kwargs;
    return tf.tidy(() => {
      const y = instanceNorm(oneTensor(inputs), this.epsilon);
      if (!this.gamma || !this.beta) return y;
      return tf.add(tf.mul(y, this.gamma.read()), this.beta.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon,
      affine: this.affine };
  }
}
tf.serialization.registerClass(InstanceNorm);
