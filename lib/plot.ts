/**
 * Loss curves of a training run as a chart: a vega-lite specification,
 * rendered headless to SVG by vega and to PNG by sharp, for the notebooks
 * (`tslab.display.png`) and for `loss.png` beside the checkpoints.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import sharp from 'sharp';
import { LOSS_NAMES, LossName } from './losses';
import { LR_POLICIES, LrPolicy, LrScheduler, SchedulerOptions } from
  './scheduler';
import { LossRecord } from './train';

/** The panel each loss is drawn in. */
export const LOSS_GROUPS: Record<LossName, string> = {
  D_A: 'adversarial', G_A: 'adversarial', D_B: 'adversarial',
  G_B: 'adversarial', cycle_A: 'cycle and identity',
  cycle_B: 'cycle and identity', idt_A: 'cycle and identity',
  idt_B: 'cycle and identity',
};

/** Options of the loss chart. */
export interface LossChartOptions {
  /** Width of each panel, px (default 560). */
  width?: number;
  /** Height of each panel, px (default 160). */
  height?: number;
  /** Title above the chart. */
  title?: string;
}

/**
 * A vega-lite spec of the loss records: iteration on x, one line per
 * official loss name, adversarial losses and cycle/identity losses in two
 * panels with their own y scales.
 */
export function lossChartSpec(records: LossRecord[],
  opts: LossChartOptions = {}): vl.TopLevelSpec {
  const values = records.flatMap((r) => LOSS_NAMES.map((name) => ({
    iteration: r.iteration, epoch: r.epoch, loss: name,
    group: LOSS_GROUPS[name], value: r.losses[name],
  })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.title ?? 'Training losses',
    data: { values },
    facet: { row: { field: 'group', type: 'nominal', title: null } },
    spec: {
      width: opts.width ?? 560,
      height: opts.height ?? 160,
      mark: { type: 'line', point: records.length < 30 },
      encoding: {
        x: { field: 'iteration', type: 'quantitative', title: 'iteration',
          axis: { format: 'd', tickMinStep: 1 } },
        y: { field: 'value', type: 'quantitative', title: 'loss' },
        color: { field: 'loss', type: 'nominal', sort: [...LOSS_NAMES] },
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: { background: 'white' },
  };
}

/** The chart of `lossChartSpec` as SVG text. */
export async function lossChartSvg(records: LossRecord[],
  opts: LossChartOptions = {}): Promise<string> {
  const compiled = vl.compile(lossChartSpec(records, opts)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The chart of `lossChartSpec` as a PNG buffer. */
export async function lossChartPng(records: LossRecord[],
  opts: LossChartOptions = {}): Promise<Buffer> {
  const svg = await lossChartSvg(records, opts);
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/**
 * A vega-lite spec of the learning rate per epoch under each policy of
 * `policies`, for epochs 1 … nEpochs + nEpochsDecay of `options`. The
 * plateau policy is drawn with a metric that stops improving after the
 * first third of the run, so its reductions show.
 */
export function lrChartSpec(options: SchedulerOptions,
  policies: readonly LrPolicy[] = LR_POLICIES): vl.TopLevelSpec {
  const last = options.nEpochs + options.nEpochsDecay;
  const values = policies.flatMap((lrPolicy) => {
    const s = new LrScheduler({ ...options, lrPolicy });
    return Array.from({ length: last }, (_, i) => {
      const epoch = i + 1;
      const lr = s.lrForEpoch(epoch);
      s.endEpoch(Math.max(1, last / 3 - epoch) + 1);
      return { epoch, lr, policy: lrPolicy };
    });
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Learning rate per epoch',
    data: { values }, width: 560, height: 200,
    mark: 'line',
    encoding: {
      x: { field: 'epoch', type: 'quantitative' },
      y: { field: 'lr', type: 'quantitative', title: 'learning rate',
        axis: { format: '.1e' } },
      color: { field: 'policy', type: 'nominal', sort: [...policies] },
    },
    config: { background: 'white' },
  };
}

/** Renders any vega-lite spec to PNG (vega → SVG → sharp). */
export async function chartPng(spec: vl.TopLevelSpec): Promise<Buffer> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec),
    { renderer: 'none' });
  try {
    return await sharp(Buffer.from(await view.toSVG())).png().toBuffer();
  } finally {
    view.finalize();
  }
}
