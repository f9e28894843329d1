import { resolve } from 'node:path';
import { ensureDefaultModel } from './default-model.ts';
import { startStack } from './stack.ts';

/**
 * `npm start`: the whole system on this machine. Builds the default model if missing, creates a
 * local backend secret and a development API key (reused on the next start), starts the backend and
 * `wrangler dev`, prints ready-to-run examples, and stops both on Ctrl-C.
 */
const stateDir = resolve(process.env.PICKBAN_STATE_DIR ?? '.pickban');
const which = process.env.PICKBAN_MODEL === 'tiny' ? 'tiny' : 'brown';

console.error(process.env.MODEL_DIR ? `Using MODEL_DIR=${process.env.MODEL_DIR}` : `Preparing the default model (${which}) ...`);
const modelDir = process.env.MODEL_DIR ? resolve(process.env.MODEL_DIR) : await ensureDefaultModel(which, stateDir);
console.error('Starting the backend and the edge (wrangler dev) ...');
const stack = await startStack({
  stateDir,
  modelDir,
  ep: process.env.EP ?? 'cpu',
  edgePort: Number(process.env.PORT ?? 8787),
  backendPort: Number(process.env.BACKEND_PORT ?? 8788),
  echo: process.env.PICKBAN_VERBOSE === '1',
});
const models = await listModel(stack.edgeUrl, stack.apiKey);

console.log(`
PickBan is running: edge ${stack.edgeUrl} -> backend ${stack.backendUrl} (model '${models}', ${process.env.EP ?? 'cpu'})

Try it with curl:
  curl -N ${stack.edgeUrl}/v1/chat/completions \\
    -H "Authorization: Bearer ${stack.apiKey}" -H "Content-Type: application/json" \\
    -d '{"model":"${models}","stream":true,"messages":[{"role":"user","content":"Tell me about the old house."}],"routing":{"strategy":"ban","tau":0.5,"stats":"full"}}'

Or with the OpenAI client (npm install openai):
  import OpenAI from 'openai';
  const client = new OpenAI({ baseURL: '${stack.edgeUrl}/v1', apiKey: '${stack.apiKey}' });
  const r = await client.chat.completions.create({ model: '${models}', messages: [{ role: 'user', content: 'Hello' }],
    // @ts-expect-error PickBan's routing rides along as an extra body field
    routing: { strategy: 'ban', tau: 0.5 } });
  console.log(r.choices[0].message.content, r.usage);

The routing playground: ${stack.edgeUrl}/playground

Ctrl-C stops everything.

PICKBAN_URL=${stack.edgeUrl}
PICKBAN_API_KEY=${stack.apiKey}
`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.error('\nStopping ...');
    await stack.stop();
    process.exit(0);
  });
}

async function listModel(edgeUrl: string, apiKey: string): Promise<string> {
  const res = await fetch(`${edgeUrl}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } });
  const body = (await res.json()) as { data?: { id: string }[] };
  return body.data?.[0]?.id ?? 'unknown';
}
