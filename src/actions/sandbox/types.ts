/**
 * Public types of the Actions sandbox (`src/actions/sandbox`).
 *
 * The sandbox runs one trigger's chain of user scripts inside isolated-vm isolates that live
 * in supervised child processes. It knows nothing of users, tokens or OIDC: it records the
 * `api` calls a script makes as JSON {@link Command}s and hands them back; the engine
 * validates and applies them.
 */

import { PACKAGES } from './packages.ts';

/**
 * api.transaction.setMetadata: keys at most (the prelude's TX_KEYS_MAX), and each key's and
 * string value's length. The guest, the runner and the engine apply the same rules.
 */
export const TX_METADATA_KEYS = 20;
export const TX_METADATA_KEY_CHARS = 100;
export const TX_METADATA_VALUE_CHARS = 1024;
/** Auth0's session metadata (api.session.setMetadata): string keys and values of at most 255 characters, here up to 25 keys. */
export const SESSION_METADATA_KEYS = 25;
export const SESSION_METADATA_CHARS = 255;
/** Auth0's refresh-token metadata (api.refreshToken.setMetadata): keys of letters, digits, `_` and `-`, keys and string values of at most 255 characters, up to 25 keys. */
export const REFRESH_TOKEN_METADATA_KEYS = 25;
export const REFRESH_TOKEN_METADATA_CHARS = 255;
const REFRESH_TOKEN_METADATA_KEY_RE = /^[A-Za-z0-9_-]{1,255}$/;
/** Auth0's rule for its keys, less the names that would reach an object's prototype. */
export const refreshTokenMetadataKeyOk = (k: unknown): k is string => typeof k === 'string' && REFRESH_TOKEN_METADATA_KEY_RE.test(k) && k !== '__proto__' && k !== 'constructor' && k !== 'prototype';

/** Names that would reach an object's prototype: never a key the sandbox or the engine sets. */
const PROTO_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** Characters no name an action gives may hold: controls, line and paragraph separators, bidi and zero-width marks. */
export const NAME_CONTROL = /[\u0000-\u001f\u007f\u2028\u2029\u202a-\u202e\u200b-\u200f]/;
/** JSON data as an action may hand it over: at most 32 levels deep, finite numbers, no key that reaches a prototype. */
export function isJsonValue(v: unknown, depth = 0): boolean {
  if (depth > 32) return false;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => isJsonValue(x, depth + 1));
  if (typeof v === 'object') return Object.entries(v as object).every(([k, x]) => !PROTO_KEYS.has(k) && isJsonValue(x, depth + 1));
  return false;
}
/** Whether a string, or every string and key in a value, can be stored: no NUL, no lone surrogate (PostgreSQL's jsonb refuses both). */
export function storableText(v: unknown): boolean {
  const ok = (s: string) => !s.includes('\u0000') && s.isWellFormed();
  const stack: unknown[] = [v];
  const seen = new WeakSet<object>();
  while (stack.length > 0) {
    const x = stack.pop();
    if (typeof x === 'string') { if (!ok(x)) return false; continue; }
    if (x === null || typeof x !== 'object' || seen.has(x)) continue;
    seen.add(x);
    for (const [k, child] of Object.entries(x)) { if (!ok(k)) return false; stack.push(child); }
  }
  return true;
}
/** api.user.setAppMetadata / setUserMetadata: a value's JSON at most, in bytes. */
export const USER_METADATA_VALUE_BYTES = 16 * 1024;
/**
 * Why user.setAppMetadata / setUserMetadata(name, value) is refused, or null. The one rule for
 * what the engine writes (definitions.ts validateCommand) and for what the runner shows the
 * actions after this one in event.user: a value it refuses, they must not see either.
 */
export function userMetadataRefusal(name: unknown, value: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'metadata name must be a non-empty string';
  if (name.length > 256) return 'metadata name is longer than 256 characters';
  if (NAME_CONTROL.test(name)) return 'metadata name contains control characters';
  if (PROTO_KEYS.has(name)) return `metadata name "${name}" is not allowed`;
  if (value !== null && !isJsonValue(value)) return `metadata "${name}" must be a JSON value`;
  if (!storableText(name) || !storableText(value)) return `metadata "${name}" must not contain NUL characters or lone surrogates`;
  if (Buffer.byteLength(JSON.stringify(value ?? null)) > USER_METADATA_VALUE_BYTES) return `metadata "${name}" is larger than 16 KB`;
  return null;
}

/** Outcome of one action, and of a chain (the first non-ok action's status). */
export type SandboxStatus = 'ok' | 'denied' | 'timeout' | 'oom' | 'syntax' | 'runtime';

/** One recorded `api` call, e.g. `{type: 'idToken.setCustomClaim', args: ['x', 1]}` (JSON values only). */
export interface Command { type: string; args: unknown[] }

/**
 * The npm modules `require()` gives an action, by name; the value says what of the module is
 * there: stand-ins written inside the sandbox (guest-prelude.js), then packages whose own code
 * runs in it (packages.ts). An action may declare these as dependencies (Auth0's
 * `dependencies: [{name, version}]`); whatever version it names, it gets the one here.
 */
export const NPM_MODULES: Readonly<Record<string, string>> = Object.freeze({
  axios: 'axios 1.x',
  auth0: 'ManagementClient and AuthenticationClient, in the call styles of SDK v3 to v7',
  jsonwebtoken: 'jsonwebtoken 9: sign, verify, decode',
  'jwks-rsa': 'jwks-rsa 3: a JWKS client (getSigningKey)',
  'node-fetch': 'node-fetch 2: the global fetch with its timeout option and FetchError',
  '@slack/webhook': 'IncomingWebhook.send over the axios stand-in',
  ...PACKAGES,
});

/** One deployed action version to run. */
export interface SandboxAction {
  /** Action VERSION id: cache key of the compiled script and of the warm isolate. Never shared by two different codes. */
  key: string;
  /** For logs and errors. */
  name: string;
  /** CommonJS source (already transpiled from TS/ESM by the caller). */
  code: string;
  /** Exposed as `event.secrets` for THIS action only. */
  secrets: Record<string, string>;
}

export interface ChainLimits {
  /** Wall clock per action, including a cold start (compile + module top level). */
  actionTimeoutMs: number;
  /** Wall clock for the whole chain (the worker's budget; the parent adds a grace period before it kills). */
  chainTimeoutMs: number;
  /** isolated-vm `memoryLimit` per isolate (soft: a determined script may use 2-3x before it is stopped). */
  memoryMb: number;
  /** Captured console output per action per execution, UTF-8 bytes. */
  consoleBytes: number;
  /** Recorded commands per action per execution, UTF-8 bytes of their JSON. */
  resultBytes: number;
}

/** A cache snapshot: key → value and expiry (epoch milliseconds). */
export type CacheSnapshot = Record<string, { value: string; expires_at: number }>;

export interface ChainRequest {
  /** e.g. 'onExecutePostLogin', 'onContinuePostLogin', 'onExecuteCredentialsExchange'. */
  handler: string;
  /** Run in this order. */
  actions: SandboxAction[];
  /** JSON-serialisable; `event.secrets` is set per action by the sandbox. */
  event: unknown;
  /** Allowed api paths for this trigger, e.g. ['access.deny', 'idToken.setCustomClaim', 'cache.get']. */
  apiMethods: string[];
  /** Methods of the trigger's `api` on Auth0 that are not offered: they throw an error naming themselves. */
  unsupportedMethods?: string[];
  /** Command types after which the chain stops, e.g. ['access.deny', 'redirect.sendUserTo']. */
  stopOn: string[];
  /** For the api.redirect.* helpers. */
  /**
   * `state`: what validateToken checks a returned token against (the state being resumed);
   * `nextState`: what encodeToken binds a new token to (the state a redirect made now will come
   * back with), when it differs: in onContinuePostLogin the two are not the same.
   */
  redirect?: { canRedirect: boolean; state?: string; nextState?: string; issuer: string };
  /**
   * One cache snapshot every action reads (expires_at in epoch milliseconds). Ignored when
   * `cacheByAction` is given. Either way an action's own `cache.set/delete` are seen only by
   * that action (its later executions in this chain), never by another action.
   */
  cache?: CacheSnapshot;
  /**
   * Per action (keyed by {@link SandboxAction.key}): the snapshot that action reads. Used in
   * preference to `cache`; an action without an entry sees an empty cache. This is how the
   * engine keeps each action's cache its own (ACTIONS.md: nothing secret leaks between actions).
   */
  cacheByAction?: Record<string, CacheSnapshot>;
  limits: ChainLimits;
}

export interface ActionResult {
  key: string;
  name: string;
  status: SandboxStatus;
  /** Recorded api calls, in call order (JSON values only). */
  commands: Command[];
  /** Captured console output, capped at limits.consoleBytes (a line that does not fit is cut there and marked). */
  logs: string;
  /** Safe strings only, never the raw thrown value. */
  error?: { name: string; message: string };
  /** Epoch milliseconds. */
  startedAt: number;
  durationMs: number;
  /** CPU time spent inside the isolate for this execution (isolate.cpuTime delta). */
  cpuMicros: number;
}

export interface ChainResult { status: SandboxStatus; results: ActionResult[]; durationMs: number }

export type ValidateResult =
  | { ok: true }
  | { ok: false; status: 'syntax' | 'runtime' | 'timeout' | 'oom'; message: string };

export interface SandboxPool {
  /** Runs a chain in one worker. Never rejects for anything the guest does: failures are values. */
  runChain(req: ChainRequest): Promise<ChainResult>;
  /**
   * Deploy-time check: compiles, runs the module top level in a throwaway isolate, and checks
   * that at least one of `handlers` is exported as a function.
   */
  validate(code: string, handlers: string[], limits?: Partial<ChainLimits>): Promise<ValidateResult>;
  /** Live worker processes, those of them ready for work, restarts so far, chains waiting. */
  stats(): { workers: number; ready: number; restarts: number; queued: number };
  close(): Promise<void>;
}

export interface SandboxLogger {
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface SandboxPoolOptions {
  /** Number of worker processes. */
  workers: number;
  /** Warm isolates kept per worker, LRU-evicted beyond (default 64). */
  maxWarmIsolatesPerWorker?: number;
  /** Hosts (`host` or `host:port`) that guest fetch may reach even when they resolve to loopback/private/link-local addresses. */
  fetchAllow?: string[];
  /**
   * The server's issuer URL. `require('auth0')`'s clients given its host as their `domain`
   * reach it at the issuer's own scheme and path, and fetch may reach its token endpoint and
   * Management API (only those) even on a private address: actions call their own tenant's
   * APIs, as on Auth0.
   */
  issuer?: string;
  /** Per fetch (default 5000, capped below 10 s). */
  fetchTimeoutMs?: number;
  /** Response body cap per fetch (default 1 MiB). */
  fetchMaxBytes?: number;
  /** How long a chain may wait for a free worker (default 10000 ms). */
  queueTimeoutMs?: number;
  /**
   * CPUs the server and its workers may use (default `os.availableParallelism()`, which follows
   * the process's CPU affinity but not a cgroup quota). With 1, a second worker takes chains only
   * when the busy one is stalled: on one core it would only take turns with it, at a wake-up per
   * message, instead of the busy worker taking what waits as its next batch.
   */
  cores?: number;
  logger?: SandboxLogger;
}
