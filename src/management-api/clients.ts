import type { Context } from 'koa';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { GRANT_TYPES, type OrganizationRequireBehavior } from '../clients/clients.ts';
import { CREDENTIAL_ALGS, MAX_CREDENTIALS_PER_CLIENT } from '../clients/credentials.ts';
import { badRequest } from '../shared/errors.ts';
import { requireScope } from './auth.ts';
import { alwaysTrue, auditChange, fieldsOf, fieldsQuery, fieldsShape, listBody, pageOf, paginationShape, parseBody, parseQuery, requireSomeField, stringMap, text, pathId, type RegisterRoutes } from './helpers.ts';

const APP_TYPES = ['spa', 'regular_web', 'non_interactive', 'native'] as const;
const urlList = z.array(z.string().max(2000)).max(100);
const alg = z.enum(['ES256', 'RS256']);

/**
 * Fields an admin may set. No `client_id` or `client_secret`: ids are generated and secrets
 * only come from the server (on create and through rotate-secret), so a weak secret can never
 * be set. Redirect URIs, origins and grant types are checked by the clients library.
 */
const fields = {
  name: text(200),
  description: text(2000, 0),
  app_type: z.enum(APP_TYPES),
  callbacks: urlList,
  allowed_logout_urls: urlList,
  web_origins: urlList,
  grant_types: z.array(z.string().max(100)).max(GRANT_TYPES.length + 2),
  token_endpoint_auth_method: z.enum(['none', 'client_secret_basic', 'client_secret_post']),
  // Private Key JWT (Auth0's shape): the application's credentials it authenticates with; null goes back to a secret.
  client_authentication_methods: z.strictObject({
    private_key_jwt: z.strictObject({ credentials: z.array(z.strictObject({ id: z.string().min(1).max(64) })).min(1).max(MAX_CREDENTIALS_PER_CLIENT) }),
  }).nullable(),
  client_metadata: stringMap,
  is_first_party: z.boolean(),
  id_token_signed_response_alg: alg,
  // Auth0's shape for the ID token algorithm. What GET answers may be sent back as it is: the
  // lifetime is the server's (checkRoundTrip), secret_encoded is Auth0's HS256 setting, never used.
  jwt_configuration: z.strictObject({ alg: alg.optional(), lifetime_in_seconds: z.number().int().optional(), secret_encoded: z.literal(false).optional() }),
  // Organizations (Auth0's): whether the application signs users in to one, and, when it requires
  // one, what happens when its request names none (src/clients/clients.ts).
  organization_usage: z.enum(['deny', 'allow', 'require']),
  organization_require_behavior: z.enum(['no_prompt', 'pre_login_prompt', 'post_login_prompt']),
  // OpenID Connect Back-Channel Logout, Auth0's shape; null turns it off (the URL and initiators are checked by the clients library).
  oidc_logout: z.strictObject({
    backchannel_logout_urls: z.array(z.string().min(1).max(2000)).max(5),
    // (mode: 'custom' when left out, as on Auth0.)
    backchannel_logout_initiators: z.strictObject({ mode: z.enum(['custom', 'all']).optional(), selected_initiators: z.array(z.string().max(100)).max(20).optional() }).optional(),
    // Auth0's session metadata in logout tokens is not offered: only its "off" is taken (what Auth0's tools export by default).
    backchannel_logout_session_metadata: z.strictObject({ include: z.boolean() }).refine((m) => !m.include, 'session metadata in logout tokens is not supported (include must be false)').optional(),
  }).nullable(),
};
const createBody = z.strictObject({
  // Auth0's flag for its legacy flows; every client here is OIDC-conformant (see alwaysTrue).
  oidc_conformant: alwaysTrue('every client follows OpenID Connect').optional(),
  ...fields, app_type: fields.app_type.optional(), description: fields.description.optional(), callbacks: urlList.optional(),
  allowed_logout_urls: urlList.optional(), web_origins: urlList.optional(), grant_types: fields.grant_types.optional(),
  // null: the application authenticates as client_authentication_methods says (Auth0 sends both that way).
  token_endpoint_auth_method: fields.token_endpoint_auth_method.nullable().optional(), client_metadata: stringMap.optional(),
  client_authentication_methods: fields.client_authentication_methods.optional(),
  // null: the default (no_prompt), as Auth0's schema allows.
  organization_usage: fields.organization_usage.optional(), organization_require_behavior: fields.organization_require_behavior.nullable().optional(),
  is_first_party: z.boolean().optional(), id_token_signed_response_alg: alg.optional(), jwt_configuration: fields.jwt_configuration.optional(),
  oidc_logout: fields.oidc_logout.optional(),
});
const patchBody = createBody.extend({ name: fields.name.optional() });

const listQuery = z.strictObject({
  ...paginationShape, ...fieldsShape,
  app_type: z.string().max(100).refine((v) => v.split(',').every((t) => (APP_TYPES as readonly string[]).includes(t)), `must be a comma-separated list of ${APP_TYPES.join(', ')}`).optional(),
  is_first_party: z.enum(['true', 'false']).optional(),
  is_global: z.enum(['true', 'false']).optional(),
});

type ClientOut = Awaited<ReturnType<AppContext['clients']['require']>> & { client_secret?: string };

/**
 * Adds Auth0's `jwt_configuration` view of the ID tokens the client gets (the alg in effect, the
 * configured lifetime; secret_encoded is Auth0's HS256 setting, never used here); `client_secret`
 * stays only where the caller put it.
 */
const viewOf = (app: AppContext) => (c: ClientOut) => ({
  ...c, oidc_conformant: true, jwt_configuration: { alg: app.clients.idTokenAlg(c), lifetime_in_seconds: app.config.tokens.idTokenTtl, secret_encoded: false },
  // As Auth0 shows a Private Key JWT application: no secret method, the credentials in client_authentication_methods.
  ...(c.token_endpoint_auth_method === 'private_key_jwt' ? { token_endpoint_auth_method: null } : {}),
});
/** Audit summary: never the secret. */
const summary = ({ client_secret: _s, created_at: _c, ...rest }: ClientOut) => rest;

function toInput<T extends { jwt_configuration?: { alg?: 'ES256' | 'RS256' }; id_token_signed_response_alg?: 'ES256' | 'RS256'; oidc_conformant?: boolean; token_endpoint_auth_method?: string | null; client_authentication_methods?: unknown; organization_require_behavior?: OrganizationRequireBehavior | null }>(b: T) {
  const { jwt_configuration, oidc_conformant: _o, token_endpoint_auth_method: method, organization_require_behavior: behavior, ...rest } = b;
  if (method === null && b.client_authentication_methods === undefined) throw badRequest('token_endpoint_auth_method: null needs client_authentication_methods (Private Key JWT)', 'invalid_body');
  if (typeof method === 'string' && b.client_authentication_methods) throw badRequest('token_endpoint_auth_method: a secret method and client_authentication_methods (Private Key JWT) exclude each other: send null with it', 'invalid_body');
  return {
    ...rest, ...(method !== null && method !== undefined ? { token_endpoint_auth_method: method as 'none' | 'client_secret_basic' | 'client_secret_post' } : {}),
    ...(behavior !== undefined ? { organization_require_behavior: behavior ?? 'no_prompt' as const } : {}),
    id_token_signed_response_alg: b.id_token_signed_response_alg ?? jwt_configuration?.alg,
  };
}

/** ID token lifetimes are the server's (tokens.idTokenTtl): the value GET shows may come back, no other. */
function checkRoundTrip(app: AppContext, b: { jwt_configuration?: { lifetime_in_seconds?: number } }) {
  const l = b.jwt_configuration?.lifetime_in_seconds;
  if (l !== undefined && l !== app.config.tokens.idTokenTtl) {
    throw badRequest(`Payload validation error: jwt_configuration.lifetime_in_seconds: ID token lifetimes are set for the whole server (${app.config.tokens.idTokenTtl} s), not per client`, 'invalid_body');
  }
}

const idParam = (ctx: Context) => pathId(ctx, 128);

/** Auth0's `/api/v2/clients`. Secrets appear only in the create and rotate-secret responses. */
export const registerClients: RegisterRoutes = (router, app) => {
  const { clients } = app;
  const view = viewOf(app);

  router.get('/clients', requireScope('read:clients'), async function listClients(ctx) {
    const q = parseQuery(ctx, listQuery);
    const p = pageOf(q);
    if (q.is_global === 'true') { ctx.body = listBody('clients', [], 0, p); return; }
    const r = await clients.list({
      page: p.page, perPage: p.perPage, appType: q.app_type?.split(',') as typeof APP_TYPES[number][] | undefined,
      isFirstParty: q.is_first_party === undefined ? undefined : q.is_first_party === 'true',
    });
    const project = fieldsOf(q);
    ctx.body = listBody('clients', r.clients.map((c) => project(view(c))), r.total, p);
  });

  router.post('/clients', requireScope('create:clients'), async function createClient(ctx) {
    const body = parseBody(ctx, createBody);
    checkRoundTrip(app, body);
    const client = await clients.create({ ...toInput(body), app_type: body.app_type ?? 'regular_web' });
    await auditChange(app, ctx, { description: 'Create a client', target: { type: 'client', id: client.client_id }, after: summary(client) });
    ctx.status = 201;
    ctx.body = view(client);
  });

  router.get('/clients/:id', requireScope('read:clients'), async function getClient(ctx) {
    const query = parseQuery(ctx, fieldsQuery);
    ctx.body = fieldsOf(query)(view(await clients.require(idParam(ctx))));
  });

  router.patch('/clients/:id', requireScope('update:clients'), async function updateClient(ctx) {
    const id = idParam(ctx);
    const body = parseBody(ctx, patchBody);
    requireSomeField(body);
    const before = await clients.require(id);
    // The bootstrap admin must keep getting Management API tokens: its kind and credentials stay.
    if (before.is_system) {
      const locked = (['app_type', 'grant_types', 'token_endpoint_auth_method', 'client_authentication_methods'] as const).find((k) => body[k] !== undefined);
      if (locked) throw badRequest(`${locked}: cannot be changed on a system client`, 'operation_not_supported');
    }
    checkRoundTrip(app, body);
    // The alg GET showed for a client that never chose one (the default in effect), sent back:
    // no choice, so nothing is pinned (a later change of app type or default still applies).
    const sentAlg = body.jwt_configuration?.alg;
    if (sentAlg && !body.id_token_signed_response_alg && !before.id_token_signed_response_alg && sentAlg === clients.idTokenAlg({ app_type: body.app_type ?? before.app_type })) {
      body.jwt_configuration = { ...body.jwt_configuration, alg: undefined };
    }
    const after = await clients.update(id, toInput(body));
    await auditChange(app, ctx, {
      description: 'Update a client', target: { type: 'client', id }, before: summary(before), after: summary(after),
      extra: 'client_secret' in after ? { secret_generated: true } : undefined,
    });
    ctx.body = view(after);
  });

  router.delete('/clients/:id', requireScope('delete:clients'), async function deleteClient(ctx) {
    const id = idParam(ctx);
    const before = await clients.require(id);
    if (before.is_system) throw badRequest('System clients cannot be deleted', 'operation_not_supported');
    await clients.remove(id);
    // Its client grants went with it: a Management API token it holds is refused from now on (auth.ts).
    app.resourceServers.grants.forget();
    await auditChange(app, ctx, { description: 'Delete a client', target: { type: 'client', id }, before: summary(before) });
    ctx.status = 204;
  });

  // Private Key JWT credentials (Auth0's /clients/{id}/credentials): public keys only; the answer never repeats the key.
  const credentialBody = z.strictObject({
    credential_type: z.literal('public_key'),
    name: z.string().max(128).optional(),
    pem: z.string().min(1).max(16_384),
    alg: z.enum(CREDENTIAL_ALGS).optional(),
    parse_expiry_from_cert: z.boolean().optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
  });
  const credentialPatch = z.strictObject({ expires_at: z.iso.datetime({ offset: true }).nullable() });
  const credentialId = (ctx: Context) => pathId(ctx, 64, 'credential_id');
  /** The client, which must exist; credentials are for confidential applications. */
  async function confidential(id: string) {
    const c = await clients.require(id);
    if (c.is_system) throw badRequest('The system client authenticates with its configured secret: it takes no credentials', 'operation_not_supported');
    if (c.token_endpoint_auth_method === 'none') throw badRequest(`${c.app_type} applications are public: Private Key JWT is for regular_web and non_interactive applications`);
    return c;
  }
  router.get('/clients/:id/credentials', requireScope('read:client_credentials'), async function listCredentials(ctx) {
    const id = idParam(ctx);
    await clients.require(id);
    ctx.body = await app.clientCredentials.list(id);
  });
  router.post('/clients/:id/credentials', requireScope('create:client_credentials'), async function createCredential(ctx) {
    const id = idParam(ctx);
    const body = parseBody(ctx, credentialBody);
    await confidential(id);
    const made = await app.clientCredentials.create(id, body);
    await auditChange(app, ctx, { description: 'Create a client credential', target: { type: 'client', id }, after: made });
    ctx.status = 201;
    ctx.body = made;
  });
  router.get('/clients/:id/credentials/:credential_id', requireScope('read:client_credentials'), async function getCredential(ctx) {
    ctx.body = await app.clientCredentials.get(idParam(ctx), credentialId(ctx));
  });
  router.patch('/clients/:id/credentials/:credential_id', requireScope('update:client_credentials'), async function updateCredential(ctx) {
    const id = idParam(ctx);
    const body = parseBody(ctx, credentialPatch);
    const before = await app.clientCredentials.get(id, credentialId(ctx));
    const after = await app.clientCredentials.update(id, credentialId(ctx), body);
    await auditChange(app, ctx, { description: 'Update a client credential', target: { type: 'client', id }, before, after });
    ctx.body = after;
  });
  router.delete('/clients/:id/credentials/:credential_id', requireScope('delete:client_credentials'), async function deleteCredential(ctx) {
    const id = idParam(ctx);
    const before = await app.clientCredentials.get(id, credentialId(ctx));
    await app.clientCredentials.remove(id, credentialId(ctx));
    await auditChange(app, ctx, { description: 'Delete a client credential', target: { type: 'client', id }, before });
    ctx.status = 204;
  });

  router.post('/clients/:id/rotate-secret', requireScope('update:clients'), async function rotateSecret(ctx) {
    const id = idParam(ctx);
    // Its secret is the environment's (the server sets it again at start): rotated here, the
    // next restart would undo it without a word.
    if (id === app.config.bootstrapAdmin.clientId && app.config.bootstrapAdmin.clientSecret) {
      throw badRequest('The bootstrap admin client\'s secret comes from GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET: change it there and restart the server', 'operation_not_supported');
    }
    const after = await clients.rotateSecret(id);
    await auditChange(app, ctx, { description: 'Rotate a client secret', target: { type: 'client', id }, extra: { secret_rotated: true } });
    ctx.body = view(after);
  });
};
