import assert from 'node:assert/strict';
import type { TestServer } from './server.ts';

/*
 * Actions through the Management API, as the tests set them up: create and deploy an action,
 * bind a trigger's chain, read the execution records. Each call asserts the status it needs,
 * with the response body in the message.
 */

export interface ActionSecret { name: string; value: string }
export interface ActionSpec {
  name: string; trigger: string; code: string; secrets?: ActionSecret[];
  /** The trigger version sent in supported_triggers (left out when not given). */
  version?: string;
}
/** One entry of a trigger's chain: an action name, or a name with its on_error. */
export type ActionBinding = string | { name: string; on_error?: 'allow' | 'block' };

/** `POST /actions/actions` (201); returns the created action (draft, not deployed). */
export async function createAction(ts: TestServer, a: ActionSpec): Promise<{ id: string; code: string; [k: string]: any }> {
  const created = await ts.api('POST', '/actions/actions', {
    name: a.name, supported_triggers: [{ id: a.trigger, ...(a.version ? { version: a.version } : {}) }], code: a.code, ...(a.secrets ? { secrets: a.secrets } : {}),
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
}

/** `POST /actions/actions/{id}/deploy` (202, as Auth0); returns the new version. */
export async function deployVersion(ts: TestServer, id: string): Promise<{ id: string; number: number; code: string; [k: string]: any }> {
  const dep = await ts.api('POST', `/actions/actions/${id}/deploy`);
  assert.equal(dep.status, 202, JSON.stringify(dep.body));
  return dep.body;
}

/** Creates and deploys one action; returns its id. */
export async function deployAction(ts: TestServer, a: ActionSpec): Promise<string> {
  const { id } = await createAction(ts, a);
  await deployVersion(ts, id);
  return id;
}

/** `PATCH /actions/triggers/{trigger}/bindings` (200): the trigger's chain becomes `chain`, in order (`[]` unbinds all). */
export async function bindActions(ts: TestServer, trigger: string, chain: ActionBinding[]): Promise<void> {
  const bindings = chain.map((b) => typeof b === 'string'
    ? { ref: { type: 'action_name', value: b } }
    : { ref: { type: 'action_name', value: b.name }, ...(b.on_error ? { on_error: b.on_error } : {}) });
  const r = await ts.api('PATCH', `/actions/triggers/${trigger}/bindings`, { bindings });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

/** The latest execution record of `trigger` (undefined when it never ran). */
export async function latestExecution(ts: TestServer, trigger: string): Promise<any> {
  const r = await ts.api('GET', `/actions/executions?triggerId=${trigger}&limit=1`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.executions[0];
}

/**
 * Waits for the first execution record of `trigger`, for triggers that run after the response
 * (post-user-registration, post-change-password). Not a timing assertion: it only bounds a hang.
 */
export async function waitForExecution(ts: TestServer, trigger: string): Promise<any> {
  let exe;
  for (let i = 0; i < 50 && !exe; i++) {
    exe = await latestExecution(ts, trigger);
    if (!exe) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(exe, `${trigger} ran`);
  return exe;
}

/**
 * A page outside the server that an action sends the user to (api.redirect.sendUserTo) and that
 * sends them straight back to `/continue` with the state, as an outside authenticator or a
 * consent page would. `asked` lists the `who` query of each visit (what the action passed);
 * `refuse(query)` makes it answer 403 instead (a check the user fails).
 */
export async function startContinueBounce(issuer: () => string, o: { refuse?: (q: URLSearchParams) => boolean } = {}) {
  const { createServer } = await import('node:http');
  const asked: string[] = [];
  const server = createServer((req, res) => {
    const q = new URL(req.url!, 'http://x').searchParams;
    asked.push(q.get('who') ?? '');
    if (o.refuse?.(q)) { res.writeHead(403).end('not verified'); return; }
    res.writeHead(302, { location: `${issuer()}/continue?state=${encodeURIComponent(q.get('state') ?? '')}` }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/bounce`, asked,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
