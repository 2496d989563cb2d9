import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { ADVISORY_LOCKS, isSqlite, toNum } from '../db/knex.ts';
import type { Knex } from 'knex';
import type { SecretBox } from '../shared/secret-box.ts';

export type SigningAlg = 'ES256' | 'RS256';
const ALGS: SigningAlg[] = ['ES256', 'RS256'];

export interface SigningKeyRow {
  kid: string; alg: SigningAlg; status: 'current' | 'previous'; created_at: number; rotated_at: number | null; public_jwk: Record<string, unknown>;
  /** It signs now (for its algorithm). */
  signing: boolean;
  /** Published, and signs from `activates_at` on (a rotation's new key while every node learns of it). */
  pending: boolean;
  activates_at: number;
}

function generate(alg: SigningAlg) {
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const kid = randomBytes(12).toString('base64url');
  const priv = { ...jwk, kid, alg, use: 'sig' };
  const pub: Record<string, unknown> = { kid, alg, use: 'sig', kty: jwk.kty };
  for (const k of alg === 'ES256' ? ['crv', 'x', 'y'] : ['n', 'e']) pub[k] = jwk[k];
  return { kid, priv, pub };
}

/**
 * Signing keys live in the database, private halves sealed with the secrets key. Each
 * algorithm has one `current` key and may have `previous` keys (still published in the JWKS so
 * tokens they signed verify until those expire).
 *
 * Several nodes (PostgreSQL): a rotation's new key is published by every node before any signs
 * with it, as Auth0 and Keycloak do. A verifier that fetches the JWKS on an unknown kid (jose
 * then waits 30 s before it fetches again) must never get a JWKS without the key that signed
 * its token from a node that has not reloaded yet. So a rotation's key signs only from
 * `activates_at`, `activationDelayMs` (longer than the nodes' key poll) after the rotation by the
 * database's clock, kept in its row; until then the key it replaces goes on signing. The signing
 * key of an algorithm is its newest key whose time has come, or its oldest key when none has
 * (never, once a first key exists: it signs from its creation). One node (SQLite): no delay.
 */
export function createKeyStore(db: Db, box: SecretBox, opts: { activationDelayMs?: number } = {}) {
  const delay = Math.max(0, opts.activationDelayMs ?? 0);
  const sqlite = isSqlite(db);
  /** The database's clock (PostgreSQL: one clock for every node; SQLite: one process). */
  async function now(q: Db | Knex.Transaction = db): Promise<number> {
    if (sqlite) return Date.now();
    const r = await q.raw('select (extract(epoch from clock_timestamp()) * 1000)::bigint as now') as { rows: { now: string }[] };
    return Number(r.rows[0].now);
  }
  async function insert(q: Db | Knex.Transaction, alg: SigningAlg, at: number, activatesAt: number | null) {
    const { kid, priv, pub } = generate(alg);
    await q('signing_keys').insert({
      kid, alg, status: 'current', created_at: at, rotated_at: null, activates_at: activatesAt,
      private_jwk_sealed: box.seal(JSON.stringify(priv), `signing-key:${kid}`), public_jwk: JSON.stringify(pub),
    });
    return kid;
  }
  type KeyTimes = { kid: string; alg: string; created_at: unknown; activates_at?: unknown };
  const activatesAt = (r: KeyTimes) => (r.activates_at === null || r.activates_at === undefined ? Number(r.created_at) : Number(r.activates_at));
  /** The kid that signs at `at` for each algorithm (see above), from rows of any order. */
  function signingKids(rows: KeyTimes[], at: number): Set<string> {
    const out = new Set<string>();
    for (const alg of ALGS) {
      const mine = rows.filter((r) => r.alg === alg).sort((a, b) => Number(b.created_at) - Number(a.created_at));
      const active = mine.find((r) => activatesAt(r) <= at) ?? mine[mine.length - 1];
      if (active) out.add(active.kid);
    }
    return out;
  }
  const TIMES = ['kid', 'alg', 'created_at', 'activates_at'];
  /** Serialises key changes between nodes (PostgreSQL); SQLite has one writer at a time. */
  async function locked<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return db.transaction(async (trx) => {
      if (!sqlite) await trx.raw('select pg_advisory_xact_lock(?)', [ADVISORY_LOCKS.signingKeys]);
      return fn(trx);
    });
  }

  return {
    /**
     * Creates a current key for every algorithm that lacks one (first start). Several current
     * keys of one algorithm (nodes that started together before start-up was serialised) are put
     * right: the newest stays current. Answers the kids it demoted.
     */
    async ensure(): Promise<string[]> {
      return locked(async (trx) => {
        const demoted: string[] = [];
        const at = await now(trx);
        for (const alg of ALGS) {
          const cur = await trx('signing_keys').where({ alg, status: 'current' }).orderBy('created_at', 'desc').select('kid');
          if (cur.length === 0) await insert(trx, alg, at, null);
          for (const extra of cur.slice(1)) {
            await trx('signing_keys').where({ kid: extra.kid }).update({ status: 'previous', rotated_at: at });
            demoted.push(extra.kid);
          }
        }
        return demoted;
      });
    },
    /** Private JWKs for oidc-provider: the signing key of each algorithm first (the default algorithm's first of all), then the rest, newest first. */
    async privateJwks(defaultAlg: SigningAlg): Promise<Record<string, unknown>[]> {
      const rows = await db('signing_keys').select(...TIMES, 'status', 'private_jwk_sealed');
      const signing = signingKids(rows, await now());
      const rank = (r: { kid: string; alg: string }) => (signing.has(r.kid) ? 0 : 2) + (r.alg === defaultAlg ? 0 : 1);
      rows.sort((a, b) => rank(a) - rank(b) || Number(b.created_at) - Number(a.created_at));
      return rows.map((r) => JSON.parse(box.open(r.private_jwk_sealed, `signing-key:${r.kid}`)));
    },
    async list(): Promise<SigningKeyRow[]> {
      const rows = await db('signing_keys').select(...TIMES, 'status', 'rotated_at', 'public_jwk').orderBy('created_at', 'desc');
      const signing = signingKids(rows, await now());
      return rows.map((r) => ({
        kid: r.kid, alg: r.alg, status: r.status, created_at: Number(r.created_at), rotated_at: toNum(r.rotated_at), public_jwk: JSON.parse(r.public_jwk),
        signing: signing.has(r.kid), pending: r.status === 'current' && !signing.has(r.kid), activates_at: activatesAt(r),
      }));
    },
    /**
     * New current key per algorithm; the old one becomes `previous` (it signs on until the new
     * one activates) and stays published until `retire` drops it. Rotations from several nodes
     * at once run one after the other.
     */
    async rotate(): Promise<{ kid: string; alg: SigningAlg; activates_at: number }[]> {
      return locked(async (trx) => {
        const at = await now(trx);
        const from = delay > 0 ? at + delay : null;
        const out: { kid: string; alg: SigningAlg; activates_at: number }[] = [];
        await trx('signing_keys').where({ status: 'current' }).update({ status: 'previous', rotated_at: at });
        for (const alg of ALGS) out.push({ kid: await insert(trx, alg, at, from), alg, activates_at: from ?? at });
        return out;
      });
    },
    /**
     * Drops a previous key at once (it leaves the JWKS: every token it signed stops verifying),
     * for a key that leaked. 'current' for the current key (rotate first); 'signing' for a
     * previous key that still signs because the rotation's new key has not activated yet
     * (revoking it would hand signing to an older key, or to the new one before every node
     * publishes it); 'missing' when unknown.
     */
    async revoke(kid: string): Promise<'revoked' | 'current' | 'signing' | 'missing'> {
      return locked(async (trx) => {
        const rows = await trx('signing_keys').select(...TIMES, 'status');
        const row = rows.find((r) => r.kid === kid);
        if (!row) return 'missing';
        if (row.status !== 'previous') return 'current';
        if (signingKids(rows, await now(trx)).has(kid)) return 'signing';
        await trx('signing_keys').where({ kid }).delete();
        return 'revoked';
      });
    },
    /** Drops previous keys whose tokens have all expired (they signed until the key after them activated). */
    async retire(retireAfterMs: number): Promise<number> {
      // An hour's margin at least: the key after it may have been made by a node with a longer delay.
      return db('signing_keys').where({ status: 'previous' }).andWhere('rotated_at', '<', (await now()) - retireAfterMs - Math.max(delay, 3_600_000)).delete();
    },
    /**
     * Changes whenever keys are added or removed, or another key starts signing, so every node
     * notices a rotation, a revocation or an activation on its next poll.
     */
    async version(): Promise<string> {
      const rows = await db('signing_keys').select(...TIMES);
      const kids = rows.map((r) => r.kid as string).sort().join(',');
      return `${kids}|${[...signingKids(rows, await now())].sort().join(',')}`;
    },
  };
}

/** The activation delay of a new signing key: none for one node (SQLite), else `keys.activationDelaySeconds` (default 10 s: five of the nodes' 2 s key polls). */
export function keyActivationDelayMs(config: { keys: { activationDelaySeconds?: number } }, db: Db): number {
  if (config.keys.activationDelaySeconds !== undefined) return config.keys.activationDelaySeconds * 1000;
  return isSqlite(db) ? 0 : 10_000;
}
export type KeyStore = ReturnType<typeof createKeyStore>;
