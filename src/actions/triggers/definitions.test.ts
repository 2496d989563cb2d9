import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRIGGERS, validateCommand } from './definitions.ts';

const postLogin = TRIGGERS['post-login'];
const redirect = (url: string, allow: string[]) => validateCommand(postLogin, 'redirect.sendUserTo', [url], { claimsBytes: 16384, redirectAllowHttpLocalhost: false, redirectAllow: allow });

test('the redirect allow list matches host and port as a browser would reach them', () => {
  // Regression: `partner.example:443` never matched, since URL drops https's default port.
  assert.equal(redirect('https://partner.example/x', ['partner.example:443']), null);
  assert.equal(redirect('https://partner.example:443/x', ['partner.example:443']), null);
  assert.equal(redirect('https://partner.example/x', ['Partner.Example']), null);
  assert.equal(redirect('https://partner.example:8443/x', ['partner.example:8443']), null);
  assert.match(redirect('https://partner.example:8443/x', ['partner.example']) ?? '', /not on the redirect allow list/);
  assert.match(redirect('https://partner.example/x', ['partner.example:8443']) ?? '', /not on the redirect allow list/);
  assert.match(redirect('https://evil.partner.example/x', ['partner.example']) ?? '', /not on the redirect allow list/);
  assert.equal(redirect('https://anything.example/x', []), null, 'no list: any https host');
});

test('metadata an action sets takes no NUL, in a value or a nested key (PostgreSQL\'s jsonb refuses it; the user search reads metadata as jsonb)', () => {
  const post = TRIGGERS['post-login'];
  const limits = { claimsBytes: 16384, redirectAllowHttpLocalhost: false };
  assert.match(validateCommand(post, 'user.setUserMetadata', ['x', 'a\u0000b'], limits) ?? '', /NUL/);
  assert.match(validateCommand(post, 'user.setAppMetadata', ['x', { ['k\u0000']: 1 }], limits) ?? '', /NUL/);
  assert.match(validateCommand(post, 'user.setAppMetadata', ['x', ['ok', { deep: '\u0000' }]], limits) ?? '', /NUL/);
  assert.equal(validateCommand(post, 'user.setUserMetadata', ['x', 'a\u0001b'], limits), null, 'other control characters are fine in jsonb');
  // Lone surrogates too (jsonb refuses the \ud800 JSON.stringify writes); the six characters "\u0000" as text are fine.
  assert.match(validateCommand(post, 'user.setUserMetadata', ['y', '\ud800'], limits) ?? '', /surrogate/);
  assert.equal(validateCommand(post, 'user.setUserMetadata', ['path', 'C:\\u0000dir'], limits), null);
});

test('refresh-token metadata: Auth0\'s key characters, no prototype names, and a NUL named as such', () => {
  const post = TRIGGERS['post-login'];
  const limits = { claimsBytes: 16384, redirectAllowHttpLocalhost: false };
  assert.equal(validateCommand(post, 'refreshToken.setMetadata', ['device-name_2', 'x'], limits), null);
  for (const k of ['has space', 'dot.ted', '__proto__', 'constructor', '', 'k'.repeat(256)]) assert.match(validateCommand(post, 'refreshToken.setMetadata', [k, 'x'], limits) ?? '', /letters, digits/, k);
  assert.match(validateCommand(post, 'refreshToken.setMetadata', ['k', 'x'.repeat(256)], limits) ?? '', /at most 255/);
  // Regression (review): a NUL was reported as a value too long.
  assert.match(validateCommand(post, 'refreshToken.setMetadata', ['k', 'a\u0000b'], limits) ?? '', /NUL/);
  assert.match(validateCommand(post, 'refreshToken.deleteMetadata', ['bad key'], limits) ?? '', /letters, digits/);
});
