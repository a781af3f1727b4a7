// The incoming-call card (§15, D29): a corner card with the caller's avatar in pulsing rings, the
// name, the channel for group calls, Decline and Accept. It is announced assertively without
// taking focus; Alt+Shift+A focuses it. A looping ring (obeying the sound toggle) and a desktop
// notification go with it; it goes when the call is answered, declined or stops ringing.

import { h } from '../render.js';
import { avatar } from '../views/people.js';
import { desktop } from '../notify.js';
import * as media from './media.js';

let card = null;
let shownId = null;
let ring = null;

function close() {
  if (ring) { ring.stop(); ring = null; }
  if (card) {
    const hadFocus = card.contains(document.activeElement);
    card.remove();
    card = null;
    if (hadFocus) {
      const composer = document.querySelector('.composer textarea');
      if (composer) composer.focus();
    }
  }
  shownId = null;
}

/** Shows the card for `call` ({call_id, channel, initiator}), or hides it for null. */
export function showIncoming(call, { accept, decline, title }) {
  if (!call) { close(); return; }
  if (shownId === call.call_id) return;
  close();
  shownId = call.call_id;
  const group = !call.channel.startsWith('dm:') || call.channel.split(':').length > 3;
  const where = group ? title(call) : '';
  const acceptButton = h('button', { type: 'button', class: 'button call-accept' }, 'Accept');
  const declineButton = h('button', { type: 'button', class: 'button call-decline' }, 'Decline');
  card = h('section', { class: 'incoming-call', role: 'region', 'aria-label': 'Incoming call' },
    h('div', { class: 'incoming-avatar' }, h('span', { class: 'ring-pulse', 'aria-hidden': 'true' }), avatar(call.initiator, 56, false)),
    h('div', { class: 'incoming-text' },
      h('p', { class: 'incoming-alert', role: 'alert' }, `${call.initiator} is calling${where ? ` in ${where}` : ''}`),
      where ? h('p', { class: 'hint' }, where) : null),
    h('div', { class: 'incoming-actions' }, declineButton, acceptButton));
  acceptButton.addEventListener('click', () => { close(); accept(call); });
  declineButton.addEventListener('click', () => { close(); decline(call); });
  card.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); const c = document.querySelector('.composer textarea'); if (c) c.focus(); }
  });
  document.body.append(card);
  ring = media.loop('ring');
  desktop(`${call.initiator} is calling`, where ? `Call in ${where}` : 'Incoming call', () => acceptButton.focus(), `call-${call.call_id}`);
}

/** Alt+Shift+A focuses the ringing card (D29); no browser reserves it. */
export function focusIncoming() {
  if (!card) return false;
  card.querySelector('.call-accept').focus();
  return true;
}
