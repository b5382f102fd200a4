// Cross-origin isolation on a plain static host (issue 13, "threads in the
// page"). The model worker may share its wasm memory with a pool of threads
// only on a cross-origin isolated page, which takes two response headers a
// static host may not send. This service worker adds them to every
// same-origin response (cross-origin requests pass untouched: the worker
// fetches them in CORS mode, which isolation allows). index.html registers it
// and reloads once when the page is not isolated yet.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (new URL(request.url).origin !== self.location.origin) return;
  if (request.cache === "only-if-cached" && request.mode !== "same-origin") return;
  event.respondWith(
    fetch(request).then((response) => {
      if (response.status === 0) return response;
      const headers = new Headers(response.headers);
      headers.set("Cross-Origin-Opener-Policy", "same-origin");
      headers.set("Cross-Origin-Embedder-Policy", "require-corp");
      headers.set("Cross-Origin-Resource-Policy", "same-origin");
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers,
      });
    }),
  );
});
