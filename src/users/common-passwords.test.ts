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
