import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API, media and chat to a running `aethex serve`
// (AETHEX_DEV_BACKEND, default http://127.0.0.1:8080).
const backend = process.env.AETHEX_DEV_BACKEND ?? "http://127.0.0.1:8080";
const proxied = ["/api", "/hls", "/vod", "/clips", "/thumbnails", "/metrics", "/healthz"];

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, chunkSizeWarningLimit: 1024 },
  server: {
    proxy: {
      ...Object.fromEntries(proxied.map((p) => [p, { target: backend, changeOrigin: false }])),
      "/ws": { target: backend, ws: true },
    },
  },
});
