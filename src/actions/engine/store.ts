import type { Db } from '../../db/knex.ts';
import type { Knex } from 'knex';
import { isSqlite, parseJson } from '../../db/knex.ts';
import { AppError, badRequest, conflict, notFound } from '../../shared/errors.ts';
import { randomId } from '../../shared/ids.ts';
import type { SecretBox } from '../../shared/secret-box.ts';
import { compileAction } from '../compile.ts';
import type { TriggerRegistry } from './contract.ts';
import { expandResults } from './execution-record.ts';

type TriggerId = string;

export interface SecretInput { name: string; value?: string }
/** An npm module an action declares, as Auth0 lists it (`registry_url` only when given). */
export interface Dependency { name: string; version: string; registry_url?: string }
export interface ActionLimits { maxSecrets: number; secretValueBytes: number; maxVersions: number; maxActionsPerTrigger: number }

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const RESERVED_SECRET_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const now = () => new Date().toISOString();

/**
 * Actions, versions, bindings and secrets in the database. Secrets are sealed (AES-256-GCM,
 * bound to their action) and only ever leave as names; their values are opened only to be
 * handed to the sandbox.
 */
export function createActionStore(db: Db, box: SecretBox, limits: ActionLimits, validate: (compiled: string, handlers: string[]) => Promise<string | null>, triggers: TriggerRegistry) {
  const aad = (actionId: string) => `action-secrets:${actionId}`;
  const sealSecrets = (actionId: string, s: Record<string, string>) => box.seal(JSON.stringify(s), aad(actionId));
  const openSecrets = (actionId: string, sealed: string): Record<string, string> => JSON.parse(box.open(sealed, aad(actionId)));
  let bindingsVersion = 0;
  /**
   * Claims that post-login decided for a (user, client) login live in action_login_claims
   * (src/actions/triggers/run.ts). With no post-login action bound, logins neither read nor
   * write that table (no SQL per login for it), so the rows of earlier logins are dropped here,
   * when the last binding goes: claims of an unbound action must never ride on later tokens.
   */
  async function dropLoginClaimsIfUnbound(trx: Knex.Transaction) {
    if (!(await trx('action_bindings').where({ trigger_id: 'post-login' }).first())) await trx('action_login_claims').delete();
  }

  /** The stored list (JSON text; a row from before the column reads `[]`). */
  const dependencies = (v: unknown): Dependency[] => parseJson<Dependency[]>(v, []);
  function toAction(r: Record<string, unknown>, deployed?: Record<string, unknown>) {
    const secrets = openSecrets(r.id as string, r.secrets_sealed as string);
    return {
      id: r.id as string, name: r.name as string,
      supported_triggers: [{ id: r.trigger_id as TriggerId, version: r.trigger_version as string }],
      code: r.code as string, dependencies: dependencies(r.dependencies), runtime: r.runtime as string,
      secrets: Object.keys(secrets).map((name) => ({ name, updated_at: r.updated_at as string })),
      status: 'built', deployed_version: deployed ? toVersion(deployed, r) : undefined,
      all_changes_deployed: !!deployed && deployed.code === r.code && deployed.secrets_sealed === r.secrets_sealed && deployed.dependencies === r.dependencies,
      created_at: r.created_at as string, updated_at: r.updated_at as string,
    };
  }
  function toVersion(v: Record<string, unknown>, a?: Record<string, unknown>) {
    return {
      id: v.id as string, action_id: v.action_id as string, number: Number(v.number), code: v.code as string,
      dependencies: dependencies(v.dependencies), deployed: a ? a.deployed_version_id === v.id : undefined, status: 'built', created_at: v.created_at as string,
      secrets: Object.keys(openSecrets(v.action_id as string, v.secrets_sealed as string)).map((name) => ({ name })),
    };
  }

  function checkSecrets(input: SecretInput[] | undefined, current: Record<string, string>): Record<string, string> {
    if (!input) return current;
    const next: Record<string, string> = {};
    for (const s of input) {
      if (typeof s?.name !== 'string' || !SECRET_NAME.test(s.name)) throw badRequest(`secrets: "${String(s?.name)}" is not a valid secret name (letters, digits, _)`);
      // Names the sandbox never puts on an object it builds (pool.ts UNSAFE_SEGMENTS): stored, such a
      // secret would be listed and never reach event.secrets.
      if (RESERVED_SECRET_NAMES.has(s.name)) throw badRequest(`secrets: "${s.name}" is not a valid secret name (reserved)`);
      const value = s.value ?? (Object.hasOwn(current, s.name) ? current[s.name] : undefined);
      if (typeof value !== 'string') throw badRequest(`secrets: ${s.name} needs a value`);
      if (Buffer.byteLength(value) > limits.secretValueBytes) throw badRequest(`secrets: ${s.name} is larger than ${limits.secretValueBytes} bytes`);
      next[s.name] = value;
    }
    if (Object.keys(next).length > limits.maxSecrets) throw badRequest(`secrets: at most ${limits.maxSecrets} per action`);
    return next;
  }

  async function row(id: string) { return db('actions').where({ id }).first(); }
  const sqlite = isSqlite(db);
  /**
   * Action rows read inside a transaction that changes bindings: locked on PostgreSQL, so a
   * delete and a binding of the same action run one after the other (SQLite has one writer).
   */
  const lockActions = (q: Knex.QueryBuilder) => (sqlite ? q : q.forUpdate());
  async function requireRow(id: string) {
    const r = await row(id);
    if (!r) throw notFound('The action does not exist', 'inexistent_action');
    return r;
  }
  async function deployedRow(r: Record<string, unknown>) {
    return r.deployed_version_id ? db('action_versions').where({ id: r.deployed_version_id }).first() : undefined;
  }

  async function compileChecked(code: string, trigger: TriggerId) {
    const c = await compileAction(code);
    if (!c.ok) throw new AppError(400, 'invalid_code', c.message);
    const def = triggers.get(trigger);
    if (!def) throw badRequest(`unknown trigger "${trigger}"`);
    const problem = await validate(c.compiled, [def.handler, ...(def.continueHandler ? [def.continueHandler] : [])]);
    if (problem) throw new AppError(400, 'invalid_code', `code: ${problem}`);
    return c.compiled;
  }

  return {
    openSecrets,
    get bindingsVersion() { return bindingsVersion; },
    async create(input: { name: string; supported_triggers: { id: string; version?: string }[]; code: string; secrets?: SecretInput[]; runtime?: string; dependencies?: Dependency[] }) {
      const trigger = input.supported_triggers?.[0]?.id;
      if (typeof trigger !== 'string' || !triggers.get(trigger)) throw badRequest(`supported_triggers: unknown trigger "${String(trigger)}" (one of ${triggers.ids().join(', ')})`);
      if (await db('actions').where({ name: input.name }).first()) throw conflict(`An action named "${input.name}" already exists`);
      await compileChecked(input.code, trigger);
      const id = `act_${randomId(12)}`;
      const ts = now();
      await db('actions').insert({
        id, name: input.name, trigger_id: trigger, trigger_version: triggers.get(trigger)!.version, code: input.code,
        secrets_sealed: sealSecrets(id, checkSecrets(input.secrets, {})), runtime: input.runtime ?? 'node22', created_at: ts, updated_at: ts,
        dependencies: JSON.stringify(input.dependencies ?? []),
      });
      return toAction((await row(id))!);
    },
    async get(id: string) { const r = await requireRow(id); return toAction(r, await deployedRow(r)); },
    async findByName(name: string) { return db('actions').where({ name }).first(); },
    async list(opts: { triggerId?: string; actionName?: string; page: number; perPage: number; deployed?: boolean }) {
      const q = db('actions');
      if (opts.triggerId) q.where({ trigger_id: opts.triggerId });
      if (opts.actionName) q.where({ name: opts.actionName });
      if (opts.deployed) q.whereNotNull('deployed_version_id');
      const [{ n }] = await q.clone().count({ n: '*' });
      const rows = await q.orderBy('created_at').orderBy('id').limit(opts.perPage).offset(opts.page * opts.perPage);
      const out = [];
      for (const r of rows) out.push(toAction(r, await deployedRow(r)));
      return { actions: out, total: Number(n) };
    },
    /** Edits the draft only: nothing runs differently until deploy. */
    async update(id: string, patch: { name?: string; code?: string; secrets?: SecretInput[]; runtime?: string; dependencies?: Dependency[] }) {
      const r = await requireRow(id);
      if (patch.name && patch.name !== r.name && (await db('actions').where({ name: patch.name }).first())) throw conflict(`An action named "${patch.name}" already exists`);
      if (patch.code !== undefined) await compileChecked(patch.code, r.trigger_id);
      await db('actions').where({ id }).update({
        ...(patch.name ? { name: patch.name } : {}), ...(patch.code !== undefined ? { code: patch.code } : {}),
        ...(patch.runtime ? { runtime: patch.runtime } : {}),
        ...(patch.dependencies ? { dependencies: JSON.stringify(patch.dependencies) } : {}),
        ...(patch.secrets ? { secrets_sealed: sealSecrets(id, checkSecrets(patch.secrets, openSecrets(id, r.secrets_sealed))) } : {}),
        updated_at: now(),
      });
      return this.get(id);
    },
    async remove(id: string, force = false) {
      await requireRow(id);
      await db.transaction(async (trx) => {
        // Checked in the transaction, with the action row held: a binding made meanwhile is
        // either seen here (409) or made after the action is gone (refused there).
        if (!(await lockActions(trx('actions').where({ id })).first())) throw notFound('The action does not exist', 'inexistent_action');
        const bound = await trx('action_bindings').where({ action_id: id }).first();
        if (bound && !force) throw conflict('The action is bound to a trigger: remove it from the trigger\'s bindings first');
        await trx('action_bindings').where({ action_id: id }).delete();
        await dropLoginClaimsIfUnbound(trx);
        await trx('actions').where({ id }).update({ deployed_version_id: null });
        await trx('action_versions').where({ action_id: id }).delete();
        await trx('actions').where({ id }).delete();
      });
      bindingsVersion++;
    },
    /**
     * New immutable version from the draft, or from an old version (rollback; `updateDraft`: the
     * draft takes that version's code and secrets too, else it stays as it is).
     */
    async deploy(id: string, fromVersionId?: string, opts: { updateDraft?: boolean } = {}) {
      const r = await requireRow(id);
      let code = r.code as string;
      let sealed = r.secrets_sealed as string;
      let deps = (r.dependencies as string | undefined) ?? '[]';
      if (fromVersionId) {
        const v = await db('action_versions').where({ id: fromVersionId, action_id: id }).first();
        if (!v) throw notFound('The version does not exist', 'inexistent_version');
        code = v.code; sealed = v.secrets_sealed; deps = v.dependencies ?? '[]';
      }
      const compiled = await compileChecked(code, r.trigger_id);
      const versionId = `ver_${randomId(12)}`;
      await db.transaction(async (trx) => {
        const last = await trx('action_versions').where({ action_id: id }).max({ m: 'number' }).first();
        const number = Number(last?.m ?? 0) + 1;
        await trx('action_versions').insert({ id: versionId, action_id: id, number, code, compiled, secrets_sealed: sealed, dependencies: deps, created_at: now() });
        await trx('actions').where({ id }).update({ deployed_version_id: versionId, ...(fromVersionId && opts.updateDraft ? { code, secrets_sealed: sealed, dependencies: deps } : {}), updated_at: now() });
        const old = await trx('action_versions').where({ action_id: id }).orderBy('number', 'desc').offset(limits.maxVersions).select('id');
        const keep = old.map((o) => o.id).filter((v) => v !== versionId);
        if (keep.length) await trx('action_versions').whereIn('id', keep).delete();
      });
      bindingsVersion++;
      const v = await db('action_versions').where({ id: versionId }).first();
      return toVersion(v, await row(id));
    },
    async versions(id: string, opts: { page: number; perPage: number }) {
      const a = await requireRow(id);
      const [{ n }] = await db('action_versions').where({ action_id: id }).count({ n: '*' });
      const rows = await db('action_versions').where({ action_id: id }).orderBy('number', 'desc').limit(opts.perPage).offset(opts.page * opts.perPage);
      return { versions: rows.map((v) => toVersion(v, a)), total: Number(n) };
    },
    async version(id: string, versionId: string) {
      const a = await requireRow(id);
      const v = await db('action_versions').where({ id: versionId, action_id: id }).first();
      if (!v) throw notFound('The version does not exist', 'inexistent_version');
      return toVersion(v, a);
    },
    async bindings(triggerId: TriggerId) {
      const rows = await db('action_bindings').join('actions', 'actions.id', 'action_bindings.action_id').where('action_bindings.trigger_id', triggerId)
        .orderBy('position').select('action_bindings.*', 'actions.name', 'actions.deployed_version_id');
      return rows.map((b) => ({
        id: `bnd_${b.trigger_id}_${b.position}`, trigger_id: triggerId, display_name: b.display_name, on_error: b.on_error as 'block' | 'allow',
        action: { id: b.action_id, name: b.name, deployed_version_id: b.deployed_version_id },
      }));
    },
    /** Replaces the trigger's list; every action must exist, be for this trigger and be deployed. */
    async setBindings(triggerId: TriggerId, list: { ref: { type: 'action_id' | 'action_name'; value: string }; display_name?: string; on_error?: 'block' | 'allow' }[]) {
      if (list.length > limits.maxActionsPerTrigger) throw badRequest(`bindings: at most ${limits.maxActionsPerTrigger} actions per trigger`);
      await db.transaction(async (trx) => {
        // The actions are looked up in the transaction, their rows held (see lockActions).
        const resolved: { trigger_id: TriggerId; position: number; action_id: string; display_name: string; on_error: string }[] = [];
        for (const [i, b] of list.entries()) {
          const a = await lockActions(trx('actions').where(b.ref.type === 'action_id' ? { id: b.ref.value } : { name: b.ref.value })).first();
          if (!a) throw badRequest(`bindings[${i}]: no action with ${b.ref.type === 'action_id' ? 'id' : 'name'} "${b.ref.value}"`);
          if (a.trigger_id !== triggerId) throw badRequest(`bindings[${i}]: action "${a.name}" is for ${a.trigger_id}, not ${triggerId}`);
          if (!a.deployed_version_id) throw badRequest(`bindings[${i}]: action "${a.name}" has not been deployed`);
          resolved.push({ trigger_id: triggerId, position: i, action_id: a.id, display_name: b.display_name ?? a.name, on_error: b.on_error ?? 'block' });
        }
        await trx('action_bindings').where({ trigger_id: triggerId }).delete();
        if (resolved.length) await trx('action_bindings').insert(resolved);
        if (triggerId === 'post-login') await dropLoginClaimsIfUnbound(trx);
      });
      bindingsVersion++;
      return this.bindings(triggerId);
    },
    /** What the runner needs: the bound deployed versions in order, compiled, with their secrets. */
    async chain(triggerId: TriggerId) {
      const rows = await db('action_bindings').join('actions', 'actions.id', 'action_bindings.action_id')
        .join('action_versions', 'action_versions.id', 'actions.deployed_version_id')
        .where('action_bindings.trigger_id', triggerId).orderBy('action_bindings.position')
        .select('actions.id as action_id', 'actions.name', 'action_versions.id as version_id', 'action_versions.number', 'action_versions.compiled',
          'action_versions.secrets_sealed', 'action_bindings.on_error');
      return rows.map((r) => ({
        actionId: r.action_id as string, name: r.name as string, versionId: r.version_id as string, number: Number(r.number),
        compiled: r.compiled as string, secrets: openSecrets(r.action_id, r.secrets_sealed), onError: r.on_error as 'block' | 'allow',
      }));
    },
    /** The draft, compiled, for `test` (no side effects). */
    async draft(id: string) {
      const r = await requireRow(id);
      const compiled = await compileChecked(r.code, r.trigger_id);
      return { actionId: r.id as string, name: r.name as string, triggerId: r.trigger_id as TriggerId, compiled, secrets: openSecrets(r.id, r.secrets_sealed) };
    },
    async execution(id: string) {
      const r = await db('action_executions').where({ id }).first();
      if (!r) throw notFound('The execution does not exist', 'inexistent_execution');
      return { id: r.id, trigger_id: r.trigger_id, status: r.status, results: expandResults(parseJson(r.results, [])), created_at: new Date(Number(r.created_at)).toISOString(), updated_at: new Date(Number(r.created_at)).toISOString() };
    },
    /** Newest first; `oldestFirst` (with `from`, inclusive, epoch ms): in the order they ran, for following. */
    async executions(opts: { limit: number; since?: number; triggerId?: string; from?: number; oldestFirst?: boolean }) {
      const q = db('action_executions').limit(opts.limit);
      if (opts.oldestFirst) q.orderBy('created_at', 'asc').orderBy('id', 'asc');
      else q.orderBy('created_at', 'desc');
      if (opts.since) q.where('created_at', '>', opts.since);
      if (opts.from !== undefined) q.where('created_at', '>=', opts.from);
      if (opts.triggerId) q.where({ trigger_id: opts.triggerId });
      const rows = await q;
      return rows.map((r) => ({ id: r.id, trigger_id: r.trigger_id, status: r.status, results: expandResults(parseJson(r.results, [])), created_at: new Date(Number(r.created_at)).toISOString() }));
    },
  };
}
export type ActionStore = ReturnType<typeof createActionStore>;
