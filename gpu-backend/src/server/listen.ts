import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

export interface Listener {
  server: Server;
  /** The bound port (useful when asked for port 0). */
  port: number;
  /** Stops accepting connections, closes idle keep-alive ones, and resolves when all are gone. */
  close(forceAfterMs: number): Promise<void>;
}

type Fetch = (request: Request) => Response | Promise<Response>;

/** Starts @hono/node-server on host:port and resolves once it listens. */
export function listen(fetch: Fetch, host: string, port: number): Promise<Listener> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    const onError = (err: Error) => reject(err);
    server = serve({ fetch, hostname: host, port }, (info: AddressInfo) => {
      const http = server as Server;
      http.off('error', onError);
      resolve({ server: http, port: info.port, close: (forceAfterMs) => closeServer(http, forceAfterMs) });
    });
    server.once('error', onError);
  });
}

function closeServer(server: Server, forceAfterMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    // Keep-alive sockets with no request in flight would hold close() open forever.
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), forceAfterMs);
    force.unref();
  });
}
