import type { SandboxStatus } from '../sandbox/types.ts';

/**
 * The results of an execution record, as stored and as the Management API shows them.
 *
 * Stored compact (`{"v":2,"r":[…]}`: short keys, empty fields left out, the start as epoch ms,
 * api calls as `[type, …args]`), because every bound chain writes one record on the request
 * path's thread: measured with five actions that each set a claim, the record's JSON was about
 * 1.5 KB in the API's shape and its SQLite insert the largest single cost the engine adds to a
 * token request. `expandResults` gives the API shape back (Auth0's field names, ISO times);
 * records written before the compact form are plain arrays in that shape already.
 */

export interface RecordedCommand { type: string; args: (string | null)[] }

export interface ResultToRecord {
  name: string; key: string; status: SandboxStatus; startedAt: number; durationMs: number;
  error?: { name: string; message: string }; logs: string; recorded?: RecordedCommand[]; rejected: string[];
}

interface Stored {
  /** action name, version id, status, start (epoch ms), duration (ms) */
  n: string; k: string; s: SandboxStatus; t: number; d: number;
  e?: { name: string; message: string }; l?: string; c?: (string | null)[][]; x?: string[];
}

export interface ExecutionResult {
  action_name: string; version_id: string; status: SandboxStatus; error: { name: string; message: string } | null; logs: string;
  commands: RecordedCommand[]; rejected_commands: string[]; started_at: string; ended_at: string; duration_ms: number;
}

/** The results column of a new record. */
export function compactResults(results: ResultToRecord[]): string {
  const r: Stored[] = [];
  for (const x of results) {
    const s: Stored = { n: x.name, k: x.key, s: x.status, t: x.startedAt, d: Math.round(x.durationMs * 1000) / 1000 };
    if (x.error) s.e = { name: x.error.name, message: x.error.message };
    if (x.logs) s.l = x.logs;
    if (x.recorded && x.recorded.length) s.c = x.recorded.map((c) => [c.type, ...c.args]);
    if (x.rejected.length) s.x = x.rejected;
    r.push(s);
  }
  return JSON.stringify({ v: 2, r });
}

const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const iso = (ms: number): string => { const d = new Date(ms); return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString(); };
const STATUSES: ReadonlySet<string> = new Set(['ok', 'denied', 'timeout', 'oom', 'syntax', 'runtime']);

/**
 * A stored results column (parsed JSON), in the API's shape. A row is a log the server wrote,
 * but reading it must never fail the API or hand back odd types: every field is checked, and
 * what does not fit is left out or emptied.
 */
export function expandResults(stored: unknown): ExecutionResult[] {
  if (Array.isArray(stored)) return stored as ExecutionResult[];
  const o = stored as { v?: unknown; r?: unknown } | null;
  if (o === null || typeof o !== 'object' || o.v !== 2 || !Array.isArray(o.r)) return [];
  const out: ExecutionResult[] = [];
  for (const item of o.r as unknown[]) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
    const x = item as Record<string, unknown>;
    const t = num(x.t);
    const d = num(x.d);
    const e = x.e as Record<string, unknown> | null | undefined;
    out.push({
      action_name: str(x.n), version_id: str(x.k), status: (STATUSES.has(str(x.s)) ? x.s : 'runtime') as SandboxStatus,
      error: e !== null && typeof e === 'object' ? { name: str(e.name, 'Error'), message: str(e.message) } : null,
      logs: str(x.l),
      commands: (Array.isArray(x.c) ? x.c : []).filter(Array.isArray).map((c: unknown[]) => ({ type: str(c[0]), args: c.slice(1).map((a) => (typeof a === 'string' ? a : null)) })),
      rejected_commands: (Array.isArray(x.x) ? x.x : []).filter((r): r is string => typeof r === 'string'),
      started_at: iso(t), ended_at: iso(t + d), duration_ms: d,
    });
  }
  return out;
}
