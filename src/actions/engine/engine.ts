import { randomBytes } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { isSqlite, withSqliteConnection, type Db } from '../../db/knex.ts';
import type { Logger } from '../../shared/logger.ts';
import { METADATA_MAX_BYTES, setWithinCap } from '../../shared/metadata-limits.ts';
import type { ActionResult, CacheSnapshot, ChainLimits, Command, SandboxAction, SandboxPool, SandboxStatus } from '../sandbox/types.ts';
import { AFTER_DENY, FAIL_CLOSED_WHEN_REFUSED, TX_METADATA_KEYS, SESSION_METADATA_KEYS, REFRESH_TOKEN_METADATA_KEYS, type CommandLimits, type TriggerContract, type TriggerRegistry } from './contract.ts';
import type { ActionStore } from './store.ts';
import { compactResults, type RecordedCommand } from './execution-record.ts';

type TriggerId = string;
const unknownTrigger = (id: string): never => { throw new Error(`unknown trigger ${id}`); };

export type { RecordedCommand };

export interface EngineConfig extends ChainLimits { claimsBytes: number; redirectAllowHttpLocalhost: boolean; redirectAllow?: string[]; executionRetentionDays: number; issuer: string }

type Obj = Record<string, unknown>;
const nullObj = (): Obj => Object.create(null) as Obj;

/** One deployed action version at a place in a chain (what a paused login resumes). */
export interface ActionRef { actionId: string; versionId: string }

/** What a post-login chain asked to revoke along with its deny (api.session.revoke, api.refreshToken.revoke). */
export interface Revocation { session?: { preserveRefreshTokens: boolean }; refreshToken?: boolean }

/** What a chain decided, validated and merged; the flow that ran it applies it. */
export interface ChainOutcome {
  executionId: string | null;
  /** 'ok' also when nothing is bound. */
  status: SandboxStatus;
  /**
   * A blocking chain that must stop the flow: deny, failure with on_error=block, or a paused
   * chain that cannot be resumed because the bindings changed meanwhile (`changed`; its
   * `message` is meant for the client).
   */
  /**
   * `revoke`: the deny came from api.session.revoke (end the login's session and, unless
   * preserved, the refresh tokens of its grants) or api.refreshToken.revoke (end the refresh token
   * in use); the call sites that know the session and the token apply it (triggers/run.ts).
   */
  blocked?: { kind: 'denied'; reason: string; userMessage?: string; code?: string; revoke?: Revocation } | { kind: 'failed'; status: SandboxStatus; message: string } | { kind: 'changed'; message: string };
  validationError?: { code: string; message: string };
  idTokenClaims: Obj; accessTokenClaims: Obj; scopesAdd: string[]; scopesRemove: string[];
  /** The metadata objects as the chain leaves them (from the event's copy): what a new user is created with (pre-user-registration). */
  appMetadata?: Obj; userMetadata?: Obj;
  /** Only the keys the chain set (null: deleted), for merging into what is stored now (post-login). */
  metadataPatch?: { app?: Obj; user?: Obj };
  /** `actionIndex`: the redirecting action's place in the whole chain; `action`: which action version that is. */
  redirect?: { url: string; query: Record<string, string>; actionIndex: number; action: ActionRef };
  /** `pauseAfter`/`pauseAction`: the place and version of the action that asked for a second factor before the rest of the chain. */
  mfa: { pauseAfter?: number; pauseAction?: ActionRef; challenge?: unknown[]; enroll?: unknown[]; enable?: { provider: string; allowRememberBrowser: boolean } };
  /**
   * api.session.setExpiresAt / setIdleExpiresAt and api.refreshToken.setExpiresAt /
   * setIdleExpiresAt (epoch ms; a later call replaces an earlier one): the call sites that hold
   * the session and the refresh token apply them (src/oidc/lifetimes.ts).
   */
  lifetimes?: {
    session?: { expiresAt?: number; idleExpiresAt?: number };
    /** Also api.refreshToken.setMetadata / deleteMetadata / evictMetadata, as for the session below (src/oidc/token-family.ts). */
    refreshToken?: { expiresAt?: number; idleExpiresAt?: number; metadata?: { evict: boolean; set: Record<string, string | null> } };
  };
  /** api.authentication.recordMethod (onContinuePostLogin only): provider URLs the session has now done; the call site records them. */
  recordedMethods?: string[];
  /**
   * api.session.setMetadata / deleteMetadata / evictMetadata: `evict` empties what the session
   * held before, then `set` applies (null deletes a key). The call sites that hold the session write it.
   */
  sessionMetadata?: { evict: boolean; set: Record<string, string | null> };
  rejected: string[];
  /** `recorded`: what the execution record shows of the action's api calls (names, never values). */
  results: (ActionResult & { rejected: string[]; recorded?: RecordedCommand[] })[];
  /** The event as later actions would see it (metadata applied): for continuations. */
  event: Obj;
  /** When this run's chain budget ended or ends (epoch ms): a part run after it in the same request shares it (RunOpts.deadlineAt). */
  deadlineAt?: number;
}

/**
 * One api.session / api.refreshToken metadata call (…setMetadata, …deleteMetadata,
 * …evictMetadata, validated before) on the chain's working copy `m` (what later actions see) and
 * on the change the call site stores. False: a set of a new key past `maxKeys`, refused.
 */
function metadataCall(type: string, m: Obj, change: { evict: boolean; set: Record<string, string | null> }, key: string, value: unknown, maxKeys: number): boolean {
  if (type.endsWith('.evictMetadata')) {
    for (const k of Object.keys(m)) delete m[k];
    change.evict = true; change.set = Object.create(null) as Record<string, string | null>;
  } else if (type.endsWith('.deleteMetadata')) {
    delete m[key]; change.set[key] = null;
  } else if (!Object.hasOwn(m, key) && Object.keys(m).length >= maxKeys) {
    return false;
  } else {
    m[key] = value; change.set[key] = value as string;
  }
  return true;
}

interface RunOpts {
  /** Start the chain at this index (continuation after a redirect or MFA pause). */
  startAt?: number;
  /** Call this handler on the first action instead of the trigger's (onContinuePostLogin). */
  continueFirst?: boolean;
  canRedirect?: boolean; redirectState?: string;
  /** The state a redirect issued by an action after the resumed one will get (defaults to redirectState). */
  nextRedirectState?: string;
  /**
   * Resuming a paused chain (continuation or MFA pause): the action that paused it must still be
   * at `index` of the bound chain, in the same version. Otherwise nothing runs and the outcome is
   * blocked (`changed`): resuming by index alone would hand onContinuePostLogin to another
   * action, or skip one.
   */
  resumeOf?: ActionRef & { index: number };
  /**
   * When the chain's time budget ends (epoch ms), for a part that goes on within the same
   * request (post-login after a pause for a second factor the login already has): the budget
   * is the chain's, not each part's. Default: now + chainTimeoutMs.
   */
  deadlineAt?: number;
  /** Draft run for `test`: no cache reads or writes, no execution record. */
  dryRun?: { action: SandboxAction };
  /**
   * At a login, what the earlier parts of it kept for the refresh token its code will issue
   * (there is no event.refresh_token to show them): counted against the key limit with this part's.
   */
  pendingRefreshTokenMetadata?: Record<string, string>;
  /**
   * A later part of a paused login (after a redirect or a second factor): the claims and scope
   * changes its earlier parts decided. This part's calls go on from them in order, as within one
   * run: a claim set again replaces, one set to nothing is removed, the size cap counts them all,
   * and an addScope after a removeScope wins.
   */
  earlier?: { idTokenClaims: Obj; accessTokenClaims: Obj; scopesAdd: string[]; scopesRemove: string[] };
}

/** What custom claims weigh against the cap: each name and its value's JSON, in UTF-8 bytes (as merge counts them). */
function claimsSize(claims: Obj): number {
  let n = 0;
  for (const [k, v] of Object.entries(claims)) n += Buffer.byteLength(JSON.stringify(v)) + Buffer.byteLength(k);
  return n;
}

/** The message a client gets when a paused login cannot resume because its chain changed. */
const CHAIN_CHANGED = 'The login could not continue because the post-login actions changed while it was in progress. Sign in again.';

/**
 * Whether an action may use `api.cache`: a plain search of its compiled code for the word
 * `cache`. Only those actions get a snapshot loaded from the database. A false positive (the
 * word in a comment) costs one query; code that reaches the api without naming it
 * (`api['ca' + 'che']`) reads an empty cache, which the best-effort contract allows; its
 * writes are recorded and stored as usual.
 */
const USES_CACHE = /\bcache\b/;

/** What a failed action bound with on_error=allow still contributes: the same calls but a redirect (a failed action cannot be resumed). */
const KEPT_FROM_FAILED = new Set([...FAIL_CLOSED_WHEN_REFUSED].filter((t) => t !== 'redirect.sendUserTo'));


type ChainEntry = Awaited<ReturnType<ActionStore['chain']>>[number];

/**
 * An api call as the execution record shows it: the call and what it names (claim, metadata
 * key, scope, factor, redirect target without its query), never the value, which can be
 * personal data or a credential (a cached token, a session token in a redirect query).
 */
function describeCommand(c: Command, secrets: Record<string, string>): RecordedCommand {
  // Redacted before it is cut: a secret cut in two would no longer be found.
  const str = (v: unknown) => {
    if (typeof v !== 'string') return null;
    const r = redactSecrets(v, secrets);
    return r.length > 200 ? `${r.slice(0, 200)}…` : r;
  };
  const [a, b] = c.args;
  switch (c.type) {
    case 'access.deny': case 'validation.error': return { type: c.type, args: [str(a), str(b)] };
    case 'redirect.sendUserTo': {
      let target: string | null = null;
      try { const u = new URL(String(a)); target = str(`${u.origin}${u.pathname}`); } catch { /* not a URL: refused anyway */ }
      return { type: c.type, args: [target] };
    }
    case 'authentication.challengeWith': case 'authentication.enrollWith':
      return { type: c.type, args: [str((a as { type?: unknown } | null)?.type)] };
    case 'authentication.challengeWithAny': case 'authentication.enrollWithAny':
      return { type: c.type, args: Array.isArray(a) ? a.slice(0, 10).map((f) => str((f as { type?: unknown } | null)?.type)) : [] };
    default: return { type: c.type, args: [str(a)] };
  }
}

/**
 * Accidental-leak protection (`console.log(secret)`, a secret in an error message or in a
 * recorded argument): the action's secret values never reach the execution record or the
 * logs verbatim. Each secret's text and its JSON-escaped form (quotes, backslashes, newlines
 * in JSON text) become [REDACTED]; the sandbox scrubs console output and errors before it
 * formats or cuts them (guest-prelude.js scrub), this catches the rest.
 */
function redactSecrets(text: string, secrets: Record<string, string>) {
  if (text === '') return text;
  let out = text;
  for (const k in secrets) {
    const v = secrets[k];
    if (!v || v.length < 4) continue;
    if (out.includes(v)) out = out.split(v).join('[REDACTED]');
    const escaped = JSON.stringify(v).slice(1, -1);
    if (escaped !== v && out.includes(escaped)) out = out.split(escaped).join('[REDACTED]');
    // As it appears in a query string (a URL an action logged or threw with).
    let uri: string | null = null;
    try { uri = encodeURIComponent(v); } catch { /* a lone surrogate: no such form */ }
    if (uri !== null && uri !== v && out.includes(uri)) out = out.split(uri).join('[REDACTED]');
  }
  return out;
}

/**
 * The api calls as the action made them, values included (the Management API's test run shows
 * them to the developer), with every secret value replaced wherever it appears in a string,
 * at any depth: the test run must not be a way to read the secrets back.
 */
export function commandsWithoutSecrets(commands: Command[], secrets: Record<string, string>): Command[] {
  const clean = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redactSecrets(v, secrets);
    if (v === null || typeof v !== 'object' || depth > 20) return v;
    if (Array.isArray(v)) return v.map((x) => clean(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, redactSecrets(k, secrets), { value: clean(x, depth + 1), enumerable: true, writable: true, configurable: true });
    return out;
  };
  return commands.map((c) => ({ type: c.type, args: c.args.map((a) => clean(a, 0)) }));
}

/**
 * Runs a trigger's bound chain in the sandbox pool (one IPC round trip per chain), checks
 * every returned command against the trigger's contract, merges them into one outcome and
 * records the execution. Never throws for anything an action does.
 */
export function createActionEngine(d: { db: Db; store: ActionStore; pool: SandboxPool; logger: Logger; config: EngineConfig; triggers: TriggerRegistry }) {
  const { db, store, pool, logger, config } = d;
  /** Without an allow list any https host is a redirect target: each new host is logged once (SECURITY 3.4). */
  const offSiteSeen = new Set<string>();
  const issuerHost = new URL(config.issuer).host;
  function offSite(url: string, action: string): void {
    if ((config.redirectAllow?.length ?? 0) > 0 || offSiteSeen.size >= 1000) return;
    let host: string;
    try { host = new URL(url).host; } catch { return; }
    if (host === issuerHost || offSiteSeen.has(host)) return;
    offSiteSeen.add(host);
    logger.warn({ host, action }, 'post-login action redirects users to a host not on an allow list; list the hosts you expect in actions.redirectAllow (GATEHOUSE_ACTIONS_REDIRECT_ALLOW)');
  }
  /** What every recorded call is checked against (the config is fixed for the engine's life). */
  const commandLimits: CommandLimits = { claimsBytes: config.claimsBytes, redirectAllowHttpLocalhost: config.redirectAllowHttpLocalhost, redirectAllow: config.redirectAllow };
  const chainCache = new Map<TriggerId, { at: number; version: number; chain: ChainEntry[] }>();
  const CHAIN_TTL = 1000;
  /**
   * What the sandbox gets of a bound action: one frozen object per chain entry, so that while
   * the chain is cached the pool sees the same object on every request and checks it once.
   */
  const sandboxActions = new WeakMap<ChainEntry, SandboxAction>();
  function toSandbox(a: ChainEntry): SandboxAction {
    let s = sandboxActions.get(a);
    if (s === undefined) {
      s = Object.freeze({ key: a.versionId, name: a.name, code: a.compiled, secrets: Object.freeze({ ...a.secrets }) });
      sandboxActions.set(a, s);
    }
    return s;
  }

  /** The bound chain; a plain value while cached (hasBindings asks on every token request). */
  function chainFor(trigger: TriggerId): ChainEntry[] | Promise<ChainEntry[]> {
    const hit = chainCache.get(trigger);
    if (hit && hit.version === store.bindingsVersion && Date.now() - hit.at < CHAIN_TTL) return hit.chain;
    const version = store.bindingsVersion;
    return store.chain(trigger).then((chain) => {
      chainCache.set(trigger, { at: Date.now(), version, chain });
      return chain;
    });
  }

  /** Whether an action's code mentions the cache: searched once per bound entry, not per request (code may be hundreds of KB). */
  const cacheUse = new WeakMap<ChainEntry, boolean>();
  function usesCache(a: ChainEntry): boolean {
    let u = cacheUse.get(a);
    if (u === undefined) { u = USES_CACHE.test(a.compiled); cacheUse.set(a, u); }
    return u;
  }

  /**
   * Each action's own cache snapshot, keyed by its sandbox key (version id); entries are stored
   * per action id, so they survive deploys. Only for actions whose code mentions the cache; a
   * plain value when none does.
   */
  function cacheSnapshots(trigger: TriggerId, chain: ChainEntry[]): Record<string, CacheSnapshot> | Promise<Record<string, CacheSnapshot>> {
    return chain.some(usesCache) ? readCacheSnapshots(trigger, chain) : Object.create(null) as Record<string, CacheSnapshot>;
  }
  async function readCacheSnapshots(trigger: TriggerId, chain: ChainEntry[]): Promise<Record<string, CacheSnapshot>> {
    const out: Record<string, CacheSnapshot> = Object.create(null);
    const now = Date.now();
    for (const a of chain) {
      if (Object.hasOwn(out, a.versionId) || !usesCache(a)) continue;
      const rows = await db('action_cache').where({ trigger_id: trigger, action_id: a.actionId }).andWhere('expires_at', '>', now).limit(1000);
      const snap: CacheSnapshot = Object.create(null);
      for (const r of rows) snap[r.key] = { value: r.value, expires_at: Number(r.expires_at) };
      out[a.versionId] = snap;
    }
    return out;
  }

  /** Whether anything is bound; a plain boolean while the bound chain is cached. */
  function hasBindings(trigger: TriggerId): boolean | Promise<boolean> {
    const chain = chainFor(trigger);
    return chain instanceof Promise ? chain.then((c) => c.length > 0) : chain.length > 0;
  }

  async function run(trigger: TriggerId, event: Obj, opts: RunOpts = {}): Promise<ChainOutcome> {
    const def: TriggerContract = d.triggers.get(trigger) ?? unknownTrigger(trigger);
    const e = opts.earlier;
    const outcome: ChainOutcome = {
      executionId: null, status: 'ok', idTokenClaims: Object.assign(nullObj(), e?.idTokenClaims), accessTokenClaims: Object.assign(nullObj(), e?.accessTokenClaims),
      scopesAdd: [...e?.scopesAdd ?? []], scopesRemove: [...e?.scopesRemove ?? []], mfa: {}, rejected: [], results: [], event,
    };
    const full: ChainEntry[] = opts.dryRun
      ? [{ actionId: 'draft', name: opts.dryRun.action.name, versionId: opts.dryRun.action.key, number: 0, compiled: opts.dryRun.action.code, secrets: opts.dryRun.action.secrets, onError: 'block' as const }]
      : await chainFor(trigger);
    if (opts.resumeOf) {
      const at = full[opts.resumeOf.index];
      if (!at || at.actionId !== opts.resumeOf.actionId || at.versionId !== opts.resumeOf.versionId) {
        logger.warn({ trigger, index: opts.resumeOf.index, expected: opts.resumeOf, found: at ? { actionId: at.actionId, versionId: at.versionId } : null }, 'the bound chain changed while a login was paused; not resuming it');
        outcome.status = 'runtime';
        outcome.blocked = { kind: 'changed', message: CHAIN_CHANGED };
        return outcome;
      }
    }
    const startAt = opts.startAt ?? 0;
    const chain = full.slice(startAt);
    if (chain.length === 0) return outcome;
    const limits: ChainLimits = { actionTimeoutMs: config.actionTimeoutMs, chainTimeoutMs: config.chainTimeoutMs, memoryMb: config.memoryMb, consoleBytes: config.consoleBytes, resultBytes: config.resultBytes };
    const snapshots = opts.dryRun ? {} : cacheSnapshots(trigger, chain);
    const base = {
      apiMethods: def.apiMethods, stopOn: def.stopOn, unsupportedMethods: def.unsupported ?? [], cacheByAction: snapshots instanceof Promise ? await snapshots : snapshots,
      redirect: { canRedirect: !!opts.canRedirect, state: opts.redirectState, issuer: config.issuer },
    };

    // The merge: every command is validated here, whatever the sandbox applied on its side.
    const user = event.user as Obj | undefined;
    const app = { ...(user?.app_metadata as Obj ?? {}) };
    const usr = { ...(user?.user_metadata as Obj ?? {}) };
    let appChanged = false; let usrChanged = false;
    const appPatch: Obj = Object.create(null); const usrPatch: Obj = Object.create(null);
    // api.transaction.setMetadata: kept in the event, which a paused login stores and resumes with.
    const txEvent = event.transaction as Obj | undefined;
    const tx: Obj = { ...(txEvent?.metadata as Obj ?? {}) };
    let txChanged = false;
    // api.session.setMetadata: the session's metadata as the event has it, as the chain changes it.
    const sessionEvent = event.session as Obj | undefined;
    const sm: Obj = { ...(sessionEvent?.metadata as Obj ?? {}) };
    let smChanged = false;
    // api.refreshToken.setMetadata: the refresh token's metadata as the event has it (on a refresh), as the chain changes it.
    const rtEvent = event.refresh_token as Obj | undefined;
    const rtm: Obj = { ...(rtEvent?.metadata as Obj ?? opts.pendingRefreshTokenMetadata ?? {}) };
    let rtmChanged = false;
    const cacheWrites: { actionId: string; key: string; value?: string; ttl?: number }[] = [];
    // The cap is per token (ACTIONS.md): the same claim on the ID and the access token counts once for each.
    const claimBytes = { id: claimsSize(outcome.idTokenClaims), access: claimsSize(outcome.accessTokenClaims) };

    /** Validates one action's result into the outcome. False: the chain stops after this action. */
    function merge(r: ActionResult, a: ChainEntry, at: number, continued: boolean): boolean {
      const rejected: string[] = [];
      outcome.results.push({
        ...r, logs: redactSecrets(r.logs, a.secrets), error: r.error ? { name: redactSecrets(r.error.name, a.secrets), message: redactSecrets(r.error.message, a.secrets) } : undefined, rejected,
        recorded: r.commands.map((c) => describeCommand(c, a.secrets)),
      });
      if (r.status !== 'ok' && r.status !== 'denied') {
        // A failed action contributes nothing; its binding decides whether the chain goes on.
        if (!def.blocking) return true;
        if (a.onError !== 'allow') {
          outcome.status = r.status;
          outcome.blocked = { kind: 'failed', status: r.status, message: `action "${r.name}" failed (${r.status})` };
          return false;
        }
        // on_error=allow lets the flow go on past the failure, not past what the action asked
        // for before it: a deny or a second factor it recorded still counts (a later fetch that
        // timed out must not turn a deny into a login). Its other calls are dropped.
        const guards = r.commands.filter((c) => KEPT_FROM_FAILED.has(c.type));
        if (guards.length === 0) return true;
        r = { ...r, commands: guards };
      }
      // After a deny (or validation.error) the action's other calls still count where they touch
      // the user: Auth0's deny does not cancel the metadata changes the action asked for, before
      // or after it. Claims, scopes, redirects and second factors no longer matter then.
      let stopped = false;
      for (const c of r.commands) {
        if (stopped && !AFTER_DENY.has(c.type)) continue;
        const problem = d.triggers.validate(def, c.type, c.args, commandLimits);
        if (problem) {
          // The message quotes names the action chose (a claim, a metadata key): they may hold a secret.
          const said = redactSecrets(problem, a.secrets);
          rejected.push(said); outcome.rejected.push(`${r.name}: ${said}`);
          if (def.blocking && FAIL_CLOSED_WHEN_REFUSED.has(c.type)) {
            // The action asked to stop or guard the flow (deny, redirect, a second factor) and
            // the call is invalid: going on as if it was never made would skip what it asked
            // for, and the sandbox already stopped the chain there. Fail closed.
            outcome.status = 'runtime';
            outcome.blocked = { kind: 'failed', status: 'runtime', message: `action "${r.name}" made an invalid api.${c.type} call` };
            return false;
          }
          continue;
        }
        const [x, y] = c.args as [unknown, unknown];
        const here = { actionId: a.actionId, versionId: a.versionId };
        switch (c.type) {
          case 'idToken.setCustomClaim':
          case 'accessToken.setCustomClaim': {
            const target = c.type === 'idToken.setCustomClaim' ? outcome.idTokenClaims : outcome.accessTokenClaims;
            const used = c.type === 'idToken.setCustomClaim' ? 'id' : 'access';
            // Setting a claim again replaces it: only the new value counts.
            // Bytes (UTF-8), as the cap says: a claim in another script is up to three bytes a character.
            const replaced = Object.hasOwn(target, x as string) ? Buffer.byteLength(JSON.stringify(target[x as string])) + Buffer.byteLength(String(x)) : 0;
            if (c.args.length < 2) {
              // No value (undefined, a function or a Symbol in the action): the claim is left out.
              delete target[x as string];
              claimBytes[used] -= replaced;
              break;
            }
            const size = Buffer.byteLength(JSON.stringify(y)) + Buffer.byteLength(String(x));
            if (claimBytes[used] - replaced + size > config.claimsBytes) { const m = redactSecrets(`claim "${x}" would exceed the ${config.claimsBytes}-byte limit for custom claims`, a.secrets); rejected.push(m); outcome.rejected.push(`${r.name}: ${m}`); break; }
            claimBytes[used] += size - replaced;
            target[x as string] = y;
            break;
          }
          case 'user.setAppMetadata':
          case 'user.setUserMetadata': {
            const field = c.type === 'user.setAppMetadata' ? 'app_metadata' : 'user_metadata';
            const [md, patch] = field === 'app_metadata' ? [app, appPatch] : [usr, usrPatch];
            // The object as a whole has a cap too (the store refuses a merge past it, and would drop
            // the whole chain's change): a call that would take it past is refused, the rest lands.
            if (!setWithinCap(md, x as string, y)) { const m = redactSecrets(`metadata "${x}" refused: ${field} would be larger than ${METADATA_MAX_BYTES} bytes`, a.secrets); rejected.push(m); outcome.rejected.push(`${r.name}: ${m}`); break; }
            // In the order of the last calls (the store applies deletions first, then the sets in this order).
            delete patch[x as string];
            patch[x as string] = y;
            if (field === 'app_metadata') appChanged = true; else usrChanged = true;
            break;
          }
          case 'transaction.setMetadata':
            if (y === null) { delete tx[x as string]; txChanged = true; break; }
            if (!Object.hasOwn(tx, x as string) && Object.keys(tx).length >= TX_METADATA_KEYS) { const m = redactSecrets(`transaction metadata "${x}" refused: at most ${TX_METADATA_KEYS} keys`, a.secrets); rejected.push(m); outcome.rejected.push(`${r.name}: ${m}`); break; }
            tx[x as string] = y; txChanged = true;
            break;
          case 'accessToken.addScope': outcome.scopesAdd.push(x as string); outcome.scopesRemove = outcome.scopesRemove.filter((s) => s !== x); break;
          case 'accessToken.removeScope': outcome.scopesRemove.push(x as string); outcome.scopesAdd = outcome.scopesAdd.filter((s) => s !== x); break;
          case 'access.deny':
            outcome.blocked = def.denyArgs === 'code-reason'
              ? { kind: 'denied', code: x as string, reason: (y as string) ?? 'Access denied' }
              : { kind: 'denied', reason: (x as string) ?? 'Access denied', userMessage: y as string | undefined };
            outcome.status = 'denied';
            break;
          case 'session.revoke':
            outcome.blocked = { kind: 'denied', reason: (x as string) ?? 'Session revoked', revoke: { session: { preserveRefreshTokens: (y as { preserveRefreshTokens?: boolean } | undefined)?.preserveRefreshTokens === true } } };
            outcome.status = 'denied';
            break;
          case 'refreshToken.revoke':
            outcome.blocked = { kind: 'denied', reason: (x as string) ?? 'Refresh token revoked', revoke: { refreshToken: true } };
            outcome.status = 'denied';
            break;
          case 'session.setExpiresAt': case 'session.setIdleExpiresAt':
          case 'refreshToken.setExpiresAt': case 'refreshToken.setIdleExpiresAt': {
            const [what, how] = c.type.split('.') as ['session' | 'refreshToken', string];
            const l = (outcome.lifetimes ??= {});
            l[what] = { ...l[what], [how === 'setExpiresAt' ? 'expiresAt' : 'idleExpiresAt']: x as number };
            break;
          }
          case 'session.setMetadata': case 'session.deleteMetadata': case 'session.evictMetadata': {
            const change = (outcome.sessionMetadata ??= { evict: false, set: Object.create(null) as Record<string, string | null> });
            if (!metadataCall(c.type, sm, change, x as string, y, SESSION_METADATA_KEYS)) {
              const m = redactSecrets(`session metadata "${x}" refused: at most ${SESSION_METADATA_KEYS} keys`, a.secrets); rejected.push(m); outcome.rejected.push(`${r.name}: ${m}`); break;
            }
            smChanged = true;
            break;
          }
          case 'refreshToken.setMetadata': case 'refreshToken.deleteMetadata': case 'refreshToken.evictMetadata': {
            const rt = ((outcome.lifetimes ??= {}).refreshToken ??= {});
            const change = (rt.metadata ??= { evict: false, set: Object.create(null) as Record<string, string | null> });
            if (!metadataCall(c.type, rtm, change, x as string, y, REFRESH_TOKEN_METADATA_KEYS)) {
              const m = redactSecrets(`refresh token metadata "${x}" refused: at most ${REFRESH_TOKEN_METADATA_KEYS} keys`, a.secrets); rejected.push(m); outcome.rejected.push(`${r.name}: ${m}`); break;
            }
            rtmChanged = true;
            break;
          }
          case 'authentication.recordMethod':
            // Auth0 offers it in onContinuePostLogin only: after the redirect to the authenticator came back.
            if (!continued) { const m = 'api.authentication.recordMethod is available in onContinuePostLogin only'; rejected.push(m); outcome.rejected.push(`${r.name}: ${m}`); break; }
            if (!(outcome.recordedMethods ??= []).includes(x as string)) outcome.recordedMethods.push(x as string);
            break;
          case 'validation.error': outcome.validationError = { code: x as string, message: y as string }; outcome.status = 'denied'; break;
          case 'redirect.sendUserTo':
            outcome.redirect = { url: x as string, query: ((y as { query?: Record<string, string> })?.query) ?? {}, actionIndex: startAt + at, action: here };
            offSite(x as string, r.name);
            break;
          case 'authentication.challengeWith': case 'authentication.challengeWithAny':
            outcome.mfa.challenge = Array.isArray(x) ? x : [x]; outcome.mfa.pauseAfter = startAt + at; outcome.mfa.pauseAction = here; break;
          case 'authentication.enrollWith': case 'authentication.enrollWithAny':
            outcome.mfa.enroll = Array.isArray(x) ? x : [x]; outcome.mfa.pauseAfter = startAt + at; outcome.mfa.pauseAction = here; break;
          case 'multifactor.enable':
            outcome.mfa.enable = x === 'none' ? undefined : { provider: x as string, allowRememberBrowser: !!(y as { allowRememberBrowser?: boolean })?.allowRememberBrowser };
            break;
          case 'cache.set': cacheWrites.push({ actionId: a.actionId, key: x as string, value: y as string, ttl: Number((c.args[2] as { ttl?: number })?.ttl) || 15 * 60 * 1000 }); break;
          case 'cache.delete': cacheWrites.push({ actionId: a.actionId, key: x as string }); break;
        }
        if (outcome.blocked?.kind === 'denied' || outcome.validationError) stopped = true;
      }
      if (stopped) return false;
      // The chain ends after an action that redirects or pauses for a second factor (it resumes later).
      return !r.commands.some((c) => def.stopOn.includes(c.type));
    }

    // The sandbox stops a chain at the first action that does not end 'ok'. When that action's
    // binding says on_error=allow (or the trigger does not block), the rest of the chain must
    // still run: a later action may deny, and skipping it would fail open. So the engine runs
    // the chain in slices, each starting after the last action that ran, all within one chain
    // budget; an action left without budget ends as 'timeout' in the sandbox and blocks. Each
    // slice is merged before the next one runs, and the next slice sees the metadata as merged.
    let curEvent = event;
    const chainDeadline = opts.deadlineAt ?? Date.now() + config.chainTimeoutMs;
    outcome.deadlineAt = chainDeadline;
    let idx = 0;
    let continueSlice = !!(opts.continueFirst && def.continueHandler);
    while (idx < chain.length) {
      // After a redirect, only the redirecting action runs onContinuePostLogin; the rest run their handler.
      const handler = continueSlice ? def.continueHandler! : def.handler;
      const slice = continueSlice ? chain.slice(idx, idx + 1) : chain.slice(idx);
      // api.redirect.* binds tokens to the state this part of the chain answers to: the one being
      // resumed for onContinuePostLogin, the next one for actions that may redirect again.
      const state = continueSlice ? opts.redirectState : (opts.nextRedirectState ?? opts.redirectState);
      // A redirect made now (also from onContinuePostLogin) comes back with the next state.
      const nextState = opts.nextRedirectState ?? opts.redirectState;
      continueSlice = false;
      const res = await pool.runChain({
        ...base, redirect: { ...base.redirect, state, ...(nextState !== undefined && nextState !== state ? { nextState } : {}) }, limits: { ...limits, chainTimeoutMs: Math.max(1, chainDeadline - Date.now()) },
        handler, actions: slice.map(toSandbox), event: curEvent,
      });
      const got = res.results.slice(0, slice.length);
      if (got.length === 0) {
        // Actions were sent and nothing came back: what they would have decided is unknown. Fail
        // closed, whatever the bindings' on_error says (no action can be blamed or skipped).
        const a = slice[0];
        outcome.results.push({
          key: a.versionId, name: a.name, status: 'runtime', commands: [], logs: '', startedAt: Date.now(), durationMs: 0, cpuMicros: 0,
          error: { name: 'SandboxError', message: 'result lost: the sandbox returned no result for this chain' }, rejected: [], recorded: [],
        });
        outcome.status = 'runtime';
        if (def.blocking) outcome.blocked = { kind: 'failed', status: 'runtime', message: `action "${a.name}" failed (no result from the sandbox)` };
        break;
      }
      let goOn = true;
      const continued = handler === def.continueHandler;
      for (const r of got) {
        goOn = merge(r, chain[idx], idx, continued && r === got[0]);
        idx++;
        if (!goOn) break;
      }
      if ((user && (appChanged || usrChanged)) || txChanged || smChanged || (rtmChanged && rtEvent)) {
        curEvent = {
          ...event,
          ...(user && (appChanged || usrChanged) ? { user: { ...user, app_metadata: { ...app }, user_metadata: { ...usr } } } : {}),
          ...(txChanged ? { transaction: { ...txEvent, metadata: { ...tx } } } : {}),
          ...(smChanged ? { session: { ...sessionEvent, metadata: { ...sm } } } : {}),
          // At a login there is no refresh token yet: metadata set then is only written (Auth0's rule).
          ...(rtmChanged && rtEvent ? { refresh_token: { ...rtEvent, metadata: { ...rtm } } } : {}),
        };
      }
      if (!goOn) break;
      // Everything so far merged and the chain may go on: the sandbox stopped early (a failed
      // action with on_error=allow) or returned fewer results than asked; run the rest.
    }
    if (appChanged) outcome.appMetadata = app;
    if (usrChanged) outcome.userMetadata = usr;
    if (appChanged || usrChanged) outcome.metadataPatch = { ...(appChanged ? { app: appPatch } : {}), ...(usrChanged ? { user: usrPatch } : {}) };
    outcome.event = curEvent;

    if (!opts.dryRun) {
      for (const w of cacheWrites) {
        const row = { trigger_id: trigger, action_id: w.actionId, key: w.key };
        if (w.value === undefined) await db('action_cache').where(row).delete();
        else await db('action_cache').insert({ ...row, value: w.value, expires_at: Date.now() + Math.min(w.ttl ?? 0, 24 * 3600 * 1000) })
          .onConflict(['trigger_id', 'action_id', 'key']).merge();
      }
      outcome.executionId = record(trigger, outcome);
    }
    if (outcome.status === 'ok' && outcome.results.some((r) => r.status !== 'ok')) outcome.status = outcome.results.find((r) => r.status !== 'ok')!.status;
    return outcome;
  }

  /*
   * Execution records are written in batches off the request path: one multi-row insert per
   * 100 ms or 100 records (measured: the per-request insert through knex was a third of what
   * one bound action added to a token request). Readers call `flush()` first, so what a flow
   * just recorded is always visible to the Management API. A crash loses at most the last
   * batch of these logs, never a decision: outcomes are applied before the record is written.
   */
  let pending: Record<string, unknown>[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  function flush(): Promise<void> {
    if (flushTimer) { clearTimeout(flushTimer); flushTimer = undefined; }
    if (!pending.length) return flushing;
    const rows = pending;
    pending = [];
    flushing = flushing.then(async () => {
      try {
        if (sqlite) await insertSqlite(rows);
        else for (let i = 0; i < rows.length; i += 100) await db('action_executions').insert(rows.slice(i, i + 100));
      } catch (err) {
        logger.error({ err, count: rows.length }, 'could not record action executions');
      }
    });
    return flushing;
  }

  /*
   * SQLite: one prepared single-row INSERT, run for each record inside one transaction, on the
   * pool's only connection (taken from knex's pool, so no other query runs meanwhile). knex
   * would build and prepare a new multi-row statement for every batch: measured under load,
   * that prepare plus knex's query building was about a sixth of what one bound action added to
   * a token request's CPU.
   */
  const sqlite = isSqlite(db);
  const statements = new WeakMap<object, BetterSqlite3.Statement>();
  function insertSqlite(rows: Record<string, unknown>[]) {
    return withSqliteConnection(db, (conn) => {
      let insert = statements.get(conn);
      if (!insert) {
        insert = conn.prepare('insert into action_executions (id, trigger_id, status, results, created_at) values (?, ?, ?, ?, ?)');
        statements.set(conn, insert);
      }
      const stmt = insert;
      conn.transaction(() => { for (const r of rows) stmt.run(r.id, r.trigger_id, r.status, r.results, r.created_at); })();
    });
  }

  /*
   * Execution ids start with the time (ms, hex) and end with 64 random bits: unique across nodes,
   * and each new row lands at the end of the primary-key index. With random ids every insert
   * dirtied a different index page, and a batch of 100 records wrote about 100 pages to the WAL.
   */
  let idRandom = Buffer.alloc(0);
  let idAt = 0;
  function executionId(): string {
    if (idAt + 8 > idRandom.length) { idRandom = randomBytes(8 * 256); idAt = 0; }
    const r = idRandom.toString('hex', idAt, idAt + 8);
    idAt += 8;
    return `exe_${Date.now().toString(16).padStart(12, '0')}${r}`;
  }

  function record(trigger: TriggerId, o: ChainOutcome): string {
    const id = executionId();
    pending.push({ id, trigger_id: trigger, status: o.blocked ? (o.blocked.kind === 'denied' ? 'denied' : 'failed') : o.validationError ? 'denied' : 'final', results: compactResults(o.results), created_at: Date.now() });
    if (pending.length >= 100) void flush();
    else if (!flushTimer) { flushTimer = setTimeout(() => void flush(), 100); flushTimer.unref(); }
    if (o.rejected.length) logger.warn({ trigger, execution: id, rejected: o.rejected }, 'action commands refused');
    for (const r of o.results) if (r.status !== 'ok' && r.status !== 'denied') logger.warn({ trigger, execution: id, action: r.name, status: r.status, error: r.error?.message }, 'action failed');
    return id;
  }

  return {
    run, hasBindings,
    /** Writes buffered execution records now (readers and shutdown call it). */
    flush,
    /** Drops executions older than the retention period. */
    async sweep() {
      return db('action_executions').where('created_at', '<', Date.now() - config.executionRetentionDays * 86400_000).delete();
    },
    async sweepCache() { return db('action_cache').where('expires_at', '<', Date.now()).delete(); },
  };
}
export type ActionEngine = ReturnType<typeof createActionEngine>;
