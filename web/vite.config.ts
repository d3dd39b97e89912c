import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The dashboard is built into the Python package so `grvt-mm serve` serves it at `/`.
const outDir = fileURLToPath(new URL('../src/grvtmm/static', import.meta.url));
// `npm run dev` proxies the API to a local `grvt-mm serve` (same origin for the session cookie).
const apiTarget = process.env.GRVTMM_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir,
    emptyOutDir: true,
    // the server's CSP allows only same-origin scripts: no inline runtime, no remote assets
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: {
      '/api': apiTarget,
      '/ws': { target: apiTarget.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['tests/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
