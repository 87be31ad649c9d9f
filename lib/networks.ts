/**
 * The CycleGAN generators and discriminators (Zhu et al. 2017, section 4
 * and appendix 7.2), built as tfjs layers models with the official
 * pytorch-CycleGAN-and-pix2pix names and defaults (`--netG`, `--netD`,
 * `--ngf`, `--ndf`, `--n_layers_D`, `--norm`, `--no_dropout`,
 * `--init_type`, `--init_gain`).
 *
 * Every convolution pads explicitly and then runs 'valid', so that given
 * the same weights the networks compute what the official PyTorch ones
 * compute (TF's 'same' pads a 3×3 stride-2 conv (0, 1), PyTorch (1, 1)).
 * Kernels are HWIO; `torchWeightMap` says which official state-dict entry
 * each weight comes from.
 *
 * Inputs are NHWC images in [−1, 1] of any height and width: a generator
 * pads (reflect) to the multiple it needs inside the model and crops back,
 * so a saved or exported model keeps the input size too.
 */
import * as tf from '@tensorflow/tfjs';
import { CropLike, Crop2d, InstanceNorm, Pad2d, PadToMultiple,
  PaddingMode } from './layers';
import { InitType, initWeights } from './init';

type Sym = tf.SymbolicTensor;

/** The official `--norm` choices. */
export type NormType = 'instance' | 'batch' | 'none';

/** The official `--netG` choices. */
export type GeneratorType =
  'resnet_9blocks' | 'resnet_6blocks' | 'unet_256' | 'unet_128';

/** The official `--netD` choices. */
export type DiscriminatorType = 'basic' | 'n_layers' | 'pixel';

/** Options of {@link defineG}; defaults in {@link GENERATOR_DEFAULTS}. */
export interface GeneratorOptions {
  /** Channels of the input image (`--input_nc`). */
  inputNc: number;
  /** Channels of the output image (`--output_nc`). */
  outputNc: number;
  /** Filters of the first conv layer (`--ngf`). */
  ngf: number;
  /** Architecture (`--netG`). */
  netG: GeneratorType;
  /** Normalisation layer (`--norm`). */
  norm: NormType;
  /** Dropout 0.5 in the residual / inner U-Net blocks (`--no_dropout`). */
  useDropout: boolean;
  /** Weight initialisation (`--init_type`). */
  initType: InitType;
  /** Scale of the initialisation (`--init_gain`). */
  initGain: number;
  /** Seed of the initial weights; random when absent. */
  seed?: number;
  /** Model name; layer names do not depend on it. */
  name?: string;
  /**
   * Border of the residual blocks' 3×3 convs (the official
   * `ResnetBlock(padding_type=...)`; always `reflect` in the official
   * generators).
   */
  paddingType?: PaddingMode;
  /**
   * How the ResNet generators upsample: `transpose`, the official 3×3
   * stride-2 `ConvTranspose2d`, or `resize`, nearest-neighbour ×2 then a
   * reflect-padded 3×3 conv (Odena et al. 2016, "Deconvolution and
   * checkerboard artifacts"). `resize` is our departure from the official
   * code, used by the `emoji` profile: it has no official weights.
   */
  upsample?: UpsampleMode;
}

/** Values of {@link GeneratorOptions.upsample}. */
export type UpsampleMode = 'transpose' | 'resize';
export const UPSAMPLE_MODES: readonly UpsampleMode[] = ['transpose', 'resize'];

/**
 * The official CycleGAN generator settings: `resnet_9blocks`, ngf 64,
 * instance norm, no dropout (`--no_dropout` is on for CycleGAN), normal
 * init with std 0.02, RGB in and out.
 */
export const GENERATOR_DEFAULTS: GeneratorOptions = {
  inputNc: 3, outputNc: 3, ngf: 64, netG: 'resnet_9blocks',
  norm: 'instance', useDropout: false, initType: 'normal', initGain: 0.02,
  paddingType: 'reflect', upsample: 'transpose',
};

/** Options of {@link defineD}; defaults in {@link DISCRIMINATOR_DEFAULTS}. */
export interface DiscriminatorOptions {
  /** Channels of the judged image (`--output_nc` / `--input_nc`). */
  inputNc: number;
  /** Filters of the first conv layer (`--ndf`). */
  ndf: number;
  /** Architecture (`--netD`); `basic` is `n_layers` with 3 layers. */
  netD: DiscriminatorType;
  /** Strided conv layers of `n_layers` (`--n_layers_D`). */
  nLayersD: number;
  /** Normalisation layer (`--norm`). */
  norm: NormType;
  /** Weight initialisation (`--init_type`). */
  initType: InitType;
  /** Scale of the initialisation (`--init_gain`). */
  initGain: number;
  /** Seed of the initial weights; random when absent. */
  seed?: number;
  /** Model name; layer names do not depend on it. */
  name?: string;
}

/**
 * The official CycleGAN discriminator settings: the 70×70 PatchGAN
 * (`basic`), ndf 64, instance norm, normal init with std 0.02.
 */
export const DISCRIMINATOR_DEFAULTS: DiscriminatorOptions = {
  inputNc: 3, ndf: 64, netD: 'basic', nLayersD: 3, norm: 'instance',
  initType: 'normal', initGain: 0.02,
};

const GENERATOR_TYPES: GeneratorType[] =
  ['resnet_9blocks', 'resnet_6blocks', 'unet_256', 'unet_128'];
const DISCRIMINATOR_TYPES: DiscriminatorType[] =
  ['basic', 'n_layers', 'pixel'];
const NORM_TYPES: NormType[] = ['instance', 'batch', 'none'];
const INIT_TYPES: InitType[] = ['normal', 'xavier', 'kaiming', 'orthogonal'];
const PADDING_TYPES: PaddingMode[] = ['reflect', 'replicate', 'zero'];

function checkChoice<T>(what: string, value: T, allowed: readonly T[]): void {
  if (!allowed.includes(value)) {
    throw new Error(`${what}: expected one of ${allowed.join(', ')}, got ` +
      `'${String(value)}'`);
  }
}

function checkPositiveInt(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${what}: expected a positive integer, got ${value}`);
  }
}

/** Which official state-dict entry a tfjs layer's weights come from. */
const TORCH_PATHS = new WeakMap<tf.LayersModel, Map<string, string>>();

/**
 * Adds layers to a functional graph, naming each one and recording its
 * official module path (e.g. `model.10.conv_block.1`).
 */
class GraphBuilder {
  readonly torchPaths = new Map<string, string>();
  /** Official convention: conv bias only with instance norm. */
  readonly useBias: boolean;

  constructor(readonly norm: NormType) {
    this.useBias = norm === 'instance';
  }

  /** Zero/reflect/replicate pad, then a 'valid' k×k conv. */
  conv(x: Sym, name: string, torchPath: string, filters: number,
    kernel: number, stride: number, pad: number, padMode: PaddingMode,
    useBias: boolean): Sym {
    if (pad > 0) {
      x = new Pad2d({ name: `${name}_pad`, padding: pad, mode: padMode })
        .apply(x) as Sym;
    }
    this.torchPaths.set(name, torchPath);
    return tf.layers.conv2d({
      name, filters, kernelSize: kernel, strides: stride, padding: 'valid',
      useBias, kernelInitializer: 'zeros',
    }).apply(x) as Sym;
  }

  /**
   * PyTorch `ConvTranspose2d(k, stride, padding, output_padding)`: the
   * full ('valid') transposed conv, of size (H − 1)·s + k, minus `padding`
   * at the start and `padding − outputPadding` at the end.
   */
  convTranspose(x: Sym, name: string, torchPath: string, filters: number,
    kernel: number, stride: number, padding: number, outputPadding: number,
    useBias: boolean): Sym {
    this.torchPaths.set(name, torchPath);
    const full = tf.layers.conv2dTranspose({
      name, filters, kernelSize: kernel, strides: stride, padding: 'valid',
      useBias, kernelInitializer: 'zeros',
    }).apply(x) as Sym;
    const end = padding - outputPadding;
    return new Crop2d({ name: `${name}_crop`,
      cropping: [padding, end, padding, end] }).apply(full) as Sym;
  }

  /** The `--norm` layer, or the input unchanged for `none`. */
  normLayer(x: Sym, name: string, torchPath: string): Sym {
    if (this.norm === 'none') return x;
    this.torchPaths.set(name, torchPath);
    if (this.norm === 'instance') {
      return new InstanceNorm({ name, epsilon: 1e-5 }).apply(x) as Sym;
    }
    // PyTorch BatchNorm2d(momentum=0.1) keeps 0.9 of the running value;
    // Keras calls that keeping fraction `momentum`. Limitation: tfjs 4.22
    // feeds the biased batch variance into the running variance, PyTorch
    // the unbiased one, so running statistics (inference only) differ
    // slightly for small batches.
    return tf.layers.batchNormalization({
      name, axis: -1, momentum: 0.9, epsilon: 1e-5,
    }).apply(x) as Sym;
  }

  relu(x: Sym, name: string): Sym {
    return tf.layers.reLU({ name }).apply(x) as Sym;
  }

  leakyRelu(x: Sym, name: string): Sym {
    return tf.layers.leakyReLU({ name, alpha: 0.2 }).apply(x) as Sym;
  }

  dropout(x: Sym, name: string): Sym {
    return tf.layers.dropout({ name, rate: 0.5 }).apply(x) as Sym;
  }

  tanh(x: Sym, name: string): Sym {
    return tf.layers.activation({ name, activation: 'tanh' }).apply(x) as Sym;
  }
}

/**
 * One residual block (He et al. 2016) at `dim` channels: x + F(x) with
 * F = pad, 3×3 conv, norm, ReLU, [dropout 0.5], pad, 3×3 conv, norm.
 * Official `ResnetBlock`; its `conv_block` indices name the weights.
 */
function resnetBlock(b: GraphBuilder, x: Sym, name: string, torchPath: string,
  dim: number, padMode: PaddingMode, useDropout: boolean): Sym {
  // 'zero' has no padding module: the official conv pads by itself.
  const padSlot = padMode === 'zero' ? 0 : 1;
  let i = 0;
  const slot = (n: number): string => `${torchPath}.conv_block.${n}`;
  i += padSlot;
  let y = b.conv(x, `${name}_conv1`, slot(i++), dim, 3, 1, 1, padMode,
    b.useBias);
  y = b.normLayer(y, `${name}_norm1`, slot(i++));
  y = b.relu(y, `${name}_relu1`);
  i++;
  if (useDropout) {
    y = b.dropout(y, `${name}_dropout`);
    i++;
  }
  i += padSlot;
  y = b.conv(y, `${name}_conv2`, slot(i++), dim, 3, 1, 1, padMode, b.useBias);
  y = b.normLayer(y, `${name}_norm2`, slot(i++));
  return tf.layers.add({ name: `${name}_add` }).apply([x, y]) as Sym;
}

/**
 * One residual block on its own, as a model of `dim` channels in and out
 * (weights `block_conv1`, `block_conv2`), for checking a block written by
 * hand (lib/workshop) against the one the generators use.
 */
export function residualBlockModel(dim: number,
  opts: { padMode?: PaddingMode; norm?: NormType; seed?: number } = {}):
  tf.LayersModel {
  checkPositiveInt('residual block dim', dim);
  const b = new GraphBuilder(opts.norm ?? 'instance');
  const input = tf.input({ shape: [null, null, dim], name: 'features' });
  const y = resnetBlock(b, input, 'block', 'block', dim,
    opts.padMode ?? 'reflect', false);
  const model = tf.model({ inputs: input, outputs: y, name: 'residual_block' });
  initWeights(model, 'normal', 0.02, opts.seed);
  return model;
}

/**
 * The ResNet generator (Johnson et al. 2016; CycleGAN appendix 7.2,
 * c7s1-64, d128, d256, R256 × nBlocks, u128, u64, c7s1-3): reflect pad 3,
 * 7×7 conv, two 3×3 stride-2 downsamplings, residual blocks, two 3×3
 * stride-2 transposed convs, reflect pad 3, 7×7 conv, tanh. Official
 * `ResnetGenerator`; names follow its `model.N` indices.
 */
function resnetGenerator(b: GraphBuilder, x: Sym, o: GeneratorOptions,
  nBlocks: number): Sym {
  const pad = o.paddingType ?? 'reflect';
  let i = 0;
  const slot = (): string => `model.${i++}`;
  const { ngf } = o;
  i++; // model.0 is the ReflectionPad2d(3)
  x = b.conv(x, 'in_conv', slot(), ngf, 7, 1, 3, 'reflect', b.useBias);
  x = b.normLayer(x, 'in_norm', slot());
  x = b.relu(x, 'in_relu'); i++;
  for (let d = 0; d < 2; d++) {
    const filters = ngf * 2 ** (d + 1);
    x = b.conv(x, `down${d + 1}_conv`, slot(), filters, 3, 2, 1, 'zero',
      b.useBias);
    x = b.normLayer(x, `down${d + 1}_norm`, slot());
    x = b.relu(x, `down${d + 1}_relu`); i++;
  }
  for (let r = 0; r < nBlocks; r++) {
    x = resnetBlock(b, x, `res${r + 1}`, slot(), ngf * 4, pad, o.useDropout);
  }
  for (let u = 0; u < 2; u++) {
    const filters = ngf * 2 ** (1 - u);
    if (o.upsample === 'resize') {
      x = tf.layers.upSampling2d({ name: `up${u + 1}_resize`, size: [2, 2],
        interpolation: 'nearest' }).apply(x) as Sym;
      x = b.conv(x, `up${u + 1}_conv`, slot(), filters, 3, 1, 1, 'reflect',
        b.useBias);
    } else {
      x = b.convTranspose(x, `up${u + 1}_convT`, slot(), filters, 3, 2, 1, 1,
        b.useBias);
    }
    x = b.normLayer(x, `up${u + 1}_norm`, slot());
    x = b.relu(x, `up${u + 1}_relu`); i++;
  }
  i++; // the second ReflectionPad2d(3)
  // The last conv always has a bias in the official code.
  x = b.conv(x, 'out_conv', slot(), o.outputNc, 7, 1, 3, 'reflect', true);
  return b.tanh(x, 'out_tanh');
}

/**
 * One U-Net level (Ronneberger et al. 2015; official
 * `UnetSkipConnectionBlock`): a 4×4 stride-2 conv down, the inner levels,
 * a 4×4 stride-2 transposed conv up, and, except at the outermost level,
 * the input concatenated in front of the result (the skip connection).
 * `depth` 0 is outermost; `levels − 1` innermost.
 */
function unetLevel(b: GraphBuilder, x: Sym, o: GeneratorOptions,
  depth: number, levels: number, torchPath: string): Sym {
  const { ngf } = o;
  // Channels entering/leaving the level (outer) and inside it (inner).
  const widths = [ngf, ngf * 2, ngf * 4, ngf * 8];
  const inner = widths[Math.min(depth, 3)];
  const outer = depth === 0 ? o.outputNc : widths[Math.min(depth - 1, 3)];
  const outermost = depth === 0;
  const innermost = depth === levels - 1;
  const name = `unet${depth}`;
  let i = 0;
  const slot = (): string => `${torchPath}.model.${i++}`;

  let y = x;
  if (!outermost) {
    y = b.leakyRelu(y, `${name}_down_lrelu`); i++;
  }
  y = b.conv(y, `${name}_down_conv`, slot(), inner, 4, 2, 1, 'zero',
    b.useBias);
  if (!outermost && !innermost) {
    y = b.normLayer(y, `${name}_down_norm`, slot());
  }
  if (!innermost) {
    y = unetLevel(b, y, o, depth + 1, levels, slot());
  }
  y = b.relu(y, `${name}_up_relu`); i++;
  y = b.convTranspose(y, `${name}_up_convT`, slot(), outer, 4, 2, 1, 0,
    outermost ? true : b.useBias);
  if (outermost) return b.tanh(y, `${name}_up_tanh`);
  y = b.normLayer(y, `${name}_up_norm`, slot());
  // Dropout in the ngf·8 levels between the innermost and the ngf·8 one
  // that halves to ngf·4 (official: num_downs − 5 such levels).
  if (o.useDropout && !innermost && depth >= 4) {
    y = b.dropout(y, `${name}_dropout`);
  }
  return tf.layers.concatenate({ name: `${name}_skip`, axis: -1 })
    .apply([x, y]) as Sym;
}

function checkGeneratorOptions(o: GeneratorOptions): void {
  checkChoice('generator option netG', o.netG, GENERATOR_TYPES);
  checkChoice('generator option norm', o.norm, NORM_TYPES);
  checkChoice('generator option initType', o.initType, INIT_TYPES);
  checkChoice('generator option paddingType', o.paddingType ?? 'reflect',
    PADDING_TYPES);
  checkChoice('generator option upsample', o.upsample ?? 'transpose',
    UPSAMPLE_MODES);
  if (o.upsample === 'resize' && !o.netG.startsWith('resnet')) {
    throw new Error(`generator option upsample: 'resize' applies to the ` +
      `ResNet generators only, not ${o.netG}`);
  }
  checkPositiveInt('generator option inputNc', o.inputNc);
  checkPositiveInt('generator option outputNc', o.outputNc);
  checkPositiveInt('generator option ngf', o.ngf);
  if (!(o.initGain >= 0)) {
    throw new Error(`generator option initGain: expected a number >= 0, ` +
      `got ${o.initGain}`);
  }
}

/**
 * The size a generator's input is padded to a multiple of, and the
 * smallest size it runs at: 4 (min 8, so that the residual blocks see at
 * least 2×2) for the ResNets, 2^8 = 256 and 2^7 = 128 for the U-Nets.
 */
export function generatorMultiple(netG: GeneratorType):
  { multiple: number; minSize: number } {
  switch (netG) {
    case 'resnet_9blocks':
    case 'resnet_6blocks': return { multiple: 4, minSize: 8 };
    case 'unet_256': return { multiple: 256, minSize: 256 };
    case 'unet_128': return { multiple: 128, minSize: 128 };
  }
}

/**
 * Builds a generator (official `define_G`). Input and output are NHWC
 * images in [−1, 1] of any size: the model reflect-pads to
 * {@link generatorMultiple}, runs the network and crops back, so an H×W
 * input gives an H×W output; sizes that are already a multiple run
 * exactly the official network. Train with `model.apply(x, {training:
 * true})`: dropout (if any) and batch-norm statistics follow the flag.
 */
export function defineG(opts: Partial<GeneratorOptions> = {}):
  tf.LayersModel {
  const o: GeneratorOptions = { ...GENERATOR_DEFAULTS, ...opts };
  checkGeneratorOptions(o);
  const b = new GraphBuilder(o.norm);
  const input = tf.input({ shape: [null, null, o.inputNc], name: 'image' });
  const fit = generatorMultiple(o.netG);
  const padded = new PadToMultiple({ name: 'pad_to_multiple', ...fit,
    mode: 'reflect' }).apply(input) as Sym;
  let y: Sym;
  if (o.netG === 'resnet_9blocks' || o.netG === 'resnet_6blocks') {
    y = resnetGenerator(b, padded, o, o.netG === 'resnet_9blocks' ? 9 : 6);
  } else {
    y = unetLevel(b, padded, o, 0, o.netG === 'unet_256' ? 8 : 7, 'model');
  }
  const output = new CropLike({ name: 'crop_to_input' })
    .apply([y, input]) as Sym;
  const model = tf.model({ inputs: input, outputs: output,
    name: o.name ?? 'generator' });
  initWeights(model, o.initType, o.initGain, o.seed);
  TORCH_PATHS.set(model, b.torchPaths);
  return model;
}

/** One conv of a discriminator, in order, as {@link discriminatorLayers}. */
export interface DiscriminatorLayer {
  filters: number;
  kernel: number;
  stride: number;
  /** Zero padding on every side. */
  padding: number;
  /** Followed by the `--norm` layer (nothing for `none`). */
  norm: boolean;
  /** Conv bias: the official code drops it before a norm unless instance. */
  bias: boolean;
  leakyRelu: boolean;
}

function checkDiscriminatorOptions(o: DiscriminatorOptions): void {
  checkChoice('discriminator option netD', o.netD, DISCRIMINATOR_TYPES);
  checkChoice('discriminator option norm', o.norm, NORM_TYPES);
  checkChoice('discriminator option initType', o.initType, INIT_TYPES);
  checkPositiveInt('discriminator option inputNc', o.inputNc);
  checkPositiveInt('discriminator option ndf', o.ndf);
  checkPositiveInt('discriminator option nLayersD', o.nLayersD);
  if (!(o.initGain >= 0)) {
    throw new Error(`discriminator option initGain: expected a number ` +
      `>= 0, got ${o.initGain}`);
  }
}

/**
 * The conv layers of a discriminator (official `NLayerDiscriminator`,
 * `PixelDiscriminator`). PatchGAN: a 4×4 stride-2 conv + LeakyReLU 0.2,
 * (nLayers − 1) × [4×4 stride-2 conv, norm, LeakyReLU] with filters
 * doubling up to ndf·8, one 4×4 stride-1 conv block, and a 4×4 stride-1
 * conv to one channel of raw logits. Pixel: 1×1 convs ndf, 2·ndf, 1.
 */
export function discriminatorLayers(
  opts: Partial<DiscriminatorOptions> = {},
): DiscriminatorLayer[] {
  const o = { ...DISCRIMINATOR_DEFAULTS, ...opts };
  checkDiscriminatorOptions(o);
  const withBias = o.norm === 'instance';
  if (o.netD === 'pixel') {
    return [
      { filters: o.ndf, kernel: 1, stride: 1, padding: 0, norm: false,
        bias: true, leakyRelu: true },
      { filters: o.ndf * 2, kernel: 1, stride: 1, padding: 0, norm: true,
        bias: withBias, leakyRelu: true },
      { filters: 1, kernel: 1, stride: 1, padding: 0, norm: false,
        bias: withBias, leakyRelu: false },
    ];
  }
  const nLayers = o.netD === 'basic' ? 3 : o.nLayersD;
  const layers: DiscriminatorLayer[] = [
    { filters: o.ndf, kernel: 4, stride: 2, padding: 1, norm: false,
      bias: true, leakyRelu: true },
  ];
  for (let n = 1; n <= nLayers; n++) {
    layers.push({ filters: o.ndf * Math.min(2 ** n, 8), kernel: 4,
      stride: n < nLayers ? 2 : 1, padding: 1, norm: true,
      bias: withBias, leakyRelu: true });
  }
  layers.push({ filters: 1, kernel: 4, stride: 1, padding: 1, norm: false,
    bias: true, leakyRelu: false });
  return layers;
}

/**
 * The receptive field of one output of a discriminator, in input pixels:
 * r ← (r − 1)·stride + kernel from the last layer back. 70 for `basic`
 * (hence "70×70 PatchGAN"), 1 for `pixel`.
 */
export function receptiveField(
  opts: Partial<DiscriminatorOptions> = {},
): number {
  return discriminatorLayers(opts).reduceRight(
    (r, l) => (r - 1) * l.stride + l.kernel, 1);
}

/**
 * Builds a discriminator (official `define_D`): NHWC images of any size
 * in, an N×H'×W'×1 map of raw logits out (no sigmoid: the loss applies
 * it, or uses least squares). `basic` at 256×256 gives 30×30.
 */
export function defineD(opts: Partial<DiscriminatorOptions> = {}):
  tf.LayersModel {
  const o: DiscriminatorOptions = { ...DISCRIMINATOR_DEFAULTS, ...opts };
  const layers = discriminatorLayers(o);
  const b = new GraphBuilder(o.norm);
  const input = tf.input({ shape: [null, null, o.inputNc], name: 'image' });
  const seq = o.netD === 'pixel' ? 'net' : 'model';
  let i = 0;
  let x: Sym = input;
  layers.forEach((l, k) => {
    x = b.conv(x, `conv${k}`, `${seq}.${i++}`, l.filters, l.kernel, l.stride,
      l.padding, 'zero', l.bias);
    if (l.norm) x = b.normLayer(x, `norm${k}`, `${seq}.${i++}`);
    if (l.leakyRelu) {
      x = b.leakyRelu(x, `lrelu${k}`); i++;
    }
  });
  const model = tf.model({ inputs: input, outputs: x,
    name: o.name ?? 'discriminator' });
  initWeights(model, o.initType, o.initGain, o.seed);
  TORCH_PATHS.set(model, b.torchPaths);
  return model;
}

/**
 * Trainable parameters (what the official code prints as "Total number
 * of parameters"); batch-norm running statistics are not counted.
 */
export function countParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce(
    (sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}

/** Where one tfjs weight comes from in an official PyTorch state dict. */
export interface TorchWeight {
  /** tfjs layer name, e.g. `res1_conv1`. */
  layer: string;
  /** Position in `layer.getWeights()`. */
  index: number;
  /** Official state-dict key, e.g. `model.10.conv_block.1.weight`. */
  torchKey: string;
  /**
   * Axis order that turns the PyTorch array into ours
   * (`torchArray.transpose(perm)`): [2, 3, 1, 0] for conv kernels
   * (OIHW → HWIO) and transposed-conv kernels (IOHW → HW,out,in);
   * undefined for vectors.
   */
  perm?: number[];
}

/**
 * The official state-dict entry of every weight of a model built in this
 * process by `defineG` / `defineD`, for loading official checkpoints and
 * for golden tests against the PyTorch networks.
 */
export function torchWeightMap(model: tf.LayersModel): TorchWeight[] {
  const paths = TORCH_PATHS.get(model);
  if (!paths) {
    throw new Error(`torchWeightMap: model '${model.name}' was not built ` +
      'by defineG/defineD in this process');
  }
  const out: TorchWeight[] = [];
  for (const layer of model.layers) {
    const path = paths.get(layer.name);
    if (!path) continue;
    layer.weights.forEach((w, index) => {
      // Weight names end in kernel, bias, gamma, beta, moving_mean, ...
      const kind = w.originalName.split('/').pop() ?? '';
      const torchName: Record<string, string> = {
        kernel: 'weight', bias: 'bias', gamma: 'weight', beta: 'bias',
        moving_mean: 'running_mean', moving_variance: 'running_var',
      };
      if (!(kind in torchName)) {
        throw new Error(`torchWeightMap: unexpected weight ${w.originalName}`);
      }
      out.push({ layer: layer.name, index,
        torchKey: `${path}.${torchName[kind]}`,
        perm: kind === 'kernel' ? [2, 3, 1, 0] : undefined });
    });
  }
  return out;
}

type Shape = (number | null)[];

/**
 * The output shape of every layer of `model` for an N×H×W×C input, in
 * the model's (topological) layer order, from each layer's
 * `computeOutputShape`: no tensor is computed.
 */
export function layerShapes(model: tf.LayersModel, height: number,
  width: number, batch = 1): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  for (const layer of model.layers) {
    const inbound = layer.inboundNodes[0].inboundLayers;
    if (inbound.length === 0) {
      const channels = (layer.batchInputShape ?? [])[3] ?? null;
      shapes.set(layer.name, [batch, height, width, channels]);
      continue;
    }
    const inShapes = inbound.map((l) => shapes.get(l.name) as Shape);
    shapes.set(layer.name, layer.computeOutputShape(
      inShapes.length === 1 ? inShapes[0] : inShapes) as Shape);
  }
  return shapes;
}

/**
 * A compact summary of `model` at an H×W input: one line per layer with
 * its name, class, output shape and trainable parameters, then the total.
 */
export function modelSummary(model: tf.LayersModel, height: number,
  width: number): string {
  const shapes = layerShapes(model, height, width);
  const rows = model.layers.map((l) => [l.name, l.getClassName(),
    `[${(shapes.get(l.name) ?? []).join(', ')}]`,
    l.trainableWeights.reduce((n, w) => n + (w.shape as number[])
      .reduce((a, b) => a * b, 1), 0).toLocaleString('en-US')]);
  const head = ['layer', 'class', 'output shape', 'params'];
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) =>
    i === 3 ? c.padStart(widths[i]) : c.padEnd(widths[i])).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    `total trainable parameters: ${countParams(model)
      .toLocaleString('en-US')}`].join('\n');
}

/**
 * Multiply-accumulates of one forward pass of `model` on an
 * N×H×W×C input, counted from the conv layers' shapes: a conv makes
 * H'·W'·k²·Cin·Cout per image, a transposed conv H·W·k²·Cin·Cout (its
 * input size). Norms and activations are not counted. FLOPs ≈ 2·MACs.
 */
export function countMacs(model: tf.LayersModel, height: number,
  width: number, batch = 1): number {
  const shapes = layerShapes(model, height, width, batch);
  let macs = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== 'Conv2D' && cls !== 'Conv2DTranspose') continue;
    // Conv2D kernels are [kh, kw, in, out]; transposed [kh, kw, out, in].
    const [kh, kw, a, c] = layer.weights[0].shape as number[];
    const source = layer.inboundNodes[0].inboundLayers[0].name;
    const [, h, w] = (cls === 'Conv2D' ? shapes.get(layer.name) :
      shapes.get(source)) as number[];
    macs += batch * h * w * kh * kw * a * c;
  }
  return macs;
}
