import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import type { Db } from '../db/knex.ts';
import type { Logger } from '../shared/logger.ts';
import { randomId } from '../shared/ids.ts';
import type { SecretBox } from '../shared/secret-box.ts';
import { canonicalEmail } from '../users/email.ts';

/** One rendered message. `to` must be a stored canonical address (see `send`). */
/** `from`: this message's sender when not the configured one (an email template's); checked as the configured one is. */
export interface OutgoingMail { to: string; subject: string; text: string; html: string; from?: string }

/** `queue`: where every message waits until the relay (or the outbox directory) took it (see `createMailer`). */
export interface MailerOptions { smtpUrl?: string; from: string; dataDir: string; logger: Logger; queue: { db: Db; box: SecretBox } }

/** Refused before nodemailer sees it (SECURITY B19, B20; GHSA-mm7p-fcc7-pg87 and friends). */
export class MailAddressError extends Error {}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|::1|\[::1\])$/i;
// Any C0 control, DEL, or the Unicode line/paragraph separators: in a header they would start
// a new header line (CR/LF injection) or confuse a parser downstream.
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;

/** A message taken for delivery is left alone by other nodes and timer ticks this long. */
const LEASE_MS = 2 * 60_000;
/** Waits before the 1st, 2nd, … retry of a message the relay did not take (the last repeats). */
export const RETRY_BACKOFF_MS = [30_000, 60_000, 2 * 60_000, 5 * 60_000, 15 * 60_000, 30 * 60_000, 60 * 60_000];
/** A message not delivered for this long is dropped (its links have expired by then). */
const GIVE_UP_MS = 24 * 3600_000;
const RETRY_EVERY_MS = 15_000;
/** One delivery attempt may take this long before it counts as failed: less than the lease. */
const DELIVERY_LIMIT_MS = 60_000;

/**
 * nodemailer options from `smtpUrl`. `smtps://` is implicit TLS. For `smtp://` the TLS policy
 * depends on where the server is: on a loopback host (a local relay, a test sink) STARTTLS is
 * skipped (`ignoreTLS`), since nothing crosses the network and such relays usually offer a
 * self-signed certificate or none; anywhere else STARTTLS is REQUIRED (`requireTLS`), because
 * the links we send are credentials. Options named in the URL's query win, using nodemailer's
 * own URL syntax: `smtp://relay.internal:25/?requireTLS=false` for a plain relay on a
 * private network, `?tls.rejectUnauthorized=false` for a self-signed relay.
 */
export function smtpOptions(smtpUrl: string): Record<string, unknown> {
  const parsed = parseConnectionUrl(smtpUrl) as Record<string, unknown>;
  const query = new URL(smtpUrl).searchParams;
  const explicit = query.has('requireTLS') || query.has('ignoreTLS') || query.has('opportunisticTLS');
  const host = String(parsed.host ?? 'localhost');
  const defaults = parsed.secure || explicit ? {} : LOOPBACK.test(host) ? { ignoreTLS: true } : { requireTLS: true };
  // Bounded waits so a dead relay fails the send (logged) instead of holding it for minutes.
  return { connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 30_000, ...defaults, ...parsed };
}

/**
 * Sends mail through SMTP when `smtpUrl` is set; otherwise writes each message, as the exact
 * RFC 5322 text an SMTP server would have received, to `<dataDir>/outbox/<time>-<id>.eml`
 * (mode 0600: the files hold live links) and logs one line naming recipient and subject.
 * The link itself is never logged. Callers send after their writes committed, never inside
 * a transaction (a slow relay must not hold a database lock); `later` runs a task after the
 * response and logs a failure instead of throwing, for flows that must answer the same
 * whatever the mail does.
 *
 * `send` first stores the message in `mail_queue`,
 * sealed with the secrets key, then tries to deliver it; the row goes once the relay took the
 * message. A relay that is down, or a crash before the delivery finished, leaves the row: it is
 * retried every RETRY_EVERY_MS tick that finds it due, with backoff (RETRY_BACKOFF_MS), by
 * whichever node takes it first (a conditional UPDATE is the lease), for up to a day. `send`
 * then resolves anyway: the message is accepted for delivery. Delivery is at least once: a
 * crash between the relay's answer and the delete sends the message again.
 */
export function createMailer(o: MailerOptions) {
  if (CONTROL.test(o.from)) throw new MailAddressError('email.from: control characters are not allowed');
  const outboxDir = join(o.dataDir, 'outbox');
  const transport = o.smtpUrl
    ? nodemailer.createTransport(smtpOptions(o.smtpUrl) as never)
    : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  const pending = new Set<Promise<void>>();
  const safeUrl = o.smtpUrl ? o.smtpUrl.replace(/\/\/[^@/]*@/, '//***@') : undefined;
  const { db, box } = o.queue;

  function check(m: OutgoingMail) {
    // Only a stored canonical address may be a recipient: if `to` is not already in canonical
    // form, something upstream passed user input, and it stops here.
    if (typeof m.to !== 'string' || canonicalEmail(m.to) !== m.to) throw new MailAddressError('recipient is not a canonical e-mail address');
    if (CONTROL.test(m.subject)) throw new MailAddressError('subject contains control characters');
    if (m.from !== undefined && (CONTROL.test(m.from) || m.from.length > 320)) throw new MailAddressError('from: control characters are not allowed');
  }

  /** Hands one message to the relay (or the outbox directory); throws when it was not taken. */
  async function deliver(m: OutgoingMail): Promise<void> {
    const info = await transport.sendMail({
      from: m.from ?? o.from, to: m.to, subject: m.subject, text: m.text, html: m.html,
      // Our templates never attach files or fetch URLs; refuse it should one ever try.
      disableFileAccess: true, disableUrlAccess: true,
    });
    if (o.smtpUrl) {
      o.logger.info({ to: m.to, subject: m.subject, message_id: info.messageId }, 'mail sent');
      return;
    }
    mkdirSync(outboxDir, { recursive: true, mode: 0o700 });
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomId(6)}.eml`;
    writeFileSync(join(outboxDir, name), (info as { message: Buffer }).message, { mode: 0o600 });
    o.logger.info({ to: m.to, subject: m.subject, file: name }, 'mail written to outbox');
  }

  /** What a failed delivery says, for the log and the queue row: no credentials, bounded. */
  function why(err: unknown): string {
    const msg = err instanceof Error ? err.message : String(err);
    return msg.replace(/\/\/[^@/\s]*@/g, '//***@').slice(0, 300);
  }

  /** `deliver`, failing after DELIVERY_LIMIT_MS (a relay that stalls must not outlast the lease). */
  async function deliverBounded(m: OutgoingMail): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the relay did not take the message within ${DELIVERY_LIMIT_MS / 1000} s`)), DELIVERY_LIMIT_MS);
      timer.unref();
    });
    try { await Promise.race([deliver(m), limit]); } finally { clearTimeout(timer); }
  }

  /** The associated data of a queued message's seal: its row and its recipient, so neither can be swapped. */
  const sealedFor = (id: string, to: string) => `${id}\n${to}`;

  /**
   * After a failed attempt on a message this node holds with `lease`: drop it once it is a day
   * old (an error log), else schedule the next try with backoff (a warning). The one place that
   * policy lives, for mail the relay refused and for queue entries this node cannot open.
   */
  async function failed(id: string, lease: number, attempts: number, createdAt: number, now: number, error: string, about: Record<string, unknown>, dropped: string): Promise<void> {
    const held = { id, next_attempt_at: lease };
    const at = Math.max(now, Date.now());
    if (at - createdAt >= GIVE_UP_MS) {
      await db('mail_queue').where(held).delete();
      o.logger.error({ ...about, attempts, err: error }, dropped);
      return;
    }
    const next = at + RETRY_BACKOFF_MS[Math.min(attempts, RETRY_BACKOFF_MS.length) - 1];
    await db('mail_queue').where(held).update({ attempts, next_attempt_at: next, last_error: error });
    o.logger.warn({ ...about, attempts, retry_at: new Date(next).toISOString(), err: error }, 'mail not delivered; it stays queued and will be retried');
  }

  /**
   * One delivery attempt of a queued message that this node holds with `lease` (the row's
   * next_attempt_at it set): deletes the row, or schedules the next try. The row is only
   * touched while it still carries that lease: had another node taken it meanwhile, this one
   * leaves it to that node. True when delivered.
   */
  async function attempt(id: string, lease: number, m: OutgoingMail, attemptsBefore: number, createdAt: number, now: number): Promise<boolean> {
    try {
      await deliverBounded(m);
    } catch (err) {
      await failed(id, lease, attemptsBefore + 1, createdAt, now, why(err), { to: m.to, subject: m.subject }, 'mail dropped: not delivered for a day');
      return false;
    }
    if ((await db('mail_queue').where({ id, next_attempt_at: lease }).delete()) !== 1) {
      o.logger.warn({ to: m.to, subject: m.subject, id }, 'mail delivered after its lease ran out: another node may send it again');
    }
    return true;
  }

  async function send(m: OutgoingMail): Promise<void> {
    check(m);
    const p = (async () => {
      const id = `mail_${randomId(12)}`;
      const now = Date.now();
      const sealed = box.seal(JSON.stringify({ subject: m.subject, text: m.text, html: m.html, ...(m.from !== undefined ? { from: m.from } : {}) }), sealedFor(id, m.to));
      // Taken by this node at once (next_attempt_at = the lease): the retry tick leaves it alone.
      const lease = now + LEASE_MS;
      await db('mail_queue').insert({ id, recipient: m.to, message_sealed: sealed, attempts: 0, next_attempt_at: lease, created_at: now });
      await attempt(id, lease, m, 0, now, now);
    })();
    // Shutdown waits for it (close() before the database goes).
    track(p.catch(() => undefined));
    return p;
  }

  /**
   * Delivers the queued messages that are due at `now` (the timer passes the clock; tests pass
   * a later time instead of waiting out the backoff). Returns how many it delivered. Stops
   * between messages once the mailer is closing.
   */
  async function retryDue(now = Date.now()): Promise<number> {
    let delivered = 0;
    const rows = await db('mail_queue').where('next_attempt_at', '<=', now).orderBy('next_attempt_at').limit(20);
    for (const r of rows) {
      if (closing) break;
      // The lease: of the nodes (or ticks) that saw this row due, only one moves it ahead.
      const lease = Date.now() + LEASE_MS;
      const taken = await db('mail_queue').where({ id: r.id, next_attempt_at: r.next_attempt_at }).update({ next_attempt_at: lease });
      if (taken !== 1) continue;
      const id = r.id as string;
      const attempts = Number(r.attempts);
      const createdAt = Number(r.created_at);
      let m: OutgoingMail;
      try {
        const body = JSON.parse(box.open(r.message_sealed as string, sealedFor(id, r.recipient as string))) as { subject: string; text: string; html: string; from?: string };
        m = { to: r.recipient as string, subject: body.subject, text: body.text, html: body.html, ...(typeof body.from === 'string' ? { from: body.from } : {}) };
        check(m);
      } catch {
        // Sealed under another secrets key (a node configured differently), or altered: left
        // for a node that can read it, until it is a day old.
        await failed(id, lease, attempts + 1, createdAt, now, 'cannot be opened with this node\'s secrets key', { to: r.recipient, id },
          'mail dropped: its queue entry could not be read for a day (secrets key changed, or the row was altered)');
        continue;
      }
      if (await attempt(id, lease, m, attempts, createdAt, now)) delivered++;
    }
    return delivered;
  }

  function track(p: Promise<void>) {
    pending.add(p);
    void p.finally(() => { pending.delete(p); });
  }

  let ticking = false;
  let closing = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    track(retryDue().then(() => undefined, (err: unknown) => { o.logger.warn({ err: why(err) }, 'mail queue: retry pass failed'); }).finally(() => { ticking = false; }));
  }, RETRY_EVERY_MS);
  timer.unref();

  return {
    mode: (o.smtpUrl ? 'smtp' : 'outbox') as 'smtp' | 'outbox',
    /** Where mail goes, for the start-up log (credentials masked). */
    describe: () => (safeUrl ? `smtp ${safeUrl}` : `outbox ${outboxDir}`),
    send,
    retryDue,
    /** Messages waiting in the queue and the age of the oldest (for /metrics). */
    async queueStats(now = Date.now()): Promise<{ messages: number; oldestSeconds: number }> {
      const [row] = await db('mail_queue').count({ n: '*' }).min({ oldest: 'created_at' });
      const messages = Number(row?.n ?? 0);
      const oldest = row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest);
      return { messages, oldestSeconds: oldest === null ? 0 : Math.max(0, (now - oldest) / 1000) };
    },
    /**
     * Runs `task` (look-ups, token issue, `send`) after the current response has been
     * written, so neither its work nor the mail relay changes how long the request that
     * queued it took or what it answered. Errors are logged, never thrown.
     */
    later(task: () => Promise<void>, what = 'mail'): void {
      track((async () => {
        await new Promise((r) => setImmediate(r));
        await task();
      })().catch((err) => { o.logger.error({ err, what }, 'mail not sent'); }));
    },
    /** Resolves when every queued message was handled (tests, shutdown). */
    async idle(): Promise<void> { while (pending.size) await Promise.all([...pending]); },
    async close(): Promise<void> {
      closing = true;
      clearInterval(timer);
      await this.idle();
      transport.close();
    },
  };
}
export type Mailer = ReturnType<typeof createMailer>;
