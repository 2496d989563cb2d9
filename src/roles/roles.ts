import type { Db } from '../db/knex.ts';
import { conflict, notFound } from '../shared/errors.ts';
import { newRoleId } from '../shared/ids.ts';

export interface Role { id: string; name: string; description: string }

/** Roles and their assignment to users (names reach Actions as `event.authorization.roles`). */
export function createRoles(db: Db) {
  const toRole = (r: Record<string, unknown>): Role => ({ id: r.id as string, name: r.name as string, description: r.description as string });
  /** A role's users, by address (unique, so also the checkpoint key). */
  const members = (roleId: string) => db('user_roles').join('users', 'users.id', 'user_roles.user_id').where('user_roles.role_id', roleId)
    .select('users.id as user_id', 'users.email', 'users.name', 'users.picture').orderBy('users.email');

  return {
    async create(input: { name: string; description?: string }) {
      if (await db('roles').where({ name: input.name }).first()) throw conflict(`A role named "${input.name}" already exists`);
      const row = { id: newRoleId(), name: input.name, description: input.description ?? '', created_at: new Date().toISOString() };
      await db('roles').insert(row);
      return toRole(row);
    },
    async get(id: string) { const r = await db('roles').where({ id }).first(); return r ? toRole(r) : undefined; },
    async require(id: string) {
      const r = await this.get(id);
      if (!r) throw notFound('The role does not exist.', 'inexistent_role');
      return r;
    },
    async list(opts: { page: number; perPage: number; nameFilter?: string }) {
      const q = db('roles');
      // A substring of the name, case-insensitive as Auth0's name_filter; % _ and \ match themselves.
      if (opts.nameFilter) q.whereRaw("lower(name) like ? escape '\\'", [`%${opts.nameFilter.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`]);
      const [{ n }] = await q.clone().count({ n: '*' });
      const rows = await q.orderBy('name').limit(opts.perPage).offset(opts.page * opts.perPage);
      return { roles: rows.map(toRole), total: Number(n) };
    },
    async update(id: string, patch: { name?: string; description?: string }) {
      await this.require(id);
      if (patch.name && (await db('roles').where({ name: patch.name }).whereNot({ id }).first())) throw conflict(`A role named "${patch.name}" already exists`);
      await db('roles').where({ id }).update({ ...(patch.name ? { name: patch.name } : {}), ...(patch.description !== undefined ? { description: patch.description } : {}) });
      return this.require(id);
    },
    async remove(id: string) { if (!(await db('roles').where({ id }).delete())) throw notFound('The role does not exist.', 'inexistent_role'); },
    async forUser(userId: string, page?: { page: number; perPage: number }): Promise<Role[]> {
      const q = db('user_roles').join('roles', 'roles.id', 'user_roles.role_id').where('user_roles.user_id', userId).select('roles.*').orderBy('roles.name');
      if (page) q.limit(page.perPage).offset(page.page * page.perPage);
      return (await q).map(toRole);
    },
    async assign(userId: string, roleIds: string[]) {
      const ids = [...new Set(roleIds)];
      const found = await db('roles').whereIn('id', ids).select('id');
      if (found.length !== ids.length) throw notFound('roles: one or more roles do not exist', 'inexistent_role');
      await db('user_roles').insert(ids.map((role_id) => ({ user_id: userId, role_id }))).onConflict(['user_id', 'role_id']).ignore();
    },
    async unassign(userId: string, roleIds: string[]) { await db('user_roles').where({ user_id: userId }).whereIn('role_id', roleIds).delete(); },
    async usersWithRole(roleId: string, opts: { page: number; perPage: number }) {
      return members(roleId).limit(opts.perPage).offset(opts.page * opts.perPage);
    },
    /** Checkpoint paging: `limit` users with the role after the one with address `afterEmail`, by address (unique). */
    async usersWithRoleAfter(roleId: string, afterEmail: string | undefined, limit: number) {
      const q = members(roleId);
      if (afterEmail !== undefined) q.where('users.email', '>', afterEmail);
      return q.limit(limit);
    },
    async countUsersWithRole(roleId: string): Promise<number> {
      const [{ n }] = await db('user_roles').where({ role_id: roleId }).count({ n: '*' });
      return Number(n);
    },
    async countForUser(userId: string): Promise<number> {
      const [{ n }] = await db('user_roles').where({ user_id: userId }).count({ n: '*' });
      return Number(n);
    },
    /** Gives the role to each user; 404 naming the field when a user does not exist (no partial write). */
    async assignUsers(roleId: string, userIds: string[]) {
      const ids = [...new Set(userIds)];
      const found = await db('users').whereIn('id', ids).select('id');
      if (found.length !== ids.length) throw notFound('users: one or more users do not exist', 'inexistent_user');
      await db('user_roles').insert(ids.map((user_id) => ({ user_id, role_id: roleId }))).onConflict(['user_id', 'role_id']).ignore();
    },
  };
}
export type Roles = ReturnType<typeof createRoles>;
