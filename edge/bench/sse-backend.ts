import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyRequest } from '../../shared/signing/index.ts';

export interface SseBackendOptions {
  secret: string;
  chunks: number;
  intervalMs: number;
  /** Simulated prefill before the first chunk. */
  prefillMs: number;
}

/** Wall-clock milliseconds with sub-ms precision, comparable between processes on one machine. */
export const nowMs = () => performance.timeOrigin + performance.now();

const MODELS = {
  object: 'list',
  data: [{
    id: 'bench-moe', object: 'model', created: 0, owned_by: 'pickban', architecture: {},
    routing: { num_layers: 4, num_experts: 8, default_top_k: 2, max_top_k: 4, strategies: ['top_k', 'pick', 'ban', 'pick_and_ban', 'ban_and_pick'], profiles: [], renormalize_default: true },
  }],
};

/**
 * A stand-in backend for the edge benchmark: verifies the edge's signature like gpu-backend does,
 * then emits timed SSE chunks, each stamped with its send time so the client can measure delay.
 */
export async function startSseBackend(opts: SseBackendOptions): Promise<{ url: string; server: Server; rejected: () => number }> {
  let rejected = 0;
  const server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    const body = Buffer.concat(parts).toString();
    const check = await verifyRequest({
      secret: opts.secret, method: req.method!, path: req.url!, body,
      signature: req.headers[SIGNATURE_HEADER] as string, timestamp: req.headers[TIMESTAMP_HEADER] as string,
    });
    if (!check.ok) {
      rejected++;
      res.writeHead(401, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { message: `signature ${check.reason}`, type: 'authentication_error', param: null, code: 'invalid_signature' } }));
    }
    if (req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(MODELS));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    let closed = false;
    res.on('close', () => (closed = true));
    await new Promise((r) => setTimeout(r, opts.prefillMs));
    for (let i = 0; i < opts.chunks && !closed; i++) {
      res.write(`data: ${JSON.stringify({ i, sent: nowMs(), choices: [{ index: 0, delta: { content: `tok${i}` } }] })}\n\n`);
      await new Promise((r) => setTimeout(r, opts.intervalMs));
    }
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, rejected: () => rejected };
}
