import assert from 'node:assert/strict';
import type { TestServer } from './server.ts';

/** The one database connection's id, as Auth0's import names it. */
export const CONNECTION_ID = 'con_username_password';

/** POST /jobs/users-imports on `ts` with `users` as the file; the answer. */
export async function uploadUsers(ts: TestServer, users: unknown, fields: Record<string, string> = { connection_id: CONNECTION_ID }, token?: string) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('users', new Blob([typeof users === 'string' ? users : JSON.stringify(users)], { type: 'application/json' }), 'users.json');
  const res = await fetch(`${ts.base}/api/v2/jobs/users-imports`, { method: 'POST', headers: { authorization: `Bearer ${token ?? await ts.adminToken()}` }, body: form });
  return { status: res.status, body: await res.json().catch(() => undefined) as any };
}

/** The job `id` on `ts` (an import, an export) once it is no longer pending. */
export async function finishedJob(ts: TestServer, id: string) {
  for (let i = 0; i < 200; i++) {
    const r = await ts.api('GET', `/jobs/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (r.body.status !== 'pending') return r.body;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error('the import job did not finish');
}
