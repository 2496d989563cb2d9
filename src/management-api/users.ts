import type { Context } from 'koa';
import { parseUserSearch } from '../users/search.ts';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { AppError } from '../shared/errors.ts';
import { canonicalEmail } from '../users/email.ts';
import { METADATA_MAX_BYTES, type User } from '../users/users.ts';
import { requireScope, requireScopeOrSelf, type ManagementCaller } from './auth.ts';
import { queueEmailChangedMail, queuePasswordChangedMail } from '../mail/notices.ts';
import { queueVerificationMail } from '../interactions/lifecycle.ts';
import {
  auditChange, fieldsOf, registerPermissionWrites, fieldsQuery, fieldsShape, jsonObject, listBody, pageOf, paginationShape, parseBody, parseQuery, pathId, readDeleteBody, requireSomeField, text, type RegisterRoutes,
} from './helpers.ts';

/**
 * Optional hooks the composition root may attach as `app.events` (post-change-password
 * Actions plug in here). Called after the change is committed; a failure is logged, never
 * undoes the change.
 */
export interface ManagementEvents {
  /** `ctx`: the admin's request, which the action's `event.request` describes (as on Auth0). */
  passwordChanged?(userId: string, ctx?: Context): Promise<void>;
}

const DB_CONNECTION = 'Username-Password-Authentication';

const email = z.string().max(320).refine((v) => canonicalEmail(v) !== null, 'is not a valid e-mail address');
// Length is enforced by the password policy; this cap only keeps megabyte strings away from argon2.
const password = z.string().max(4096, 'is too long');
const picture = z.string().max(2000).refine((v) => /^https:\/\/[^\s]+$/.test(v) && URL.canParse(v), 'must be an https URL');
const metadata = jsonObject({ maxBytes: METADATA_MAX_BYTES });
const connection = z.string().refine((v) => v === DB_CONNECTION, `unknown connection (the only one is ${DB_CONNECTION})`);

const createBody = z.strictObject({
  email, password, connection: connection.optional(), email_verified: z.boolean().optional(),
  // Auth0's: true mails the new user a verification link (unless email_verified); false or absent sends nothing.
  verify_email: z.boolean().optional(),
  user_metadata: metadata.optional(), app_metadata: metadata.optional(),
  name: text(300).optional(), nickname: text(300).optional(), picture: picture.optional(), blocked: z.boolean().optional(),
  given_name: text(150).optional(), family_name: text(150).optional(),
});

/** What an admin may change; everything else (password_hash, user_id, created_at, logins_count…) is a 400. */
const patchBody = z.strictObject({
  email: email.optional(), password: password.optional(), connection: connection.optional(), email_verified: z.boolean().optional(),
  user_metadata: metadata.optional(), app_metadata: metadata.optional(),
  name: text(300).optional(), nickname: text(300).optional(), picture: picture.optional(), blocked: z.boolean().optional(),
  given_name: text(150).nullable().optional(), family_name: text(150).nullable().optional(),
});

const SORTABLE = ['created_at', 'email', 'updated_at', 'last_login'] as const;
const listQuery = z.strictObject({
  ...paginationShape, ...fieldsShape,
  // Auth0's SDKs may name the connection; there is one.
  connection: connection.optional(),
  q: z.string().max(1000).optional(),
  email: z.string().max(320).optional(),
  // Auth0's SDKs send these; v2 and v3 behave the same here.
  search_engine: z.enum(['v2', 'v3']).optional(),
  sort: z.string().regex(new RegExp(`^(${SORTABLE.join('|')}):(1|-1)$`), `must be <field>:1 or <field>:-1 with field one of ${SORTABLE.join(', ')}`).optional(),
});


const roleIdsBody = z.strictObject({ roles: z.array(z.string().min(1).max(64)).min(1).max(50) });

/** Auth0's `/api/v2/users`: CRUD, search by e-mail, role assignment. */
export const registerUsers: RegisterRoutes = (router, app) => {
  const { users, roles } = app;
  const events = () => (app as AppContext & { events?: ManagementEvents }).events;

  async function passwordChanged(userId: string, ctx: Context) {
    try {
      await events()?.passwordChanged?.(userId, ctx);
    } catch (err) {
      app.logger.warn({ err, user_id: userId }, 'post-change-password hook failed');
    }
  }

  const idParam = (ctx: Context) => pathId(ctx, 64);

  router.get('/users', requireScope('read:users'), async function listUsers(ctx) {
    const query = parseQuery(ctx, listQuery);
    const p = pageOf(query);
    // Auth0's Lucene user search (src/users/search.ts); `email` is the exact address.
    const search = query.q && query.q.trim() ? parseUserSearch(query.q) : undefined;
    const sort = query.sort ? { field: query.sort.split(':')[0] as typeof SORTABLE[number], desc: query.sort.endsWith(':-1') } : undefined;
    const r = await users.list({ page: p.page, perPage: p.perPage, email: query.email, search, sort });
    ctx.body = listBody('users', r.users.map(fieldsOf(query)), r.total, p);
  });

  router.get('/users-by-email', requireScope('read:users'), async function usersByEmail(ctx) {
    const query = parseQuery(ctx, z.strictObject({ email: z.string().min(1).max(320), ...fieldsShape }));
    const r = await users.list({ page: 0, perPage: 1, email: query.email });
    ctx.body = r.users.map(fieldsOf(query));
  });

  router.post('/users', requireScope('create:users'), async function createUser(ctx) {
    const { verify_email: verifyEmail, ...body } = parseBody(ctx, createBody);
    const user = await users.create(body);
    await auditChange(app, ctx, {
      description: 'Create a user', target: { type: 'user', id: user.user_id }, userId: user.user_id,
      after: summary(user), extra: body.password ? { password_set: true } : undefined,
    });
    // After the row committed and without waiting for it, as for a sign-up (ACTIONS.md).
    void app.events.userCreated(user);
    if (verifyEmail && !user.email_verified && !user.blocked) queueVerificationMail(app, user, { ip: ctx.ip, userAgent: ctx.get('user-agent') });
    ctx.status = 201;
    ctx.body = user;
  });

  router.get('/users/:id', requireScopeOrSelf(['read:users'], ['read:current_user']), async function getUser(ctx) {
    const query = parseQuery(ctx, fieldsQuery);
    ctx.body = fieldsOf(query)(await users.require(idParam(ctx)));
  });

  // Auth0's enrollments (Guardian's shape) of the authenticator apps a user has confirmed.
  router.get('/users/:id/enrollments', requireScopeOrSelf(['read:users'], ['read:current_user']), async function userEnrollments(ctx) {
    const u = await users.require(idParam(ctx));
    ctx.body = (await app.mfa.factors(u.user_id)).map((f) => ({
      id: f.id, status: f.confirmed ? 'confirmed' : 'pending', type: 'authenticator', auth_method: 'authenticator',
      enrolled_at: f.created_at, ...(f.last_auth_at ? { last_auth: f.last_auth_at } : {}),
    }));
  });

  router.patch('/users/:id', requireScopeOrSelf(['update:users'], ['update:current_user_metadata', 'create:current_user_metadata']), async function updateUser(ctx) {
    const id = idParam(ctx);
    const body = parseBody(ctx, patchBody);
    requireSomeField(body);
    const before = await users.require(id);
    const caller = ctx.state.caller as ManagementCaller;
    if (caller.user !== undefined) ownMetadataOnly(body);
    const { connection: _connection, ...patch } = body;
    // A new address is unverified until someone says otherwise (Auth0 does the same).
    if (patch.email !== undefined && canonicalEmail(patch.email) !== before.email && patch.email_verified === undefined) patch.email_verified = false;
    // With create:current_user_metadata alone, only keys not stored yet (checked in the update's transaction).
    const createOnly = caller.user !== undefined && !caller.scopes.has('update:current_user_metadata');
    const after = await users.update(id, patch, { newUserMetadataKeysOnly: createOnly });
    const blockedNow = after.blocked && !before.blocked;
    // (Both at once: each application hears once, for whichever of the two it chose.)
    const why = [...(blockedNow ? ['account-deactivated' as const] : []), ...(patch.password !== undefined ? ['password-changed' as const] : [])];
    const revoked = why.length ? await users.revokeTokens(id, ...why) : 0;
    await auditChange(app, ctx, {
      description: 'Update a user', target: { type: 'user', id }, userId: id, before: summary(before), after: summary(after),
      extra: { ...(patch.password !== undefined ? { password_changed: true } : {}), ...(revoked ? { revoked_token_count: revoked } : {}) },
    });
    if (patch.password !== undefined) {
      await passwordChanged(id, ctx);
      queuePasswordChangedMail(app, after.email, 'admin');
    }
    if (after.email !== before.email) queueEmailChangedMail(app, before.email, after.email);
    ctx.body = after;
  });

  /**
   * A user's own token changes user_metadata and nothing else (Auth0: no password, e-mail or
   * app_metadata through a single-page app's token). With create:current_user_metadata alone it
   * only adds keys (users.update checks that on the locked row).
   */
  function ownMetadataOnly(body: z.infer<typeof patchBody>) {
    const other = Object.keys(body).filter((k) => k !== 'user_metadata');
    if (other.length > 0) {
      throw new AppError(403, 'insufficient_scope', `A user's own token may change only user_metadata, not ${other.slice(0, 5).join(', ')}`);
    }
  }

  router.delete('/users/:id', requireScope('delete:users'), async function deleteUser(ctx) {
    const id = idParam(ctx);
    const before = await users.require(id);
    await users.remove(id);
    // After the row is gone, so a login racing the delete cannot leave a fresh session behind
    // that findAccount would still honour.
    const revoked = await users.revokeTokens(id, 'account-deleted');
    await auditChange(app, ctx, { description: 'Delete a user', target: { type: 'user', id }, userId: id, before: summary(before), extra: { revoked_token_count: revoked } });
    ctx.status = 204;
  });

  router.get('/users/:id/roles', requireScope('read:users'), requireScope('read:roles'), async function userRoles(ctx) {
    const id = idParam(ctx);
    const p = pageOf(parseQuery(ctx, z.strictObject(paginationShape)));
    await users.require(id);
    const list = await roles.forUser(id, p);
    ctx.body = listBody('roles', list, p.includeTotals ? await roles.countForUser(id) : list.length, p);
  });

  // RBAC: the permissions a user holds, given directly or through its roles (with `sources`).
  router.get('/users/:id/permissions', requireScope('read:users'), async function userPermissions(ctx) {
    const id = idParam(ctx);
    const p = pageOf(parseQuery(ctx, z.strictObject(paginationShape)));
    await users.require(id);
    const all = await app.permissions.forUser(id);
    ctx.body = listBody('permissions', all.slice(p.page * p.perPage, (p.page + 1) * p.perPage), all.length, p);
  });

  registerPermissionWrites(router, app, {
    path: '/users/:id/permissions', scope: 'update:users', kind: 'user', id: idParam, exists: (id) => users.require(id),
    give: app.permissions.giveUser, take: app.permissions.takeFromUser,
  });
  // Organizations do not exist here: a user has none, and says so as Auth0 does for a user
  // without any (an empty list, not a 404 that actions reading them would take for an error).
  // (Auth0's scope for it: read:organizations, as memberships are the organizations' to show.)
  router.get('/users/:id/organizations', requireScope('read:organizations'), async function userOrganizations(ctx) {
    const id = idParam(ctx);
    const p = pageOf(parseQuery(ctx, z.strictObject(paginationShape)));
    await users.require(id);
    const r = await app.organizations.ofUser(id, p);
    ctx.body = listBody('organizations', r.organizations, r.total, p);
  });

  // Role membership is a privilege of its own (Auth0's role_members scopes): a token that may
  // edit profiles (update:users) cannot hand out roles, which reach Actions as authorization.roles.
  router.post('/users/:id/roles', requireScope('create:role_members'), async function assignUserRoles(ctx) {
    const id = idParam(ctx);
    const body = parseBody(ctx, roleIdsBody);
    await users.require(id);
    const before = (await roles.forUser(id)).map((r) => r.id);
    await roles.assign(id, body.roles);
    const after = (await roles.forUser(id)).map((r) => r.id);
    await auditChange(app, ctx, { description: 'Assign roles to a user', target: { type: 'user', id }, userId: id, before: { roles: before }, after: { roles: after } });
    ctx.status = 204;
  });

  router.delete('/users/:id/roles', requireScope('delete:role_members'), async function removeUserRoles(ctx) {
    const id = idParam(ctx);
    await readDeleteBody(ctx, app.config.http.bodyLimitBytes);
    const body = parseBody(ctx, roleIdsBody);
    await users.require(id);
    const before = (await roles.forUser(id)).map((r) => r.id);
    await roles.unassign(id, body.roles);
    const after = (await roles.forUser(id)).map((r) => r.id);
    await auditChange(app, ctx, { description: 'Remove roles from a user', target: { type: 'user', id }, userId: id, before: { roles: before }, after: { roles: after } });
    ctx.status = 204;
  });
};

/** The fields worth a before/after line in the audit log (metadata can be large: sizes only). */
export function summary(u: User) {
  return {
    email: u.email, email_verified: u.email_verified, name: u.name, nickname: u.nickname, picture: u.picture, blocked: u.blocked,
    app_metadata_keys: Object.keys(u.app_metadata), user_metadata_keys: Object.keys(u.user_metadata),
  };
}
