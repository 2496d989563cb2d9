import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Context } from 'koa';
import { requestInfo } from './events.ts';

/** A Koa context as requestInfo reads it, with oidc-provider's parsed token form in `oidc.body`. */
function ctxWith(o: { query?: Record<string, string>; body?: Record<string, unknown>; oidcBody?: Record<string, unknown> }): Context {
  return {
    ip: '203.0.113.9', method: 'POST', hostname: 'login.example.com', query: o.query ?? {}, request: { body: o.body },
    get: (h: string) => (h === 'user-agent' ? 'test-agent' : h === 'accept-language' ? 'fr-FR,fr;q=0.9' : ''),
    ...(o.oidcBody ? { oidc: { body: o.oidcBody } } : {}),
  } as unknown as Context;
}

test('event.request.body leaves out every credential a token request carries', () => {
  const r = requestInfo(ctxWith({ oidcBody: {
    grant_type: 'client_credentials', client_id: 'c1', scope: 'read:x', resource: 'https://api.example.com',
    client_secret: 's', client_assertion: 'eyJ.e30.', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    refresh_token: 'r', code: 'c', code_verifier: 'v', password: 'p',
  } }));
  assert.deepEqual(r.body, { grant_type: 'client_credentials', client_id: 'c1', scope: 'read:x', resource: 'https://api.example.com' });
  assert.equal(r.language, 'fr-FR');
});

test('a login\'s event.request takes the authorization request\'s parameters as query, without the flow\'s secrets', () => {
  const r = requestInfo(ctxWith({ body: { email: 'a@example.com', password: 'p' } }), {
    query: { client_id: 'c1', state: 's', code_challenge: 'ch', code_verifier: 'v', client_secret: 'x', ui_locales: 'fr' }, body: {}, method: 'GET',
  });
  assert.deepEqual(r.query, { client_id: 'c1', state: 's', code_challenge: 'ch', ui_locales: 'fr' });
  assert.deepEqual(r.body, {});
  assert.equal(r.method, 'GET');
});
