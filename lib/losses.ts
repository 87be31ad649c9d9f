/**
 * The CycleGAN objective (Zhu et al. 2017), term by term.
 *
 * - Adversarial loss, Eq. 1, in one of three forms (`ganMode`): least
 *   squares (`lsgan`, the paper's choice, Sec. 4), the original
 *   cross-entropy (`vanilla`) and Wasserstein with gradient penalty
 *   (`wgangp`, Gulrajani et al. 2017).
 * - Cycle-consistency loss, Eq. 2: an L1 distance weighted by λ (10).
 * - Identity loss, Sec. 5.2: an L1 distance weighted by λ·λ_identity
 *   (10 · 0.5 = 5).
 * - The full objective, Eq. 3, is their sum; lib/cyclegan.ts assembles it.
 *
 * Every function takes and returns tensors and creates no variables: call
 * them inside `tf.tidy` or a gradient closure.
 */
import * as tf from '@tensorflow/tfjs';

/** The adversarial loss forms, as the official `--gan_mode`. */
export type GanMode = 'lsgan' | 'vanilla' | 'wgangp';

/** The GAN modes accepted by `ganLoss`, for option checking. */
export const GAN_MODES: readonly GanMode[] = ['lsgan', 'vanilla', 'wgangp'];

/**
 * The eight losses a training step reports, named as in the official
 * code's `loss_names` so that logs compare line by line. The suffix names
 * the official network: `_A` terms belong to G_A (our generatorAtoB) and
 * D_A, which judges domain **B** (our discriminatorB); `_B` terms to G_B
 * (generatorBtoA) and D_B, which judges domain A (our discriminatorA).
 */
export const LOSS_NAMES = [
  'D_A', 'G_A', 'cycle_A', 'idt_A', 'D_B', 'G_B', 'cycle_B', 'idt_B',
] as const;

/** One of `LOSS_NAMES`. */
export type LossName = (typeof LOSS_NAMES)[number];

/** A value per loss name, as plain numbers. */
export type LossValues = Record<LossName, number>;

/**
 * Adversarial loss of Eq. 1 for one batch of discriminator outputs.
 *
 * `prediction` is the raw patch map [N, h, w, 1] (logits: no sigmoid in
 * the network, as in the official PatchGAN). `targetIsReal` says which
 * label the caller wants the discriminator to give:
 * - `lsgan`: mean((D(x) − t)²) with t = 1 for real and 0 for fake
 *   (Mao et al. 2017; the paper's Sec. 4 choice, official default);
 * - `vanilla`: binary cross-entropy with logits, the log form of Eq. 1,
 *   computed as max(x, 0) − x·t + log(1 + e^−|x|) so that large logits
 *   cannot overflow;
 * - `wgangp`: −mean(D(x)) for real, +mean(D(x)) for fake (the critic's
 *   Wasserstein estimate; add `gradientPenalty` to the critic's loss).
 */
export function ganLoss(
  prediction: tf.Tensor, targetIsReal: boolean, mode: GanMode,
): tf.Scalar {
  return tf.tidy(() => {
    if (mode === 'lsgan') {
      const target = targetIsReal ? 1 : 0;
      return tf.mean(tf.square(tf.sub(prediction, target))) as tf.Scalar;
    }
    if (mode === 'vanilla') {
      const t = targetIsReal ? 1 : 0;
      const x = prediction;
      const perPatch = tf.add(
        tf.sub(tf.relu(x), tf.mul(x, t)),
        tf.log1p(tf.exp(tf.neg(tf.abs(x)))));
      return tf.mean(perPatch) as tf.Scalar;
    }
    if (mode === 'wgangp') {
      const m = tf.mean(prediction) as tf.Scalar;
      return targetIsReal ? tf.neg(m) : m;
    }
    throw new Error(`ganMode '${String(mode)}' is not one of ` +
      `${GAN_MODES.join(', ')}`);
  });
}

/** Mean absolute difference, PyTorch's `L1Loss()` (mean reduction). */
export function l1Loss(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.abs(tf.sub(a, b))) as tf.Scalar);
}

/**
 * Cycle-consistency loss of Eq. 2 for one direction: λ·‖rec − real‖₁,
 * with `rec` = F(G(x)) (forward cycle, λ_A) or G(F(y)) (backward, λ_B).
 * Official `--lambda_A` / `--lambda_B`, default 10.
 */
export function cycleLoss(
  reconstructed: tf.Tensor, real: tf.Tensor, lambda: number,
): tf.Scalar {
  return tf.tidy(() => tf.mul(l1Loss(reconstructed, real), lambda));
}

/**
 * Identity loss of Sec. 5.2: λ·λ_identity·‖G(y) − y‖₁, where `identity`
 * is a generator applied to a real image of its *output* domain. The
 * official code weights G_A(B) by λ_B and G_B(A) by λ_A; with the defaults
 * (λ = 10, `--lambda_identity` 0.5) the weight is 5.
 */
export function identityLoss(
  identity: tf.Tensor, real: tf.Tensor, lambda: number,
  lambdaIdentity: number,
): tf.Scalar {
  return tf.tidy(() => tf.mul(l1Loss(identity, real),
    lambda * lambdaIdentity));
}

/**
 * The discriminator's loss for one domain: the average of its losses on
 * real images (target real) and on generated ones (target fake). The
 * factor ½ comes from the paper's training details (Sec. 7.1): halving
 * D's objective slows D down relative to G.
 */
export function discriminatorLoss(
  predictionReal: tf.Tensor, predictionFake: tf.Tensor, mode: GanMode,
): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.add(
    ganLoss(predictionReal, true, mode),
    ganLoss(predictionFake, false, mode)), 0.5));
}

/** Settings of the WGAN-GP penalty (Gulrajani et al. 2017, Alg. 1). */
export interface GradientPenaltyOptions {
  /** Penalty weight λ_GP; the paper's and the official default, 10. */
  lambdaGp?: number;
  /** Target gradient norm; 1 in the paper (official `constant`). */
  constant?: number;
}

/**
 * Registers a zero gradient for the comparison kernels that tfjs 4.22
 * leaves without one (Greater, Less, LessEqual, Equal). LeakyReLU's
 * gradient is built with `greater(x, 0)`, so differentiating a gradient
 * through a PatchGAN (the WGAN-GP penalty) needs Greater's own gradient,
 * which is 0 wherever it exists: a comparison is piecewise constant.
 */
export function ensureComparisonGradients(): void {
  for (const kernelName of ['Greater', 'Less', 'LessEqual', 'Equal']) {
    if (tf.getGradient(kernelName)) continue;
    tf.registerGradient({
      kernelName, inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => {
        const [a, b] = saved as tf.Tensor[];
        return { a: () => tf.zerosLike(a), b: () => tf.zerosLike(b) };
      },
    });
  }
}

/**
 * The WGAN-GP gradient penalty λ_GP·E[(‖∇x̂ D(x̂)‖₂ − c)²] with
 * x̂ = α·real + (1 − α)·fake, α drawn per image (`alpha`: shape [N],
 * values in [0, 1), supplied by the caller so it can come from a seeded
 * generator). The gradient of D's summed output is taken per image over
 * all its pixels and channels, as in the official `cal_gradient_penalty`
 * ("mixed" type); a tiny 1e-16 keeps the norm differentiable at 0.
 *
 * This is a second-order quantity: taking the gradient of the returned
 * value with respect to D's weights differentiates through a gradient,
 * which tfjs supports for the ops of our discriminators.
 *
 * The official repository defines this function but its CycleGAN model
 * never calls it, so `--gan_mode wgangp` there trains a critic without
 * the penalty; lib/cyclegan.ts adds it to the critic's loss.
 */
export function gradientPenalty(
  discriminator: (x: tf.Tensor4D) => tf.Tensor,
  real: tf.Tensor4D, fake: tf.Tensor4D, alpha: tf.Tensor1D,
  opts: GradientPenaltyOptions = {},
): tf.Scalar {
  const lambdaGp = opts.lambdaGp ?? 10;
  const constant = opts.constant ?? 1;
  ensureComparisonGradients();
  return tf.tidy(() => {
    const n = real.shape[0];
    const a = tf.reshape(alpha, [n, 1, 1, 1]);
    // x̂ lies on the segment between each real and fake image.
    const mixed = tf.add(tf.mul(a, real), tf.mul(tf.sub(1, a), fake));
    const gradOf = tf.grad((x) => tf.sum(discriminator(x as tf.Tensor4D)));
    const g = tf.reshape(gradOf(mixed), [n, -1]);
    const norm = tf.sqrt(tf.sum(tf.square(tf.add(g, 1e-16)), 1));
    return tf.mul(tf.mean(tf.square(tf.sub(norm, constant))), lambdaGp);
  }) as tf.Scalar;
}

/**
 * Refuses identity loss when it cannot be computed: G(y) needs y to have
 * the generator's *input* channel count, so inputNc must equal outputNc
 * (the official code asserts the same).
 */
export function checkIdentityChannels(
  inputNc: number, outputNc: number, lambdaIdentity: number,
): void {
  if (lambdaIdentity > 0 && inputNc !== outputNc) {
    throw new Error(`lambdaIdentity ${lambdaIdentity} needs inputNc == ` +
      `outputNc (got inputNc ${inputNc}, outputNc ${outputNc}): the ` +
      'identity loss feeds domain-B images to the A→B generator. Set ' +
      'lambdaIdentity to 0 for domains with different channel counts.');
  }
}
