/**
 * Weight initialisation as the official `init_weights` (`--init_type`,
 * `--init_gain`, default normal with gain 0.02): conv and transposed-conv
 * kernels drawn from the chosen scheme, their biases zero, batch-norm
 * scales from N(1, gain²) and shifts zero. Instance-norm scales (only
 * with `affine`) keep 1 and 0, as the official code leaves them.
 *
 * Fans follow PyTorch's reading of its own weight layout, so the spreads
 * match the official ones: fan_in = k²·(dim 1), fan_out = k²·(dim 0),
 * which for a transposed conv makes fan_in k²·(output channels).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from './rng';

/** The official `--init_type` choices. */
export type InitType = 'normal' | 'xavier' | 'kaiming' | 'orthogonal';

/**
 * PyTorch fans of a tfjs kernel. Conv2D kernels are [kh, kw, in, out]
 * (PyTorch [out, in, kh, kw]); Conv2DTranspose [kh, kw, out, in]
 * (PyTorch [in, out, kh, kw]): either way PyTorch's dim 1 is our dim 2.
 */
export function kernelFans(shape: number[]):
  { fanIn: number; fanOut: number } {
  const [kh, kw, a, b] = shape;
  return { fanIn: kh * kw * a, fanOut: kh * kw * b };
}

/**
 * The standard deviation of a kernel under `initType` (orthogonal: not
 * a normal draw, undefined): normal → gain; xavier (Glorot normal) →
 * gain·√(2 / (fan_in + fan_out)); kaiming (He normal, a = 0, fan_in) →
 * √(2 / fan_in), which ignores the gain as the official code does.
 */
export function kernelStd(initType: InitType, gain: number,
  shape: number[]): number | undefined {
  const { fanIn, fanOut } = kernelFans(shape);
  switch (initType) {
    case 'normal': return gain;
    case 'xavier': return gain * Math.sqrt(2 / (fanIn + fanOut));
    case 'kaiming': return Math.sqrt(2 / fanIn);
    case 'orthogonal': return undefined;
  }
}

/**
 * A kernel whose PyTorch matrix view (dim 0 × the rest) has orthonormal
 * rows or columns, whichever are fewer, times `gain` (PyTorch
 * `orthogonal_`): Gram-Schmidt on a Gaussian matrix, which gives the
 * positive-diagonal QR factor PyTorch's sign correction selects.
 */
export function orthogonalKernel(shape: number[], gain: number,
  seed: number): tf.Tensor {
  const [kh, kw, a, rows] = shape;
  const cols = kh * kw * a;
  // Orthonormalise the n shorter vectors of length m.
  const [n, m] = rows < cols ? [rows, cols] : [cols, rows];
  const gauss = tf.tidy(() => tf.randomNormal([n, m], 0, 1, 'float32', seed)
    .dataSync());
  const q: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const v = Float64Array.from(gauss.subarray(j * m, (j + 1) * m));
    for (const u of q) {
      let dot = 0;
      for (let t = 0; t < m; t++) dot += u[t] * v[t];
      for (let t = 0; t < m; t++) v[t] -= dot * u[t];
    }
    let norm = 0;
    for (let t = 0; t < m; t++) norm += v[t] * v[t];
    norm = Math.sqrt(norm);
    for (let t = 0; t < m; t++) v[t] /= norm;
    q.push(v);
  }
  // matrix[r][c]: PyTorch row r (dim 0), column c = (dim 1, y, x).
  const at = (r: number, c: number): number =>
    rows < cols ? q[r][c] : q[c][r];
  const out = new Float32Array(kh * kw * a * rows);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < a; i++) {
        for (let r = 0; r < rows; r++) {
          const c = i * kh * kw + y * kw + x;
          out[((y * kw + x) * a + i) * rows + r] = gain * at(r, c);
        }
      }
    }
  }
  return tf.tensor(out, shape);
}

/**
 * Initialises every conv, transposed conv and batch norm of `model` in
 * place (official `init_weights`). With a `seed` the weights are the same
 * on every run; without one they differ.
 */
export function initWeights(model: tf.LayersModel, initType: InitType,
  gain: number, seed?: number): void {
  const rng = new Rng(seed ?? `${Date.now()}-${Math.random()}`);
  const nextSeed = (): number => rng.int(2 ** 31);
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'Conv2D' || cls === 'Conv2DTranspose') {
      const [kernel, bias] = layer.weights;
      const shape = kernel.shape as number[];
      const std = kernelStd(initType, gain, shape);
      const value = std === undefined ?
        orthogonalKernel(shape, gain, nextSeed()) :
        tf.randomNormal(shape, 0, std, 'float32', nextSeed());
      kernel.write(value);
      value.dispose();
      if (bias) writeConstant(bias, 0);
    } else if (cls === 'BatchNormalization') {
      for (const w of layer.weights) {
        const kind = w.originalName.split('/').pop();
        if (kind === 'gamma') {
          const value = tf.randomNormal(w.shape as number[], 1, gain,
            'float32', nextSeed());
          w.write(value);
          value.dispose();
        } else if (kind === 'beta') {
          writeConstant(w, 0);
        }
      }
    }
  }
}

function writeConstant(w: tf.LayerVariable, value: number): void {
  const t = tf.fill(w.shape as number[], value);
  w.write(t);
  t.dispose();
}
