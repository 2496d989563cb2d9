/**
 * The IPC protocol between bench/run.ts and its children (Gatehouse, bare oidc-provider,
 * argon2 probe). A child gets its setup as the first message rather than in argv or the
 * environment, so the throwaway signing key never shows up in a process listing.
 */

export type ParentMessage =
  | { type: 'init'; init: unknown }
  | { type: 'run'; id: number; args: unknown }
  | { type: 'stop' };

export type ChildMessage =
  | { type: 'ready'; info: unknown }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; message: string };

/**
 * Child side: waits for `init`, calls `setup`, reports `ready`; answers `run` with `onRun`;
 * on `stop` calls `teardown` and exits normally (so `--cpu-prof` gets to write its profile,
 * which a signal would prevent).
 */
export function serveChild<I, R>(h: {
  setup(init: I): Promise<R>;
  onRun?(args: unknown): Promise<unknown>;
  teardown?(): Promise<void>;
}): void {
  if (!process.send) throw new Error('this script is a child of bench/run.ts; run `npm run bench`');
  const send = (m: ChildMessage) => process.send!(m);
  let stopping = false;
  process.on('message', (m: ParentMessage) => {
    void (async () => {
      try {
        if (m.type === 'init') send({ type: 'ready', info: await h.setup(m.init as I) });
        else if (m.type === 'run') send({ type: 'result', id: m.id, result: await h.onRun!(m.args) });
        else if (m.type === 'stop' && !stopping) {
          stopping = true;
          await h.teardown?.();
          process.disconnect?.();
          process.exit(0);
        }
      } catch (err) {
        send({ type: 'error', message: (err as Error).stack ?? String(err) });
      }
    })();
  });
  // If the parent dies the IPC channel closes: never outlive it.
  process.on('disconnect', () => { if (!stopping) process.exit(1); });
}
