import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, createUser, freePort, type TestServer } from './helpers/server.ts';
import { Browser } from './helpers/cookie-fetch.ts';
import { startSmtpSink, linkIn, type SmtpSink } from './helpers/smtp-sink.ts';
import { RETRY_BACKOFF_MS } from '../src/mail/mailer.ts';

/*
 * SECURITY F2: mail survives a relay that is down and a crash before delivery. The server's
 * relay is a port where nothing listens at first; a real SMTP sink starts on it later.
 */

let ts: TestServer;
let port: number;
let sink: SmtpSink | undefined;

before(async () => {
  port = await freePort();
  ts = await startTestServer({ smtpUrl: `smtp://127.0.0.1:${port}` });
});
after(async () => {
  await ts?.close();
  await sink?.close();
});

const queued = () => ts.ctx.db('mail_queue').orderBy('created_at');

async function requestReset(email: string) {
  const browser = new Browser();
  const url = new URL(`${ts.base}/password/reset`);
  const page = await browser.request(url);
  const res = await browser.submit(url, await page.text(), { email });
  assert.equal(res.status, 200);
}

test('a reset mail the relay refused stays queued, sealed, and is delivered by a later retry (F2)', async () => {
  const email = 'queued.reset@example.com';
  await createUser(ts, email, 'the old password is long');
  const logsBefore = ts.logs.length;
  await requestReset(email);
  await ts.ctx.mail.idle();

  const rows = await queued();
  assert.equal(rows.length, 1, 'the message is kept');
  assert.equal(rows[0].recipient, email);
  assert.equal(Number(rows[0].attempts), 1);
  assert.match(rows[0].last_error, /ECONNREFUSED/);
  assert.ok(Number(rows[0].next_attempt_at) >= Date.now() + RETRY_BACKOFF_MS[0] - 5000, 'the next try waits out the backoff');
  const logged = ts.logs.slice(logsBefore).join('\n');
  assert.match(logged, /mail not delivered; it stays queued/);
  assert.doesNotMatch(logged, /token=/, 'the link is not logged');
  // The stored message holds a live link: it is sealed, on disk too.
  assert.doesNotMatch(rows[0].message_sealed, /password\/reset|token=/);
  await ts.ctx.db.raw('PRAGMA wal_checkpoint(TRUNCATE)');
  assert.doesNotMatch(readFileSync(join(ts.dir, 'gatehouse.sqlite'), 'latin1'), /password\/reset\?token=/);

  // /metrics shows mail waiting (what an operator alerts on when the relay is down).
  const waiting = await (await fetch(`${ts.base}/metrics`)).text();
  assert.match(waiting, /^gatehouse_mail_queue_messages 1$/m);
  assert.match(waiting, /^gatehouse_mail_queue_oldest_seconds \d+\.\d$/m);

  // Not due yet: a pass now leaves it alone.
  assert.equal(await ts.ctx.mail.retryDue(), 0);
  // Still down when it is due: one more attempt, a longer wait.
  assert.equal(await ts.ctx.mail.retryDue(Date.now() + RETRY_BACKOFF_MS[0]), 0);
  const again = (await queued())[0];
  assert.equal(Number(again.attempts), 2);
  assert.ok(Number(again.next_attempt_at) > Number(rows[0].next_attempt_at));

  // The relay is back: the next due pass delivers it, and the link in it works.
  sink = await startSmtpSink(port);
  assert.equal(await ts.ctx.mail.retryDue(Date.now() + RETRY_BACKOFF_MS[1] + RETRY_BACKOFF_MS[0]), 1);
  const mail = await sink.waitFor((m) => m.to.includes(email), 'the reset mail');
  assert.deepEqual(await queued(), [], 'a delivered message leaves the queue');
  assert.match(await (await fetch(`${ts.base}/metrics`)).text(), /^gatehouse_mail_queue_messages 0$/m);
  const link = linkIn(mail, '/password/reset');
  const form = await new Browser().request(link);
  assert.equal(form.status, 200);
  assert.match(await form.text(), /name="new_password"/, 'the delivered link opens the new-password form');
});

test('a message left by a node that stopped mid-delivery is delivered by the next pass, once (F2)', async () => {
  sink ??= await startSmtpSink(port);
  const email = 'left.behind@example.com';
  await createUser(ts, email, 'another long password');
  // What a crash between queueing and the relay's answer leaves: a row whose lease ran out.
  const content = { subject: 'Left behind', text: 'sent before a crash', html: '<p>sent before a crash</p>' };
  const id = 'mail_left_behind_1';
  const createdAt = Date.now() - 10 * 60_000;
  await ts.ctx.db('mail_queue').insert({
    id, recipient: email, message_sealed: ts.ctx.box.seal(JSON.stringify(content), `${id}\n${email}`), attempts: 0,
    next_attempt_at: createdAt + 2 * 60_000, created_at: createdAt,
  });
  // Two passes at once (two nodes, or two ticks; the server's own 15 s tick may be a third):
  // the lease lets one of them deliver it.
  const [a, b] = await Promise.all([ts.ctx.mail.retryDue(), ts.ctx.mail.retryDue()]);
  assert.ok(a + b <= 1);
  await sink.waitFor((m) => m.subject === 'Left behind', 'the left-behind mail');
  await ts.ctx.mail.idle();
  assert.equal(sink.received.filter((m) => m.subject === 'Left behind').length, 1, 'delivered once');
  assert.deepEqual(await queued(), []);
});

test('a changed recipient breaks the seal: the message is not sent to it, and is dropped after a day like any unreadable one', async () => {
  sink ??= await startSmtpSink(port);
  const email = 'tamper.target@example.com';
  await createUser(ts, email, 'yet another long password');
  await sink.close(); // the relay is down: the reset mail stays queued
  sink = undefined;
  await requestReset(email);
  await ts.ctx.mail.idle();
  const [row] = await queued();
  assert.equal(row.recipient, email);
  // Someone with write access to the database redirects the live link to themselves.
  await ts.ctx.db('mail_queue').where({ id: row.id }).update({ recipient: 'attacker@evil.example' });
  sink = await startSmtpSink(port);
  const logsBefore = ts.logs.length;
  assert.equal(await ts.ctx.mail.retryDue(Date.now() + 3600_000), 0);
  assert.deepEqual(sink.received.filter((m) => m.to.includes('attacker@evil.example')), [], 'nothing went to the changed address');
  const [kept] = await queued();
  assert.equal(kept.id, row.id, 'left queued (another node, with another key, might read it)');
  assert.match(kept.last_error, /cannot be opened/);
  assert.match(ts.logs.slice(logsBefore).join('\n'), /cannot be opened with this node's secrets key/);
  // A day after it was queued, it is dropped with an error log.
  const later = Number(kept.created_at) + 25 * 3600_000;
  assert.equal(await ts.ctx.mail.retryDue(later), 0);
  assert.deepEqual(await queued(), []);
  assert.match(ts.logs.slice(logsBefore).join('\n'), /mail dropped: its queue entry could not be read for a day/);
  assert.deepEqual(sink.received.filter((m) => m.to.includes('attacker@evil.example')), []);
});

test('a message that cannot be delivered for a day is dropped with an error log', async () => {
  await sink?.close();
  sink = undefined;
  const createdAt = Date.now() - 25 * 3600_000;
  const content = { subject: 'Too late', text: 'x', html: '<p>x</p>' };
  const to = 'nobody.home@example.com';
  await ts.ctx.db('mail_queue').insert({
    id: 'mail_too_late', recipient: to, message_sealed: ts.ctx.box.seal(JSON.stringify(content), `mail_too_late\n${to}`),
    attempts: 7, next_attempt_at: Date.now() - 1000, created_at: createdAt,
  });
  const logsBefore = ts.logs.length;
  assert.equal(await ts.ctx.mail.retryDue(), 0);
  assert.deepEqual(await queued(), []);
  assert.match(ts.logs.slice(logsBefore).join('\n'), /mail dropped: not delivered for a day/);
});

test('closing the mailer waits for a delivery under way and starts no new one', async () => {
  sink ??= await startSmtpSink(port);
  const to = 'closing.time@example.com';
  const rows = ['a', 'b', 'c'].map((k) => ({
    id: `mail_closing_${k}`, recipient: to, message_sealed: ts.ctx.box.seal(JSON.stringify({ subject: `Closing ${k}`, text: k, html: k }), `mail_closing_${k}\n${to}`),
    attempts: 0, next_attempt_at: Date.now() - 1000, created_at: Date.now() - 5000,
  }));
  await ts.ctx.db('mail_queue').insert(rows);
  const pass = ts.ctx.mail.retryDue();
  await ts.ctx.mail.close(); // the server's shutdown does this before closing the database
  const delivered = await pass;
  assert.ok(delivered < 3, 'the pass stopped once the mailer was closing');
  assert.equal((await queued()).length, 3 - delivered, 'what was not sent stays queued for the next start');
  await ts.ctx.db('mail_queue').delete();
});
