import { describe, expect, it } from 'vitest';
import { backendLog, chat, newRequestId, putKey } from '../../test/helpers.ts';

const { key } = await putKey();

async function expectRefusedBeforeForwarding(body: Record<string, unknown>, status: number, param: string, fragment: string) {
  const requestId = newRequestId();
  const res = await chat(key, body, { requestId });
  expect(res.status).toBe(status);
  const { error } = await res.json<{ error: Record<string, unknown> }>();
  expect(error).toMatchObject({ param });
  expect(String(error.message)).toContain(fragment);
  // The model list was fetched under another id (or cached); the completion itself never left the edge.
  expect((await backendLog(requestId)).filter((e) => e.path !== '/v1/models')).toEqual([]);
}

describe('routingBounds (limits from the backend /v1/models)', () => {
  it('answers 404 for a model the backend does not serve', async () => {
    await expectRefusedBeforeForwarding({ model: 'no-such-model' }, 404, 'model', 'does not exist');
  });

  it('refuses an expert id beyond num_experts', async () => {
    await expectRefusedBeforeForwarding({ routing: { strategy: 'pick', key_experts: { '1': [0, 8] } } }, 400, 'routing.key_experts.1[1]', 'expert id 8');
  });

  it('refuses a layer beyond num_layers', async () => {
    await expectRefusedBeforeForwarding({ routing: { strategy: 'pick', key_experts: { '4': [0] } } }, 400, 'routing.key_experts.4', 'layer 4');
  });

  it('refuses top_k above the model maximum and an unknown profile', async () => {
    await expectRefusedBeforeForwarding({ routing: { top_k: 5 } }, 400, 'routing.top_k', 'between 1 and 4');
    await expectRefusedBeforeForwarding({ routing: { profile: 'nope' } }, 400, 'routing.profile', "'nope'");
  });

  it('forwards routing within bounds', async () => {
    const requestId = newRequestId();
    const res = await chat(key, { routing: { strategy: 'pick_and_ban', key_experts: { '*': [7], '3': [0] }, top_k: 4 } }, { requestId });
    expect(res.status).toBe(200);
    expect(await backendLog(requestId)).toHaveLength(1);
  });
});
