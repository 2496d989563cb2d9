import type { Db } from '../db/knex.ts';
import { parseJson, toBool } from '../db/knex.ts';
import { badRequest, conflict, notFound } from '../shared/errors.ts';
import { newClientGrantId, newResourceServerId } from '../shared/ids.ts';
import { createTtlCache } from '../shared/ttl-cache.ts';

export interface Scope { value: string; description: string }
/** Auth0's token dialects; the `_authz` ones add the user's permissions (`permissions`). Tokens here are RFC 9068 JWTs either way. */
export const TOKEN_DIALECTS = ['access_token', 'access_token_authz', 'rfc9068_profile', 'rfc9068_profile_authz'] as const;
export type TokenDialect = typeof TOKEN_DIALECTS[number];
export interface ResourceServer {
  id: string; name: string; identifier: string; scopes: Scope[]; signing_alg: 'ES256' | 'RS256'; token_lifetime: number; is_system: boolean;
  /** RBAC: a user's token carries only the scopes the user holds as permissions (src/roles/permissions.ts). */
  enforce_policies: boolean; token_dialect: TokenDialect;
  created_at: string; updated_at: string;
}
type Settings = { enforce_policies?: boolean; token_dialect?: TokenDialect };
export interface ClientGrant { id: string; client_id: string; audience: string; scope: string[]; created_at: string }

const SCOPE_RE = /^[\x21\x23-\x5b\x5d-\x7e]{1,280}$/;

function toRs(r: Record<string, unknown>): ResourceServer {
  return {
    id: r.id as string, name: r.name as string, identifier: r.identifier as string, scopes: parseJson<Scope[]>(r.scopes, []),
    signing_alg: r.signing_alg as 'ES256' | 'RS256', token_lifetime: Number(r.token_lifetime), is_system: toBool(r.is_system),
    enforce_policies: toBool(r.enforce_policies), token_dialect: (TOKEN_DIALECTS as readonly string[]).includes(r.token_dialect as string) ? r.token_dialect as TokenDialect : 'access_token',
    created_at: r.created_at as string, updated_at: r.updated_at as string,
  };
}
const toGrant = (r: Record<string, unknown>): ClientGrant => ({ id: r.id as string, client_id: r.client_id as string, audience: r.audience as string, scope: parseJson<string[]>(r.scope, []), created_at: r.created_at as string });

export function checkScopes(scopes: Scope[]) {
  const seen = new Set<string>();
  for (const s of scopes) {
    if (!SCOPE_RE.test(s.value)) throw badRequest(`scopes: "${s.value}" is not a valid scope value`);
    if (seen.has(s.value)) throw badRequest(`scopes: "${s.value}" appears twice`);
    seen.add(s.value);
  }
}

/**
 * APIs (Auth0's resource servers: identifier = audience) and client grants (which M2M client
 * may get which of an API's scopes). Both are read on every token request, so lookups are
 * cached briefly and invalidated on every write made through this node.
 */
export function createResourceServers(db: Db, defaults: { signingAlg: 'ES256' | 'RS256'; tokenLifetime: number }) {
  const rsCache = createTtlCache(2000, async (identifier: string) => {
    const r = await db('resource_servers').where({ identifier }).first();
    return r ? toRs(r) : undefined;
  });
  /** Keyed by client id and audience, joined by NUL (neither can contain it). */
  const grantCache = createTtlCache(2000, async (key: string) => {
    const [clientId, audience] = key.split('\u0000');
    const r = await db('client_grants').where({ client_id: clientId, audience }).first();
    return r ? toGrant(r) : undefined;
  });
  const clear = () => { rsCache.clear(); grantCache.clear(); };

  /** Client grants, of one client and/or one API when given. */
  const grantsOf = (f: { clientId?: string; audience?: string }) => {
    const q = db('client_grants');
    if (f.clientId) q.where({ client_id: f.clientId });
    if (f.audience) q.where({ audience: f.audience });
    return q;
  };

  return {
    async create(input: { name: string; identifier: string; scopes?: Scope[]; signing_alg?: 'ES256' | 'RS256'; token_lifetime?: number } & Settings, opts: { system?: boolean } = {}) {
      const scopes = input.scopes ?? [];
      checkScopes(scopes);
      const ts = new Date().toISOString();
      const row = {
        id: newResourceServerId(), name: input.name, identifier: input.identifier, scopes: JSON.stringify(scopes),
        signing_alg: input.signing_alg ?? defaults.signingAlg, token_lifetime: input.token_lifetime ?? defaults.tokenLifetime,
        is_system: opts.system ?? false, enforce_policies: input.enforce_policies ?? false, token_dialect: input.token_dialect ?? 'access_token',
        created_at: ts, updated_at: ts,
      };
      if (await db('resource_servers').where({ identifier: input.identifier }).first()) throw conflict(`A resource server with identifier "${input.identifier}" already exists`);
      await db('resource_servers').insert(row);
      clear();
      return toRs(row);
    },
    /** By id, else by identifier (as Auth0 accepts either): an id always wins, so one value never names two APIs. */
    async get(id: string) {
      const r = (await db('resource_servers').where({ id }).first()) ?? (await db('resource_servers').where({ identifier: id }).first());
      return r ? toRs(r) : undefined;
    },
    async require(id: string) {
      const r = await this.get(id);
      if (!r) throw notFound('The resource server does not exist', 'inexistent_resource_server');
      return r;
    },
    async list(opts: { page: number; perPage: number; identifiers?: string[] }) {
      const q = db('resource_servers');
      if (opts.identifiers) q.whereIn('identifier', opts.identifiers);
      const [{ n }] = await q.clone().count({ n: '*' });
      const rows = await q.orderBy('created_at').orderBy('id').limit(opts.perPage).offset(opts.page * opts.perPage);
      return { resource_servers: rows.map(toRs), total: Number(n) };
    },
    async update(id: string, patch: { name?: string; scopes?: Scope[]; signing_alg?: 'ES256' | 'RS256'; token_lifetime?: number } & Settings) {
      const cur = await this.require(id);
      if (patch.scopes) checkScopes(patch.scopes);
      await db.transaction(async (trx) => {
        await trx('resource_servers').where({ id: cur.id }).update({
          ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.scopes ? { scopes: JSON.stringify(patch.scopes) } : {}),
          ...(patch.signing_alg ? { signing_alg: patch.signing_alg } : {}), ...(patch.token_lifetime ? { token_lifetime: patch.token_lifetime } : {}),
          ...(patch.enforce_policies !== undefined ? { enforce_policies: patch.enforce_policies } : {}), ...(patch.token_dialect ? { token_dialect: patch.token_dialect } : {}),
          updated_at: new Date().toISOString(),
        });
        // A scope the API no longer has is no one's permission any more (as on Auth0).
        if (patch.scopes) {
          const kept = patch.scopes.map((x) => x.value);
          for (const table of ['role_permissions', 'user_permissions']) {
            await trx(table).where({ resource_server_identifier: cur.identifier }).whereNotIn('permission_name', kept).delete();
          }
        }
      });
      clear();
      return this.require(cur.id);
    },
    async remove(id: string) {
      const cur = await this.require(id);
      if (cur.is_system) throw badRequest('system resource servers cannot be deleted', 'operation_not_supported');
      await db('resource_servers').where({ id: cur.id }).delete();
      clear();
    },
    /** Hot path: the API behind an audience, cached (a cached answer is a plain value). */
    byIdentifier(identifier: string): ResourceServer | undefined | Promise<ResourceServer | undefined> {
      return rsCache.get(identifier);
    },
    grants: {
      async create(input: { client_id: string; audience: string; scope: string[] }) {
        const rs = await db('resource_servers').where({ identifier: input.audience }).first();
        if (!rs) throw notFound(`audience: no resource server with identifier "${input.audience}"`, 'inexistent_resource_server');
        const allowed = new Set(toRs(rs).scopes.map((s) => s.value));
        for (const s of input.scope) if (!allowed.has(s)) throw badRequest(`scope: "${s}" is not defined by ${input.audience}`);
        if (!(await db('clients').where({ client_id: input.client_id }).first())) throw notFound(`client_id: client "${input.client_id}" does not exist`, 'inexistent_client');
        if (await db('client_grants').where({ client_id: input.client_id, audience: input.audience }).first()) throw conflict('A client grant for this client and audience already exists');
        const row = { id: newClientGrantId(), client_id: input.client_id, audience: input.audience, scope: JSON.stringify([...new Set(input.scope)]), created_at: new Date().toISOString() };
        await db('client_grants').insert(row);
        clear();
        return toGrant(row);
      },
      async list(opts: { page: number; perPage: number; clientId?: string; audience?: string }) {
        const q = grantsOf(opts);
        const [{ n }] = await q.clone().count({ n: '*' });
        const rows = await q.orderBy('created_at').orderBy('id').limit(opts.perPage).offset(opts.page * opts.perPage);
        return { client_grants: rows.map(toGrant), total: Number(n) };
      },
      /** Checkpoint paging: `limit` grants after the one at (created_at, id) `after`, in that order. */
      async listAfter(opts: { after: string[] | undefined; limit: number; clientId?: string; audience?: string }) {
        const q = grantsOf(opts);
        const [at, id] = opts.after ?? [];
        if (at !== undefined) q.where((w) => { w.where('created_at', '>', at).orWhere((x) => { x.where('created_at', at).andWhere('id', '>', id ?? ''); }); });
        const rows = await q.orderBy('created_at').orderBy('id').limit(opts.limit);
        return rows.map(toGrant);
      },
      async get(id: string): Promise<ClientGrant | undefined> {
        const r = await db('client_grants').where({ id }).first();
        return r ? toGrant(r) : undefined;
      },
      async update(id: string, scope: string[]) {
        const cur = await db('client_grants').where({ id }).first();
        if (!cur) throw notFound('The client grant does not exist', 'inexistent_client_grant');
        const rs = toRs(await db('resource_servers').where({ identifier: cur.audience }).first());
        const allowed = new Set(rs.scopes.map((s) => s.value));
        for (const s of scope) if (!allowed.has(s)) throw badRequest(`scope: "${s}" is not defined by ${cur.audience}`);
        await db('client_grants').where({ id }).update({ scope: JSON.stringify([...new Set(scope)]) });
        clear();
        return toGrant(await db('client_grants').where({ id }).first());
      },
      async remove(id: string) {
        const n = await db('client_grants').where({ id }).delete();
        clear();
        if (!n) throw notFound('The client grant does not exist', 'inexistent_client_grant');
      },
      /** Drops what the cache holds: a client was deleted, and its grants with it (a cascade in SQL). */
      forget(): void { clear(); },
      /** Hot path: the grant for (client, audience), cached (a cached answer is a plain value). */
      find(clientId: string, audience: string): ClientGrant | undefined | Promise<ClientGrant | undefined> {
        return grantCache.get(`${clientId}\u0000${audience}`);
      },
    },
  };
}
export type ResourceServers = ReturnType<typeof createResourceServers>;
