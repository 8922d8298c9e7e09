import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons (sharp) may crash in the threads pool; forks is vitest's default and stays.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
