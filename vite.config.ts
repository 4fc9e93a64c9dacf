import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('./client', import.meta.url));
const coordinator = 'http://127.0.0.1:8080';

/**
 * The web app: three pages (the app, the privacy explanation it links to, and the
 * diagnostics lab) built from client/ into dist/,
 * which the coordinator serves. In dev, API and socket traffic go to a local coordinator.
 * The tfjs-backend-wasm binaries are imported with `?url` in client/backend/select-backend.ts,
 * so Vite emits them as hashed assets.
 */
export default defineConfig({
  root,
  base: './',
  build: {
    // FLOCK_DIST builds elsewhere (e.g. several e2e runs side by side); dist/ by default.
    outDir: process.env.FLOCK_DIST ? resolve(process.env.FLOCK_DIST) : resolve(root, '../dist'),
    emptyOutDir: true,
    target: 'es2022',
    // Keep the .wasm binaries as files, never inlined as data: URLs.
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      input: {
        index: resolve(root, 'index.html'),
        privacy: resolve(root, 'privacy.html'),
        lab: resolve(root, 'lab.html'),
      },
    },
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': { target: coordinator, changeOrigin: true },
      '/socket.io': { target: coordinator, ws: true, changeOrigin: true },
    },
  },
  preview: { host: '127.0.0.1' },
});
