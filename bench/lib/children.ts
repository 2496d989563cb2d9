/**
 * Starting the benchmark's child processes, each pinned to a core with `taskset`, and
 * talking to them over IPC (see child.ts).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildMessage, ParentMessage } from './child.ts';

let tasksetOk: boolean | undefined;
export function hasTaskset(): boolean {
  if (tasksetOk === undefined) {
    try { execFileSync('taskset', ['-V'], { stdio: 'ignore' }); tasksetOk = true; } catch { tasksetOk = false; }
  }
  return tasksetOk;
}

/** Pins every thread of this process (the load generator) to `cpu`. */
export function pinSelf(cpu: number): boolean {
  if (!hasTaskset()) return false;
  try { execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' }); return true; } catch { return false; }
}

export { freePort } from '../../test/helpers/server.ts';

const live = new Set<ChildProcess>();
/** Last resort on an abnormal exit of the parent: our own children only, by handle. */
export function killAllChildren(): void {
  for (const c of live) { try { c.kill('SIGKILL'); } catch { /* already gone */ } }
}

export class Child<Info> {
  readonly name: string;
  readonly proc: ChildProcess;
  info!: Info;
  stderr = '';
  #nextId = 1;
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #ready?: { resolve(v: unknown): void; reject(e: Error): void };
  #exited: Promise<number | null>;

  /**
   * `script` is run with this Node (the project's Node 24) and `--no-node-snapshot`, pinned
   * to `cpu` when taskset is available; stdout (server logs) goes to `logDir/<name>.log`.
   */
  constructor(name: string, script: string, o: { cpu?: number; nodeArgs?: string[]; logDir: string; env?: Record<string, string> }) {
    this.name = name;
    const node = [process.execPath, '--no-node-snapshot', ...(o.nodeArgs ?? []), script];
    const cmd = o.cpu !== undefined && hasTaskset() ? ['taskset', '-c', String(o.cpu), ...node] : node;
    const out = openSync(join(o.logDir, `${name}.log`), 'a');
    this.proc = spawn(cmd[0], cmd.slice(1), {
      stdio: ['ignore', out, 'pipe', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production', ...o.env },
    });
    closeSync(out);
    live.add(this.proc);
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (d: string) => { if (this.stderr.length < 64 * 1024) this.stderr += d; });
    this.proc.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') this.#ready?.resolve(m.info);
      else if (m.type === 'result') { this.#pending.get(m.id)?.resolve(m.result); this.#pending.delete(m.id); }
      else if (m.type === 'error') this.#failAll(new Error(`${name}: ${m.message}`));
    });
    this.#exited = new Promise((resolve) => this.proc.once('exit', (code) => {
      live.delete(this.proc);
      this.#failAll(new Error(`${name} exited (${code}): ${this.stderr.slice(-2000)}`));
      resolve(code);
    }));
  }

  #failAll(e: Error) {
    this.#ready?.reject(e);
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  get pid(): number { return this.proc.pid!; }

  async start(init: unknown, timeoutMs = 60_000): Promise<Info> {
    const ready = new Promise<unknown>((resolve, reject) => { this.#ready = { resolve, reject }; });
    this.proc.send({ type: 'init', init } satisfies ParentMessage);
    this.info = await withTimeout(ready, timeoutMs, `${this.name} did not start`) as Info;
    return this.info;
  }

  async run<R>(args: unknown, timeoutMs: number): Promise<R> {
    const id = this.#nextId++;
    const p = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.proc.send({ type: 'run', id, args } satisfies ParentMessage);
    return withTimeout(p, timeoutMs, `${this.name} run timed out`) as Promise<R>;
  }

  /** Asks for a clean exit (flushes --cpu-prof); kills this child if it takes too long. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    try { this.proc.send({ type: 'stop' } satisfies ParentMessage); } catch { /* channel already closed */ }
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(t);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => { t = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}
