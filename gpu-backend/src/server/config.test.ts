import { describe, expect, it } from 'vitest';
import { ConfigError, engineLimits, parseConfig } from './config.ts';

const base = { MODEL_DIR: '/models/tiny', BACKEND_SECRET: 'x'.repeat(32) };

describe('parseConfig', () => {
  it('fills defaults and coerces numbers', () => {
    const c = parseConfig({ ...base, PORT: '9000', MAX_RUNNING_SEQS: '4', METRICS_PORT: '', DECODE_WINDOW: '4' });
    expect(c).toMatchObject({ PORT: 9000, EP: 'cpu', MAX_RUNNING_SEQS: 4, HOST: '0.0.0.0', DECODE_WINDOW: 4 });
    expect(c.METRICS_PORT).toBeUndefined();
    // Unset: the engine picks per EP (8 on GPUs, 1 on the CPU).
    expect(parseConfig(base).DECODE_WINDOW).toBeUndefined();
    expect(engineLimits(c).maxRunningSeqs).toBe(4);
  });

  it.each([
    [{ PORT: 'eighty' }, /^Invalid configuration: PORT: .*\(got 'eighty'\)$/],
    [{ PORT: '70000' }, /^Invalid configuration: PORT: /],
    [{ EP: 'tpu' }, /^Invalid configuration: EP: .*\(got 'tpu'\)$/],
    [{ MAX_QUEUED_SEQS: '-1' }, /^Invalid configuration: MAX_QUEUED_SEQS: /],
    [{ MODEL_DIR: undefined }, /^Invalid configuration: MODEL_DIR: .*\(got unset\)$/],
    [{ LOG_LEVEL: 'loud' }, /^Invalid configuration: LOG_LEVEL: /],
    [{ DECODE_WINDOW: '0' }, /^Invalid configuration: DECODE_WINDOW: must be at least 1/],
  ])('stops on %o with one line naming the variable', (override, message) => {
    expect(() => parseConfig({ ...base, ...override })).toThrow(ConfigError);
    expect(() => parseConfig({ ...base, ...override })).toThrow(message);
  });

  it('rejects a short secret without printing it', () => {
    let error: unknown;
    try {
      parseConfig({ ...base, BACKEND_SECRET: 'hunter2' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^Invalid configuration: BACKEND_SECRET: /);
    expect((error as Error).message).not.toContain('hunter2');
    expect((error as Error).message.split('\n')).toHaveLength(1);
  });
});
