import type { Handler } from 'hono';
import { modelAllowed } from '../../middleware/key-policy/index.ts';
import type { AppEnv } from '../env.ts';
import { modelsFor } from '../models.ts';

/** GET /v1/models: the backend's cached list, narrowed to what this key may use. */
export const listModels: Handler<AppEnv> = async (c) => {
  const list = await modelsFor(c);
  const key = c.get('apiKey');
  return c.json({ ...list, data: list.data.filter((m) => modelAllowed(key, m.id)) });
};
