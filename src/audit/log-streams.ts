import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Db } from '../db/knex.ts';
import { isSqlite, parseJson, toNum } from '../db/knex.ts';
import type { SecretBox } from '../shared/secret-box.ts';
import type { Logger } from '../shared/logger.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import { randomId } from '../shared/ids.ts';
import { AddressRefused, guardedLookup, isAllowedHost, isBlockedAddress, parseFetchAllow } from '../actions/sandbox/net-guard.ts';
import { toLog } from './audit.ts';

/**
 * Auth0's log streams, of type `http`: the audit log, as GET /logs shows it, posted to an
 * endpoint as it grows (a SIEM, a log service's HTTP intake).
 *
 * Delivery: each stream keeps the `seq` of the last audit row it delivered and posts what follows
 * in order, up to BATCH rows a request, in Auth0's event shape (`{log_id, data}`) and one of its
 * three formats; filters (Auth0's categories) choose the rows, and the place moves past the
 * others. At least once: a request that failed is sent again (the same rows), waiting longer
 * each time (5 s doubling to 10 minutes); a stream that has failed for 24 hours is `suspended`
 * until an admin sets it `active` again, and then goes on from where it stopped, as Auth0's do.
 * One node delivers a stream at a time (a lease on its row). On PostgreSQL only rows at least
 * 2 s old are read: concurrent inserts may commit out of `seq` order, and a reader past a later
 * one must not leave an earlier one behind.
 *
 * Requests go to public addresses only (the actions' SSRF guard), unless `logStreams.allowHosts`
 * names the host; redirects are not followed; 10 s per request.
 */
export const LOG_STREAM_FORMATS = ['JSONARRAY', 'JSONLINES', 'JSONOBJECT'] as const;
export type LogStreamFormat = typeof LOG_STREAM_FORMATS[number];
export const LOG_STREAM_STATUSES = ['active', 'paused', 'suspended'] as const;
const BATCH = 100;
const REQUEST_TIMEOUT_MS = 10_000;
const LEASE_MS = 30_000;
const SUSPEND_AFTER_MS = 24 * 3600_000;
const PG_LAG_MS = 2000;

/** Auth0's filter categories, and which of Gatehouse's log types fall in each. */
export const LOG_CATEGORIES = [
  'auth.ancillary.fail', 'auth.ancillary.success', 'auth.login.fail', 'auth.login.notification', 'auth.login.success',
  'auth.logout.fail', 'auth.logout.success', 'auth.signup.fail', 'auth.signup.success', 'auth.silent_auth.fail',
  'auth.silent_auth.success', 'auth.token_exchange.fail', 'auth.token_exchange.success', 'management.fail',
  'management.success', 'system.notification', 'user.fail', 'user.notification', 'other',
] as const;
export type LogCategory = typeof LOG_CATEGORIES[number];
const BY_TYPE: Record<string, LogCategory> = {
  s: 'auth.login.success', f: 'auth.login.fail', fp: 'auth.login.fail', fu: 'auth.login.fail',
  limit_wc: 'auth.login.notification', limit_mu: 'auth.login.notification',
  ss: 'auth.signup.success', fs: 'auth.signup.fail',
  feacft: 'auth.token_exchange.fail', feccft: 'auth.token_exchange.fail', fertft: 'auth.token_exchange.fail', fede: 'auth.token_exchange.fail',
  sapi: 'management.success', fapi: 'management.fail',
  oidc_backchannel_logout_succeeded: 'auth.logout.success', oidc_backchannel_logout_failed: 'auth.logout.fail',
};
/** The category of a log type: the table above, then Auth0's naming (s… success, f… failure) for the user's own changes and second factors. */
export function categoryOf(type: string): LogCategory {
  const known = BY_TYPE[type];
  if (known) return known;
  if (type.startsWith('gd_')) return /fail|invalid/.test(type) ? 'auth.ancillary.fail' : 'auth.ancillary.success';
  if (/^(scp|scpr|sce|sv|svr|srrt|sd|sdu)$/.test(type)) return 'user.notification';
  if (/^(fcp|fcpr|fce|fv|fvr|fd|fdu)$/.test(type)) return 'user.fail';
  return 'other';
}

export interface LogStreamSink { httpEndpoint: string; httpContentType?: string; httpContentFormat?: LogStreamFormat; httpAuthorization?: string; httpCustomHeaders?: { header: string; value: string }[] }
export interface LogStreamInput { name: string; type: 'http'; sink: LogStreamSink; filters?: { type: 'category'; name: string }[]; status?: 'active' | 'paused' | 'suspended' }
interface Row {
  id: string; name: string; type: string; status: string; sink_sealed: string; filters: string; cursor: unknown; failures: unknown;
  failing_since: unknown; next_attempt_at: unknown; last_error: string | null; lease_owner: string | null; lease_until: unknown; created_at: string; updated_at: string;
}
const aad = (id: string) => `log-stream:${id}`;
/** Headers a stream may not set: the request's own framing, and what would pose as another sender. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'authorization', 'cookie', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect']);

function checkSink(s: LogStreamSink) {
  let u: URL;
  try { u = new URL(s.httpEndpoint); } catch { throw badRequest('sink.httpEndpoint: not an absolute URL'); }
  if (u.username || u.password) throw badRequest('sink.httpEndpoint: credentials in the URL are not allowed (use httpAuthorization)');
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw badRequest('sink.httpEndpoint: must use https (http is allowed only on localhost)');
  for (const h of s.httpCustomHeaders ?? []) {
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/.test(h.header)) throw badRequest(`sink.httpCustomHeaders: "${h.header.slice(0, 60)}" is not a header name`);
    if (RESERVED_HEADERS.has(h.header.toLowerCase())) throw badRequest(`sink.httpCustomHeaders: ${h.header} is set by the stream itself${h.header.toLowerCase() === 'authorization' ? ' (use httpAuthorization)' : ''}`);
    if (/[\r\n\0]/.test(h.value)) throw badRequest(`sink.httpCustomHeaders: the value of ${h.header} holds a line break`);
  }
  if (s.httpAuthorization !== undefined && /[\r\n\0]/.test(s.httpAuthorization)) throw badRequest('sink.httpAuthorization: holds a line break');
  if (s.httpContentType !== undefined && !/^[\w.+-]+\/[\w.+-]+(;[ \w=.+-]*)?$/.test(s.httpContentType)) throw badRequest('sink.httpContentType: not a media type');
}
function checkFilters(f: { type: string; name: string }[]) {
  for (const x of f) {
    if (!(LOG_CATEGORIES as readonly string[]).includes(x.name)) throw badRequest(`filters: "${x.name.slice(0, 60)}" is not a category (one of: ${LOG_CATEGORIES.join(', ')})`);
  }
}

/** What the Management API shows: never the authorization, nor the custom headers' values (either may be a key). */
function view(r: Row, box: SecretBox) {
  const sink = parseJson<LogStreamSink>(box.open(r.sink_sealed, aad(r.id)), { httpEndpoint: '' });
  return {
    id: r.id, name: r.name, type: r.type, status: r.status,
    sink: {
      httpEndpoint: sink.httpEndpoint, httpContentType: sink.httpContentType ?? 'application/json', httpContentFormat: sink.httpContentFormat ?? 'JSONARRAY',
      ...(sink.httpCustomHeaders?.length ? { httpCustomHeaders: sink.httpCustomHeaders.map((h) => ({ header: h.header })) } : {}),
    },
    filters: parseJson<{ type: string; name: string }[]>(r.filters, []),
  };
}
export type LogStreamView = ReturnType<typeof view>;

export function createLogStreams(o: { db: Db; box: SecretBox; logger: Logger; allowHosts: readonly string[] }) {
  const { db, box, logger } = o;
  const allow = parseFetchAllow(o.allowHosts);
  const owner = randomId(12);
  async function row(id: string): Promise<Row> {
    const r = await db('log_streams').where({ id }).first() as Row | undefined;
    if (!r) throw notFound('The log stream does not exist', 'inexistent_log_stream');
    return r;
  }
  const topSeq = async () => Number((await db('audit_logs').max({ m: 'seq' }).first())?.m ?? 0);

  /** One POST of `body`, through the SSRF guard; resolves with the status, or throws why it failed (never the URL). */
  function post(url: URL, headers: Record<string, string>, body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const allowed = isAllowedHost(allow, url);
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      if (isIP(host) && !allowed && isBlockedAddress(host)) { reject(new AddressRefused(`${url.host} is a loopback, private or link-local address`)); return; }
      const payload = Buffer.from(body, 'utf8');
      const req = (url.protocol === 'https:' ? https : http).request(url, {
        method: 'POST', agent: false, lookup: guardedLookup(allowed), timeout: REQUEST_TIMEOUT_MS,
        headers: { 'user-agent': 'Gatehouse-LogStream/1', 'content-length': String(payload.length), ...headers },
      }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); res.on('error', reject); });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  function encode(format: LogStreamFormat, events: unknown[]): string[] {
    if (format === 'JSONOBJECT') return events.map((e) => JSON.stringify(e));
    if (format === 'JSONLINES') return [events.map((e) => JSON.stringify(e)).join('\n')];
    return [JSON.stringify(events)];
  }

  /** Delivers what follows the stream's place, batch after batch (at most `maxBatches`); false when it had to stop on a failure. */
  async function deliver(r: Row, maxBatches = 10): Promise<boolean> {
    const sink = parseJson<LogStreamSink>(box.open(r.sink_sealed, aad(r.id)), { httpEndpoint: '' });
    const wanted = new Set(parseJson<{ name: string }[]>(r.filters, []).map((f) => f.name));
    let cursor = toNum(r.cursor) ?? 0;
    for (let i = 0; i < maxBatches; i++) {
      let q = db('audit_logs').where('seq', '>', cursor).orderBy('seq').limit(BATCH);
      if (!isSqlite(db)) q = q.andWhere('date', '<=', new Date(Date.now() - PG_LAG_MS).toISOString());
      const rows = await q as Record<string, unknown>[];
      if (rows.length === 0) return true;
      const last = Number(rows[rows.length - 1].seq);
      const events = rows.filter((x) => wanted.size === 0 || wanted.has(categoryOf(String(x.type)))).map((x) => ({ log_id: x.log_id, data: toLog(x) }));
      if (events.length) {
        const headers: Record<string, string> = { 'content-type': sink.httpContentType ?? 'application/json' };
        if (sink.httpAuthorization) headers.authorization = sink.httpAuthorization;
        for (const h of sink.httpCustomHeaders ?? []) headers[h.header.toLowerCase()] = h.value;
        try {
          for (const body of encode(sink.httpContentFormat ?? 'JSONARRAY', events)) {
            const status = await post(new URL(sink.httpEndpoint), headers, body);
            if (status < 200 || status >= 300) throw new Error(`the endpoint answered HTTP ${status}`);
          }
        } catch (err) {
          await failed(r, err instanceof AddressRefused ? err.message : (err as Error).message ?? String(err));
          return false;
        }
      }
      cursor = last;
      await db('log_streams').where({ id: r.id, lease_owner: owner }).update({ cursor, failures: 0, failing_since: null, next_attempt_at: null, last_error: null });
      if (rows.length < BATCH) return true;
    }
    return true;
  }

  async function failed(r: Row, reason: string) {
    const now = Date.now();
    const failures = (toNum(r.failures) ?? 0) + 1;
    const since = toNum(r.failing_since) ?? now;
    const suspend = now - since >= SUSPEND_AFTER_MS;
    const wait = Math.min(600_000, 5000 * 2 ** Math.min(failures - 1, 10));
    await db('log_streams').where({ id: r.id, lease_owner: owner }).update({
      failures, failing_since: since, next_attempt_at: now + wait, last_error: reason.slice(0, 500), ...(suspend ? { status: 'suspended' } : {}),
    });
    logger.warn({ log_stream: r.id, failures, reason, ...(suspend ? { suspended: true } : { retry_in_s: wait / 1000 }) }, suspend ? 'log stream suspended after failing for 24 hours' : 'log stream delivery failed');
  }

  let running: Promise<void> | undefined;
  /** One pass over the active streams that are due: each one this node can lease is delivered. */
  async function pass(): Promise<void> {
    const now = Date.now();
    const due = await db('log_streams').where({ status: 'active' }).andWhere((w) => w.whereNull('next_attempt_at').orWhere('next_attempt_at', '<=', now)) as Row[];
    for (const r of due) {
      const claimed = await db('log_streams').where({ id: r.id, status: 'active' })
        .andWhere((w) => w.whereNull('lease_until').orWhere('lease_until', '<', now).orWhere('lease_owner', owner))
        .update({ lease_owner: owner, lease_until: now + LEASE_MS });
      if (claimed !== 1) continue;
      try {
        await deliver({ ...r, ...(await db('log_streams').where({ id: r.id }).first()) } as Row);
      } finally {
        await db('log_streams').where({ id: r.id, lease_owner: owner }).update({ lease_owner: null, lease_until: null });
      }
    }
  }

  return {
    async list() { return (await db('log_streams').orderBy('created_at').orderBy('id') as Row[]).map((r) => view(r, box)); },
    async get(id: string) { return view(await row(id), box); },
    /** A new stream starts at the end of the log: it streams what happens from now on. */
    async create(input: LogStreamInput) {
      checkSink(input.sink);
      checkFilters(input.filters ?? []);
      const id = `lst_${randomId(12)}`;
      const ts = new Date().toISOString();
      await db('log_streams').insert({
        id, name: input.name, type: input.type, status: input.status === 'paused' ? 'paused' : 'active',
        sink_sealed: box.seal(JSON.stringify(input.sink), aad(id)), filters: JSON.stringify(input.filters ?? []), cursor: await topSeq(),
        failures: 0, created_at: ts, updated_at: ts,
      });
      return this.get(id);
    },
    /** Name, status (`active` again resumes a paused or suspended stream where it stopped), sink (merged: a secret left out is kept), filters. */
    async update(id: string, patch: { name?: string; status?: 'active' | 'paused'; sink?: Partial<LogStreamSink>; filters?: { type: 'category'; name: string }[] }) {
      const r = await row(id);
      const sink = { ...parseJson<LogStreamSink>(box.open(r.sink_sealed, aad(id)), { httpEndpoint: '' }), ...patch.sink } as LogStreamSink;
      if (patch.sink) checkSink(sink);
      if (patch.filters) checkFilters(patch.filters);
      await db('log_streams').where({ id }).update({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.status !== undefined ? { status: patch.status, failures: 0, failing_since: null, next_attempt_at: null } : {}),
        ...(patch.sink ? { sink_sealed: box.seal(JSON.stringify(sink), aad(id)) } : {}),
        ...(patch.filters ? { filters: JSON.stringify(patch.filters) } : {}),
        updated_at: new Date().toISOString(),
      });
      return this.get(id);
    },
    async remove(id: string) {
      await row(id);
      await db('log_streams').where({ id }).delete();
    },
    /** The pass under way, if any, settled (the server waits for it before closing the database). */
    idle(): Promise<void> { return running ?? Promise.resolve(); },
    /** Runs a pass now unless one is under way (the server's timer calls this every second). */
    tick(): Promise<void> {
      running ??= pass().catch((err: unknown) => logger.error({ err }, 'log streams pass failed')).finally(() => { running = undefined; });
      return running;
    },
  };
}
export type LogStreams = ReturnType<typeof createLogStreams>;
