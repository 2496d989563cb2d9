/**
 * The actions the Actions benchmark deploys: small but realistic (what an Auth0 tenant
 * typically binds), each with its own claim name so a chain of five sets five claims.
 */

export const CLAIM_NS = 'https://bench.example/';

/** credentials-exchange: a claim built from event.client (its metadata) and a secret. */
export function ccActionCode(i: number): string {
  return `/** bench credentials-exchange action ${i}: tenant and plan of the calling client. */
exports.onExecuteCredentialsExchange = async (event, api) => {
  const meta = event.client.metadata || {};
  api.accessToken.setCustomClaim('${CLAIM_NS}cc${i}', {
    client: event.client.name,
    plan: meta.plan || 'free',
    tenant: event.secrets.TENANT_ID,
    audience: event.resource_server ? event.resource_server.identifier : null,
  });
};
`;
}

/** post-login: an ID-token claim from event.user and event.authorization.roles. */
export function postLoginActionCode(i: number): string {
  return `/** bench post-login action ${i}: roles and profile facts into the ID token. */
exports.onExecutePostLogin = async (event, api) => {
  const roles = (event.authorization && event.authorization.roles) || [];
  api.idToken.setCustomClaim('${CLAIM_NS}pl${i}', {
    roles,
    admin: roles.includes('admin'),
    verified: event.user.email_verified === true,
    domain: String(event.user.email || '').split('@')[1] || null,
    logins: event.user.logins_count,
  });
};
`;
}

/** The memory phase: twenty different actions, each with a little module state (as real ones have: a counter, a memo). */
export function memActionCode(i: number, nonce = ''): string {
  return `/** bench memory action ${i} ${nonce} */
let calls = 0;
const seen = new Map();
exports.onExecuteCredentialsExchange = async (event, api) => {
  calls++;
  const id = event.client.client_id;
  seen.set(id, (seen.get(id) || 0) + 1);
  if (seen.size > 100) seen.clear();
  api.accessToken.setCustomClaim('${CLAIM_NS}m${i}', { n: calls % 1000, plan: (event.client.metadata || {}).plan || 'free', k: event.secrets.KEY.slice(0, 4) });
};
`;
}

/** Events shaped like the ones the server builds (src/actions/triggers/run.ts), for the sandbox-only measurements. */
export function sampleCcEvent(): Record<string, unknown> {
  return {
    client: { client_id: 'Zx8kq2Lr5Vn1Tb7Wc3Yd9Fg4', name: 'bench M2M', metadata: { plan: 'enterprise', region: 'eu' } },
    request: { ip: '127.0.0.1', method: 'POST', hostname: '127.0.0.1', user_agent: 'gatehouse-bench', query: {}, body: { grant_type: 'client_credentials', audience: 'https://api.bench.example/', scope: 'read:things write:things' } },
    tenant: { id: '127.0.0.1' },
    transaction: { requested_scopes: ['read:things', 'write:things'] },
    resource_server: { identifier: 'https://api.bench.example/' },
    accessToken: { scope: ['read:things', 'write:things'], customClaims: {} },
  };
}

export function samplePostLoginEvent(): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    user: {
      user_id: 'auth0|u_2b7f0c1e9a4d', email: 'bench-user-0@example.com', email_verified: true, name: 'bench-user-0@example.com', nickname: 'bench-user-0',
      picture: '', created_at: now, updated_at: now, last_login: now, last_ip: '127.0.0.1', logins_count: 42, app_metadata: {}, user_metadata: {},
      identities: [{ provider: 'auth0', user_id: 'u_2b7f0c1e9a4d', connection: 'Username-Password-Authentication', isSocial: false }], multifactor: [], enrolledFactors: [],
    },
    authorization: { roles: ['admin', 'editor'] },
    client: { client_id: 'Qm3Nf8Hs1Kd6Pz0Xv4Bt7Rj2', name: 'bench SPA', metadata: {} },
    request: { ip: '127.0.0.1', method: 'POST', hostname: '127.0.0.1', user_agent: 'gatehouse-bench', query: {}, body: { email: 'bench-user-0@example.com' } },
    transaction: { id: 'i_abc', protocol: 'oidc-basic-profile', requested_scopes: ['openid', 'profile', 'email'], redirect_uri: 'https://bench.example/callback', response_type: ['code'], state: 'st', ui_locales: [] },
    authentication: { methods: [{ name: 'pwd', timestamp: now }] }, stats: { logins_count: 42 }, session: { id: 's_abc' },
    connection: { id: 'con_username_password', name: 'Username-Password-Authentication', strategy: 'auth0' }, tenant: { id: '127.0.0.1' },
  };
}
