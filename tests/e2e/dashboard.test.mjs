// The dashboard in a real browser against a real `grvt-mm serve` (demo mode, loopback only).
// Run: node --test tests/e2e/   (needs the built dashboard, the venv and /usr/bin/chromium)
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ARTIFACTS,
  DESKTOP,
  PASSWORD,
  PHONE,
  ServerProcess,
  eventually,
  freePort,
  launchBrowser,
  preflight,
  removeDir,
  screenshot,
  tempDir,
} from './harness.mjs';

const SECRETS = {
  api_key: 'e2e-api-key-9c1f7a3b5d',
  api_secret: `0x${'cd34'.repeat(16)}`,
  trading_account_id: '918273645501',
};
const TELEGRAM_TOKEN = '7654321:e2e-telegram-token-Zq8WmX';

const byId = (id) => `[data-testid="${id}"]`;

describe('dashboard end to end', { timeout: 170_000 }, () => {
  let work;
  let server;
  let browser;
  let context;
  let page;
  const pageErrors = [];

  const text = (id) => page.locator(byId(id)).innerText({ timeout: 5_000 });
  // state probes never wait for the element: the header is absent on the login page
  const attr = (id, name) =>
    page.evaluate(([sel, n]) => document.querySelector(sel)?.getAttribute(n) ?? null, [byId(id), name]);
  const connState = () => attr('conn-state', 'data-state');
  const engineState = () => attr('engine-state', 'data-state');
  const apiGet = async (url) => {
    const response = await page.request.get(`${server.base}${url}`);
    assert.equal(response.status(), 200, `${url}: ${response.status()}`);
    return response.json();
  };
  const login = async () => {
    await page.locator(byId('login-password')).fill(PASSWORD);
    await page.locator(byId('login-submit')).click();
    await eventually(async () => (await connState()) === 'connected', 'stream connected after login');
  };

  before(async () => {
    preflight();
    work = tempDir('grvtmm-e2e-');
    server = new ServerProcess(await freePort(), path.join(work, 'data'));
    const [, launched] = await Promise.all([server.start(), launchBrowser()]);
    browser = launched;
    context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (work) removeDir(work);
  });

  it('logs in: a wrong password is refused, the right one opens the live dashboard', async () => {
    await page.goto(server.base);
    await page.locator(byId('login-password')).fill('not-the-password');
    await page.locator(byId('login-submit')).click();
    assert.match(await text('login-error'), /wrong password/i);
    await screenshot(page, 'login');
    await login();
    assert.equal(await text('trading-mode'), 'DEMO');
    await eventually(async () => (await engineState()) === 'running', 'engine running');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'grvtmm_session');
    assert.ok(session?.httpOnly, 'session cookie is HttpOnly');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.ok(!stored.includes(session.value), 'the session token is not in web storage');
  });

  it('cards show non-zero fills within seconds, charts and tables fill in', async () => {
    const fills = await eventually(async () => {
      const n = Number((await text('card-fills-value')).replace(/,/g, ''));
      return n > 0 ? n : 0;
    }, 'a non-zero fill count', 15_000);
    assert.ok(fills > 0);
    assert.match(await text('card-equity-value'), /^\d[\d,]*\.\d+$/);
    assert.match(await text('card-volume-value'), /^\d[\d,]*\.\d+$/);
    await eventually(async () => Number(await text('fills-total')) > 0, 'fills in the table');
    const firstFill = await page.locator(`${byId('fills-table')} tbody tr`).first().innerText();
    assert.match(firstFill, /rebate|cost/);
    await page.waitForTimeout(1_500); // a few more ticks so the charts have a line
    await screenshot(page, 'overview-desktop');
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(500);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal overflow on a phone (got ${overflow}px)`);
    await screenshot(page, 'overview-phone');
    await page.setViewportSize(DESKTOP);
  });

  it('strategy: a new γ is applied and a bad value shows the error next to its field', async () => {
    await page.locator(byId('tab-strategy')).click();
    const gamma = page.locator(byId('param-gamma'));
    await gamma.waitFor();
    assert.equal(await page.locator(byId('param-symbol')).isDisabled(), true, 'symbol locked while running');
    await gamma.fill('0.25');
    await page.locator(byId('strategy-save')).click();
    await eventually(async () => (await text('strategy-message')).length > 0, 'applied message');
    assert.equal((await apiGet('/api/config/strategy')).gamma, 0.25);

    await gamma.fill('-1');
    await page.locator(byId('strategy-save')).click();
    const error = page.locator(byId('error-gamma'));
    await error.waitFor();
    assert.match(await error.innerText(), /greater than 0/);
    assert.equal(await page.locator(`${byId('field-gamma')} ${byId('error-gamma')}`).count(), 1);
    assert.equal((await apiGet('/api/config/strategy')).gamma, 0.25, 'the bad value was not applied');
    await screenshot(page, 'strategy-error');
    await page.locator(byId('param-sigma')).fill('abc');
    await page.locator(byId('strategy-save')).click();
    assert.match(await page.locator(byId('error-sigma')).innerText(), /number/i);
    await page.locator(byId('param-sigma')).fill('3');
    await gamma.fill('0.25');
  });

  it('stop asks for confirmation, then flattens the position to zero', async () => {
    await page.locator(byId('tab-overview')).click();
    await page.locator(byId('ctl-stop')).click();
    await page.locator(byId('confirm-dialog')).waitFor();
    await page.locator(byId('confirm-no')).click();
    assert.equal(await page.locator(byId('confirm-dialog')).count(), 0);
    assert.equal(await engineState(), 'running', 'cancelled confirmation changes nothing');

    await page.locator(byId('ctl-stop')).click();
    await page.locator(byId('confirm-yes')).click();
    await eventually(async () => (await engineState()) === 'stopped', 'engine stopped', 30_000);
    const flatten = page.locator(byId('flatten'));
    await eventually(async () => ['flat', 'dust'].includes(await flatten.getAttribute('data-state')), 'flatten done', 30_000);
    assert.equal(await flatten.getAttribute('data-state'), 'flat');
    const status = await apiGet('/api/status');
    assert.equal(status.engine.position, 0);
    assert.equal(status.venue, null, 'the demo venue keeps no connection counters');
    assert.equal(await page.locator(byId('card-venue')).count(), 0, 'no venue card in demo');
    await eventually(async () => (await text('card-position-value')) === '0', 'position card at zero');
    assert.equal(await page.locator(byId('ctl-start')).isEnabled(), true);
    await screenshot(page, 'stopped-flat');
  });

  it('keys and Telegram token are write-only: shown as set, never present in the page', async () => {
    await page.locator(byId('tab-settings')).click();
    for (const [field, value] of Object.entries(SECRETS)) await page.locator(byId(`key-${field}`)).fill(value);
    await page.locator(byId('keys-save')).click();
    await page.locator(byId('keys-message')).waitFor();
    for (const name of ['grvt.api_key', 'grvt.api_secret', 'grvt.trading_account_id']) {
      assert.equal(await attr(`secret-${name}`, 'data-set'), 'yes', name);
    }
    for (const field of Object.keys(SECRETS)) {
      assert.equal(await page.locator(byId(`key-${field}`)).inputValue(), '', `${field} input cleared`);
    }

    await page.locator(byId('tg-chat')).fill('-100200300');
    await page.locator(byId('tg-token')).fill(TELEGRAM_TOKEN);
    await page.locator(byId('tg-save')).click();
    await eventually(async () => {
      const failure = await page.locator(byId('tg-error')).count();
      if (failure) throw new Error(`save refused: ${await text('tg-error')}`);
      return (await text('tg-token-state')).startsWith('✓');
    }, 'telegram token stored');
    assert.equal(await page.locator(byId('tg-token')).inputValue(), '');
    await page.locator(byId('tg-test')).click();
    // no Telegram is reachable from the test: the outcome is a readable failure, not silence
    assert.match(await page.locator(byId('tg-test-result')).innerText(), /^Test (failed: .+|message sent\.)$/);

    await page.reload();
    await eventually(async () => (await connState()) === 'connected', 'connected after reload');
    await page.locator(byId('tab-settings')).click();
    await eventually(async () => (await attr('secret-grvt.api_key', 'data-set')) === 'yes', 'status after reload');
    const html = await page.content();
    const visible = await page.locator('body').innerText();
    for (const secret of [...Object.values(SECRETS), TELEGRAM_TOKEN]) {
      assert.ok(!html.includes(secret), `secret absent from HTML: ${secret.slice(0, 6)}…`);
      assert.ok(!visible.includes(secret), `secret absent from text: ${secret.slice(0, 6)}…`);
    }
    await screenshot(page, 'settings');
  });

  it('start quotes again; keys lock while running; 中文 is chosen and remembered', async () => {
    await page.locator(byId('ctl-start')).click();
    await eventually(async () => (await engineState()) === 'running', 'engine running again', 20_000);
    await page.locator(byId('keys-locked')).waitFor();
    assert.equal(await page.locator(byId('keys-save')).isDisabled(), true);

    await page.locator(byId('lang-zh')).click();
    assert.equal(await text('tab-overview'), '总览');
    await page.reload();
    await eventually(async () => (await connState()) === 'connected', 'connected after reload');
    assert.equal(await text('tab-overview'), '总览', 'language remembered');
    assert.equal(await text('trading-mode'), '演示');
    await page.locator(byId('tab-overview')).click();
    await page.waitForTimeout(1_500);
    await screenshot(page, 'overview-zh-desktop');
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(500);
    await screenshot(page, 'overview-zh-phone');
    await page.setViewportSize(DESKTOP);
    await page.locator(byId('tab-strategy')).click();
    await page.locator(byId('param-gamma')).waitFor();
    await screenshot(page, 'strategy-zh');
    await page.locator(byId('lang-en')).click();
    await page.locator(byId('tab-overview')).click();
  });

  it('live mode is unmistakable (stream rewritten to say live)', async () => {
    const live = await context.newPage();
    // the server is in demo mode; relay its stream through the browser, naming the mode live
    await live.routeWebSocket(/\/ws\/stream$/, (ws) => {
      const upstream = ws.connectToServer();
      upstream.onMessage((raw) => {
        const message = JSON.parse(String(raw));
        if (message.data?.status) message.data.status.mode = 'live';
        ws.send(JSON.stringify(message));
      });
    });
    try {
      await live.goto(server.base);
      await live.locator(`${byId('conn-state')}[data-state="connected"]`).waitFor();
      await live.locator(byId('live-warning')).waitFor();
      assert.equal(await live.locator(byId('trading-mode')).innerText(), 'LIVE');
      const colors = await live.evaluate(() => {
        const chip = getComputedStyle(document.querySelector('[data-testid="trading-mode"]'));
        const strip = getComputedStyle(document.querySelector('[data-testid="live-warning"]'));
        return [chip.backgroundColor, strip.backgroundColor];
      });
      assert.deepEqual(colors, ['rgb(229, 56, 59)', 'rgb(229, 56, 59)'], 'live is red');
      await live.setViewportSize({ width: DESKTOP.width, height: 300 });
      await live.screenshot({ path: path.join(ARTIFACTS, 'live-header.png') });
      await live.setViewportSize({ width: PHONE.width, height: 400 });
      await live.screenshot({ path: path.join(ARTIFACTS, 'live-header-phone.png') });
    } finally {
      await live.close();
    }
  });

  it('reconnects after the server restarts on the same port and data dir', async () => {
    const seen = new Set();
    const watcher = setInterval(() => {
      connState().then((s) => seen.add(s), () => undefined);
    }, 50);
    try {
      await server.stop();
      await eventually(async () => (await connState()) === 'reconnecting', 'reconnecting while the server is down', 15_000);
      await screenshot(page, 'reconnecting');
      await page.waitForTimeout(1_500); // let pending reloads hit the dead server
      assert.equal(await page.locator('.inline-error:visible, [role="alert"]:visible').count(), 0, 'no error shown');
      assert.notEqual(await text('card-equity-value'), '—', 'last figures stay on screen');
      await server.start();
      // sessions live in server memory: after a restart the dashboard either reconnects with the
      // same cookie or asks for the password again, then connects
      const outcome = await eventually(async () => {
        if ((await connState().catch(() => null)) === 'connected') return 'connected';
        if (await page.locator(byId('login-form')).isVisible().catch(() => false)) return 'login';
        return null;
      }, 'connected or login after restart', 30_000);
      if (outcome === 'login') {
        await page.locator(byId('login-expired')).waitFor();
        await login();
      }
      await eventually(async () => (await connState()) === 'connected', 'connected after restart', 20_000);
      assert.ok(seen.has('reconnecting'), `went through reconnecting (${[...seen].join(', ')})`);
      await eventually(async () => (await text('card-equity-value')) !== '—', 'figures after restart');
    } finally {
      clearInterval(watcher);
    }
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
