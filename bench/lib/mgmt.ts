/**
 * Actions through the Management API, as test/helpers/actions.ts sets them up: create and
 * deploy an action, bind a trigger's chain, read execution records. Setup and bookkeeping
 * only (fetch, unmeasured): the measured traffic goes through lib/load.ts.
 */

export interface MgmtClient {
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** `POST /actions/actions` then `POST …/deploy`: the action's id and its deployed version id. */
  deployAction(a: { name: string; trigger: string; code: string; secrets?: { name: string; value: string }[] }): Promise<{ id: string; versionId: string }>;
  /** `PATCH /actions/actions/{id}` (new draft code) then deploy: the new version id. */
  redeploy(id: string, code: string): Promise<string>;
  /** `PATCH /actions/triggers/{trigger}/bindings`: the chain becomes these action names, in order. */
  bind(trigger: string, names: string[]): Promise<void>;
  /** The newest execution records of a trigger (newest first). */
  executions(trigger: string, limit: number): Promise<any[]>;
}

export async function mgmtClient(base: string, clientId: string, clientSecret: string): Promise<MgmtClient> {
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: `${base}/api/v2/` }),
  });
  const tok = await res.json() as { access_token?: string };
  if (!tok.access_token) throw new Error(`Management API token: ${res.status} ${JSON.stringify(tok)}`);
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}/api/v2${path}`, {
      method, headers: { authorization: `Bearer ${tok.access_token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    let parsed: unknown = text;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
    return { status: r.status, body: parsed as any };
  };
  const expect = (r: { status: number; body: any }, status: number | number[], what: string) => {
    if (Array.isArray(status) ? !status.includes(r.status) : r.status !== status) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
    return r.body;
  };
  // 202 (as Auth0); 200 from checkouts before 2026-11-24, which `actions-diagnose.ts --against` may run.
  const deploy = async (id: string) => (expect(await call('POST', `/actions/actions/${id}/deploy`), [202, 200], `deploy ${id}`) as { id: string }).id;
  return {
    call,
    async deployAction(a) {
      const created = expect(await call('POST', '/actions/actions', {
        name: a.name, supported_triggers: [{ id: a.trigger }], code: a.code, ...(a.secrets ? { secrets: a.secrets } : {}),
      }), 201, `create action ${a.name}`) as { id: string };
      return { id: created.id, versionId: await deploy(created.id) };
    },
    async redeploy(id, code) {
      expect(await call('PATCH', `/actions/actions/${id}`, { code }), 200, `update action ${id}`);
      return deploy(id);
    },
    async bind(trigger, names) {
      expect(await call('PATCH', `/actions/triggers/${trigger}/bindings`, { bindings: names.map((value) => ({ ref: { type: 'action_name', value } })) }), 200, `bind ${trigger}`);
    },
    async executions(trigger, limit) {
      return (expect(await call('GET', `/actions/executions?triggerId=${trigger}&limit=${limit}`), 200, 'executions') as { executions: any[] }).executions;
    },
  };
}
