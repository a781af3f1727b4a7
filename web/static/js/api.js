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
  return failed(response.status, response.statusText, payload, response.headers.get('Retry-After'),
    retried ? null : () => request(method, path, options, true));
}

/** The common handling of a refused request: 401 ends the session, a CSRF 403 retries once. */
async function failed(status, statusText, payload, retryHeader, retry) {
  const message = typeof payload === 'string' ? payload : (payload && payload.error) || statusText;
  if (status === 401) {
    onSessionEnded('login required');
    throw new ApiError(401, message);
  }
  if (status === 403 && message === 'invalid csrf token' && retry) {
    // The token may have rotated (a login in another tab): refresh it once and retry.
    if (await refreshSession()) return retry();
  }
  let retryAfter = null;
  if (status === 429) {
    retryAfter = (payload && payload.retry_after) || Number(retryHeader) || 1;
  }
  throw new ApiError(status, message, retryAfter);
}

/**
 * POSTs a FormData with upload progress (D27): XMLHttpRequest, because fetch reports no upload
 * progress. onProgress(fraction 0–1) follows the bytes sent; aborting `signal` cancels the
 * request and rejects with an AbortError. Otherwise resolves and rejects like request().
 */
export function upload(path, form, { onProgress = null, signal = null } = {}, retried = false) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) { reject(new DOMException('Upload cancelled', 'AbortError')); return; }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('X-Requested-With', 'fetch');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRF-Token', csrfToken);
    xhr.withCredentials = true;
    if (onProgress) {
      xhr.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable && event.total) onProgress(event.loaded / event.total);
      });
    }
    const stop = () => xhr.abort();
    if (signal) signal.addEventListener('abort', stop, { once: true });
    const done = () => { if (signal) signal.removeEventListener('abort', stop); };
    xhr.addEventListener('abort', () => { done(); reject(new DOMException('Upload cancelled', 'AbortError')); });
    xhr.addEventListener('error', () => {
      done();
      reject(new ApiError(0, navigator.onLine ? 'Could not reach the server.' : 'You are offline.'));
    });
    xhr.addEventListener('load', () => {
      done();
      const type = xhr.getResponseHeader('Content-Type') || '';
      let payload = xhr.status === 204 ? null : xhr.responseText;
      if (payload && type.includes('application/json')) {
        try { payload = JSON.parse(payload); } catch { payload = null; }
      }
      if (xhr.status >= 200 && xhr.status < 300) { resolve(payload); return; }
      failed(xhr.status, xhr.statusText, payload, xhr.getResponseHeader('Retry-After'),
        retried ? null : () => upload(path, form, { onProgress, signal }, true)).then(resolve, reject);
    });
    xhr.send(form);
  });
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
