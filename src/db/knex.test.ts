import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from './knex.ts';

test('database errors do not carry bound values (token ids, codes, hashes) into messages', async () => {
  const db = openDatabase('sqlite::memory:');
  try {
    await db.schema.createTable('t', (t) => { t.string('id').primary(); });
    await db('t').insert({ id: 'RT-SECRET-VALUE' });
    const err = await db('t').insert({ id: 'RT-SECRET-VALUE' }).catch((e: Error) => e);
    assert.ok(err instanceof Error);
    assert.match(err.message, /UNIQUE/);
    assert.doesNotMatch(err.message, /RT-SECRET-VALUE/);
  } finally {
    await db.destroy();
  }
});
