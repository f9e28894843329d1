/**
 * Hop-by-hop fields (RFC 9110 section 7.6.1) describe one connection, not the message, so a proxy
 * must not forward them; nor the fields the Connection header names. The rest of the list keeps
 * backend identity (server software, redirects to internal URLs, cookies) from reaching clients.
 */
const HOP_BY_HOP = ['connection', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization'];
const BACKEND_PRIVATE = ['server', 'x-powered-by', 'location', 'content-location', 'set-cookie', 'via', 'alt-svc', 'date'];

export function endToEndHeaders(source: Headers): Headers {
  const out = new Headers(source);
  const named = (source.get('connection') ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  for (const name of [...HOP_BY_HOP, ...BACKEND_PRIVATE, ...named]) out.delete(name);
  return out;
}
