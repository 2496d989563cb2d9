/**
 * Child process: the bare argon2id verify rate, on the core the server runs on, with the
 * options Gatehouse's hasher uses (taken from createPasswordHasher, so they cannot drift).
 * It is the ceiling for password logins on that core.
 */
import argon2 from 'argon2';
import { createPasswordHasher, type Argon2Params } from '../../src/users/passwords.ts';
import { serveChild } from '../lib/child.ts';

export interface Argon2Init { params: Argon2Params; password: string }
export interface Argon2Run { warmupMs: number; durationMs: number; concurrency: number }
export interface Argon2Result { count: number; seconds: number; cpuSeconds: number; failures: number }

let hash = '';
let password = '';

serveChild<Argon2Init, { pid: number; options: unknown }>({
  async setup(init) {
    const opts = createPasswordHasher(init.params).params;
    password = init.password;
    hash = await argon2.hash(password, opts);
    return { pid: process.pid, options: opts };
  },
  async onRun(raw): Promise<Argon2Result> {
    const a = raw as Argon2Run;
    const start = performance.now();
    const t0 = start + a.warmupMs;
    const t1 = t0 + a.durationMs;
    let count = 0;
    let failures = 0;
    // CPU (all threads: the verifies run on libuv's pool) snapshotted at the window's edges.
    let cpu0: NodeJS.CpuUsage | undefined;
    let cpu: NodeJS.CpuUsage | undefined;
    const edges = Promise.all([
      new Promise<void>((r) => setTimeout(() => { cpu0 = process.cpuUsage(); r(); }, a.warmupMs)),
      new Promise<void>((r) => setTimeout(() => { cpu = process.cpuUsage(cpu0); r(); }, a.warmupMs + a.durationMs)),
    ]);
    // Each worker verifies back to back until the window closes; hard cap on iterations too.
    const worker = async () => {
      for (let i = 0; i < 1_000_000; i++) {
        if (performance.now() >= t1) return;
        const ok = await argon2.verify(hash, password);
        const done = performance.now();
        if (!ok) failures++;
        else if (done >= t0 && done <= t1) count++;
      }
    };
    await Promise.all(Array.from({ length: a.concurrency }, worker));
    await edges;
    const used = cpu!;
    return { count, seconds: a.durationMs / 1000, cpuSeconds: (used.user + used.system) / 1e6, failures };
  },
});
