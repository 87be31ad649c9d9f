/**
 * The workshop exercises, in notebook order: what the student is asked,
 * the stub the student copy holds, and one plausible wrong answer for the
 * tests. Plain data, no TensorFlow: lib/workshop-kit writes the student
 * copies from it, lib/workshop checks answers against the library.
 */

/** One exercise: where it sits, what the student is asked, the stub. */
export interface Exercise {
  /** The name the student's function has, and the check's key. */
  id: string;
  /** Notebook (file name in notebooks/) holding it. */
  notebook: string;
  /** Short title, as in the check's output. */
  title: string;
  /** The prompt, shown above the stub as comment lines. */
  prompt: string[];
  /** The stub: the signature, a body that throws `TODO`. */
  stub: string;
  /**
   * One plausible wrong answer (for the tests: its check must fail) and
   * the mistake it makes.
   */
  wrong: { mistake: string; source: string };
}

const todo = (id: string) =>
  `  throw new Error('TODO: write ${id}');`;

/** Every exercise, in notebook order. */
export const EXERCISES: readonly Exercise[] = [
  {
    id: 'myPairing', notebook: '01-data.ipynb',
    title: 'the unaligned pairing',
    prompt: [
      'Return the [indexA, indexB] pairs of one epoch, one per step.',
      'An epoch has max(nA, nB) steps. Serial: step i pairs i % nA with',
      'i % nB. Shuffled: shuffle the steps 0..max-1 with rng.shuffle (it',
      'returns a shuffled copy), then each step s of that order pairs',
      's % nA with rng.int(nB), a B image drawn on its own: nothing ties a',
      'B image to an A image.',
    ],
    stub: [
      'function myPairing(nA: number, nB: number, serial: boolean,',
      '  rng: Rng): [number, number][] {',
      todo('myPairing'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'B follows A in the shuffled order too (aligned pairs)',
      source: [
        'function myPairing(nA: number, nB: number, serial: boolean,',
        '  rng: Rng): [number, number][] {',
        '  const steps = Array.from({ length: Math.max(nA, nB) },',
        '    (_, i) => i);',
        '  const order = serial ? steps : rng.shuffle(steps);',
        '  return order.map((s) => [s % nA, s % nB]);',
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myReflectPad', notebook: '02-models.ipynb',
    title: 'reflection padding',
    prompt: [
      'Pad the height and width of x ([batch, H, W, C]) by p on every side,',
      'reflecting the image at its border without repeating the edge pixel',
      '(PyTorch ReflectionPad2d): row -1 is a copy of row 1.',
      'tf.mirrorPad or slices and tf.concat both work.',
    ],
    stub: [
      'function myReflectPad(x: tf.Tensor4D, p: number): tf.Tensor4D {',
      todo('myReflectPad'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: "'symmetric' mirroring, which repeats the edge pixel",
      source: [
        'function myReflectPad(x: tf.Tensor4D, p: number): tf.Tensor4D {',
        '  return tf.mirrorPad(x, [[0, 0], [p, p], [p, p], [0, 0]],',
        "    'symmetric');",
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myResidualBlock', notebook: '02-models.ipynb',
    title: 'one residual block',
    prompt: [
      'Return x + F(x), where F is: reflection pad 1, 3x3 conv (kernel1,',
      "bias1, stride 1, 'valid'), instance norm, ReLU, reflection pad 1,",
      '3x3 conv (kernel2, bias2), instance norm. Instance norm: per image',
      'and channel, (v - mean) / sqrt(variance + 1e-5) over height and',
      'width (tf.moments with axes [1, 2] and keepDims). No ReLU after +.',
      'w holds kernel1, bias1, kernel2, bias2; the kernels are tf.conv2d',
      'filters, [3, 3, C, C] (height, width, in, out), the biases [C].',
    ],
    stub: [
      'function myResidualBlock(x: tf.Tensor4D, w: BlockWeights): tf.Tensor4D {',
      todo('myResidualBlock'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'a ReLU after the addition',
      source: [
        'function myResidualBlock(x: tf.Tensor4D, w: BlockWeights): tf.Tensor4D {',
        '  const pad = (t: tf.Tensor4D) =>',
        "    tf.mirrorPad(t, [[0, 0], [1, 1], [1, 1], [0, 0]], 'reflect');",
        '  const norm = (t: tf.Tensor4D) => {',
        '    const { mean, variance } = tf.moments(t, [1, 2], true);',
        '    return tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-5))) as',
        '      tf.Tensor4D;',
        '  };',
        '  const conv = (t: tf.Tensor4D, k: tf.Tensor4D, b: tf.Tensor1D) =>',
        "    tf.add(tf.conv2d(pad(t), k, 1, 'valid'), b) as tf.Tensor4D;",
        '  const h = tf.relu(norm(conv(x, w.kernel1, w.bias1)));',
        '  return tf.relu(tf.add(x, norm(conv(h, w.kernel2, w.bias2))));',
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myReceptiveField', notebook: '02-models.ipynb',
    title: 'the PatchGAN receptive field',
    prompt: [
      'Given the conv layers in order (kernel k, stride s), return how many',
      'input pixels one output value sees along one axis. Walk back from the',
      'last layer with r = 1: each layer turns r into (r - 1) * s + k.',
    ],
    stub: [
      'function myReceptiveField(layers: { kernel: number; stride: number }[]):',
      '  number {',
      todo('myReceptiveField'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'the strides left out',
      source: [
        'function myReceptiveField(layers: { kernel: number; stride: number }[]):',
        '  number {',
        '  return layers.reduce((r, l) => r + l.kernel - 1, 1);',
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myLsganLoss', notebook: '03-losses.ipynb',
    title: 'the LSGAN loss',
    prompt: [
      'The least-squares GAN loss of a map of discriminator scores: the mean',
      'over every score of (score - target)^2, target 1 when the images',
      'should read as real and 0 when they should read as fake.',
    ],
    stub: [
      'function myLsganLoss(prediction: tf.Tensor, targetIsReal: boolean):',
      '  tf.Scalar {',
      todo('myLsganLoss'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'the absolute difference instead of the square',
      source: [
        'function myLsganLoss(prediction: tf.Tensor, targetIsReal: boolean):',
        '  tf.Scalar {',
        '  return tf.mean(tf.abs(tf.sub(prediction, targetIsReal ? 1 : 0)));',
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myCycleLoss', notebook: '03-losses.ipynb',
    title: 'the cycle-consistency loss',
    prompt: [
      'lambda times the mean absolute difference (L1) between the',
      'reconstruction F(G(x)) and the real image x, over every pixel and',
      'channel.',
    ],
    stub: [
      'function myCycleLoss(reconstructed: tf.Tensor, real: tf.Tensor,',
      '  lambda: number): tf.Scalar {',
      todo('myCycleLoss'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'λ left out',
      source: [
        'function myCycleLoss(reconstructed: tf.Tensor, real: tf.Tensor,',
        '  lambda: number): tf.Scalar {',
        '  return tf.mean(tf.abs(tf.sub(reconstructed, real)));',
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myIdentityLoss', notebook: '03-losses.ipynb',
    title: 'the identity loss',
    prompt: [
      'The mean absolute difference between G(y), a real image of the',
      "generator's own output domain put through it, and y itself, weighted",
      'by lambda * lambdaIdentity (10 * 0.5 = 5 with the defaults).',
    ],
    stub: [
      'function myIdentityLoss(identity: tf.Tensor, real: tf.Tensor,',
      '  lambda: number, lambdaIdentity: number): tf.Scalar {',
      todo('myIdentityLoss'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'weighted by lambdaIdentity alone, without λ',
      source: [
        'function myIdentityLoss(identity: tf.Tensor, real: tf.Tensor,',
        '  lambda: number, lambdaIdentity: number): tf.Scalar {',
        '  return tf.mul(tf.mean(tf.abs(tf.sub(identity, real))),',
        '    lambdaIdentity);',
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myPoolQuery', notebook: '04-training.ipynb',
    title: 'the image pool',
    prompt: [
      'One query of the image pool, numbers standing in for images. While',
      'pool holds fewer than poolSize images, store image and return it.',
      'Once full: draw u = rng.next(); if u > 0.5, pick slot = rng.int(',
      'poolSize), return the stored pool[slot] and store image in its place;',
      'otherwise return image and leave the pool alone. poolSize 0 turns',
      'the pool off: return image, and draw nothing.',
    ],
    stub: [
      'function myPoolQuery(pool: number[], poolSize: number, image: number,',
      '  rng: Rng): number {',
      todo('myPoolQuery'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'an old image returned without the new one taking its slot',
      source: [
        'function myPoolQuery(pool: number[], poolSize: number, image: number,',
        '  rng: Rng): number {',
        '  if (pool.length < poolSize) {',
        '    pool.push(image);',
        '    return image;',
        '  }',
        '  if (rng.next() > 0.5) return pool[rng.int(poolSize)];',
        '  return image;',
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myGeneratorLoss', notebook: '04-training.ipynb',
    title: "the generators' objective",
    prompt: [
      'The loss the generator step minimises (Eq. 3 plus identity), using',
      "the library's ganLoss(p, true, 'lsgan'), cycleLoss and identityLoss:",
      'G = nets.generatorAtoB, F = nets.generatorBtoA; D_X =',
      'nets.discriminatorA judges domain A, D_Y = nets.discriminatorB judges',
      'domain B (the paper\'s names; the logs call them D_B and D_A).',
      'Sum six terms: the GAN loss of D_Y(G(a)) and of D_X(F(b)), both',
      'towards real; cycleLoss(F(G(a)), a, o.lambdaA) and cycleLoss(G(F(b)),',
      'b, o.lambdaB); identityLoss(G(b), b, o.lambdaB, o.lambdaIdentity) and',
      'identityLoss(F(a), a, o.lambdaA, o.lambdaIdentity).',
      'Run a network with net.apply(x, { training: true }) as tf.Tensor4D.',
    ],
    stub: [
      'function myGeneratorLoss(nets: CycleGANNetworks, a: tf.Tensor4D,',
      '  b: tf.Tensor4D, o: LossWeights): tf.Scalar {',
      todo('myGeneratorLoss'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'the identity terms left out',
      source: [
        'function myGeneratorLoss(nets: CycleGANNetworks, a: tf.Tensor4D,',
        '  b: tf.Tensor4D, o: LossWeights): tf.Scalar {',
        '  const run = (m: tf.LayersModel, x: tf.Tensor) =>',
        '    m.apply(x, { training: true }) as tf.Tensor4D;',
        '  const fakeB = run(nets.generatorAtoB, a);',
        '  const fakeA = run(nets.generatorBtoA, b);',
        '  return tf.addN([',
        "    ganLoss(run(nets.discriminatorB, fakeB), true, 'lsgan'),",
        "    ganLoss(run(nets.discriminatorA, fakeA), true, 'lsgan'),",
        '    cycleLoss(run(nets.generatorBtoA, fakeB), a, o.lambdaA),',
        '    cycleLoss(run(nets.generatorAtoB, fakeA), b, o.lambdaB),',
        '  ]) as tf.Scalar;',
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myDiscriminatorLoss', notebook: '04-training.ipynb',
    title: "a discriminator's loss",
    prompt: [
      'The loss one discriminator step minimises for discriminator d: half',
      'the sum of the LSGAN loss of d(real) towards real and of d(fake)',
      'towards fake, fake being a translation taken from the image pool.',
      "Use ganLoss(scores, targetIsReal, 'lsgan') and",
      'd.apply(x, { training: true }) as tf.Tensor4D.',
    ],
    stub: [
      'function myDiscriminatorLoss(d: tf.LayersModel, real: tf.Tensor4D,',
      '  fake: tf.Tensor4D): tf.Scalar {',
      todo('myDiscriminatorLoss'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'the factor 1/2 left out',
      source: [
        'function myDiscriminatorLoss(d: tf.LayersModel, real: tf.Tensor4D,',
        '  fake: tf.Tensor4D): tf.Scalar {',
        '  const run = (x: tf.Tensor4D) =>',
        '    d.apply(x, { training: true }) as tf.Tensor4D;',
        "  return tf.add(ganLoss(run(real), true, 'lsgan'),",
        "    ganLoss(run(fake), false, 'lsgan')) as tf.Scalar;",
        '}',
      ].join('\n'),
    },
  },
  {
    id: 'myTranslateAnySize', notebook: '05-inference.ipynb',
    title: 'pad-and-crop inference',
    prompt: [
      'run(x) only accepts a height and width that are multiples of 4 and',
      'at least 8. For an image of any size (the check uses sides of 4 and',
      'more: tf.mirrorPad cannot pad by more than side - 1): reflect-pad',
      'each of H and W up to the smallest multiple of 4 that is >= the side',
      'and >= 8, floor(extra / 2) before and the rest after (tf.mirrorPad),',
      "call run, then cut the output back to the input's H x W at the same",
      'offset (tf.slice).',
    ],
    stub: [
      'function myTranslateAnySize(run: (x: tf.Tensor4D) => tf.Tensor4D,',
      '  image: tf.Tensor4D): tf.Tensor4D {',
      todo('myTranslateAnySize'),
      '}',
    ].join('\n'),
    wrong: {
      mistake: 'all the padding at the bottom and right',
      source: [
        'function myTranslateAnySize(run: (x: tf.Tensor4D) => tf.Tensor4D,',
        '  image: tf.Tensor4D): tf.Tensor4D {',
        '  const [, h, w] = image.shape;',
        '  const up = (n: number) => Math.max(8, Math.ceil(n / 4) * 4);',
        '  const padded = tf.mirrorPad(image,',
        "    [[0, 0], [0, up(h) - h], [0, up(w) - w], [0, 0]], 'reflect');",
        '  return tf.slice(run(padded), [0, 0, 0, 0], [-1, h, w, -1]);',
        '}',
      ].join('\n'),
    },
  },
];
