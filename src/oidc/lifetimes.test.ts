import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applySessionRequest, earlierStoredLifetime, refreshTokenTtl, sessionAbsoluteEnd, sessionEnded, sessionTtl } from './lifetimes.ts';

// A fixed clock: each test compares times taken at different moments, which a second boundary would split.
const NOW_MS = Date.UTC(2026, 10, 24, 12, 0, 0, 500);
const now = () => Math.floor(NOW_MS / 1000);
const cfg = { idle: 3600, max: 7200 };

test('a session saved now gets the idle lifetime, then less as its absolute end nears, and never less than a second', (t) => {
  t.mock.method(Date, 'now', () => NOW_MS);
  assert.equal(sessionTtl({ loginTs: now() }, cfg), 3600);
  assert.equal(sessionTtl({ loginTs: now() - 5400 }, cfg), 1800);
  assert.equal(sessionTtl({ loginTs: now() - 9000 }, cfg), 1);
  // Nobody signed in on it: no absolute end.
  assert.equal(sessionTtl({}, cfg), 3600);
  assert.equal(sessionAbsoluteEnd({}, 7200), undefined);
});

test('an end an action set holds for the sign-in it was set in only; an idle end for this save only', (t) => {
  t.mock.method(Date, 'now', () => NOW_MS);
  const s: { loginTs: number; ghLifetime?: unknown } = { loginTs: now() };
  const idleAt = applySessionRequest(s, { expiresAt: (now() + 600) * 1000, idleExpiresAt: (now() + 300) * 1000 }, { signIn: true, max: 7200 });
  assert.equal(idleAt, now() + 300);
  assert.equal(sessionAbsoluteEnd(s, 7200), now() + 600);
  assert.equal(sessionTtl(s, cfg, idleAt), 300);
  assert.equal(sessionTtl(s, cfg), 600);
  // Signed in again: the configured end, from the new sign-in.
  s.loginTs = now() + 1;
  assert.equal(sessionAbsoluteEnd(s, 7200), s.loginTs + 7200);
  // An action may also set a later end than the configured one allows: the configured one wins.
  applySessionRequest(s, { expiresAt: (now() + 99999) * 1000 }, { signIn: true, max: 7200 });
  assert.equal(sessionAbsoluteEnd(s, 7200), s.loginTs + 7200);
  // After the sign-in's own chain, an action only brings the end forward.
  applySessionRequest(s, { expiresAt: (now() + 900) * 1000 }, { signIn: false, max: 7200 });
  assert.equal(sessionAbsoluteEnd(s, 7200), now() + 900);
  applySessionRequest(s, { expiresAt: (now() + 5000) * 1000 }, { signIn: false, max: 7200 });
  assert.equal(sessionAbsoluteEnd(s, 7200), now() + 900, 'not taken back');
  // An idle end already reached ends the session (not one more second at each use).
  applySessionRequest(s, { idleExpiresAt: (now() - 5) * 1000 }, { signIn: false, max: 7200 });
  assert.equal(sessionEnded(s, 7200), true);
});

test('a save over a stored copy of the same sign-in keeps the earlier end', (t) => {
  t.mock.method(Date, 'now', () => NOW_MS);
  const loginTs = now() - 60;
  const stored = { loginTs, ghLifetime: { loginTs, expiresAt: now() + 600 } };
  assert.deepEqual(earlierStoredLifetime({ loginTs }, stored), { loginTs, expiresAt: now() + 600 });
  assert.deepEqual(earlierStoredLifetime({ loginTs, ghLifetime: { loginTs, expiresAt: now() + 6000 } }, stored), { loginTs, expiresAt: now() + 600 });
  assert.equal(earlierStoredLifetime({ loginTs, ghLifetime: { loginTs, expiresAt: now() + 60 } }, stored), undefined, 'its own is earlier');
  assert.equal(earlierStoredLifetime({ loginTs: now() }, stored), undefined, 'a new sign-in starts afresh');
  assert.equal(earlierStoredLifetime({ loginTs }, { loginTs }), undefined, 'nothing stored');
});

test('a refresh token carries its family\'s end on to the tokens rotated from it; an action only brings it forward', (t) => {
  t.mock.method(Date, 'now', () => NOW_MS);
  const first: { ghExpiresAt?: unknown } = {};
  assert.equal(refreshTokenTtl(first, undefined, 86400, { expiresAt: (now() + 1200) * 1000 }), 1200);
  assert.equal(first.ghExpiresAt, now() + 1200);
  const rotated: { ghExpiresAt?: unknown } = {};
  assert.equal(refreshTokenTtl(rotated, first, 86400, undefined), 1200);
  assert.equal(rotated.ghExpiresAt, now() + 1200);
  const later: { ghExpiresAt?: unknown } = {};
  assert.equal(refreshTokenTtl(later, rotated, 86400, { expiresAt: (now() + 4000) * 1000 }), 1200, 'not put back');
  const sooner: { ghExpiresAt?: unknown } = {};
  assert.equal(refreshTokenTtl(sooner, rotated, 86400, { expiresAt: (now() + 600) * 1000 }), 600);
  assert.equal(refreshTokenTtl({}, undefined, 86400, { idleExpiresAt: (now() + 60) * 1000 }), 60);
  // The first of a family begins its end: idle from now, kept by the tokens rotated from it.
  const fresh: { ghExpiresAt?: unknown } = {};
  assert.equal(refreshTokenTtl(fresh, undefined, 86400, undefined), 86400);
  assert.equal(fresh.ghExpiresAt, now() + 86400);
  // Rotated from a token issued before families had an end: its grant's end as it stands now.
  const legacy: { ghExpiresAt?: unknown } = {};
  assert.equal(refreshTokenTtl(legacy, {}, 86400, undefined, now() + 5000), 5000);
  assert.equal(legacy.ghExpiresAt, now() + 5000);
  const noGrant: { ghExpiresAt?: unknown } = {};
  assert.equal(refreshTokenTtl(noGrant, {}, 86400, undefined), 86400);
  assert.equal(noGrant.ghExpiresAt, undefined);
  // A grant renewed since the family began: the family's own first issue bounds it.
  const renewed: { ghExpiresAt?: unknown } = {};
  assert.equal(refreshTokenTtl(renewed, { iiat: now() - 80000 }, 86400, undefined, now() + 86000), 6400);
  // Regression (review): a family begun under a grant no sign-in renewed (a consent, a silent
  // authorization) ran a full lifetime past the grant, which oidc-provider then refused.
  const underOldGrant: { ghExpiresAt?: unknown } = {};
  assert.equal(refreshTokenTtl(underOldGrant, undefined, 3600, undefined, now() + 600), 600);
  assert.equal(underOldGrant.ghExpiresAt, now() + 600);
});
