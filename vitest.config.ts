import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start their own local stack per file (test/support/local-stack.ts).
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores on every machine here: more forks only add contention.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
