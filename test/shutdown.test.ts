import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from './helpers/server.ts';
import { bindActions, deployAction } from './helpers/actions.ts';

/*
 * SIGTERM under load (SECURITY F10): closing the server stops new connections but lets a
 * request already in flight finish, here a token request held up by a slow
 * credentials-exchange action.
 */
test('closing the server lets an in-flight token request finish', async () => {
  const ts = await startTestServer();
  let closed = false;
  try {
    await ts.api('POST', '/resource-servers', { name: 'Slow', identifier: 'https://slow.example', scopes: [{ value: 'r', description: 'r' }] });
    const m2m = (await ts.api('POST', '/clients', { name: 'slow m2m', app_type: 'non_interactive' })).body;
    await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: 'https://slow.example', scope: ['r'] });
    await deployAction(ts, { name: 'slow', trigger: 'credentials-exchange', code: `
      exports.onExecuteCredentialsExchange = async (event, api) => {
        await new Promise((r) => setTimeout(r, 700));
        api.accessToken.setCustomClaim('https://x/slow', true);
      };` });
    await bindActions(ts, 'credentials-exchange', ['slow']);
    const inFlight = fetch(`${ts.base}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: m2m.client_id, client_secret: m2m.client_secret, audience: 'https://slow.example' }),
    });
    await new Promise((r) => setTimeout(r, 250));
    const closing = ts.close(5000).then(() => { closed = true; });
    const res = await inFlight;
    assert.equal(res.status, 200);
    const body = await res.json() as { access_token: string };
    assert.equal(JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString())['https://x/slow'], true);
    await closing;
    await assert.rejects(fetch(`${ts.base}/healthz`), 'no new connections after close');
  } finally {
    if (!closed) await ts.close();
  }
});
