import { test, mock, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openDatabase } from '../db/knex.ts';
import { migrateLatest } from '../db/migrate.ts';
import { createSecretBox } from '../shared/secret-box.ts';
import { createKeyStore } from './keys.ts';

/*
 * The key store with an activation delay (several nodes): which key signs, and what may be
 * revoked, through two rotations. SQLite's clock is this process's Date.now, moved by the test.
 */
async function store(activationDelayMs: number) {
  const db = openDatabase('sqlite::memory:');
  await migrateLatest(db);
  return { db, keys: createKeyStore(db, createSecretBox(randomBytes(32)), { activationDelayMs }) };
}
const es = async (keys: Awaited<ReturnType<typeof store>>['keys']) => (await keys.list()).filter((k) => k.alg === 'ES256');
const signer = async (keys: Awaited<ReturnType<typeof store>>['keys']) => (await es(keys)).find((k) => k.signing)!.kid;
/** Date.now under the test's control for the rest of test `t` (SQLite's clock is this process's). */
function fakeClock(t: TestContext) {
  const clock = { now: 1_800_000_000_000, advance(ms: number) { clock.now += ms; } };
  mock.method(Date, 'now', () => clock.now);
  t.after(() => mock.restoreAll());
  return clock;
}

test('with an activation delay: the old key signs until the new one activates; a key that still signs cannot be revoked', async (t) => {
  const clock = fakeClock(t);
  const { db, keys } = await store(10_000);
  try {
    await keys.ensure();
    const k0 = await signer(keys);
    const firstJwk = (await keys.privateJwks('ES256'))[0];
    assert.equal(firstJwk.kid, k0, 'the first key signs at once');

    clock.advance(1_000);
    const [r1] = (await keys.rotate()).filter((k) => k.alg === 'ES256');
    assert.equal(r1.activates_at, clock.now + 10_000);
    assert.equal(await signer(keys), k0, 'the old key signs on');
    const listed = await es(keys);
    assert.deepEqual(listed.map((k) => [k.kid, k.status, k.signing, k.pending]), [[r1.kid, 'current', false, true], [k0, 'previous', true, false]]);
    assert.equal((await keys.privateJwks('ES256'))[0].kid, k0, 'oidc-provider signs with the first key of the alg');
    // Regression (review): revoking the key that signs handed signing to an older key, or to
    // the new one before the other nodes publish it.
    assert.equal(await keys.revoke(k0), 'signing');
    assert.equal(await keys.revoke(r1.kid), 'current');

    clock.advance(4_000);
    const [r2] = (await keys.rotate()).filter((k) => k.alg === 'ES256');
    assert.equal(await signer(keys), k0, 'two rotations within the window: still the oldest active key');
    clock.advance(6_000);
    assert.equal(await signer(keys), r1.kid, 'the first rotation\'s key from its own activation');
    assert.equal(await keys.revoke(r1.kid), 'signing');
    assert.equal(await keys.revoke(k0), 'revoked', 'a key that no longer signs can go');
    assert.equal(await signer(keys), r1.kid);
    clock.advance(4_000);
    assert.equal(await signer(keys), r2.kid);
    assert.equal(await keys.revoke(r1.kid), 'revoked');
    assert.equal(await keys.revoke('nope'), 'missing');
    assert.deepEqual((await es(keys)).map((k) => [k.kid, k.signing]), [[r2.kid, true]]);

    // A version change marks every activation, so each node's poll reloads then.
    const v = await keys.version();
    assert.equal(await keys.version(), v);
    const [r3] = (await keys.rotate()).filter((k) => k.alg === 'ES256');
    const pendingV = await keys.version();
    assert.notEqual(pendingV, v);
    clock.advance(10_000);
    assert.notEqual(await keys.version(), pendingV, 'the activation alone changes the version');
    assert.equal(await signer(keys), r3.kid);
  } finally {
    await db.destroy();
  }
});

test('ensure() keeps one current key per algorithm: extra ones (an earlier version\'s racing starts) become previous', async () => {
  const { db, keys } = await store(0);
  try {
    await keys.ensure();
    const [row] = await db('signing_keys').where({ alg: 'ES256', status: 'current' });
    await db('signing_keys').insert({ ...row, kid: 'extra-older', created_at: Number(row.created_at) - 1000 });
    assert.deepEqual(await keys.ensure(), ['extra-older']);
    assert.deepEqual((await db('signing_keys').where({ status: 'current' })).map((r) => r.alg).sort(), ['ES256', 'RS256']);
    assert.deepEqual(await keys.ensure(), []);
  } finally {
    await db.destroy();
  }
});

test('retire() drops previous keys once their tokens expired, with an hour\'s margin', async (t) => {
  const clock = fakeClock(t);
  const { db, keys } = await store(0);
  try {
    await keys.ensure();
    const k0 = await signer(keys);
    await keys.rotate();
    clock.advance(86_400_000);
    assert.equal(await keys.retire(86_400_000), 0, 'not before the margin');
    clock.advance(3_600_001);
    assert.equal(await keys.retire(86_400_000), 2, 'both algorithms\' previous keys');
    assert.ok(!(await keys.list()).some((k) => k.kid === k0));
  } finally {
    await db.destroy();
  }
});
