// Small helpers shared by the project's set-up and run scripts.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (the folder holding package.json). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The project's own Python virtual environment. */
export const VENV = join(ROOT, '.venv');

export function venvPython() {
  return join(VENV, 'bin', 'python');
}

/**
 * Environment for Python and Jupyter processes: caches, config and runtime
 * files stay inside the project, and the kernels come from .venv/ only.
 */
export function pythonEnv(extra = {}) {
  const j = join(ROOT, '.jupyter');
  for (const d of ['config', 'data', 'runtime', 'ipython']) {
    mkdirSync(join(j, d), { recursive: true });
  }
  return {
    ...process.env,
    PIP_CACHE_DIR: join(ROOT, '.cache', 'pip'),
    JUPYTER_CONFIG_DIR: join(j, 'config'),
    JUPYTER_DATA_DIR: join(j, 'data'),
    JUPYTER_RUNTIME_DIR: join(j, 'runtime'),
    JUPYTER_PLATFORM_DIRS: '1',
    IPYTHONDIR: join(j, 'ipython'),
    PATH: `${join(VENV, 'bin')}:${join(ROOT, 'node_modules', '.bin')}:` +
      process.env.PATH,
    ...extra,
  };
}

export function step(message) {
  console.log(`[setup] ${message}`);
}

/**
 * Runs a command. `quiet` captures its output (returned), otherwise it is
 * shown; `check` turns a non-zero exit into an error naming the command.
 */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    stdio: opts.quiet ? 'pipe' : 'inherit',
    timeout: opts.timeoutMs,
  });
  if (opts.check && r.status !== 0) {
    const tail = (r.stderr || r.stdout || '').trim().split('\n').slice(-5);
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed` +
      (r.error ? ` (${r.error.message})` : ` with exit code ${r.status}`) +
      (tail.length && tail[0] ? ':\n  ' + tail.join('\n  ') : ''));
  }
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
