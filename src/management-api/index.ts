import Router from '@koa/router';
import type { AppContext } from '../context.ts';
import { managementAuth } from './auth.ts';
import { registerUsers } from './users.ts';
import { registerRoles } from './roles.ts';
import { registerClients } from './clients.ts';
import { registerResourceServers } from './resource-servers.ts';
import { registerClientGrants } from './client-grants.ts';
import { registerKeys } from './keys.ts';
import { registerLogs } from './logs.ts';
import { registerActions } from './actions.ts';
import { registerAuthenticationMethods } from './authentication-methods.ts';
import { registerGrants } from './grants.ts';
import { registerOrganizations } from './organizations.ts';
import { registerSessions } from './sessions.ts';
import { registerRefreshTokens } from './refresh-tokens.ts';
import { registerTickets } from './tickets.ts';
import { registerUserImports } from './user-imports.ts';
import { registerUserExports } from './user-exports.ts';
import { registerConnections } from './connections.ts';
import { registerStats } from './stats.ts';
import { registerLogStreams } from './log-streams.ts';

/** `/api/v2`: Auth0 Management API v2 shape. One file per resource registers its routes here. */
export function createManagementApi(app: AppContext) {
  const router = new Router({ prefix: `${app.urls.mountPath}/api/v2` });
  router.use(managementAuth(app));
  registerUsers(router, app);
  registerRoles(router, app);
  registerClients(router, app);
  registerResourceServers(router, app);
  registerClientGrants(router, app);
  registerKeys(router, app);
  registerLogs(router, app);
  registerActions(router, app);
  registerAuthenticationMethods(router, app);
  registerGrants(router, app);
  registerOrganizations(router, app);
  registerSessions(router, app);
  registerRefreshTokens(router, app);
  registerTickets(router, app);
  registerUserImports(router, app);
  registerUserExports(router, app);
  registerConnections(router, app);
  registerStats(router, app);
  registerLogStreams(router, app);
  return router;
}
