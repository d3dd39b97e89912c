// Shared pieces of the dashboard end-to-end tests: a real `grvt-mm serve` process in demo mode
// on loopback, Debian's Chromium driven by playwright-core, polling helpers and screenshots.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(REPO, 'web', 'package.json'));
const { chromium } = require('playwright-core');

export const PASSWORD = 'e2e-operator-password';
export const CHROMIUM = process.env.GRVTMM_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(REPO, 'artifacts', 'screenshots');
const SERVE = path.join(REPO, '.venv', 'bin', 'grvt-mm');
const STATIC_INDEX = path.join(REPO, 'src', 'grvtmm', 'static', 'index.html');

/** A free TCP port on 127.0.0.1 (bound and released; the server binds it right after). */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** Poll `probe` until it returns a truthy value; fail with `what` after `timeoutMs`. */
export async function eventually(probe, what, timeoutMs = 15_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export function preflight() {
  const missing = [];
  if (!existsSync(SERVE)) missing.push(`${SERVE} (run make setup)`);
  if (!existsSync(STATIC_INDEX)) missing.push(`${STATIC_INDEX} (run make web-build)`);
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium)`);
  if (missing.length) throw new Error(`e2e prerequisites missing:\n  ${missing.join('\n  ')}`);
}

/** `grvt-mm serve` in demo mode on 127.0.0.1:`port` with its data in `dataDir`. */
export class ServerProcess {
  constructor(port, dataDir) {
    this.port = port;
    this.dataDir = dataDir;
    this.base = `http://127.0.0.1:${port}`;
    this.child = null;
    this.logPath = path.join(dataDir, '..', `serve-${port}.log`);
  }

  async start() {
    const log = openSync(this.logPath, 'a');
    this.child = spawn(
      SERVE,
      ['serve', '--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dataDir, '--mode', 'demo'],
      {
        cwd: REPO,
        env: { ...process.env, GRVTMM_ADMIN_PASSWORD: PASSWORD, GRVTMM_DEMO_SPEED: '20' },
        stdio: ['ignore', log, log],
      },
    );
    const child = this.child;
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`grvt-mm serve exited with ${child.exitCode}; see ${this.logPath}`);
      const response = await fetch(`${this.base}/healthz`).catch(() => null);
      return response?.ok;
    }, `grvt-mm serve on port ${this.port}`, 30_000);
  }

  /** SIGTERM (the server stops the engine and flattens, bounded), SIGKILL if it hangs. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }
}

export function tempDir(prefix) {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/** Chromium with a fresh profile (playwright creates a new temporary user-data-dir per launch
 * and passes --headless itself). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  // a sticky header would otherwise be painted at the scroll position in a full-page capture
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

export const DESKTOP = { width: 1440, height: 900 };
export const PHONE = { width: 390, height: 844 };
