import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LrScheduler, SchedulerOptions, linearLr, schedulerStateFromJson,
} from '../../lib/scheduler';

const paper: SchedulerOptions = {
  lr: 2e-4, lrPolicy: 'linear', nEpochs: 100, nEpochsDecay: 100,
  lrDecayIters: 50,
};
const near = (got: number, want: number) =>
  assert.ok(Math.abs(got - want) <= 1e-12, `got ${got}, want ${want}`);

test('linear: constant for 100 epochs, then 2e-4·(1 − k/101) (F10)', () => {
  const s = new LrScheduler(paper);
  near(s.lrForEpoch(1), 2e-4);
  near(s.lrForEpoch(100), 2e-4);
  near(s.lrForEpoch(101), 2e-4 * (1 - 1 / 101));
  near(s.lrForEpoch(150), 2e-4 * (1 - 50 / 101));
  near(s.lrForEpoch(151), 2e-4 * (1 - 51 / 101));
  assert.equal(s.lrForEpoch(151).toExponential(2), '9.90e-5');
  near(s.lrForEpoch(200), 2e-4 / 101);
});

test('linear equals the official lambda rule for any --epoch_count', () => {
  // Official: 1 − max(0, e + epoch_count − n_epochs)/(n_epochs_decay + 1),
  // e = scheduler steps taken in this run (0 in its first epoch).
  const official = (e: number, epochCount: number) => 2e-4 * (1 -
    Math.max(0, e + epochCount - 100) / 101);
  for (const epochCount of [1, 120, 151]) {
    for (let e = 0; epochCount + e <= 200; e += 7) {
      near(linearLr(epochCount + e, paper), official(e, epochCount));
    }
  }
});

test('step: ×0.1 every lrDecayIters epochs', () => {
  const s = new LrScheduler({ ...paper, lrPolicy: 'step' });
  near(s.lrForEpoch(1), 2e-4);
  near(s.lrForEpoch(50), 2e-4);
  near(s.lrForEpoch(51), 2e-5);
  near(s.lrForEpoch(101), 2e-6);
  assert.throws(() => new LrScheduler({ ...paper, lrPolicy: 'step',
    lrDecayIters: 0 }), /lrDecayIters/);
});

test('cosine: from lr down to near 0 over the whole run', () => {
  const s = new LrScheduler({ ...paper, lrPolicy: 'cosine' });
  near(s.lrForEpoch(1), 2e-4);
  near(s.lrForEpoch(101), 1e-4);
  let last = Infinity;
  for (let e = 1; e <= 200; e++) {
    const lr = s.lrForEpoch(e);
    assert.ok(lr < last, `epoch ${e}`);
    last = lr;
  }
  assert.ok(last < 1e-7 && last > 0);
});

test('plateau: ×0.2 after more than 5 epochs without 1 % improvement', () => {
  const s = new LrScheduler({ ...paper, lrPolicy: 'plateau' });
  const seen: number[] = [];
  // Improving by 10 % an epoch, then flat (0.5 % better is not enough).
  const metrics = [10, 9, 8.1, 8.06, 8.05, 8.04, 8.03, 8.03, 8.02];
  for (const m of metrics) {
    s.endEpoch(m);
    seen.push(s.lrForEpoch(1));
  }
  // Best 8.1 at the 3rd epoch; 6 bad epochs follow: reduced at the 9th.
  assert.deepEqual(seen.map((x) => x.toExponential(1)), [
    ...Array(8).fill('2.0e-4'), '4.0e-5']);
  assert.throws(() => s.endEpoch(NaN), /non-finite/);
});

test('scheduler state survives a JSON round trip', () => {
  const s = new LrScheduler({ ...paper, lrPolicy: 'plateau' });
  const fresh = JSON.parse(JSON.stringify(s.state()));
  assert.equal(schedulerStateFromJson(fresh).best, Infinity);
  for (let i = 0; i < 7; i++) s.endEpoch(5);
  const copy = new LrScheduler(s.options,
    schedulerStateFromJson(JSON.parse(JSON.stringify(s.state()))));
  for (let i = 0; i < 6; i++) {
    s.endEpoch(5);
    copy.endEpoch(5);
    assert.equal(copy.lrForEpoch(1), s.lrForEpoch(1));
  }
  near(s.lrForEpoch(1), 2e-4 * 0.2 * 0.2);
  assert.throws(() => new LrScheduler({ ...paper, lrPolicy: 'lambda' as
    never }), /lrPolicy 'lambda' is not one of linear, step, cosine/);
});
