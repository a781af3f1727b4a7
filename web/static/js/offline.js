// Offline page: poll the server gently and return to the app once it answers.
let delay = 3000;
async function probe() {
  try {
    const response = await fetch('/session', { cache: 'no-store', credentials: 'same-origin' });
    // Any answer (even 401) means the server is reachable again.
    if (response.status > 0) {
      window.location.replace('/');
      return;
    }
  } catch {
    // still offline
  }
  delay = Math.min(delay * 1.5, 30000);
  setTimeout(probe, delay);
}
window.addEventListener('online', () => probe());
setTimeout(probe, delay);
