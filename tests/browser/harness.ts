/**
 * What the browser test and the web benchmark share: headless Debian
 * Chromium driven by playwright-core, and `npm run web` started as a
 * person starts it (a child process that prints the address it serves).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BrowserContext, chromium } from 'playwright-core';

/** The project root (tests/browser/ is two levels down, build/ three). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Debian's chromium package (`apt-get install chromium`). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Flags that keep Chromium headless and off the network: no first-run
 * pages, no component or safe-browsing updates, no sync, no QUIC probes
 * (otherwise it reaches Google's hosts at start). The page itself is
 * served on 127.0.0.1.
 */
export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

/** A running Chromium with a fresh profile; `close` removes the profile. */
export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Starts headless Chromium with {@link CHROMIUM_FLAGS}, a fresh profile. */
export async function launchChromium(): Promise<Chromium> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium ` +
      '(apt-get install -y chromium; .ci/run does it)');
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclegan-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS,
    acceptDownloads: true, viewport: { width: 1100, height: 1000 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A running `npm run web` (scripts/web.mjs). */
export interface WebServer {
  /** The address it printed, e.g. http://127.0.0.1:43817/. */
  url: string;
  /** Everything it printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Runs `node scripts/web.mjs <args>` (build, then serve on 127.0.0.1) and
 * resolves once it prints the address; rejects with its output if it
 * exits first or takes longer than `timeoutMs`.
 */
export function startWebServer(args: string[], timeoutMs = 120_000):
    Promise<WebServer> {
  const child: ChildProcess = spawn(process.execPath,
    [path.join(ROOT, 'scripts', 'web.mjs'), ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  let text = '';
  const stop = () => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`npm run web printed no address in ${timeoutMs} ms:` +
        `\n${text}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const m = /serving .* at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], output: () => text, stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm run web exited (${code}) before serving:\n` +
        text));
    });
  });
}
