import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'destination-functions/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The PostgreSQL contract suite shares one server; files run in parallel but each uses its own schema.
    pool: 'forks'
  }
})
