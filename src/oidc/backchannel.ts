import Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Audit } from '../audit/audit.ts';
import type { Logger } from '../shared/logger.ts';
import type { BackchannelInitiator } from '../clients/clients.ts';

/**
 * Set on a session's authorization of an application once an authorization of that application
 * was answered (a code or tokens went out). oidc-provider adds an application to the session as
 * soon as it asks, before any sign-in step: one refused, abandoned or answered with an error
 * never had the user signed in, and must not be sent the user's `sub` in a logout token.
 */
export const ISSUED = 'ghIssued';

/** What a stored oidc-provider Session says about who signed in and which applications it answered. */
export interface EndedSession { accountId?: unknown; authorizations?: Record<string, { sid?: unknown; [ISSUED]?: unknown } | null | undefined> }

/** A client as oidc-provider built it, with what back-channel logout reads. */
interface LogoutClient {
  clientId: string; backchannelLogoutUri?: string;
  'urn:gatehouse:backchannel_initiators'?: string[];
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

/** Auth0's log types for a logout token delivered or not. */
export const BACKCHANNEL_OK = 'oidc_backchannel_logout_succeeded';
export const BACKCHANNEL_FAILED = 'oidc_backchannel_logout_failed';
/** Deliveries under way at once (an expiry sweep after a pause may find thousands of sessions). */
const AT_ONCE = 8;

/** Why a delivery failed, in words an admin can act on; never the URL (its query may hold a key). */
function reasonOf(err: unknown): string {
  const e = err as { response?: { status?: number }; cause?: { message?: string; code?: string }; message?: string; name?: string };
  if (e?.response?.status) return `the application answered HTTP ${e.response.status}`;
  if (e?.name === 'TimeoutError' || /aborted due to timeout/.test(String(e?.message))) return 'no answer within 2.5 s';
  const cause = e?.cause?.message ?? e?.cause?.code;
  return cause ? `${e?.message ?? 'failed'}: ${cause}` : String(e?.message ?? err);
}

/**
 * OpenID Connect Back-Channel Logout. A logout token names the user (`sub`) and the session
 * (`sid`, the one that application's tokens carry), signed as ID tokens are.
 *
 * Never waited for by the flow that ended the session (a logout page included: see
 * `inBackground`), at most AT_ONCE at a time, each giving up after 2.5 s (oidc-provider's limit),
 * not retried; each delivery is audited with Auth0's types, a failure with its reason. Only
 * applications the session answered an authorization for (ISSUED) are told.
 */
export function createBackchannelLogout(o: { provider: () => Provider; audit: Pick<Audit, 'record'>; logger: Logger }) {
  let running = 0;
  const waiting: (() => void)[] = [];
  async function slot<T>(fn: () => Promise<T>): Promise<T> {
    if (running >= AT_ONCE) await new Promise<void>((r) => waiting.push(r));
    running++;
    try { return await fn(); } finally { running--; waiting.shift()?.(); }
  }

  async function deliver(clientId: string, send: () => Promise<void>, sub: string, initiator: BackchannelInitiator) {
    try {
      await slot(send);
      await o.audit.record({ type: BACKCHANNEL_OK, description: `Back-channel logout sent (${initiator})`, user_id: sub, client_id: clientId, details: { initiator } });
    } catch (err) {
      const reason = reasonOf(err);
      o.logger.warn({ client_id: clientId, initiator, reason }, 'back-channel logout not delivered');
      await o.audit.record({ type: BACKCHANNEL_FAILED, description: `Back-channel logout failed (${initiator}): ${reason}`, user_id: sub, client_id: clientId, details: { initiator } });
    }
  }

  return {
    /**
     * The sessions just ended, as stored (their payloads), and why, in Auth0's words (an end may
     * be several at once: a block with a new password). Each application hears once, if it chose
     * any of them. Returns at once.
     */
    sessionsEnded(sessions: EndedSession[], initiators: BackchannelInitiator | BackchannelInitiator[]): void {
      const why = [initiators].flat();
      const due: { clientId: string; sub: string; sid: string }[] = [];
      for (const s of sessions) {
        if (typeof s.accountId !== 'string') continue;
        for (const [clientId, a] of Object.entries(s.authorizations ?? {})) {
          if (typeof a?.sid === 'string' && a[ISSUED] === true) due.push({ clientId, sub: s.accountId, sid: a.sid });
        }
      }
      if (due.length === 0) return;
      void (async () => {
        const Client = o.provider().Client as unknown as { find(id: string): Promise<LogoutClient | undefined> };
        await Promise.all(due.map(async (d) => {
          const client = await Client.find(d.clientId);
          const initiator = why.find((w) => client?.['urn:gatehouse:backchannel_initiators']?.includes(w));
          if (!client?.backchannelLogoutUri || !initiator) return;
          await deliver(client.clientId, () => client.backchannelLogout(d.sub, d.sid), d.sub, initiator);
        }));
      })().catch((err: unknown) => o.logger.error({ err }, 'back-channel logout failed'));
    },

    /**
     * oidc-provider's own logout (the end-session confirmation, where it posts to each
     * application of the session and waits for all of them): an application the session never
     * answered is skipped, and the others' deliveries go on in the background, audited here, so
     * the user's logout does not wait for any application's server.
     */
    inBackground(provider: Provider): void {
      const proto = provider.Client.prototype as unknown as LogoutClient;
      const send = proto.backchannelLogout;
      proto.backchannelLogout = function backchannelLogoutInBackground(this: LogoutClient, sub: string, sid: string) {
        const ctx = (Provider as unknown as { ctx?: KoaContextWithOIDC }).ctx;
        if (ctx?.oidc?.route !== 'end_session_confirm') return send.call(this, sub, sid);
        const container = (ctx.oidc.session as unknown as EndedSession | undefined)?.authorizations?.[this.clientId];
        if (container?.[ISSUED] !== true) return Promise.resolve();
        void deliver(this.clientId, () => send.call(this, sub, sid), sub, 'rp-logout');
        return Promise.resolve();
      };
    },
  };
}
export type BackchannelLogout = ReturnType<typeof createBackchannelLogout>;
