import type Router from '@koa/router';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { requireScope } from './auth.ts';
import { auditChange, pageOf, paginationShape, parseBody, parseQuery, text, type RegisterRoutes } from './helpers.ts';
import { isTriggerId, TRIGGERS, type TriggerId } from '../actions/triggers/definitions.ts';
import { MAX_CODE_BYTES } from '../actions/compile.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import { randomId } from '../shared/ids.ts';
import { commandsWithoutSecrets } from '../actions/engine/engine.ts';
import { NPM_MODULES } from '../actions/sandbox/types.ts';
import { offeredPackage } from '../actions/sandbox/packages.ts';

const secretSchema = z.strictObject({ name: z.string().min(1).max(64), value: z.string().max(64 * 1024).optional() });
/**
 * Auth0's declared npm dependencies. Only the modules Gatehouse provides (sandbox/types.ts) may
 * be named: an action that declares another would fail on its first require(), so it is refused
 * here, where its author can see why. One entry per module.
 */
const dependencies = z.array(z.strictObject({
  name: z.string().min(1).max(214),
  version: z.string().min(1).max(64).regex(/^[\w.^~<>=*|\- +]+$/, 'must be an npm version or range'),
  registry_url: z.string().max(2048).optional(),
}).superRefine((d, c) => {
  if (Object.hasOwn(NPM_MODULES, d.name) || offeredPackage(d.name)) return;
  c.addIssue({
    code: 'custom', path: ['name'],
    message: `${d.name.slice(0, 100)} is not available: Gatehouse actions can require ${Object.entries(NPM_MODULES).map(([n, what]) => `${n} (${what})`).join(', ')}, lodash's one-method packages (lodash.merge, …) and Node.js's crypto, buffer, url, querystring, util, events, http and https; bring other code into the action itself`,
  });
})).max(20).refine((ds) => new Set(ds.map((d) => d.name)).size === ds.length, 'each module may be listed once');
const code = z.string().min(1).max(MAX_CODE_BYTES, `must be at most ${MAX_CODE_BYTES / 1024} KB`).refine((v) => !v.includes('\u0000'), 'must not contain a NUL character');
const createSchema = z.strictObject({
  name: text(200),
  supported_triggers: z.array(z.strictObject({ id: z.string(), version: z.string().optional() })).length(1, 'exactly one trigger'),
  code, secrets: z.array(secretSchema).max(100).optional(), runtime: z.string().max(16).optional(),
  dependencies: dependencies.optional(),
});
const updateSchema = z.strictObject({
  name: text(200).optional(), code: code.optional(), secrets: z.array(secretSchema).max(100).optional(), runtime: z.string().max(16).optional(),
  supported_triggers: z.array(z.strictObject({ id: z.string(), version: z.string().optional() })).optional(),
  dependencies: dependencies.optional(),
});
const bindingsSchema = z.strictObject({
  bindings: z.array(z.strictObject({
    ref: z.strictObject({ type: z.enum(['action_id', 'action_name']), value: z.string().min(1).max(200) }),
    display_name: text(200).optional(), on_error: z.enum(['block', 'allow']).optional(),
  })).max(100),
});
const testSchema = z.strictObject({ payload: z.record(z.string(), z.unknown()) });
const rollbackSchema = z.strictObject({ update_draft: z.boolean().optional() }).optional();

function trigger(id: string): TriggerId {
  if (!isTriggerId(id)) throw notFound(`Trigger "${id}" does not exist (one of ${Object.keys(TRIGGERS).join(', ')})`, 'inexistent_trigger');
  return id;
}

/** `/actions/…` as in Auth0's Management API: actions, versions, deploy, rollback, bindings, test, executions. */
export const registerActions: RegisterRoutes = (router: Router, app: AppContext) => {
  const store = app.actions.store;

  router.get('/actions/triggers', requireScope('read:actions'), async (ctx) => {
    ctx.body = { triggers: Object.values(TRIGGERS).map((t) => ({ id: t.id, version: t.version, status: 'CURRENT', runtimes: ['node22'], default_runtime: 'node22', compatible_triggers: [] })) };
  });

  router.get('/actions/actions', requireScope('read:actions'), async (ctx) => {
    const q = parseQuery(ctx, z.strictObject({ ...paginationShape, triggerId: z.string().max(64).optional(), actionName: z.string().max(200).optional(), deployed: z.enum(['true', 'false']).optional() }));
    const p = pageOf(q);
    const r = await store.list({ triggerId: q.triggerId, actionName: q.actionName, deployed: q.deployed === 'true', page: p.page, perPage: p.perPage });
    ctx.body = { actions: r.actions, total: r.total, page: p.page, per_page: p.perPage };
  });

  router.post('/actions/actions', requireScope('create:actions'), async (ctx) => {
    const body = parseBody(ctx, createSchema);
    const a = await store.create(body);
    await auditChange(app, ctx, { description: 'Create an action', target: { type: 'action', id: a.id }, after: { name: a.name, trigger: a.supported_triggers[0].id, secrets: a.secrets.map((s) => s.name), dependencies: a.dependencies.map((d) => `${d.name}@${d.version}`) } });
    ctx.status = 201;
    ctx.body = a;
  });

  router.get('/actions/actions/:id', requireScope('read:actions'), async (ctx) => { ctx.body = await store.get(ctx.params.id); });

  router.patch('/actions/actions/:id', requireScope('update:actions'), async (ctx) => {
    const body = parseBody(ctx, updateSchema);
    const before = await store.get(ctx.params.id);
    if (body.supported_triggers && body.supported_triggers[0]?.id !== before.supported_triggers[0].id) throw badRequest('supported_triggers: an action\'s trigger cannot be changed; create a new action');
    const a = await store.update(ctx.params.id, body);
    await auditChange(app, ctx, { description: 'Update an action (draft)', target: { type: 'action', id: a.id }, before: { name: before.name, code_changed: false, secrets: before.secrets.map((s) => s.name) }, after: { name: a.name, code_changed: body.code !== undefined, secrets: a.secrets.map((s) => s.name), ...(body.dependencies !== undefined ? { dependencies: a.dependencies.map((d) => `${d.name}@${d.version}`) } : {}) } });
    ctx.body = a;
  });

  router.delete('/actions/actions/:id', requireScope('delete:actions'), async (ctx) => {
    const force = ctx.query.force === 'true';
    await store.remove(ctx.params.id, force);
    await auditChange(app, ctx, { description: 'Delete an action', target: { type: 'action', id: ctx.params.id } });
    ctx.status = 204;
  });

  router.post('/actions/actions/:id/deploy', requireScope('create:actions', 'update:actions'), async (ctx) => {
    const v = await store.deploy(ctx.params.id);
    await auditChange(app, ctx, { description: `Deploy an action (version ${v.number})`, target: { type: 'action', id: ctx.params.id }, extra: { version: v.number } });
    // 202 as Auth0 answers (clients written for its API check for it); the version is usable at once here.
    ctx.status = 202;
    ctx.body = v;
  });

  router.get('/actions/actions/:id/versions', requireScope('read:actions'), async (ctx) => {
    const p = pageOf(parseQuery(ctx, z.strictObject(paginationShape)));
    const r = await store.versions(ctx.params.id, p);
    ctx.body = { versions: r.versions, total: r.total, page: p.page, per_page: p.perPage };
  });

  router.get('/actions/actions/:id/versions/:versionId', requireScope('read:actions'), async (ctx) => { ctx.body = await store.version(ctx.params.id, ctx.params.versionId); });

  router.post('/actions/actions/:id/versions/:versionId/deploy', requireScope('create:actions', 'update:actions'), async (ctx) => {
    // As on Auth0, the draft (code and secrets not deployed yet) is kept unless update_draft says to replace it.
    const body = parseBody(ctx, rollbackSchema);
    const v = await store.deploy(ctx.params.id, ctx.params.versionId, { updateDraft: body?.update_draft === true });
    await auditChange(app, ctx, { description: `Roll back an action (new version ${v.number})`, target: { type: 'action', id: ctx.params.id }, extra: { from_version: ctx.params.versionId, version: v.number, update_draft: body?.update_draft === true } });
    ctx.status = 202;
    ctx.body = v;
  });

  router.post('/actions/actions/:id/test', requireScope('create:actions', 'update:actions'), async (ctx) => {
    const { payload } = parseBody(ctx, testSchema);
    const draft = await store.draft(ctx.params.id);
    const start = process.hrtime.bigint();
    const o = await app.actions.engine.run(draft.triggerId, payload, {
      canRedirect: draft.triggerId === 'post-login', redirectState: randomId(18),
      dryRun: { action: { key: `draft:${draft.actionId}:${randomId(6)}`, name: draft.name, code: draft.compiled, secrets: draft.secrets } },
    });
    const r = o.results[0];
    ctx.body = {
      payload: {
        status: r?.status ?? 'ok', commands: commandsWithoutSecrets(r?.commands ?? [], draft.secrets), rejected_commands: r?.rejected ?? [], logs: r?.logs ?? '', error: r?.error ?? null,
        stats: { total_request_duration_ms: Number(process.hrtime.bigint() - start) / 1e6, action_duration_ms: r?.durationMs ?? 0, cpu_micros: r?.cpuMicros ?? 0 },
      },
    };
  });

  router.get('/actions/triggers/:triggerId/bindings', requireScope('read:actions'), async (ctx) => {
    // Paged as on Auth0 ({bindings, total, page, per_page}): SDKs page on until `total` says they have all.
    const t = trigger(ctx.params.triggerId);
    const q = parseQuery(ctx, z.strictObject({ page: paginationShape.page, per_page: paginationShape.per_page }));
    const p = pageOf(q);
    const all = await store.bindings(t);
    ctx.body = { bindings: all.slice(p.page * p.perPage, (p.page + 1) * p.perPage), total: all.length, page: p.page, per_page: p.perPage };
  });

  router.patch('/actions/triggers/:triggerId/bindings', requireScope('update:actions'), async (ctx) => {
    const t = trigger(ctx.params.triggerId);
    const body = parseBody(ctx, bindingsSchema);
    const before = await store.bindings(t);
    const after = await store.setBindings(t, body.bindings);
    await auditChange(app, ctx, { description: `Update the ${t} bindings`, target: { type: 'trigger', id: t }, before: { actions: before.map((b) => b.action.name) }, after: { actions: after.map((b) => b.action.name) } });
    ctx.body = { bindings: after };
  });

  router.get('/actions/executions/:id', requireScope('read:actions'), async (ctx) => {
    await app.actions.engine.flush();
    ctx.body = await store.execution(ctx.params.id);
  });

  router.get('/actions/executions', requireScope('read:actions'), async (ctx) => {
    const q = parseQuery(ctx, z.strictObject({ since: z.string().regex(/^\d{1,15}$/).transform(Number).optional(), triggerId: z.string().max(64).optional(), limit: z.string().regex(/^\d{1,3}$/).transform(Number).optional() }));
    await app.actions.engine.flush();
    ctx.body = { executions: await store.executions({ limit: Math.min(q.limit ?? 50, 100), since: q.since, triggerId: q.triggerId }) };
  });
};
