import { constants as zlib, createGzip } from 'node:zlib';
import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { toUser, type User, type UserRow } from './users.ts';

/**
 * Auth0's bulk user export (its "Bulk User Exports"): every user, in the order of their ids, as
 * NDJSON (`json`: one object per line, as Auth0 writes it) or CSV, gzip-compressed. `fields`
 * picks what goes in (at most 30, Auth0's limit): a property of the user as the Management API
 * shows it (`email`, `logins_count`…), a path into it (`user_metadata.country`,
 * `identities[0].connection`), each optionally renamed (`export_as`). Nothing the API does not
 * show is exported: no password hash, no authenticator secret.
 */

export const EXPORT_MAX_FIELDS = 30;
/** A compressed export larger than this fails its job (a safety limit, far above 1M users). */
export const EXPORT_MAX_BYTES = 512 * 1024 * 1024;
const PAGE = 1000;

/** The user's properties a field may start from (src/users/users.ts, User). */
const ROOTS = new Set([
  'user_id', 'email', 'email_verified', 'name', 'nickname', 'picture', 'given_name', 'family_name', 'connection',
  'app_metadata', 'user_metadata', 'blocked', 'logins_count', 'last_login', 'last_ip', 'last_password_reset',
  'created_at', 'updated_at', 'identities',
]);
/** What a CSV export has when no fields are named (a JSON one has the whole user). */
const CSV_DEFAULT = ['user_id', 'email', 'email_verified', 'name', 'nickname', 'given_name', 'family_name', 'picture', 'blocked', 'logins_count', 'last_login', 'created_at', 'updated_at'];
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** One step of a field's path: a key, and an array index after it when `[n]` follows. */
type Step = { key: string; index?: number };
const STEP = /^([A-Za-z0-9_$-]+)(?:\[(\d{1,3})\])?$/;

function stepsOf(name: string): Step[] | null {
  const steps: Step[] = [];
  for (const part of name.split('.')) {
    const m = STEP.exec(part);
    if (!m || UNSAFE_KEYS.has(m[1])) return null;
    steps.push(m[2] === undefined ? { key: m[1] } : { key: m[1], index: Number(m[2]) });
  }
  return steps;
}

export const exportBody = z.strictObject({
  connection_id: z.string().max(64).optional(),
  format: z.enum(['json', 'csv']).optional(),
  limit: z.number().int().min(1).max(10_000_000).optional(),
  fields: z.array(z.strictObject({ name: z.string().min(1).max(200), export_as: z.string().min(1).max(100).optional() })).min(1).max(EXPORT_MAX_FIELDS).optional(),
});
export type ExportRequest = z.infer<typeof exportBody>;

export interface ExportField { name: string; as: string; steps: Step[] }

/** The request's fields, checked, or why they cannot be exported (said as the field's problem). */
export function exportFields(req: ExportRequest): ExportField[] | { error: string } {
  const format = req.format ?? 'json';
  if (!req.fields) return format === 'csv' ? CSV_DEFAULT.map((name) => ({ name, as: name, steps: [{ key: name }] })) : [];
  const out: ExportField[] = [];
  const names = new Set<string>();
  for (const [i, f] of req.fields.entries()) {
    const steps = stepsOf(f.name);
    if (!steps) return { error: `fields[${i}].name: "${f.name.slice(0, 60)}" is not a property path (letters, digits, _ - $, dots, [n])` };
    if (!ROOTS.has(steps[0].key)) return { error: `fields[${i}].name: "${steps[0].key}" is not a user property that can be exported` };
    const whole = steps.length === 1 && steps[0].index === undefined && ['app_metadata', 'user_metadata', 'identities'].includes(steps[0].key);
    if (whole && format === 'csv') {
      return { error: `fields[${i}].name: CSV takes a metadata object's own fields (${steps[0].key}.something); export as json to have it whole` };
    }
    const as = f.export_as ?? f.name;
    if (names.has(as)) return { error: `fields[${i}]: "${as.slice(0, 60)}" is exported twice` };
    names.add(as);
    out.push({ name: f.name, as, steps });
  }
  return out;
}

function valueAt(user: User, steps: Step[]): unknown {
  let v: unknown = user;
  for (const s of steps) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, s.key)) return undefined;
    v = (v as Record<string, unknown>)[s.key];
    if (s.index !== undefined) {
      if (!Array.isArray(v) || s.index >= v.length) return undefined;
      v = v[s.index];
    }
  }
  return v;
}

/** A JSON line: the whole user, or the named fields under their export names. */
function jsonLine(user: User, fields: ExportField[]): string {
  if (fields.length === 0) return JSON.stringify(user);
  const o: Record<string, unknown> = {};
  for (const f of fields) {
    const v = valueAt(user, f.steps);
    if (v !== undefined) o[f.as] = v;
  }
  return JSON.stringify(o);
}

/**
 * A CSV cell (RFC 4180). Text a spreadsheet would run as a formula (starting with = + - @, a tab
 * or a carriage return: user-chosen names and metadata) is prefixed with a quote, as OWASP's
 * CSV injection guidance says; numbers and booleans are written as they are.
 */
export function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  let s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The export file (gzip) and how many users it holds. */
export async function buildUserExport(db: Db, req: ExportRequest, fields: ExportField[]): Promise<{ file: Buffer; count: number }> {
  const gzip = createGzip();
  const chunks: Buffer[] = [];
  let size = 0;
  gzip.on('data', (c: Buffer) => { chunks.push(c); size += c.length; });
  const ended = new Promise<void>((resolve, reject) => { gzip.on('end', resolve); gzip.on('error', reject); });
  const csv = req.format === 'csv';
  if (csv) gzip.write(`${fields.map((f) => csvCell(f.as)).join(',')}\r\n`);
  const limit = req.limit ?? Infinity;
  let count = 0;
  let after = '';
  while (count < limit) {
    const rows: UserRow[] = await db('users').where('id', '>', after).orderBy('id').limit(Math.min(PAGE, limit - count));
    if (rows.length === 0) break;
    for (const r of rows) {
      const user = toUser(r);
      gzip.write(csv ? `${fields.map((f) => csvCell(valueAt(user, f.steps))).join(',')}\r\n` : `${jsonLine(user, fields)}\n`);
    }
    count += rows.length;
    after = rows[rows.length - 1].id;
    // Written out before the next page is read: memory holds the compressed file, not the users.
    await new Promise<void>((resolve) => gzip.flush(zlib.Z_SYNC_FLUSH, () => resolve()));
    if (size > EXPORT_MAX_BYTES) { gzip.destroy(); throw new Error(`the export is larger than ${EXPORT_MAX_BYTES / 1024 / 1024} MB compressed: set a limit`); }
  }
  gzip.end();
  await ended;
  return { file: Buffer.concat(chunks), count };
}
