import { createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import type { SigningKeyRow } from '../oidc/keys.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import { requireScope } from './auth.ts';
import { auditChange, parseBody, parseQuery, type RegisterRoutes } from './helpers.ts';

// Public JWK members only: whatever the store hands back, private parameters never leave.
const PUBLIC_MEMBERS = ['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y', 'n', 'e'];

async function view(k: SigningKeyRow) {
  const jwk = Object.fromEntries(PUBLIC_MEMBERS.filter((m) => k.public_jwk[m] !== undefined).map((m) => [m, k.public_jwk[m]])) as JWK;
  const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
  const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());
  return {
    // Auth0's flags: `current` signs now, `next` is published and signs soon (a rotation's new
    // key while every node learns of it: src/oidc/keys.ts), `previous` only verifies.
    kid: k.kid, alg: k.alg, status: k.status, current: k.signing, next: k.pending, previous: !k.signing && !k.pending, revoked: false,
    created_at: iso(k.created_at), current_since: iso(k.activates_at), current_until: iso(k.rotated_at),
    thumbprint: await calculateJwkThumbprint(jwk, 'sha256'), jwk, pem,
  };
}

/**
 * Auth0's `/api/v2/keys/signing`: list the signing keys (public halves only) and rotate them.
 * After a rotation this node reloads its provider at once; other nodes notice within their key
 * poll (2 s), and with several nodes the new keys sign only once all of them publish them.
 * Previous keys stay in the JWKS until every token they signed has expired.
 */
export const registerKeys: RegisterRoutes = (router, app) => {
  router.get('/keys/signing', requireScope('read:signing_keys'), async function listSigningKeys(ctx) {
    parseQuery(ctx, z.strictObject({}));
    ctx.body = await Promise.all((await app.keys.list()).map(view));
  });

  router.get('/keys/signing/:kid', requireScope('read:signing_keys'), async function getSigningKey(ctx) {
    const k = (await app.keys.list()).find((r) => r.kid === ctx.params.kid);
    if (!k) throw notFound('The signing key does not exist', 'inexistent_key');
    ctx.body = await view(k);
  });

  router.post('/keys/signing/rotate', requireScope('create:signing_keys', 'update:signing_keys'), async function rotateSigningKeys(ctx) {
    parseBody(ctx, z.strictObject({}));
    const before = (await app.keys.list()).filter((k) => k.status === 'current').map((k) => k.kid);
    const added = await app.keys.rotate();
    await app.refreshKeys(true);
    await auditChange(app, ctx, {
      description: 'Rotate the signing keys', target: { type: 'signing_keys', id: added.map((k) => k.kid).join(',') },
      before: { current: before }, after: { current: added.map((k) => k.kid) },
    });
    const main = added.find((k) => k.alg === app.config.keys.defaultAlg) ?? added[0];
    ctx.status = 201;
    ctx.body = { kid: main.kid, keys: added.map((k) => ({ kid: k.kid, alg: k.alg, activates_at: new Date(k.activates_at).toISOString() })) };
  });

  // Auth0's path and scope: a previous key leaves the JWKS now, not when its tokens would have expired.
  router.put('/keys/signing/:kid/revoke', requireScope('update:signing_keys'), async function revokeSigningKey(ctx) {
    const kid = String(ctx.params.kid);
    const r = kid.length <= 64 ? await app.keys.revoke(kid) : 'missing';
    if (r === 'missing') throw notFound('The signing key does not exist', 'inexistent_key');
    if (r === 'current') throw badRequest('The current signing key cannot be revoked: rotate the keys first, then revoke this one', 'operation_not_supported');
    if (r === 'signing') throw badRequest('This key still signs until the keys of the last rotation activate (keys.activationDelaySeconds after it): revoke it then', 'operation_not_supported');
    await app.refreshKeys(true);
    await auditChange(app, ctx, { description: 'Revoke a signing key', target: { type: 'signing_keys', id: kid } });
    ctx.body = { kid, revoked: true };
  });
};
