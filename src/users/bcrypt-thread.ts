import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

/*
 * One bcrypt compare at a time, off the main thread (src/users/passwords.ts): bcryptjs is
 * JavaScript, and on the main thread a compare at cost 10 held the event loop in slices of
 * about 100 ms, so every other request waited behind an imported user's sign-in.
 */
parentPort!.on('message', (m: { id: number; password: string; hash: string }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(m.password, m.hash); } catch { ok = false; }
  parentPort!.postMessage({ id: m.id, ok });
});
