import { defineConfig } from 'vitest/config';

// Integration tests share one set of real services: run the files one after another.
// `@toolbox/shared` resolves to its built dist/ (as for every consumer): `turbo run
// test:integration` builds it first; when running vitest here directly, build shared first.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    globalSetup: ['src/global-setup.ts'],
    // generous: the first hook to talk to a service may wait on one that is still warming up
    hookTimeout: 120_000,
    testTimeout: 30_000,
    fileParallelism: false,
  },
});
