import type { z } from 'zod';
import { ApiError } from '../../../shared/openai/errors.ts';
import { ChatCompletionRequestSchema, CompletionRequestSchema, describeZodError, type ChatCompletionRequest, type CompletionRequest } from '../../../shared/openai/requests.ts';
import { checkRoutingBounds, resolveRouting, type RoutingLimits } from '../../../shared/routing/index.ts';
import type { ChatMessage, GenerationRequest } from '../engine/types.ts';
import type { ProfileLoader } from './profiles.ts';

export type Endpoint = 'chat' | 'completion';

/** What the mapping needs to know about the served model and the server's defaults. */
export interface MappingContext {
  modelId: string;
  limits: RoutingLimits;
  /** Prompt plus completion tokens the model can attend over. */
  contextLength: number;
  defaultMaxTokens: number;
  /** Used when the request omits (or nulls) temperature / top_p: the model's generation_config, as vLLM does. */
  samplingDefaults: { temperature: number; topP: number };
  loadProfile: ProfileLoader;
}

/** The model's recommended temperature / top_p (manifest.generationDefaults), else OpenAI's 1 and 1. */
export function samplingDefaults(generationDefaults: Record<string, unknown>): { temperature: number; topP: number } {
  const num = (v: unknown, lo: number, hi: number) => (typeof v === 'number' && v >= lo && v <= hi ? v : undefined);
  return { temperature: num(generationDefaults.temperature, 0, 2) ?? 1, topP: num(generationDefaults.top_p, Number.MIN_VALUE, 1) ?? 1 };
}

export interface MappedRequest {
  generation: GenerationRequest;
  stream: boolean;
  includeUsage: boolean;
  model: string;
}

/** Parses an OpenAI body (already JSON-decoded) into the engine's GenerationRequest, or throws a 400 ApiError naming the param. */
export async function mapRequest(endpoint: Endpoint, body: unknown, ctx: MappingContext, requestId: string, maxTokensCap?: number): Promise<MappedRequest> {
  const req = endpoint === 'chat' ? parse(ChatCompletionRequestSchema, body) : parse(CompletionRequestSchema, body);
  if (req.model !== ctx.modelId) {
    throw new ApiError(404, `The model '${req.model}' does not exist on this backend (serving '${ctx.modelId}')`, 'model', 'model_not_found');
  }

  const profile = req.routing?.profile && ctx.limits.profiles.includes(req.routing.profile) ? await ctx.loadProfile(req.routing.profile) : undefined;
  // Bounds apply to what will run: a profile's defaults (e.g. strategy "pick") under the request's fields.
  const routingIssue = req.routing ? checkRoutingBounds({ ...profile?.defaults, ...req.routing }, ctx.limits) : null;
  if (routingIssue) throw new ApiError(400, routingIssue.message, routingIssue.param);

  const generation: GenerationRequest = {
    requestId,
    sampling: {
      temperature: req.temperature ?? ctx.samplingDefaults.temperature,
      topP: req.top_p ?? ctx.samplingDefaults.topP,
      topK: 0,
      seed: req.seed ?? undefined,
      maxTokens: maxTokens(req, ctx, maxTokensCap),
      stop: stopStrings(req.stop),
    },
    routing: resolveRouting(req.routing, ctx.limits, profile),
  };
  if (endpoint === 'chat') generation.messages = (req as ChatCompletionRequest).messages.map(toChatMessage);
  else {
    const { prompt } = req as CompletionRequest;
    generation.prompt = Array.isArray(prompt) ? prompt[0] : prompt;
  }

  return { generation, stream: req.stream ?? false, includeUsage: req.stream_options?.include_usage ?? false, model: req.model };
}

/**
 * max_completion_tokens wins over the deprecated max_tokens. Without either, DEFAULT_MAX_TOKENS:
 * the server cannot know the remaining context before the engine tokenizes, and a bounded default
 * keeps one forgotten field from holding a batch slot for the whole context.
 */
function maxTokens(req: ChatCompletionRequest | CompletionRequest, ctx: MappingContext, cap = Infinity): number {
  const maxCompletion = (req as ChatCompletionRequest).max_completion_tokens;
  const explicit = maxCompletion != null ? { param: 'max_completion_tokens', value: maxCompletion } : req.max_tokens != null ? { param: 'max_tokens', value: req.max_tokens } : null;
  if (!explicit) return Math.min(ctx.defaultMaxTokens, ctx.contextLength - 1, cap);
  if (explicit.value >= ctx.contextLength) {
    throw new ApiError(400, `${explicit.param} is ${explicit.value}, but this model's context is ${ctx.contextLength} tokens including the prompt`, explicit.param, 'context_length_exceeded');
  }
  return explicit.value;
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const { message, param } = describeZodError(parsed.error);
  throw new ApiError(400, message, param);
}

function stopStrings(stop: string | string[] | null | undefined): string[] {
  const list = stop == null ? [] : typeof stop === 'string' ? [stop] : stop;
  const empty = list.findIndex((s) => s.length === 0);
  // An empty stop string would match before the first token and silently return nothing.
  if (empty >= 0) throw new ApiError(400, 'stop strings must not be empty', typeof stop === 'string' ? 'stop' : `stop[${empty}]`);
  return list;
}

function toChatMessage(m: ChatCompletionRequest['messages'][number]): ChatMessage {
  const content = m.content == null ? '' : typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('');
  // Qwen's ChatML template knows system, not OpenAI's newer "developer" role for the same thing.
  return { role: m.role === 'developer' ? 'system' : m.role, content };
}
