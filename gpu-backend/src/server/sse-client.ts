import { EventSourceParserStream } from 'eventsource-parser/stream';

/** The `data` of each server-sent event of a response, in order (for tests and the serve bench). */
export async function* sseData(response: Response): AsyncGenerator<string> {
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value.data;
    }
  } finally {
    // Stopping early (a test that aborts mid-stream) must also release the connection.
    await reader.cancel().catch(() => {});
  }
}
