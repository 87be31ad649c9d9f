// The embedded emoji dataset: code point matching, the fixed split, the
// rasters, and a small build (layout, manifest, pairs, skip and repair).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeImage } from '../../lib/image';
import {
  buildEmojiDataset, ensureEmojiDataset, fnv1a, listEmojiSources,
  normalizeCodePoint, openmojiDir, planEmojiDataset, rasteriseSvg,
  readEmojiManifest, readEmojiPairs, splitOf, twemojiDir,
} from '../../lib/emoji';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclegan-emoji-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('code points: case folded, fe0f dropped, leading zeros ignored', () => {
  assert.equal(normalizeCodePoint('1F600.svg'), '1f600');
  assert.equal(normalizeCodePoint('2764-FE0F-200D-1F525.svg'),
    '2764-200d-1f525');
  assert.equal(normalizeCodePoint('0023-FE0F-20E3.svg'), '23-20e3');
  assert.equal(normalizeCodePoint('23-20e3.svg'), '23-20e3');
  assert.throws(() => normalizeCodePoint('license.svg'),
    /'license.svg' is not a code point file name/);
});

test('the two sets share 3,690 code points (3,676 by name alone)', () => {
  const src = listEmojiSources();
  assert.equal(src.shared.length, 3690);
  assert.ok(src.shared.every((s) => s.svgA!.startsWith(twemojiDir()) &&
    s.svgB!.startsWith(openmojiDir())));
  // Matching file names with only fe0f dropped and case folded misses the
  // zero-padded keycaps, (c) and (R): 14 fewer.
  const key = (f: string) => f.replace(/\.svg$/, '').toLowerCase()
    .split('-').filter((p) => p !== 'fe0f').join('-');
  const a = new Set(fs.readdirSync(twemojiDir()).filter((f) =>
    f.endsWith('.svg')).map(key));
  const b = fs.readdirSync(openmojiDir()).filter((f) => f.endsWith('.svg'))
    .map(key);
  assert.equal(b.filter((k) => a.has(k)).length, 3676);
  assert.deepEqual([src.onlyA.length, src.onlyB.length], [29, 438]);
});

test('the split is a fixed hash rule, about 10 % test', () => {
  // FNV-1a test vectors (32 bit).
  assert.equal(fnv1a(''), 0x811c9dc5);
  assert.equal(fnv1a('a'), 0xe40c292c);
  assert.equal(fnv1a('foobar'), 0xbf9cf968);
  const shared = listEmojiSources().shared;
  const test = shared.filter((s) => splitOf(s.codepoint) === 'test');
  assert.equal(test.length, 363);
  assert.equal(splitOf('1f600'), fnv1a('1f600') % 10 === 0 ? 'test' : 'train');
  const plan = planEmojiDataset();
  const count = (f: string) => plan.filter((j) => j.folder === f).length;
  assert.deepEqual(['trainA', 'trainB', 'testA', 'testB'].map(count),
    [3327 + 29, 3327 + 438, 363, 363]);
});

test('SVGs rasterise at the requested size onto white', async () => {
  const face = listEmojiSources().shared.find((s) => s.codepoint === '1f600')!;
  for (const [svg, size] of [[face.svgA!, 32], [face.svgB!, 64]] as const) {
    const img = await decodeImage(await rasteriseSvg(svg, size));
    assert.deepEqual([img.width, img.height, img.channels], [size, size, 3]);
    const at = (x: number, y: number) => Array.from(img.data.subarray(
      (y * size + x) * 3, (y * size + x) * 3 + 3));
    assert.deepEqual(at(0, 0), [255, 255, 255]);
    // The face is yellow: much more red and green than blue.
    const [r, g, b] = at(Math.round(size * 0.5), Math.round(size * 0.3));
    assert.ok(r > 200 && g > 150 && b < 120, `face pixel ${[r, g, b]}`);
  }
});

test('a small build: layout, manifest, pairs, skip and repair', async () => {
  const lines: string[] = [];
  const dir = await ensureEmojiDataset(32, { maxImages: 4, root: tmp,
    log: (l) => lines.push(l) });
  assert.equal(dir, path.join(tmp, 'emoji32-max4'));
  for (const f of ['trainA', 'trainB', 'testA', 'testB']) {
    const files = fs.readdirSync(path.join(dir, f));
    assert.equal(files.length, 4, f);
    assert.ok(files.every((x) => /^[0-9a-f-]+\.png$/.test(x)));
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, 'testA')).sort(),
    fs.readdirSync(path.join(dir, 'testB')).sort());
  const img = await decodeImage(path.join(dir, 'testB',
    fs.readdirSync(path.join(dir, 'testB'))[0]));
  assert.deepEqual([img.width, img.height, img.channels], [32, 32, 3]);
  const manifest = readEmojiManifest(dir)!;
  assert.deepEqual(manifest.counts, { trainA: 4, trainB: 4, testA: 4,
    testB: 4 });
  assert.match(manifest.credits, /CC-BY 4\.0.*CC-BY-SA 4\.0/);
  const pairs = readEmojiPairs(dir);
  const testPairs = pairs.filter((p) => p.split === 'test');
  assert.equal(testPairs.length, 4);
  assert.ok(pairs.every((p) => fs.existsSync(path.join(dir, p.a)) &&
    fs.existsSync(path.join(dir, p.b)) && splitOf(p.codepoint) === p.split));
  assert.equal(lines.length, 2);

  // Complete: nothing is rebuilt.
  const again = await ensureEmojiDataset(32, { maxImages: 4, root: tmp,
    log: (l) => lines.push(l) });
  assert.equal(again, dir);
  assert.equal(lines.length, 2);

  // A missing file makes it incomplete; only that file is rendered again.
  const victim = path.join(dir, testPairs[0].b);
  const other = path.join(dir, testPairs[1].b);
  const otherTime = fs.statSync(other).mtimeMs;
  fs.rmSync(victim);
  const rendered: number[] = [];
  await ensureEmojiDataset(32, { maxImages: 4, root: tmp, log: () => {},
    onProgress: (done) => rendered.push(done) });
  assert.ok(fs.existsSync(victim));
  assert.equal(fs.statSync(other).mtimeMs, otherTime);
  assert.equal(rendered.length, 16);
  await assert.rejects(buildEmojiDataset(48, { root: tmp }),
    /emoji size 48 is not one of 32, 64, 128, 256/);
});
