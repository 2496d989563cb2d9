import type { Db } from '../../db/knex.ts';
import { parseJson } from '../../db/knex.ts';
import { sessionAbsoluteEnd } from '../../oidc/lifetimes.ts';

/** An OIDC session's device as session_devices keeps it (the first sign-in's and the last one's). */
export interface SessionDevice { initial_ip: string; initial_user_agent: string; last_ip: string; last_user_agent: string }

/** What both event.session (post-login) and the Management API's session read from a Session payload. */
export interface SessionFacts {
  signedIn: boolean;
  created_at?: string;
  authenticated_at?: string;
  /** When the user must sign in again, however active (the absolute end: src/oidc/lifetimes.ts). */
  expires_at?: string;
  /** When it ends unless it answers another authorization before (the idle end: what it is stored until). */
  idle_expires_at?: string;
  clients: { client_id: string }[];
  amr: string[];
}

const iso = (seconds: unknown) => (typeof seconds === 'number' && seconds > 0 ? new Date(seconds * 1000).toISOString() : undefined);

/** Auth0's session fields from oidc-provider's Session payload (JSON text); `maxTtl`: tokens.sessionMaxTtl. */
export function sessionFacts(payloadJson: string | undefined, maxTtl: number): SessionFacts {
  const p = payloadJson ? parseJson<{ iat?: unknown; exp?: unknown; loginTs?: unknown; accountId?: unknown; authorizations?: Record<string, unknown>; amr?: unknown; ghLifetime?: unknown }>(payloadJson, {}) : {};
  const abs = sessionAbsoluteEnd({ loginTs: typeof p.loginTs === 'number' ? p.loginTs : undefined, ghLifetime: p.ghLifetime }, maxTtl);
  // The stored end is never past the absolute one, except for a session saved before there was one.
  const idle = typeof p.exp === 'number' && abs !== undefined ? Math.min(p.exp, abs) : p.exp;
  return {
    signedIn: typeof p.accountId === 'string',
    created_at: iso(p.iat), authenticated_at: iso(p.loginTs), expires_at: iso(abs ?? p.exp), idle_expires_at: iso(idle),
    clients: Object.keys(p.authorizations ?? {}).map((client_id) => ({ client_id })),
    amr: Array.isArray(p.amr) ? p.amr.map(String) : [],
  };
}

/** The devices of sessions `uids`, by uid: one query (session_devices). */
export async function sessionDevices(db: Db, uids: string[]): Promise<Map<string, SessionDevice & { updated_at: number }>> {
  const out = new Map<string, SessionDevice & { updated_at: number }>();
  for (let i = 0; i < uids.length; i += 200) {
    const rows: (SessionDevice & { session_uid: string; updated_at: unknown })[] = await db('session_devices').whereIn('session_uid', uids.slice(i, i + 200));
    for (const r of rows) out.set(r.session_uid, { initial_ip: r.initial_ip, initial_user_agent: r.initial_user_agent, last_ip: r.last_ip, last_user_agent: r.last_user_agent, updated_at: Number(r.updated_at) });
  }
  return out;
}
