import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ApiError, errorBody, type ErrorStatus } from '../../../shared/openai/errors.ts';
import { AdmissionError } from '../engine/types.ts';
import type { AppEnv } from './types.ts';

/** Maps anything thrown below the routes to an ApiError; unknown errors become a 500 without internals. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof AdmissionError) {
    const headers: Record<string, string> = err.retryAfterS !== undefined ? { 'Retry-After': String(Math.max(1, Math.ceil(err.retryAfterS))) } : {};
    if (err.status === 429 && !headers['Retry-After']) headers['Retry-After'] = '1';
    return new ApiError(err.status, err.message, err.param, err.status === 429 ? 'overloaded' : null, headers);
  }
  if (err instanceof HTTPException) {
    const status = (err.status in STATUS_OK ? err.status : 500) as ErrorStatus;
    return new ApiError(status, err.message || 'Request failed');
  }
  return new ApiError(500, 'Internal server error', null, 'internal_error');
}

const STATUS_OK: Record<number, true> = { 400: true, 401: true, 403: true, 404: true, 405: true, 408: true, 413: true, 415: true, 429: true, 500: true, 502: true, 503: true, 504: true };

export function renderError(c: Context, err: ApiError): Response {
  for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
  return c.json(errorBody(err.status, err.message, err.param, err.code), err.status);
}

export const onError: ErrorHandler<AppEnv> = (err, c) => {
  const apiError = toApiError(err);
  const log = c.get('log');
  // Only the unexpected deserves a stack trace; refusals (400s, 429, 503 while draining) are routine.
  const expected = err instanceof ApiError || err instanceof AdmissionError || err instanceof HTTPException;
  if (!expected) log?.error({ err }, 'request failed');
  else log?.info({ status: apiError.status, param: apiError.param, code: apiError.code, reason: apiError.message }, 'request refused');
  return renderError(c, apiError);
};

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  renderError(c, new ApiError(404, `Unknown endpoint: ${c.req.method} ${c.req.path}`, null, 'unknown_url'));
