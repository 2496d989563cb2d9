import assert from 'node:assert/strict';
import * as oidc from 'openid-client';

/**
 * Awaits a call to the server through openid-client that must fail with an OAuth error
 * response, and returns it. A call that succeeds (a token was issued) fails the test.
 */
export async function expectOAuthError(p: Promise<unknown>, error: string, status?: number): Promise<{ error: string; error_description?: string; status: number }> {
  let caught: unknown;
  try {
    const ok = await p;
    assert.fail(`expected the error ${error}, got a success: ${JSON.stringify(ok).slice(0, 300)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    caught = e;
  }
  // A 401 with Basic client authentication comes back as a WWW-Authenticate challenge.
  if (caught instanceof oidc.WWWAuthenticateChallengeError) {
    const params = caught.cause[0]?.parameters ?? {};
    assert.equal(params.error, error, `${params.error}: ${params.error_description}`);
    if (status !== undefined) assert.equal(caught.status, status);
    return { error: params.error, error_description: params.error_description, status: caught.status };
  }
  assert.ok(caught instanceof oidc.ResponseBodyError, `expected an OAuth error response, got ${String(caught)}`);
  assert.equal(caught.error, error, `${caught.error}: ${caught.error_description}`);
  if (status !== undefined) assert.equal(caught.status, status);
  return { error: caught.error, error_description: caught.error_description, status: caught.status };
}

/** Decodes a JWT's payload without verifying it (for asserting on shape only). */
export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
}

/** A raw form POST (for requests openid-client refuses to send or hides the status of). */
export async function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try { body = JSON.parse(text) as Record<string, unknown>; } catch { body = { text }; }
  return { status: res.status, body, headers: res.headers };
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
