/**
 * Adam (Kingma & Ba 2015) over one flat buffer: the update of
 * `tf.train.adam`, same formula and the same saved layout, but run on the
 * concatenation of all the variables it updates.
 *
 * Why: tfjs's Adam launches about 14 small kernels per variable, and each
 * costs tfjs-node tens of microseconds however small the tensor; the two
 * CycleGAN optimizers update 92 variables (resnet_6blocks), so about
 * 1,300 launches a step. Here one update is a concatenation of the
 * gradients and of the values, 13 element-wise kernels on the flat
 * buffers, and one split: about 200 launches, reshapes included.
 *
 * Per element, at step t with g the gradient:
 *   m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²,
 *   θ ← θ − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε),
 * which is PyTorch's `torch.optim.Adam` (ε outside the root) as well.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedTensor } from './checkpoint';

export class FlatAdam {
  /** Read at every update; the schedule sets it. */
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Updates applied so far (the `t` of the bias corrections). */
  iterations = 0;
  private names: string[] = [];
  private shapes: number[][] = [];
  private m?: tf.Variable<tf.Rank.R1>;
  private v?: tf.Variable<tf.Rank.R1>;

  constructor(learningRate: number, beta1: number, beta2: number,
    epsilon: number) {
    this.learningRate = learningRate;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.epsilon = epsilon;
  }

  /**
   * One update of `vars` by `grads` (same order and shapes). The first
   * call fixes the variable list; later calls must pass the same one.
   */
  applyGradients(vars: tf.Variable[], grads: tf.Tensor[]): void {
    if (vars.length !== grads.length || vars.length === 0) {
      throw new Error(`FlatAdam: expected one gradient per variable, got ` +
        `${grads.length} gradients for ${vars.length} variables`);
    }
    if (!this.m) {
      this.init(vars.map((x) => x.name), vars.map((x) => x.shape));
    } else {
      this.checkVariables(vars);
    }
    grads.forEach((g, i) => {
      // tf.variableGrads leaves out a variable the loss does not reach;
      // every weight of the CycleGAN networks is reached.
      if (!g) {
        throw new Error(`FlatAdam: no gradient for '${vars[i].name}'`);
      }
      if (!tf.util.arraysEqual(g.shape, vars[i].shape)) {
        throw new Error(`FlatAdam: gradient of '${vars[i].name}' has ` +
          `shape [${g.shape}], expected [${vars[i].shape}]`);
      }
    });
    const t = this.iterations + 1;
    const { beta1: b1, beta2: b2 } = this;
    const stepSize = this.learningRate / (1 - b1 ** t);
    const rootCorrection = 1 / Math.sqrt(1 - b2 ** t);
    const parts = tf.tidy(() => {
      const flat = (ts: tf.Tensor[]) => tf.concat(ts.map((x) =>
        tf.reshape(x, [-1])));
      const g = flat(grads);
      const m = tf.add(tf.mul(this.m!, b1), tf.mul(g, 1 - b1));
      const v = tf.add(tf.mul(this.v!, b2), tf.mul(tf.square(g), 1 - b2));
      const denom = tf.add(tf.mul(tf.sqrt(v), rootCorrection), this.epsilon);
      const theta = tf.sub(flat(vars), tf.div(tf.mul(m, stepSize), denom));
      this.m!.assign(m as tf.Tensor1D);
      this.v!.assign(v as tf.Tensor1D);
      return tf.split(theta, vars.map((x) => x.size))
        .map((p, i) => tf.reshape(p, vars[i].shape));
    });
    vars.forEach((x, i) => x.assign(parts[i]));
    tf.dispose(parts);
    this.iterations = t;
  }

  /**
   * The state in the layout of `tf.train.adam`'s `getWeights`: `iter`,
   * then every variable's first moment (`<name>/m`), then every second
   * moment (`<name>/v`). Every tensor is new; the caller disposes them.
   */
  async getWeights(): Promise<NamedTensor[]> {
    const iter = { name: 'iter', tensor: tf.scalar(this.iterations, 'int32') };
    if (!this.m || !this.v) return [iter];
    const sizes = this.shapes.map((s) => s.reduce((a, b) => a * b, 1));
    const unflatten = (buf: tf.Tensor1D, suffix: string) => tf.tidy(() =>
      tf.split(buf, sizes).map((p, i) => ({
        name: `${this.names[i]}/${suffix}`,
        tensor: tf.reshape(p, this.shapes[i]) })));
    return [iter, ...unflatten(this.m, 'm'), ...unflatten(this.v, 'v')];
  }

  /**
   * Restores a state saved by {@link getWeights} (or by `tf.train.adam`),
   * copying the tensors; the caller still owns them.
   */
  async setWeights(saved: NamedTensor[]): Promise<void> {
    const [iter, ...rest] = saved;
    if (!iter || iter.name !== 'iter' || iter.tensor.size !== 1) {
      throw new Error('Adam state: expected an \'iter\' scalar first, got ' +
        `'${iter?.name}'`);
    }
    if (rest.length % 2 !== 0) {
      throw new Error(`Adam state: expected first and second moments in ` +
        `pairs, got ${rest.length} tensors`);
    }
    const n = rest.length / 2;
    const first = rest.slice(0, n);
    const second = rest.slice(n);
    first.forEach((f, i) => {
      const s = second[i];
      const name = f.name.replace(/\/m$/, '');
      if (!f.name.endsWith('/m') || s.name !== `${name}/v` ||
        !tf.util.arraysEqual(f.tensor.shape, s.tensor.shape)) {
        throw new Error(`Adam state: moment ${i} is '${f.name}' ` +
          `[${f.tensor.shape}] with '${s.name}' [${s.tensor.shape}], ` +
          'expected <name>/m and <name>/v of one shape');
      }
    });
    this.disposeMoments();
    this.iterations = (await iter.tensor.data())[0];
    if (n === 0) return;
    this.init(first.map((f) => f.name.replace(/\/m$/, '')),
      first.map((f) => f.tensor.shape));
    const flat = (ts: NamedTensor[]) => tf.tidy(() => tf.concat(
      ts.map((x) => tf.reshape(x.tensor, [-1]))) as tf.Tensor1D);
    const [m, v] = [flat(first), flat(second)];
    this.m!.assign(m);
    this.v!.assign(v);
    tf.dispose([m, v]);
  }

  /**
   * Why a restored state cannot update `vars` (another count or shapes),
   * or undefined when it can; a state saved before the first update
   * fits any list.
   */
  mismatch(vars: tf.Variable[]): string | undefined {
    if (!this.m) return undefined;
    const bad = vars.findIndex((x, i) =>
      !tf.util.arraysEqual(x.shape, this.shapes[i] ?? []));
    if (vars.length === this.names.length && bad < 0) return undefined;
    const at = bad >= 0 ? bad : Math.min(vars.length, this.names.length);
    return `it holds moments for ${this.names.length} weight tensors, the ` +
      `networks have ${vars.length}; the first difference is at tensor ` +
      `${at}: saved '${this.names[at] ?? '(none)'}' ` +
      `[${this.shapes[at] ?? ''}], network '${vars[at]?.name ?? '(none)'}' ` +
      `[${vars[at]?.shape ?? ''}]`;
  }

  /** Frees the moments. */
  dispose(): void {
    this.disposeMoments();
  }

  private init(names: string[], shapes: number[][]): void {
    this.names = names;
    this.shapes = shapes.map((s) => [...s]);
    const total = shapes.reduce((a, s) => a + s.reduce((p, q) => p * q, 1),
      0);
    const zeros = () => tf.tidy(() => tf.variable(tf.zeros([total]),
      false)) as tf.Variable<tf.Rank.R1>;
    this.m = zeros();
    this.v = zeros();
  }

  private checkVariables(vars: tf.Variable[]): void {
    const ok = vars.length === this.names.length && vars.every((x, i) =>
      tf.util.arraysEqual(x.shape, this.shapes[i]));
    if (!ok) {
      throw new Error(`FlatAdam: called with ${vars.length} variables ` +
        `(first '${vars[0]?.name}'), but its state holds ` +
        `${this.names.length} (first '${this.names[0]}') of other shapes`);
    }
  }

  private disposeMoments(): void {
    tf.dispose([this.m, this.v].filter((x): x is tf.Variable<tf.Rank.R1> =>
      x !== undefined));
    this.m = this.v = undefined;
  }
}
