import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChainRunner, preludeCompileCounts } from './runner.ts';
import { LIMITS, POST_LOGIN_API, POST_LOGIN_STOP, claims, postLogin } from './test-support.ts';

/*
 * Regression (review): the runner keeps an action's secrets as JSON by the action object, and
 * kept it for any frozen action, though its secrets object could still change in place.
 */
test('a frozen action whose secrets object changes in place runs with the current secrets', async () => {
  const runner = new ChainRunner({ maxWarm: 8, fetchAllow: [], fetchTimeoutMs: 1000, fetchMaxBytes: 1024 });
  try {
    const secrets: Record<string, string> = { S: 'one' };
    const a = Object.freeze(postLogin(`api.idToken.setCustomClaim('s', event.secrets.S);`, { secrets }));
    const run = () => runner.runChain({
      handler: 'onExecutePostLogin', actions: [a], eventJson: '{"user":{}}', cacheJson: '{}',
      apiMethods: POST_LOGIN_API, stopOn: POST_LOGIN_STOP, redirect: null, limits: LIMITS,
    });
    assert.deepEqual(claims(await run()), { s: 'one' });
    secrets.S = 'two';
    assert.deepEqual(claims(await run()), { s: 'two' });
  } finally {
    runner.disposeAll();
  }
});

/*
 * The prelude is compiled from V8's code cache after the first isolate of a process: a cold
 * start no longer parses 90 KB of source. An isolate built from the cache has the whole guest
 * world (checked with the globals defined last in the prelude and a built-in module).
 */
test('isolates after the first compile the prelude from the code cache and get the whole guest world', async () => {
  const runner = new ChainRunner({ maxWarm: 8, fetchAllow: [], fetchTimeoutMs: 1000, fetchMaxBytes: 1024 });
  try {
    const run = (body: string) => runner.runChain({
      handler: 'onExecutePostLogin', actions: [postLogin(body)], eventJson: '{"user":{"user_id":"auth0|u1"}}', cacheJson: '{}',
      apiMethods: POST_LOGIN_API, stopOn: POST_LOGIN_STOP, redirect: null, limits: LIMITS,
    });
    const first = await run(`api.idToken.setCustomClaim('a', 1);`);
    assert.equal(first.status, 'ok', JSON.stringify(first));
    const before = preludeCompileCounts();
    assert.ok(before.produced >= 1, JSON.stringify(before));
    for (let i = 0; i < 3; i++) {
      // Each a new action version: a new isolate.
      const r = await run(`api.idToken.setCustomClaim('w', [typeof performance.now, typeof Buffer.from, require('crypto').createHash('sha1').update('${i}').digest('hex').length, ${i}]);`);
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.deepEqual(r.results[0].commands[0].args, ['w', ['function', 'function', 40, i]]);
    }
    const after = preludeCompileCounts();
    assert.equal(after.fromCache - before.fromCache, 3, JSON.stringify({ before, after }));
    assert.equal(after.produced, before.produced);
    assert.equal(after.rejected, 0);
  } finally {
    runner.disposeAll();
  }
});
