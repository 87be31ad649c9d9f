#!/usr/bin/env node
// `npm test`: compile, run the lib/ unit tests with node's test runner, then
// the notebook tests (canaries and the walkthrough, smoke profile) with
// pytest + nbval through tests/notebooks/conftest.py.
//
//   npm test               everything
//   npm test -- unit       unit tests only   (or: notebooks)
//   npm test -- notebooks 02 03   only these walkthrough notebooks
//   npm test -- workshop   the workshop kit's student notebooks only
//   npm test -- browser    the web page in headless Chromium only
import { readdirSync, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
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
  // One pytest run: the harness canaries, then every notebooks/NN-*.ipynb in
  // order, each in its own tslab kernel started in notebooks/ (nbval uses
  // the notebook's folder), through our plugin tests/notebooks/nbval_tslab.py
  // (failing cells, stderr, aborts; sanitize.cfg for checked outputs).
  const tests = join(ROOT, 'tests', 'notebooks');
  const nbDir = join(ROOT, 'notebooks');
  const picked = process.argv.slice(3);
  let notebooks = existsSync(nbDir)
    ? readdirSync(nbDir).filter((f) => /^\d\d-.*\.ipynb$/.test(f)).sort()
    : [];
  if (picked.length) {
    notebooks = notebooks.filter((f) => picked.some((p) => f.startsWith(p)));
    if (notebooks.length === 0) {
      console.error('[test] no notebooks/NN-*.ipynb starts with ' +
        picked.join(' or '));
      process.exit(2);
    }
  } else if (notebooks.length === 0) {
    console.log('[test] no walkthrough notebooks (notebooks/NN-*.ipynb) yet');
  }
  const targets = [
    ...(picked.length ? [] : [join('tests', 'notebooks', 'test_canaries.py')]),
    ...notebooks.map((f) => join('notebooks', f)),
  ];
  const r = run(venvPython(), ['-m', 'pytest', '-q', '-rfEs',
    '-p', 'no:cacheprovider', '-p', 'nbval_tslab', '--nbval-lax',
    // Smoke-profile training cells take about a minute on 2 cores.
    '--nbval-cell-timeout=900', ...targets], {
    env: pythonEnv({
      CYCLEGAN_PROFILE: env.CYCLEGAN_PROFILE,
      TF_CPP_MIN_LOG_LEVEL: env.TF_CPP_MIN_LOG_LEVEL,
      PYTHONPATH: [tests, process.env.PYTHONPATH].filter(Boolean)
        .join(delimiter),
    }),
  });
  failed ||= r.status !== 0;
}

if (!only || only === 'workshop') {
  // The student copies in workshop/, top to bottom in tslab kernels: with
  // the finished notebooks' answers every check passes; with the stubs
  // exactly the checks fail (tests/workshop/test_kit.py).
  const r = run(venvPython(), ['-m', 'pytest', '-q', '-rfEs',
    '-p', 'no:cacheprovider', join('tests', 'workshop', 'test_kit.py')], {
    env: pythonEnv({
      CYCLEGAN_PROFILE: env.CYCLEGAN_PROFILE,
      TF_CPP_MIN_LOG_LEVEL: env.TF_CPP_MIN_LOG_LEVEL,
    }),
  });
  failed ||= r.status !== 0;
}

if (!only || only === 'browser') {
  // The web page end to end in headless Chromium (Debian's chromium, which
  // .ci/run installs), driven by playwright-core: tests/browser/.
  const dir = join(ROOT, 'build', 'tests', 'browser');
  const files = existsSync(dir) ? readdirSync(dir)
    .filter((f) => f.endsWith('.test.js')).sort().map((f) => join(dir, f)) :
    [];
  if (files.length === 0) {
    console.error(`[test] no browser tests in ${dir}`);
    failed = true;
  } else {
    const r = run(process.execPath, ['--test', '--test-concurrency=1',
      ...files], { env });
    failed ||= r.status !== 0;
  }
}
process.exit(failed ? 1 : 0);
