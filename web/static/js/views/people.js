// Avatars (image or initials on the user's colour) with a presence dot.
import { h } from '../render.js';
import { state, colorOf } from '../store.js';

const PRESENCE_LABEL = { active: 'online', idle: 'away', hidden: 'away', offline: 'offline' };

export function presenceOf(name) {
  return state.online[name] || 'offline';
}

export function avatar(name, size = 36, withPresence = true) {
  const wrap = h('span', { class: 'avatar', dataset: { user: name } });
  wrap.style.setProperty('--size', `${size}px`);
  if (name === 'system') {
    wrap.classList.add('avatar-system');
    wrap.append(h('img', { src: document.querySelector('link[rel="icon"]')?.getAttribute('href') || '', alt: '' }));
    return wrap;
  }
  if (state.avatars.has(name)) {
    wrap.append(h('img', { src: `/avatar/${encodeURIComponent(name)}`, alt: '', loading: 'lazy' }));
  } else {
    const initials = h('span', { class: 'avatar-initials', 'aria-hidden': 'true' }, name.slice(0, 2).toUpperCase());
    wrap.style.setProperty('--avatar-bg', colorOf(name));
    wrap.append(initials);
  }
  if (withPresence) {
    const presence = presenceOf(name);
    wrap.append(h('span', { class: ['presence', `presence-${presence}`], role: 'img', 'aria-label': PRESENCE_LABEL[presence] || 'offline' }));
  }
  return wrap;
}
