import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createSandboxPool, type SandboxPool } from '../src/actions/sandbox/index.ts';
import { postLogin, request, claims } from '../src/actions/sandbox/test-support.ts';

/*
 * types/ as an action author's editor and compiler read it: a TypeScript action that uses every
 * sandbox global and the api's return values type-checks with nothing but es2022 + types/
 * (skipLibCheck off: errors inside the .d.ts files count), and alongside @types/node. And the
 * globals globals.d.ts declares exist in the real sandbox: the types promise no more than it has.
 */
const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const ACTION = join(ROOT, 'test', 'fixtures', 'types', 'action.ts');
let dir: string;
let pool: SandboxPool;
before(() => { dir = mkdtempSync(join(tmpdir(), 'gatehouse-types-')); pool = createSandboxPool({ workers: 1 }); });
after(async () => { rmSync(dir, { recursive: true, force: true }); await pool.close(); });

async function tsc(name: string, compilerOptions: object, files: string[]) {
  const project = join(dir, `${name}.json`);
  writeFileSync(project, JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', allowImportingTsExtensions: true, skipLibCheck: false, ...compilerOptions }, files }));
  return run(process.execPath, [TSC, '-p', project]).then(() => '', (e: { stdout: string }) => e.stdout || String(e));
}

test('an action using the sandbox globals type-checks against types/ alone (es2022, no DOM, no @types/node)', async () => {
  const errors = await tsc('bare', { lib: ['es2022'], types: [] }, [join(ROOT, 'types', 'globals.d.ts'), ACTION]);
  assert.equal(errors, '', errors);
});

test('the same action type-checks with @types/node and without globals.d.ts', async () => {
  const errors = await tsc('node', { lib: ['es2022'], types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] }, [ACTION]);
  assert.equal(errors, '', errors);
});

test('a type error in an action is reported (the check above can fail)', async () => {
  const bad = join(dir, 'bad.ts');
  writeFileSync(bad, `/// <reference path="${join(ROOT, 'types', 'actions.d.ts')}" />\nimport type { PostLoginAPI } from '${join(ROOT, 'types', 'actions.d.ts')}';\nexport const f = (api: PostLoginAPI) => { const r: void = api.cache.set('k', 'v'); return r; };\n`);
  const errors = await tsc('bad', { lib: ['es2022'], types: [] }, [join(ROOT, 'types', 'globals.d.ts'), bad]);
  assert.match(errors, /CacheWriteResult.*not assignable|not assignable to type 'void'/);
});

test('every global globals.d.ts declares exists in the sandbox', async () => {
  const text = readFileSync(join(ROOT, 'types', 'globals.d.ts'), 'utf8');
  const names = [...text.matchAll(/^\s*(?:var|function) (\w+)/gm)].map((m) => m[1]);
  assert.ok(names.length >= 15, names.join(' '));
  const r = await pool.runChain(request([postLogin(`
    // require is the module scope's (CommonJS), not a global: as in Node.js.
    for (const n of ${JSON.stringify(names)}) api.idToken.setCustomClaim(n, n === 'require' ? typeof require : typeof globalThis[n]);
  `)]));
  assert.equal(r.status, 'ok', JSON.stringify(r));
  const missing = Object.entries(claims(r)).filter(([, t]) => t === 'undefined').map(([n]) => n);
  assert.deepEqual(missing, [], `declared but not in the sandbox: ${missing.join(', ')}`);
});
