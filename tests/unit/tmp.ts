/** Temporary folders for a test file, removed when the file's tests end. */
import { after } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Returns a function that makes a fresh folder under the system's temporary
 * folder (named `<prefix>XXXXXX`); all of them are deleted after the
 * calling test file has run.
 */
export function tempDirs(prefix: string): () => string {
  const roots: string[] = [];
  after(() => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    roots.push(dir);
    return dir;
  };
}
