#!/usr/bin/env node
// Executes notebooks headless with the project's kernel and environment.
//
//   node scripts/nb.mjs [--profile emoji] [--out DIR] NOTEBOOK...
//
// Without --out the notebooks are executed in place (to refresh the outputs
// committed with them); with --out the executed copies go to DIR. Each runs
// with its own folder as the working directory; a failing cell stops the
// run with a non-zero exit.
import { basename, dirname, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { run, venvPython, pythonEnv } from './common.mjs';

const args = process.argv.slice(2);
let profile = process.env.CYCLEGAN_PROFILE ?? 'emoji';
let out;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--profile') profile = args[++i];
  else if (args[i] === '--out') out = resolve(args[++i]);
  else files.push(resolve(args[i]));
}
if (files.length === 0) {
  console.error('usage: node scripts/nb.mjs [--profile P] [--out DIR] NB...');
  process.exit(2);
}
if (out) mkdirSync(out, { recursive: true });
for (const nb of files) {
  const started = Date.now();
  console.log(`[nb] ${basename(nb)} (profile ${profile}) ...`);
  const target = out ? ['--output-dir', out] : ['--inplace'];
  const r = run(venvPython(), ['-m', 'jupyter', 'nbconvert', '--to',
    'notebook', '--execute', ...target,
    '--ExecutePreprocessor.kernel_name=tslab',
    '--ExecutePreprocessor.timeout=3600', nb],
  { env: pythonEnv({ CYCLEGAN_PROFILE: profile }), cwd: dirname(nb) });
  if (r.status !== 0) {
    console.error(`[nb] ${basename(nb)} failed`);
    process.exit(1);
  }
  console.log(`[nb] ${basename(nb)} done in ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s`);
}
