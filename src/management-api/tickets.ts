import { randomBytes } from 'node:crypto';
import { exportLocation } from './user-exports.ts';
import { z } from 'zod';
import type { Context } from 'koa';
import { requireScope } from './auth.ts';
import { auditChange, parseBody, type RegisterRoutes } from './helpers.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import { CONNECTION } from '../actions/triggers/events.ts';
import { canonicalEmail } from '../users/email.ts';
import { passwordFingerprint, type EmailTokenPurpose, type TicketOptions } from '../users/email-tokens.ts';
import { queueVerificationMail } from '../interactions/lifecycle.ts';
import type { User } from '../users/users.ts';

/** Auth0's default ticket lifetime (five days) when ttl_sec is absent or 0; at most 30 days. */
const DEFAULT_TTL_SEC = 5 * 86_400;
const MAX_TTL_SEC = 30 * 86_400;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const resultUrl = z.string().max(2048).refine((s) => {
  const u = URL.parse(s);
  // https (the user's address may travel in it), http only to this machine; the length as sent.
  return u !== null && (u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.has(u.hostname))) && u.username === '' && u.password === '' && u.href.length <= 2048;
}, 'must be an absolute https URL (http only on localhost), without credentials, at most 2048 characters')
  // Sent exactly as written (a signed URL stays valid): only a URL that is already in the form
  // every parser (and Koa's redirect) gives it back in, so nothing is quietly changed on the way.
  // Koa's redirect also percent-encodes what encodeurl does not pass ({ } | ^ ` and a stray %).
  .refine((s) => URL.parse(s)?.href === s && /^(?:[!#$&'()*+,\-./0-9:;=?@A-Z[\]_a-z~]|%[0-9A-Fa-f]{2})*$/.test(s), 'must be written as a URL parser writes it back (percent-encoded, lower-case host, no default port, no dot segments)');
const userId = z.string().min(1).max(128);
const ttlSec = z.number().int().min(0).max(MAX_TTL_SEC);

const passwordChangeBody = z.strictObject({
  user_id: userId.optional(),
  email: z.string().min(3).max(320).optional(),
  connection_id: z.string().min(1).max(64).optional(),
  result_url: resultUrl.optional(),
  ttl_sec: ttlSec.optional(),
  mark_email_as_verified: z.boolean().optional(),
  includeEmailInRedirect: z.boolean().optional(),
  client_id: z.string().min(1).max(128).optional(),
});
const emailVerificationBody = z.strictObject({
  user_id: userId,
  result_url: resultUrl.optional(),
  ttl_sec: ttlSec.optional(),
  includeEmailInRedirect: z.boolean().optional(),
  client_id: z.string().min(1).max(128).optional(),
});
const verificationJobBody = z.strictObject({ user_id: userId, client_id: z.string().min(1).max(128).optional() });

/**
 * Auth0's tickets and verification-email jobs. A ticket is a single-use link an admin hands
 * to a user (an invitation to choose a password, a verification link sent by other means): the
 * same e-mail token as a mailed link, bound to the user's address and (for a password change)
 * to the password it replaces, with what the admin asked for when it is used. The ticket's URL
 * is in the response only: never logged or audited. A job sends the verification mail again.
 */
/** A row of `jobs`; `details`: JSON of what the job was asked and, once done, its summary (imports). */
export interface JobRow { id: string; type: string; status: string; created_at: unknown; user_id?: string | null; details?: string | null }

/** A job in Auth0's shape. */
export function jobShape(r: JobRow) {
  let details: Record<string, unknown> = {};
  if (typeof r.details === 'string') { try { details = JSON.parse(r.details) as Record<string, unknown>; } catch { /* never ours: left out */ } }
  return { id: r.id, type: r.type, status: r.status, created_at: new Date(Number(r.created_at)).toISOString(), ...details };
}

export const registerTickets: RegisterRoutes = (router, app) => {
  const { users, emailTokens, urls } = app;

  async function clientMustExist(clientId: string | undefined) {
    if (clientId !== undefined && !(await app.clients.get(clientId))) throw notFound('The client does not exist', 'inexistent_client');
  }
  function usable(user: User): User {
    if (user.blocked) throw badRequest('The user is blocked: unblock it before giving it a ticket', 'operation_not_supported');
    return user;
  }
  async function issue(user: User, purpose: EmailTokenPurpose, ttl: number | undefined, ticket: TicketOptions, passwordFp?: string) {
    const ttlMs = (ttl === undefined || ttl === 0 ? DEFAULT_TTL_SEC : ttl) * 1000;
    const token = await emailTokens.issue({ userId: user.user_id, email: user.email, purpose, ttlMs, passwordFp, ticket });
    return `${urls.urlFor(purpose === 'reset_password' ? '/password/reset' : '/verify-email')}?token=${token}`;
  }
  const options = (b: { result_url?: string; includeEmailInRedirect?: boolean }, extra: TicketOptions = {}): TicketOptions => ({
    ...(b.result_url !== undefined ? { resultUrl: b.result_url } : {}),
    ...(b.includeEmailInRedirect ? { includeEmailInRedirect: true } : {}),
    ...extra,
  });

  router.post('/tickets/password-change', requireScope('create:user_tickets'), async function passwordChangeTicket(ctx: Context) {
    const b = parseBody(ctx, passwordChangeBody);
    if ((b.user_id === undefined) === (b.email === undefined)) throw badRequest('Payload validation error: give either user_id or email (with connection_id)', 'invalid_body');
    if (b.connection_id !== undefined && b.user_id !== undefined) throw badRequest('Payload validation error: connection_id goes with email, not with user_id', 'invalid_body');
    if (b.connection_id !== undefined && b.connection_id !== CONNECTION.id) throw notFound('The connection does not exist', 'inexistent_connection');
    if (b.result_url !== undefined && b.client_id !== undefined) throw badRequest('Payload validation error: result_url cannot be given with client_id', 'invalid_body');
    await clientMustExist(b.client_id);
    const email = b.user_id !== undefined ? (await users.require(b.user_id)).email : canonicalEmail(b.email);
    // The row for the password hash the ticket is bound to (a change since voids the ticket).
    const row = email ? await users.findRowByEmail(email) : undefined;
    if (!row) throw notFound('The user does not exist', 'inexistent_user');
    const user = usable(await users.require(row.id));
    const ticket = await issue(user, 'reset_password', b.ttl_sec, options(b, b.mark_email_as_verified ? { markEmailVerified: true } : {}), passwordFingerprint(row.password_hash));
    await auditChange(app, ctx, { description: 'Create a password change ticket', target: { type: 'user', id: user.user_id }, userId: user.user_id, extra: { ttl_sec: b.ttl_sec ?? DEFAULT_TTL_SEC, result_url: b.result_url !== undefined } });
    ctx.status = 201;
    ctx.body = { ticket };
  });

  router.post('/tickets/email-verification', requireScope('create:user_tickets'), async function emailVerificationTicket(ctx: Context) {
    const b = parseBody(ctx, emailVerificationBody);
    if (b.result_url !== undefined && b.client_id !== undefined) throw badRequest('Payload validation error: result_url cannot be given with client_id', 'invalid_body');
    await clientMustExist(b.client_id);
    const user = usable(await users.require(b.user_id));
    const ticket = await issue(user, 'verify_email', b.ttl_sec, options(b));
    await auditChange(app, ctx, { description: 'Create an email verification ticket', target: { type: 'user', id: user.user_id }, userId: user.user_id, extra: { ttl_sec: b.ttl_sec ?? DEFAULT_TTL_SEC, result_url: b.result_url !== undefined } });
    ctx.status = 201;
    ctx.body = { ticket };
  });

  router.post('/jobs/verification-email', requireScope('update:users'), async function verificationEmailJob(ctx: Context) {
    const b = parseBody(ctx, verificationJobBody);
    await clientMustExist(b.client_id);
    const user = usable(await users.require(b.user_id));
    const job = { id: `job_${randomBytes(12).toString('base64url')}`, type: 'verification_email', status: 'pending', user_id: user.user_id, created_at: Date.now() };
    await app.db('jobs').insert(job);
    queueVerificationMail(app, user, { ip: ctx.ip, userAgent: ctx.get('user-agent') }, job.id);
    await auditChange(app, ctx, { description: 'Send a verification email', target: { type: 'user', id: user.user_id }, userId: user.user_id, extra: { job: job.id } });
    ctx.status = 201;
    ctx.body = jobShape(job);
  });

  router.get('/jobs/:id', requireScope('read:users'), async function getJob(ctx: Context) {
    const id = ctx.params.id;
    if (typeof id !== 'string' || id.length > 64) throw badRequest('Path validation error: id: at most 64 characters', 'invalid_uri');
    const r = await app.db('jobs').where({ id }).first();
    if (!r) throw notFound('The job does not exist', 'inexistent_job');
    ctx.body = { ...jobShape(r), ...(await exportLocation(app, r)) };
  });
};
