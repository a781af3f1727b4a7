// MiniMost service worker (api.md §6.2, web-client.md D16).
// It caches the app shell (every hashed static asset, listed at build time) and an offline page,
// so an installed app opens even without the server. It never caches API data, uploads, avatars
// or the event stream: those pass straight through to the network.

const SHELL = /*@shell*/[];
const BUILD = /*@build*/'';
const CACHE = `minimost-shell-${BUILD}`;
const OFFLINE_URL = '/static/offline.html';

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(
        keys.filter((key) => key.startsWith('minimost-shell-') && key !== CACHE)
          .map((key) => caches.delete(key)),
      ))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (url.pathname.startsWith('/static/')) {
    // Hashed names never change content, so the cache is always right when it has the file.
    event.respondWith(
      caches.match(request, { ignoreSearch: true }).then((hit) => hit || fetch(request)),
    );
    return;
  }

  if (request.mode === 'navigate') {
    // Pages always come from the server (they carry the session and CSRF token); the cached
    // offline page stands in only when the network fails.
    event.respondWith(
      fetch(request).catch(() => caches.match(OFFLINE_URL).then((hit) => hit || Response.error())),
    );
  }
  // Everything else (API, uploads, avatars, /events) is left to the browser untouched.
});
