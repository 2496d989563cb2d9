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

test('SQLite keeps prepared statements by SQL text, and a kept statement follows schema changes', async () => {
  const db = openDatabase('sqlite::memory:');
  try {
    await db.schema.createTable('t', (t) => { t.string('id').primary(); t.string('a'); });
    await db('t').insert({ id: 'x', a: '1' });
    const conn = await db.client.acquireConnection() as import('better-sqlite3').Database;
    await db.client.releaseConnection(conn);
    const sql = 'select * from t where id = ?';
    assert.equal(conn.prepare(sql), conn.prepare(sql), 'the same SQL gives the kept statement');
    assert.deepEqual(await db('t').where({ id: 'x' }), [{ id: 'x', a: '1' }]);
    // A migration adds a column: the kept `select *` must see it (SQLite re-prepares it).
    await db.schema.alterTable('t', (t) => { t.string('b'); });
    await db('t').where({ id: 'x' }).update({ b: '2' });
    assert.deepEqual(await db('t').where({ id: 'x' }), [{ id: 'x', a: '1', b: '2' }]);
    // And a dropped table fails as it would without the cache, without breaking the connection.
    await db.schema.dropTable('t');
    await assert.rejects(db('t').where({ id: 'x' }), /no such table/);
    await db.schema.createTable('t', (t) => { t.string('id').primary(); });
    await db('t').insert({ id: 'y' });
    assert.deepEqual(await db('t').where({ id: 'y' }), [{ id: 'y' }]);
  } finally {
    await db.destroy();
  }
});

test('the statement cache is bounded: the least recently used statement goes first', async () => {
  const db = openDatabase('sqlite::memory:');
  try {
    const conn = await db.client.acquireConnection() as import('better-sqlite3').Database;
    await db.client.releaseConnection(conn);
    const first = conn.prepare('select 0');
    const kept = conn.prepare('select 1');
    for (let i = 2; i <= 500; i++) { conn.prepare(`select ${i}`); conn.prepare('select 1'); }
    assert.equal(conn.prepare('select 1'), kept, 'a statement in use stays');
    assert.notEqual(conn.prepare('select 0'), first, 'the oldest unused one was dropped and is prepared anew');
  } finally {
    await db.destroy();
  }
});

test('F5: the outer db used inside a transaction fails within the acquire timeout, and the transaction rolls back', async () => {
  const db = openDatabase('sqlite::memory:', { acquireTimeoutMs: 300 });
  try {
    await db.schema.createTable('t', (t) => { t.string('id').primary(); });
    const t0 = Date.now();
    await assert.rejects(db.transaction(async (trx) => {
      await trx('t').insert({ id: 'inside' });
      await db('t').select(); // the mistake: waits for the connection the transaction holds
    }), /Timeout acquiring a connection/);
    assert.ok(Date.now() - t0 < 5000, 'bounded by the acquire timeout, not knex\'s 60 s');
    assert.deepEqual(await db('t').select(), [], 'the transaction rolled back; the connection is usable');
  } finally {
    await db.destroy();
  }
});

test('a kept statement does not carry one query\'s safeIntegers to the next', async () => {
  const db = openDatabase('sqlite::memory:');
  try {
    await db.schema.createTable('n', (t) => { t.integer('v'); });
    await db('n').insert({ v: 7 });
    const big = await db('n').select('v').options({ safeIntegers: true });
    assert.equal(typeof big[0].v, 'bigint');
    const plain = await db('n').select('v');
    assert.equal(typeof plain[0].v, 'number');
    await db('n').insert({ v: 8 }).options({ safeIntegers: true });
    await db('n').insert({ v: 9 });
    assert.deepEqual((await db('n').select('v').orderBy('v')).map((r) => r.v), [7, 8, 9]);
  } finally {
    await db.destroy();
  }
});

test('SQLite transactions take the write lock when they begin (BEGIN IMMEDIATE), so another process waits instead of failing (3.8)', async () => {
  // Regression: knex's deferred BEGIN let a read-then-write transaction lose its write to
  // another process's write in between, with SQLITE_BUSY at once (no busy wait for an upgrade).
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const Database = (await import('better-sqlite3')).default;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-immediate-'));
  const file = join(dir, 'db.sqlite');
  const db = openDatabase(`sqlite:${file}`);
  const other = new Database(file);
  try {
    await db.schema.createTable('t', (t) => { t.string('id').primary(); });
    other.pragma('busy_timeout = 0');
    await db.transaction(async (trx) => {
      await trx('t').select(); // reads only, so far
      // Another process cannot start writing now: this transaction already holds the lock.
      assert.throws(() => other.exec('BEGIN IMMEDIATE'), /database is locked|SQLITE_BUSY/);
      await trx('t').insert({ id: 'mine' });
    });
    other.exec('BEGIN IMMEDIATE; INSERT INTO t (id) VALUES (\'theirs\'); COMMIT');
    assert.deepEqual((await db('t').select('id').orderBy('id')).map((r) => r.id), ['mine', 'theirs']);
  } finally {
    other.close();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
