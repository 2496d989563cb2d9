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
const BATCH = 100;
/** One request's whole exchange (not a socket's idle time), and what of its answer is read. */
const REQUEST_TIMEOUT_MS = 10_000;
const ANSWER_MAX_BYTES = 64 * 1024;
/** A stream's lease; one node's turn at a stream stops well within it (and renews it before each request). */
const LEASE_MS = 60_000;
const TURN_MS = 20_000;
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
/** The server is stopping: the request under way was cut, which says nothing of the endpoint. */
class StreamStopped extends Error { constructor() { super('the server is stopping'); } }
/** Headers a stream may not set: the request's own framing, and what would pose as another sender. */
/** What Node refuses in a header value (its own check, applied when the stream is saved rather than at every send). */
const BAD_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
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
    if (BAD_HEADER_VALUE.test(h.value)) throw badRequest(`sink.httpCustomHeaders: the value of ${h.header} holds a line break, a control character or a character a header cannot carry`);
  }
  if (s.httpAuthorization !== undefined && BAD_HEADER_VALUE.test(s.httpAuthorization)) throw badRequest('sink.httpAuthorization: holds a line break, a control character or a character a header cannot carry');
  if (s.httpContentType !== undefined && !/^[\w.+-]+\/[\w.+-]+(;[ \w=.+-]*)?$/.test(s.httpContentType)) throw badRequest('sink.httpContentType: not a media type');
}
function checkFilters(f: { type: string; name: string }[]) {
  for (const x of f) {
    if (!(LOG_CATEGORIES as readonly string[]).includes(x.name)) throw badRequest(`filters: "${x.name.slice(0, 60)}" is not a category (one of: ${LOG_CATEGORIES.join(', ')})`);
  }
}

const UNREADABLE: LogStreamSink = { httpEndpoint: '' };
/** The stored sink, or UNREADABLE when it cannot be opened (sealed with another secrets key). */
function openSink(r: Row, box: SecretBox): LogStreamSink {
  try { return parseJson<LogStreamSink>(box.open(r.sink_sealed, aad(r.id)), UNREADABLE); } catch { return UNREADABLE; }
}

/** What the Management API shows: never the authorization, nor the custom headers' values (either may be a key). */
function view(r: Row, box: SecretBox) {
  const sink = openSink(r, box);
  return {
    id: r.id, name: r.name, type: r.type, status: r.status,
    // (A sink that cannot be opened shows its endpoint as null: a PATCH with a whole new sink repairs it.)
    sink: {
      httpEndpoint: sink === UNREADABLE ? null : sink.httpEndpoint, httpContentType: sink.httpContentType ?? 'application/json', httpContentFormat: sink.httpContentFormat ?? 'JSONARRAY',
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
  const pg = !isSqlite(db);
  async function row(id: string): Promise<Row> {
    const r = await db('log_streams').where({ id }).first() as Row | undefined;
    if (!r) throw notFound('The log stream does not exist', 'inexistent_log_stream');
    return r;
  }
  const topSeq = async () => Number((await db('audit_logs').max({ m: 'seq' }).first())?.m ?? 0);
  /** Leases are timed by the database's clock on PostgreSQL (nodes' clocks may differ), by this process's on SQLite (one node). */
  const dbNow = async (): Promise<number> => (pg ? Number((await db.raw('select (extract(epoch from clock_timestamp()) * 1000)::bigint as t') as { rows: { t: string }[] }).rows[0].t) : Date.now());

  /** One POST of `body` through the SSRF guard, the whole exchange within REQUEST_TIMEOUT_MS; resolves with the status, or rejects saying why (never the URL). */
  function post(url: URL, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<number> {
    return new Promise((resolve, reject) => {
      const allowed = isAllowedHost(allow, url);
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      if (isIP(host) && !allowed && isBlockedAddress(host)) { reject(new AddressRefused(`${url.host} is a loopback, private or link-local address`)); return; }
      if (signal.aborted) { reject(new StreamStopped()); return; }
      const payload = Buffer.from(body, 'utf8');
      let settled = false;
      let req: http.ClientRequest | undefined;
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => done(new StreamStopped());
      function done(err: Error | null, status?: number) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        req?.destroy();
        if (err) reject(err); else resolve(status!);
      }
      timer = setTimeout(() => done(new Error(`no complete answer within ${REQUEST_TIMEOUT_MS / 1000} s`)), REQUEST_TIMEOUT_MS);
      signal.addEventListener('abort', onAbort);
      try {
        req = (url.protocol === 'https:' ? https : http).request(url, {
          method: 'POST', agent: false, lookup: guardedLookup(allowed),
          headers: { 'user-agent': 'Gatehouse-LogStream/1', 'content-length': String(payload.length), ...headers },
        }, (res) => {
          let read = 0;
          res.on('data', (c: Buffer) => { read += c.length; if (read > ANSWER_MAX_BYTES) done(null, res.statusCode ?? 0); });
          res.on('end', () => done(null, res.statusCode ?? 0));
          res.on('error', (e) => done(e));
        });
        req.on('error', (e) => done(e));
        req.end(payload);
      } catch (e) {
        // (A header Node will not send, in a sink saved before values were checked.)
        done(e as Error);
      }
    });
  }

  /** The requests for `events`, each with the seq of its last event (where the place may move once it was taken). */
  function encode(format: LogStreamFormat, events: { seq: number; event: unknown }[]): { body: string; upTo: number }[] {
    if (format === 'JSONOBJECT') return events.map((e) => ({ body: JSON.stringify(e.event), upTo: e.seq }));
    const upTo = events[events.length - 1].seq;
    if (format === 'JSONLINES') return [{ body: events.map((e) => JSON.stringify(e.event)).join('\n'), upTo }];
    return [{ body: JSON.stringify(events.map((e) => e.event)), upTo }];
  }

  /** Keeps this node's lease on stream `id` while it is still active: false when the stream is gone, changed state or another node has it. */
  async function renew(id: string): Promise<boolean> {
    return (await db('log_streams').where({ id, lease_owner: owner, status: 'active' }).update({ lease_until: (await dbNow()) + LEASE_MS })) === 1;
  }

  /**
   * The audit rows after `cursor` that may be sent, in order. On PostgreSQL the batch stops at the
   * first row the database recorded less than PG_LAG_MS ago (its own clock): a row with a lower
   * seq may still be committing, and the place must not move past it.
   */
  async function nextRows(cursor: number): Promise<Record<string, unknown>[]> {
    if (!pg) return db('audit_logs').where('seq', '>', cursor).orderBy('seq').limit(BATCH);
    const rows = await db('audit_logs').where('seq', '>', cursor).orderBy('seq').limit(BATCH)
      .select('*', db.raw(`(recorded_at > clock_timestamp() - interval '${PG_LAG_MS} milliseconds') as young`)) as (Record<string, unknown> & { young: boolean })[];
    const cut = rows.findIndex((x) => x.young);
    return cut < 0 ? rows : rows.slice(0, cut);
  }

  /** One node's turn at a stream it leased: what follows its place, batch after batch, for at most TURN_MS. */
  async function deliver(id: string, signal: AbortSignal): Promise<void> {
    const until = Date.now() + TURN_MS;
    while (Date.now() < until && !signal.aborted) {
      // Read again before each batch: an admin may have changed, paused or deleted the stream meanwhile.
      const r = await db('log_streams').where({ id, lease_owner: owner, status: 'active' }).first() as Row | undefined;
      if (!r) return;
      const sink = openSink(r, box);
      if (sink === UNREADABLE) { await failed(r, 'the sink cannot be opened (sealed with another secrets key?): PATCH a new sink'); return; }
      const wanted = new Set(parseJson<{ name: string }[]>(r.filters, []).map((f) => f.name));
      const cursor = toNum(r.cursor) ?? 0;
      const rows = await nextRows(cursor);
      if (rows.length === 0) return;
      const last = Number(rows[rows.length - 1].seq);
      const events = rows.filter((x) => wanted.size === 0 || wanted.has(categoryOf(String(x.type)))).map((x) => ({ seq: Number(x.seq), event: { log_id: x.log_id, data: toLog(x) } }));
      // The place moves while this node still holds the stream (a duplicate at worst, never a loss).
      const moveTo = async (seq: number) => (await db('log_streams').where({ id, lease_owner: owner, status: 'active' })
        .update({ cursor: seq, failures: 0, failing_since: null, next_attempt_at: null, last_error: null })) === 1;
      if (events.length) {
        const headers: Record<string, string> = { 'content-type': sink.httpContentType ?? 'application/json' };
        if (sink.httpAuthorization) headers.authorization = sink.httpAuthorization;
        for (const h of sink.httpCustomHeaders ?? []) headers[h.header.toLowerCase()] = h.value;
        try {
          for (const req of encode(sink.httpContentFormat ?? 'JSONARRAY', events)) {
            // The turn's limit holds between requests too (JSONOBJECT sends up to 100 a batch).
            if (Date.now() >= until || !(await renew(id))) return;
            const status = await post(new URL(sink.httpEndpoint), headers, req.body, signal);
            if (status < 200 || status >= 300) throw new Error(`the endpoint answered HTTP ${status}`);
            if (req.upTo !== last && !(await moveTo(req.upTo))) return;
          }
        } catch (err) {
          // Stopping is not the endpoint's failure: the stream goes on where it was at the next start.
          if (!(err instanceof StreamStopped)) await failed(r, err instanceof Error ? err.message : String(err));
          return;
        }
      }
      if (!(await moveTo(last)) || rows.length < BATCH) return;
    }
  }

  /** A failed delivery: try again later, waiting longer each time; suspended after SUSPEND_AFTER_MS of failure. Not over an admin's change made meanwhile. */
  async function failed(r: Row, reason: string) {
    const now = Date.now();
    const failures = (toNum(r.failures) ?? 0) + 1;
    const since = toNum(r.failing_since) ?? now;
    const suspend = now - since >= SUSPEND_AFTER_MS;
    const wait = Math.min(600_000, 5000 * 2 ** Math.min(failures - 1, 10));
    const n = await db('log_streams').where({ id: r.id, lease_owner: owner, status: 'active', updated_at: r.updated_at }).update({
      failures, failing_since: since, next_attempt_at: now + wait, last_error: reason.slice(0, 500), ...(suspend ? { status: 'suspended' } : {}),
    });
    if (n === 1) logger.warn({ log_stream: r.id, failures, reason, ...(suspend ? { suspended: true } : { retry_in_s: wait / 1000 }) }, suspend ? 'log stream suspended after failing for 24 hours' : 'log stream delivery failed');
  }

  let running: Promise<void> | undefined;
  const stopping = new AbortController();
  /** One pass over the active streams that are due and behind: each one this node can lease gets a turn. */
  async function pass(): Promise<void> {
    const top = await topSeq();
    const due = await db('log_streams').where({ status: 'active' }).andWhere('cursor', '<', top)
      .andWhere((w) => w.whereNull('next_attempt_at').orWhere('next_attempt_at', '<=', Date.now())).select('id') as { id: string }[];
    for (const { id } of due) {
      if (stopping.signal.aborted) return;
      const now = await dbNow();
      const claimed = await db('log_streams').where({ id, status: 'active' })
        .andWhere((w) => w.whereNull('lease_until').orWhere('lease_until', '<', now).orWhere('lease_owner', owner))
        .update({ lease_owner: owner, lease_until: now + LEASE_MS });
      if (claimed !== 1) continue;
      try {
        await deliver(id, stopping.signal);
      } catch (err) {
        // One stream's trouble (a database error mid-turn) does not hold up the others.
        logger.error({ err, log_stream: id }, 'log stream turn failed');
      } finally {
        await db('log_streams').where({ id, lease_owner: owner }).update({ lease_owner: null, lease_until: null }).catch(() => { /* the lease ends by itself */ });
      }
    }
  }

  return {
    async list() { return (await db('log_streams').orderBy('created_at').orderBy('id') as Row[]).map((r) => view(r, box)); },
    async get(id: string) { return view(await row(id), box); },
    /** A new stream starts at the end of the log (what happens from now on), or at `startFrom`, a log_id, included (Auth0's). */
    async create(input: LogStreamInput & { startFrom?: string }) {
      checkSink(input.sink);
      checkFilters(input.filters ?? []);
      let cursor = await topSeq();
      if (input.startFrom !== undefined) {
        const from = await db('audit_logs').where({ log_id: input.startFrom }).first('seq') as { seq: unknown } | undefined;
        if (!from) throw badRequest('startFrom: no log with that log_id');
        cursor = Number(from.seq) - 1;
      }
      const id = `lst_${randomId(12)}`;
      const ts = new Date().toISOString();
      await db('log_streams').insert({
        id, name: input.name, type: input.type, status: input.status === 'paused' ? 'paused' : 'active',
        sink_sealed: box.seal(JSON.stringify(input.sink), aad(id)), filters: JSON.stringify(input.filters ?? []), cursor,
        failures: 0, created_at: ts, updated_at: ts,
      });
      return this.get(id);
    },
    /**
     * Name, status (`active` again resumes a paused or suspended stream where it stopped), sink
     * (merged; its authorization and header values are kept only while the endpoint stays on the
     * same origin: pointed elsewhere, they must be sent again), filters.
     */
    async update(id: string, patch: { name?: string; status?: 'active' | 'paused'; sink?: Partial<LogStreamSink>; filters?: { type: 'category'; name: string }[] }) {
      const r = await row(id);
      const old = openSink(r, box);
      let kept: Partial<LogStreamSink> = old === UNREADABLE ? {} : old;
      const origin = (u: string | undefined) => { try { return u ? new URL(u).origin : undefined; } catch { return undefined; } };
      if (patch.sink?.httpEndpoint !== undefined && origin(patch.sink.httpEndpoint) !== origin(kept.httpEndpoint)) {
        const { httpAuthorization: _a, httpCustomHeaders: _h, ...rest } = kept;
        kept = rest;
      }
      const sink = { ...kept, ...patch.sink } as LogStreamSink;
      // (A sink that cannot be opened may still be renamed or paused; replacing it checks the new one.)
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
    /** Ends the pass under way (its request is cut) and waits for it: the server calls this before closing the database. */
    async stop(): Promise<void> {
      stopping.abort();
      await running;
    },
    /** Runs a pass now unless one is under way (the server's timer calls this every second). */
    tick(): Promise<void> {
      if (stopping.signal.aborted) return Promise.resolve();
      running ??= pass().catch((err: unknown) => logger.error({ err }, 'log streams pass failed')).finally(() => { running = undefined; });
      return running;
    },
  };
}
export type LogStreams = ReturnType<typeof createLogStreams>;
