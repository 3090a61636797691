// The chat widget on customer pages, in headless Chromium: loaded from an allowed
// origin it answers, brings the conversation back on the next page, and replaces a
// session the server no longer knows; from another origin, or with a wrong user hash,
// it renders nothing and says why once on the console. Usage:
//   node widget.mjs <allowed page> <other-origin page> <wrong-hash page> <shots dir> <question> <expected answer part>
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [allowed, otherOrigin, wrongHash, shots, question, expected] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const shot = (page, name) => page.screenshot({ path: join(shots, `widget-${name}.png`), fullPage: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

async function open(url) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const warnings = [];
  page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  const globalsBefore = await page.evaluate(() => 0).catch(() => 0);
  await page.goto(url);
  return { page, warnings, globalsBefore };
}

async function settled(page) {
  // The widget decides within a request or two.
  await page.waitForLoadState('networkidle');
}

try {
  // An allowed origin: the launcher appears; the agent answers from its knowledge.
  const { page, warnings } = await open(allowed);
  const baseline = await page.evaluate(() => Object.keys(window).length);
  const launcher = page.getByRole('button', { name: /^Open chat with/ });
  await launcher.waitFor();
  await shot(page, 'launcher');
  assert.equal(await page.evaluate(() => Object.keys(window).length), baseline, 'no new globals');
  await launcher.click();
  const input = page.getByRole('textbox', { name: 'Message' });
  await input.waitFor();
  assert.equal(await launcher.getAttribute('aria-expanded'), 'true');
  await input.fill(question);
  await input.press('Enter');
  await page.locator('li.assistant', { hasText: expected }).waitFor({ timeout: 15000 });
  await shot(page, 'answered');
  await page.keyboard.press('Escape');
  assert.equal(await launcher.getAttribute('aria-expanded'), 'false', 'Escape closes the panel');
  // The next page of the site, in the same tab: opening the chat brings the conversation back.
  await page.reload();
  await launcher.click();
  await page.locator('li.user', { hasText: question }).waitFor();
  await page.locator('li.assistant', { hasText: expected }).waitFor();
  // A session the server no longer knows (as when it expired): the widget starts a new
  // one by itself, and the conversation goes on there.
  await page.evaluate(() => {
    for (const key of Object.keys(sessionStorage)) {
      if (key.startsWith('thinnest-widget:')) sessionStorage.setItem(key, 'wst_expired');
    }
  });
  await page.reload();
  await launcher.click();
  await input.fill(question);
  await input.press('Enter');
  await page.locator('li.assistant', { hasText: expected }).waitFor({ timeout: 15000 });
  assert.equal(await page.locator('li.user').count(), 1, 'a new conversation');
  assert.deepEqual(warnings, []);

  // Another origin: nothing rendered, one warning.
  const other = await open(otherOrigin);
  await settled(other.page);
  assert.equal(await other.page.locator('[data-thinnest-widget]').count(), 0);
  await shot(other.page, 'other-origin');
  const ours = other.warnings.filter((w) => w.startsWith('thinnest widget'));
  assert.equal(ours.length, 1, `one warning: ${other.warnings}`);

  // Verification required and a wrong hash: refused.
  const wrong = await open(wrongHash);
  await settled(wrong.page);
  assert.equal(await wrong.page.locator('[data-thinnest-widget]').count(), 0);
  await shot(wrong.page, 'wrong-hash');
  const refused = wrong.warnings.filter((w) => w.startsWith('thinnest widget'));
  assert.equal(refused.length, 1, `one warning: ${wrong.warnings}`);
  assert.match(refused[0], /invalid_user_hash/);

  console.log('widget flows passed');
} finally {
  await browser.close();
}
