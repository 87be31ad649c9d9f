import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../../lib/backend';
import { saveCheckpoint } from '../../lib/checkpoint';
import { defineG } from '../../lib/networks';
import { loadGenerators, outputStems, translatePath, translateImages,
  resultsPage } from '../../lib/inference';
import { decodeImage } from '../../lib/image';

let root: string;
let ckpt: string;

before(async () => {
  await initBackend('inference', 'native', { quiet: true });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-infer-'));
  const g = (seed: number, name: string) => defineG({ ngf: 4,
    netG: 'resnet_6blocks', seed, name });
  const networks = { generatorAtoB: g(1, 'generatorAtoB'),
    generatorBtoA: g(2, 'generatorBtoA') };
  ckpt = await saveCheckpoint(path.join(root, 'ckpt'), 'latest',
    { networks, tensors: {}, state: {} });
  fs.writeFileSync(path.join(root, 'ckpt', 'opt.json'), JSON.stringify({
    netG: 'resnet_6blocks', ngf: 4, inputNc: 3, outputNc: 3 }));
  Object.values(networks).forEach((m) => m.dispose());
  // Inputs of odd sizes and three formats.
  const input = path.join(root, 'in');
  fs.mkdirSync(input);
  const noise = (w: number, h: number) => sharp(Buffer.from(
    Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256)),
  { raw: { width: w, height: h, channels: 3 } });
  await noise(35, 33).png().toFile(path.join(input, 'odd.png'));
  await noise(20, 12).jpeg().toFile(path.join(input, 'wide.jpg'));
  await noise(9, 17).webp({ lossless: true }).toFile(
    path.join(input, 'tall.webp'));
  fs.writeFileSync(path.join(input, '.DS_Store'), 'junk');
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

test('a folder of any sizes is translated, sizes kept, page written',
  async () => {
    const out = path.join(root, 'out');
    const before = tf.memory().numTensors;
    const written = await translatePath({ checkpoint: ckpt,
      direction: 'AtoB', input: path.join(root, 'in'), out, batchSize: 2 });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(written.map((w) => path.basename(w.input)),
      ['odd.png', 'tall.webp', 'wide.jpg']);
    const sizes = await Promise.all(written.map(async (w) => {
      const m = await sharp(path.join(out, w.fake)).metadata();
      const r = await sharp(path.join(out, w.rec)).metadata();
      return [m.width, m.height, r.width, r.height];
    }));
    assert.deepEqual(sizes, [[35, 33, 35, 33], [9, 17, 9, 17],
      [20, 12, 20, 12]]);
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    assert.equal((html.match(/<tr><td>/g) ?? []).length, 3);
    assert.match(html, /odd_fake\.png/);
  });

test('files hold exactly what the generators give; JPEG on request',
  async () => {
    const src = path.join(root, 'in', 'odd.png');
    const [w] = await translatePath({ checkpoint: ckpt, direction: 'BtoA',
      input: src, out: path.join(root, 'png') });
    const loaded = await loadGenerators(ckpt);
    const [t] = translateImages([await decodeImage(src)],
      loaded.generators.BtoA, loaded.generators.AtoB);
    loaded.dispose();
    const fake = await decodeImage(path.join(root, 'png', w.fake));
    const rec = await decodeImage(path.join(root, 'png', w.rec));
    assert.deepEqual(fake.data, t.fake.data);
    assert.deepEqual(rec.data, t.rec.data);
    const [j] = await translatePath({ checkpoint: ckpt, direction: 'BtoA',
      input: src, out: path.join(root, 'jpeg'), format: 'jpeg' });
    assert.equal(j.fake, 'odd_fake.jpg');
    assert.equal((await sharp(path.join(root, 'jpeg', j.fake)).metadata())
      .format, 'jpeg');
  });

test('clear errors for a missing or mismatched checkpoint', async () => {
  await assert.rejects(loadGenerators(path.join(root, 'nope')),
    /checkpoint folder .*nope does not exist/);
  await assert.rejects(loadGenerators(ckpt, { netG: 'unet_256' }),
    /holds a resnet_6blocks generator, not the unet_256 asked for/);
  await assert.rejects(loadGenerators(ckpt, { inputNc: 1 }),
    /AtoB generator takes 3-channel images, not 1/);
  const empty = path.join(root, 'empty');
  fs.mkdirSync(empty);
  await assert.rejects(loadGenerators(empty),
    /no network 'generatorAtoB' in .*empty/);
});

test('the results page escapes file names', () => {
  const html = resultsPage('t', [{ input: '/x/<b>.png', real: 'a.png',
    fake: 'b.png', rec: 'c.png' }], 'AtoB');
  assert.match(html, /&#60;b&#62;\.png/);
  assert.doesNotMatch(html, /<b>/);
  // Image addresses are URL-encoded: '#' and '?' stay part of the name.
  const page = resultsPage('t', [{ input: 'x', real: 'a#1?.png',
    fake: 'b.png', rec: 'c.png' }], 'AtoB');
  assert.match(page, /src="a%231%3F\.png"/);
});

test('inputs sharing a name get distinct outputs', async () => {
  assert.deepEqual(outputStems(['/x/a.png', '/x/a.JPG', '/x/b.png']),
    ['a_png', 'a_jpg', 'b']);
  const input = path.join(root, 'same');
  fs.mkdirSync(input);
  fs.copyFileSync(path.join(root, 'in', 'odd.png'), path.join(input, 'a.png'));
  await sharp(path.join(root, 'in', 'odd.png')).jpeg().toFile(
    path.join(input, 'a.jpg'));
  const out = path.join(root, 'same-out');
  const written = await translatePath({ checkpoint: ckpt, direction: 'AtoB',
    input, out });
  assert.deepEqual(written.map((w) => w.fake), ['a_jpg_fake.png',
    'a_png_fake.png']);
  assert.ok(written.every((w) => fs.existsSync(path.join(out, w.fake))));
});

test('a run folder means its latest checkpoint; big images are refused',
  async () => {
    const loaded = await loadGenerators(path.join(root, 'ckpt'));
    assert.equal(loaded.dir, ckpt);
    loaded.dispose();
    await assert.rejects(translatePath({ checkpoint: ckpt, direction: 'AtoB',
      input: path.join(root, 'in', 'odd.png'), out: path.join(root, 'big'),
      maxPixels: 1000 }), /odd\.png has more than 1,000 pixels; scale it down/);
  });

test('translate CLI: --evaluate with --input/--out, or --max-pairs without ' +
  '--evaluate, is refused before anything loads', async () => {
  const { spawnSync } = await import('node:child_process');
  const cli = path.join(__dirname, '..', '..', 'lib', 'cli', 'translate.js');
  const run = (...args: string[]) => spawnSync(process.execPath,
    [cli, ...args], { encoding: 'utf8' });
  const both = run('--evaluate', 'data/emoji64', '--input', 'x.png');
  assert.equal(both.status, 1);
  assert.match(both.stderr, /--evaluate scores the test pairs .* drop --input\/--out/);
  const pairs = run('--input', 'x.png', '--out', 'o', '--max-pairs', '3');
  assert.equal(pairs.status, 1);
  assert.match(pairs.stderr, /--max-pairs applies to --evaluate only/);
});
