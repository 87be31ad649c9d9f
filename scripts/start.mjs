#!/usr/bin/env node
// `npm start`, the main job: executes the walkthrough notebooks headless,
// in order, with the `emoji` profile (CYCLEGAN_PROFILE overrides), writing
// the executed copies and everything they produce under out/ (CYCLEGAN_OUT
// overrides).
import {
  existsSync, readdirSync, readFileSync, mkdirSync, rmSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT, run } from './common.mjs';

const profile = process.env.CYCLEGAN_PROFILE ?? 'emoji';
const out = resolve(process.env.CYCLEGAN_OUT ?? join(ROOT, 'out'));
mkdirSync(out, { recursive: true });
const dir = join(ROOT, 'notebooks');
const notebooks = readdirSync(dir).filter((f) => /^\d\d-.*\.ipynb$/.test(f))
  .sort().map((f) => join(dir, f));
if (!existsSync(join(ROOT, 'build', 'lib', 'backend.js'))) {
  console.error('[start] build/ is missing: run `npm install` first');
  process.exit(1);
}
// A table left by an earlier run must not pass for this run's.
const metrics = join(out, 'metrics.txt');
rmSync(metrics, { force: true });
const started = Date.now();
console.log(`[start] ${notebooks.length} notebooks, profile ${profile}, ` +
  `outputs in ${out}`);
const r = run(process.execPath, [join(ROOT, 'scripts', 'nb.mjs'),
  '--profile', profile, '--out', join(out, 'notebooks'), ...notebooks],
{ env: { ...process.env, CYCLEGAN_OUT: out } });
const minutes = ((Date.now() - started) / 60000).toFixed(1);
console.log(r.status === 0
  ? `[start] done in ${minutes} min; executed notebooks in ${out}/notebooks`
  : `[start] failed after ${minutes} min`);
// The job ends with the metrics table that notebook 05 writes.
if (r.status === 0 && existsSync(metrics)) {
  const table = readFileSync(metrics, 'utf8').trimEnd();
  console.log(`[start] ${metrics}:\n${table}`);
}
process.exit(r.status ?? 1);
