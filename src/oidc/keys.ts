import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { toNum } from '../db/knex.ts';
import type { SecretBox } from '../shared/secret-box.ts';

export type SigningAlg = 'ES256' | 'RS256';
const ALGS: SigningAlg[] = ['ES256', 'RS256'];

export interface SigningKeyRow { kid: string; alg: SigningAlg; status: 'current' | 'previous'; created_at: number; rotated_at: number | null; public_jwk: Record<string, unknown> }

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
 * algorithm has one `current` key (signs) and may have `previous` keys (still published in
 * the JWKS so tokens they signed verify until those expire).
 */
export function createKeyStore(db: Db, box: SecretBox) {
  async function insert(alg: SigningAlg) {
    const { kid, priv, pub } = generate(alg);
    await db('signing_keys').insert({
      kid, alg, status: 'current', created_at: Date.now(), rotated_at: null,
      private_jwk_sealed: box.seal(JSON.stringify(priv), `signing-key:${kid}`), public_jwk: JSON.stringify(pub),
    });
    return kid;
  }

  return {
    /** Creates a current key for every algorithm that lacks one (first start). */
    async ensure(): Promise<string[]> {
      const created: string[] = [];
      for (const alg of ALGS) {
        const cur = await db('signing_keys').where({ alg, status: 'current' }).first();
        if (!cur) created.push(await insert(alg));
      }
      return created;
    },
    /** Private JWKs for oidc-provider: current keys first (they sign), then previous ones. */
    async privateJwks(defaultAlg: SigningAlg): Promise<Record<string, unknown>[]> {
      const rows = await db('signing_keys').select('kid', 'alg', 'status', 'private_jwk_sealed', 'created_at');
      const rank = (r: { alg: string; status: string }) => (r.status === 'current' ? 0 : 2) + (r.alg === defaultAlg ? 0 : 1);
      rows.sort((a, b) => rank(a) - rank(b) || Number(b.created_at) - Number(a.created_at));
      return rows.map((r) => JSON.parse(box.open(r.private_jwk_sealed, `signing-key:${r.kid}`)));
    },
    async list(): Promise<SigningKeyRow[]> {
      const rows = await db('signing_keys').select('kid', 'alg', 'status', 'created_at', 'rotated_at', 'public_jwk').orderBy('created_at', 'desc');
      return rows.map((r) => ({ kid: r.kid, alg: r.alg, status: r.status, created_at: Number(r.created_at), rotated_at: toNum(r.rotated_at), public_jwk: JSON.parse(r.public_jwk) }));
    },
    /**
     * New current key per algorithm; the old one becomes `previous` and stays published until
     * `retireAfterMs` has passed (the longest token lifetime), then `retire` drops it.
     */
    async rotate(): Promise<{ kid: string; alg: SigningAlg }[]> {
      const out: { kid: string; alg: SigningAlg }[] = [];
      await db('signing_keys').where({ status: 'current' }).update({ status: 'previous', rotated_at: Date.now() });
      for (const alg of ALGS) out.push({ kid: await insert(alg), alg });
      return out;
    },
    /**
     * Drops a previous key at once (it leaves the JWKS: every token it signed stops verifying),
     * for a key that leaked. 'current' when the key signs now (rotate first), 'missing' when unknown.
     */
    async revoke(kid: string): Promise<'revoked' | 'current' | 'missing'> {
      const n = await db('signing_keys').where({ kid, status: 'previous' }).delete();
      if (n === 1) return 'revoked';
      return (await db('signing_keys').where({ kid }).first()) ? 'current' : 'missing';
    },
    async retire(retireAfterMs: number): Promise<number> {
      return db('signing_keys').where({ status: 'previous' }).andWhere('rotated_at', '<', Date.now() - retireAfterMs).delete();
    },
    /** Changes whenever keys are added or removed, so every node can notice a rotation or a revocation. */
    async version(): Promise<string> {
      const r = await db('signing_keys').count({ n: '*' }).max({ m: 'created_at' }).min({ o: 'created_at' }).first();
      return `${r?.n}:${r?.m}:${r?.o}`;
    },
  };
}
export type KeyStore = ReturnType<typeof createKeyStore>;
