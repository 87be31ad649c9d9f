// The web page in headless Chromium, end to end: `npm run web` exports a
// small generator pair (random weights) from a training checkpoint as
// float32 and serves the page; the test uploads a real Twemoji raster and
// checks the translated and reconstructed pixels against Node inference
// of the same exported model, on each backend the page can use, then
// feeds it bad input and a model that fails to load.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { Page } from 'playwright-core';
import { initBackend } from '../../lib/backend';
import { saveCheckpoint } from '../../lib/checkpoint';
import { rasteriseSvg, twemojiDir } from '../../lib/emoji';
import { loadExportedModel } from '../../lib/export';
import { decodeImage, RawImage, rawToTensor, tensorToRaw } from
  '../../lib/image';
import { defineG } from '../../lib/networks';
import type {} from '../../web/plan'; // declares window.cyclegan
import { Chromium, launchChromium, ROOT, startWebServer, WebServer } from
  './harness';

/** The training size written into the test checkpoint's opt.json. */
const SIZE = 64;
/** Where the screenshot is kept for people to look at. */
const SCREENSHOT = path.join(ROOT, 'build', 'artifacts', 'web.png');

let tmp: string;
let server: WebServer;
let browser: Chromium;
const generators: Record<'AtoB' | 'BtoA', tf.LayersModel | undefined> =
  { AtoB: undefined, BtoA: undefined };
/** Every URL the browser asked for during the whole suite. */
const requested: string[] = [];
const files: Record<string, string> = {};

before(async () => {
  await initBackend('inference', 'native', { quiet: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'web-test-'));
  // A real generator architecture (resnet_9blocks) at ngf 8 so the
  // browser runs it in well under a second; gain 0.05 keeps the outputs
  // spread over mid-tones, where a wrong pixel shows.
  // `npm run web -- --checkpoints <dir>` exports <dir>/test/ (a training
  // run folder: latest/ and opt.json) as the page's model 'test'.
  const run = path.join(tmp, 'checkpoints', 'test');
  const networks = {
    generatorAtoB: defineG({ ngf: 8, seed: 31, initGain: 0.05 }),
    generatorBtoA: defineG({ ngf: 8, seed: 32, initGain: 0.05 }),
  };
  await saveCheckpoint(run, 'latest', { networks, tensors: {},
    state: { iterations: 0 } });
  fs.writeFileSync(path.join(run, 'opt.json'),
    JSON.stringify({ cropSize: SIZE, dataroot: 'data/emoji64',
      direction: 'AtoB' }));
  Object.values(networks).forEach((m) => m.dispose());

  // A real emoji from the test split (cat face), rasterised as the data
  // set is; a wide one; a text file; bytes that claim to be a PNG; an
  // image over the page's pixel limit.
  const cat = path.join(twemojiDir(), '1f431.svg');
  files.emoji = path.join(tmp, 'cat.png');
  fs.writeFileSync(files.emoji, await rasteriseSvg(cat, SIZE));
  files.wide = path.join(tmp, 'wide.png');
  await sharp(await rasteriseSvg(cat, SIZE)).resize(50, 30, { fit: 'fill' })
    .png().toFile(files.wide);
  files.text = path.join(tmp, 'notes.txt');
  fs.writeFileSync(files.text, 'not an image\n');
  files.fake = path.join(tmp, 'broken.png');
  fs.writeFileSync(files.fake, Buffer.from('this is not PNG data at all'));
  files.huge = path.join(tmp, 'huge.png');
  await sharp({ create: { width: 6000, height: 5000, channels: 3,
    background: '#7799cc' } }).png().toFile(files.huge);

  const site = path.join(ROOT, 'build', 'site-test');
  server = await startWebServer(['--port', '0', '--out', site,
    '--checkpoints', path.join(tmp, 'checkpoints'), '--dtype', 'float32']);
  for (const direction of ['AtoB', 'BtoA'] as const) {
    generators[direction] = await loadExportedModel(path.join(site,
      'models', 'test', direction));
  }
  browser = await launchChromium();
  browser.context.on('request', (r) => requested.push(r.url()));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  Object.values(generators).forEach((m) => m?.dispose());
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function openPage(query = ''): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(server.url + query);
  await page.evaluate(() => window.cyclegan.ready);
  return page;
}

/** RGB bytes of a canvas of the page. */
async function canvasRgb(page: Page, id: string): Promise<RawImage> {
  const { w, h, rgba } = await page.evaluate((canvasId) => {
    const c = document.getElementById(canvasId) as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
    return { w: c.width, h: c.height, rgba: Array.from(d.data) };
  }, id);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    data.set(rgba.slice(4 * i, 4 * i + 3), 3 * i);
  }
  return { data, width: w, height: h, channels: 3 };
}

/** Node inference of an exported generator on 8-bit RGB. */
function nodeTranslate(direction: 'AtoB' | 'BtoA', img: RawImage): RawImage {
  const y = tf.tidy(() => generators[direction]!.predict(
    rawToTensor(img).expandDims(0)) as tf.Tensor4D);
  try {
    return tensorToRaw(y);
  } finally {
    y.dispose();
  }
}

/** Mean |a − b| per channel, in 8-bit levels, and the largest. */
function difference(a: RawImage, b: RawImage): { perChannel: number[];
  max: number } {
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  const sums = [0, 0, 0];
  let max = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    sums[i % 3] += d;
    max = Math.max(max, d);
  }
  return { perChannel: sums.map((s) => s / (a.width * a.height)), max };
}

async function upload(page: Page, file: string): Promise<void> {
  await page.setInputFiles('#file-input', file);
}

async function waitDone(page: Page): Promise<void> {
  await page.waitForSelector('#results[data-state=done]',
    { timeout: 30_000 });
}

/**
 * Uploads the emoji, waits for the result, and checks the translation and
 * the reconstruction against Node: mean difference under 2 levels (2/255)
 * in each channel. Returns the page's translation.
 */
async function checkAgainstNode(page: Page, label: string):
    Promise<RawImage> {
  await upload(page, files.emoji);
  await waitDone(page);
  const original = await canvasRgb(page, 'canvas-original');
  const expected = await decodeImage(files.emoji);
  assert.deepEqual(original.data, expected.data,
    `${label}: the page drew the uploaded pixels unchanged`);
  const fake = await canvasRgb(page, 'canvas-translation');
  const fakeDiff = difference(fake, nodeTranslate('AtoB', expected));
  const rec = await canvasRgb(page, 'canvas-reconstruction');
  // The page reconstructs from its own 8-bit translation, so does Node.
  const recDiff = difference(rec, nodeTranslate('BtoA', fake));
  for (const [what, d] of [['translation', fakeDiff],
    ['reconstruction', recDiff]] as const) {
    assert.ok(d.perChannel.every((v) => v < 2), `${label} ${what}: mean ` +
      `difference per channel ${d.perChannel.map((v) => v.toFixed(3))} ` +
      `levels (max ${d.max}), expected < 2`);
  }
  console.log(`# ${label}: translation vs Node, mean per channel ` +
    `${fakeDiff.perChannel.map((v) => v.toFixed(3)).join('/')} levels, ` +
    `max ${fakeDiff.max}; reconstruction ` +
    `${recDiff.perChannel.map((v) => v.toFixed(3)).join('/')}, max ` +
    `${recDiff.max}`);
  // A random-weight generator does change the image.
  assert.ok(difference(fake, expected).max > 50, `${label}: translated`);
  return fake;
}

describe('web page in headless Chromium', { timeout: 120_000 }, () => {
  test('loads both generators and offers the samples', async () => {
    const page = await openPage();
    assert.equal(await page.getAttribute('body', 'data-state'), 'ready');
    const backend = await page.evaluate(() => window.cyclegan.backend());
    assert.ok(['webgl', 'wasm', 'cpu'].includes(backend), backend);
    const status = await page.textContent('#model-status');
    assert.match(status!, /Twemoji \(A\) ↔ OpenMoji \(B\), AtoB and BtoA/);
    assert.match(status!, /trained at 64×64 px, float32 weights/);
    assert.match((await page.textContent('#label-AtoB'))!,
      /Twemoji → OpenMoji/);
    assert.equal(await page.locator('#sample-list button').count(), 12);
    await page.close();
  });

  test('translates an uploaded emoji as Node does; PNG download',
    async () => {
      const page = await openPage();
      const backend = await page.evaluate(() => window.cyclegan.backend());
      const fake = await checkAgainstNode(page, `auto (${backend})`);
      const tensors = await page.evaluate(() => window.cyclegan.numTensors());

      const [download] = await Promise.all([page.waitForEvent('download'),
        page.click('#download')]);
      assert.equal(download.suggestedFilename(), 'cat-AtoB.png');
      const png = await decodeImage(fs.readFileSync(
        (await download.path())!));
      assert.deepEqual([png.width, png.height], [SIZE, SIZE]);
      assert.deepEqual(png.data, fake.data, 'the PNG holds the translation');

      const details = await page.textContent('#details');
      assert.match(details!,
        /Time: translation \d+ ms, reconstruction \d+ ms at 64×64/);
      // The other direction, then a sample: no tensor left behind.
      await page.check('input[name=direction][value=BtoA]');
      await waitDone(page);
      await page.click('#sample-list button[data-domain=B]');
      await waitDone(page);
      // The results panel may still say 'done' for the run before the
      // click: wait until the details describe the 128 px sample.
      await page.waitForFunction(() => /Resized from 128×128 to 64×64/.test(
        document.getElementById('details')?.textContent ?? ''), null,
      { timeout: 30_000 });
      assert.match((await page.textContent('#details'))!,
        /Resized from 128×128 to 64×64/);
      assert.equal(await page.evaluate(() => window.cyclegan.numTensors()),
        tensors);
      await page.check('input[name=direction][value=AtoB]');
      await upload(page, files.emoji);
      await waitDone(page);
      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      await page.close();
    });

  for (const backend of ['wasm', 'cpu', 'webgl']) {
    test(`the same pixels on the ${backend} backend`, async () => {
      const page = await openPage(`?backend=${backend}`);
      assert.equal(await page.evaluate(() => window.cyclegan.backend()),
        backend);
      await checkAgainstNode(page, backend);
      await page.close();
    });
  }

  test('an odd size at its own size: same size out, padding said',
    async () => {
      const page = await openPage();
      await page.selectOption('#work-size', 'original');
      await upload(page, files.wide);
      await waitDone(page);
      const fake = await canvasRgb(page, 'canvas-translation');
      assert.deepEqual([fake.width, fake.height], [50, 30]);
      const d = difference(fake, nodeTranslate('AtoB',
        await decodeImage(files.wide)));
      assert.ok(d.perChannel.every((v) => v < 2), `${d.perChannel}`);
      assert.match((await page.textContent('#details'))!, new RegExp(
        'pads 50×30 to 52×32 \\(reflection, to a multiple of 4, at least ' +
        '8\\) and crops the result back'));
      await page.close();
    });

  test('bad files get a clear message and the page keeps working',
    async () => {
      const page = await openPage();
      await upload(page, files.text);
      await page.waitForSelector('#message[data-kind=error]');
      assert.match((await page.textContent('#message'))!,
        /“notes\.txt” is not an image \(its type is text\/plain\)/);
      await upload(page, files.fake);
      await page.waitForSelector('#message:has-text("broken.png")');
      assert.match((await page.textContent('#message'))!,
        /“broken\.png” is not an image this browser can read/);
      await upload(page, files.huge);
      await page.waitForSelector('#message:has-text("huge.png")');
      assert.match((await page.textContent('#message'))!, new RegExp(
        '“huge\\.png” is too large to process: 6000×5000 \\(30\\.0 ' +
        'megapixels\\)'));
      assert.equal(await page.getAttribute('#results', 'data-state'),
        'empty');
      // Still working: a Twemoji SVG file dropped on the drop zone (it
      // has no intrinsic size, so it is drawn at the training size).
      const svg = fs.readFileSync(path.join(twemojiDir(), '1f431.svg'));
      const dataTransfer = await page.evaluateHandle((text) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], 'cat.svg', { type: 'image/svg+xml' }));
        return dt;
      }, svg.toString('utf8'));
      await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer });
      await waitDone(page);
      assert.equal(await page.isHidden('#message'), true);
      const drawn = await canvasRgb(page, 'canvas-original');
      assert.deepEqual([drawn.width, drawn.height], [SIZE, SIZE]);
      // The cat's orange face fills the middle, not a blank canvas.
      const mid = 3 * (SIZE * SIZE / 2 + SIZE / 2);
      assert.ok(drawn.data[mid] > 200 && drawn.data[mid + 2] < 150,
        `centre pixel ${drawn.data.subarray(mid, mid + 3)}`);
      await page.close();
    });

  test('a model that fails to load: a message, and the page still works',
    async () => {
      const page = await browser.context.newPage();
      await page.route('**/models/test/AtoB/*.bin',
        (route) => route.fulfill({ status: 404, body: 'gone' }));
      await page.goto(server.url);
      await page.evaluate(() => window.cyclegan.ready);
      assert.equal(await page.getAttribute('body', 'data-state'),
        'model-error');
      assert.match((await page.textContent('#model-status'))!, new RegExp(
        'The model failed to load: the AtoB generator ' +
        '\\(models/test/AtoB/model\\.json\\) failed to load'));
      await upload(page, files.emoji);
      await page.waitForSelector('#results[data-state=error]');
      const original = await canvasRgb(page, 'canvas-original');
      assert.deepEqual([original.width, original.height], [SIZE, SIZE]);
      assert.match((await page.textContent('#message'))!,
        /No model is loaded, so the image cannot be translated/);
      await page.close();
    });

  test('every request went to the page’s own server', () => {
    assert.ok(requested.length > 10, `${requested.length} requests`);
    const outside = requested.filter((u) => !u.startsWith(server.url) &&
      !u.startsWith('blob:') && !u.startsWith('data:'));
    assert.deepEqual(outside, []);
    for (const f of ['app.js', 'wasm/', 'models/test/AtoB/model.json',
      'samples/']) {
      assert.ok(requested.some((u) => u.startsWith(server.url + f)), f);
    }
  });
});
