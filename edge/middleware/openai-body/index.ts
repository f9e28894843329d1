import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { ApiError, describeZodError, type ChatCompletionRequest, type CompletionRequest } from '../../../shared/openai/index.ts';
import { tooLarge } from '../../src/errors.ts';
import type { AppEnv } from '../../src/env.ts';

export interface OpenAIBody {
  /** The validated request (shared schema output). */
  request: ChatCompletionRequest | CompletionRequest;
  /** The JSON exactly as the client sent it, so what is forwarded is what was signed and checked. */
  json: Record<string, unknown>;
  text: string;
}

export interface OpenAIBodyOptions {
  schema: z.ZodType<ChatCompletionRequest> | z.ZodType<CompletionRequest>;
  maxBytes: (c: Parameters<MiddlewareHandler<AppEnv>>[0]) => number;
}

/**
 * Size limit (413), content type and JSON syntax (400), then the shared zod schema (400 with the
 * offending `param`). Every refusal is an ApiError so it renders in OpenAI's shape.
 */
export function openaiBody({ schema, maxBytes }: OpenAIBodyOptions): MiddlewareHandler<AppEnv> {
  return async function openaiBody(c, next) {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new ApiError(400, `Expected Content-Type: application/json, got ${type ? `'${type.slice(0, 100)}'` : 'none'}.`, null, 'invalid_content_type');
    }
    // Hono's bodyLimit checks Content-Length up front and counts chunked bodies as they stream in.
    const limited = bodyLimit({ maxSize: maxBytes(c), onError: () => { throw tooLarge(c); } });
    return limited(c, async () => {
      const text = await c.req.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        throw new ApiError(400, `We could not parse the JSON body of your request: ${(err as Error).message}`, null, 'invalid_json');
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json)) {
        throw new ApiError(400, 'The request body must be a JSON object.', null, 'invalid_json');
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const { message, param } = describeZodError(parsed.error);
        throw new ApiError(400, message, param, 'invalid_request');
      }
      c.set('body', { request: parsed.data, json: json as Record<string, unknown>, text });
      await next();
    });
  };
}
