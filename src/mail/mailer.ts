import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import type { Logger } from '../shared/logger.ts';
import { randomId } from '../shared/ids.ts';
import { canonicalEmail } from '../users/email.ts';

/** One rendered message. `to` must be a stored canonical address (see `send`). */
export interface OutgoingMail { to: string; subject: string; text: string; html: string }

export interface MailerOptions { smtpUrl?: string; from: string; dataDir: string; logger: Logger }

/** Refused before nodemailer sees it (SECURITY B19, B20; GHSA-mm7p-fcc7-pg87 and friends). */
export class MailAddressError extends Error {}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|::1|\[::1\])$/i;
// Any C0 control, DEL, or the Unicode line/paragraph separators: in a header they would start
// a new header line (CR/LF injection) or confuse a parser downstream.
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;

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
 * a transaction (a slow relay must not hold a database lock); `sendLater` queues a message
 * and logs a failure instead of throwing, for flows that must answer the same whatever the
 * mail does.
 */
export function createMailer(o: MailerOptions) {
  if (CONTROL.test(o.from)) throw new MailAddressError('email.from: control characters are not allowed');
  const outboxDir = join(o.dataDir, 'outbox');
  const transport = o.smtpUrl
    ? nodemailer.createTransport(smtpOptions(o.smtpUrl) as never)
    : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  const pending = new Set<Promise<void>>();
  const safeUrl = o.smtpUrl ? o.smtpUrl.replace(/\/\/[^@/]*@/, '//***@') : undefined;

  function check(m: OutgoingMail) {
    // Only a stored canonical address may be a recipient: if `to` is not already in canonical
    // form, something upstream passed user input, and it stops here.
    if (typeof m.to !== 'string' || canonicalEmail(m.to) !== m.to) throw new MailAddressError('recipient is not a canonical e-mail address');
    if (CONTROL.test(m.subject)) throw new MailAddressError('subject contains control characters');
  }

  async function send(m: OutgoingMail): Promise<void> {
    check(m);
    const info = await transport.sendMail({
      from: o.from, to: m.to, subject: m.subject, text: m.text, html: m.html,
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

  return {
    mode: (o.smtpUrl ? 'smtp' : 'outbox') as 'smtp' | 'outbox',
    /** Where mail goes, for the start-up log (credentials masked). */
    describe: () => (safeUrl ? `smtp ${safeUrl}` : `outbox ${outboxDir}`),
    send,
    /**
     * Runs `task` (look-ups, token issue, `send`) after the current response has been
     * written, so neither its work nor the mail relay changes how long the request that
     * queued it took or what it answered. Errors are logged, never thrown.
     */
    later(task: () => Promise<void>, what = 'mail'): void {
      const p = (async () => {
        await new Promise((r) => setImmediate(r));
        await task();
      })().catch((err) => { o.logger.error({ err, what }, 'mail not sent'); }).finally(() => { pending.delete(p); });
      pending.add(p);
    },
    /** Resolves when every queued message was handled (tests, shutdown). */
    async idle(): Promise<void> { while (pending.size) await Promise.all([...pending]); },
    async close(): Promise<void> {
      await this.idle();
      transport.close();
    },
  };
}
export type Mailer = ReturnType<typeof createMailer>;
