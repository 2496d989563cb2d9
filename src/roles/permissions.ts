import type { Db } from '../db/knex.ts';
import { isSqlite, parseJson } from '../db/knex.ts';
import { badRequest, notFound } from '../shared/errors.ts';

/** A permission as the Management API names one: an API's scope. */
export interface PermissionRef { resource_server_identifier: string; permission_name: string }
/** A permission as the Management API shows one. */
export interface Permission extends PermissionRef { resource_server_name: string; description: string }
export interface PermissionSource { source_id: string; source_name: string; source_type: 'DIRECT' | 'ROLE' }

type Owner = { table: 'role_permissions'; column: 'role_id' } | { table: 'user_permissions'; column: 'user_id' };
const ROLE: Owner = { table: 'role_permissions', column: 'role_id' };
const USER: Owner = { table: 'user_permissions', column: 'user_id' };

/**
 * Auth0's RBAC permissions: an API's scopes given to roles and to users. A user holds those
 * given to it directly and those of its roles (`effective`, read at every token for an API
 * that enforces them: a change holds from the next token, refreshes included).
 */
export function createPermissions(db: Db) {
  /**
   * What the APIs say of `refs` (name, description). Given permissions (`check`): why one cannot
   * be given, read on `q` with the APIs' rows locked (PostgreSQL) so that a concurrent removal of
   * the scope waits for the insert, and its own clean-up then takes it. Stored ones: a row whose
   * API or scope went meanwhile is left out (it is no one's permission any more).
   */
  async function described(refs: PermissionRef[], o: { check?: boolean; q?: Db } = {}): Promise<Permission[]> {
    const ids = [...new Set(refs.map((r) => r.resource_server_identifier))];
    const q = (o.q ?? db)('resource_servers').whereIn('identifier', ids).select('identifier', 'name', 'scopes');
    const apis = new Map((await (o.check && !isSqlite(db) ? q.forUpdate() : q))
      .map((r) => [r.identifier as string, { name: r.name as string, scopes: new Map(parseJson<{ value: string; description?: string }[]>(r.scopes, []).map((s) => [s.value, s.description ?? ''])) }]));
    const out: Permission[] = [];
    for (const r of refs) {
      const api = apis.get(r.resource_server_identifier);
      const description = api?.scopes.get(r.permission_name);
      if (o.check && !api) throw notFound(`permissions: no resource server with identifier "${r.resource_server_identifier.slice(0, 200)}"`, 'inexistent_resource_server');
      if (o.check && description === undefined) throw badRequest(`permissions: "${r.permission_name.slice(0, 100)}" is not a scope of ${r.resource_server_identifier.slice(0, 200)}`, 'invalid_body');
      if (api && description !== undefined) out.push({ ...r, resource_server_name: api.name, description });
    }
    return out;
  }

  async function give(owner: Owner, id: string, refs: PermissionRef[]) {
    const at = Date.now();
    const rows = [...new Map(refs.map((r) => [`${r.resource_server_identifier}\u0000${r.permission_name}`, r])).values()]
      .map((r) => ({ [owner.column]: id, resource_server_identifier: r.resource_server_identifier, permission_name: r.permission_name, created_at: at }));
    await db.transaction(async (trx) => {
      await described(refs, { check: true, q: trx as unknown as Db });
      await trx(owner.table).insert(rows).onConflict([owner.column, 'resource_server_identifier', 'permission_name']).ignore();
    });
  }
  async function take(owner: Owner, id: string, refs: PermissionRef[]) {
    await db.transaction(async (trx) => {
      for (const r of refs) await trx(owner.table).where({ [owner.column]: id, resource_server_identifier: r.resource_server_identifier, permission_name: r.permission_name }).delete();
    });
  }
  /** One owner's permissions, by API then name, with what the APIs say of them. */
  async function of(owner: Owner, id: string, page?: { page: number; perPage: number }) {
    const q = db(owner.table).where({ [owner.column]: id }).orderBy('resource_server_identifier').orderBy('permission_name');
    const [{ n }] = await db(owner.table).where({ [owner.column]: id }).count({ n: '*' });
    const rows = await (page ? q.limit(page.perPage).offset(page.page * page.perPage) : q).select('resource_server_identifier', 'permission_name');
    return { permissions: await described(rows as PermissionRef[]), total: Number(n) };
  }

  return {
    forRole: (roleId: string, page?: { page: number; perPage: number }) => of(ROLE, roleId, page),
    giveRole: (roleId: string, refs: PermissionRef[]) => give(ROLE, roleId, refs),
    takeFromRole: (roleId: string, refs: PermissionRef[]) => take(ROLE, roleId, refs),
    giveUser: (userId: string, refs: PermissionRef[]) => give(USER, userId, refs),
    takeFromUser: (userId: string, refs: PermissionRef[]) => take(USER, userId, refs),

    /** Every permission a user holds, directly or through roles, each with where it comes from (Auth0's `sources`). */
    async forUser(userId: string): Promise<(Permission & { sources: PermissionSource[] })[]> {
      const direct = await db('user_permissions').where({ user_id: userId }).select('resource_server_identifier', 'permission_name');
      const viaRoles = await db('role_permissions').join('user_roles', 'user_roles.role_id', 'role_permissions.role_id').join('roles', 'roles.id', 'role_permissions.role_id')
        .where('user_roles.user_id', userId).select('role_permissions.resource_server_identifier', 'role_permissions.permission_name', 'roles.id as role_id', 'roles.name as role_name');
      const all = new Map<string, { ref: PermissionRef; sources: PermissionSource[] }>();
      const add = (ref: PermissionRef, source: PermissionSource) => {
        const key = `${ref.resource_server_identifier}\u0000${ref.permission_name}`;
        const e = all.get(key) ?? { ref: { resource_server_identifier: ref.resource_server_identifier, permission_name: ref.permission_name }, sources: [] };
        e.sources.push(source);
        all.set(key, e);
      };
      for (const r of direct) add(r as PermissionRef, { source_id: '', source_name: '', source_type: 'DIRECT' });
      for (const r of viaRoles) add(r as PermissionRef, { source_id: r.role_id as string, source_name: r.role_name as string, source_type: 'ROLE' });
      const entries = [...all.values()].sort((a, b) => a.ref.resource_server_identifier.localeCompare(b.ref.resource_server_identifier) || a.ref.permission_name.localeCompare(b.ref.permission_name));
      const sources = new Map(entries.map((e) => [`${e.ref.resource_server_identifier}\u0000${e.ref.permission_name}`, e.sources]));
      return (await described(entries.map((e) => e.ref))).map((p) => ({ ...p, sources: sources.get(`${p.resource_server_identifier}\u0000${p.permission_name}`)! }));
    },

    /**
     * The names of the permissions a user holds on one API, directly or through roles (sorted).
     * Signed in to an organization (`orgId`), only through the roles the user has as its member:
     * as on Auth0, a user's own roles and permissions do not apply there.
     */
    async effective(userId: string, identifier: string, orgId?: string): Promise<string[]> {
      if (orgId !== undefined) {
        const rows = await db('role_permissions').join('organization_member_roles', 'organization_member_roles.role_id', 'role_permissions.role_id')
          .where({ 'organization_member_roles.org_id': orgId, 'organization_member_roles.user_id': userId, 'role_permissions.resource_server_identifier': identifier })
          .select('role_permissions.permission_name');
        return [...new Set(rows.map((r) => r.permission_name as string))].sort();
      }
      const direct = db('user_permissions').where({ user_id: userId, resource_server_identifier: identifier }).select('permission_name');
      const viaRoles = db('role_permissions').join('user_roles', 'user_roles.role_id', 'role_permissions.role_id')
        .where({ 'user_roles.user_id': userId, 'role_permissions.resource_server_identifier': identifier }).select('role_permissions.permission_name');
      const rows = await direct.union(viaRoles);
      return [...new Set(rows.map((r) => r.permission_name as string))].sort();
    },
  };
}
export type Permissions = ReturnType<typeof createPermissions>;
