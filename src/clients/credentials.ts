import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Db } from '../db/knex.ts';
import { isSqlite, toNum } from '../db/knex.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import { randomId } from '../shared/ids.ts';

/**
 * Private Key JWT client authentication (RFC 7523; OpenID Connect Core §9), as Auth0 offers it:
 * an application's public keys ("credentials" of type public_key, each with its algorithm and an
 * optional end) are kept here; the client lists the ones it authenticates with
 * (`client_authentication_methods.private_key_jwt.credentials`), and oidc-provider checks the
 * client assertion against those (src/clients/clients.ts puts them in the client's `jwks`).
 *
 * Auth0's rules: RSA keys only, of at least 2048 bits, signed with RS256, RS384 or PS256; at most
 * two credentials per application (one in use, one being rolled in). The private key never
 * reaches the server; the public one is not shown again (a credential answers with its id, kid,
 * algorithm and dates).
 */
export const CREDENTIAL_ALGS = ['RS256', 'RS384', 'PS256'] as const;
export type CredentialAlg = typeof CREDENTIAL_ALGS[number];
export const MAX_CREDENTIALS_PER_CLIENT = 2;
const MIN_RSA_BITS = 2048;

export interface CredentialInput { name?: string; pem: string; alg?: CredentialAlg; parse_expiry_from_cert?: boolean; expires_at?: string }
interface Row { id: string; client_id: string; name: string; credential_type: string; alg: string; kid: string; pem: string; expires_at: unknown; created_at: string; updated_at: string }

/** A credential as the Management API shows it (never the key itself). */
function toApi(r: Row) {
  const end = toNum(r.expires_at);
  return {
    id: r.id, name: r.name, credential_type: r.credential_type, kid: r.kid, alg: r.alg,
    created_at: r.created_at, updated_at: r.updated_at, ...(end !== null ? { expires_at: new Date(end).toISOString() } : {}),
  };
}
export type ClientCredential = ReturnType<typeof toApi>;

/** The public key in `pem` (a public key or an X.509 certificate), checked as Auth0 does; the certificate's end when asked. */
async function readKey(pem: string, fromCert: boolean): Promise<{ key: KeyObject; certEnd?: number }> {
  const text = pem.trim();
  if (/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(text)) throw badRequest('pem: this is a private key; send the public key (or a certificate) only: the private key stays with the application');
  let key: KeyObject;
  let certEnd: number | undefined;
  try {
    if (text.startsWith('-----BEGIN CERTIFICATE-----')) {
      const cert = new X509Certificate(text);
      key = cert.publicKey;
      certEnd = Date.parse(cert.validTo);
    } else {
      key = createPublicKey({ key: text, format: 'pem' });
    }
  } catch {
    throw badRequest('pem: not a PEM public key or X.509 certificate');
  }
  if (key.asymmetricKeyType !== 'rsa') throw badRequest(`pem: an RSA key is needed (this is ${key.asymmetricKeyType ?? 'another kind of'} key)`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw badRequest(`pem: the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are needed`);
  // A small or even public exponent makes signatures forgeable (e=1: the "signature" is the padded hash itself).
  const e = key.asymmetricKeyDetails?.publicExponent;
  if (typeof e !== 'bigint' || e < 65537n || e % 2n === 0n) throw badRequest(`pem: the RSA public exponent ${e ?? '?'} is unsafe; keys use 65537`);
  if (fromCert && certEnd === undefined) throw badRequest('parse_expiry_from_cert: the pem is a public key, not a certificate');
  return { key, certEnd };
}

export function createClientCredentials(db: Db, changed: (clientId: string) => void) {
  async function rows(clientId: string): Promise<Row[]> {
    return db('client_credentials').where({ client_id: clientId }).orderBy('created_at').orderBy('id');
  }
  async function row(clientId: string, id: string): Promise<Row> {
    const r = await db('client_credentials').where({ client_id: clientId, id }).first() as Row | undefined;
    if (!r) throw notFound('The credential does not exist', 'inexistent_credential');
    return r;
  }
  const enabledIds = async (clientId: string, q: Db = db): Promise<string[]> => {
    const c = await q('clients').where({ client_id: clientId }).first('client_authentication_methods') as { client_authentication_methods?: string | null } | undefined;
    return credentialIdsOf(c?.client_authentication_methods);
  };

  return {
    async list(clientId: string) { return (await rows(clientId)).map(toApi); },
    async get(clientId: string, id: string) { return toApi(await row(clientId, id)); },
    async create(clientId: string, input: CredentialInput) {
      const { key, certEnd } = await readKey(input.pem, input.parse_expiry_from_cert === true);
      const alg = input.alg ?? 'RS256';
      let end: number | null = null;
      if (input.parse_expiry_from_cert && input.expires_at !== undefined) throw badRequest('expires_at: give either it or parse_expiry_from_cert, not both');
      if (input.parse_expiry_from_cert) end = certEnd ?? null;
      else if (input.expires_at !== undefined) end = Date.parse(input.expires_at);
      if (end !== null && !(end > Date.now())) throw badRequest('expires_at: the credential would already have ended');
      const jwk = key.export({ format: 'jwk' }) as JWK;
      const kid = await calculateJwkThumbprint(jwk);
      const ts = new Date().toISOString();
      const id = `cred_${randomId(16)}`;
      await db.transaction(async (trx) => {
        // The count and the insert in one transaction (on PostgreSQL under the client row's lock): two at once cannot make three.
        // (SQLite runs one write transaction at a time.)
        if (!isSqlite(trx)) await trx('clients').where({ client_id: clientId }).forUpdate().first('client_id');
        const held = await trx('client_credentials').where({ client_id: clientId }).select('kid');
        if (held.length >= MAX_CREDENTIALS_PER_CLIENT) throw badRequest(`an application holds at most ${MAX_CREDENTIALS_PER_CLIENT} credentials: delete one first`);
        if (held.some((h: { kid: string }) => h.kid === kid)) throw badRequest('pem: this key is already a credential of the application', 'duplicate_credential');
        await trx('client_credentials').insert({
          id, client_id: clientId, name: (input.name ?? '').slice(0, 128), credential_type: 'public_key', alg, kid,
          pem: key.export({ format: 'pem', type: 'spki' }).toString(), expires_at: end, created_at: ts, updated_at: ts,
        });
      });
      return this.get(clientId, id);
    },
    /** Auth0 lets an end be set or moved (null: none). */
    async update(clientId: string, id: string, patch: { expires_at?: string | null }) {
      await row(clientId, id);
      const end = patch.expires_at === null || patch.expires_at === undefined ? null : Date.parse(patch.expires_at);
      if (end !== null && !(end > Date.now())) throw badRequest('expires_at: the credential would already have ended');
      await db('client_credentials').where({ client_id: clientId, id }).update({ expires_at: end, updated_at: new Date().toISOString() });
      changed(clientId);
      return this.get(clientId, id);
    },
    /** Refused while the client authenticates with it: that would lock the application out by surprise. */
    async remove(clientId: string, id: string) {
      await row(clientId, id);
      // The check and the delete under the client's row lock (PostgreSQL): a PATCH naming it meanwhile waits.
      await db.transaction(async (trx) => {
        if (!isSqlite(trx)) await trx('clients').where({ client_id: clientId }).forUpdate().first('client_id');
        if ((await enabledIds(clientId, trx)).includes(id)) {
          throw badRequest('the application authenticates with this credential: take it out of client_authentication_methods.private_key_jwt.credentials first', 'credential_in_use');
        }
        await trx('client_credentials').where({ client_id: clientId, id }).delete();
      });
      changed(clientId);
    },
  };
}
export type ClientCredentials = ReturnType<typeof createClientCredentials>;

/** Enabling needs credentials `ids` of the client that exist and have not ended. */
export async function assertUsableCredentials(db: Db, clientId: string, ids: string[]): Promise<void> {
  if (ids.length === 0) throw badRequest('client_authentication_methods.private_key_jwt.credentials: name at least one credential of the application');
  const found = await db('client_credentials').where({ client_id: clientId }).whereIn('id', ids) as Row[];
  for (const id of ids) {
    const r = found.find((f) => f.id === id);
    if (!r) throw badRequest(`client_authentication_methods.private_key_jwt.credentials: ${id.slice(0, 64)} is not a credential of this application`);
    const end = toNum(r.expires_at);
    if (end !== null && end <= Date.now()) throw badRequest(`client_authentication_methods.private_key_jwt.credentials: ${id} has ended`);
  }
}

/** The credential ids a client's stored `client_authentication_methods` enables. */
export function credentialIdsOf(stored: string | null | undefined): string[] {
  if (!stored) return [];
  try {
    const m = JSON.parse(stored) as { private_key_jwt?: { credentials?: { id?: unknown }[] } };
    return (m.private_key_jwt?.credentials ?? []).map((c) => c.id).filter((x): x is string => typeof x === 'string');
  } catch {
    return [];
  }
}

/** The public keys oidc-provider checks a client assertion against: the enabled credentials that have not ended, each pinned to its algorithm. */
export async function jwksOf(db: Db, clientId: string, ids: string[], now = Date.now()): Promise<JWK[]> {
  if (ids.length === 0) return [];
  const found = await db('client_credentials').where({ client_id: clientId }).whereIn('id', ids) as Row[];
  return found.filter((r) => { const end = toNum(r.expires_at); return end === null || end > now; })
    .map((r) => ({ ...(createPublicKey(r.pem).export({ format: 'jwk' }) as JWK), kid: r.kid, alg: r.alg, use: 'sig' }));
}
