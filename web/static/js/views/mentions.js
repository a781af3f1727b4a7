// The Mentions view (§11): unread mentions, newest first, as cards that open their conversation.
import { h, clear } from '../render.js';
import { state, titleOf } from '../store.js';
import { paintName } from '../contrast.js';
import { plainPreview } from '../format.js';
import { avatar } from './people.js';

export function renderMentions(root, { open }) {
  clear(root);
  root.append(h('h2', { class: 'view-title' }, 'Mentions'));
  if (!state.mentions.length) {
    root.append(h('p', { class: 'empty' }, 'You are all caught up: no unread mentions. When someone writes @', state.me, ' you will find it here.'));
    return;
  }
  const list = h('ul', { class: 'mention-cards' });
  for (const m of state.mentions) {
    const name = h('strong', null, m.sender);
    paintName(name, m.sender);
    list.append(h('li', null, h('button', { type: 'button', class: 'mention-card', onclick: () => open(m.channel, m.id) },
      avatar(m.sender, 32, false),
      h('span', { class: 'mention-body' },
        h('span', { class: 'mention-meta' }, name, ' in ', titleOf(m.channel), ' · ', new Date(m.ts * 1000).toLocaleString()),
        h('span', { class: 'mention-text' }, plainPreview(m.content || m.filename || '', 200))))));
  }
  root.append(list);
}
