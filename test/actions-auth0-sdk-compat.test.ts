import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { IncomingMessage } from 'node:http';
import { startTestServer, type TestServer } from './helpers/server.ts';

/*
 * require('auth0') in actions, differentially: each scenario's code runs twice against one
 * Gatehouse, once with Auth0's real Node SDK in Node (auth0@7 for the v5+ call style,
 * auth0/legacy = auth0@4 for v4's) and once inside an action (the draft, run by
 * POST /actions/actions/{id}/test) with Gatehouse's stand-in. Each run has its own fixtures
 * (users and roles whose names carry the run's tag). Compared after normalisation (fixture ids
 * and tags, generated ids, timestamps): what the code observed (results, pages, error fields),
 * the Management API requests the server received (method, path, query) and the server state
 * the scenario's probe reads afterwards. KNOWN_DIFF lists what differs by design; everything
 * else must be equal.
 *
 * The real SDKs build https://DOMAIN/... URLs and default the audience to
 * https://DOMAIN/api/v2/: they are given a fetch that rewrites the scheme to http (both v7 and
 * v4 use the `fetch` option for Management API calls and for the token request) and the
 * test server's audience. The stand-in reaches the issuer at its own scheme by itself.
 */

const require = createRequire(import.meta.url);
const SDK = { v7: require('auth0'), v4: require('auth0/legacy') } as const;
type Gen = keyof typeof SDK;

let ts: TestServer;
let HOST: string;
let AUDIENCE: string;
const m2m = { id: '', secret: '', grantId: '' };
const PASSWORD = 'correct horse battery staple';

// The M2M client's grant: what the scenarios use, but not delete:users (the 403 scenarios).
const SCOPES = ['read:users', 'update:users', 'read:roles', 'create:roles', 'update:roles', 'delete:roles', 'read:role_members',
  'create:role_members', 'delete:role_members', 'read:clients', 'read:client_grants', 'read:resource_servers', 'read:logs', 'create:user_tickets', 'read:connections'];

// ---- what the server received --------------------------------------------------------------
let recording: { m: string; p: string; q: [string, string][] }[] | null = null;
function onRequest(req: IncomingMessage) {
  if (recording === null) return;
  const u = new URL(req.url ?? '/', 'http://x');
  if (!u.pathname.startsWith('/api/v2/') || u.pathname.startsWith('/api/v2/actions')) return;
  // A checkpoint's `from` as what it encodes (a sort key with the run's tag in it).
  const q = [...u.searchParams.entries()].map(([k, v]): [string, string] => [k, k === 'from' ? Buffer.from(v, 'base64url').toString('utf8') : v]);
  recording.push({ m: req.method ?? '', p: u.pathname, q: q.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) });
}

before(async () => {
  ts = await startTestServer({ actions: { actionTimeoutMs: 20_000, chainTimeoutMs: 30_000, consoleBytes: 1 << 20, resultBytes: 1 << 20 } });
  ts.server.prependListener('request', onRequest);
  HOST = new URL(ts.issuer).host;
  AUDIENCE = `${ts.base}/api/v2/`;
  const c = await ts.api('POST', '/clients', { name: 'Compat M2M', app_type: 'non_interactive' });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const g = await ts.api('POST', '/client-grants', { client_id: c.body.client_id, audience: AUDIENCE, scope: SCOPES });
  assert.equal(g.status, 201, JSON.stringify(g.body));
  Object.assign(m2m, { id: c.body.client_id, secret: c.body.client_secret, grantId: g.body.id });
});
after(async () => { await ts?.close(); });

// ---- fixtures: per run, names carry the run's tag --------------------------------------------
interface Fixture { tag: string; email: string; email2: string; userId: string; userId2: string; r1: string; r2: string; r3: string }
let runSeq = 0;
async function fixture(): Promise<Fixture> {
  const tag = `t${Date.now().toString(36)}${(runSeq++).toString(36)}`;
  const mk = async (email: string) => {
    const r = await ts.api('POST', '/users', { email, password: PASSWORD });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.user_id as string;
  };
  const role = async (n: number) => {
    const r = await ts.api('POST', '/roles', { name: `${tag}-role${n}`, description: `role ${n}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.id as string;
  };
  const email = `u-${tag}@example.com`, email2 = `v-${tag}@example.com`;
  const f = { tag, email, email2, userId: await mk(email), userId2: await mk(email2), r1: await role(1), r2: await role(2), r3: await role(3) };
  assert.equal((await ts.api('POST', `/users/${encodeURIComponent(f.userId)}/roles`, { roles: [f.r1] })).status, 204);
  return f;
}

/** Fixture values, generated ids and timestamps as placeholders. */
function normalize(v: unknown, f: Fixture): unknown {
  let s = JSON.stringify(v ?? null);
  const subs: [string, string][] = [];
  for (const k of ['userId', 'userId2', 'r1', 'r2', 'r3'] as const) {
    subs.push([f[k], `<${k}>`], [encodeURIComponent(f[k]), `<${k}>`]);
    if (f[k].startsWith('auth0|')) subs.push([f[k].slice(6), `<${k}#>`]);
  }
  subs.push([m2m.grantId, '<grantId>'], [f.tag, '<tag>'], [ts.base, '<base>'], [HOST, '<host>']);
  subs.sort((a, b) => b[0].length - a[0].length);
  for (const [from, to] of subs) s = s.split(from).join(to);
  s = s.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<ts>')
    .replace(/rol_[A-Za-z0-9_-]{16}/g, '<rol_>')
    .replace(/token=[A-Za-z0-9_-]{43}/g, 'token=<token>')
    .replace(/job_[A-Za-z0-9_-]{16}/g, '<job_>')
    .replace(/"log_id":"[^"]+"/g, '"log_id":"<log>"');
  return JSON.parse(s);
}

// ---- the code both sides run -----------------------------------------------------------------
// Plain JS (it also runs in the sandbox): describes results and errors as JSON.
const HELPERS = String.raw`
const J = (v) => { if (v === undefined) return '(undefined)'; try { return JSON.parse(JSON.stringify(v)); } catch (e) { return '(unserializable: ' + e.message + ')'; } };
const ct = (h) => (h && typeof h.get === 'function') ? h.get('content-type') : (h === undefined ? '(undefined)' : '(' + typeof h + ')');
const path = (u) => { try { const x = new URL(u); return x.pathname + x.search; } catch (e) { return '(' + typeof u + ')'; } };
const err = (e) => {
  if (e === null || typeof e !== 'object') return { thrown: J(e) };
  let parsed;
  try { parsed = J(JSON.parse(e.body)); } catch (x) { parsed = '(JSON.parse throws)'; }
  // The classes each generation's code tests errors with (v5+: ManagementError and its subclasses, Management.NotFoundError…).
  const is = {};
  for (const k of ctx.gen === 'v7' ? ['ManagementError'] : ['ManagementApiError', 'AuthApiError']) is[k] = typeof M[k] === 'function' ? e instanceof M[k] : '(not exported)';
  if (ctx.gen === 'v7') is.subclass = M.Management ? Object.keys(M.Management).filter((k) => /Error$/.test(k) && typeof M.Management[k] === 'function' && e instanceof M.Management[k]) : '(Management not exported)';
  return {
    name: J(e.name), message: J(e.message), isError: e instanceof Error,
    statusCode: J(e.statusCode), errorCode: J(e.errorCode), error: J(e.error), error_description: J(e.error_description), msg: J(e.msg),
    bodyType: typeof e.body, body_errorCode: J(e.body != null ? e.body.errorCode : undefined), JSONparse_body: parsed,
    headers_ct: ct(e.headers), rawResponse_status: J(e.rawResponse ? e.rawResponse.status : undefined), is,
  };
};
const settle = async (fn) => { try { return { ok: true, v: J(await fn()) }; } catch (e) { return { ok: false, e: err(e) }; } };
const res4 = (r) => (r === null || typeof r !== 'object') ? { notAnObject: J(r) } : { data: J(r.data), status: J(r.status), statusText: J(r.statusText), headers_ct: ct(r.headers) };
const page = (p) => ({ data: J(p.data), hasNextPage: p.hasNextPage(), response: J(p.response), rawStatus: J(p.rawResponse ? p.rawResponse.status : undefined) });
`;

interface Ctx { gen: Gen; domain: string; audience: string; clientId: string; clientSecret: string; m2mId: string; fx: Fixture }

/** (a) The real SDK in Node. */
async function runReal(gen: Gen, code: string, ctx: Ctx): Promise<unknown> {
  const M = SDK[gen];
  const https = `https://${HOST}`;
  const fetchHttp = (input: unknown, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : (input as Request).url;
    return fetch(url.startsWith(https) ? `http://${HOST}${url.slice(https.length)}` : url, init);
  };
  const c = {
    ...ctx,
    mgmt: (o: object = {}) => new M.ManagementClient({ domain: ctx.domain, clientId: ctx.clientId, clientSecret: ctx.clientSecret, audience: AUDIENCE, fetch: fetchHttp, ...o }),
    auth: (o: object = {}) => new M.AuthenticationClient({ domain: ctx.domain, clientId: ctx.clientId, clientSecret: ctx.clientSecret, fetch: fetchHttp, ...o }),
  };
  const AsyncFunction = (async () => {}).constructor as new (...a: string[]) => (M: unknown, ctx: unknown) => Promise<unknown>;
  try {
    return { ok: true, v: await new AsyncFunction('M', 'ctx', `${HELPERS}\n${code}`)(M, c) };
  } catch (e) {
    return { ok: false, thrown: { name: (e as Error)?.name, message: (e as Error)?.message } };
  }
}

/** (b) The stand-in, in an action (the draft, through the test endpoint). */
let actionSeq = 0;
async function runSandbox(code: string, ctx: Ctx): Promise<unknown> {
  const MARK = '@@OBSERVED@@';
  const src = `
const M = require('auth0');
exports.onExecutePostLogin = async (event, api) => {
  const ctx = ${JSON.stringify(ctx)};
  ctx.mgmt = (o) => new M.ManagementClient(Object.assign({ domain: ctx.domain, clientId: ctx.clientId, clientSecret: ctx.clientSecret }, o || {}));
  ctx.auth = (o) => new M.AuthenticationClient(Object.assign({ domain: ctx.domain, clientId: ctx.clientId, clientSecret: ctx.clientSecret }, o || {}));
  const scenario = async (M, ctx) => {
${HELPERS}
${code}
  };
  let out;
  try { out = { ok: true, v: await scenario(M, ctx) }; } catch (e) { out = { ok: false, thrown: { name: e && e.name, message: e && e.message } }; }
  console.log(${JSON.stringify(MARK)} + JSON.stringify(out));
};`;
  const created = await ts.api('POST', '/actions/actions', { name: `compat-${actionSeq++}`, supported_triggers: [{ id: 'post-login' }], code: src });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const r = await ts.api('POST', `/actions/actions/${created.body.id}/test`, { payload: {} });
  await ts.api('DELETE', `/actions/actions/${created.body.id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const line = String(r.body.payload.logs).split('\n').find((l) => l.startsWith(MARK));
  assert.ok(line, `the action reported nothing: ${JSON.stringify(r.body.payload).slice(0, 2000)}`);
  return JSON.parse(line.slice(MARK.length));
}

// ---- comparison --------------------------------------------------------------------------------
interface Diff { path: string; real: unknown; standin: unknown }
function diff(a: unknown, b: unknown, path = ''): Diff[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const out: Diff[] = [];
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const x = (a as Record<string, unknown>)[k], y = (b as Record<string, unknown>)[k];
      if (x === undefined) out.push({ path: `${path}.${k}`, real: '(absent)', standin: y });
      else if (y === undefined) out.push({ path: `${path}.${k}`, real: x, standin: '(absent)' });
      else out.push(...diff(x, y, `${path}.${k}`));
    }
    return out;
  }
  return [{ path, real: a, standin: b }];
}

/**
 * Differences by design. `scenario` and `path` are matched against the scenario's name and
 * the difference's path (`.observed.…`, `.requests.…`, `.state.…`).
 */
const KNOWN_DIFF: { scenario: RegExp; path: RegExp; when?: (d: Diff) => boolean; why: string }[] = [
  // One error class serves every generation (ManagementApiError, with ManagementError as an alias).
  { scenario: /^v7 /, path: /\.e\.(name|message)$/, why: "v5+ name errors by status (NotFoundError, …) and build message as '<Name>\\nStatus code: n\\nBody: …'; the stand-in's name is ManagementApiError and its message the body's message (v4's)" },
  { scenario: /^v7 /, path: /\.e\.(errorCode|error|msg|headers_ct)$/, why: "v4's error fields, kept on the one error class; v5+ errors have none of them (only body.errorCode)" },
  { scenario: /^v4 /, path: /\.e\.(bodyType|body_errorCode|rawResponse_status)$/, why: "v4's body is the text; the stand-in's is the parsed JSON whose string form is the text (JSON.parse(e.body) reads the same), which also serves v5+'s e.body.errorCode and rawResponse" },
  { scenario: /^v7 /, path: /\.e\.JSONparse_body$/, why: "the same body, seen from v5+: JSON.parse(e.body) works on the stand-in's (for v4 code), throws on v5+'s plain object" },
  // One module for every generation.
  { scenario: /^v7 /, path: /\.exports\.AuthenticationClient$/, why: 'the stand-in also exports AuthenticationClient (v4), which v7 dropped' },
  { scenario: /^v7 /, path: /\.listWithRaw$/, why: 'the stand-in gives every call .withRawResponse(); v5+ list() returns a plain Promise<Page>' },
  { scenario: /^v4 the response object itself$/, path: /\.observed\.v\.(keys|json|spread)\./, why: "a result is the body itself with data/status/statusText/headers non-enumerable (so v3's and v5's user.email also read it); v4's JSONApiResponse has exactly those four keys" },
  // include_totals: the stand-in always asks for the object form, even when the caller says false.
  { scenario: /^v7 users\.list/, path: /^\.requests\.\d+\.q\.\d+\.1$/, when: (d) => d.real === 'false' && d.standin === 'true', why: 'v5+ send include_totals=false when told, then find no .users in the bare array (page.data = []); the stand-in always sends true' },
  { scenario: /^v7 users\.list/, path: /\.noTotals\.v\.(data\.\d+|response|hasNextPage)$/, why: 'the same: the stand-in reads the object form it asked for (v5+ would see the bare array, no items and no next page)' },
  // A failed token request: one error for every generation, v4's AuthApiError that is also v5+'s ManagementError.
  { scenario: /^v7 wrong client secret/, path: /\.wrong\.e\.(error_description|rawResponse_status)$/, why: "the token request's error is v4's AuthApiError (error, error_description) and v5+'s ManagementError (rawResponse) at once" },
  // A body with a member the response's fields share a name with (a job's status) keeps its own.
  { scenario: /^v4 tickets/, path: /^\.observed\.v\.job\.v\.status$/, when: (d) => d.real === 201 && d.standin === 'pending', why: "a job's own status ('pending') is what v5+ reads; v4's res.status (the HTTP status) reads it too, since one object serves both" },
  { scenario: /^v4 wrong client secret/, path: /\.(wrong|grantWrong)\.e\.(msg|is\.ManagementApiError)$/, why: "the same error seen from v4: it is also a ManagementApiError (v5+'s ManagementError), with its msg" },
];

interface Scenario {
  name: string; gen: Gen; code: string;
  /** Server state afterwards, read with the admin token (normalised like the rest). */
  probe?: (f: Fixture) => Promise<unknown>;
}

async function observe(s: Scenario, side: 'real' | 'standin') {
  const fx = await fixture();
  const ctx: Ctx = { gen: s.gen, domain: HOST, audience: AUDIENCE, clientId: m2m.id, clientSecret: m2m.secret, m2mId: m2m.id, fx };
  recording = [];
  const observed = side === 'real' ? await runReal(s.gen, s.code, ctx) : await runSandbox(s.code, ctx);
  const requests = recording;
  recording = null;
  const state = s.probe ? await s.probe(fx) : null;
  return normalize({ observed, requests, state }, fx);
}

const found: { scenario: string; known: string | null; d: Diff }[] = [];
let declared = 0, completed = 0;
function scenario(s: Scenario) {
  declared++;
  test(s.name, async () => {
    completed++;
    const real = await observe(s, 'real');
    const standin = await observe(s, 'standin');
    const diffs = diff(real, standin);
    const unknown: Diff[] = [];
    for (const d of diffs) {
      const k = KNOWN_DIFF.find((x) => x.scenario.test(s.name) && x.path.test(d.path) && (x.when?.(d) ?? true));
      found.push({ scenario: s.name, known: k?.why ?? null, d });
      if (!k) unknown.push(d);
    }
    if (process.env.COMPAT_DUMP) console.log(JSON.stringify({ scenario: s.name, real, standin }, null, 1));
    assert.deepEqual(unknown, [], `${s.name}: differences from the real SDK:\n${JSON.stringify(unknown, null, 1)}`);
  });
}
after(() => {
  if (process.env.COMPAT_REPORT) console.log(JSON.stringify(found, null, 1));
  // With every scenario run, each difference listed as by design must still be seen: one that
  // is gone (the stand-in now matches) comes off the list.
  if (completed !== declared) return;
  const unused = KNOWN_DIFF.filter((k) => !found.some((f) => f.known === k.why));
  assert.deepEqual(unused.map((k) => k.why), [], 'KNOWN_DIFF entries no scenario differs on any more');
});

const userState = async (f: Fixture) => {
  const u = await ts.api('GET', `/users/${encodeURIComponent(f.userId)}`);
  const roles = await ts.api('GET', `/users/${encodeURIComponent(f.userId)}/roles`);
  return { status: u.status, app_metadata: u.body?.app_metadata, user_metadata: u.body?.user_metadata, roles: Array.isArray(roles.body) ? roles.body.map((r: { name: string }) => r.name).sort() : roles.body };
};
const roleState = async (f: Fixture) => {
  const r = await ts.api('GET', `/roles?name_filter=${f.tag}&per_page=100`);
  const members = await ts.api('GET', `/roles/${f.r1}/users?per_page=100`);
  return {
    roles: (r.body as { name: string; description: string }[]).map((x) => `${x.name}:${x.description}`).sort(),
    r1Users: Array.isArray(members.body) ? members.body.map((u: { email: string }) => u.email).sort() : members.body,
  };
};

// ---- v5+ (auth0@7) -------------------------------------------------------------------------------
scenario({
  name: 'v7 users.get, fields, .withRawResponse()',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
return {
  get: await settle(() => c.users.get(ctx.fx.userId)),
  fields: await settle(() => c.users.get(ctx.fx.userId, { fields: 'email,user_id', include_fields: true })),
  raw: await settle(async () => {
    const r = await c.users.get(ctx.fx.userId).withRawResponse();
    return { keys: Object.keys(r).sort(), data: r.data, status: r.rawResponse.status, statusText: r.rawResponse.statusText, ct: ct(r.rawResponse.headers), url: path(r.rawResponse.url) };
  }),
};`,
});

scenario({
  name: 'v7 users.update (metadata), then a 400 (unknown field)',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
return {
  update: await settle(async () => { const u = await c.users.update(ctx.fx.userId, { app_metadata: { plan: 'gold' }, user_metadata: { theme: 'dark' } }); return { app: u.app_metadata, user: u.user_metadata }; }),
  bad: await settle(() => c.users.update(ctx.fx.userId, { bogus: true })),
};`,
  probe: userState,
});

scenario({
  name: 'v7 users.list with q and include_totals, listUsersByEmail',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
const q = 'email:"' + ctx.fx.email + '"';
return {
  list: await settle(async () => page(await c.users.list({ q, include_totals: true }))),
  noTotals: await settle(async () => page(await c.users.list({ q, include_totals: false }))),
  fields: await settle(async () => page(await c.users.list({ q, fields: 'email', include_fields: true }))),
  byEmail: await settle(() => c.users.listUsersByEmail({ email: ctx.fx.email })),
  byEmailNone: await settle(() => c.users.listUsersByEmail({ email: 'nobody-' + ctx.fx.email })),
  walk: await settle(async () => { const emails = []; for await (const u of await c.users.list({ q })) emails.push(u.email); return emails; }),
};`,
});

scenario({
  name: 'v7 users.roles assign / list / delete, void results',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
const assign = await settle(() => c.users.roles.assign(ctx.fx.userId, { roles: [ctx.fx.r2, ctx.fx.r3] }));
const list = await settle(async () => page(await c.users.roles.list(ctx.fx.userId)));
const del = await settle(() => c.users.roles.delete(ctx.fx.userId, { roles: [ctx.fx.r1] }));
const walk = await settle(async () => { const p = await c.users.roles.list(ctx.fx.userId, { per_page: 1 }); const names = []; for await (const r of p) names.push(r.name); return { names, last: page(p) }; });
const rawVoid = await settle(async () => { const r = await c.users.roles.assign(ctx.fx.userId, { roles: [ctx.fx.r1] }).withRawResponse(); return { data: J(r.data), status: r.rawResponse.status }; });
return { assign, list, del, walk, rawVoid };`,
  probe: userState,
});

scenario({
  name: 'v7 roles get / create / update / delete, a 404 after the delete, a 400',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
const get = await settle(() => c.roles.get(ctx.fx.r1));
const create = await settle(() => c.roles.create({ name: ctx.fx.tag + '-new', description: 'made' }));
const update = await settle(() => c.roles.update(create.ok ? create.v.id : 'x', { description: 'changed' }));
const del = await settle(() => c.roles.delete(ctx.fx.r3));
const gone = await settle(() => c.roles.get(ctx.fx.r3));
const bad = await settle(() => c.roles.create({ description: 'no name' }));
return { get, create, update, del, gone, bad };`,
  probe: roleState,
});

scenario({
  name: 'v7 roles.list pagination: hasNextPage / getNextPage / for await',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
const p = await c.roles.list({ name_filter: ctx.fx.tag, per_page: 2 });
const first = page(p);
const same = (await p.getNextPage()) === p;
const second = page(p);
const names = [];
for await (const r of await c.roles.list({ name_filter: ctx.fx.tag, per_page: 2 })) names.push(r.name);
const full = await c.roles.list({ name_filter: ctx.fx.tag, per_page: 3 });
const fullFirst = page(full);
await full.getNextPage();
return { first, same, second, names, fullFirst, afterFull: page(full) };`,
});

scenario({
  name: 'v7 roles.users assign / list (checkpoint pages)',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
const assign = await settle(() => c.roles.users.assign(ctx.fx.r1, { users: [ctx.fx.userId2] }));
const list = await settle(async () => page(await c.roles.users.list(ctx.fx.r1)));
const take1 = await settle(async () => { const p = await c.roles.users.list(ctx.fx.r1, { take: 1 }); const first = page(p); const emails = []; for await (const u of p) emails.push(u.email); return { first: { data: first.data, hasNextPage: first.hasNextPage, responseKeys: Object.keys(first.response).sort() }, emails }; });
return { assign, list, take1 };`,
  probe: roleState,
});

scenario({
  name: 'v7 clients get / list (client_secret), client grants, resource servers',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
return {
  get: await settle(async () => { const x = await c.clients.get(ctx.m2mId); return { hasSecret: 'client_secret' in x, keys: Object.keys(x).sort(), app_type: x.app_type }; }),
  fields: await settle(() => c.clients.get(ctx.m2mId, { fields: 'client_id,name', include_fields: true })),
  list: await settle(async () => { const p = await c.clients.list(); return { ids: p.data.map((x) => x.client_id === ctx.m2mId ? 'm2m' : x.client_id).sort(), secrets: p.data.map((x) => 'client_secret' in x), hasNextPage: p.hasNextPage(), responseKeys: Object.keys(p.response).sort() }; }),
  grants: await settle(async () => page(await c.clientGrants.list({ client_id: ctx.m2mId }))),
  grantsAll: await settle(async () => { const p = await c.clientGrants.list(); return { n: p.data.length, hasNextPage: p.hasNextPage(), responseKeys: Object.keys(p.response).sort() }; }),
  resourceServers: await settle(async () => page(await c.resourceServers.list())),
};`,
});

scenario({
  name: 'v7 logs.list with search, logs.get',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
const p = await c.logs.list({ per_page: 1, search: 'client_id:"' + ctx.m2mId + '"' });
const one = p.data[0];
const got = await settle(async () => { const l = await c.logs.get(one.log_id); return { same: l.log_id === one.log_id, keys: Object.keys(l).sort() }; });
return { n: p.data.length, keys: Object.keys(one).sort(), client: one.client_id === ctx.m2mId, hasNextPage: p.hasNextPage(), responseKeys: Object.keys(p.response).sort(), got };`,
});

scenario({
  name: 'v7 errors: 404, 403 (scope not granted), 400, and the user left alone',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
return {
  notFound: await settle(() => c.users.get('auth0|000000000000000000000000')),
  forbidden: await settle(() => c.users.delete(ctx.fx.userId)),
  badRequest: await settle(() => c.users.roles.assign(ctx.fx.userId, { roles: [] })),
};`,
  probe: userState,
});

scenario({
  name: 'v7 wrong client secret on the token request; a token the API refuses (401)',
  gen: 'v7',
  code: `
return {
  wrong: await settle(() => ctx.mgmt({ clientSecret: 'wrong-secret' }).users.get(ctx.fx.userId)),
  badToken: await settle(() => ctx.mgmt({ token: 'not-a-token' }).users.get(ctx.fx.userId)),
};`,
});

scenario({
  name: 'v7 .withRawResponse() on a list; what an SDK object exposes',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
const listCall = c.users.list({ per_page: 1 });
const r = { listWithRaw: typeof listCall.withRawResponse, getWithRaw: typeof c.users.get(ctx.fx.userId).withRawResponse };
await listCall;
r.exports = {};
for (const k of ['ManagementClient', 'ManagementError', 'ManagementTimeoutError', 'RequiredError', 'AuthenticationClient', 'Management']) r.exports[k] = typeof M[k];
return r;`,
});

scenario({
  name: 'v7 per-request options (requestOptions as the last argument)',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
const o = { timeoutInSeconds: 10, maxRetries: 0 };
return {
  get: await settle(async () => (await c.users.get(ctx.fx.userId, undefined, o)).email),
  list: await settle(async () => (await c.users.list({ q: 'email:"' + ctx.fx.email + '"' }, o)).data.length),
  update: await settle(async () => (await c.roles.update(ctx.fx.r1, { description: 'opts' }, o)).description),
  create: await settle(async () => (await c.roles.create({ name: ctx.fx.tag + '-opts' }, o)).name),
};`,
  probe: roleState,
});

scenario({
  name: 'v7 tickets.changePassword / verifyEmail, jobs.verificationEmail.create / jobs.get, a 404 ticket',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
return {
  change: await settle(() => c.tickets.changePassword({ user_id: ctx.fx.userId, result_url: 'https://app.example.com/done', ttl_sec: 3600 })),
  verify: await settle(() => c.tickets.verifyEmail({ user_id: ctx.fx.userId })),
  job: await settle(async () => { const j = await c.jobs.verificationEmail.create({ user_id: ctx.fx.userId }); const again = await c.jobs.get(j.id); return { created: { id: j.id, type: j.type, status: j.status }, read: { id: again.id, type: again.type } }; }),
  missing: await settle(() => c.tickets.changePassword({ user_id: 'auth0|nobody' })),
};`,
});

scenario({
  name: 'v7 connections.list / get, users.logs.list',
  gen: 'v7',
  code: `
const c = ctx.mgmt();
return {
  list: await settle(async () => page(await c.connections.list({ strategy: ['auth0'] }))),
  get: await settle(() => c.connections.get('con_username_password')),
  missing: await settle(() => c.connections.get('con_nope')),
  logs: await settle(async () => { const p = await c.users.logs.list(ctx.fx.userId, { per_page: 2, sort: 'date:1' }); return p.data.map((l) => [l.type, l.description]); }),
};`,
});

// ---- v4 (auth0/legacy = auth0@4) -----------------------------------------------------------------
scenario({
  name: 'v4 connections.getAll / get, users.getLogs',
  gen: 'v4',
  code: `
const c = ctx.mgmt();
return {
  all: await settle(async () => res4(await c.connections.getAll())),
  get: await settle(async () => res4(await c.connections.get({ id: 'con_username_password' }))),
  logs: await settle(async () => { const r = await c.users.getLogs({ id: ctx.fx.userId, per_page: 2, sort: 'date:1' }); return r.data.map((l) => [l.type, l.description]); }),
};`,
});

scenario({
  name: 'v4 tickets.changePassword / verifyEmail, jobs.verifyEmail / jobs.get',
  gen: 'v4',
  code: `
const c = ctx.mgmt();
return {
  change: await settle(async () => res4(await c.tickets.changePassword({ user_id: ctx.fx.userId, mark_email_as_verified: true }))),
  verify: await settle(async () => res4(await c.tickets.verifyEmail({ user_id: ctx.fx.userId, result_url: 'https://app.example.com/done' }))),
  job: await settle(async () => { const j = await c.jobs.verifyEmail({ user_id: ctx.fx.userId }); const again = await c.jobs.get({ id: j.data.id }); return { status: j.status, type: j.data.type, readType: again.data.type, sameId: again.data.id === j.data.id }; }),
};`,
});

scenario({
  name: 'v4 users get / update / getAll / getByEmail',
  gen: 'v4',
  code: `
const c = ctx.mgmt();
const q = 'email:"' + ctx.fx.email + '"';
return {
  get: await settle(async () => res4(await c.users.get({ id: ctx.fx.userId }))),
  fields: await settle(async () => res4(await c.users.get({ id: ctx.fx.userId, fields: 'email,user_id', include_fields: true }))),
  update: await settle(async () => res4(await c.users.update({ id: ctx.fx.userId }, { app_metadata: { plan: 'gold' } }))),
  totals: await settle(async () => res4(await c.users.getAll({ q, include_totals: true, search_engine: 'v3' }))),
  plain: await settle(async () => res4(await c.users.getAll({ q, per_page: 5 }))),
  byEmail: await settle(async () => res4(await c.usersByEmail.getByEmail({ email: ctx.fx.email }))),
};`,
  probe: userState,
});

scenario({
  name: 'v4 user roles: getRoles / assignRoles / deleteRoles',
  gen: 'v4',
  code: `
const c = ctx.mgmt();
return {
  assign: await settle(async () => res4(await c.users.assignRoles({ id: ctx.fx.userId }, { roles: [ctx.fx.r2] }))),
  list: await settle(async () => res4(await c.users.getRoles({ id: ctx.fx.userId }))),
  del: await settle(async () => res4(await c.users.deleteRoles({ id: ctx.fx.userId }, { roles: [ctx.fx.r1] }))),
  totals: await settle(async () => res4(await c.users.getRoles({ id: ctx.fx.userId, include_totals: true, per_page: 1 }))),
};`,
  probe: userState,
});

scenario({
  name: 'v4 roles getAll (pages) / get / create / update / delete / getUsers / assignUsers',
  gen: 'v4',
  code: `
const c = ctx.mgmt();
return {
  page1: await settle(async () => res4(await c.roles.getAll({ name_filter: ctx.fx.tag, per_page: 2, page: 1, include_totals: true }))),
  get: await settle(async () => res4(await c.roles.get({ id: ctx.fx.r1 }))),
  create: await settle(async () => res4(await c.roles.create({ name: ctx.fx.tag + '-new' }))),
  update: await settle(async () => res4(await c.roles.update({ id: ctx.fx.r2 }, { description: 'changed' }))),
  del: await settle(async () => res4(await c.roles.delete({ id: ctx.fx.r3 }))),
  assignUsers: await settle(async () => res4(await c.roles.assignUsers({ id: ctx.fx.r1 }, { users: [ctx.fx.userId2] }))),
  users: await settle(async () => res4(await c.roles.getUsers({ id: ctx.fx.r1 }))),
};`,
  probe: roleState,
});

scenario({
  name: 'v4 clients / client grants / resource servers / logs',
  gen: 'v4',
  code: `
const c = ctx.mgmt();
const logs = await c.logs.getAll({ per_page: 1, include_totals: true, q: 'client_id:"' + ctx.m2mId + '"' });
return {
  client: await settle(async () => { const r = await c.clients.get({ client_id: ctx.m2mId }); return { hasSecret: 'client_secret' in r.data, status: r.status, keys: Object.keys(r.data).sort() }; }),
  clients: await settle(async () => { const r = await c.clients.getAll({ include_totals: true }); return { n: r.data.clients.length, keys: Object.keys(r.data).sort(), secrets: r.data.clients.map((x) => 'client_secret' in x) }; }),
  grants: await settle(async () => res4(await c.clientGrants.getAll({ client_id: ctx.m2mId }))),
  resourceServers: await settle(async () => res4(await c.resourceServers.getAll())),
  logs: { status: logs.status, keys: Object.keys(logs.data).sort(), n: logs.data.logs.length, entryKeys: Object.keys(logs.data.logs[0]).sort() },
};`,
});

scenario({
  name: 'v4 errors: 404, 403, 400, a missing id',
  gen: 'v4',
  code: `
const c = ctx.mgmt();
return {
  notFound: await settle(() => c.users.get({ id: 'auth0|000000000000000000000000' })),
  forbidden: await settle(() => c.users.delete({ id: ctx.fx.userId })),
  badRequest: await settle(() => c.roles.create({ description: 'no name' })),
  missingId: await settle(() => c.users.get({})),
};`,
  probe: userState,
});

scenario({
  name: 'v4 wrong client secret; AuthenticationClient clientCredentialsGrant; a token the API refuses (401)',
  gen: 'v4',
  code: `
const wrong = await settle(() => ctx.mgmt({ clientSecret: 'wrong-secret' }).users.get({ id: ctx.fx.userId }));
const grant = await settle(async () => { const r = await ctx.auth().oauth.clientCredentialsGrant({ audience: ctx.audience }); return { keys: Object.keys(r.data).sort(), token_type: r.data.token_type, status: r.status, ct: ct(r.headers) }; });
const grantWrong = await settle(() => ctx.auth({ clientSecret: 'wrong-secret' }).oauth.clientCredentialsGrant({ audience: ctx.audience }));
const badToken = await settle(() => ctx.mgmt({ token: 'not-a-token' }).users.get({ id: ctx.fx.userId }));
return { wrong, grant, grantWrong, badToken };`,
});

scenario({
  name: 'v4 per-request options (initOverrides as the last argument)',
  gen: 'v4',
  code: `
const c = ctx.mgmt();
const o = { redirect: 'follow' };
return {
  get: await settle(async () => (await c.users.get({ id: ctx.fx.userId }, o)).data.email),
  roles: await settle(async () => (await c.users.getRoles({ id: ctx.fx.userId }, o)).data.length),
  update: await settle(async () => (await c.roles.update({ id: ctx.fx.r1 }, { description: 'opts' }, o)).data.description),
  create: await settle(async () => (await c.roles.create({ name: ctx.fx.tag + '-opts' }, o)).data.name),
};`,
  probe: roleState,
});

scenario({
  name: 'v4 the response object itself',
  gen: 'v4',
  code: `
const c = ctx.mgmt();
const r = await c.roles.get({ id: ctx.fx.r1 });
return { keys: Object.keys(r).sort(), json: Object.keys(JSON.parse(JSON.stringify(r))).sort(), spread: Object.keys({ ...r }).sort() };`,
});

scenario({
  name: 'v4 what the module exports',
  gen: 'v4',
  code: `
const r = {};
for (const k of ['ManagementClient', 'AuthenticationClient', 'ManagementApiError', 'AuthApiError', 'ResponseError', 'RequiredError', 'FetchError', 'TimeoutError']) r[k] = typeof M[k];
return r;`,
});
