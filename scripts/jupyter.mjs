#!/usr/bin/env node
// `npm run lab`: JupyterLab from .venv/ on 127.0.0.1, opened on notebooks/,
// with the tslab (TypeScript) kernel the notebooks name in their metadata.
// `--folder workshop` (npm run workshop:lab) opens it on workshop/ instead.
import { join } from 'node:path';
import { ROOT, run, venvPython, pythonEnv } from './common.mjs';

const args = process.argv.slice(2);
let folder = 'notebooks';
const at = args.indexOf('--folder');
if (at >= 0) [, folder] = args.splice(at, 2);
const r = run(venvPython(), ['-m', 'jupyter', ...(args.length ? args : ['lab']),
  '--ServerApp.ip=127.0.0.1', `--ServerApp.root_dir=${ROOT}`,
  `--LabApp.default_url=/lab/tree/${folder}`,
  '--MappingKernelManager.default_kernel_name=tslab',
  // Containers and CI machines often run as root, which Jupyter refuses.
  ...(process.getuid?.() === 0 ? ['--allow-root'] : [])],
{ env: pythonEnv() });
process.exit(r.status ?? 1);
