import { defineConfig } from 'vitest/config';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';

// Three projects: the edge runs inside workerd, the backend and engine on Node,
// and the end-to-end suite drives the real stack (wrangler dev + backend) from Node.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: { BACKEND_SECRET: 'test-backend-secret', BACKEND_URLS: 'http://backend.test' },
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['edge/**/*.test.ts'],
          // The keys CLI spawns wrangler: it runs on Node, not in workerd.
          exclude: ['edge/scripts/**'],
          // A fake backend on a real socket, so tests can watch signatures and cancellations.
          globalSetup: ['./edge/test/global-setup.ts'],
        },
      },
      {
        test: {
          name: 'node',
          include: ['shared/**/*.test.ts', 'gpu-backend/**/*.test.ts', 'edge/scripts/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
