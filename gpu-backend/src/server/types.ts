import type { Logger } from 'pino';
import type { RequestIdVariables } from 'hono/request-id';

/** The one Hono environment of the backend app: per-request variables set by the middleware. */
export interface AppEnv {
  Variables: RequestIdVariables & {
    /** pino child logger bound to this request's x-request-id. */
    log: Logger;
  };
}
