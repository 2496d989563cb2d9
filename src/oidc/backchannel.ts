import type Provider from 'oidc-provider';
import type { Audit } from '../audit/audit.ts';
import type { Logger } from '../shared/logger.ts';
import type { BackchannelInitiator } from '../clients/clients.ts';

/** What a stored oidc-provider Session says about who signed in and which applications it answered. */
export interface EndedSession { accountId?: unknown; authorizations?: Record<string, { sid?: unknown } | null | undefined> }

/** A client as oidc-provider built it, with what back-channel logout reads. */
interface LogoutClient {
  clientId: string; backchannelLogoutUri?: string;
  'urn:gatehouse:backchannel_initiators'?: string[];
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

/** Auth0's log types for a logout token delivered or not. */
export const BACKCHANNEL_OK = 'oidc_backchannel_logout_succeeded';
export const BACKCHANNEL_FAILED = 'oidc_backchannel_logout_failed';

/**
 * OpenID Connect Back-Channel Logout for the sessions Gatehouse itself ends (oidc-provider
 * notifies on a logout at the end-session endpoint on its own): an application with a
 * back-channel URL that hears from `initiator` gets a logout token naming the user (`sub`) and
 * the session (`sid`, the one that application's tokens carry), signed as ID tokens are.
 *
 * Sent after the change is stored and never waited for: the flow that ended the session does not
 * depend on an application's server answering (each request gives up after 2.5 s,
 * oidc-provider's limit). Each delivery is audited (Auth0's types), a failure with the reason.
 */
export function createBackchannelLogout(o: { provider: () => Provider; audit: Pick<Audit, 'record'>; logger: Logger }) {
  async function deliver(client: LogoutClient, sub: string, sid: string, initiator: BackchannelInitiator) {
    try {
      await client.backchannelLogout(sub, sid);
      await o.audit.record({ type: BACKCHANNEL_OK, description: `Back-channel logout sent (${initiator})`, user_id: sub, client_id: client.clientId, details: { initiator } });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      o.logger.warn({ client_id: client.clientId, initiator, reason }, 'back-channel logout not delivered');
      await o.audit.record({ type: BACKCHANNEL_FAILED, description: `Back-channel logout failed (${initiator}): ${reason}`, user_id: sub, client_id: client.clientId, details: { initiator } });
    }
  }

  return {
    /** The sessions just ended, as stored (their payloads); `initiator`: why, in Auth0's words. Returns at once. */
    sessionsEnded(sessions: EndedSession[], initiator: BackchannelInitiator): void {
      const due: { clientId: string; sub: string; sid: string }[] = [];
      for (const s of sessions) {
        if (typeof s.accountId !== 'string') continue;
        for (const [clientId, a] of Object.entries(s.authorizations ?? {})) {
          if (typeof a?.sid === 'string') due.push({ clientId, sub: s.accountId, sid: a.sid });
        }
      }
      if (due.length === 0) return;
      void (async () => {
        const provider = o.provider();
        const Client = provider.Client as unknown as { find(id: string): Promise<LogoutClient | undefined> };
        await Promise.all(due.map(async (d) => {
          const client = await Client.find(d.clientId);
          if (!client?.backchannelLogoutUri || !client['urn:gatehouse:backchannel_initiators']?.includes(initiator)) return;
          await deliver(client, d.sub, d.sid, initiator);
        }));
      })().catch((err: unknown) => o.logger.error({ err, initiator }, 'back-channel logout failed'));
    },
    deliver,
  };
}
export type BackchannelLogout = ReturnType<typeof createBackchannelLogout>;
