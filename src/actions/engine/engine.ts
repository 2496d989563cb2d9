import type { Db } from '../../db/knex.ts';
import type { Logger } from '../../shared/logger.ts';
import { randomId } from '../../shared/ids.ts';
import type { ActionResult, ChainLimits, Command, SandboxAction, SandboxPool, SandboxStatus } from '../sandbox/types.ts';
import { TRIGGERS, validateCommand, type TriggerId } from '../triggers/definitions.ts';
import type { ActionStore } from './store.ts';

export interface EngineConfig extends ChainLimits { claimsBytes: number; redirectAllowHttpLocalhost: boolean; executionRetentionDays: number; issuer: string }

type Obj = Record<string, unknown>;
const nullObj = (): Obj => Object.create(null) as Obj;

/** What a chain decided, validated and merged; the flow that ran it applies it. */
export interface ChainOutcome {
  executionId: string | null;
  /** 'ok' also when nothing is bound. */
  status: SandboxStatus;
  /** A blocking chain that must stop the flow: deny, or failure with on_error=block. */
  blocked?: { kind: 'denied'; reason: string; userMessage?: string; code?: string } | { kind: 'failed'; status: SandboxStatus; message: string };
  validationError?: { code: string; message: string };
  idTokenClaims: Obj; accessTokenClaims: Obj; scopesAdd: string[]; scopesRemove: string[];
  appMetadata?: Obj; userMetadata?: Obj;
  redirect?: { url: string; query: Record<string, string>; actionIndex: number };
  mfa: { pauseAfter?: number; challenge?: unknown[]; enroll?: unknown[]; enable?: { provider: string; allowRememberBrowser: boolean } };
  rejected: string[];
  /** `recorded`: what the execution record shows of the action's api calls (names, never values). */
  results: (ActionResult & { rejected: string[]; recorded?: RecordedCommand[] })[];
  /** The event as later actions would see it (metadata applied): for continuations. */
  event: Obj;
}

interface RunOpts {
  /** Start the chain at this index (continuation after a redirect or MFA pause). */
  startAt?: number;
  /** Call this handler on the first action instead of the trigger's (onContinuePostLogin). */
  continueFirst?: boolean;
  canRedirect?: boolean; redirectState?: string;
  /** The state a redirect issued by an action after the resumed one will get (defaults to redirectState). */
  nextRedirectState?: string;
  /** Draft run for `test`: no cache writes, no execution record. */
  dryRun?: { action: SandboxAction };
}

/** Calls whose refusal must stop a blocking flow rather than be dropped (see the merge). */
const FAIL_CLOSED_WHEN_REFUSED = new Set(['access.deny', 'validation.error', 'redirect.sendUserTo', 'multifactor.enable',
  'authentication.challengeWith', 'authentication.challengeWithAny', 'authentication.enrollWith', 'authentication.enrollWithAny']);

export interface RecordedCommand { type: string; args: (string | null)[] }

/**
 * An api call as the execution record shows it: the call and what it names (claim, metadata
 * key, scope, factor, redirect target without its query), never the value, which can be
 * personal data or a credential (a cached token, a session token in a redirect query).
 */
function describeCommand(c: Command, secrets: Record<string, string>): RecordedCommand {
  const str = (v: unknown) => (typeof v === 'string' ? redactSecrets(v.length > 200 ? `${v.slice(0, 200)}…` : v, secrets) : null);
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

function redactSecrets(text: string, secrets: Record<string, string>) {
  let out = text;
  for (const v of Object.values(secrets)) if (v && v.length >= 4) out = out.split(v).join('[REDACTED]');
  return out;
}

/**
 * Runs a trigger's bound chain in the sandbox pool (one IPC round trip per chain), checks
 * every returned command against the trigger's contract, merges them into one outcome and
 * records the execution. Never throws for anything an action does.
 */
export function createActionEngine(d: { db: Db; store: ActionStore; pool: SandboxPool; logger: Logger; config: EngineConfig }) {
  const { db, store, pool, logger, config } = d;
  const chainCache = new Map<TriggerId, { at: number; version: number; chain: Awaited<ReturnType<ActionStore['chain']>> }>();
  const CHAIN_TTL = 1000;

  async function chainFor(trigger: TriggerId) {
    const hit = chainCache.get(trigger);
    if (hit && hit.version === store.bindingsVersion && Date.now() - hit.at < CHAIN_TTL) return hit.chain;
    const chain = await store.chain(trigger);
    chainCache.set(trigger, { at: Date.now(), version: store.bindingsVersion, chain });
    return chain;
  }

  async function cacheSnapshot(trigger: TriggerId) {
    const rows = await db('action_cache').where({ trigger_id: trigger }).andWhere('expires_at', '>', Date.now()).limit(1000);
    const snap: Record<string, { value: string; expires_at: number }> = {};
    for (const r of rows) snap[r.key] = { value: r.value, expires_at: Number(r.expires_at) };
    return snap;
  }

  async function hasBindings(trigger: TriggerId) { return (await chainFor(trigger)).length > 0; }

  async function run(trigger: TriggerId, event: Obj, opts: RunOpts = {}): Promise<ChainOutcome> {
    const def = TRIGGERS[trigger];
    const outcome: ChainOutcome = {
      executionId: null, status: 'ok', idTokenClaims: nullObj(), accessTokenClaims: nullObj(), scopesAdd: [], scopesRemove: [],
      mfa: {}, rejected: [], results: [], event,
    };
    const full = opts.dryRun
      ? [{ actionId: 'draft', name: opts.dryRun.action.name, versionId: opts.dryRun.action.key, number: 0, compiled: opts.dryRun.action.code, secrets: opts.dryRun.action.secrets, onError: 'block' as const }]
      : await chainFor(trigger);
    const startAt = opts.startAt ?? 0;
    const chain = full.slice(startAt);
    if (chain.length === 0) return outcome;
    const usesCache = true;
    const cache = usesCache ? await cacheSnapshot(trigger) : {};
    const limits: ChainLimits = { actionTimeoutMs: config.actionTimeoutMs, chainTimeoutMs: config.chainTimeoutMs, memoryMb: config.memoryMb, consoleBytes: config.consoleBytes, resultBytes: config.resultBytes };
    const toSandbox = (a: typeof chain[number]): SandboxAction => ({ key: a.versionId, name: a.name, code: a.compiled, secrets: a.secrets });
    const base = { apiMethods: def.apiMethods, stopOn: def.stopOn, cache, limits, redirect: { canRedirect: !!opts.canRedirect, state: opts.redirectState, issuer: config.issuer } };

    const results: ActionResult[] = [];
    let curEvent = event;
    // The sandbox stops a chain at the first action that does not end 'ok'. When that action's
    // binding says on_error=allow (or the trigger does not block), the rest of the chain must
    // still run: a later action may deny, and skipping it would fail open. So the engine runs
    // the chain in slices, each starting after the last action that ran, all within one chain
    // budget; an action left without budget ends as 'timeout' in the sandbox and blocks.
    const chainDeadline = Date.now() + config.chainTimeoutMs;
    let idx = 0;
    let continueSlice = !!(opts.continueFirst && def.continueHandler);
    while (idx < chain.length) {
      // After a redirect, only the redirecting action runs onContinuePostLogin; the rest run their handler.
      const handler = continueSlice ? def.continueHandler! : def.handler;
      const slice = continueSlice ? chain.slice(idx, idx + 1) : chain.slice(idx);
      // api.redirect.* binds tokens to the state this part of the chain answers to: the one being
      // resumed for onContinuePostLogin, the next one for actions that may redirect again.
      const state = continueSlice ? opts.redirectState : (opts.nextRedirectState ?? opts.redirectState);
      continueSlice = false;
      const res = await pool.runChain({
        ...base, redirect: { ...base.redirect, state }, limits: { ...limits, chainTimeoutMs: Math.max(1, chainDeadline - Date.now()) },
        handler, actions: slice.map(toSandbox), event: curEvent,
      });
      if (res.results.length === 0) break;
      results.push(...res.results);
      // The sandbox applied metadata between actions; recompute it here for the next slice.
      curEvent = applyMetadata(curEvent, res.results);
      idx += res.results.length;
      const last = res.results[res.results.length - 1];
      if (last.status === 'ok' && !last.commands.some((c) => def.stopOn.includes(c.type))) continue;
      if (last.status === 'ok' || last.status === 'denied') break;
      if (!(chain[idx - 1]?.onError === 'allow' || !def.blocking)) break;
    }

    // Merge, validating every command; a failed action with on_error=allow contributes nothing.
    const app = { ...((event.user as Obj | undefined)?.app_metadata as Obj ?? {}) };
    const usr = { ...((event.user as Obj | undefined)?.user_metadata as Obj ?? {}) };
    let appChanged = false; let usrChanged = false;
    const cacheWrites: { key: string; value?: string; ttl?: number }[] = [];
    // The cap is per token (ACTIONS.md): the same claim on the ID and the access token counts once for each.
    const claimBytes = { id: 0, access: 0 };
    for (const [i, r] of results.entries()) {
      const a = chain[i];
      const rejected: string[] = [];
      outcome.results.push({
        ...r, logs: redactSecrets(r.logs, a?.secrets ?? {}), error: r.error ? { name: r.error.name, message: redactSecrets(r.error.message, a?.secrets ?? {}) } : undefined, rejected,
        recorded: r.commands.map((c) => describeCommand(c, a?.secrets ?? {})),
      });
      if (r.status !== 'ok' && r.status !== 'denied') {
        if (a?.onError === 'allow' || !def.blocking) continue;
        outcome.status = r.status;
        outcome.blocked = { kind: 'failed', status: r.status, message: `action "${r.name}" failed (${r.status})` };
        break;
      }
      for (const c of r.commands) {
        const problem = validateCommand(def, c.type, c.args, { claimsBytes: config.claimsBytes, redirectAllowHttpLocalhost: config.redirectAllowHttpLocalhost });
        if (problem) {
          rejected.push(problem); outcome.rejected.push(`${r.name}: ${problem}`);
          if (def.blocking && FAIL_CLOSED_WHEN_REFUSED.has(c.type)) {
            // The action asked to stop or guard the flow (deny, redirect, a second factor) and
            // the call is invalid: going on as if it was never made would skip what it asked
            // for, and the sandbox already stopped the chain there. Fail closed.
            outcome.status = 'runtime';
            outcome.blocked = { kind: 'failed', status: 'runtime', message: `action "${r.name}" made an invalid api.${c.type} call` };
            break;
          }
          continue;
        }
        const [x, y] = c.args as [unknown, unknown];
        switch (c.type) {
          case 'idToken.setCustomClaim':
          case 'accessToken.setCustomClaim': {
            const target = c.type === 'idToken.setCustomClaim' ? outcome.idTokenClaims : outcome.accessTokenClaims;
            const size = JSON.stringify(y).length + String(x).length;
            const used = c.type === 'idToken.setCustomClaim' ? 'id' : 'access';
            // Setting a claim again replaces it: only the new value counts.
            const replaced = Object.hasOwn(target, x as string) ? JSON.stringify(target[x as string]).length + String(x).length : 0;
            if (claimBytes[used] - replaced + size > config.claimsBytes) { const m = `claim "${x}" would exceed the ${config.claimsBytes}-byte limit for custom claims`; rejected.push(m); outcome.rejected.push(`${r.name}: ${m}`); break; }
            claimBytes[used] += size - replaced;
            target[x as string] = y;
            break;
          }
          case 'user.setAppMetadata': if (y === null) delete app[x as string]; else app[x as string] = y; appChanged = true; break;
          case 'user.setUserMetadata': if (y === null) delete usr[x as string]; else usr[x as string] = y; usrChanged = true; break;
          case 'accessToken.addScope': outcome.scopesAdd.push(x as string); outcome.scopesRemove = outcome.scopesRemove.filter((s) => s !== x); break;
          case 'accessToken.removeScope': outcome.scopesRemove.push(x as string); outcome.scopesAdd = outcome.scopesAdd.filter((s) => s !== x); break;
          case 'access.deny':
            outcome.blocked = trigger === 'credentials-exchange'
              ? { kind: 'denied', code: x as string, reason: (y as string) ?? 'Access denied' }
              : { kind: 'denied', reason: (x as string) ?? 'Access denied', userMessage: y as string | undefined };
            outcome.status = 'denied';
            break;
          case 'validation.error': outcome.validationError = { code: x as string, message: y as string }; outcome.status = 'denied'; break;
          case 'redirect.sendUserTo': outcome.redirect = { url: x as string, query: ((y as { query?: Record<string, string> })?.query) ?? {}, actionIndex: startAt + i }; break;
          case 'authentication.challengeWith': case 'authentication.challengeWithAny':
            outcome.mfa.challenge = Array.isArray(x) ? x : [x]; outcome.mfa.pauseAfter = startAt + i; break;
          case 'authentication.enrollWith': case 'authentication.enrollWithAny':
            outcome.mfa.enroll = Array.isArray(x) ? x : [x]; outcome.mfa.pauseAfter = startAt + i; break;
          case 'multifactor.enable':
            outcome.mfa.enable = x === 'none' ? undefined : { provider: x as string, allowRememberBrowser: !!(y as { allowRememberBrowser?: boolean })?.allowRememberBrowser };
            break;
          case 'cache.set': cacheWrites.push({ key: x as string, value: y as string, ttl: Number((c.args[2] as { ttl?: number })?.ttl) || 15 * 60 * 1000 }); break;
          case 'cache.delete': cacheWrites.push({ key: x as string }); break;
        }
        if (outcome.blocked?.kind === 'denied' || outcome.validationError) break;
      }
      if (outcome.blocked || outcome.validationError) break;
    }
    if (appChanged) outcome.appMetadata = app;
    if (usrChanged) outcome.userMetadata = usr;
    outcome.event = curEvent;

    if (!opts.dryRun) {
      for (const w of cacheWrites) {
        if (w.value === undefined) await db('action_cache').where({ trigger_id: trigger, key: w.key }).delete();
        else await db('action_cache').insert({ trigger_id: trigger, key: w.key, value: w.value, expires_at: Date.now() + Math.min(w.ttl ?? 0, 24 * 3600 * 1000) })
          .onConflict(['trigger_id', 'key']).merge();
      }
      outcome.executionId = await record(trigger, outcome);
    }
    if (outcome.status === 'ok' && outcome.results.some((r) => r.status !== 'ok')) outcome.status = outcome.results.find((r) => r.status !== 'ok')!.status;
    return outcome;
  }

  function applyMetadata(event: Obj, results: ActionResult[]): Obj {
    const user = event.user as Obj | undefined;
    if (!user) return event;
    const app = { ...(user.app_metadata as Obj ?? {}) };
    const usr = { ...(user.user_metadata as Obj ?? {}) };
    // A failed action contributes nothing (on_error=allow skips it), so later actions must not see its writes.
    for (const r of results) for (const c of (r.status === 'ok' || r.status === 'denied' ? r.commands : [])) {
      const [k, v] = c.args as [string, unknown];
      if (typeof k !== 'string' || k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
      if (c.type === 'user.setAppMetadata') { if (v === null) delete app[k]; else app[k] = v; }
      if (c.type === 'user.setUserMetadata') { if (v === null) delete usr[k]; else usr[k] = v; }
    }
    return { ...event, user: { ...user, app_metadata: app, user_metadata: usr } };
  }

  async function record(trigger: TriggerId, o: ChainOutcome): Promise<string> {
    const id = `exe_${randomId(12)}`;
    const results = o.results.map((r) => ({
      action_name: r.name, version_id: r.key, status: r.status, error: r.error ?? null, logs: r.logs,
      commands: r.recorded ?? [], rejected_commands: r.rejected,
      started_at: new Date(r.startedAt).toISOString(), ended_at: new Date(r.startedAt + r.durationMs).toISOString(), duration_ms: r.durationMs,
    }));
    try {
      await db('action_executions').insert({ id, trigger_id: trigger, status: o.blocked ? (o.blocked.kind === 'denied' ? 'denied' : 'failed') : o.validationError ? 'denied' : 'final', results: JSON.stringify(results), created_at: Date.now() });
    } catch (err) {
      logger.error({ err }, 'could not record action execution');
    }
    if (o.rejected.length) logger.warn({ trigger, execution: id, rejected: o.rejected }, 'action commands refused');
    for (const r of o.results) if (r.status !== 'ok' && r.status !== 'denied') logger.warn({ trigger, execution: id, action: r.name, status: r.status, error: r.error?.message }, 'action failed');
    return id;
  }

  return {
    run, hasBindings,
    /** Drops executions older than the retention period. */
    async sweep() {
      return db('action_executions').where('created_at', '<', Date.now() - config.executionRetentionDays * 86400_000).delete();
    },
    async sweepCache() { return db('action_cache').where('expires_at', '<', Date.now()).delete(); },
  };
}
export type ActionEngine = ReturnType<typeof createActionEngine>;
