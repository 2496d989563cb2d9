/**
 * The one error type of our own API surface (Management API, self-service pages). OAuth
 * errors stay oidc-provider's. `errorCode` follows Auth0's Management API error shape.
 */
export class AppError extends Error {
  readonly status: number;
  readonly errorCode: string;
  readonly details?: Record<string, unknown>;
  constructor(status: number, errorCode: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
    this.details = details;
  }
}

export const badRequest = (message: string, errorCode = 'invalid_body') => new AppError(400, errorCode, message);
export const notFound = (message: string, errorCode = 'inexistent_resource') => new AppError(404, errorCode, message);
export const conflict = (message: string, errorCode = 'conflict') => new AppError(409, errorCode, message);

/** Throws `error` unless `condition` holds (Logto's assertThat). */
export function assertThat(condition: unknown, error: AppError | (() => AppError)): asserts condition {
  if (!condition) throw typeof error === 'function' ? error() : error;
}

const HTTP_ERROR: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};
export const httpErrorName = (status: number) => HTTP_ERROR[status] ?? 'Error';
