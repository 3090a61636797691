// Drives headless Chromium through the dashboard as people would, saving a
// screenshot of every page visited. Usage:
//   node flows.mjs <https base> <outbox dir> <screenshot dir> <ca.pem> <identity provider control URL>
// Run by tests/api/browser.rs against a server it started.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const [base, outbox, shots, ca, idpControl, receiverUrl] = process.argv.slice(2);
const PASSWORD = 'lantern-quarry-88';
mkdirSync(shots, { recursive: true });

let step = 0;
/** Pages wider than their viewport, and serious or critical accessibility violations. */
const overflows = [];
const inaccessible = [];
/**
 * Full-page screenshots of the page as it is now, at 1280 and at 375 pixels wide; at
 * each width the page must fit and axe-core must find nothing serious or critical.
 */
async function shot(page, name) {
  step += 1;
  const size = page.viewportSize();
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 800 });
    await page.screenshot({ path: join(shots, `${String(step).padStart(2, '0')}-${name}-${width}.png`), fullPage: true });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    if (wide > width) overflows.push(`${name} is ${wide} px wide at ${width} px`);
    await page.evaluate(axeSource);
    const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`));
    for (const violation of found) inaccessible.push(`${name} at ${width} px: ${violation}`);
  }
  await page.setViewportSize(size);
}

/** The actions of the page's POST forms. */
async function postForms(page) {
  return page.locator('form[method=post]').evaluateAll((fs) => fs.map((f) => f.getAttribute('action')));
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
  await owner.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  let page = await signUp(owner, 'owner@example.com', 'owner');
  assert.match(await page.textContent('main'), /No agents yet/);
  assert.match(await page.textContent('main'), /Get started/);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/app/login`);
  await shot(page, 'login');
  await page.getByLabel('Email').fill('owner@example.com');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/app`);

  // Settings > API Keys > Generate > copy > use with curl > Revoke.
  const curl = (key, ...args) => execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca,
    ...args, '-H', `Authorization: Bearer ${key}`]).toString();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'API Keys' }).click();
  await shot(page, 'api-keys-empty');
  assert.equal(await page.inputValue('#role'), 'editor', 'a new key is an Editor key unless chosen otherwise');
  await page.getByLabel('Name').fill('laptop');
  await page.getByLabel('Role').selectOption('viewer');
  await page.getByRole('button', { name: 'Generate API key' }).click();
  await page.getByText('will not be shown again').waitFor();
  await shot(page, 'api-key-shown-once');
  await page.getByRole('button', { name: 'Copy' }).click();
  const key = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(key, /^tai_[A-Za-z0-9]{38}$/);
  assert.equal(curl(key, `${base}/agents`), '200');
  await page.goto(`${base}/app/settings/api-keys`);
  assert.equal(await page.locator('tbody tr').count(), 1, 'one key made');
  assert.ok(!(await page.content()).includes(key), 'the key is shown once');
  assert.ok((await page.content()).includes(`tai_…${key.slice(-4)}`));
  await shot(page, 'api-keys-list');
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Revoke laptop' }).click();
  await page.getByText('Revoked').waitFor();
  assert.equal(curl(key, `${base}/agents`), '401');

  // An agent made over the API with an editor key, and a key made by that key: the
  // list says who made it, and revoking the maker can take it too.
  await page.getByLabel('Name').fill('agent maker');
  await page.getByRole('button', { name: 'Generate API key' }).click();
  await page.getByText('will not be shown again').waitFor();
  const editorKey = await page.inputValue('#new-key');
  assert.equal(curl(editorKey, `${base}/agents`, '-H', 'Content-Type: application/json',
    '-d', '{"name":"Concierge","first_message":"Hello!"}'), '201');
  assert.equal(curl(editorKey, `${base}/api-keys`, '-H', 'Content-Type: application/json',
    '-d', '{"name":"made by agent maker"}'), '201');
  await page.goto(`${base}/app/settings/api-keys`);
  assert.match(await page.textContent('main'), /with the key agent maker/);
  await page.getByText('also the 1 key it made').waitFor();
  await shot(page, 'api-keys-made-by-a-key');

  // Keyboard only: the first Tab reaches the skip link, which moves focus to the
  // page; a form is filled and sent without the mouse.
  await page.goto(`${base}/app/agents/new`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-name', 'Name is the first field after the breadcrumb');
  await page.keyboard.type('Keyboard helper');
  await page.keyboard.press('Enter');
  await page.getByText('Agent created.').waitFor();

  // Create an agent here, give it a document, ask the test chat what it answers.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
  await page.getByRole('link', { name: 'New agent' }).click();
  await page.getByRole('button', { name: 'Create agent' }).click();
  await page.getByText('Name must not be empty.').waitFor();
  await shot(page, 'agent-new-with-a-problem');
  await page.getByLabel('Name').fill('Shop helper');
  await page.getByLabel('First message').fill('Hi! Ask me about the shop.');
  await page.getByRole('button', { name: 'Create agent' }).click();
  await page.getByText('Agent created.').waitFor();
  await page.getByRole('link', { name: 'Knowledge' }).click();
  await page.getByLabel('Title', { exact: true }).fill('Returns');
  await page.getByLabel('Text', { exact: true }).fill('Returns are accepted within 30 days of delivery, with the receipt.');
  await page.getByRole('button', { name: 'Add document' }).click();
  await page.getByText('Document added.').waitFor();
  await page.getByLabel('File (.txt, .md or .json)').setInputFiles({ name: 'hours.txt', mimeType: 'text/plain',
    buffer: Buffer.from('The shop opens at 9:00 and closes at 18:00 on weekdays.') });
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('cell', { name: 'hours.txt', exact: true }).waitFor();
  await shot(page, 'agent-knowledge');
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.getByLabel('Your message').fill('How many days do I have for returns?');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('.bubble.agent', { hasText: '30 days' }).waitFor();
  await shot(page, 'agent-test-chat');
  await page.getByRole('link', { name: 'Conversations' }).click();
  await page.getByRole('cell', { name: 'Test chat', exact: true }).waitFor();
  await shot(page, 'agent-conversations');
  await page.getByRole('link', { name: 'Tools' }).click();
  await shot(page, 'agent-tools');

  // The agent's Settings > Embed > Allowed Origins > Save.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
  await shot(page, 'agents');
  await page.getByRole('link', { name: 'Concierge' }).click();
  await page.getByRole('navigation', { name: 'Agent' }).getByRole('link', { name: 'Settings' }).click();
  await shot(page, 'agent-settings');
  await page.getByRole('link', { name: 'Embed' }).click();
  assert.match(await page.inputValue('#snippet'), /<script src="https:\/\/[^"]+\/embed\.js" data-agent-id="agent_[0-9a-f]{32}" async><\/script>/);
  await shot(page, 'agent-embed');
  await page.getByLabel('Allowed Origins, one per line').fill('ftp://shop.example.com');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Line 1:').waitFor();
  await shot(page, 'agent-embed-with-a-problem');
  await page.getByLabel('Allowed Origins, one per line').fill('HTTPS://Shop.Example.com/\nhttps://*.example.org');
  await page.getByLabel(/Required: only visitors/).check();
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  assert.equal(await page.inputValue('#origins'), 'https://*.example.org\nhttps://shop.example.com');
  await shot(page, 'agent-embed-saved');

  // Settings > Webhooks: reveal the secret, add an endpoint, send a test event, read
  // the delivery's request and response, redeliver, rotate the secret.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
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

  // Settings > Team > Invite Member, with each role; the Viewer signs up and accepts.
  await page.getByRole('link', { name: 'Team' }).click();
  let invitation = '';
  for (const role of ['admin', 'editor', 'viewer']) {
    const beforeInvite = outboxSize();
    await page.getByLabel('Invite by email').fill(`${role}@example.com`);
    await page.getByLabel('Role', { exact: true }).selectOption(role);
    await page.getByRole('button', { name: 'Invite member' }).click();
    await page.getByText(`Invitation sent to ${role}@example.com`).waitFor();
    invitation = await emailedLink(`${role}@example.com`, beforeInvite);
  }
  await shot(page, 'team-invited');
  for (const [link, name] of [['Integrations', 'integrations'], ['Billing', 'billing'], ['Security', 'security'], ['Audit log', 'audit-log']]) {
    await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: link }).click();
    assert.equal(await page.getByRole('navigation', { name: 'Settings' }).locator('[aria-current=page]').textContent(), link);
    await shot(page, name);
  }
  await page.getByRole('link', { name: 'Usage' }).click();
  await page.getByRole('img', { name: /Requests per hour/ }).waitFor();
  await shot(page, 'usage');

  const guest = watch(await browser.newContext({ ignoreHTTPSErrors: true }));
  const guestPage = await signUp(guest, 'viewer@example.com', 'viewer');
  await guestPage.goto(invitation);
  await shot(guestPage, 'viewer-accept');
  await guestPage.getByRole('button', { name: 'Accept the invitation' }).click();
  await guestPage.waitForURL(`${base}/app`);
  await shot(guestPage, 'viewer-in-workspace');
  assert.match(await guestPage.textContent('header'), /owner's workspace \(viewer\)/);

  // A Viewer sees every page of the workspace without write controls: no form that
  // posts but the workspace switcher (there are two now) and sign-out.
  assert.equal(await guestPage.getByRole('link', { name: 'New agent' }).count(), 0);
  await guestPage.getByRole('link', { name: 'Shop helper' }).click();
  const agentUrl = guestPage.url();
  for (const tab of ['', '/knowledge', '/tools', '/conversations', '/settings', '/settings/embed']) {
    await guestPage.goto(`${agentUrl}${tab}`);
    assert.deepEqual(await postForms(guestPage), ['/app/workspaces/switch', '/app/logout'], `viewer on ${tab}`);
    if (tab === '' || tab === '/settings') await shot(guestPage, `viewer-agent${tab.replace('/', '-')}`);
  }
  await guestPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
  const settings = await guestPage.getByRole('navigation', { name: 'Settings' }).getByRole('link').allTextContents();
  assert.deepEqual(settings, ['Integrations', 'Security']);
  const refused = await guestPage.goto(`${base}/app/settings/api-keys`);
  assert.equal(refused.status(), 403);
  await shot(guestPage, 'viewer-forbidden');
  const missing = await guestPage.goto(`${base}/app/no-such-page`);
  assert.equal(missing.status(), 404);
  await shot(guestPage, 'not-found');
  await guestPage.goto(`${base}/app`);
  await guestPage.getByRole('link', { name: 'API reference' }).click();
  await guestPage.locator('summary', { hasText: 'POST /agents' }).first().click();
  await shot(guestPage, 'api-reference');

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
  assert.deepEqual(overflows, [], 'no page is wider than its viewport');
  assert.deepEqual(inaccessible, [], 'axe-core finds nothing serious or critical');
  console.log(`browser flows passed; ${step * 2} screenshots in ${shots}`);
} finally {
  await browser.close();
}
