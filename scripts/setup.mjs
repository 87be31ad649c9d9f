#!/usr/bin/env node
// One-command set-up, run by `npm install` (postinstall) or `npm run setup`.
//
//   1. a Python virtual environment in .venv/ from requirements-an.txt
//   2. the native TensorFlow backend for tfjs-node (see native.mjs)
//   3. the tslab Jupyter kernel spec inside .venv/, pointing at our tslab
//   4. lib/ compiled to build/ so that notebooks can import it
//
// Everything is written inside the project folder. Each step is skipped
// when its result is already there and working, so re-running is cheap.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, VENV, run, venvPython, pythonEnv, step } from './common.mjs';
import { setupNative } from './native.mjs';

function findPython() {
  const candidates = [process.env.CYCLEGAN_PYTHON, 'python3.11', 'python3']
    .filter(Boolean);
  for (const exe of candidates) {
    const r = run(exe, ['-c',
      'import sys; print("%d.%d" % sys.version_info[:2])'], { quiet: true });
    if (r.status === 0) {
      const [maj, min] = r.stdout.trim().split('.').map(Number);
      if (maj === 3 && min >= 10) return exe;
    }
  }
  throw new Error('no Python 3.10+ found (tried ' + candidates.join(', ') +
    '); install Python 3.11 or set CYCLEGAN_PYTHON to its path');
}

function setupPython() {
  if (!existsSync(venvPython())) {
    const python = findPython();
    step(`creating the Python environment .venv/ with ${python}`);
    run(python, ['-m', 'venv', VENV], { check: true });
  }
  step('installing requirements-an.txt into .venv/');
  run(venvPython(), ['-m', 'pip', 'install', '--quiet',
    '--disable-pip-version-check', '-r', join(ROOT, 'requirements-an.txt')],
    { check: true, env: pythonEnv() });
}

function setupKernel() {
  const tslab = join(ROOT, 'node_modules', '.bin', 'tslab');
  step('installing the tslab kernel spec into .venv/share/jupyter/kernels');
  run(tslab, ['install', '--python', venvPython(), '--prefix', VENV,
    '--binary', tslab], { check: true, quiet: true, env: pythonEnv() });
}

function buildLib() {
  step('compiling lib/ to build/');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  run(process.execPath, [tsc, '-p', ROOT], { check: true });
}

function main() {
  mkdirSync(join(ROOT, '.cache'), { recursive: true });
  setupPython();
  const native = setupNative();
  setupKernel();
  buildLib();
  console.log('');
  console.log(native.ok
    ? `[setup] done: native backend ${native.summary}`
    : `[setup] done WITHOUT a native backend: ${native.summary}`);
}

try {
  main();
} catch (err) {
  console.error(`[setup] failed: ${err.message}`);
  process.exit(1);
}
