// The web console in a real browser: Debian's chromium, driven by playwright-core, against
// the real `switchboard` binary and a loopback upstream that records what it receives.
//
//   cd tests/browser && npm ci && npm test
//
// Needs the host binary (cargo build -p switchboard) and the fetch plugin (built by
// `cargo test`'s build script). Environment:
//   SWITCHBOARD_BIN         the host binary        (default $CARGO_TARGET_DIR or ../../target, then debug/switchboard)
//   SWITCHBOARD_FETCH_WASM  the fetch plugin       (default the same target folder's plugins/wasm32-wasip2/plugin/fetch.wasm)
//   CHROMIUM                the browser            (default /usr/bin/chromium)
//   SWITCHBOARD_SCREENSHOTS where to save PNGs     (default a temporary folder; `npm run screenshots`
//                                                   writes docs/screenshots/)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
const BIN = process.env.SWITCHBOARD_BIN || path.join(targetDir, 'debug/switchboard');
const FETCH_WASM = process.env.SWITCHBOARD_FETCH_WASM
  || path.join(targetDir, 'plugins/wasm32-wasip2/plugin/fetch.wasm');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SECRET = 'sk-canary-7f3a91';
const SECRET_2 = 'sk-canary-second-55';

let dataDir;
let shotsDir;
let host;
let hostLog = '';
let base;
let adminToken;
let upstream;
let upstreamOrigin;
const received = [];
let browser;
let context;
let page;
const pageErrors = [];
const offsiteRequests = [];
const requestUrls = [];

async function startUpstream() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'hello from upstream', path: req.url.split('?')[0] }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function startHost() {
  await fs.access(BIN).catch(() => {
    throw new Error(`no host binary at ${BIN}: run \`cargo build -p switchboard\` (or set SWITCHBOARD_BIN)`);
  });
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data', dataDir, '--allow-private-networks'], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info,cranelift=warn,wasmtime=warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the host did not start in 60 s:\n${hostLog}`)), 60_000);
    const onData = (chunk) => {
      hostLog += chunk;
      const m = hostLog.match(/listening on http:\/\/([\d.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => { hostLog += c; });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the host exited (${code}):\n${hostLog}`));
    });
  });
  child.removeAllListeners('exit');
  return { child, addr };
}

async function shot(name, options = {}) {
  const file = path.join(shotsDir, `${name}.png`);
  await hideToast();
  if (options.fullPage ?? true) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: options.fullPage ?? true, animations: 'disabled' });
  return file;
}

/** The toast shows for a few seconds; screenshots look better without it. */
async function hideToast() {
  await page.evaluate(() => document.getElementById('toast').classList.remove('visible'));
}

const heading = (name) => page.getByRole('heading', { level: 1, name });
const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

// The steps build on each other: after a failure, the rest are skipped rather than each
// waiting for its own timeout.
let failed = null;
function step(name, fn) {
  it(name, async (t) => {
    if (failed) {
      t.skip(`after the failure of: ${failed}`);
      return;
    }
    try {
      await fn(t);
    } catch (err) {
      failed = name;
      if (page) {
        const file = path.join(os.tmpdir(), `switchboard-console-failure-${Date.now()}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => {});
        console.error(`screenshot of the failure: ${file}\nhost log:\n${hostLog.slice(-4000)}`);
      }
      throw err;
    }
  });
}

describe('the web console', { timeout: 300_000 }, () => {
  before(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'switchboard-console-'));
    shotsDir = process.env.SWITCHBOARD_SCREENSHOTS
      ? path.resolve(process.env.SWITCHBOARD_SCREENSHOTS)
      : path.join(dataDir, 'screenshots');
    await fs.mkdir(shotsDir, { recursive: true });
    await fs.access(FETCH_WASM).catch(() => {
      throw new Error(`no fetch plugin at ${FETCH_WASM}: run \`cargo test --workspace\` first (its build script builds the plugins), or set SWITCHBOARD_FETCH_WASM`);
    });
    upstream = await startUpstream();
    upstreamOrigin = `http://127.0.0.1:${upstream.address().port}`;
    const started = await startHost();
    host = started.child;
    base = `http://${started.addr}`;
    adminToken = (await fs.readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light', reducedMotion: 'reduce' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // A refused API call (401, 400, ...) is logged by Chromium as a failed resource
      // load; the console shows those inline, so they are not errors of the page.
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
    });
    page.on('request', (r) => {
      requestUrls.push(r.url());
      if (!r.url().startsWith(`${base}/`) && !r.url().startsWith('data:')) offsiteRequests.push(r.url());
    });
  });

  after(async () => {
    await browser?.close();
    if (host && host.exitCode === null) {
      host.kill('SIGTERM');
      await Promise.race([once(host, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
      if (host.exitCode === null) host.kill('SIGKILL');
    }
    upstream?.close();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true }).catch(() => {});
  });

  step('signs in with the admin token, kept in session storage and never in a URL', async () => {
    await page.goto(`${base}/`);
    await heading('Switchboard').waitFor();
    await shot('01-sign-in');
    const tokenInput = page.getByLabel('Admin token');
    assert.equal(await tokenInput.getAttribute('type'), 'password');
    assert.ok(await tokenInput.evaluate((el) => el === document.activeElement), 'the token field has focus');

    await tokenInput.fill('sb_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.token')), null);

    await tokenInput.fill(adminToken);
    await tokenInput.press('Enter');
    await heading('My connections').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.token')), adminToken);
    assert.equal(await page.evaluate(() => localStorage.getItem('switchboard.token')), null);
    assert.ok(!page.url().includes(adminToken));
  });

  step('refuses a bad link name as it is typed and shows API errors next to the form', async () => {
    await nav('Services').click();
    await heading('Services').waitFor();
    await page.getByRole('link', { name: 'Create service' }).first().click();
    await heading('Create service').waitFor();
    await page.getByLabel('Service name').fill('Broken');
    assert.equal(await page.getByLabel('Service link name').inputValue(), 'broken', 'the link name follows the name');
    await page.getByLabel('Actual parameter 1').fill('key');
    await page.getByLabel('Parameter display name 1').fill('Key');
    await page.getByLabel('API origins').fill('ftp://files.example');
    await page.getByRole('button', { name: 'Create service' }).click();
    const error = page.locator('.form-error');
    await error.filter({ hasText: 'invalid_service' }).waitFor();
    assert.match(await error.textContent(), /origin/i);
    await page.getByRole('link', { name: 'Cancel' }).click();
    await heading('Services').waitFor();
  });

  step('creates a custom API-key service and a connection, and connects it', async () => {
    await nav('Connections').click();
    await heading('My connections').waitFor();
    await page.getByRole('link', { name: 'Create your first connection' }).click();
    await heading('Create connection').waitFor();
    // The Pick your service tab is open and lists the default services (the catalogue)
    // by category; nothing is custom yet.
    const pickTab = page.getByRole('tab', { name: 'Pick your service' });
    assert.equal(await pickTab.getAttribute('aria-selected'), 'true');
    const github = page.locator('[data-service="github"]');
    await github.waitFor();
    assert.match(await github.textContent(), /GitHub.*Default.*OAuth 2/);
    assert.ok(await page.locator('.service-card').count() > 100, 'the catalogue is listed');
    assert.equal(await page.locator('#panel-pick .badge-custom').count(), 0);
    await page.getByRole('heading', { level: 3, name: /^Developer tools/ }).waitFor();
    // Arrow keys move between the tabs; the Custom service tab describes a new service.
    await pickTab.focus();
    await pickTab.press('ArrowRight');
    const customTab = page.getByRole('tab', { name: 'Custom service' });
    assert.equal(await customTab.getAttribute('aria-selected'), 'true');
    assert.ok(await customTab.evaluate((el) => el === document.activeElement), 'focus follows the tab');
    assert.ok(await page.locator('#panel-pick').isHidden());

    await page.getByLabel('Service name').fill('Echo API');
    assert.equal(await page.getByLabel('Service link name').inputValue(), 'echo_api');
    await page.getByLabel('Param type 1').selectOption('header');
    await page.getByLabel('Actual parameter 1').fill('x-api-key');
    await page.getByLabel('Parameter display name 1').fill('API key');
    await page.getByRole('button', { name: '+ Add dynamic parameter' }).click();
    await page.getByLabel('Parameter key 1').fill('version');
    await page.getByLabel('Dynamic parameter display name 1').fill('API version');
    await page.getByLabel('Pattern 1 (optional)').fill('v[0-9]+');
    await page.getByLabel('API origins').fill(upstreamOrigin);
    await page.getByLabel('Category', { exact: true }).fill('Testing');
    await page.getByLabel('Description').fill('A loopback upstream that records what it gets.');

    await page.getByLabel('Connection name').fill('Echo (main)');
    const link = page.getByLabel(/^Link name/);
    assert.equal(await link.inputValue(), 'echo_main', 'the link name follows the connection name');
    // The dynamic parameter asks for its value.
    await page.getByLabel('API version').fill('v1');

    // Live validation of the link name.
    await link.fill('Echo Main');
    const linkError = page.locator(`#${await link.getAttribute('id')}-err`);
    assert.match(await linkError.textContent(), /start with a lower-case letter/);
    assert.equal(await link.getAttribute('aria-invalid'), 'true');
    await link.fill('echo main');
    assert.match(await linkError.textContent(), /not space/);
    await link.fill('e'.repeat(51));
    assert.match(await linkError.textContent(), /At most 50/);
    await page.getByRole('button', { name: 'Create and connect' }).click();
    await page.locator('.form-error').filter({ hasText: 'Link name: At most 50' }).waitFor();
    assert.ok(await link.evaluate((el) => el === document.activeElement), 'focus moves to the bad field');
    await link.fill('echo_main');
    assert.equal(await linkError.textContent(), '');
    assert.equal(await link.getAttribute('aria-invalid'), null);
    await shot('03-create-connection');

    await page.getByRole('button', { name: 'Create and connect' }).click();
    const dialog = page.getByRole('dialog', { name: 'Connect Echo (main)' });
    await dialog.waitFor();
    const key = dialog.getByLabel('API key');
    assert.equal(await key.getAttribute('type'), 'password');
    assert.ok(await key.evaluate((el) => el === document.activeElement), 'the dialog focuses its first field');
    await key.fill(SECRET);
    await shot('04-connect-dialog', { fullPage: false });
    await dialog.getByRole('button', { name: 'Connect' }).click();
    await heading('Echo (main)').waitFor();
    await page.locator('main .page-title .badge', { hasText: 'Connected' }).waitFor();
  });

  step('shows the connection summary with the SDK snippet and copies it', async () => {
    const snippet = await page.locator('code.snippet').textContent();
    assert.match(snippet, /Some\("echo_main"\)/);
    assert.match(snippet, /127\.0\.0\.1/);
    const details = await page.locator('dl.details').first().textContent();
    assert.match(details, /echo_main/);
    assert.match(details, /Echo API/);
    assert.match(details, /x-api-key/, 'names which credential is set');
    assert.match(details, /\{version\} = v1/);
    assert.ok(!(await page.content()).includes(SECRET), 'the page never holds the secret');
    await hideToast();
    await shot('05-connection-summary');
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), snippet);
  });

  step('shows the service with its edit rules', async () => {
    await page.getByRole('link', { name: 'Echo API' }).click();
    await heading('Echo API').waitFor();
    await page.getByText('Connections (1)').waitFor();
    await shot('07-service');
    await page.getByRole('link', { name: 'Edit' }).click();
    await heading('Edit Echo API').waitFor();
    await page.getByText('Editing revokes connections.').waitFor();
    assert.equal(await page.getByLabel('Service link name').getAttribute('readonly'), '');
    assert.ok(await page.getByLabel('Authentication type').isDisabled());
    assert.equal(await page.getByLabel('Actual parameter 1').getAttribute('readonly'), '', 'existing parameters keep their name');
    assert.equal(await page.getByRole('button', { name: 'Remove parameter 1' }).count(), 0, 'existing parameters cannot be removed');
    await page.getByRole('button', { name: 'Save and revoke 1 connection' }).waitFor();
    await shot('08-service-edit');
    await page.getByRole('link', { name: 'Cancel' }).click();
    await heading('Echo API').waitFor();
  });

  step('creates a Basic service, and connections from the Pick your service tab', async () => {
    await nav('Services').click();
    await heading('Services').waitFor();
    await page.getByRole('link', { name: 'Create service' }).click();
    await heading('Create service').waitFor();
    await page.getByLabel('Service name').fill('Legacy CRM');
    await page.getByLabel('Authentication type').selectOption('basic');
    assert.ok(await page.getByText('API key parameters').isHidden(), 'Basic has no fields');
    await page.getByText(/Basic: connecting asks for a username and a password/).waitFor();
    await page.getByLabel('API origins').fill('https://crm.legacy.example');
    await page.getByLabel('Category', { exact: true }).fill('CRM');
    await page.getByLabel('Description').fill('The old CRM, behind Basic auth.');
    await page.getByRole('button', { name: 'Create service' }).click();
    await heading('Legacy CRM').waitFor();
    await nav('Services').click();
    // Custom "CRM" and the catalogue's "crm" are one category.
    await page.getByRole('heading', { level: 2, name: /^CRM/ }).waitFor();
    await page.getByRole('heading', { level: 2, name: /^Testing/ }).waitFor();
    assert.match(await page.locator('a[data-service="legacy_crm"]').textContent(), /Legacy CRM.*Custom/);
    await hideToast();
    await shot('06-services', { fullPage: false });
    // The kind filter: custom services only, then default ones only.
    await page.getByRole('radio', { name: /^Custom/ }).check();
    await page.locator('a[data-service="github"]').waitFor({ state: 'hidden' });
    assert.ok(await page.locator('a[data-service="echo_api"]').isVisible());
    assert.match(await page.locator('.browser-status').textContent(), /^2 of \d+ services match/);
    await page.getByRole('radio', { name: /^Default/ }).check();
    await page.locator('a[data-service="echo_api"]').waitFor({ state: 'hidden' });
    assert.ok(await page.locator('a[data-service="stripe"]').isVisible());

    await nav('Connections').click();
    await page.getByRole('link', { name: 'Create connection' }).click();
    await heading('Create connection').waitFor();
    assert.equal(await page.getByRole('tab', { name: 'Pick your service' }).getAttribute('aria-selected'), 'true');
    await page.getByRole('searchbox', { name: 'Search services' }).fill('legacy');
    assert.ok(await page.locator('[data-service="echo_api"]').isHidden(), 'the search filters the services');
    await page.locator('[data-service="legacy_crm"]').click();
    assert.equal(await page.locator('[data-service="legacy_crm"]').getAttribute('aria-pressed'), 'true');
    await page.getByLabel('Connection name').fill('Legacy CRM (sales)');
    assert.equal(await page.getByLabel(/^Link name/).inputValue(), 'legacy_crm_sales');
    await page.getByRole('button', { name: 'Create and connect' }).click();
    const dialog = page.getByRole('dialog', { name: 'Connect Legacy CRM (sales)' });
    await dialog.getByLabel('Username').fill('ada');
    assert.equal(await dialog.getByLabel('Password').getAttribute('type'), 'password');
    await dialog.getByLabel('Password').fill('hunter2-canary');
    await dialog.getByRole('button', { name: 'Connect' }).click();
    await heading('Legacy CRM (sales)').waitFor();
    await page.locator('main .page-title .badge', { hasText: 'Connected' }).waitFor();
    assert.match(await page.locator('dl.details').first().textContent(), /username.*password/);

    // A second connection of the API-key service, its dialog cancelled: not connected.
    await page.goto(`${base}/#/connections/new?service=echo_api`);
    await heading('Create connection').waitFor();
    await page.locator('[data-service="echo_api"][aria-pressed="true"]').waitFor();
    await hideToast();
    await shot('03b-pick-your-service');
    await page.getByLabel('Connection name').fill('Echo (staging)');
    await page.getByLabel('API version').fill('v2');
    await page.getByRole('button', { name: 'Create and connect' }).click();
    await page.getByRole('dialog', { name: 'Connect Echo (staging)' }).getByRole('button', { name: 'Cancel' }).click();
    await heading('Echo (staging)').waitFor();
    await page.locator('main .page-title .badge', { hasText: 'Not connected' }).waitFor();
  });

  step('creates an AWS Signature v4 service and connects a connection with access keys', async () => {
    await nav('Services').click();
    await page.getByRole('link', { name: 'Create service' }).click();
    await heading('Create service').waitFor();
    await page.getByLabel('Service name').fill('Files on S3');
    await page.getByLabel('Authentication type').selectOption('aws_sigv4');
    await page.getByRole('button', { name: 'Create service' }).click();
    await page.locator('.form-error').filter({ hasText: 'AWS service: Required.' }).waitFor();
    await page.getByLabel('AWS service').fill('s3');
    await page.getByLabel('AWS region').fill('eu-west-3');
    await page.getByRole('button', { name: 'Create service' }).click();
    await heading('Files on S3').waitFor();
    assert.match(await page.locator('dl.details').first().textContent(), /AWS region\s*eu-west-3/);
    await page.getByRole('link', { name: 'Create connection' }).click();
    await page.locator('[data-service="files_on_s3"][aria-pressed="true"]').waitFor();
    await page.getByLabel('Connection name').fill('S3 backups');
    await page.getByRole('button', { name: 'Create and connect' }).click();
    const dialog = page.getByRole('dialog', { name: 'Connect S3 backups' });
    await dialog.getByLabel('Access key id').fill('AKIDEXAMPLE');
    assert.equal(await dialog.getByLabel('Secret access key').getAttribute('type'), 'password');
    await dialog.getByLabel('Secret access key').fill('wJalrXUtnFEMI-canary-EXAMPLEKEY');
    await dialog.getByRole('button', { name: 'Connect' }).click();
    await heading('S3 backups').waitFor();
    await page.locator('main .page-title .badge', { hasText: 'Connected' }).waitFor();
    assert.match(await page.locator('dl.details').first().textContent(), /access_key_id.*secret_access_key/);
  });

  step('finds default services on the Pick tab; a default OAuth service needs its client', async () => {
    // Nothing here connects or calls a default service: their origins are real hosts.
    await nav('Connections').click();
    await heading('My connections').waitFor();
    await page.getByRole('link', { name: 'Create connection' }).click();
    await heading('Create connection').waitFor();
    const search = page.getByRole('searchbox', { name: 'Search services' });
    await search.fill('stripe');
    const stripe = page.locator('[data-service="stripe"]');
    await stripe.waitFor();
    assert.match(await stripe.textContent(), /Stripe.*Default/);
    assert.ok(await page.locator('[data-service="github"]').isHidden());
    assert.match(await page.locator('#panel-pick .browser-status').textContent(), /^\d+ of \d+ services match/);
    await search.fill('echo');
    assert.match(await page.locator('[data-service="echo_api"]').textContent(), /Echo API.*Custom/);
    await search.fill('zzz-nothing');
    await page.getByText('No service matches.').waitFor();
    await search.fill('');
    await page.locator('#panel-pick').getByLabel('Filter by category').selectOption('crm');
    await page.locator('[data-service="legacy_crm"]').waitFor();
    assert.ok(await page.locator('[data-service="github"]').isHidden(), 'the category filter');
    await page.locator('#panel-pick').getByLabel('Filter by category').selectOption('*');

    // A default OAuth service without its client: the connection is made, connecting is refused inline.
    await search.fill('github');
    await page.locator('[data-service="github"]').click();
    assert.equal(await page.locator('[data-service="github"]').getAttribute('aria-pressed'), 'true');
    await page.getByText('GitHub has no OAuth client yet').waitFor();
    await page.getByLabel('Connection name').fill('GitHub (ci)');
    assert.equal(await page.getByLabel(/^Link name/).inputValue(), 'github_ci');
    await hideToast();
    await shot('03c-pick-default-service');
    await page.getByRole('button', { name: 'Create and connect' }).click();
    const dialog = page.getByRole('dialog', { name: 'Connect GitHub (ci)' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Continue to sign in' }).click();
    const refused = dialog.getByRole('alert').filter({ hasText: 'client_not_configured' });
    await refused.waitFor();
    assert.match(await refused.textContent(), /no OAuth client yet/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await heading('GitHub (ci)').waitFor();
    await page.locator('main .page-title .badge', { hasText: 'Not connected' }).waitFor();

    // The default service's page: read-only, its documentation, its OAuth client.
    await page.getByRole('link', { name: 'GitHub', exact: true }).click();
    await heading('GitHub').waitFor();
    await page.locator('main .page-title .badge', { hasText: 'Default' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Edit' }).count(), 0, 'no Edit');
    assert.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0, 'no Delete');
    await page.getByText('Default service, read-only.').waitFor();
    const docs = page.getByRole('link', { name: /GitHub documentation/ });
    assert.match(await docs.getAttribute('href'), /^https:\/\/docs\.github\.com\//);
    assert.equal(await docs.getAttribute('target'), '_blank');
    assert.equal(await docs.getAttribute('rel'), 'noopener noreferrer');
    const client = page.locator('section', { has: page.getByRole('heading', { name: 'OAuth client' }) });
    await client.getByText('No client yet').waitFor();
    const secret = client.getByLabel('Client secret');
    assert.equal(await secret.getAttribute('type'), 'password');
    await client.getByLabel('Client id').fill('Iv1.canary-client');
    await client.getByRole('button', { name: 'Set client' }).click();
    await client.getByRole('alert').filter({ hasText: 'Client secret: required.' }).waitFor();
    assert.ok(await secret.evaluate((el) => el === document.activeElement), 'focus moves to the missing secret');
    await client.getByLabel('Client id').fill('not an id');
    await secret.fill('canary-client-secret-1');
    await client.getByRole('button', { name: 'Set client' }).click();
    await client.getByRole('alert').filter({ hasText: 'invalid_body' }).waitFor();
    await client.getByLabel('Client id').fill('Iv1.canary-client');
    await client.getByRole('button', { name: 'Set client' }).click();
    await heading('GitHub').waitFor();
    const set = page.locator('section', { has: page.getByRole('heading', { name: 'OAuth client' }) });
    await set.getByText('Client set').waitFor();
    assert.match(await set.locator('.client-status').textContent(), /Iv1\.canary-client/);
    assert.equal(await set.getByRole('button', { name: 'Replace client' }).count(), 1);
    assert.ok(!(await page.content()).includes('canary-client-secret-1'), 'the page never holds the client secret');
    await hideToast();
    await shot('07b-default-service');

    // A default service's edit page says it is read-only.
    await page.goto(`${base}/#/services/github/edit`);
    await heading('GitHub is read-only').waitFor();
  });

  step('deploys the fetch plugin (file input, then drag and drop), rolls back, grants the connection', async () => {
    await nav('Functions').click();
    await heading('Functions').waitFor();
    await page.getByLabel('Function name').fill('Fetch!');
    await page.getByRole('button', { name: 'Deploy', exact: true }).click();
    await page.locator('.form-error').filter({ hasText: 'Function name' }).waitFor();
    await page.getByLabel('Function name').fill('');
    await page.getByLabel('Component (.wasm)').setInputFiles(FETCH_WASM);
    assert.equal(await page.getByLabel('Function name').inputValue(), 'fetch', 'named after the file');
    await page.getByRole('button', { name: 'Deploy', exact: true }).click();
    await heading('fetch').waitFor();
    await page.locator('main .page-title .badge', { hasText: 'v1 current' }).waitFor();

    // Version 2 by drag and drop, with a limit, then roll back to version 1.
    const wasm = await fs.readFile(FETCH_WASM);
    const transfer = await page.evaluateHandle((b64) => {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'fetch.wasm', { type: 'application/wasm' }));
      return dt;
    }, wasm.toString('base64'));
    const zone = page.locator('.dropzone');
    await zone.dispatchEvent('dragenter', { dataTransfer: transfer });
    await zone.dispatchEvent('drop', { dataTransfer: transfer });
    await page.getByText(/fetch\.wasm \(\d/).waitFor();
    await page.getByText('Limits and allowed hosts').click();
    await page.getByLabel('Timeout (ms)').fill('5000');
    await page.getByRole('button', { name: 'Deploy new version' }).click();
    await page.locator('main .page-title .badge', { hasText: 'v2 current' }).waitFor();
    assert.match(await page.locator('dl.details').first().textContent(), /5000 ms/);
    await page.getByRole('button', { name: 'Roll back' }).click();
    await page.getByRole('dialog', { name: 'Roll back fetch to version 1?' }).getByRole('button', { name: 'Make v1 current' }).click();
    await page.locator('main .page-title .badge', { hasText: 'v1 current' }).waitFor();

    await page.getByLabel('Connection', { exact: true }).selectOption('echo_main');
    await page.getByRole('button', { name: 'Grant', exact: true }).click();
    await page.getByRole('list', { name: 'Granted connections' }).getByText('Echo (main)').waitFor();
  });

  step('invokes the function: bad JSON is refused inline, the upstream gets the key, the output shows', async () => {
    const input = page.getByLabel('Input (JSON)');
    await input.fill('{"url": ');
    await page.getByRole('button', { name: 'Invoke' }).click();
    await page.locator('.form-error').filter({ hasText: 'not valid JSON' }).waitFor();
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    assert.equal(received.length, 0, 'nothing was sent');

    await input.fill(JSON.stringify({ url: `${upstreamOrigin}/{version}/ping?q=1`, connection: 'echo_main' }));
    await input.press('Control+Enter');
    const output = page.getByLabel('Output');
    await output.waitFor();
    const text = await output.textContent();
    const result = JSON.parse(text);
    assert.equal(result.status, 200, text);
    assert.match(result.body, /hello from upstream/);
    assert.equal(received.length, 1);
    assert.equal(received[0].headers['x-api-key'], SECRET, 'the host added the key');
    assert.equal(received[0].url, '/v1/ping?q=1', 'the dynamic parameter was filled');
    assert.ok(!text.includes(SECRET));
    await page.getByText(/Invocation #\d+ · version 1/).waitFor();
    // The activity of the granted connection and the log line appear.
    await page.locator('section', { has: page.getByRole('heading', { name: 'Activity of granted connections' }) })
      .getByText('ok', { exact: true }).waitFor();
    await page.locator('table.logs').getByText(/GET .*\/ping/).waitFor();
    await hideToast();
    await shot('10-function');
    await nav('Functions').click();
    await heading('Functions').waitFor();
    await shot('09-functions');
  });

  step('revokes the connection from the list (keyboard-friendly dialog) and the status changes', async () => {
    await nav('Connections').click();
    await heading('My connections').waitFor();
    const row = page.locator('li.row[data-link="echo_main"]');
    await row.locator('.badge', { hasText: 'Connected' }).waitFor();
    await row.hover();
    await shot('02-connections', { fullPage: false });
    const revoke = row.getByRole('button', { name: 'Revoke' });
    await revoke.click();
    const dialog = page.getByRole('dialog', { name: 'Revoke Echo (main)?' });
    await dialog.waitFor();
    assert.ok(await dialog.getByRole('button', { name: 'Cancel' }).evaluate((el) => el === document.activeElement),
      'a destructive dialog focuses Cancel');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.ok(await revoke.evaluate((el) => el === document.activeElement), 'focus returns to the opener');
    await revoke.click();
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await row.locator('.badge', { hasText: 'Revoked' }).waitFor();

    // The function now gets needs-reconnect.
    await page.goto(`${base}/#/functions/fetch`);
    await heading('fetch').waitFor();
    await page.getByLabel('Input (JSON)').fill(JSON.stringify({ url: `${upstreamOrigin}/v1/ping`, connection: 'echo_main' }));
    await page.getByRole('button', { name: 'Invoke' }).click();
    await page.getByLabel('Output').getByText('needs-reconnect').waitFor();
    assert.equal(received.length, 1, 'nothing reached the upstream');
  });

  step('reconnects from the summary with new values', async () => {
    await page.goto(`${base}/#/connections/echo_main`);
    await heading('Echo (main)').waitFor();
    await page.getByRole('button', { name: 'Reconnect' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reconnect Echo (main)' });
    await dialog.getByRole('button', { name: 'Reconnect' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'API key' }).waitFor(); // empty value refused inline
    await dialog.getByLabel('API key').fill(SECRET_2);
    await dialog.getByRole('button', { name: 'Reconnect' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('main .page-title .badge', { hasText: 'Connected' }).waitFor();
  });

  step('toggles dark mode, remembered after a reload', async () => {
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
    const toggle = page.getByRole('button', { name: /Dark mode/ });
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    assert.equal(await page.evaluate(() => localStorage.getItem('switchboard.theme')), 'dark');
    await page.reload();
    await heading('Echo (main)').waitFor(); // still signed in: the tab's session storage
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    assert.equal(await page.getByRole('button', { name: /Dark mode/ }).getAttribute('aria-pressed'), 'true');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(14, 17, 23)');
    await hideToast();
    await shot('11-dark-mode');
    await page.getByRole('button', { name: /Dark mode/ }).click();
    assert.equal(await page.evaluate(() => localStorage.getItem('switchboard.theme')), 'light');
  });

  step('loads every page from a fresh start with its modules and no console error', async () => {
    // Each page is loaded anew (a full navigation, not a hash change), so every ES module
    // under /console/ is fetched and linked again; a module that fails to load, is not
    // served as JavaScript or imports a name another module does not export shows here.
    const pages = [
      ['#/connections', 'My connections'],
      ['#/connections/new', 'Create connection'],
      ['#/connections/echo_main', 'Echo (main)'],
      ['#/services', 'Services'],
      ['#/services/new', 'Create service'],
      ['#/services/echo_api', 'Echo API'],
      ['#/services/echo_api/edit', 'Edit Echo API'],
      ['#/services/github', 'GitHub'],
      ['#/services/github/edit', 'GitHub is read-only'],
      ['#/functions', 'Functions'],
      ['#/functions/fetch', 'fetch'],
      ['#/no/such/page', 'Not found'],
    ];
    const fresh = await context.newPage();
    const problems = [];
    const modules = new Map();
    fresh.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    fresh.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    fresh.on('requestfailed', (r) => problems.push(`failed: ${r.url()} (${r.failure()?.errorText})`));
    fresh.on('response', (r) => {
      const url = new URL(r.url());
      if (url.origin !== base || !url.pathname.startsWith('/console/')) return;
      modules.set(url.pathname, `${r.status()} ${r.headers()['content-type']}`);
      if (r.status() !== 200) problems.push(`${url.pathname}: HTTP ${r.status()}`);
    });
    try {
      // Signed out (a new tab has its own session storage): the sign-in page.
      await fresh.goto(`${base}/`);
      await fresh.getByRole('heading', { level: 1, name: 'Switchboard' }).waitFor();
      assert.deepEqual(problems, [], 'sign-in page');
      await fresh.evaluate((t) => sessionStorage.setItem('switchboard.token', t), adminToken);
      for (const [i, [hash, title]] of pages.entries()) {
        // A new query string makes it a full navigation; the host ignores it.
        await fresh.goto(`${base}/?load=${i}${hash}`);
        await fresh.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
        await fresh.locator('main[aria-busy]').waitFor({ state: 'detached' });
        assert.deepEqual(problems, [], hash);
        assert.equal(await fresh.evaluate(() => document.title), `${title} · Switchboard`, hash);
      }
    } finally {
      await fresh.close();
    }
    assert.ok(modules.has('/console/main.js'), 'the entry module was loaded');
    assert.ok(modules.size >= 10, `the console is split into modules: ${[...modules.keys()].join(', ')}`);
    for (const [path, answer] of modules) assert.equal(answer, '200 text/javascript; charset=utf-8', path);
  });

  step('is usable on a narrow screen and signs out', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/#/connections`);
    await heading('My connections').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
    await shot('12-narrow', { fullPage: false });
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.token')), null);
  });

  step('stayed on this host, kept the token out of URLs and logged no page error', () => {
    assert.deepEqual(offsiteRequests, [], 'no request left the host');
    assert.ok(requestUrls.length > 10);
    assert.ok(requestUrls.every((u) => !u.includes(adminToken)), 'the token never appears in a URL');
    assert.deepEqual(pageErrors, []);
  });
});
