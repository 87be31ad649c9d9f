// The native TensorFlow backend for tfjs-node, with an offline path.
//
// tfjs-node 4.22's own install script downloads libtensorflow 2.9.1 from
// Google's storage bucket; package.json denies that script (allowScripts),
// and this file does the job instead:
//
//   CYCLEGAN_NATIVE=auto      (default) keep a working binding; else try the
//                             official download; else build from the wheel
//   CYCLEGAN_NATIVE=download  the official download only
//   CYCLEGAN_NATIVE=wheel     the PyPI wheel only (offline, behind proxies)
//   CYCLEGAN_NATIVE=off       no native backend (pure-JS inference only)
//   CYCLEGAN_GPU=auto|on|off  GPU build where `nvidia-smi` lists a GPU
//
// The wheel path installs the TensorFlow wheel with pip into .venv/native/,
// points tfjs-node's deps/ folder at the wheel's C library and C API headers
// and compiles the addon from the binding sources the package ships.
import {
  copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { ROOT, VENV, run, venvPython, pythonEnv, step } from './common.mjs';

const require = createRequire(join(ROOT, 'package.json'));
const NAPI_VERSION = 8;

function gpuWanted() {
  const mode = process.env.CYCLEGAN_GPU ?? 'auto';
  if (mode === 'off') return false;
  const r = run('nvidia-smi', ['-L'], { quiet: true });
  const found = r.status === 0 && /GPU \d/.test(r.stdout);
  if (mode === 'on' && !found) {
    throw new Error('CYCLEGAN_GPU=on but `nvidia-smi -L` lists no GPU');
  }
  return found;
}

function packageDir(pkg) {
  return dirname(require.resolve(`${pkg}/package.json`));
}

/** Loads the binding in a child process and runs one conv on it. */
export function probe(pkg) {
  const code = `
    process.env.TF_CPP_MIN_LOG_LEVEL = '2';
    const tf = require(${JSON.stringify(pkg)});
    const y = tf.conv2d(tf.ones([1, 4, 4, 1]), tf.ones([3, 3, 1, 1]), 1,
      'same').sum().dataSync()[0];
    const b = tf.backend();
    console.log(JSON.stringify({ backend: tf.getBackend(), y,
      tf: b.binding.TF_Version, gpu: b.isUsingGpuDevice }));`;
  const r = run(process.execPath, ['-e', code], { quiet: true,
    timeoutMs: 120_000 });
  if (r.status !== 0) {
    const why = r.stderr.split('\n').find((l) => /Error/.test(l)) ?? '';
    return { ok: false, why: why.trim() };
  }
  const info = JSON.parse(r.stdout.trim().split('\n').pop());
  // A 3x3 ones kernel over a 4x4 ones image, zero-padded: 4 corners see 4
  // pixels, 8 edge positions 6, 4 inner ones 9: 16 + 48 + 36 = 100.
  return { ok: info.y === 100, ...info };
}

function tryOfficialDownload(pkg, gpu) {
  step(`trying ${pkg}'s own libtensorflow download`);
  const r = run(process.execPath,
    ['scripts/install.js', gpu ? 'gpu' : 'cpu', 'download'],
    { cwd: packageDir(pkg), quiet: true, timeoutMs: 300_000 });
  if (r.status !== 0) {
    const why = (r.stderr.match(/Error: .*/) ?? ['no details'])[0];
    step(`  the download failed (${why}); using the PyPI wheel instead`);
  }
  return probe(pkg);
}

function installWheel(gpu) {
  const target = join(VENV, 'native', gpu ? 'gpu' : 'cpu');
  const tfDir = join(target, 'tensorflow');
  if (!existsSync(join(tfDir, 'libtensorflow_cc.so.2'))) {
    const req = gpu ? 'requirements-native-gpu.txt' : 'requirements-native.txt';
    step(`installing the TensorFlow wheel from ${req} into ` +
      `.venv/native/${gpu ? 'gpu' : 'cpu'}/`);
    const args = ['-m', 'pip', 'install', '--quiet',
      '--disable-pip-version-check', '--target', target, '-r', join(ROOT, req)];
    // The CPU build needs only the wheel's own files; the GPU build also
    // needs the nvidia-* CUDA runtime wheels it depends on.
    if (!gpu) args.splice(3, 0, '--no-deps');
    run(venvPython(), args, { check: true, env: pythonEnv() });
  }
  return { target, tfDir };
}

/** Links deps/include and deps/lib of the tfjs-node package to the wheel. */
function linkDeps(pkgDir, wheel, gpu) {
  const deps = join(pkgDir, 'deps');
  rmSync(deps, { recursive: true, force: true });
  mkdirSync(join(deps, 'lib'), { recursive: true });
  symlinkSync(join(wheel.tfDir, 'include'), join(deps, 'include'));
  const links = {
    // binding.gyp links -ltensorflow -ltensorflow_framework; the loader then
    // looks for the sonames next to the addon ($ORIGIN/../../deps/lib).
    'libtensorflow.so': 'libtensorflow_cc.so.2',
    'libtensorflow_cc.so.2': 'libtensorflow_cc.so.2',
    'libtensorflow_framework.so': 'libtensorflow_framework.so.2',
    'libtensorflow_framework.so.2': 'libtensorflow_framework.so.2',
  };
  for (const [name, file] of Object.entries(links)) {
    symlinkSync(join(wheel.tfDir, file), join(deps, 'lib', name));
  }
  if (gpu) {
    // TensorFlow dlopens the CUDA libraries by soname, searching the
    // RUNPATH of libtensorflow_cc ($ORIGIN among others): put them there.
    const nvidia = join(wheel.target, 'nvidia');
    for (const sub of existsSync(nvidia) ? readdirSync(nvidia) : []) {
      const libDir = join(nvidia, sub, 'lib');
      if (!existsSync(libDir)) continue;
      for (const f of readdirSync(libDir)) {
        if (!/\.so(\.|$)/.test(f) || existsSync(join(deps, 'lib', f))) continue;
        symlinkSync(join(libDir, f), join(deps, 'lib', f));
      }
    }
  }
}

function nodeHeadersDir() {
  // Node's own headers ship with the Node install (include/node); pointing
  // node-gyp at them avoids its download of the headers tarball.
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  throw new Error(`no Node headers under ${prefix}/include/node; install ` +
    'the Node.js development headers (the Debian package nodejs-dev or the ' +
    'official Node.js tarball)');
}

function buildAddon(pkg, gpu) {
  const pkgDir = packageDir(pkg);
  const wheel = installWheel(gpu);
  linkDeps(pkgDir, wheel, gpu);
  step(`compiling ${pkg}'s addon against TensorFlow from the wheel`);
  const gyp = require.resolve('node-gyp/bin/node-gyp.js');
  const modulePath = join(pkgDir, 'lib', `napi-v${NAPI_VERSION}`);
  run(process.execPath, [gyp, 'rebuild', `--nodedir=${nodeHeadersDir()}`,
    '-j', 'max', '--module_name=tfjs_binding', `--module_path=${modulePath}`,
    `--napi_build_version=${NAPI_VERSION}`],
  { cwd: pkgDir, quiet: true, check: true });
  // Where tfjs-node's loader (node-pre-gyp) looks for the addon.
  mkdirSync(modulePath, { recursive: true });
  copyFileSync(join(pkgDir, 'build', 'Release', 'tfjs_binding.node'),
    join(modulePath, 'tfjs_binding.node'));
  return probe(pkg);
}

function removeBinding(pkg) {
  // Leave no half-installed addon behind that would throw on require().
  const dir = packageDir(pkg);
  rmSync(join(dir, 'lib', `napi-v${NAPI_VERSION}`), { recursive: true,
    force: true });
}

/**
 * Makes sure a native tfjs backend loads. Returns { ok, summary }; never
 * throws, so that a failure is one clear line and not a broken install.
 */
export function setupNative() {
  const mode = process.env.CYCLEGAN_NATIVE ?? 'auto';
  if (mode === 'off') {
    return { ok: false, summary: 'skipped (CYCLEGAN_NATIVE=off)' };
  }
  let gpu = false;
  let pkg = '@tensorflow/tfjs-node';
  try {
    gpu = gpuWanted();
    pkg = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    let info = probe(pkg);
    if (!info.ok && (mode === 'auto' || mode === 'download')) {
      info = tryOfficialDownload(pkg, gpu);
    }
    if (!info.ok && (mode === 'auto' || mode === 'wheel')) {
      info = buildAddon(pkg, gpu);
    }
    if (!info.ok) throw new Error(info.why || 'the addon did not load');
    return { ok: true, summary: `${pkg}, TensorFlow ${info.tf}, ` +
      (info.gpu ? 'GPU' : 'CPU') };
  } catch (err) {
    removeBinding(pkg);
    const msg = String(err.message).split('\n')[0];
    return { ok: false, summary: `${pkg} could not be set up (${msg}). ` +
      'Fix: make PyPI reachable and run `npm run setup`, or set ' +
      'CYCLEGAN_NATIVE=download where storage.googleapis.com is reachable.' };
  }
}
