/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a running
 * gateway sending through the simulator (dispatch driven by the test, as in the other HTTP tests): log in, send from Compose and watch the
 * message reach `delivered` in the log without a reload, its timeline, a template's live preview,
 * keys created and revoked, what a non-admin key sees; then every page at 1280 and 375 px:
 * screenshots kept in test-artifacts/dashboard/, no serious or critical axe-core violation, no
 * horizontal scrolling on a phone, nothing refused by the Content-Security-Policy.
 *
 * Delivery reports come in through POST /api/sms/{id}/webhook when the test says so (the
 * simulator's own reports are set an hour out), so "the log showed `sent`, then `delivered`" does
 * not depend on how fast this machine is.
 */
import axe from 'axe-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway } from '../helpers/gateway.js';
import { artifactPath, ensureDashboardBuilt, hasChromium, launchChromium } from './browser.js';

const SLOW = 120_000;

if (!hasChromium) {
  const message = 'DASHBOARD BROWSER TESTS SKIPPED: /usr/bin/chromium is missing (apt-get install chromium; .ci/run installs it)';
  console.warn(`\n${'!'.repeat(message.length)}\n${message}\n${'!'.repeat(message.length)}\n`);
}

// CI installs Chromium (.ci/run): there, its absence is a failure, not a skip.
it.runIf(!hasChromium && process.env.CI === 'true')('has Chromium to test the dashboard with', () => {
  expect.fail('/usr/bin/chromium is missing under CI=true');
});

describe.skipIf(!hasChromium)('the dashboard in Chromium', () => {
  let gw: TestGateway;
  let base: string;
  let browser: Browser;
  let admin: string;
  let otpMessageId: string;
  /** What the browser reported that it should not have: page errors, CSP refusals. */
  const browserProblems: string[] = [];
  const contexts: BrowserContext[] = [];

  async function api(path: string, init: { method?: string; body?: unknown; key?: string } = {}) {
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${init.key ?? admin}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** Hands every due message to the simulator (the test's gateway runs no background loops) and checks they are `sent`. */
  async function dispatch(ids: string[]) {
    await drain(gw.services);
    for (const id of ids) expect((await api(`/api/sms/${id}`)).body.status).toBe('sent');
  }

  async function report(id: string, status: 'delivered' | 'undelivered', errorCode?: string) {
    const res = await api(`/api/sms/${id}/webhook`, { method: 'POST', body: { status, ...(errorCode ? { error_code: errorCode } : {}) } });
    expect(res.status).toBe(200);
  }

  async function newPage(viewport = { width: 1280, height: 900 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (err) => browserProblems.push(`page error on ${page.url()}: ${err.message}`));
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) browserProblems.push(`CSP on ${page.url()}: ${message.text()}`);
    });
    return page;
  }

  async function logIn(page: Page, key: string, path = '/dashboard') {
    await page.goto(`${base}${path}`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
  }

  /** The page has finished loading what it shows: no "Loading …" left. */
  async function settled(page: Page) {
    await page.locator('main h1').waitFor();
    await page.waitForFunction(() => document.querySelector('p.state[role="status"]') === null);
    // A page of the message log keeps the rows of the page before until its own arrive (aria-busy meanwhile).
    await page.waitForFunction(() => document.querySelector('[aria-busy="true"]') === null);
  }

  beforeAll(async () => {
    ensureDashboardBuilt();
    gw = await startGateway({ API_KEY_REQUIRED: 'true', SIMULATOR_DELIVERY_DELAY_MS: '3600000' });
    await gw.start();
    base = `http://127.0.0.1:${(gw.app.server.address() as { port: number }).port}`;
    admin = (await gw.services.keys.create('admin (test)', ['admin'])).key;
    browser = await launchChromium();

    // A day of traffic for the overview: messages spread over the last 24 hours, most delivered, some not.
    const ids: string[] = [];
    for (let i = 0; i < 48; i++) {
      const sent = await api('/api/sms/send', { method: 'POST', body: { to: [{ number: `+1415555${2600 + i}` }], message: `Your order ${1000 + i} has shipped.`, sms_type: i % 4 === 0 ? 'alert' : 'transactional' } });
      expect(sent.status).toBe(200);
      ids.push(sent.body.messages[0].id);
    }
    const campaign = await api('/api/sms/send-batch', {
      method: 'POST',
      body: { name: 'Spring sale', recipients: [2700, 2701, 2702, 2703].map((n, i) => ({ number: `+1415555${n}`, name: ['Ada', 'Grace', 'Alan', 'Edsger'][i] })), message: 'Hi {{name}}, 20% off this week.', sms_type: 'promotional' },
    });
    expect(campaign.status).toBe(200);
    await api('/api/opt-outs', { method: 'POST', body: { number: '+14155552699', reason: 'replied STOP' } });
    otpMessageId = (await api('/api/otp/generate', { method: 'POST', body: { phone_number: { number: '+14155552698' } } })).body.message_id;
    await dispatch(ids);
    for (const [i, id] of ids.entries()) await (i % 7 === 3 ? report(id, 'undelivered', 'UNDELIVERABLE') : report(id, 'delivered'));
    const { db } = gw.services.store;
    for (const [i, id] of ids.entries()) {
      await db.updateTable('messages').set((eb) => ({ created_at: eb('created_at', '-', (i % 24) * 3_600_000) })).where('id', '=', id).execute();
    }
  }, 240_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await gw?.stop();
  });

  it('refuses a wrong key, and logs in with a right one on the page that was asked for', async () => {
    const page = await newPage();
    await page.goto(`${base}/dashboard/messages?status=delivered`);
    await page.getByLabel('API key').fill('sgw_not-a-real-key');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'unknown or revoked' }).waitFor();
    await page.getByLabel('API key').fill(admin);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe('/dashboard/messages?status=delivered');
    await settled(page);
    expect(await page.locator('tbody .badge').allTextContents()).toEqual(expect.arrayContaining(['delivered']));
    expect(new Set(await page.locator('tbody .badge').allTextContents())).toEqual(new Set(['delivered']));
    // A reload keeps the session (sessionStorage) and the page.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
  }, SLOW);

  it('pages through the message log with keyset cursors, forward and back, each page at its own URL', async () => {
    const page = await newPage();
    await logIn(page, admin, '/dashboard/messages');
    await settled(page);
    const rows = () => page.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-message-id')));
    const first = await rows();
    expect(first).toHaveLength(50);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText(/^Page 2 ·/).waitFor();
    await settled(page);
    const second = await rows();
    expect(second.length).toBeGreaterThan(0);
    expect(second.filter((id) => first.includes(id))).toEqual([]);
    expect(new URL(page.url()).searchParams.get('cursor')).toMatch(/^msg_/);
    // The second page's URL reloads to the same rows.
    await page.reload();
    await page.getByText(/^Page 2 ·/).waitFor();
    await settled(page);
    expect(await rows()).toEqual(second);
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.getByText(/^Page 1 ·/).waitFor();
    await settled(page);
    expect(await rows()).toEqual(first);
  }, SLOW);

  let sentId: string;

  it('sends from Compose, and the log shows the message reach delivered without a reload', async () => {
    const page = await newPage();
    await logIn(page, admin, '/dashboard/compose');
    await page.getByRole('heading', { level: 1, name: 'Compose' }).waitFor();
    await page.getByLabel('To').fill('+14155552671');
    const message = page.getByRole('textbox', { name: 'Message' });
    await message.fill('Grüße 😀');
    await page.getByTestId('compose-encoding').filter({ hasText: 'UCS-2' }).waitFor();
    await message.fill('Your table for two is booked for 8pm. Reply STOP to opt out.');
    await page.getByTestId('compose-encoding').filter({ hasText: 'GSM-7' }).waitFor();
    expect(await page.getByTestId('compose-segments').textContent()).toBe('1');
    const previewCost = page.getByTestId('compose-cost');
    await previewCost.filter({ hasText: 'via simulator' }).waitFor();
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const accepted = page.getByRole('status').filter({ hasText: 'Accepted' });
    await accepted.waitFor();
    // The cost shown before sending is the one the gateway estimated on accepting it.
    const estimated = (await accepted.textContent())!.match(/estimated (\$[\d.,]*\d)/)![1];
    expect(await previewCost.textContent()).toBe(`${estimated} via simulator`);
    sentId = (await accepted.getByRole('link', { name: /msg_/ }).textContent())!.match(/msg_\w+/)![0];

    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    await accepted.getByRole('link', { name: 'Follow it in the message log' }).click();
    const row = page.locator(`tr[data-message-id="${sentId}"]`);
    await row.waitFor();
    await dispatch([sentId]);
    // Shown as loaded (`queued`), then `sent` and `delivered` as they happen: the simulator's own report is an hour away.
    await row.locator('.badge', { hasText: /^sent$/ }).waitFor();
    await report(sentId, 'delivered');
    await row.locator('.badge', { hasText: /^delivered$/ }).waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    expect(new URL(page.url()).pathname).toBe('/dashboard/messages');

    // Its timeline: every status change with where it came from, and the send attempt.
    await row.getByRole('link').click();
    await page.getByRole('heading', { name: 'Status timeline' }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/dashboard/messages/${sentId}`);
    const timeline = page.locator('ol.timeline li');
    await timeline.filter({ hasText: 'delivered' }).waitFor();
    expect(await timeline.locator('.badge').allTextContents()).toEqual(['queued', 'sending', 'sent', 'delivered']);
    const steps = await timeline.allTextContents();
    expect(steps[0]).toContain('by api');
    expect(steps[2]).toContain('from sending, by dispatcher');
    expect(steps[3]).toContain('from sent, by webhook');
    const attempt = page.locator('section', { has: page.getByRole('heading', { name: 'Send attempts' }) }).locator('tbody tr');
    expect(await attempt.count()).toBe(1);
    expect(await attempt.textContent()).toMatch(/simulator.*accepted/);
    await page.getByTestId('message-status').filter({ hasText: 'delivered' }).waitFor();
  }, SLOW);

  it('creates a template, and its preview changes as the variables are typed', async () => {
    const page = await newPage();
    await logIn(page, admin, '/dashboard/templates');
    await page.getByRole('link', { name: 'New template' }).click();
    await page.getByLabel('Id (optional)').fill('welcome');
    await page.getByLabel('Name').fill('Welcome');
    await page.getByLabel('Content').fill('Hi {{first_name}}, your code is {{code}}.');
    const draft = page.getByTestId('draft-preview');
    expect(await draft.textContent()).toBe('Hi {{first_name}}, your code is {{code}}.');
    await page.getByLabel('first_name').fill('Ada');
    await draft.filter({ hasText: 'Hi Ada, your code is {{code}}.' }).waitFor();
    await page.getByRole('button', { name: 'Create template' }).click();

    // Saved: the gateway renders it (POST /api/templates/welcome/render) as values are typed.
    await page.getByRole('heading', { name: 'Preview with values' }).waitFor();
    expect(new URL(page.url()).search).toBe('?id=welcome');
    await page.getByTestId('render-missing').filter({ hasText: 'first_name' }).waitFor();
    await page.getByLabel('first_name').fill('Ada');
    await page.getByLabel('code').fill('4821');
    const rendered = page.getByTestId('render-preview');
    await rendered.filter({ hasText: 'Hi Ada, your code is 4821.' }).waitFor();
    await page.getByLabel('first_name').fill('Grace');
    await rendered.filter({ hasText: 'Hi Grace, your code is 4821.' }).waitFor();
    await page.locator('ol.timeline li', { hasText: 'v1' }).filter({ hasText: 'created' }).waitFor();

    // Editing makes version 2, and the versions say what changed.
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Content').fill('Hello {{first_name}}, your code is {{code}}.');
    await page.getByRole('button', { name: 'Save new version' }).click();
    const v2 = page.locator('ol.timeline li', { hasText: 'v2' });
    await v2.waitFor();
    expect(await v2.textContent()).toContain('changed: content (was “Hi {{first_name}}, your code is {{code}}.”)');
    await page.getByLabel('first_name').fill('Ada');
    await page.getByLabel('code').fill('1');
    await rendered.filter({ hasText: 'Hello Ada, your code is 1.' }).waitFor();
  }, SLOW);

  it('sends a batch from an uploaded CSV, each row\'s variables filled in, and shows its progress', async () => {
    const page = await newPage();
    await logIn(page, admin, '/dashboard/compose?mode=batch');
    await page.getByLabel('Campaign name').fill('Renewals');
    await page.getByLabel('Or upload a CSV').setInputFiles({
      name: 'renewals.csv', mimeType: 'text/csv',
      buffer: Buffer.from('number,name,plan\n+14155552801,Ada,Pro\n+14155552802,"Hopper, Grace",Team\nnot-a-number,Nobody,Pro\n'),
    });
    await page.getByText('3 recipient(s)').waitFor();
    await page.getByRole('textbox', { name: 'Message' }).fill('Hi {{name}}, your {{plan}} plan renews next week.');
    await page.getByTestId('compose-preview').filter({ hasText: 'Hi Ada, your Pro plan renews next week.' }).waitFor();
    await page.getByRole('button', { name: 'Send batch' }).click();
    const result = page.getByRole('status').filter({ hasText: 'accepted' });
    await result.waitFor();
    expect(await result.textContent()).toContain('2 accepted, 1 rejected');
    expect(await result.textContent()).toContain('not-a-number');
    const texts = (await api('/api/sms?to=%2B14155552802')).body.items.map((m: { message: string }) => m.message);
    expect(texts).toEqual(['Hi Hopper, Grace, your Team plan renews next week.']);
    await result.getByRole('link', { name: 'See its progress' }).click();
    const card = page.locator('li.card', { hasText: 'Renewals' });
    await card.waitFor();
    expect(await card.textContent()).toContain('2 accepted of 3');
    // Not dispatched yet (the test drives dispatch): both can still be canceled.
    page.on('dialog', (dialog) => void dialog.accept());
    await card.getByRole('button', { name: 'Cancel' }).click();
    await card.locator('.badge', { hasText: /^canceled$/ }).waitFor();
    expect((await api('/api/sms?to=%2B14155552801')).body.items.map((m: { status: string }) => m.status)).toEqual(['canceled']);
  }, SLOW);

  it('shows times in the browser\'s own time zone', async () => {
    const context = await browser.newContext({ timezoneId: 'Pacific/Chatham', locale: 'en-GB' });
    contexts.push(context);
    const page = await context.newPage();
    await logIn(page, admin, `/dashboard/messages/${sentId}`);
    await page.getByRole('heading', { name: 'Status timeline' }).waitFor();
    const created = (await api(`/api/sms/${sentId}`)).body.created_at as string;
    const expected = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'Pacific/Chatham' }).format(new Date(created));
    const shown = await page.locator('.facts div', { hasText: 'Created' }).locator('dd').textContent();
    expect(shown).toBe(expected);
    // Chatham is UTC+12:45 or +13:45: the same instant never reads the same in UTC.
    expect(shown).not.toBe(new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'UTC' }).format(new Date(created)));
  }, SLOW);

  it('lets an admin create and revoke keys, and shows a non-admin key no admin page', async () => {
    const page = await newPage();
    await logIn(page, admin, '/dashboard/keys');
    page.on('dialog', (dialog) => void dialog.accept());
    const created: Record<string, string> = {};
    for (const name of ['doomed', 'ops']) {
      await page.getByLabel('Name').fill(name);
      if (name === 'ops') await page.getByRole('checkbox', { name: /sms:send/ }).check();
      await page.getByRole('button', { name: 'Create key' }).click();
      const secret = page.getByLabel('New API key');
      await page.getByRole('status').filter({ hasText: `Key ${name} created` }).waitFor();
      created[name] = await secret.inputValue();
      expect(created[name]).toMatch(/^sgw_/);
      await page.getByRole('button', { name: 'I have copied it' }).click();
    }
    await page.getByRole('button', { name: 'Revoke doomed' }).click();
    await page.locator('tr', { hasText: 'doomed' }).locator('.badge', { hasText: 'revoked' }).waitFor();
    expect((await api('/api/keys/current', { key: created.doomed })).status).toBe(401);
    expect((await api('/api/keys/current', { key: created.ops })).body.scopes).toEqual(['read', 'sms:send']);

    const ops = await newPage();
    await logIn(ops, created.ops);
    const nav = ops.getByRole('navigation', { name: 'Dashboard' });
    await ops.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Overview', 'Messages', 'Batches', 'Compose', 'Templates', 'Providers', 'Opt-outs']);
    await ops.goto(`${base}/dashboard/keys`);
    await ops.getByText('may not use this page').waitFor();
    await ops.goto(`${base}/dashboard/audit`);
    await ops.getByText('may not use this page').waitFor();
    // Templates it may read but not write: no way to make one.
    await ops.goto(`${base}/dashboard/templates`);
    await settled(ops);
    expect(await ops.getByRole('link', { name: 'New template' }).count()).toBe(0);

    // A key that may only send lands on Compose, the one page it may use.
    const sender = await newPage();
    await logIn(sender, (await gw.services.keys.create('sender', ['sms:send'])).key);
    await sender.getByRole('heading', { level: 1, name: 'Compose' }).waitFor();
    expect(await sender.getByRole('navigation', { name: 'Dashboard' }).getByRole('link').allTextContents()).toEqual(['Compose']);
    // The form renders after the heading: wait for its choices before reading them.
    await sender.getByRole('radio').nth(1).waitFor();
    expect(await sender.getByRole('radio').evaluateAll((radios) => radios.map((r) => (r as HTMLInputElement).value))).toEqual(['message', 'batch']);
  }, SLOW);

  it('masks OTP codes as the API does, shows errors as errors, and ends the session when its key is revoked', async () => {
    const page = await newPage();
    await logIn(page, admin, `/dashboard/messages/${otpMessageId}`);
    await page.getByRole('heading', { name: 'Status timeline' }).waitFor();
    const outbox = (await api('/api/simulator/outbox?to=%2B14155552698')).body.items as Array<{ body: string }>;
    const code = outbox[0].body.match(/\d{6}/)![0];
    const shown = await page.locator('pre.sms-text').first().textContent();
    expect(shown).not.toContain(code);
    expect(shown).toBe((await api(`/api/sms/${otpMessageId}`)).body.message);

    await page.goto(`${base}/dashboard/messages/msg_00000000000000000000000000`);
    await page.getByRole('alert').filter({ hasText: /not found/i }).waitFor();

    // Revoked elsewhere: the next call the page makes is refused, and the dashboard asks for a key again.
    const key = (await gw.services.keys.create('short-lived', ['read'])).key;
    const other = await newPage();
    await logIn(other, key, '/dashboard/messages');
    await settled(other);
    const keyId = (await api('/api/keys/current', { key })).body.key_id;
    expect((await api(`/api/keys/${keyId}`, { method: 'DELETE' })).status).toBe(200);
    await other.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Providers' }).click();
    await other.getByLabel('API key').waitFor();
  }, SLOW);

  it('can be used with the keyboard alone', async () => {
    const page = await newPage();
    await page.goto(`${base}/dashboard/providers`);
    // The login form is drawn by the script after load: Tab before it exists would land nowhere.
    await page.getByLabel('API key').waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('api-key');
    await page.keyboard.type(admin);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Providers' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    // Then into the navigation and to another page, by keyboard.
    await page.locator('nav.side a', { hasText: 'Messages' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
  }, SLOW);

  it('every page, at 1280 and 375 px: a screenshot kept, no serious or critical axe violation, no sideways scrolling on a phone', async () => {
    const pages: Array<[string, string]> = [
      ['overview', '/dashboard'],
      ['messages', '/dashboard/messages'],
      ['message', `/dashboard/messages/${sentId}`],
      ['batches', '/dashboard/batches'],
      ['compose', '/dashboard/compose'],
      ['compose-batch', '/dashboard/compose?mode=batch'],
      ['compose-otp', '/dashboard/compose?mode=otp'],
      ['templates', '/dashboard/templates?id=welcome'],
      ['providers', '/dashboard/providers'],
      ['keys', '/dashboard/keys'],
      ['opt-outs', '/dashboard/opt-outs'],
      ['audit', '/dashboard/audit'],
    ];
    const violations: string[] = [];
    const overflowing: string[] = [];
    for (const width of [1280, 375]) {
      const page = await newPage({ width, height: width === 375 ? 812 : 900 });
      const check = async (name: string) => {
        await page.screenshot({ path: artifactPath(`${name}-${width}.png`), fullPage: true });
        await page.evaluate(axe.source);
        const found = await page.evaluate(async () => {
          const result = await (window as unknown as { axe: typeof axe }).axe.run(document, { resultTypes: ['violations'] });
          return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
        });
        violations.push(...found.map((v) => `${name} at ${width}px: ${v}`));
        if (await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)) overflowing.push(`${name} at ${width}px`);
      };
      await page.goto(`${base}/dashboard`);
      await page.getByLabel('API key').waitFor();
      await check('login');
      await logIn(page, admin);
      for (const [name, path] of pages) {
        await page.goto(`${base}${path}`);
        await settled(page);
        await check(name);
      }
    }
    expect(violations).toEqual([]);
    expect(overflowing).toEqual([]);
    expect(browserProblems).toEqual([]);
  }, 300_000);
});
