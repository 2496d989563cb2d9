import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { AppError, badRequest } from '../shared/errors.ts';
import { requireScope, type ManagementCaller } from './auth.ts';

/** Each resource file exports one of these; index.ts calls them in turn. */
export type RegisterRoutes = (router: Router, app: AppContext) => void;

const DANGEROUS_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
// C0/C1 controls, zero-width characters and bidi overrides: never wanted in names shown to people.
import { UNSAFE_TEXT } from '../shared/text.ts';

function describeIssue(issue: z.core.$ZodIssue, root: string): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = path ? ` in ${path}` : '';
    return `${issue.keys.join(', ')}: unknown field${issue.keys.length > 1 ? 's' : ''}${where} (Additional properties not allowed)`;
  }
  return `${path || root}: ${issue.message}`;
}

function fail(error: z.ZodError, root: string, errorCode: string): never {
  const msgs = error.issues.slice(0, 3).map((i) => describeIssue(i, root));
  throw badRequest(`Payload validation error: ${msgs.join('; ')}`, errorCode);
}

/**
 * Where in a JSON value a string or a member name holds a NUL, as a path (`body.members[0]`);
 * undefined when none does. PostgreSQL refuses NUL in text: such a value would fail in SQL.
 */
function nulAt(v: unknown, path: string, depth = 0): string | undefined {
  if (typeof v === 'string') return v.includes('\u0000') ? path : undefined;
  if (v === null || typeof v !== 'object' || depth > 100) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) { const at = nulAt(v[i], `${path}[${i}]`, depth + 1); if (at) return at; }
    return undefined;
  }
  for (const [k, x] of Object.entries(v)) {
    const here = `${path}.${k.replace(/[\u0000-\u001f]/g, '?').slice(0, 64)}`;
    if (k.includes('\u0000')) return here;
    // A password is only hashed, never stored as text: any character it may hold at sign-in, it may hold here.
    if (depth === 0 && k === 'password') continue;
    const at = nulAt(x, here, depth + 1);
    if (at) return at;
  }
  return undefined;
}

/**
 * Parses the JSON body with a strict schema: unknown fields are a 400 naming them (mass-assignment
 * guard), and so is a NUL anywhere in it.
 */
export function parseBody<S extends z.ZodType>(ctx: Context, schema: S): z.output<S> {
  const body = (ctx.request as { body?: unknown }).body;
  const nul = nulAt(body, 'body');
  if (nul) throw badRequest(`Payload validation error: ${nul}: must not contain a NUL character`, 'invalid_body');
  const r = schema.safeParse(body);
  if (!r.success) fail(r.error, 'body', 'invalid_body');
  return r.data;
}

/**
 * The JSON body of a DELETE (Auth0's `DELETE /users/{id}/roles {roles}`), which the shared
 * body parser leaves unread: read here with the same size limit and content-type rule.
 */
export async function readDeleteBody(ctx: Context, limitBytes: number): Promise<void> {
  const req = ctx.request as { body?: unknown };
  if (req.body !== undefined) return;
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limitBytes) throw new AppError(413, 'payload_too_large', 'Request body too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new AppError(413, 'payload_too_large', 'Request body too large');
    chunks.push(chunk);
  }
  if (size === 0) { req.body = {}; return; }
  if (!ctx.is('application/json')) throw new AppError(415, 'unsupported_media_type', 'Send the body as application/json');
  try {
    req.body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('Payload validation error: body: is not valid JSON', 'invalid_json');
  }
}

/**
 * Parses the query string. A parameter given twice arrives as an array and fails the string
 * schema, so parameter pollution (`email=a&email=b`) is a 400 rather than a silent pick; only
 * the `lists` Auth0 defines as repeatable (`identifiers=a&identifiers=b`) may repeat.
 */
export function parseQuery<S extends z.ZodType>(ctx: Context, schema: S, lists: readonly string[] = []): z.output<S> {
  const repeated = Object.entries(ctx.query).find(([k, v]) => Array.isArray(v) && !lists.includes(k));
  if (repeated) throw badRequest(`Query validation error: ${repeated[0].slice(0, 64)}: must be given once`, 'invalid_query_string');
  const r = schema.safeParse({ ...ctx.query });
  if (!r.success) {
    const msgs = r.error.issues.slice(0, 3).map((i) => describeIssue(i, 'query'));
    throw badRequest(`Query validation error: ${msgs.join('; ')}`, 'invalid_query_string');
  }
  return r.data;
}

/**
 * An Auth0 setting that holds here by design: `true` is accepted (tools that copy a tenant's
 * settings send it), `false` is a 400 saying why, rather than accepted and not done.
 */
export const alwaysTrue = (why: string) => z.boolean().refine((v) => v, `is always true here: ${why}`);

/** Free text shown to people: bounded and free of control, zero-width and bidi characters. */
export const text = (max: number, min = 1) => z.string().min(min).max(max).refine((s) => !UNSAFE_TEXT.test(s), 'must not contain control or invisible characters');

const intString = (max: number) => z.string()
  .regex(/^\d{1,9}$/, 'must be a non-negative integer')
  .transform(Number)
  .refine((n) => n <= max, `must be at most ${max}`);

/** Auth0's pagination parameters: `page` from 0, `per_page` 1..100 (default 50), `include_totals`. */
export const paginationShape = {
  page: intString(100_000).optional(),
  per_page: intString(100).refine((n) => n >= 1, 'must be at least 1').optional(),
  include_totals: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
};
export const paginationQuery = z.strictObject(paginationShape);

export interface Page { page: number; perPage: number; includeTotals: boolean }
export function pageOf(q: { page?: number; per_page?: number; include_totals?: boolean }): Page {
  return { page: q.page ?? 0, perPage: q.per_page ?? 50, includeTotals: q.include_totals ?? false };
}

/**
 * Auth0's checkpoint pagination, next to page/per_page where Auth0 offers both: `take` (1..100,
 * default 50) items after `from`, the `next` of the answer before. Auth0's SDKs send `take` on
 * every call of such a list (with `include_totals`, which it then ignores).
 */
export const checkpointShape = {
  from: z.string().min(1).max(512).optional(),
  take: intString(100).refine((n) => n >= 1, 'must be at least 1').optional(),
};
/** Where a checkpoint page starts (`after`: the key of the last item before it) and how many it holds. */
export interface Checkpoint { after: string[] | undefined; take: number }

/** The checkpoint the query asks for, or undefined for page/per_page paging. */
export function checkpointOf(q: { from?: string; take?: number; page?: number; per_page?: number }): Checkpoint | undefined {
  if (q.from === undefined && q.take === undefined) return undefined;
  if (q.page !== undefined || q.per_page !== undefined) throw badRequest('Query validation error: page and per_page cannot be combined with from and take', 'invalid_query_string');
  let after: string[] | undefined;
  if (q.from !== undefined) {
    try {
      const v = JSON.parse(Buffer.from(q.from, 'base64url').toString('utf8')) as unknown;
      if (Array.isArray(v) && v.length >= 1 && v.length <= 4 && v.every((x) => typeof x === 'string' && !/[\u0000-\u001f]/.test(x))) after = v;
    } catch { /* refused below */ }
    if (!after) throw badRequest('Query validation error: from: must be the `next` value of an earlier answer', 'invalid_query_string');
  }
  return { after, take: q.take ?? 50 };
}

/**
 * One checkpoint page from rows fetched with `take + 1` (the extra one only tells that more
 * follow): `{<key>: items, next}`, `next` (opaque: the last item's sort key) only when more follow.
 */
export function checkpointBody<R, T>(key: string, rows: R[], c: Checkpoint, sortKey: (r: R) => string[], item: (r: R) => T) {
  const page = rows.slice(0, c.take);
  const more = rows.length > c.take && page.length > 0;
  return { [key]: page.map(item), ...(more ? { next: Buffer.from(JSON.stringify(sortKey(page[page.length - 1]))).toString('base64url') } : {}) };
}

/**
 * Auth0's `fields` (comma-separated top-level names; empty: all) and `include_fields` (default
 * true: only those; false: all but those), on the lists and reads that take them.
 */
export const fieldsShape = {
  fields: z.string().max(2000).regex(/^[A-Za-z0-9_,]*$/, 'must be a comma-separated list of field names').optional(),
  include_fields: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
};
export const fieldsQuery = z.strictObject(fieldsShape);

/** What `fields` / `include_fields` leave of each item (the item itself when `fields` is absent or empty). */
export function fieldsOf(q: { fields?: string; include_fields?: boolean }): <T extends object>(item: T) => Partial<T> {
  const names = new Set((q.fields ?? '').split(',').filter(Boolean));
  if (names.size === 0) return (item) => item;
  const include = q.include_fields !== false;
  return (item) => Object.fromEntries(Object.entries(item).filter(([k]) => names.has(k) === include)) as Partial<typeof item>;
}

/** A bare array, or Auth0's `{<key>, start, limit, length, total}` with `include_totals=true`. */
export function listBody<T>(key: string, items: T[], total: number, p: Page) {
  if (!p.includeTotals) return items;
  return { [key]: items, start: p.page * p.perPage, limit: p.perPage, length: items.length, total };
}

/**
 * A JSON object from the caller (metadata): a plain object, no prototype-polluting keys at any
 * depth, bounded nesting and size.
 */
export function jsonObject(opts: { maxBytes: number; maxDepth?: number }) {
  const maxDepth = opts.maxDepth ?? 10;
  return z.custom<Record<string, unknown>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'must be an object')
    .superRefine((v, ctx) => {
      const bad = findProblem(v, 0, maxDepth);
      if (bad) { ctx.addIssue({ code: 'custom', message: bad }); return; }
      if (Buffer.byteLength(JSON.stringify(v)) > opts.maxBytes) ctx.addIssue({ code: 'custom', message: `must be at most ${opts.maxBytes} bytes as JSON` });
    });
}

function findProblem(v: unknown, depth: number, maxDepth: number): string | null {
  // What PostgreSQL's jsonb refuses (NUL, lone surrogates) is the storage layer's to refuse
  // (users.ts metadataProblem), for every writer at once.
  if (v === null || typeof v !== 'object') return null;
  if (depth >= maxDepth) return `must not be nested deeper than ${maxDepth} levels`;
  for (const [k, child] of Object.entries(v)) {
    if (DANGEROUS_KEYS.has(k)) return `key "${k}" is not allowed`;
    const p = findProblem(child, depth + 1, maxDepth);
    if (p) return p;
  }
  return null;
}

/** Flat `{string: string}` map (Auth0's client_metadata: at most 10 keys, values ≤ 255 chars). */
export const stringMap = z.custom<Record<string, string>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'must be an object')
  .superRefine((v, ctx) => {
    const entries = Object.entries(v);
    if (entries.length > 10) ctx.addIssue({ code: 'custom', message: 'must have at most 10 keys' });
    for (const [k, val] of entries) {
      if (DANGEROUS_KEYS.has(k) || !/^[A-Za-z0-9_-]{1,255}$/.test(k)) ctx.addIssue({ code: 'custom', message: `key "${k.slice(0, 40)}" is not allowed (letters, digits, _ and -)` });
      else if (typeof val !== 'string' || val.length > 255) ctx.addIssue({ code: 'custom', message: `value of "${k}" must be a string of at most 255 characters` });
    }
  });

export const caller = (ctx: Context) => ctx.state.caller as ManagementCaller;

/** Rejects an empty PATCH so a typo'd-away body is not a silent no-op. */
export function requireSomeField(body: Record<string, unknown>) {
  if (!Object.values(body).some((v) => v !== undefined)) throw badRequest('Payload validation error: body: at least one field is required');
}

// Values for these never enter an audit event, whatever the resource.
const NEVER_AUDITED = new Set(['password', 'password_hash', 'client_secret', 'client_secret_sealed', 'private_jwk', 'private_jwk_sealed']);
const IGNORED = new Set(['updated_at']);

function shortValue(v: unknown): unknown {
  if (v === undefined) return null;
  const s = JSON.stringify(v);
  return s.length <= 200 ? v : `${s.slice(0, 197)}...`;
}

/**
 * What changed between two snapshots, as a list (not keyed by field name, so the logger's
 * secret-key redaction does not hide harmless fields such as `token_lifetime`). Secret fields
 * appear by name only, never with a value.
 */
export function changes(before: object | undefined, after: object | undefined) {
  const b = (before ?? {}) as Record<string, unknown>;
  const a = (after ?? {}) as Record<string, unknown>;
  const out: { field: string; from?: unknown; to?: unknown }[] = [];
  for (const field of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (IGNORED.has(field)) continue;
    if (JSON.stringify(b[field]) === JSON.stringify(a[field])) continue;
    if (NEVER_AUDITED.has(field)) { out.push({ field }); continue; }
    out.push({ field, from: shortValue(b[field]), to: shortValue(a[field]) });
  }
  return out;
}

/**
 * Audit event `sapi` for an admin change: who (token subject and client), what (target type and
 * id), and a short before/after summary that never carries secret values.
 */
export async function auditChange(app: AppContext, ctx: Context, e: {
  description: string; target: { type: string; id: string }; userId?: string; before?: object; after?: object; extra?: Record<string, unknown>;
}) {
  const who = caller(ctx);
  await app.audit.record({
    type: 'sapi', description: e.description, client_id: who.clientId || null, user_id: e.userId ?? null,
    ip: ctx.ip, user_agent: ctx.get('user-agent'),
    details: {
      actor: { sub: who.sub, client_id: who.clientId }, target: e.target,
      ...(e.before || e.after ? { changes: changes(e.before, e.after) } : {}), ...e.extra,
    },
  });
}

/** Auth0's body for giving or taking permissions (a role's, a user's): an API's scopes by name. */
export const permissionsBody = z.strictObject({
  permissions: z.array(z.strictObject({ resource_server_identifier: z.string().min(1).max(600), permission_name: z.string().min(1).max(280) })).min(1).max(100),
});

/**
 * `POST` and `DELETE {path}` (Auth0's body: permissions by API and name) for an owner of RBAC
 * permissions, a role or a user: the owner must exist, the change is audited; 201 with nothing
 * in it (as Auth0), 204.
 */
export function registerPermissionWrites(router: Router, app: AppContext, o: {
  path: string; scope: string; kind: 'role' | 'user'; id: (ctx: Context) => string; exists: (id: string) => Promise<unknown>;
  give: (id: string, refs: z.infer<typeof permissionsBody>['permissions']) => Promise<void>;
  take: (id: string, refs: z.infer<typeof permissionsBody>['permissions']) => Promise<void>;
}) {
  const audit = (ctx: Context, id: string, description: string, permissions: unknown) => auditChange(app, ctx, {
    description, target: { type: o.kind, id }, ...(o.kind === 'user' ? { userId: id } : {}), extra: { permissions },
  });
  router.post(o.path, requireScope(o.scope), async function givePermissions(ctx) {
    const id = o.id(ctx);
    const body = parseBody(ctx, permissionsBody);
    await o.exists(id);
    await o.give(id, body.permissions);
    await audit(ctx, id, `Add permissions to a ${o.kind}`, body.permissions);
    ctx.status = 201;
    ctx.body = '';
  });
  router.delete(o.path, requireScope(o.scope), async function takePermissions(ctx) {
    const id = o.id(ctx);
    await readDeleteBody(ctx, app.config.http.bodyLimitBytes);
    const body = parseBody(ctx, permissionsBody);
    await o.exists(id);
    await o.take(id, body.permissions);
    await audit(ctx, id, `Remove permissions from a ${o.kind}`, body.permissions);
    ctx.status = 204;
  });
}

/** A path's `:id`, 1 to `max` characters; a 400 naming the limit otherwise (Auth0's invalid_uri). */
export function pathId(ctx: Context, max: number, name = 'id'): string {
  const id = ctx.params[name];
  if (typeof id !== 'string' || id.length < 1 || id.length > max) throw badRequest(`Path validation error: ${name}: must be 1 to ${max} characters`, 'invalid_uri');
  return id;
}
