// The calls area's one door into the app (§15): the topbar's Call and Share screen buttons, the
// bars under the topbar (join a running call, watch a share, "you are sharing"), the event
// handlers (`signal`, `active_call`, `incoming_calls`, `screenshares`), Esc for the panel (D3),
// the shortcut that focuses a ringing card (D29), and ending your part when the page closes.

import { h, icon } from '../render.js';
import { state, on, dmChannel } from '../store.js';
import { avatar } from '../views/people.js';
import * as call from './call.js';
import * as share from './share.js';
import { escapeCall } from './panel.js';
import { focusIncoming } from './incoming.js';
import { registry, stats } from './mesh.js';

const PHONE = 'M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2z';
const SCREEN = ['M3 4h18v12H3z', 'M8 20h8M12 16v4'];

export function initCalls({ openDm }) {
  const callButton = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Call', title: 'Call', hidden: true,
    onclick: () => call.startCall(state.current) }, icon(PHONE));
  const shareButton = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Share screen', title: 'Share screen', 'aria-pressed': 'false', hidden: true,
    onclick: () => share.startShare(state.current) }, icon(SCREEN));
  const slot = h('div', { class: 'call-bars' });

  function joinBanner(channel) {
    const info = call.activeCalls.get(channel);
    if (!info || (call.current && call.current.id === info.call_id)) return null;
    const names = info.participants || [];
    const text = names.length ? `${names.length > 2 ? `${names.slice(0, 2).join(', ')} and ${names.length - 2} more` : names.join(' and ')} ${names.length === 1 ? 'is' : 'are'} in a call`
      : 'A call is starting';
    return h('div', { class: 'call-bar join-bar' },
      h('span', { class: 'live-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'call-bar-faces', 'aria-hidden': 'true' }, names.slice(0, 3).map((n) => avatar(n, 20, false))),
      h('span', { class: 'call-bar-text' }, text),
      h('button', { type: 'button', class: 'button small button-primary', onclick: () => call.joinCall(info.call_id, channel, info.initiator) }, 'Join'));
  }

  let lastKey = '';
  function render() {
    const id = state.current;
    const allowed = call.callAllowed(id);
    callButton.hidden = !allowed || Boolean(call.current);
    shareButton.hidden = !allowed || Boolean(call.current);
    shareButton.setAttribute('aria-pressed', String(Boolean(share.mine && share.mine.channel === id)));
    const info = allowed ? call.activeCalls.get(id) : null;
    const key = JSON.stringify([id, info, call.current && call.current.id, share.mine && share.mine.id, allowed ? share.sharesIn(id).map((s) => s.share_id) : []]);
    if (key === lastKey) return;
    lastKey = key;
    // replaceChildren would print a null as the text "null": pass only real bars.
    slot.replaceChildren(...share.bars(allowed ? id : ''), ...(allowed ? [joinBanner(id)] : []).filter(Boolean));
  }

  call.onChange(render);
  share.onChange(render);
  on('current', render);

  document.addEventListener('keydown', (event) => {
    if (event.altKey && event.shiftKey && event.code === 'KeyA' && focusIncoming()) event.preventDefault();
  });
  window.addEventListener('pagehide', () => { call.onPageHide(); share.onPageHide(); });

  // Diagnostics: the live peer connections and their RTP totals (read by the browser tests).
  window.minimostCalls = { registry, stats, info: call.debugInfo };

  return {
    topbarButtons: [callButton, shareButton],
    slot,
    handlers: {
      signal: (data) => { if (!call.onSignal(data)) share.onSignal(data); },
      active_call: (data, _e, channel) => call.onActiveCall(data, channel),
      incoming_calls: (data) => call.onIncoming(data),
      screenshares: (data, _e, channel) => share.onScreenshares(data, channel),
    },
    onReconnect: () => call.onReconnect(),
    escape: () => escapeCall(),
    callWith: (name) => { openDm(name); call.startCall(dmChannel([name])); },
    shareWith: (name) => { openDm(name); share.startShare(dmChannel([name])); },
  };
}
