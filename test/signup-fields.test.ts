import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { Browser, alertText } from './helpers/cookie-fetch.ts';
import { bindActions, deployAction } from './helpers/actions.ts';
import { loadConfig } from '../src/config/load.ts';

/*
 * Extra sign-up fields (`signup.fields`, Auth0's custom sign-up fields): shown on the form,
 * checked on submit, and handed to pre-user-registration in event.request.body, where an
 * action stores them. Found by an outside probe: an action reading
 * event.request.body['ulp-full-name'] refused every sign-up, since the form had no such field.
 */
const FIELDS = [
  { name: 'ulp-full-name', label: 'Full name', required: true, maxLength: 40 },
  { name: 'ulp-department', label: 'Department' },
  { name: 'ulp-terms', label: 'I accept the terms', type: 'checkbox', required: true },
];
let ts: TestServer;

before(async () => {
  ts = await startTestServer({ signup: { enabled: true, fields: FIELDS } });
  await deployAction(ts, { name: 'store-full-name', trigger: 'pre-user-registration', code: `
    exports.onExecutePreUserRegistration = async (event, api) => {
      const name = event.request.body['ulp-full-name'];
      if (!name) return api.validation.error('invalid_name', 'Enter your full name');
      api.user.setUserMetadata('full_name', name);
      api.user.setUserMetadata('department', event.request.body['ulp-department'] || null);
      // As Auth0's custom sign-up field examples read a checkbox.
      api.user.setUserMetadata('tos_accepted', event.request.body['ulp-terms'] === 'on');
    };` });
  await bindActions(ts, 'pre-user-registration', ['store-full-name']);
});
after(async () => { await ts?.close(); });

async function form() {
  const browser = new Browser();
  const pageUrl = new URL(`${ts.base}/signup`);
  const html = await (await browser.request(pageUrl)).text();
  return { html, post: (fields: Record<string, string>) => browser.submit(pageUrl, html, { password: 'a long enough password', ...fields }) };
}
const userByEmail = (email: string) => ts.ctx.users.findRowByEmail(email);

test('the form shows the configured fields, labelled, with their limits', async () => {
  const { html } = await form();
  assert.match(html, /<label for="field-ulp-full-name">Full name<input id="field-ulp-full-name" name="ulp-full-name" type="text" maxlength="40" value="" required><\/label>/);
  assert.match(html, /<label for="field-ulp-department">Department \(optional\)<input [^>]*name="ulp-department"[^>]*maxlength="100"/);
  assert.match(html, /<label for="field-ulp-terms" class="check"><input [^>]*name="ulp-terms" type="checkbox" required> I accept the terms<\/label>/);
});

test('a missing, too long or forged value is refused with the field named, nothing stored, the values kept', async () => {
  const f = await form();
  const missing = await f.post({ email: 'fields.missing@example.com', 'ulp-department': 'Sales <b>', 'ulp-terms': 'on' });
  assert.equal(missing.status, 400);
  const page = await missing.text();
  assert.equal(alertText(page), 'Enter full name.');
  assert.match(page, /name="ulp-department" type="text" maxlength="100" value="Sales &lt;b&gt;"/, 'kept, escaped');
  const long = await f.post({ email: 'fields.long@example.com', 'ulp-full-name': 'x'.repeat(41), 'ulp-terms': 'on' });
  assert.equal(alertText(await long.text()), 'Full name: at most 40 characters.');
  const terms = await f.post({ email: 'fields.terms@example.com', 'ulp-full-name': 'Ada Lovelace' });
  assert.equal(alertText(await terms.text()), 'I accept the terms: this is required.');
  const forged = await f.post({ email: 'fields.forged@example.com', 'ulp-full-name': 'Ada Lovelace', 'ulp-terms': 'true' });
  assert.equal(alertText(await forged.text()), 'I accept the terms: tick the box or leave it.');
  for (const e of ['missing', 'long', 'terms', 'forged']) assert.equal(await userByEmail(`fields.${e}@example.com`), undefined, e);
});

test('the values reach pre-user-registration in event.request.body, and the action stores them', async () => {
  const f = await form();
  const res = await f.post({ email: 'fields.ok@example.com', 'ulp-full-name': '  Åsa Nordmann  ', 'ulp-department': 'R&D', 'ulp-terms': 'on' });
  assert.equal(res.status, 200, alertText(await res.clone().text()) ?? '');
  const u = (await ts.api('GET', `/users?q=${encodeURIComponent('email:"fields.ok@example.com"')}`)).body[0];
  assert.deepEqual(u.user_metadata, { full_name: 'Åsa Nordmann', department: 'R&D', tos_accepted: true });
});

test('config: a field may not take the form\'s own names, nor appear twice', () => {
  const load = (fields: object[]) => () => loadConfig({ env: { NODE_ENV: 'test' }, overrides: { signup: { enabled: true, fields } } });
  assert.throws(load([{ name: 'password', label: 'x' }]), /form's own/);
  // Nor the names /dbconnections/signup reads its client and connection from. Profile names stay
  // allowed (an existing page may have them); /dbconnections applies its own rule to those.
  for (const name of ['client_id', 'connection']) assert.throws(load([{ name, label: 'x' }]), /form's own/, name);
  for (const name of ['given_name', 'picture']) assert.doesNotThrow(load([{ name, label: 'x' }]), name);
  assert.throws(load([{ name: 'a', label: 'x' }, { name: 'a', label: 'y' }]), /must differ/);
  assert.throws(load([{ name: '1bad', label: 'x' }]), /a letter, then/);
});
