import { describe, expect, it } from 'vitest';
import { backendLog, chat, firstEvent, newRequestId, putKey, waitFor } from '../test/helpers.ts';

const { key } = await putKey();

describe('SSE relay', () => {
  it('passes chunks through as they come, ending with [DONE]', async () => {
    const res = await chat(key, { stream: true });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(text.match(/^data: \{/gm)).toHaveLength(3);
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(text).not.toContain('keepalive');
  });

  it('relays a chunk before the backend has finished (no buffering)', async () => {
    const requestId = newRequestId();
    const res = await chat(key, { stream: true, x_scenario: 'endless' }, { requestId });
    const { text, reader } = await firstEvent(res);
    expect(text).toContain('"t0"');
    // The backend is still streaming: the edge did not wait for the end.
    expect((await backendLog(requestId))[0].finished).toBe(false);
    await reader.cancel();
  });

  it('sends keepalive comments while the first byte is pending, then the data', async () => {
    const res = await chat(key, { stream: true, x_scenario: 'slow-first:450' }, { overrides: { KEEPALIVE_MS: '100' } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.startsWith(': keepalive\n\n')).toBe(true);
    expect(text.match(/^: keepalive$/gm)!.length).toBeGreaterThanOrEqual(3);
    expect(text.indexOf('data: {')).toBeGreaterThan(text.lastIndexOf(': keepalive'));
    expect(text).toContain('data: [DONE]');
  });

  it('answers 504 when the first byte is late and nothing was committed yet', async () => {
    const requestId = newRequestId();
    const res = await chat(key, { stream: true, x_scenario: 'slow-first:2000' }, { requestId, overrides: { FIRST_BYTE_TIMEOUT_MS: '200', KEEPALIVE_MS: '1000' } });
    expect(res.status).toBe(504);
    expect((await res.json<{ error: Record<string, unknown> }>()).error).toMatchObject({ code: 'first_byte_timeout', type: 'timeout_error' });
    await waitFor(async () => (await backendLog(requestId))[0]?.cancelled);
  });

  it('ends with an SSE error event when the first byte is late after keepalives went out', async () => {
    const requestId = newRequestId();
    const res = await chat(key, { stream: true, x_scenario: 'slow-first:3000' }, { requestId, overrides: { FIRST_BYTE_TIMEOUT_MS: '400', KEEPALIVE_MS: '100' } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.startsWith(': keepalive')).toBe(true);
    const event = JSON.parse(text.match(/^data: (\{.*\})$/m)![1]);
    expect(event.error).toMatchObject({ code: 'first_byte_timeout' });
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    await waitFor(async () => (await backendLog(requestId))[0]?.cancelled);
  });

  it('cuts the client stream (never hangs) when the backend dies mid-stream', async () => {
    const res = await chat(key, { stream: true, x_scenario: 'die' });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const outcome = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'ended';
        text += decoder.decode(value);
      }
    })().catch(() => 'errored');
    expect(text).toContain('"t1"');
    // Not a clean end: a client must not mistake a broken stream for a finished answer.
    expect(outcome).toBe('errored');
    expect(text).not.toContain('[DONE]');
  });

  it('a client abort mid-stream (request signal) cancels the backend request', async () => {
    const requestId = newRequestId();
    const client = new AbortController();
    const res = await chat(key, { stream: true, x_scenario: 'endless' }, { requestId, signal: client.signal });
    const { text } = await firstEvent(res);
    expect(text).toContain('data: ');
    expect((await backendLog(requestId))[0].cancelled).toBe(false);
    client.abort();
    const [seen] = await waitFor(async () => {
      const log = await backendLog(requestId);
      return log[0]?.cancelled && log;
    });
    expect(seen.finished).toBe(false);
  });

  it('a client leaving while keepalives go out cancels the backend request', async () => {
    for (const leave of ['abort', 'cancel'] as const) {
      const requestId = newRequestId();
      const client = new AbortController();
      const res = await chat(key, { stream: true, x_scenario: 'slow-first:10000' }, { requestId, signal: client.signal, overrides: { KEEPALIVE_MS: '150' } });
      const { text, reader } = await firstEvent(res);
      expect(text).toBe(': keepalive\n\n');
      if (leave === 'abort') client.abort();
      else await reader.cancel();
      await waitFor(async () => (await backendLog(requestId))[0]?.cancelled);
    }
  });

  it('a client that stops reading mid-stream (body cancelled) cancels the backend request', async () => {
    const requestId = newRequestId();
    const res = await chat(key, { stream: true, x_scenario: 'endless' }, { requestId });
    const { reader } = await firstEvent(res);
    await reader.cancel();
    await waitFor(async () => (await backendLog(requestId))[0]?.cancelled);
  });
});
