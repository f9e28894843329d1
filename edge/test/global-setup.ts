import type { TestProject } from 'vitest/node';
import { startFakeBackend } from './fake-backend.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    fakeBackend: string;
  }
}

/** Starts the fake backend once, in Node, for every edge test file running inside workerd. */
export default async function setup(project: TestProject) {
  const { url, server } = await startFakeBackend();
  project.provide('fakeBackend', url);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
