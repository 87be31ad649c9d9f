// Official dataset downloads against a local HTTP server: a good zip, an
// interrupted transfer that resumes with a Range request, a server that
// ignores ranges, and malicious zips (../, absolute path, symlink) that
// must be refused before anything is written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../../lib/show';
import {
  DOWNLOAD_MARKER, downloadDataset, downloadFile, extractZip,
} from '../../lib/download';
import { UnalignedDataset } from '../../lib/dataset';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclegan-dl-'));
const quiet = { log: () => undefined };
const zips: Record<string, Buffer> = {};
const requests: { url: string; range?: string }[] = [];
let server: http.Server;
let base = '';

// Python's zipfile writes the archives (no zip writer among our packages);
// it stores names exactly as given, hostile ones included.
const MAKE_ZIPS = `
import sys, zipfile, os
out, png = sys.argv[1], open(sys.argv[2], 'rb').read()
def make(name, entries):
    with zipfile.ZipFile(os.path.join(out, name), 'w',
                         zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            z.writestr(info, data)
good = [('mini/', b'')] + [('mini/%s/%d.png' % (f, i), png)
        for f in ('trainA', 'trainB', 'testA', 'testB') for i in range(3)]
good += [('mini/trainA/.DS_Store', b'junk'), ('__MACOSX/mini/._x', b'junk')]
make('good.zip', good)
make('dotdot.zip', [('mini/trainA/0.png', png), ('mini/../../evil.txt', b'x')])
make('absolute.zip', [('mini/trainA/0.png', png), ('/tmp/evil.txt', b'x')])
link = zipfile.ZipInfo('mini/trainA/link.png')
link.create_system = 3
link.external_attr = (0o120777 << 16)
make('symlink.zip', [('mini/trainA/0.png', png), (link, '/etc/passwd')])
make('empty.zip', [])
`;

before(async () => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3,
    background: '#3366cc' } }).png().toBuffer();
  fs.writeFileSync(path.join(tmp, 'tile.png'), png);
  const python = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
  execFileSync(python, ['-c', MAKE_ZIPS, tmp, path.join(tmp, 'tile.png')]);
  for (const n of ['good', 'dotdot', 'absolute', 'symlink', 'empty']) {
    zips[n] = fs.readFileSync(path.join(tmp, `${n}.zip`));
  }
  // /<mode>/mini.zip: ok | dotdot | absolute | symlink serve that zip with
  // Range support; flaky cuts the first response at 40 %; norange always
  // answers 200 with the whole file.
  let flakyCut = false;
  server = http.createServer((req, res) => {
    const [, mode, file] = (req.url ?? '').split('/');
    requests.push({ url: req.url ?? '', range: req.headers.range });
    const body = file !== 'mini.zip' ? undefined
      : mode === 'ok' || mode === 'flaky' || mode === 'norange' ? zips.good
        : zips[mode];
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && mode !== 'norange') {
      const start = Number(m[1]);
      res.writeHead(206, { 'content-length': body.length - start,
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    if (mode === 'flaky' && !flakyCut) {
      flakyCut = true;
      res.write(body.subarray(0, Math.floor(body.length * 0.4)), () =>
        setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function fresh(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

test('downloads, strips the top folder and opens as a dataset', async () => {
  const root = fresh('ok');
  const dir = await downloadDataset('mini', { baseUrl: `${base}/ok`, root,
    ...quiet });
  assert.equal(dir, path.join(root, 'mini'));
  for (const f of ['trainA', 'trainB', 'testA', 'testB']) {
    assert.deepEqual(fs.readdirSync(path.join(dir, f)).sort(),
      f === 'trainA' ? ['.DS_Store', '0.png', '1.png', '2.png']
        : ['0.png', '1.png', '2.png']);
  }
  assert.equal(fs.existsSync(path.join(root, '__MACOSX')), false);
  assert.equal(fs.existsSync(path.join(root, 'mini.zip')), false);
  const marker = JSON.parse(fs.readFileSync(path.join(dir, DOWNLOAD_MARKER),
    'utf8'));
  assert.equal(marker.files, 13);
  const ds = await UnalignedDataset.open({ dataroot: dir, ...quiet });
  assert.deepEqual([ds.pathsA.length, ds.pathsB.length], [3, 3]);
  // A second run finds the marker and does not download again.
  const before = requests.length;
  await downloadDataset('mini', { baseUrl: `${base}/ok`, root, ...quiet });
  assert.equal(requests.length, before);
});

for (const [mode, pattern] of [
  ['dotdot',
    /unsafe entry \(invalid relative path: mini\/\.\.\/\.\.\/evil\.txt\)/],
  ['absolute', /unsafe entry \(absolute path: \/tmp\/evil\.txt\)/],
  ['symlink', /unsafe entry \(symbolic link: mini\/trainA\/link\.png\)/],
] as const) {
  test(`a zip with a ${mode} entry is refused, nothing written`, async () => {
    const root = fresh(mode);
    await assert.rejects(downloadDataset('mini', { baseUrl: `${base}/${mode}`,
      root, ...quiet }), pattern);
    assert.deepEqual(fs.readdirSync(root), ['mini.zip']);
    assert.equal(fs.existsSync(path.join(tmp, 'evil.txt')), false);
    assert.equal(fs.existsSync('/tmp/evil.txt') &&
      fs.readFileSync('/tmp/evil.txt', 'utf8') === 'x', false);
    await assert.rejects(extractZip(path.join(root, 'mini.zip'),
      path.join(root, 'again')), pattern);
    assert.equal(fs.existsSync(path.join(root, 'again.partial')), false);
  });
}

test('an interrupted download resumes with a Range request', async () => {
  const root = fresh('flaky');
  const dest = path.join(root, 'mini.zip');
  const url = `${base}/flaky/mini.zip`;
  await assert.rejects(downloadFile(url, dest, { retries: 0, ...quiet }),
    /bytes kept in .*mini\.zip\.part; run again to resume/);
  const kept = fs.statSync(`${dest}.part`).size;
  assert.equal(kept, Math.floor(zips.good.length * 0.4));
  const seen: number[] = [];
  const r = await downloadFile(url, dest, { retries: 0, ...quiet,
    onProgress: (p) => seen.push(p.done) });
  assert.equal(requests.at(-1)!.range, `bytes=${kept}-`);
  assert.deepEqual([r.resumedFrom, r.bytes], [kept, zips.good.length]);
  assert.equal(seen[0], kept);
  assert.equal(seen.at(-1), zips.good.length);
  assert.deepEqual(fs.readFileSync(dest), zips.good);
  assert.equal(fs.existsSync(`${dest}.part`), false);
});

test('retries resume within one call', async () => {
  // A new server path state: cut once more.
  const root = fresh('retry');
  const dest = path.join(root, 'mini.zip');
  const cut = http.createServer((req, res) => {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const body = zips.good.subarray(start);
    res.writeHead(m ? 206 : 200, { 'content-length': body.length,
      ...(m ? { 'content-range': `bytes ${start}-${zips.good.length - 1}/` +
        `${zips.good.length}` } : {}) });
    if (!m) {
      res.write(body.subarray(0, 100), () =>
        setTimeout(() => res.socket?.destroy(), 20));
    } else res.end(body);
  });
  await new Promise<void>((r) => cut.listen(0, '127.0.0.1', r));
  const port = (cut.address() as AddressInfo).port;
  const lines: string[] = [];
  const r = await downloadFile(`http://127.0.0.1:${port}/mini.zip`, dest,
    { retries: 2, log: (l) => lines.push(l) });
  cut.close();
  assert.deepEqual([r.attempts, r.bytes], [2, zips.good.length]);
  assert.match(lines[0], /resuming \(attempt 2 of 3\)/);
  assert.deepEqual(fs.readFileSync(dest), zips.good);
});

test('a server that ignores Range restarts the file cleanly', async () => {
  const root = fresh('norange');
  const dest = path.join(root, 'mini.zip');
  fs.writeFileSync(`${dest}.part`, Buffer.alloc(100, 0x55));
  const r = await downloadFile(`${base}/norange/mini.zip`, dest, quiet);
  assert.equal(requests.at(-1)!.range, 'bytes=100-');
  assert.equal(r.resumedFrom, 0);
  assert.deepEqual(fs.readFileSync(dest), zips.good);
});

test('HTTP errors and unknown names are clear', async () => {
  const root = fresh('errors');
  await assert.rejects(downloadFile(`${base}/ok/nothere.zip`,
    path.join(root, 'x.zip'), quiet), /HTTP 404 for .*nothere\.zip/);
  await assert.rejects(downloadDataset('horse2cat', { root, ...quiet }),
    /unknown dataset 'horse2cat'; expected one of .*horse2zebra/);
  fs.mkdirSync(path.join(root, 'mini'));
  await assert.rejects(downloadDataset('mini', { baseUrl: `${base}/ok`,
    root, ...quiet }), /exists but was not made by a finished download/);
  await assert.rejects(extractZip(path.join(tmp, 'tile.png'),
    path.join(root, 'bad')), /tile\.png is not a readable zip/);
  const emptyRoot = fresh('empty');
  await assert.rejects(downloadDataset('mini', { baseUrl: `${base}/empty`,
    root: emptyRoot, ...quiet }), /mini\.zip holds no files/);
  assert.equal(fs.existsSync(path.join(emptyRoot, 'mini')), false);
});
