#!/usr/bin/env node
// `npm run web`: builds the web page (web/build.mjs) into build/site/ and
// serves it on 127.0.0.1, printing the address.
//
//   npm run web                       build, export models/emoji/, serve :8080
//   npm run web -- --port 0           any free port
//   npm run web -- --dtype float32    export float32 weights (or uint8...)
//   npm run web -- --checkpoints <dir>  export the checkpoints in <dir>/<id>/
//                                       (default models/, e.g. models/emoji/)
//   npm run web -- --models <dir>     ship models already exported there
//   npm run web -- --build-only       build, do not serve
import { parseArgs } from 'node:util';
import * as path from 'node:path';
import { buildWeb, DEFAULT_OUT } from '../web/build.mjs';
import { serve } from '../web/serve.mjs';

const DTYPES = ['float32', 'float16', 'uint16', 'uint8'];

function usage(message) {
  console.error(`web: ${message}\nusage: npm run web -- [--port N] ` +
    '[--out DIR] [--checkpoints DIR | --models DIR] [--dtype ' +
    DTYPES.join('|') + '] ' +
    '[--build-only] [--no-minify]');
  process.exit(2);
}

let args;
try {
  args = parseArgs({ options: {
    port: { type: 'string', default: '8080' },
    out: { type: 'string' },
    models: { type: 'string' },
    checkpoints: { type: 'string' },
    dtype: { type: 'string', default: 'float16' },
    'build-only': { type: 'boolean', default: false },
    'no-minify': { type: 'boolean', default: false },
  } }).values;
} catch (e) {
  usage(e.message);
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  usage(`--port expects 0..65535, got '${args.port}'`);
}
if (args.models && args.checkpoints) {
  usage('give --checkpoints or --models, not both');
}
if (!DTYPES.includes(args.dtype)) {
  usage(`--dtype expects one of ${DTYPES.join(', ')}, got '${args.dtype}'`);
}

try {
  const { out } = await buildWeb({
    out: args.out ? path.resolve(args.out) : DEFAULT_OUT,
    modelsFrom: args.models ? path.resolve(args.models) : undefined,
    checkpointsRoot: args.checkpoints ? path.resolve(args.checkpoints) :
      undefined,
    dtype: args.dtype, minify: !args['no-minify'],
  });
  if (!args['build-only']) {
    const server = await serve(out, { port });
    console.log(`[web] serving ${path.relative(process.cwd(), out) || out} ` +
      `at ${server.url} (127.0.0.1 only; Ctrl-C to stop)`);
    const stop = async () => {
      await server.close();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  }
} catch (e) {
  console.error(`web: ${e.message}`);
  process.exit(1);
}
