import type { Middleware } from 'koa';
import { AppError, httpErrorName } from '../shared/errors.ts';
import { isUniqueViolation } from '../db/knex.ts';
import type { Logger } from '../shared/logger.ts';
import { messagePage } from '../../views/pages.ts';

const isBusy = (e: unknown) => /SQLITE_BUSY|database is locked|ECONNREFUSED|Connection terminated|acquireConnectionTimeout|Knex: Timeout/.test(String((e as Error)?.message ?? ''))
  || (e as { code?: string })?.code === 'SQLITE_BUSY';

/**
 * Turns errors into Auth0-shaped JSON (`{statusCode, error, message, errorCode}`) for API
 * routes, or an error page for browser routes. Internal details and stack traces never reach
 * the response; a busy or unreachable database is a 503.
 */
export function errorHandler(logger: Logger, appName: string, mode: 'json' | 'html', assetsBase = ''): Middleware {
  return async function handleErrors(ctx, next) {
    try {
      await next();
    } catch (err) {
      let status = 500;
      let errorCode = 'internal_error';
      let message = 'Internal error';
      const e = err as { status?: number; statusCode?: number; expose?: boolean; message?: string; type?: string };
      if (err instanceof AppError) {
        ({ status, errorCode, message } = err);
      } else if (isBusy(err)) {
        status = 503; errorCode = 'temporarily_unavailable'; message = 'The service is busy, try again shortly';
        logger.warn({ err }, 'database busy or unavailable');
      } else if (isUniqueViolation(err)) {
        // Two requests created the same name or identifier at once: each checked first, and the
        // database's unique index let only one write through. The other is a conflict, not a fault.
        status = 409; errorCode = 'conflict'; message = 'Another request created the same name or identifier at the same time';
        logger.warn({ path: ctx.path, method: ctx.method }, 'unique index refused a concurrent write');
      } else if (e && (e.status ?? e.statusCode) && e.expose) {
        status = (e.status ?? e.statusCode)!;
        errorCode = e.type === 'entity.too.large' ? 'payload_too_large' : e.type === 'entity.parse.failed' ? 'invalid_json' : 'invalid_request';
        message = status === 413 ? 'Request body too large' : status === 415 ? 'Unsupported content type' : (e.message ?? 'Bad request');
      } else {
        logger.error({ err, path: ctx.path, method: ctx.method }, 'unhandled error');
      }
      ctx.status = status;
      if (mode === 'json') {
        ctx.body = { statusCode: status, error: httpErrorName(status), message, errorCode };
      } else {
        ctx.type = 'html';
        ctx.body = messagePage({ appName, assetsBase, title: httpErrorName(status), message, error: true });
      }
    }
  };
}

/**
 * A listener for a Koa app's own `error` event: what reaches Koa itself (a client that went
 * away or timed out mid-request; the handlers above answer everything else) goes into the log,
 * at warn when the client caused it, instead of onto stderr through Koa's default handler.
 */
export function logKoaErrors(logger: Logger, what: string) {
  return (err: Error & { status?: number; expose?: boolean; code?: string }) => {
    const clientSide = (err.status !== undefined && err.status < 500) || err.expose === true || /^(ERR_HTTP_REQUEST_TIMEOUT|ECONNRESET|EPIPE|ECONNABORTED)$/.test(err.code ?? '');
    // `error_code`: the logger redacts a field named `code` (authorization codes).
    if (clientSide) logger.warn({ error_code: err.code, status: err.status, message: err.message }, `${what} ended early`);
    else logger.error({ err, stack: err.stack }, `${what} failed`);
  };
}
