// Types for `env` from cloudflare:test: the bindings wrangler.toml and vitest.config.ts declare.
declare namespace Cloudflare {
  interface Env {
    API_KEYS: KVNamespace;
    BACKEND_SECRET: string;
    BACKEND_URLS: string;
    RATE_LIMIT_10: RateLimit;
    RATE_LIMIT_60: RateLimit;
    RATE_LIMIT_600: RateLimit;
    RATE_LIMIT_6000: RateLimit;
  }
}
