import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

const consoleRoot = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root: consoleRoot,
  // Coffer serves the built files under /console/ (src/http/console.routes.ts).
  base: '/console/',
  plugins: [react()],
  resolve: {
    // The client is imported from source, so the console builds without packages/client/dist.
    alias: { '@coffer/client': fileURLToPath(new URL('../client/src/index.ts', import.meta.url)) },
  },
  build: {
    outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)),
    emptyOutDir: true,
    rolldownOptions: {
      output: {
        // The libraries change far less often than the console's own code: apart, they stay cached
        // across console releases. Recharts (the balance chart) gets a chunk of its own through the
        // lazy import of BalanceChart.
        codeSplitting: {
          groups: [
            { name: 'mantine', test: /node_modules[\\/]@mantine[\\/](core|hooks)/ },
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ },
          ],
        },
      },
    },
  },
  server: {
    // `npx vite --config packages/console/vite.config.ts` against a local `npm start` on port 3000.
    proxy: { '/api': 'http://127.0.0.1:3000' },
  },
})
