/**
 * Scoring a translation on the emoji test split, where every input has a
 * real counterpart: the same code point drawn by the other artwork.
 *
 * For A→B the table compares, against the real B image of each shared test
 * code point:
 *
 * - `identity`: the A image itself, the score of doing nothing;
 * - `untrained`: a freshly initialised generator of the same architecture;
 * - `trained`: the generator under test.
 *
 * B→A is scored the same way against the real A images. A trained model
 * is useful when it beats both baselines.
 */
import * as path from 'node:path';
import { readEmojiPairs } from './emoji';
import { decodeImage, RawImage } from './image';
import { translateImages, Direction, LoadedGenerators } from './inference';
import { meanScore, scorePair, MetricsRow, formatMetricsTable }
  from './metrics';
import { defineG, GeneratorOptions } from './networks';

/** Options of `evaluateEmoji`. */
export interface EvaluateOptions {
  /** Cap on test pairs scored (all by default). */
  maxPairs?: number;
  batchSize?: number;
  /** Seed of the untrained baseline's initialisation. */
  seed?: number;
}

/** The rows of the table, with the pairs they were computed on. */
export interface EvaluationResult {
  rows: MetricsRow[];
  codepoints: string[];
  /** The table as text. */
  table: string;
}

function generatorOptions(options: Record<string, unknown> | undefined):
    Partial<GeneratorOptions> {
  if (!options) {
    throw new Error('the checkpoint has no opt.json beside it, so the ' +
      'untrained baseline cannot be built with the same architecture');
  }
  const pick = ['ngf', 'netG', 'norm', 'useDropout', 'initType', 'initGain',
    'upsample'];
  return Object.fromEntries(pick.filter((k) => k in options)
    .map((k) => [k, options[k]])) as Partial<GeneratorOptions>;
}

const scoreAll = (fakes: RawImage[], targets: RawImage[]) =>
  meanScore(fakes.map((f, i) => scorePair(f, targets[i])));

/**
 * Scores the generators of `loaded` on the test pairs of the emoji
 * dataset in `datasetDir`, both directions, against the identity and
 * untrained baselines.
 */
export async function evaluateEmoji(
  datasetDir: string, loaded: LoadedGenerators, opts: EvaluateOptions = {},
): Promise<EvaluationResult> {
  let pairs = readEmojiPairs(datasetDir).filter((p) => p.split === 'test');
  if (opts.maxPairs !== undefined) pairs = pairs.slice(0, opts.maxPairs);
  if (pairs.length === 0) {
    throw new Error(`${datasetDir} has no shared test code points to score`);
  }
  const load = (rel: string) => decodeImage(path.join(datasetDir, rel));
  const imagesA = await Promise.all(pairs.map((p) => load(p.a)));
  const imagesB = await Promise.all(pairs.map((p) => load(p.b)));
  const base = generatorOptions(loaded.options);
  const rows: MetricsRow[] = [];
  for (const direction of ['AtoB', 'BtoA'] as Direction[]) {
    const [inputs, targets] = direction === 'AtoB' ? [imagesA, imagesB] :
      [imagesB, imagesA];
    const back: Direction = direction === 'AtoB' ? 'BtoA' : 'AtoB';
    const label = direction === 'AtoB' ? 'A→B' : 'B→A';
    const row = (name: string, fakes: RawImage[]) => rows.push({
      name: `${label} ${name}`, count: fakes.length,
      ...scoreAll(fakes, targets),
    });
    row('identity', inputs);
    const untrained = defineG({ ...base, inputNc: inputs[0].channels,
      outputNc: targets[0].channels, seed: opts.seed ?? 1 });
    row('untrained', translateImages(inputs, untrained, untrained,
      opts.batchSize ?? 8).map((t) => t.fake));
    untrained.dispose();
    row('trained', translateImages(inputs, loaded.generators[direction],
      loaded.generators[back], opts.batchSize ?? 8).map((t) => t.fake));
  }
  return { rows, codepoints: pairs.map((p) => p.codepoint),
    table: formatMetricsTable(rows) };
}

/**
 * True when, in both directions, the trained row beats the identity and
 * untrained rows on both scores (lower L1, higher SSIM).
 */
export function beatsBaselines(rows: readonly MetricsRow[]): boolean {
  return ['A→B', 'B→A'].every((label) => {
    const get = (n: string) => rows.find((r) => r.name === `${label} ${n}`)!;
    const t = get('trained');
    return ['identity', 'untrained'].every((n) =>
      t.l1 < get(n).l1 && t.ssim > get(n).ssim);
  });
}
