#!/usr/bin/env node
// `npm run bench:workshop`: bench/workshop.py with the project's venv.
import { join } from 'node:path';
import { ROOT, run, venvPython, pythonEnv } from '../scripts/common.mjs';

const r = run(venvPython(), ['-u', join(ROOT, 'bench', 'workshop.py')],
  { env: pythonEnv({ TF_CPP_MIN_LOG_LEVEL: '2' }) });
process.exit(r.status ?? 1);
