import type { Db } from '../db/knex.ts';
import { isUniqueViolation, parseJson } from '../db/knex.ts';
import { badRequest, conflict, notFound } from '../shared/errors.ts';
import { randomId } from '../shared/ids.ts';

/**
 * Auth0's organizations: a business customer of an app, its members, and the roles each member
 * holds in it. Names are Auth0's: lower case letters, digits, `-` and `_`, at most 50, unique.
 * `metadata` holds up to 25 string values (Auth0's limit); `branding` is kept as given
 * (`logo_url`, `colors`).
 */
export interface OrganizationInput { name: string; display_name?: string; branding?: Record<string, unknown>; metadata?: Record<string, string> }
interface Row { id: string; name: string; display_name: string; branding: string; metadata: string }

const NAME = /^[a-z0-9](?:[a-z0-9_-]{0,48}[a-z0-9])?$/;
const toApi = (r: Row) => ({
  id: r.id, name: r.name, display_name: r.display_name,
  branding: parseJson<Record<string, unknown>>(r.branding, {}), metadata: parseJson<Record<string, string>>(r.metadata, {}),
});
export type Organization = ReturnType<typeof toApi>;

function check(i: Partial<OrganizationInput>) {
  if (i.name !== undefined && !NAME.test(i.name)) throw badRequest('name: lower case letters, digits, - and _, 1 to 50 characters, starting and ending with a letter or digit');
  if (i.metadata && Object.keys(i.metadata).length > 25) throw badRequest('metadata: at most 25 keys');
}

export function createOrganizations(db: Db) {
  async function row(idOrName: { id?: string; name?: string }): Promise<Row | undefined> {
    return db('organizations').where(idOrName.id !== undefined ? { id: idOrName.id } : { name: idOrName.name }).first();
  }
  const members = (orgId: string) => db('organization_members').join('users', 'users.id', 'organization_members.user_id')
    .where('organization_members.org_id', orgId).select('users.id as user_id', 'users.email', 'users.name', 'users.picture').orderBy('users.id');

  return {
    async create(i: OrganizationInput) {
      check(i);
      const id = `org_${randomId(12).replace(/[-_]/g, 'x')}`;
      const ts = new Date().toISOString();
      try {
        await db('organizations').insert({
          id, name: i.name, display_name: i.display_name ?? '', branding: JSON.stringify(i.branding ?? {}), metadata: JSON.stringify(i.metadata ?? {}), created_at: ts, updated_at: ts,
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict(`An organization named "${i.name}" already exists`, 'organization_conflict');
        throw e;
      }
      return this.require(id);
    },
    async get(id: string) { const r = await row({ id }); return r ? toApi(r) : undefined; },
    async byName(name: string) { const r = await row({ name: name.toLowerCase() }); return r ? toApi(r) : undefined; },
    async require(id: string) {
      const r = await row({ id });
      if (!r) throw notFound('No organization found by that id or name', 'inexistent_organization');
      return toApi(r);
    },
    async list(o: { page: number; perPage: number }) {
      const [{ n }] = await db('organizations').count({ n: '*' });
      const rows = await db('organizations').orderBy('id').limit(o.perPage).offset(o.page * o.perPage) as Row[];
      return { organizations: rows.map(toApi), total: Number(n) };
    },
    /** Checkpoint paging (Auth0's from/take): after the organization with id `after`, by id. */
    async listAfter(after: string | undefined, limit: number) {
      const q = db('organizations').orderBy('id').limit(limit);
      if (after !== undefined) q.where('id', '>', after);
      return (await q as Row[]).map(toApi);
    },
    async update(id: string, patch: Partial<OrganizationInput>) {
      await this.require(id);
      check(patch);
      try {
        await db('organizations').where({ id }).update({
          ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.display_name !== undefined ? { display_name: patch.display_name } : {}),
          ...(patch.branding !== undefined ? { branding: JSON.stringify(patch.branding) } : {}), ...(patch.metadata !== undefined ? { metadata: JSON.stringify(patch.metadata) } : {}),
          updated_at: new Date().toISOString(),
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict(`An organization named "${patch.name}" already exists`, 'organization_conflict');
        throw e;
      }
      return this.require(id);
    },
    async remove(id: string) {
      if (!(await db('organizations').where({ id }).delete())) throw notFound('No organization found by that id or name', 'inexistent_organization');
    },

    async members(orgId: string, o: { page: number; perPage: number }) {
      const [{ n }] = await db('organization_members').where({ org_id: orgId }).count({ n: '*' });
      return { members: await members(orgId).limit(o.perPage).offset(o.page * o.perPage), total: Number(n) };
    },
    async membersAfter(orgId: string, after: string | undefined, limit: number) {
      const q = members(orgId).limit(limit);
      if (after !== undefined) q.where('users.id', '>', after);
      return q;
    },
    async addMembers(orgId: string, userIds: string[]) {
      const ids = [...new Set(userIds)];
      const found = await db('users').whereIn('id', ids).select('id');
      if (found.length !== ids.length) throw badRequest('members: one or more users do not exist', 'inexistent_user');
      const ts = new Date().toISOString();
      await db('organization_members').insert(ids.map((user_id) => ({ org_id: orgId, user_id, created_at: ts }))).onConflict(['org_id', 'user_id']).ignore();
    },
    async removeMembers(orgId: string, userIds: string[]) {
      await db('organization_members').where({ org_id: orgId }).whereIn('user_id', userIds).delete();
    },
    async isMember(orgId: string, userId: string): Promise<boolean> {
      return !!(await db('organization_members').where({ org_id: orgId, user_id: userId }).first('user_id'));
    },
    /** The organizations a user belongs to (GET /users/{id}/organizations), by id. */
    async ofUser(userId: string, o: { page: number; perPage: number }) {
      const q = db('organization_members').join('organizations', 'organizations.id', 'organization_members.org_id').where('organization_members.user_id', userId);
      const [{ n }] = await q.clone().count({ n: '*' });
      const rows = await q.select('organizations.*').orderBy('organizations.id').limit(o.perPage).offset(o.page * o.perPage) as Row[];
      return { organizations: rows.map(toApi), total: Number(n) };
    },

    /** Whether a user belongs to any organization (one indexed read). */
    async belongsToAny(userId: string): Promise<boolean> {
      return !!(await db('organization_members').where({ user_id: userId }).first('org_id'));
    },
    /** Every organization a user belongs to, its id and the name a person is shown (the display name, else the name). */
    async namesOfUser(userId: string): Promise<{ id: string; label: string }[]> {
      const rows = await db('organization_members').join('organizations', 'organizations.id', 'organization_members.org_id')
        .where('organization_members.user_id', userId).select('organizations.id', 'organizations.name', 'organizations.display_name') as Pick<Row, 'id' | 'name' | 'display_name'>[];
      return rows.map((r) => ({ id: r.id, label: r.display_name || r.name }));
    },
    async memberRoles(orgId: string, userId: string) {
      return db('organization_member_roles').join('roles', 'roles.id', 'organization_member_roles.role_id')
        .where({ 'organization_member_roles.org_id': orgId, 'organization_member_roles.user_id': userId })
        .select('roles.id', 'roles.name', 'roles.description').orderBy('roles.name') as Promise<{ id: string; name: string; description: string }[]>;
    },
    async assignMemberRoles(orgId: string, userId: string, roleIds: string[]) {
      if (!(await this.isMember(orgId, userId))) throw badRequest('The user is not a member of the organization', 'not_a_member');
      const ids = [...new Set(roleIds)];
      const found = await db('roles').whereIn('id', ids).select('id');
      if (found.length !== ids.length) throw badRequest('roles: one or more roles do not exist', 'inexistent_role');
      await db('organization_member_roles').insert(ids.map((role_id) => ({ org_id: orgId, user_id: userId, role_id }))).onConflict(['org_id', 'user_id', 'role_id']).ignore();
    },
    async removeMemberRoles(orgId: string, userId: string, roleIds: string[]) {
      await db('organization_member_roles').where({ org_id: orgId, user_id: userId }).whereIn('role_id', roleIds).delete();
    },
  };
}
export type Organizations = ReturnType<typeof createOrganizations>;
