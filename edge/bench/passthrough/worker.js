// The benchmark's floor: a Worker that forwards the request untouched and returns the upstream
// response as-is, under the same `wrangler dev`. Whatever it costs, the edge cannot beat.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/health') return new Response('ok');
    return fetch(env.BACKEND_URLS + url.pathname + url.search, { method: request.method, headers: request.headers, body: request.body });
  },
};
