// Avatars (image or initials on the user's colour) with a presence dot.
import { h } from '../render.js';
import { state, colorOf } from '../store.js';
import { paintName } from '../contrast.js';

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

const profiles = new Map();
let card = null;

function closeCard() {
  if (card) { card.remove(); card = null; }
}

/** Wraps an avatar or name in a button that shows the profile card on tap, click or hover (§5, D18). */
export function profileTrigger(name, child) {
  let timer = null;
  const button = h('button', { type: 'button', class: 'profile-trigger', 'aria-label': `Profile of ${name}`, 'aria-haspopup': 'dialog' }, child);
  button.addEventListener('click', (event) => { event.stopPropagation(); showProfile(name, button); });
  button.addEventListener('mouseenter', () => { timer = setTimeout(() => showProfile(name, button), 350); });
  button.addEventListener('mouseleave', () => clearTimeout(timer));
  return button;
}

export async function showProfile(name, anchor) {
  closeCard();
  const bio = h('p', { class: 'profile-bio' }, '…');
  const title = h('strong', { class: 'profile-name' }, name);
  paintName(title, name);
  card = h('div', { class: 'profile-card', role: 'dialog', 'aria-label': `Profile of ${name}`, tabindex: '-1' },
    avatar(name, 64), h('div', null, title, h('div', { class: 'profile-presence' }, `Status: ${PRESENCE_LABEL[presenceOf(name)] || 'offline'}`), bio));
  const rect = anchor.getBoundingClientRect();
  card.style.setProperty('--x', `${Math.min(rect.left, window.innerWidth - 300)}px`);
  card.style.setProperty('--y', `${Math.min(rect.bottom + 6, window.innerHeight - 160)}px`);
  document.body.append(card);
  const mine = card;
  const dismiss = (event) => {
    if (event.type === 'keydown' && event.key !== 'Escape') return;
    if (event.type === 'pointerdown' && mine.contains(event.target)) return;
    if (event.type === 'keydown') { event.stopPropagation(); anchor.focus(); }
    if (card === mine) closeCard();
    document.removeEventListener('pointerdown', dismiss, true);
    document.removeEventListener('keydown', dismiss, true);
  };
  document.addEventListener('pointerdown', dismiss, true);
  document.addEventListener('keydown', dismiss, true);
  anchor.addEventListener('mouseleave', () => setTimeout(() => { if (card === mine && !mine.matches(':hover')) closeCard(); }, 300), { once: true });
  const data = await getProfile(name);
  bio.textContent = data && data.bio ? data.bio : 'No bio yet.';
}

/** GET /profile/<name>, once per session (D12). */
export function getProfile(name) {
  if (!profiles.has(name)) {
    profiles.set(name, fetch(`/profile/${encodeURIComponent(name)}`, { headers: { Accept: 'application/json', 'X-Requested-With': 'fetch' } })
      .then((r) => (r.ok ? r.json() : null)).catch(() => null));
  }
  return profiles.get(name);
}

export { PRESENCE_LABEL };
