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
/** A compressed export larger than this fails its job (a safety limit, well above 1M users). */
export const EXPORT_MAX_BYTES = 256 * 1024 * 1024;
/** The file is stored, and served, in pieces of about this size: never whole in memory. */
export const EXPORT_PIECE_BYTES = 4 * 1024 * 1024;
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
    // An array is entered by index only (identities[0]), never by a key such as `length`.
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, s.key)) return undefined;
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
  // No prototype: an export name such as `__proto__` is a key like any other.
  const o: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const f of fields) {
    const v = valueAt(user, f.steps);
    if (v !== undefined) o[f.as] = v;
  }
  return JSON.stringify(o);
}

/**
 * A CSV cell (RFC 4180), as OWASP's CSV injection guidance says: every cell quoted (a `;` inside
 * stays in its cell in spreadsheets whose separator it is), and text a spreadsheet would run as
 * a formula (starting with = + - @, a tab, a carriage return or a NUL: user-chosen names and
 * metadata) prefixed with `'`. Numbers, and text that is only a number (`-5`), stay as they are.
 */
export function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '""';
  let s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r\0]/.test(s) && !/^[+-]?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * Writes the export (gzip) to `store` in pieces of about EXPORT_PIECE_BYTES, in order; the
 * number of users and bytes. Memory holds one piece and one page of users at a time. Past
 * `maxBytes` it stops with an error that says so (the caller drops what was stored).
 */
export async function buildUserExport(db: Db, req: ExportRequest, fields: ExportField[], store: (piece: Buffer) => Promise<void>,
  o: { maxBytes?: number; pieceBytes?: number } = {}): Promise<{ count: number; bytes: number }> {
  const maxBytes = o.maxBytes ?? EXPORT_MAX_BYTES;
  const pieceBytes = o.pieceBytes ?? EXPORT_PIECE_BYTES;
  const gzip = createGzip();
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let bytes = 0;
  gzip.on('data', (c: Buffer) => { pending.push(c); pendingBytes += c.length; bytes += c.length; });
  const ended = new Promise<void>((resolve, reject) => { gzip.on('end', resolve); gzip.on('error', reject); });
  const storePending = async () => {
    if (pendingBytes === 0) return;
    const piece = Buffer.concat(pending, pendingBytes);
    pending = []; pendingBytes = 0;
    await store(piece);
  };
  try {
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
      // Compressed before the next page is read: memory holds a piece of the file, not the users.
      await new Promise<void>((resolve) => gzip.flush(zlib.Z_SYNC_FLUSH, () => resolve()));
      if (bytes > maxBytes) throw new Error(`the export is larger than ${Math.round(maxBytes / 1024 / 1024)} MB compressed: ask for fewer users (limit) or fewer fields`);
      if (pendingBytes >= pieceBytes) await storePending();
    }
    gzip.end();
    await ended;
    await storePending();
    return { count, bytes };
  } finally {
    gzip.destroy();
  }
}
