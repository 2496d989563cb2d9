/**
 * A server and the processes it started (the Actions sandbox workers), from /proc: who its
 * descendants are, their CPU time and their resident memory. Linux only; elsewhere every
 * figure is undefined or empty.
 */
import { readFileSync, readdirSync } from 'node:fs';

interface Stat { pid: number; ppid: number; cpuSeconds: number }

function stat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // USER_HZ is 100 on every Linux ABI Node supports.
    return { pid, ppid: Number(f[1]), cpuSeconds: (Number(f[11]) + Number(f[12])) / 100 };
  } catch {
    return undefined;
  }
}

/** Every live descendant of `pid` (children, their children…), by a scan of /proc. */
export function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  let entries: string[];
  try { entries = readdirSync('/proc'); } catch { return []; }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = stat(Number(e));
    if (!s) continue;
    const l = kids.get(s.ppid);
    if (l) l.push(s.pid); else kids.set(s.ppid, [s.pid]);
  }
  const out: number[] = [];
  const todo = [...(kids.get(pid) ?? [])];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(kids.get(p) ?? []));
  }
  return out.sort((a, b) => a - b);
}

/**
 * CPU seconds a process has run, all its threads, in nanoseconds resolution: the sum of the
 * first field of /proc/<pid>/task/<tid>/schedstat. /proc/<pid>/stat counts in 10 ms ticks,
 * too coarse for a sandbox worker that runs 20 ms in a window. Falls back to the ticks when
 * schedstat is not there.
 */
export function preciseCpuSeconds(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try { ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread ended */ }
    }
    return ns / 1e9;
  } catch {
    return stat(pid)?.cpuSeconds;
  }
}

/** CPU seconds of each thread of a process (schedstat, ns resolution), by thread id. */
function threadTimes(pid: number): Map<string, number> | undefined {
  const m = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try { m.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9); } catch { /* thread ended */ }
    }
  } catch {
    return undefined;
  }
  return m;
}

/**
 * CPU seconds of `pid` and of some of its descendants, thread by thread. A sum over live
 * threads would go down when a thread exits between two readings (V8 and isolated-vm end
 * threads now and then), so `cpuDelta` compares thread by thread: a thread present at both
 * readings counts its difference, a new one all of its time, an ended one nothing.
 */
export interface TreeCpu { pid: number; self: Map<string, number>; children: Map<number, Map<string, number>> }
export function treeCpu(pid: number, children: number[]): TreeCpu | undefined {
  const self = threadTimes(pid);
  if (!self) return undefined;
  const m = new Map<number, Map<string, number>>();
  for (const c of children) { const t = threadTimes(c); if (t) m.set(c, t); }
  return { pid, self, children: m };
}

function threadDelta(a: Map<string, number> | undefined, b: Map<string, number>): number {
  let d = 0;
  for (const [tid, v] of b) d += v - (a?.get(tid) ?? 0);
  return d;
}

/**
 * CPU used between two readings: the server's own (all threads, and its main thread alone:
 * argon2 and crypto run on libuv's pool, JavaScript on the main thread), and its children's (a
 * child must be there at the first reading).
 */
export function cpuDelta(a: TreeCpu, b: TreeCpu): { self: number; main: number; children: number } {
  let children = 0;
  for (const [pid, t] of b.children) { const t0 = a.children.get(pid); if (t0 !== undefined) children += threadDelta(t0, t); }
  const tid = String(b.pid);
  return { self: threadDelta(a.self, b.self), main: (b.self.get(tid) ?? 0) - (a.self.get(tid) ?? 0), children };
}

/** VmRSS of a process in KiB (undefined when it is gone or /proc is not there). */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The command line of a process, for labelling (e.g. which descendant is a sandbox worker). */
export function cmdline(pid: number): string {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' '); } catch { return ''; }
}

/** CPU affinity list of a process (`Cpus_allowed_list`), to check children inherited the pinning. */
export function cpusAllowed(pid: number): string | undefined {
  try { return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]; } catch { return undefined; }
}
