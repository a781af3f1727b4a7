// Talking to the server (api.md §1, §2.4): page data from <meta>, the CSRF header on every
// state-changing request, and one place that turns 401/403/429 into app behaviour.

function meta(name) {
  const el = document.querySelector(`meta[name="${name}"]`);
  return el ? el.getAttribute('content') || '' : '';
}

function readConfig() {
  try {
    return JSON.parse(meta('minimost-config') || '{}');
  } catch {
    return {};
  }
}

export const config = readConfig();
let csrfToken = meta('csrf-token');
let onSessionEnded = () => {};

/** Called once by the app: what to do when the session is gone (D4). */
export function setSessionEndedHandler(fn) {
  onSessionEnded = fn;
}

export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * request('POST', '/send/general', { form: FormData | object, json: object, keepalive })
 * Resolves to parsed JSON, text, or null (204). Rejects with ApiError.
 */
export async function request(method, path, options = {}, retried = false) {
  const headers = { 'X-Requested-With': 'fetch', Accept: 'application/json' };
  let body;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form instanceof FormData) {
    body = options.form;
  } else if (options.form) {
    body = new URLSearchParams(options.form);
  }
  if (UNSAFE.has(method)) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body,
      credentials: 'same-origin',
      keepalive: Boolean(options.keepalive),
      signal: options.signal,
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, navigator.onLine ? 'Could not reach the server.' : 'You are offline.');
  }
  const payload = await readBody(response);
  if (response.ok) return payload;

  const message = typeof payload === 'string' ? payload : (payload && payload.error) || response.statusText;
  if (response.status === 401) {
    onSessionEnded('login required');
    throw new ApiError(401, message);
  }
  if (response.status === 403 && message === 'invalid csrf token' && !retried) {
    // The token may have rotated (a login in another tab): refresh it once and retry.
    if (await refreshSession()) return request(method, path, options, true);
  }
  let retryAfter = null;
  if (response.status === 429) {
    retryAfter = (payload && payload.retry_after) || Number(response.headers.get('Retry-After')) || 1;
  }
  throw new ApiError(response.status, message, retryAfter);
}

async function readBody(response) {
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  try {
    if (type.includes('application/json')) return await response.json();
    return await response.text();
  } catch {
    return null;
  }
}

/** GET /session: refreshes the CSRF token; resolves to the user name or null. */
export async function refreshSession() {
  try {
    const response = await fetch('/session', {
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'X-Requested-With': 'fetch' },
      cache: 'no-store',
    });
    if (!response.ok) return null;
    const data = await response.json();
    if (data && data.csrf_token) csrfToken = data.csrf_token;
    return data && data.user ? data.user : null;
  } catch {
    return null;
  }
}

export const get = (path, options) => request('GET', path, options);
export const post = (path, options) => request('POST', path, options);

export function channelPath(prefix, channel) {
  return `${prefix}/${encodeURIComponent(channel)}`;
}

/** Log out with a POST carrying the token (D23), then follow the server's redirect. */
export function logout() {
  const form = document.createElement('form');
  form.method = 'post';
  form.action = '/logout';
  const input = document.createElement('input');
  input.type = 'hidden';
  input.name = 'csrf_token';
  input.value = csrfToken;
  form.append(input);
  document.body.append(form);
  form.submit();
}

/** Human text for a failed request, with the retry time for 429s (D21). */
export function describeError(err, what = 'That') {
  if (!(err instanceof ApiError)) return 'Something went wrong.';
  if (err.status === 429) {
    const n = err.retryAfter || 1;
    return `${what} was refused: too fast. Try again in ${n} second${n === 1 ? '' : 's'}.`;
  }
  if (err.status === 0) return err.message;
  return err.message || `Request failed (${err.status}).`;
}
