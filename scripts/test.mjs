#!/usr/bin/env node
// `npm test`: compile, run the lib/ unit tests with node's test runner, then
// the notebook tests (canaries and the walkthrough, smoke profile) with
// pytest + nbval through tests/notebooks/conftest.py.
//
//   npm test               everything
//   npm test -- unit       unit tests only   (or: notebooks)
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run, venvPython, pythonEnv } from './common.mjs';

const only = process.argv[2];
const env = { ...process.env, CYCLEGAN_PROFILE: 'smoke',
  TF_CPP_MIN_LOG_LEVEL: '2' };
let failed = false;

const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
run(process.execPath, [tsc, '-p', ROOT], { check: true });

if (!only || only === 'unit') {
  const dir = join(ROOT, 'build', 'tests', 'unit');
  const files = readdirSync(dir).filter((f) => f.endsWith('.test.js'))
    .sort().map((f) => join(dir, f));
  const r = run(process.execPath, ['--test', '--test-concurrency=1',
    ...files], { env });
  failed ||= r.status !== 0;
}

if (!only || only === 'notebooks') {
  const tests = join(ROOT, 'tests', 'notebooks');
  if (existsSync(tests)) {
    const r = run(venvPython(), ['-m', 'pytest', '-q', '-p', 'no:cacheprovider',
      tests], { env: pythonEnv(env) });
    failed ||= r.status !== 0;
  }
}
process.exit(failed ? 1 : 0);
