// Drives headless Chromium through the dashboard as people would, saving a
// screenshot of every page visited. Usage:
//   node flows.mjs <https base> <outbox dir> <screenshot dir> <ca.pem> <identity provider control URL>
// Run by tests/api/browser.rs against a server it started.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const [base, outbox, shots, ca, idpControl, receiverUrl] = process.argv.slice(2);
const PASSWORD = 'lantern-quarry-88';
mkdirSync(shots, { recursive: true });

let step = 0;
/** Full-page screenshots of the page as it is now, at 1280 and at 375 pixels wide. */
async function shot(page, name) {
  step += 1;
  const size = page.viewportSize();
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 800 });
    await page.screenshot({ path: join(shots, `${String(step).padStart(2, '0')}-${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize(size);
}

/** Every message a page logs about its Content-Security-Policy, and every script error. */
const violations = [];
function watch(context) {
  context.on('console', (message) => {
    if (/Content Security Policy|Refused to (execute|apply|load|connect)/.test(message.text())) {
      violations.push(`${message.location().url}: ${message.text()}`);
    }
  });
  context.on('weberror', (error) => violations.push(`script error: ${error.error().message}`));
  return context;
}

/** The newest emailed link to `to`, token included; mail is sent in the background. */
async function emailedLink(to, after = 0) {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    let files = [];
    try { files = readdirSync(outbox).sort(); } catch { /* not created yet */ }
    for (const file of files.slice(after).reverse()) {
      const text = readFileSync(join(outbox, file), 'utf8').replaceAll('=\r\n', '').replaceAll('=3D', '=');
      if (text.includes(`To: ${to}`)) {
        return text.match(/https:\/\/\S+#token=[A-Za-z0-9]+/)[0];
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no message to ${to}`);
}

function outboxSize() {
  try { return readdirSync(outbox).length; } catch { return 0; }
}

async function signUp(context, email, name) {
  const page = await context.newPage();
  await page.goto(`${base}/app/signup`);
  await shot(page, `${name}-signup`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  const before = outboxSize();
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
  await shot(page, `${name}-check-inbox`);
  await page.goto(await emailedLink(email, before));
  await shot(page, `${name}-confirm-email`);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.waitForURL(`${base}/app`);
  await shot(page, `${name}-home`);
  return page;
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  // Sign up, confirm, sign out, sign in.
  const owner = watch(await browser.newContext({ ignoreHTTPSErrors: true }));
  let page = await signUp(owner, 'owner@example.com', 'owner');
  assert.match(await page.textContent('main'), /No agents yet/);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/app/login`);
  await shot(page, 'login');
  await page.getByLabel('Email').fill('owner@example.com');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/app`);

  // Generate a key: shown once, works with curl.
  await page.getByRole('link', { name: 'API keys' }).click();
  await shot(page, 'api-keys-empty');
  await page.getByLabel('Name').fill('laptop');
  await page.getByLabel('Role').selectOption('viewer');
  await page.getByRole('button', { name: 'Generate API key' }).click();
  await page.getByText('will not be shown again').waitFor();
  await shot(page, 'api-key-shown-once');
  const key = await page.inputValue('#new-key');
  assert.match(key, /^tai_[A-Za-z0-9]{38}$/);
  const status = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca,
    `${base}/agents`, '-H', `Authorization: Bearer ${key}`]).toString();
  assert.equal(status, '200');
  await page.goto(`${base}/app/settings/api-keys`);
  await shot(page, 'api-keys-list');
  assert.equal(await page.locator('tbody tr').count(), 1, 'one key made');
  assert.ok(!(await page.content()).includes(key), 'the key is shown once');
  assert.ok((await page.content()).includes(`tai_…${key.slice(-4)}`));

  // An agent made over the API with an editor key, then its website chat page:
  // the snippet, and Allowed Origins saved normalised.
  await page.getByLabel('Name').fill('agent maker');
  await page.getByLabel('Role').selectOption('editor');
  await page.getByRole('button', { name: 'Generate API key' }).click();
  await page.getByText('will not be shown again').waitFor();
  const editorKey = await page.inputValue('#new-key');
  execFileSync('curl', ['-s', '-f', '-o', '/dev/null', '--cacert', ca, `${base}/agents`,
    '-H', `Authorization: Bearer ${editorKey}`, '-H', 'Content-Type: application/json',
    '-d', '{"name":"Concierge","first_message":"Hello!"}']);
  // A key made by that key: the list says who made it, and revoking the maker can take it too.
  execFileSync('curl', ['-s', '-f', '-o', '/dev/null', '--cacert', ca, `${base}/api-keys`,
    '-H', `Authorization: Bearer ${editorKey}`, '-H', 'Content-Type: application/json',
    '-d', '{"name":"made by agent maker"}']);
  await page.goto(`${base}/app/settings/api-keys`);
  assert.match(await page.textContent('main'), /with the key agent maker/);
  await page.getByText('also the 1 key it made').waitFor();
  await shot(page, 'api-keys-made-by-a-key');

  await page.getByRole('link', { name: 'Agents' }).click();
  await page.getByRole('link', { name: 'Embed Concierge on a website' }).click();
  assert.match(await page.inputValue('#snippet'), /<script src="https:\/\/[^"]+\/embed\.js" data-agent-id="agent_[0-9a-f]{32}" async><\/script>/);
  await shot(page, 'agent-embed');
  await page.getByLabel('Allowed Origins, one per line').fill('HTTPS://Shop.Example.com/\nhttps://*.example.org');
  await page.getByLabel(/Required: only visitors/).check();
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  assert.equal(await page.inputValue('#origins'), 'https://*.example.org\nhttps://shop.example.com');
  await shot(page, 'agent-embed-saved');

  // Webhooks: reveal the secret, add an endpoint, send a test event, read the
  // delivery's request and response, redeliver, rotate the secret.
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await shot(page, 'webhooks-empty');
  await page.getByText('Reveal the signing secret').click();
  assert.match(await page.inputValue('#signing-secret'), /^whsec_[A-Za-z0-9+/]{43}=$/);
  await shot(page, 'webhooks-secret-revealed');
  await page.getByLabel('URL (https)').fill(receiverUrl);
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await page.getByText(/Endpoint wh_[0-9a-f]+ added/).waitFor();
  await page.getByRole('link', { name: receiverUrl }).click();
  const endpointPage = page.url();
  await page.getByRole('button', { name: 'Send test event' }).click();
  await page.getByText('Test event queued.').waitFor();
  for (let i = 0; i < 50 && !(await page.textContent('main')).includes('succeeded'); i++) {
    await new Promise((r) => setTimeout(r, 200));
    await page.goto(endpointPage);
  }
  await page.locator('summary', { hasText: 'webhook.test' }).first().click();
  assert.match(await page.textContent('main'), /x-thinnestai-signature: sha256=[0-9a-f]{64}/);
  await shot(page, 'webhook-delivery-log');
  await page.getByRole('button', { name: 'Redeliver' }).first().click();
  await page.getByText('Delivery queued again.').waitFor();
  await page.getByRole('link', { name: '← Webhooks' }).click();
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Rotate the secret' }).click();
  await page.getByText('New signing secret made').waitFor();
  await shot(page, 'webhooks-rotated');

  // Invite a viewer, who signs up and accepts.
  await page.getByRole('link', { name: 'Team' }).click();
  const beforeInvite = outboxSize();
  await page.getByLabel('Invite by email').fill('viewer@example.com');
  await page.getByLabel('Role', { exact: true }).selectOption('viewer');
  await page.getByRole('button', { name: 'Invite member' }).click();
  await page.getByText('Invitation sent to viewer@example.com').waitFor();
  await shot(page, 'team-invited');
  const invitation = await emailedLink('viewer@example.com', beforeInvite);

  const guest = watch(await browser.newContext({ ignoreHTTPSErrors: true }));
  const guestPage = await signUp(guest, 'viewer@example.com', 'viewer');
  await guestPage.goto(invitation);
  await shot(guestPage, 'viewer-accept');
  await guestPage.getByRole('button', { name: 'Accept the invitation' }).click();
  await guestPage.waitForURL(`${base}/app`);
  await shot(guestPage, 'viewer-in-workspace');
  assert.match(await guestPage.textContent('header'), /owner's workspace \(viewer\)/);

  // A Viewer sees no write controls: no key or team pages, no forms but the
  // workspace switcher (it now has two) and sign-out.
  assert.equal(await guestPage.getByRole('link', { name: 'API keys' }).count(), 0);
  assert.equal(await guestPage.getByRole('link', { name: 'Team' }).count(), 0);
  const forms = await guestPage.locator('form').evaluateAll((fs) => fs.map((f) => f.getAttribute('action')));
  assert.deepEqual(forms, ['/app/workspaces/switch', '/app/logout']);
  const refused = await guestPage.goto(`${base}/app/settings/api-keys`);
  assert.equal(refused.status(), 403);
  await shot(guestPage, 'viewer-forbidden');

  // Sign in with Google (the local provider signs its user in at once), then see
  // the connection on the security page.
  await fetch(`${idpControl}/control`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'google-user-1', email: 'gina@example.com' }),
  });
  const social = watch(await browser.newContext({ ignoreHTTPSErrors: true }));
  const socialPage = await social.newPage();
  await socialPage.goto(`${base}/app/login`);
  await shot(socialPage, 'login-with-providers');
  await socialPage.getByRole('button', { name: 'Continue with Google' }).click();
  await socialPage.waitForURL(`${base}/app`);
  await shot(socialPage, 'google-user-home');
  assert.match(await socialPage.textContent('header'), /gina@example\.com/);
  await socialPage.goto(`${base}/app/settings/security`);
  await shot(socialPage, 'security-sign-in-methods');
  assert.match(await socialPage.textContent('main'), /Google/);
  assert.equal(await socialPage.getByRole('button', { name: /^Disconnect Google/ }).count(), 1);

  assert.deepEqual(violations, [], 'no page breaks its Content-Security-Policy');
  console.log(`browser flows passed; ${step * 2} screenshots in ${shots}`);
} finally {
  await browser.close();
}
