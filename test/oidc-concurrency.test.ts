import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestServer, discover, loginThroughForm, type TestServer } from './helpers/server.ts';
import { postForm } from './helpers/oidc-assert.ts';

/*
 * Single use under concurrency (SECURITY §0 item 1, A5, A6, F7). oidc-provider reads
 * `consumed` and then calls `consume()` separately; only the adapter's conditional UPDATE
 * makes exactly one of several simultaneous redemptions win.
 */

const CB = 'https://app-5175.example/cb';
const PASSWORD = 'parallel universe';
const EMAIL = 'race.user@example.com';
const PARALLEL = 20;

let ts: TestServer;
let spa: { client_id: string };
let config: oidc.Configuration;

before(async () => {
  ts = await startTestServer();
  spa = await ts.ctx.clients.create({ name: 'Race SPA', app_type: 'spa', callbacks: [CB] });
  await ts.ctx.users.create({ email: EMAIL, password: PASSWORD });
  config = await discover(ts, spa.client_id);
});
after(async () => { await ts?.close(); });

async function codeFor(params: Record<string, string> = {}) {
  const r = await loginThroughForm(config, { redirectUri: CB, email: EMAIL, password: PASSWORD, scope: 'openid offline_access', params });
  assert.ok(r.callbackUrl, `login did not reach the callback: ${r.loginPage?.slice(0, 300)}`);
  return { code: r.callbackUrl.searchParams.get('code')!, verifier: r.verifier, callbackUrl: r.callbackUrl, state: r.state };
}

/**
 * Starts `n` requests while the test holds the server's only SQLite connection (a knex
 * transaction on the same pool), waits until every one of them is queued for the database,
 * then lets go. Without this the requests tend to arrive one after another and a check-then-
 * write adapter would pass too; held like this they all read the row before any writes it.
 */
async function allAtOnce<T>(n: number, start: () => Promise<T>): Promise<T[]> {
  const pool = (ts.ctx.db.client as unknown as { pool: { numPendingAcquires(): number } }).pool;
  const trx = await ts.ctx.db.transaction();
  const pending = Array.from({ length: n }, start);
  try {
    for (let i = 0; pool.numPendingAcquires() < n; i++) {
      if (i > 1000) throw new Error(`only ${pool.numPendingAcquires()} of ${n} requests reached the database`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await trx.commit();
  }
  return Promise.all(pending);
}

const redeem = (code: string, verifier: string) => postForm(`${ts.base}/oauth/token`, {
  grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CB, client_id: spa.client_id,
});

test(`${PARALLEL} parallel token requests with one authorization code: exactly one 200 (A6)`, async () => {
  const { code, verifier } = await codeFor();
  const results = await allAtOnce(PARALLEL, () => redeem(code, verifier));
  const ok = results.filter((r) => r.status === 200);
  assert.equal(ok.length, 1, `statuses: ${results.map((r) => r.status).join(',')}`);
  assert.ok(ok[0].body.access_token);
  for (const r of results.filter((x) => x.status !== 200)) {
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    assert.equal(r.body.access_token, undefined);
  }
  // A reuse at the same moment is a reuse: what the code gave is revoked, as when the second
  // request comes a moment later (A5). It used to stay valid.
  assert.equal((await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${ok[0].body.access_token}` } })).status, 401);
});

test('a code redeemed twice in a row: invalid_grant, and the first access token is revoked (A5)', async () => {
  const { code, verifier } = await codeFor();
  const first = await redeem(code, verifier);
  assert.equal(first.status, 200);
  const at = String(first.body.access_token);
  assert.equal((await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${at}` } })).status, 200);
  const second = await redeem(code, verifier);
  assert.equal(second.status, 400);
  assert.equal(second.body.error, 'invalid_grant');
  assert.equal((await fetch(`${ts.base}/userinfo`, { headers: { authorization: `Bearer ${at}` } })).status, 401);
});

test(`${PARALLEL} parallel refreshes with one refresh token: at most one 200, and nothing usable after (F7)`, async () => {
  const { callbackUrl, verifier, state } = await codeFor({ prompt: 'consent' });
  const issued = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: verifier, expectedState: state });
  // One refresh on its own works (so that a refusal below is the race's, not a broken rotation).
  const tokens = await oidc.refreshTokenGrant(config, issued.refresh_token!);
  assert.ok(tokens.refresh_token);
  let consumed = 0;
  const count = () => { consumed++; };
  ts.ctx.provider.on('refresh_token.consumed', count);
  const results = await allAtOnce(PARALLEL, () => postForm(`${ts.base}/oauth/token`, {
    grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: spa.client_id,
  })).finally(() => ts.ctx.provider.off('refresh_token.consumed', count));
  assert.equal(consumed, 1, 'exactly one request consumed the token');
  // One consume wins; a loser that reaches its own consume before the winner has saved revokes
  // the grant (reuse), and the winner's save then finds it gone and is refused too (the adapter's
  // check after a rotated token's save): no 200 at all. Otherwise one, whose tokens are dead.
  const ok = results.filter((r) => r.status === 200);
  assert.ok(ok.length <= 1, `statuses: ${results.map((r) => r.status).join(',')}`);
  for (const r of results.filter((x) => x.status !== 200)) {
    assert.equal(r.body.error, 'invalid_grant');
    assert.equal(r.body.refresh_token, undefined);
  }
  const again = await postForm(`${ts.base}/oauth/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: spa.client_id });
  assert.equal(again.body.error, 'invalid_grant');
  // The reuse revoked the grant: the winner's new refresh token is dead too (it used to live on
  // when every loser had passed oidc-provider's consumed check before the winner consumed).
  if (ok.length === 1) {
    assert.ok(ok[0].body.refresh_token);
    const winner = await postForm(`${ts.base}/oauth/token`, { grant_type: 'refresh_token', refresh_token: String(ok[0].body.refresh_token), client_id: spa.client_id });
    assert.equal(winner.body.error, 'invalid_grant', JSON.stringify(winner.body));
  }
  // Nothing of the family is left stored.
  assert.equal(Number((await ts.ctx.db('oidc_payloads').where({ type: 'RefreshToken' }).whereNull('consumed_at').andWhere('expires_at', '>', Date.now()).count({ n: '*' }))[0].n), 0);
});
