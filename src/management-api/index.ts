import Router from '@koa/router';
import type { AppContext } from '../context.ts';
import { managementAuth } from './auth.ts';

/** `/api/v2`: Auth0 Management API v2 shape. One file per resource registers its routes here. */
export function createManagementApi(app: AppContext) {
  const router = new Router({ prefix: `${app.urls.mountPath}/api/v2` });
  router.use(managementAuth(app));
  return router;
}
