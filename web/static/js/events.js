// The one event stream per tab (api.md §7): re-pointed on each channel switch, resumed from the
// channel's cursor, and watched so the connection bar can tell the truth.

import { conversation } from './store.js';

let source = null;
let channel = '';
let handlers = {};
let watchdog = null;
let retryTimer = null;
let stopped = false;
let statusFn = () => {};

const NAMES = [
  'messages', 'typing', 'read_receipts', 'pins', 'screenshares', 'active_call', 'online_users',
  'dms', 'channel_unreads', 'private_channels', 'mentions', 'unread_count', 'incoming_calls',
  'signal', 'session_revoked',
];

/** handlers: {eventName: fn(data, event)}; onStatus(connected: boolean, reason) */
export function init(eventHandlers, onStatus) {
  handlers = eventHandlers;
  statusFn = onStatus;
  window.addEventListener('online', () => connect(channel));
  window.addEventListener('offline', () => statusFn(false, 'offline'));
}

/** Opens (or re-points) the stream at `nextChannel`, resuming from its cursor. */
export function connect(nextChannel) {
  if (stopped) return;
  channel = nextChannel && nextChannel !== 'mentions' ? nextChannel : '';
  close();
  const after = channel ? conversation(channel).cursor : 0;
  const params = new URLSearchParams({ channel, after: String(after) });
  const es = new EventSource(`/events?${params}`);
  source = es;
  armWatchdog();
  es.addEventListener('open', () => {
    if (source !== es) return;
    clearTimeout(watchdog);
    statusFn(true);
  });
  es.addEventListener('error', () => {
    if (source !== es) return;
    if (!navigator.onLine) statusFn(false, 'offline');
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (401, 429) or it ended for good: find out which.
      handleClosed();
    } else {
      armWatchdog();
    }
  });
  for (const name of NAMES) {
    es.addEventListener(name, (event) => {
      if (source !== es) return;
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      const fn = handlers[name];
      if (fn) fn(data, event, channel);
    });
  }
}

function armWatchdog() {
  clearTimeout(watchdog);
  // Brief blips are normal; the bar appears only after 8 s without a stream (§16).
  watchdog = setTimeout(() => statusFn(false, 'reconnecting'), 8000);
}

async function handleClosed() {
  close();
  let retry = 3;
  try {
    const response = await fetch('/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (response.status === 401) {
      if (handlers.session_revoked) handlers.session_revoked({ reason: 'expired' });
      return;
    }
  } catch {
    // offline: retry below
  }
  // A 429 here means too many tabs; the server asks for 5 s (D21).
  statusFn(false, 'reconnecting');
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => connect(channel), retry * 1000 + 2000);
}

export function close() {
  clearTimeout(watchdog);
  clearTimeout(retryTimer);
  if (source) {
    source.close();
    source = null;
  }
}

/** Stops for good (session ended, D4). */
export function stop() {
  stopped = true;
  close();
}
