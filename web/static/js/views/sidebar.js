// Sidebar (§3): Mentions, public channels, private channels, direct messages, all live.
import { h, clear, icon, ICONS } from '../render.js';
import { state, on, unreadFor, dmOthers, titleOf } from '../store.js';
import { avatar } from './people.js';

let root = null;
let open = () => {};

export function mountSidebar(el, { onOpen, onNewDm, onNewPrivate, onCloseDm }) {
  root = el;
  open = onOpen;
  const render = () => renderSidebar({ onNewDm, onNewPrivate, onCloseDm });
  for (const topic of ['channels', 'unreads', 'dms', 'private', 'mentions', 'presence', 'current', 'avatars']) on(topic, render);
  render();
}

function entryButton(channel, label, extra = {}) {
  const unread = channel === 'mentions' ? state.mentions.length : unreadFor(channel);
  const current = state.current === channel;
  const accessible = unread ? `${label}, ${unread} unread` : label;
  return h('button', {
    type: 'button',
    class: ['side-entry', current && 'is-current', unread && 'has-unread'],
    'aria-current': current ? 'page' : null,
    'aria-label': accessible,
    dataset: { channel },
    onclick: () => open(channel),
  }, extra.before || null, h('span', { class: 'side-label' }, extra.display || label),
  unread ? h('span', { class: 'badge', 'aria-hidden': 'true' }, String(unread)) : null);
}

function section(title, addLabel, onAdd, items) {
  return h('section', { class: 'side-section' },
    h('div', { class: 'side-header' },
      h('h2', null, title),
      onAdd ? h('button', { type: 'button', class: 'icon-button small', 'aria-label': addLabel, title: addLabel, onclick: onAdd }, icon(ICONS.plus, 16)) : null),
    h('ul', { class: 'side-list' }, items.map((item) => h('li', null, item))));
}

function renderSidebar({ onNewDm, onNewPrivate, onCloseDm }) {
  if (!root) return;
  const publicItems = state.channels.map((name) => entryButton(name, `#${name}`, {
    display: [h('span', { class: 'side-hash', 'aria-hidden': 'true' }, '#'), name],
  }));
  const privateItems = state.privateChannels.map((pc) => entryButton(pc.channel, pc.name, {
    before: h('span', { class: 'side-hash', 'aria-hidden': 'true' }, '+'),
  }));
  const dmIds = [...state.dms.map((d) => d.channel)];
  for (const id of state.openedDms) if (!dmIds.includes(id)) dmIds.push(id);
  const dmItems = dmIds.map((id) => {
    const others = dmOthers(id);
    const label = others.length ? others.join(', ') : state.me;
    const row = entryButton(id, label, { before: avatar(others[0] || state.me, 22) });
    const close = h('button', {
      type: 'button', class: 'side-close', 'aria-label': `Close ${label}`, title: 'Close',
      onclick: (event) => { event.stopPropagation(); onCloseDm(id); },
    }, icon(ICONS.close, 14));
    return h('div', { class: 'side-dm' }, row, close);
  });
  clear(root).append(
    h('div', { class: 'side-top' },
      h('button', { type: 'button', class: 'button button-primary side-new', onclick: onNewDm }, icon(ICONS.plus, 16), 'New DM'),
      entryButton('mentions', 'Mentions', { before: icon(ICONS.at, 16) })),
    section('Channels', null, null, publicItems),
    section('Private channels', 'Create private channel', onNewPrivate, privateItems),
    section('Direct messages', 'Start a direct message', onNewDm, dmItems),
  );
  void titleOf;
}
