import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, discover, authorizationRequest, loginAt, loginThroughForm, loginWithRefreshToken, type TestServer } from './helpers/server.ts';
import { bindActions, deployAction } from './helpers/actions.ts';

/*
 * An API (resource server) whose identifier is not a URI (`my-account`): Auth0 takes any
 * string, and the Management API here took it too, but every token request for it failed with
 * invalid_target (RFC 8707 resource indicators are absolute URIs, and oidc-provider checks).
 * Such an identifier now travels through oidc-provider as a URN and comes back out as itself:
 * the tokens' aud, the event's resource_server, the grants' audience.
 */

let ts: TestServer;
const CB = 'https://app.example/api-id-cb';
const API = 'my-account';
let m2m: { client_id: string; client_secret: string };

before(async () => {
  ts = await startTestServer();
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'My account', identifier: API, scopes: [{ value: 'read:things', description: 'r' }, { value: 'link_account', description: 'l' }] })).status, 201);
  m2m = (await ts.api('POST', '/clients', { name: 'API id M2M', app_type: 'non_interactive' })).body;
  assert.equal((await ts.api('POST', '/client-grants', { client_id: m2m.client_id, audience: API, scope: ['link_account'] })).status, 201);
  assert.equal((await ts.api('POST', '/users', { email: 'api-id@example.com', password: 'api-identifier-pw-1' })).status, 201);
});
after(async () => { await ts?.close(); });

async function clientCredentials(body: Record<string, string>) {
  const r = await fetch(`${ts.base}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${m2m.client_id}:${m2m.client_secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...body }),
  });
  return { status: r.status, body: await r.json() as Record<string, unknown> };
}

test('client credentials with audience=<non-URI identifier>: a token whose aud is the identifier; credentials-exchange sees it', async (t) => {
  t.after(() => bindActions(ts, 'credentials-exchange', []));
  await deployAction(ts, { name: 'rs-seen', trigger: 'credentials-exchange', code: `exports.onExecuteCredentialsExchange = async (event, api) => { api.accessToken.setCustomClaim('https://x/rs', event.resource_server.identifier); };` });
  await bindActions(ts, 'credentials-exchange', ['rs-seen']);
  const r = await clientCredentials({ audience: API });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const at = decodeJwt(r.body.access_token as string);
  assert.equal(at.aud, API);
  assert.equal(at.scope, 'link_account');
  assert.equal(at['https://x/rs'], API);
  // RFC 8707's own parameter keeps its rule: a resource indicator is an absolute URI.
  const viaResource = await clientCredentials({ resource: API });
  assert.equal(viaResource.status, 400);
  assert.equal(viaResource.body.error, 'invalid_target');
  // An identifier nobody registered is still refused, by name.
  const unknown = await clientCredentials({ audience: 'other-api' });
  assert.equal(unknown.status, 400);
  assert.match(String(unknown.body.error_description), /no API with identifier other-api/);
});

test('a SPA login and refresh for the API, with audience= as auth0-spa-js sends it; the user\'s grant names the identifier', async () => {
  const spa = (await ts.api('POST', '/clients', { name: 'API id SPA', app_type: 'spa', callbacks: [CB] })).body;
  const config = await discover(ts, spa.client_id);
  const { tokens } = await loginWithRefreshToken(config, { redirectUri: CB, email: 'api-id@example.com', password: 'api-identifier-pw-1', audience: API });
  assert.equal(decodeJwt(tokens.access_token).aud, API);
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { audience: API });
  assert.equal(decodeJwt(refreshed.access_token).aud, API);
  const grants = (await ts.api('GET', `/grants?audience=${API}`)).body;
  assert.equal(grants.length, 1);
  assert.equal(grants[0].audience, API);
  assert.ok(grants[0].scope.includes('read:things'), JSON.stringify(grants[0]));
});

// ---- review: what post-login sees must be the API the token is for ----

test('post-login sees the API the token will be for: resource= over audience=, and no other spelling of a URN reaches an API', async (t) => {
  const PAY = 'https://payments.example/';
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'Payments', identifier: PAY, scopes: [{ value: 'pay', description: 'p' }] })).status, 201);
  assert.equal((await ts.api('POST', '/resource-servers', { name: 'Harmless', identifier: 'https://harmless.example/', scopes: [{ value: 'pay', description: 'p' }] })).status, 201);
  const spa = (await ts.api('POST', '/clients', { name: 'Gate SPA', app_type: 'spa', callbacks: [CB] })).body;
  const config = await discover(ts, spa.client_id);
  t.after(() => bindActions(ts, 'post-login', []));
  await deployAction(ts, { name: 'gate-payments', trigger: 'post-login', code: `exports.onExecutePostLogin = async (event, api) => {
    if (event.resource_server && event.resource_server.identifier === '${PAY}') api.access.deny('payments are not for this user');
  };` });
  await bindActions(ts, 'post-login', ['gate-payments']);
  const outcome = async (params: Record<string, string>) => {
    const r = await loginThroughForm(config, { redirectUri: CB, email: 'api-id@example.com', password: 'api-identifier-pw-1', scope: 'openid pay', params });
    assert.ok(r.callbackUrl, r.loginPage?.slice(0, 300));
    const error = r.callbackUrl.searchParams.get('error');
    if (error) return error;
    const tokens = await oidc.authorizationCodeGrant(config, r.callbackUrl, { pkceCodeVerifier: r.verifier, expectedState: r.state });
    return `token for ${String(decodeJwt(tokens.access_token).aud)}`;
  };
  assert.equal(await outcome({ audience: PAY }), 'access_denied');
  assert.equal(await outcome({ audience: 'https://harmless.example/', resource: PAY }), 'access_denied', 'resource wins in oidc-provider, so in the event too');
  // A URI identifier is never wrapped, and only apiIndicator's exact spelling stands for an identifier.
  assert.notEqual(await outcome({ resource: `urn:gatehouse:api:${encodeURIComponent(PAY)}` }), `token for ${PAY}`);
  assert.notEqual(await outcome({ resource: 'urn:gatehouse:api:my%2Daccount' }), `token for ${API}`);
  // The canonical URN of a non-URI identifier is that API, and the event names it.
  assert.equal(await outcome({ resource: `urn:gatehouse:api:${API}` }), `token for ${API}`);
  // One API per authorization: several resource= at /authorize (oidc-provider would grant them
  // all, and the token could then be asked for one the action never judged) are refused.
  const two = await authorizationRequest(config, { redirectUri: CB, scope: 'openid pay' });
  two.url.searchParams.append('resource', 'https://harmless.example/');
  two.url.searchParams.append('resource', PAY);
  const both = await loginAt(two.url, { redirectUri: CB, email: 'api-id@example.com', password: 'api-identifier-pw-1' });
  assert.equal(both.callbackUrl?.searchParams.get('error'), 'invalid_target', both.callbackUrl?.href);
  // And no API may take the prefix as its identifier.
  const reserved = await ts.api('POST', '/resource-servers', { name: 'Squatter', identifier: `urn:gatehouse:api:${encodeURIComponent(PAY)}`, scopes: [] });
  assert.equal(reserved.status, 400);
  assert.match(reserved.body.message, /urn:gatehouse:api:/);
});
