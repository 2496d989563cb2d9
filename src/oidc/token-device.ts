/**
 * Where a refresh token was issued from, for post-login's `event.refresh_token.device` (Auth0's
 * `initial_ip`, `initial_user_agent`, `last_ip`, `last_user_agent`; no ASN: nothing here knows
 * it): the code exchange that began its family, and the exchange that issued it. Kept on the
 * token (`ghDevice`, in its payload), passed on at each rotation.
 */
export interface TokenDevice { initial_ip: string; initial_user_agent: string; last_ip: string; last_user_agent: string }

/** Records this request as the token's issue; the family's first issue from the token it was rotated from. */
export function stampDevice(token: { ghDevice?: unknown }, rotatedFrom: { ghDevice?: unknown } | undefined, ip: string, userAgent: string): void {
  const prev = rotatedFrom?.ghDevice as Partial<TokenDevice> | undefined;
  const here = { ip: ip.slice(0, 64), ua: userAgent.slice(0, 512) };
  token.ghDevice = {
    initial_ip: typeof prev?.initial_ip === 'string' ? prev.initial_ip : here.ip,
    initial_user_agent: typeof prev?.initial_user_agent === 'string' ? prev.initial_user_agent : here.ua,
    last_ip: here.ip, last_user_agent: here.ua,
  } satisfies TokenDevice;
}

/** The device of a stored token's payload, or undefined (issued before devices were kept). */
export function tokenDevice(token: { ghDevice?: unknown } | undefined): TokenDevice | undefined {
  const d = token?.ghDevice as Partial<TokenDevice> | undefined;
  if (!d || typeof d.initial_ip !== 'string' || typeof d.last_ip !== 'string') return undefined;
  return { initial_ip: d.initial_ip, initial_user_agent: String(d.initial_user_agent ?? ''), last_ip: d.last_ip, last_user_agent: String(d.last_user_agent ?? '') };
}
