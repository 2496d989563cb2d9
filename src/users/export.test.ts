import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { openDatabase } from '../db/knex.ts';
import { migrateLatest } from '../db/migrate.ts';
import { buildUserExport, csvCell, exportFields } from './export.ts';

test('csvCell: every cell quoted; formulas defused wherever a spreadsheet would run them; numbers as they are', () => {
  assert.equal(csvCell('plain'), '"plain"');
  assert.equal(csvCell('a "quoted" word'), '"a ""quoted"" word"');
  assert.equal(csvCell('x;=1+1'), '"x;=1+1"', 'a ; stays inside its quoted cell');
  for (const lead of ['=', '+', '-', '@', '\t', '\r', '\0']) assert.equal(csvCell(`${lead}cmd`), `"'${lead}cmd"`, JSON.stringify(lead));
  assert.equal(csvCell('-5'), '"-5"', 'text that is only a number is not changed');
  assert.equal(csvCell('+3.25'), '"+3.25"');
  assert.equal(csvCell('-1+1'), `"'-1+1"`);
  assert.equal(csvCell(-5), '"-5"');
  assert.equal(csvCell(false), '"false"');
  assert.equal(csvCell(undefined), '""');
  assert.equal(csvCell({ a: '=x' }), '"{""a"":""=x""}"', 'an object is its JSON, which starts with {');
});

test('buildUserExport: stored in ordered pieces that make the whole file; past the size limit it stops and says so', async () => {
  const db = openDatabase('sqlite::memory:');
  try {
    await migrateLatest(db);
    const at = new Date().toISOString();
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      id: `auth0|p${String(i).padStart(5, '0')}`, email: `p${i}@example.com`, email_verified: false, connection: 'Username-Password-Authentication',
      name: `person ${i} ${'x'.repeat(i % 97)}`, nickname: 'p', app_metadata: '{}', user_metadata: JSON.stringify({ n: i }), blocked: false, created_at: at, updated_at: at,
    }));
    for (let i = 0; i < rows.length; i += 500) await db('users').insert(rows.slice(i, i + 500));
    const req = { format: 'json' as const };
    const fields = exportFields(req);
    assert.ok(Array.isArray(fields));
    const pieces: Buffer[] = [];
    const r = await buildUserExport(db, req, fields, async (p) => { pieces.push(p); }, { pieceBytes: 16 * 1024 });
    assert.equal(r.count, 3000);
    assert.ok(pieces.length > 1, `several pieces (${pieces.length})`);
    assert.equal(pieces.reduce((n, p) => n + p.length, 0), r.bytes);
    const lines = gunzipSync(Buffer.concat(pieces)).toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 3000);
    assert.deepEqual(lines.map((u) => u.user_metadata.n), Array.from({ length: 3000 }, (_, i) => i), 'every user once, in id order');
    // `length` of an array is not a field; an index is.
    const paths = exportFields({ format: 'json', fields: [{ name: 'identities.length', export_as: 'n' }, { name: 'identities[0].provider', export_as: '__proto__' }] });
    assert.ok(Array.isArray(paths));
    const one: Buffer[] = [];
    await buildUserExport(db, { format: 'json', limit: 1 }, paths, async (p) => { one.push(p); });
    assert.deepEqual(JSON.parse(gunzipSync(Buffer.concat(one)).toString('utf8')), JSON.parse('{"__proto__":"auth0"}'), 'an export name is a plain key, even __proto__');

    await assert.rejects(buildUserExport(db, req, fields, async () => {}, { maxBytes: 8 * 1024 }), /larger than 0 MB compressed: ask for fewer users \(limit\) or fewer fields/);
  } finally {
    await db.destroy();
  }
});
