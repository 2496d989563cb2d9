import { errors } from 'oidc-provider';
import type { Db } from '../db/knex.ts';
import { toNum } from '../db/knex.ts';

type Payload = Record<string, unknown> & { grantId?: string; userCode?: string; uid?: string; consumed?: number };

/** Supplies Client metadata from the `clients` table (managed by the clients library). */
export interface ClientSource { findClientMetadata(clientId: string): Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined> }

/**
 * oidc-provider adapter over knex: one table for every model, keyed by (type, id).
 *
 * `consume` is one conditional UPDATE whose row count is checked: oidc-provider reads
 * `consumed` and then calls `consume()` separately, so without this two parallel requests
 * could both redeem one authorization code or rotate one refresh token.
 */
export function createAdapterFactory(db: Db, clients: ClientSource) {
  return class KnexAdapter {
    type: string;
    constructor(name: string) { this.type = name; }

    async upsert(id: string, payload: Payload, expiresIn?: number) {
      const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : null;
      await db('oidc_payloads').insert({
        id, type: this.type, payload: JSON.stringify(payload), grant_id: payload.grantId ?? null,
        user_code: payload.userCode ?? null, uid: payload.uid ?? null, expires_at: expiresAt, consumed_at: null,
      }).onConflict(['type', 'id']).merge();
    }

    async #findWhere(where: Record<string, string>): Promise<Payload | undefined> {
      const row = await db('oidc_payloads').select('payload', 'consumed_at', 'expires_at').where({ type: this.type, ...where }).first();
      if (!row) return undefined;
      const expiresAt = toNum(row.expires_at);
      if (expiresAt !== null && expiresAt <= Date.now()) return undefined;
      const payload = JSON.parse(row.payload) as Payload;
      const consumedAt = toNum(row.consumed_at);
      if (consumedAt !== null) payload.consumed = Math.floor(consumedAt / 1000);
      return payload;
    }

    async find(id: string) {
      if (this.type === 'Client') return clients.findClientMetadata(id);
      return this.#findWhere({ id });
    }
    async findByUid(uid: string) { return this.#findWhere({ uid }); }
    async findByUserCode(userCode: string) { return this.#findWhere({ user_code: userCode }); }
    async destroy(id: string) { await db('oidc_payloads').where({ type: this.type, id }).delete(); }
    async revokeByGrantId(grantId: string) { await db('oidc_payloads').where({ grant_id: grantId }).delete(); }

    async consume(id: string) {
      const n = await db('oidc_payloads').where({ type: this.type, id }).whereNull('consumed_at').update({ consumed_at: Date.now() });
      if (n === 0) throw new errors.InvalidGrant(`${this.type} already consumed`);
    }
  };
}

/** Deletes expired rows; returns how many. Runs on a timer in the server. */
export async function sweepExpired(db: Db): Promise<number> {
  return db('oidc_payloads').where('expires_at', '<=', Date.now()).delete();
}
