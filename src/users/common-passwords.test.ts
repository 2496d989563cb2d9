import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commonPasswordCount, isCommonPassword } from './common-passwords.ts';
import { checkPasswordPolicy } from './passwords.ts';

const policy = { minLength: 8, maxLength: 128 };

test('the bundled list is loaded and compared case-insensitively', () => {
  assert.ok(commonPasswordCount() >= 500, `only ${commonPasswordCount()} entries`);
  for (const p of ['password123', 'Password123', 'QWERTYUIOP', 'iloveyou1', '1q2w3e4r5t']) assert.equal(isCommonPassword(p), true, p);
  for (const p of ['correct horse battery staple', 'password123 ', 'a long enough password']) assert.equal(isCommonPassword(p), false, p);
});

test('checkPasswordPolicy refuses common passwords unless rejectCommon is false', () => {
  assert.match(checkPasswordPolicy('Password123', policy)!, /too common/);
  assert.match(checkPasswordPolicy('Password123', { ...policy, rejectCommon: true })!, /too common/);
  assert.equal(checkPasswordPolicy('Password123', { ...policy, rejectCommon: false }), null);
  // Length rules come first and still apply.
  assert.match(checkPasswordPolicy('abc123', policy)!, /at least 8/);
  assert.equal(checkPasswordPolicy('correct horse battery staple', policy), null);
});

test('the policy judges the password as it is hashed (NFKC): full-width letters and combining accents count as what they become', () => {
  // Regression: the policy read the raw text while the hash took its NFKC form, so
  // ｐａｓｓｗｏｒｄ１２３ passed and was stored as password123, and four e + combining accents
  // passed an 8-character minimum while the secret was four characters.
  assert.match(checkPasswordPolicy('ｐａｓｓｗｏｒｄ１２３', policy)!, /too common/);
  assert.match(checkPasswordPolicy('e\u0301'.repeat(4), { ...policy, minLength: 8 })!, /at least 8/);
  assert.equal(checkPasswordPolicy('caf\u00e9 au lait, merci', policy), null);
  // Conjoining jamo compose under NFKC (171 code points, 513 bytes typed, 57 characters hashed):
  // refused, since sign-in refuses more than maxLength * 4 bytes as typed before anything else.
  assert.match(checkPasswordPolicy('\u1100\u1161\u11A8'.repeat(57), policy)!, /at most 128 characters/);
});

test('an unknown account costs as many argon2 verifies as a wrong password for a real one, whatever the Unicode form', async () => {
  // Regression: a password that changes under NFKC was verified twice against a real hash (the
  // normalised text, then the text as typed, for older hashes) but once against the dummy: the
  // time told which addresses have accounts.
  const argon2 = (await import('argon2')).default;
  const { createPasswordHasher } = await import('./passwords.ts');
  const hasher = createPasswordHasher({ memoryKiB: 19456, timeCost: 2, parallelism: 1, maxConcurrent: 4 });
  const real = await hasher.hash('the real password');
  const calls = { n: 0 };
  const verify = argon2.verify;
  argon2.verify = (async (...a: Parameters<typeof verify>) => { calls.n++; return verify(...a); }) as typeof verify;
  try {
    const count = async (hash: string | undefined, pw: string) => { calls.n = 0; assert.equal(await hasher.verify(hash, pw), false); return calls.n; };
    for (const pw of ['plain wrong password', 'wrong caf\u0065\u0301', 'ｗｒｏｎｇ']) {
      assert.equal(await count(undefined, pw), await count(real, pw), pw);
    }
  } finally {
    argon2.verify = verify;
  }
});
