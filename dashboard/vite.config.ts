import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { bundleBudget } from './bundle-budget.js';

/** The budget: what the first page loads, gzipped. */
const FIRST_PAGE_BUDGET_BYTES = 300 * 1024;

export default defineConfig({
  root: import.meta.dirname,
  // The gateway serves the build under /dashboard (src/http/routes/dashboard.ts).
  base: '/dashboard/',
  plugins: [react(), bundleBudget(FIRST_PAGE_BUDGET_BYTES)],
  // `npx vite --config dashboard/vite.config.ts`: the dashboard with hot reload at :5173/dashboard/,
  // its API calls passed to a gateway running on :8000 (GATEWAY_URL for another).
  server: { proxy: { '/api': process.env.GATEWAY_URL ?? 'http://localhost:8000' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The polyfill would be an inline script, which the Content-Security-Policy refuses.
    modulePreload: { polyfill: false },
    target: 'es2022',
  },
});
