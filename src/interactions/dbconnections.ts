import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { AppError } from '../shared/errors.ts';
import { text } from '../management-api/helpers.ts';
import { metadataProblem } from '../users/users.ts';
import { canonicalEmail } from '../users/email.ts';
import { CONNECTION } from '../actions/triggers/events.ts';
import { queueResetMail, queueVerificationMail, tooManyFromAddress } from './lifecycle.ts';

type Client = NonNullable<Awaited<ReturnType<AppContext['clients']['get']>>>;

/**
 * Auth0's Authentication API for database connections, which apps built on auth0.js or Lock
 * call from the browser with their own forms: `POST /dbconnections/signup` and
 * `POST /dbconnections/change_password`. A sign-up here is the sign-up page's: the same
 * switch, address checks, per-address limit, pre- and post-user-registration, password policy
 * and verification mail, plus the profile fields and `user_metadata` Auth0 takes. A browser
 * may call them only from one of the client's web origins (CORS), as on Auth0.
 */

// The Management API's own checks for what users are made of (no control or invisible
// characters in text, an https picture), so that a sign-up here stores nothing an admin could not.
const signupShape = {
  client_id: text(128),
  email: text(320),
  password: z.string().min(1).max(1024),
  connection: text(128),
  username: text(128).optional(),
  name: text(300).optional(), nickname: text(300).optional(), given_name: text(150).optional(), family_name: text(150).optional(),
  picture: z.string().max(2000).refine((v) => /^https:\/\/[^\s]+$/.test(v) && URL.canParse(v), 'must be an https URL').optional(),
  // Auth0's rule: string values, at most 10 keys. No NUL (PostgreSQL's jsonb refuses it).
  user_metadata: z.record(text(100).refine((k) => !['__proto__', 'constructor', 'prototype'].includes(k), 'is not allowed').refine((k) => metadataProblem(k) === null, 'must not contain lone surrogates'), z.string().max(500).refine((v) => metadataProblem(v) === null, 'must not contain NUL characters or lone surrogates'))
    .refine((m) => Object.keys(m).length <= 10, 'at most 10 keys').optional(),
};
const changePasswordBody = z.strictObject({
  client_id: text(128).optional(),
  email: text(320),
  connection: text(128),
  organization: text(128).optional(),
});

function fail(status: number, code: string, description: string): never {
  throw new AppError(status, code, description);
}

/**
 * Errors as Auth0's Authentication API answers them on these routes (auth0.js reads `code` and
 * `description`): `{name, code, description, statusCode}`. Anything unexpected is a 500 that
 * says nothing more (and is logged).
 */
export function dbConnectionsErrors(logger: AppContext['logger']) {
  return async function dbConnectionsError(ctx: Context, next: () => Promise<unknown>) {
    try {
      await next();
    } catch (e) {
      const known = e instanceof AppError ? e : (e as { expose?: boolean; status?: number }).expose === true ? new AppError((e as { status?: number }).status ?? 400, 'invalid_body', (e as Error).message) : undefined;
      if (!known) logger.error({ err: e, path: ctx.path }, 'dbconnections request failed');
      const status = known?.status ?? 500;
      ctx.status = status;
      ctx.body = { name: status === 429 ? 'TooManyRequestsError' : status >= 500 ? 'ServerError' : 'BadRequestError', code: known?.errorCode ?? 'server_error', description: known?.message ?? 'Something went wrong', statusCode: status };
    }
  };
}

export function createDbConnectionsRoutes(app: AppContext) {
  const { config, users, audit } = app;
  const router = new Router({ prefix: `${app.urls.mountPath}/dbconnections` });
  // The sign-up page's configured fields (signup.fields) are taken and checked here too, and
  // reach pre-user-registration in event.request.body as they do from the page.
  const fieldShape: Record<string, z.ZodType> = {};
  for (const f of config.signup.fields) {
    fieldShape[f.name] = f.type === 'checkbox'
      ? z.union([z.literal('on'), z.literal('true'), z.literal(true)]).optional()
      : z.string().max(f.maxLength).refine((v) => !/[\u0000-\u001f]/.test(v), 'must not contain control characters').optional();
  }
  // The core members last: a configured field cannot replace their rules.
  const signupBody = z.strictObject({ ...fieldShape, ...signupShape });

  const bare = (o: string) => o.replace(/\/$/, '');
  const originOf = (c: Client, origin: string) => c.web_origins.some((w) => bare(w) === bare(origin));
  /** The body's client, and a browser's origin checked against its web origins (then allowed to read the answer). */
  async function clientFor(ctx: Context, clientId: string | undefined): Promise<Client | undefined> {
    const client = clientId === undefined ? undefined : await app.clients.get(clientId);
    if (clientId !== undefined && !client) fail(400, 'invalid_client', 'Unknown client');
    const origin = ctx.get('origin');
    if (origin) {
      if (!client || !originOf(client, origin)) fail(403, 'unauthorized', 'Origin not allowed for this client: add it to the client\'s web_origins');
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Vary', 'Origin');
    }
    return client;
  }
  function checkConnection(name: string) {
    if (name !== CONNECTION.name) fail(400, 'invalid_connection', `Unknown connection: the database connection is ${CONNECTION.name}`);
  }
  function parse<S extends z.ZodType>(ctx: Context, schema: S): z.output<S> {
    const r = schema.safeParse(ctx.request.body ?? {});
    if (!r.success) {
      const i = r.error.issues[0];
      fail(400, 'invalid_body', `${i.path.join('.') || 'body'}: ${i.code === 'unrecognized_keys' ? `not accepted (${(i as { keys: string[] }).keys.join(', ')})` : i.message}`);
    }
    return r.data;
  }

  router.options('/:action', async function preflight(ctx) {
    const origin = ctx.get('origin');
    if (origin && await app.clients.knownWebOrigin(origin)) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Methods', 'POST');
      ctx.set('Access-Control-Allow-Headers', 'content-type, auth0-client');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.set('Vary', 'Origin');
    }
    ctx.status = 204;
  });

  router.post('/signup', async function dbSignup(ctx) {
    const b = parse(ctx, signupBody);
    const client = await clientFor(ctx, b.client_id);
    checkConnection(b.connection);
    if (!config.signup.enabled) fail(403, 'operation_not_allowed', 'Sign-up is disabled for this connection');
    if (b.username !== undefined) fail(400, 'invalid_body', 'username: this connection signs users in by e-mail address only');
    const email = canonicalEmail(b.email);
    if (!email) fail(400, 'invalid_signup', 'email: enter a valid e-mail address');
    const given = b as Record<string, unknown>;
    for (const f of config.signup.fields) {
      const v = given[f.name];
      if (f.required && (v === undefined || v === '')) fail(400, 'invalid_signup', `${f.name}: ${f.type === 'checkbox' ? 'must be ticked' : 'is required'} (${f.label})`);
    }
    const limit = await app.requestLimits.hit('signup', ctx.ip);
    if (!limit.allowed) {
      ctx.set('Retry-After', String(limit.retryAfterSeconds));
      await audit.record({ type: 'fs', description: 'Signup refused: too many from this address', user_name: email, ip: ctx.ip, user_agent: ctx.get('user-agent') });
      fail(429, 'too_many_attempts', tooManyFromAddress(limit.retryAfterSeconds));
    }
    const profile = { name: b.name, nickname: b.nickname, given_name: b.given_name, family_name: b.family_name, picture: b.picture };
    const pre = await app.actions.triggers.preUserRegistration(ctx, email, client, {}, { ...Object.fromEntries(Object.entries(profile).filter(([, v]) => v !== undefined)), user_metadata: b.user_metadata });
    if (!pre.ok) {
      await audit.record({ type: 'fs', description: `Signup denied by pre-user-registration action: ${pre.userMessage}`, user_name: email, ip: ctx.ip, user_agent: ctx.get('user-agent') });
      fail(400, 'extensibility_error', pre.userMessage);
    }
    let user;
    try {
      user = await users.create({ email, password: b.password, ...profile, app_metadata: pre.appMetadata, user_metadata: pre.userMetadata ?? b.user_metadata });
    } catch (e) {
      if (e instanceof AppError && (e.status === 409 || e.status === 400)) {
        await audit.record({ type: 'fs', description: `Signup failed: ${e.status === 409 ? 'email already registered' : e.message}`, user_name: email, ip: ctx.ip, user_agent: ctx.get('user-agent') });
        if (e.status === 409) fail(400, 'invalid_signup', 'Invalid sign up');
        fail(400, e.errorCode === 'password_strength_error' ? 'invalid_password' : 'invalid_signup', e.message.replace(/^password: /, ''));
      }
      throw e;
    }
    void app.actions.triggers.postUserRegistration(ctx, user);
    queueVerificationMail(app, user, { ip: ctx.ip, userAgent: ctx.get('user-agent') }, undefined, true);
    await audit.record({ type: 'ss', description: 'Successful signup', user_id: user.user_id, user_name: email, ip: ctx.ip, user_agent: ctx.get('user-agent'), client_id: client?.client_id });
    ctx.body = {
      _id: user.user_id.replace(/^auth0\|/, ''), email: user.email, email_verified: user.email_verified,
      ...Object.fromEntries(Object.entries(profile).filter(([, v]) => v !== undefined)),
      ...(Object.keys(user.user_metadata).length > 0 ? { user_metadata: user.user_metadata } : {}),
    };
  });

  router.post('/change_password', async function dbChangePassword(ctx) {
    const b = parse(ctx, changePasswordBody);
    await clientFor(ctx, b.client_id);
    checkConnection(b.connection);
    const email = canonicalEmail(b.email);
    if (!email) fail(400, 'invalid_request', 'email: enter a valid e-mail address');
    const limited = await app.requestLimits.hit('mail', ctx.ip);
    if (!limited.allowed) {
      ctx.set('Retry-After', String(limited.retryAfterSeconds));
      await audit.record({ type: 'fcpr', description: 'Password reset request refused: too many from this address', ip: ctx.ip, user_agent: ctx.get('user-agent') });
      fail(429, 'too_many_attempts', tooManyFromAddress(limited.retryAfterSeconds));
    }
    // One answer for every address (SECURITY B10): whether it has an account is decided after.
    queueResetMail(app, email, { ip: ctx.ip, userAgent: ctx.get('user-agent') });
    ctx.type = 'text/plain';
    ctx.body = "We've just sent you an email to reset your password.";
  });

  return router;
}
