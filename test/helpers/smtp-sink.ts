import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { startTestServer, type TestServer } from './server.ts';

/** One message as the sink received it: envelope, headers and decoded text/HTML parts. */
export interface ReceivedMail { from: string; to: string[]; raw: string; subject: string; text: string; html: string; headers: Record<string, string> }

/**
 * A real SMTP server on 127.0.0.1 (a free port, or `port`) that keeps every message it receives. It
 * advertises STARTTLS with smtp-server's built-in self-signed certificate, as many local
 * relays do: Gatehouse must skip STARTTLS for a loopback `smtp://` URL, or these sends fail.
 */
export async function startSmtpSink(port = 0) {
  const received: ReceivedMail[] = [];
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          ...parseMessage(raw),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        });
        for (const w of waiters.splice(0)) w();
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const bound = (server.server.address() as AddressInfo).port;
  return {
    port: bound, url: `smtp://127.0.0.1:${bound}`, received,
    /** Waits until a message matching `match` arrives (not a timing assertion: it only bounds a hang). */
    async waitFor(match: (m: ReceivedMail) => boolean, what = 'a mail', limitMs = 10_000): Promise<ReceivedMail> {
      const deadline = Date.now() + limitMs;
      for (;;) {
        const m = received.find(match);
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`the SMTP sink never received ${what}; it has: ${received.map((r) => `${r.to.join(',')}: ${r.subject}`).join(' | ') || 'nothing'}`);
        await new Promise<void>((r) => { const t = setTimeout(r, 200); waiters.push(() => { clearTimeout(t); r(); }); });
      }
    },
    async close() { await new Promise<void>((r) => server.close(() => r())); },
  };
}
export type SmtpSink = Awaited<ReturnType<typeof startSmtpSink>>;

/** The test server with its mail going to a fresh SMTP sink; the server's close() closes the sink too. */
export async function startServerWithSink(overrides: Record<string, unknown> = {}): Promise<{ ts: TestServer; sink: SmtpSink }> {
  const sink = await startSmtpSink();
  let ts: TestServer;
  try {
    ts = await startTestServer({ smtpUrl: sink.url, ...overrides });
  } catch (e) {
    await sink.close();
    throw e;
  }
  const closeServer = ts.close;
  ts.close = async () => {
    await closeServer();
    await sink.close();
  };
  return { ts, sink };
}

/** The first `?token=` link to `path` in a message's text part. */
export function linkIn(m: { text: string }, path: string): URL {
  const re = new RegExp(`https?://\\S+${path.replace(/[/.]/g, '\\$&')}\\?token=[A-Za-z0-9_-]+`);
  const hit = re.exec(m.text);
  if (!hit) throw new Error(`no ${path} link in:\n${m.text}`);
  return new URL(hit[0]);
}

function parseHeaders(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return headers;
}

function decodeBody(body: string, encoding: string | undefined): string {
  const enc = (encoding ?? '7bit').toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/** Just enough MIME for our own mails: one level of multipart/alternative, QP or base64 parts. */
export function parseMessage(raw: string): { raw: string; subject: string; text: string; html: string; headers: Record<string, string> } {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = parseHeaders(raw.slice(0, split));
  const body = raw.slice(split).replace(/^\r?\n\r?\n/, '');
  let text = '';
  let html = '';
  const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  const parts = boundary ? body.split(`--${boundary}`).slice(1, -1) : [raw.slice(split)];
  for (const part of parts) {
    const p = part.replace(/^\r?\n/, '');
    const ps = p.search(/\r?\n\r?\n/);
    const h = boundary ? parseHeaders(p.slice(0, ps)) : headers;
    const content = decodeBody(boundary ? p.slice(ps).replace(/^\r?\n\r?\n/, '') : body, h['content-transfer-encoding']);
    if (/text\/html/i.test(h['content-type'] ?? '')) html = content; else if (/text\/plain/i.test(h['content-type'] ?? 'text/plain')) text = content;
  }
  return { raw, subject: headers.subject ?? '', text, html, headers };
}
