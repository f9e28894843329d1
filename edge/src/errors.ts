import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ApiError, errorBody } from '../../shared/openai/index.ts';
import type { AppEnv } from './env.ts';

/** Renders an ApiError as OpenAI's error body; the one place a refusal becomes a Response. */
export function errorResponse(c: Context<AppEnv>, err: ApiError): Response {
  for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
  return c.json(err.toJSON(), err.status);
}

/**
 * Anything that is not an ApiError is our bug or the platform's: log it with the request id and
 * answer a generic 500, so stack traces, backend URLs and secrets stay out of the response.
 */
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof ApiError) return errorResponse(c, err);
  if (err instanceof HTTPException && err.status === 413) return errorResponse(c, tooLarge(c));
  console.error(JSON.stringify({ level: 'error', request_id: c.get('requestId'), msg: String(err), stack: err instanceof Error ? err.stack : undefined }));
  return c.json(errorBody(500, 'The server had an error while processing your request.', null, 'internal_error'), 500);
};

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  c.json(errorBody(404, `Unknown route: ${c.req.method} ${new URL(c.req.url).pathname}`, null, 'unknown_url'), 404);

export function tooLarge(c: Context<AppEnv>): ApiError {
  const limit = c.get('config')?.MAX_BODY_BYTES;
  return new ApiError(413, `Request body too large: the limit is ${limit ?? 'set by MAX_BODY_BYTES'} bytes`, null, 'request_too_large');
}
