import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactResults, expandResults } from './execution-record.ts';

const started = Date.parse('2026-11-23T18:30:00.000Z');

test('a compact record expands to the API shape it was made from', () => {
  const stored = compactResults([
    { name: 'claims', key: 'ver_1', status: 'ok', startedAt: started, durationMs: 0.0123456, logs: '', rejected: [], recorded: [{ type: 'accessToken.setCustomClaim', args: ['https://x/a'] }] },
    { name: 'fails', key: 'ver_2', status: 'runtime', startedAt: started + 1, durationMs: 2.5, logs: 'line 1\nline 2', error: { name: 'TypeError', message: 'boom' }, rejected: ['claim "sub" is reserved'], recorded: [] },
  ]);
  assert.ok(stored.length < 300, `compact: ${stored.length} bytes`);
  assert.doesNotMatch(stored, /action_name|started_at/);
  assert.deepEqual(expandResults(JSON.parse(stored)), [
    {
      action_name: 'claims', version_id: 'ver_1', status: 'ok', error: null, logs: '', commands: [{ type: 'accessToken.setCustomClaim', args: ['https://x/a'] }],
      rejected_commands: [], started_at: '2026-11-23T18:30:00.000Z', ended_at: '2026-11-23T18:30:00.000Z', duration_ms: 0.012,
    },
    {
      action_name: 'fails', version_id: 'ver_2', status: 'runtime', error: { name: 'TypeError', message: 'boom' }, logs: 'line 1\nline 2', commands: [],
      rejected_commands: ['claim "sub" is reserved'], started_at: '2026-11-23T18:30:00.001Z', ended_at: '2026-11-23T18:30:00.003Z', duration_ms: 2.5,
    },
  ]);
});

test('records written before the compact form read as they were; anything else reads as no results', () => {
  const old = [{ action_name: 'a', version_id: 'v', status: 'ok', error: null, logs: '', commands: [], rejected_commands: [], started_at: 'x', ended_at: 'y', duration_ms: 1 }];
  assert.deepEqual(expandResults(old), old);
  for (const bad of [null, 'text', 42, {}, { v: 3, r: [] }, { v: 2, r: 'no' }]) assert.deepEqual(expandResults(bad), []);
  // A malformed row does not throw (a record is a log; reading it must not fail the API), and
  // what comes back has the API's types whatever the row held.
  assert.equal(expandResults({ v: 2, r: [{ n: 'a', k: 'v', s: 'ok', t: 'soon', d: null }] })[0].started_at, '1970-01-01T00:00:00.000Z');
  const odd = expandResults({ v: 2, r: [null, 7, ['x'], { n: 5, s: { x: 1 }, e: 'boom', l: 3, c: [5, null, ['t', { a: 1 }, 'ok']], x: [{}, 1, 'kept'] }] });
  assert.equal(odd.length, 1, 'entries that are not objects are skipped');
  assert.deepEqual(odd[0], {
    action_name: '', version_id: '', status: 'runtime', error: null, logs: '', commands: [{ type: 't', args: [null, 'ok'] }],
    rejected_commands: ['kept'], started_at: '1970-01-01T00:00:00.000Z', ended_at: '1970-01-01T00:00:00.000Z', duration_ms: 0,
  });
});
