/** OpenAI's error body. Every refusal, at the edge or the backend, uses it. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 408 | 413 | 415 | 429 | 500 | 502 | 503 | 504;

const TYPE_BY_STATUS: Record<ErrorStatus, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  408: 'timeout_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'server_error',
  502: 'server_error',
  503: 'server_error',
  504: 'timeout_error',
};

/** An error that knows its HTTP status and OpenAI body; thrown anywhere, rendered once by onError. */
export class ApiError extends Error {
  constructor(
    readonly status: ErrorStatus,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): OpenAIErrorBody {
    return errorBody(this.status, this.message, this.param, this.code);
  }
}

export function errorBody(status: ErrorStatus, message: string, param: string | null = null, code: string | null = null): OpenAIErrorBody {
  return { error: { message, type: TYPE_BY_STATUS[status], param, code } };
}
