import type { Db } from '../db/knex.ts';
import { isSqlite } from '../db/knex.ts';

/**
 * The authorizations a user gave applications: oidc-provider's Grant records (what a client may
 * ask for on the user's behalf), with what hangs off each (refresh and access tokens, codes).
 * Read for the account page's "Apps with access" and the Management API's `/grants` (Auth0's
 * shape); revoking one deletes the Grant and every token issued under it, so a refresh token
 * stops working at once and a third-party app must ask for consent again.
 */
export interface UserGrant {
  id: string; clientId: string; accountId: string;
  /** OpenID scopes (openid profile email offline_access) granted. */
  scopes: string[];
  /** API identifier → scopes granted for it. */
  resources: Record<string, string[]>;
  createdAt: number; expiresAt: number | null;
  /** Whether a refresh token issued under this grant is still stored (the app can keep access without the user). */
  offline: boolean;
}

interface GrantPayload {
  accountId?: unknown; clientId?: unknown; openid?: { scope?: unknown }; resources?: Record<string, unknown>; iat?: unknown; exp?: unknown;
  /** Scopes taken back (a post-login action's removeScope): oidc-provider keeps them in `openid`/`resources` too. */
  rejected?: { openid?: { scope?: unknown }; resources?: Record<string, unknown> };
}
const words = (v: unknown) => (typeof v === 'string' ? v.split(' ').filter(Boolean) : []);

function toGrant(id: string, p: GrantPayload, offline: boolean): UserGrant | undefined {
  if (typeof p.accountId !== 'string' || typeof p.clientId !== 'string') return undefined;
  // What the grant holds: granted and not rejected since (oidc-provider's getResourceScope does the same).
  const without = (granted: unknown, rejected: unknown) => { const r = new Set(words(rejected)); return words(granted).filter((s) => !r.has(s)); };
  const resources: Record<string, string[]> = {};
  for (const [aud, scope] of Object.entries(p.resources ?? {})) resources[aud] = without(scope, p.rejected?.resources?.[aud]);
  return {
    id, clientId: p.clientId, accountId: p.accountId, scopes: without(p.openid?.scope, p.rejected?.openid?.scope), resources,
    createdAt: typeof p.iat === 'number' ? p.iat * 1000 : 0, expiresAt: typeof p.exp === 'number' ? p.exp * 1000 : null, offline,
  };
}

export function createGrants(db: Db) {
  /** `indicator`: grants holding scopes of this API (its resource indicator); `noApi`: grants for no API at all. */
  type Filter = { userId?: string; clientId?: string; indicator?: string; noApi?: boolean };
  /**
   * The payload holds `needle` as it is: an exact, case-sensitive search (SQLite's LIKE ignores
   * ASCII case, so a grant for …/Orders would pass a prefilter for …/orders and take a place
   * in the SQL page that the parse then empties).
   */
  const holding = (needle: string): [string, string[]] => (isSqlite(db) ? ['instr(payload, ?) > 0', [needle]] : ['strpos(payload, ?) > 0', [needle]]);
  /**
   * The payload's `resources` has the API as a member: what the parse keeps, decided in SQL so
   * that a page and its total hold only such grants (a grant naming the API only among its
   * `rejected` scopes, where a post-login action's removeScope leaves it, passes the prefilter).
   */
  const hasApi = (indicator: string): [string, string[]] => (isSqlite(db)
    ? ["exists (select 1 from json_each(payload, '$.resources') where key = ?)", [indicator]]
    : ["(payload::jsonb -> 'resources' -> ?) is not null", [indicator]]);
  const noApi = isSqlite(db) ? "not exists (select 1 from json_each(payload, '$.resources'))" : "coalesce(payload::jsonb -> 'resources', '{}'::jsonb) = '{}'::jsonb";
  /** The live Grant rows matching the filters (by the indexed account_id; the client and the API by a prefilter on the payload's text). */
  function rowsOf(f: Filter) {
    let q = db('oidc_payloads').where({ type: 'Grant' }).andWhere((b) => b.whereNull('expires_at').orWhere('expires_at', '>', Date.now()));
    if (f.userId) q = q.andWhere({ account_id: f.userId });
    if (f.clientId) q = q.andWhereRaw(...holding(JSON.stringify({ clientId: f.clientId }).slice(1, -1)));
    // The API as a member name in the payload's text (a cheap prefilter), then in its `resources`.
    if (f.indicator) q = q.andWhereRaw(...holding(`${JSON.stringify(f.indicator)}:`)).andWhereRaw(...hasApi(f.indicator));
    if (f.noApi) q = q.andWhereRaw(noApi);
    return q;
  }
  /** Parses rows into grants, the prefilter's strays dropped (the parsed payload decides); `offline` not looked up. */
  function parse(rows: { id: string; payload: string }[], f: Filter): UserGrant[] {
    const grants: UserGrant[] = [];
    for (const r of rows) {
      let p: GrantPayload;
      try { p = JSON.parse(r.payload) as GrantPayload; } catch { continue; }
      // The LIKE is a prefilter: the parsed payload decides.
      if ((f.userId && p.accountId !== f.userId) || (f.clientId && p.clientId !== f.clientId)) continue;
      const g = toGrant(r.id, p, false);
      if (g && (!f.indicator || Object.hasOwn(g.resources, f.indicator)) && (!f.noApi || Object.keys(g.resources).length === 0)) grants.push(g);
    }
    return grants;
  }
  /** Sets `offline` on each grant: whether a live refresh token was issued under it. */
  async function markOffline(grants: UserGrant[]): Promise<UserGrant[]> {
    if (grants.length > 0) {
      const offline = new Set<string>();
      for (let i = 0; i < grants.length; i += 200) {
        const ids = grants.slice(i, i + 200).map((g) => g.id);
        const live: { grant_id: string }[] = await db('oidc_payloads').where({ type: 'RefreshToken' }).whereIn('grant_id', ids)
          .whereNull('consumed_at').andWhere((b) => b.whereNull('expires_at').orWhere('expires_at', '>', Date.now())).distinct('grant_id');
        for (const r of live) offline.add(r.grant_id);
      }
      for (const g of grants) g.offline = offline.has(g.id);
    }
    return grants;
  }

  /** Every grant matching the filters, newest first (`offline` looked up unless `offline: false`). */
  async function list(f: Filter = {}, o: { offline?: boolean } = {}): Promise<UserGrant[]> {
    const parsed = parse(await rowsOf(f).select('id', 'payload'), f);
    const grants = o.offline === false ? parsed : await markOffline(parsed);
    return grants.sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Deletes grants and every token issued under them; the number of rows removed. */
  async function revoke(ids: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      n += await db('oidc_payloads').whereIn('grant_id', chunk).whereNot({ type: 'Grant' }).delete();
      n += await db('oidc_payloads').where({ type: 'Grant' }).whereIn('id', chunk).delete();
    }
    return n;
  }

  return {
    list,
    /**
     * One page of the grants matching the filters, newest first (a grant's expiry follows its
     * creation), and how many there are: paged in SQL, so listing a large tenant's grants does
     * not read them all.
     */
    async page(f: Filter, p: { offset: number; limit: number }): Promise<{ grants: UserGrant[]; total: number }> {
      const [{ n }] = await rowsOf(f).count({ n: '*' }) as { n: number | string }[];
      const rows = await rowsOf(f).orderBy([{ column: 'expires_at', order: 'desc' }, { column: 'id', order: 'asc' }]).offset(p.offset).limit(p.limit).select('id', 'payload');
      return { grants: await markOffline(parse(rows, f)), total: Number(n) };
    },
    /** Sets `offline` on grants read with `list(…, { offline: false })`. */
    markOffline,
    async get(id: string): Promise<UserGrant | undefined> {
      const r: { id: string; payload: string } | undefined = await db('oidc_payloads').where({ type: 'Grant', id }).first('id', 'payload');
      if (!r) return undefined;
      try { return toGrant(r.id, JSON.parse(r.payload) as GrantPayload, false); } catch { return undefined; }
    },
    revoke,
    /** Everything `userId` granted `clientId`: its grants and their tokens. */
    async revokeClient(userId: string, clientId: string): Promise<number> {
      const f = { userId, clientId };
      const ids = parse(await rowsOf(f).select('id', 'payload'), f).map((g) => g.id);
      if (ids.length === 0) return 0;
      const n = await revoke(ids);
      // The claims post-login actions decided for this user at this app go with the access.
      await db('action_login_claims').where({ account_id: userId, client_id: clientId }).delete();
      return n;
    },
  };
}
export type Grants = ReturnType<typeof createGrants>;
