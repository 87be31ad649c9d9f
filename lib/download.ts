/**
 * Fetching the official CycleGAN datasets: one zip per dataset from the
 * authors' server, downloaded to a `.part` file that a later run resumes
 * with an HTTP Range request, then extracted safely into
 * `data/<name>/{trainA,trainB,testA,testB}`.
 *
 * Extraction refuses entries that would land outside the target folder
 * (`../`, absolute paths, drive letters) and symbolic links, before it
 * writes anything, and works in a temporary folder that is renamed into
 * place at the end: a half-extracted dataset never looks complete.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import * as yauzl from 'yauzl';
import { DATA_ROOT } from './emoji';

/**
 * Where the official download script fetches `<name>.zip` from
 * (pytorch-CycleGAN-and-pix2pix, datasets/download_cyclegan_dataset.sh).
 */
export const OFFICIAL_BASE_URL =
  'https://efrosgans.eecs.berkeley.edu/cyclegan/datasets';

/** Dataset names the official script offers (cityscapes needs a login). */
export const OFFICIAL_DATASETS: readonly string[] = [
  'apple2orange', 'summer2winter_yosemite', 'horse2zebra', 'monet2photo',
  'cezanne2photo', 'ukiyoe2photo', 'vangogh2photo', 'maps', 'facades',
  'iphone2dslr_flower', 'ae_photos', 'mini',
];

/** Progress of a transfer or an extraction. */
export interface TransferProgress {
  /** Bytes done so far (including a resumed part). */
  done: number;
  /** Total bytes, when the server says. */
  total: number | null;
}

/** Options of `downloadFile`. */
export interface DownloadOptions {
  onProgress?: (p: TransferProgress) => void;
  /** Further attempts after an interrupted transfer (default 3). */
  retries?: number;
  /** No data for this long aborts the attempt, ms (default 30 s). */
  timeoutMs?: number;
  /** Where status lines go (stdout by default). */
  log?: (line: string) => void;
}

/** How a download ended. */
export interface DownloadResult {
  bytes: number;
  /** Bytes kept from an earlier `.part` file. */
  resumedFrom: number;
  attempts: number;
}

/** An HTTP status that retrying will not fix. */
class HttpError extends Error {}

interface Response { res: http.IncomingMessage; url: string }

function get(url: string, headers: Record<string, string>,
  timeoutMs: number, redirects = 5): Promise<Response> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const lib = u.protocol === 'https:' ? https : u.protocol === 'http:'
      ? http : null;
    if (!lib) {
      reject(new HttpError(`unsupported URL scheme in ${url}`));
      return;
    }
    const req = lib.get(u, { headers }, (res) => {
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        if (redirects <= 0) {
          reject(new HttpError(`too many redirects from ${url}`));
          return;
        }
        const next = new URL(res.headers.location, u).toString();
        get(next, headers, timeoutMs, redirects - 1).then(resolve, reject);
        return;
      }
      resolve({ res, url });
    });
    req.setTimeout(timeoutMs, () => req.destroy(
      new Error(`no answer from ${u.host} for ${timeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}

/** Parses `Content-Range: bytes start-end/total`. */
function contentRange(value: string | undefined):
  { start: number; total: number | null } | null {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(value ?? '');
  if (!m) return null;
  return { start: Number(m[1]), total: m[2] === '*' ? null : Number(m[2]) };
}

async function attempt(
  url: string, part: string, opts: Required<Omit<DownloadOptions, 'log'>>,
): Promise<{ total: number | null; resumedFrom: number }> {
  let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  const headers: Record<string, string> =
    { 'user-agent': 'annotated-cyclegan' };
  if (have > 0) headers.range = `bytes=${have}-`;
  const { res } = await get(url, headers, opts.timeoutMs);
  const status = res.statusCode ?? 0;
  let total: number | null = null;
  let flags = 'w';
  if (status === 206) {
    const range = contentRange(res.headers['content-range']);
    if (!range || range.start !== have) {
      // A range we did not ask for: start again from byte 0.
      res.resume();
      fs.rmSync(part, { force: true });
      return attempt(url, part, opts);
    }
    total = range.total;
    flags = 'a';
  } else if (status === 200) {
    // The server ignored the range (or none was sent): restart cleanly.
    have = 0;
    const len = Number(res.headers['content-length']);
    total = Number.isFinite(len) && res.headers['content-length'] ? len : null;
  } else if (status === 416 && have > 0) {
    res.resume();
    const range = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
    if (range && Number(range[1]) === have) return { total: have,
      resumedFrom: have };
    fs.rmSync(part, { force: true });
    return attempt(url, part, opts);
  } else {
    res.resume();
    throw new HttpError(`HTTP ${status} for ${url}`);
  }
  const resumedFrom = have;
  let done = have;
  opts.onProgress({ done, total });
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      opts.onProgress({ done, total });
      cb(null, chunk);
    },
  });
  res.setTimeout(opts.timeoutMs, () => res.destroy(
    new Error(`transfer stalled for ${opts.timeoutMs / 1000} s`)));
  await pipeline(res, counter, fs.createWriteStream(part, { flags }));
  if (!res.complete) throw new Error('connection closed before the end');
  if (total !== null && done !== total) {
    throw new Error(`got ${done} of ${total} bytes`);
  }
  return { total: total ?? done, resumedFrom };
}

/**
 * Downloads `url` to `dest` through `dest.part`. An existing `.part` is
 * resumed with `Range: bytes=<size>-`; a server that answers 200 instead
 * of 206 restarts it from zero. An interrupted transfer is retried
 * (resuming) up to `retries` times; the `.part` stays for a later run.
 */
export async function downloadFile(
  url: string, dest: string, opts: DownloadOptions = {},
): Promise<DownloadResult> {
  const full = {
    onProgress: opts.onProgress ?? (() => undefined),
    retries: opts.retries ?? 3,
    timeoutMs: opts.timeoutMs ?? 30_000,
  };
  const log = opts.log ?? ((line: string) => console.log(line));
  const part = `${dest}.part`;
  await fs.promises.mkdir(path.dirname(dest), { recursive: true });
  let firstResume: number | null = null;
  for (let n = 1; ; n++) {
    try {
      const r = await attempt(url, part, full);
      firstResume ??= r.resumedFrom;
      await fs.promises.rename(part, dest);
      return { bytes: fs.statSync(dest).size, resumedFrom: firstResume,
        attempts: n };
    } catch (err) {
      if (err instanceof HttpError || n > full.retries) {
        const kept = fs.existsSync(part) ? fs.statSync(part).size : 0;
        throw new Error(`download of ${url} failed: ${(err as Error).message}` +
          (kept ? ` (${kept} bytes kept in ${part}; run again to resume)`
            : ''));
      }
      firstResume ??= 0;
      log(`[download] ${(err as Error).message}; resuming (attempt ` +
        `${n + 1} of ${full.retries + 1})`);
      await new Promise((r) => setTimeout(r, Math.min(4000, 250 * 2 ** n)));
    }
  }
}

/** Options of `extractZip`. */
export interface ExtractOptions {
  onProgress?: (p: TransferProgress) => void;
  /** Refuse archives declaring more than this many bytes (default 32 GiB). */
  maxBytes?: number;
  /**
   * Strip a top-level folder every entry shares (default true): the
   * official zips hold `horse2zebra/trainA/...`.
   */
  stripSingleFolder?: boolean;
}

/** What an extraction wrote. */
export interface ExtractResult { files: number; bytes: number }

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/**
 * Why a zip entry may not be extracted, or null: absolute paths, drive
 * letters, `..` segments (yauzl's name rules) and symbolic links.
 */
export function unsafeEntryReason(name: string, entry?: yauzl.Entry):
  string | null {
  const rule = yauzl.validateFileName(name);
  if (rule) return rule;
  if (entry && ((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) {
    return `symbolic link: ${name}`;
  }
  return null;
}

function readEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const out: yauzl.Entry[] = [];
    zip.on('entry', (e: yauzl.Entry) => {
      out.push(e);
      zip.readEntry();
    });
    zip.on('end', () => resolve(out));
    zip.on('error', reject);
    zip.readEntry();
  });
}

/**
 * Extracts `zipPath` into `targetDir`, which must not exist yet. Every
 * entry is checked before anything is written; one unsafe entry refuses
 * the whole archive with an error naming it. `__MACOSX/` metadata is
 * skipped. Writes into `<targetDir>.partial` and renames it at the end.
 */
export async function extractZip(
  zipPath: string, targetDir: string, opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const target = path.resolve(targetDir);
  if (fs.existsSync(target)) {
    throw new Error(`${target} already exists; remove it to extract again`);
  }
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(zipPath, { lazyEntries: true,
      autoClose: false, decodeStrings: false, validateEntrySizes: true });
  } catch (err) {
    throw new Error(`${zipPath} is not a readable zip: ` +
      `${(err as Error).message}`);
  }
  const work = `${target}.partial`;
  try {
    const all = await readEntries(zip);
    const entries: { entry: yauzl.Entry; name: string }[] = [];
    let declared = 0;
    for (const entry of all) {
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag,
        entry.fileNameRaw, entry.extraFields, false);
      const reason = unsafeEntryReason(name, entry);
      if (reason) {
        throw new Error(`refusing ${zipPath}: unsafe entry (${reason}); it ` +
          `would be written outside ${target}`);
      }
      if (name.split('/')[0] === '__MACOSX') continue;
      entries.push({ entry, name });
      declared += entry.uncompressedSize;
    }
    const maxBytes = opts.maxBytes ?? 32 * 2 ** 30;
    if (declared > maxBytes) {
      throw new Error(`refusing ${zipPath}: it declares ${declared} bytes, ` +
        `more than the ${maxBytes} allowed (maxBytes)`);
    }
    const tops = new Set(entries.map((e) => e.name.split('/')[0]));
    const strip = (opts.stripSingleFolder ?? true) && tops.size === 1 &&
      entries.every((e) => e.name.includes('/'));
    await fs.promises.rm(work, { recursive: true, force: true });
    await fs.promises.mkdir(work, { recursive: true });
    let files = 0;
    let bytes = 0;
    for (const { entry, name } of entries) {
      const rel = strip ? name.split('/').slice(1).join('/') : name;
      if (!rel) continue;
      const out = path.resolve(work, rel);
      if (!out.startsWith(work + path.sep)) {
        throw new Error(`refusing ${zipPath}: entry ${name} resolves ` +
          `outside ${target}`);
      }
      if (name.endsWith('/')) {
        await fs.promises.mkdir(out, { recursive: true });
        continue;
      }
      await fs.promises.mkdir(path.dirname(out), { recursive: true });
      const stream = await zip.openReadStreamPromise(entry);
      await pipeline(stream, fs.createWriteStream(out, { flags: 'wx' }));
      files++;
      bytes += entry.uncompressedSize;
      opts.onProgress?.({ done: bytes, total: declared });
    }
    await fs.promises.rename(work, target);
    return { files, bytes };
  } catch (err) {
    await fs.promises.rm(work, { recursive: true, force: true });
    throw err;
  } finally {
    zip.close();
  }
}

/** Options of `downloadDataset`. */
export interface DatasetDownloadOptions extends DownloadOptions {
  /** Server folder holding `<name>.zip` (default `OFFICIAL_BASE_URL`). */
  baseUrl?: string;
  /** Folder that receives `<name>/` (default `data/`). */
  root?: string;
  /** Keep `<name>.zip` after extraction (default false). */
  keepZip?: boolean;
  /** Replace an existing `<name>/` (default false). */
  force?: boolean;
  onExtractProgress?: (p: TransferProgress) => void;
}

/** The marker a finished download leaves (hidden: the scan skips it). */
export const DOWNLOAD_MARKER = '.download.json';

/**
 * Downloads and extracts an official dataset into `<root>/<name>/`.
 * A folder with the marker of a finished download is left as it is; a
 * folder without it is not overwritten unless `force`.
 */
export async function downloadDataset(
  name: string, opts: DatasetDownloadOptions = {},
): Promise<string> {
  if (!OFFICIAL_DATASETS.includes(name)) {
    throw new Error(`unknown dataset '${name}'; expected one of ` +
      OFFICIAL_DATASETS.join(', '));
  }
  const log = opts.log ?? ((line: string) => console.log(line));
  const root = opts.root ?? DATA_ROOT;
  const target = path.join(root, name);
  if (fs.existsSync(path.join(target, DOWNLOAD_MARKER)) && !opts.force) {
    log(`[download] ${target} is already complete`);
    return target;
  }
  if (fs.existsSync(target)) {
    if (!opts.force) {
      throw new Error(`${target} exists but was not made by a finished ` +
        'download; remove it or pass --force');
    }
    await fs.promises.rm(target, { recursive: true, force: true });
  }
  const base = (opts.baseUrl ?? OFFICIAL_BASE_URL).replace(/\/+$/, '');
  const url = `${base}/${name}.zip`;
  const zipPath = path.join(root, `${name}.zip`);
  let download: DownloadResult | null = null;
  if (!fs.existsSync(zipPath)) {
    download = await downloadFile(url, zipPath, opts);
  }
  const result = await extractZip(zipPath, target,
    { onProgress: opts.onExtractProgress });
  if (result.files === 0) {
    await fs.promises.rm(target, { recursive: true, force: true });
    throw new Error(`${zipPath} holds no files; remove it and download ` +
      'again');
  }
  const missing = ['trainA', 'trainB', 'testA', 'testB'].filter((f) =>
    !fs.existsSync(path.join(target, f)));
  if (missing.length > 0) {
    log(`[download] note: ${target} has no ${missing.join(', ')} ` +
      'folder(s); the loader expects <phase>A and <phase>B');
  }
  await fs.promises.writeFile(path.join(target, DOWNLOAD_MARKER),
    JSON.stringify({ name, url, zipBytes: fs.statSync(zipPath).size,
      resumedFrom: download?.resumedFrom ?? 0, files: result.files,
      bytes: result.bytes, date: new Date().toISOString() }, null, 1));
  if (!opts.keepZip) await fs.promises.rm(zipPath, { force: true });
  log(`[download] ${name}: ${result.files} files into ${target}`);
  return target;
}
