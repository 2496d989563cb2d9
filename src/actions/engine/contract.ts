/**
 * What the engine needs to know of a trigger, and the merge rules every trigger shares. The
 * triggers module supplies the five triggers through a TriggerRegistry given to the engine and
 * the store by the composition root: DESIGN.md's imports point from actions/triggers to
 * actions/engine, never back. One thing the store still knows by trigger id: post-login's stored
 * claims are dropped with its last binding (store.ts).
 */
export interface TriggerContract {
  id: string; version: string; handler: string; continueHandler?: string; blocking: boolean;
  /** The `api` calls the guest gets; `stopOn`: the calls that end the chain after the action. */
  apiMethods: string[]; stopOn: string[];
  /**
   * Auth0's `api` methods of this trigger that Gatehouse does not have: the guest gets them as
   * functions that throw an error naming the method, not as a missing property (whose
   * `Cannot read properties of undefined` names nothing).
   */
  unsupported?: string[];
  /**
   * What `api.access.deny`'s two arguments are: `(code, reason)` with an OAuth error code
   * (credentials-exchange), or `(reason, userMessage)` (the others).
   */
  denyArgs: 'code-reason' | 'reason-message';
}

/** `redirectAllow`: hosts (`host` or `host:port`) redirects may go to; empty or absent: any https host. */
export interface CommandLimits { claimsBytes: number; redirectAllowHttpLocalhost: boolean; redirectAllow?: string[] }

export interface TriggerRegistry {
  get(id: string): TriggerContract | undefined;
  ids(): string[];
  /** Null when the recorded call is valid for the trigger, else why it is refused (a safe message). */
  validate(def: TriggerContract, type: string, args: unknown[], limits: CommandLimits): string | null;
}

/**
 * Calls whose refusal must stop a blocking flow rather than be dropped (see the merge). The
 * sandbox keeps the same list (guest-prelude.js FAIL_CLOSED) for calls past its size cap;
 * `gatehouse actions test` reports them as the server would.
 */
export const FAIL_CLOSED_WHEN_REFUSED = new Set(['access.deny', 'session.revoke', 'refreshToken.revoke', 'validation.error', 'redirect.sendUserTo', 'multifactor.enable',
  'authentication.challengeWith', 'authentication.challengeWithAny', 'authentication.enrollWith', 'authentication.enrollWithAny']);

/** The calls that deny the flow (the merge's `blocked: denied`; the sandbox runner keeps the same list for an action's status). */
export const DENY_CALLS: ReadonlySet<string> = new Set(['access.deny', 'session.revoke', 'refreshToken.revoke']);

/** An action's calls that still apply after its own deny: what it asked to change about the user, and its cache (the engine's merge; `gatehouse actions test` reports the same). */
export const AFTER_DENY = new Set(['user.setAppMetadata', 'user.setUserMetadata', 'cache.set', 'cache.delete']);

export { TX_METADATA_KEYS, TX_METADATA_KEY_CHARS, TX_METADATA_VALUE_CHARS, SESSION_METADATA_KEYS, SESSION_METADATA_CHARS,
  REFRESH_TOKEN_METADATA_KEYS, REFRESH_TOKEN_METADATA_CHARS, refreshTokenMetadataKeyOk } from '../sandbox/types.ts';
