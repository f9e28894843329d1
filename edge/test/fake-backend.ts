import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER, type VerifyResult } from '../../shared/signing/index.ts';

/**
 * A stand-in for gpu-backend in the edge's unit tests, run in Node by vitest's globalSetup so it
 * sees real sockets: whether a signature verifies, and whether the edge cancelled a stream.
 * Origin behaviour comes from the base path (/o/<behaviour>), per-request behaviour from the
 * body's `x_scenario` field (the OpenAI schemas are loose, so it passes the edge untouched).
 */
export const FAKE_SECRET = 'test-backend-secret';

export interface LogEntry {
  origin: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  signature: VerifyResult;
  /** The edge closed the connection before the response finished. */
  cancelled: boolean;
  finished: boolean;
}

export const FAKE_MODELS = {
  object: 'list',
  data: [
    {
      id: 'fake-moe',
      object: 'model',
      created: 1700000000,
      owned_by: 'pickban',
      architecture: { num_layers: 4, num_experts: 8 },
      routing: {
        num_layers: 4,
        num_experts: 8,
        default_top_k: 2,
        max_top_k: 4,
        strategies: ['top_k', 'pick', 'ban', 'pick_and_ban', 'ban_and_pick'],
        profiles: ['creative'],
        renormalize_default: true,
      },
    },
  ],
};

const log: LogEntry[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chunk = (i: number) => `data: ${JSON.stringify({ id: 'cmpl-fake', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: `t${i}` } }] })}\n\n`;

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', server: 'fake-backend/1.0', 'x-powered-by': 'node' });
  res.end(JSON.stringify(body));
}

async function handle(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url!, 'http://fake');
  if (url.pathname === '/__log') {
    const rid = url.searchParams.get('rid');
    return json(res, 200, log.filter((e) => e.headers['x-request-id'] === rid));
  }
  const [, o, behaviour, ...rest] = url.pathname.split('/');
  if (o !== 'o') return json(res, 404, { error: { message: 'no such origin', type: 'invalid_request_error', param: null, code: null } });
  const body = await readBody(req);
  const signature = await verifyRequest({
    secret: FAKE_SECRET,
    method: req.method!,
    path: req.url!,
    body,
    signature: req.headers[SIGNATURE_HEADER] as string | undefined,
    timestamp: req.headers[TIMESTAMP_HEADER] as string | undefined,
  });
  const entry: LogEntry = { origin: behaviour, method: req.method!, path: '/' + rest.join('/'), headers: req.headers, body, signature, cancelled: false, finished: false };
  log.push(entry);
  res.on('close', () => {
    entry.finished = res.writableFinished;
    entry.cancelled = !res.writableFinished;
  });

  if (behaviour === 'hang') return; // never answers: header timeout
  if (behaviour === 'down') return json(res, 503, { error: { message: 'overloaded at http://10.0.0.7:8000', type: 'server_error', param: null, code: 'overloaded' } });
  if (!signature.ok) return json(res, 401, { error: { message: `bad signature: ${signature.reason}`, type: 'authentication_error', param: null, code: 'invalid_signature' } });
  if (entry.path === '/v1/models') return json(res, 200, FAKE_MODELS);

  const request = JSON.parse(body || '{}');
  const [scenario, arg] = String(request.x_scenario ?? 'chunks').split(':');
  if (scenario === 'error-400') {
    return json(res, 400, { error: { message: 'prompt too long for http://10.0.0.7:8000/v1\n    at Engine.admit (/srv/gpu-backend/src/engine/core.ts:42:7)', type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } });
  }
  if (scenario === 'error-500') {
    return json(res, 500, { error: { message: 'TypeError: x is undefined\n    at run (/srv/gpu-backend/src/runner.ts:10:3) secret=test-backend-secret', type: 'server_error', param: null, code: 'internal_error' } });
  }
  if (scenario === 'error-html') {
    res.writeHead(502, { 'content-type': 'text/html' });
    return res.end('<html>nginx upstream http://10.0.0.7:8000 failed</html>');
  }
  if (scenario === 'slow') await sleep(Number(arg));
  if (request.stream !== true) {
    return json(res, 200, { id: 'cmpl-fake', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], echo: request });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'keep-alive': 'timeout=5', server: 'fake-backend/1.0' });
  res.flushHeaders();
  if (scenario === 'slow-first') await sleep(Number(arg));
  const count = scenario === 'endless' ? Infinity : 3;
  for (let i = 0; i < count && !res.destroyed; i++) {
    res.write(chunk(i));
    await sleep(scenario === 'endless' ? 20 : 5);
    if (scenario === 'die' && i === 1) return void res.socket?.destroy(); // crash mid-stream
  }
  if (!res.destroyed) res.end('data: [DONE]\n\n');
}

export async function startFakeBackend(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) json(res, 500, { error: { message: String(err), type: 'server_error', param: null, code: null } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
