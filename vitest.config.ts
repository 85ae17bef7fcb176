import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
    // Two files at a time even on 2 cores: most of a test's time is spent waiting on git, node and pytest
    // processes, and vitest's default (cores − 1) would run the files one by one.
    maxWorkers: 2,
  },
});
