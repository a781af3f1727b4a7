// The message list (§5): rows grouped by sender within 5 minutes, day separators, the unread
// divider, the jump pill, paging back on scroll, and live insert/replace/remove by id.

import { h, clear, icon, ICONS } from '../render.js';
import { state, conversation, colorOf } from '../store.js';
import { formatMessage, isEmojiOnly, plainPreview } from '../format.js';
import { avatar } from './people.js';

const GROUP_GAP = 5 * 60;
const QUICK_REACTIONS = [['thumbsup', '👍'], ['heart', '❤️'], ['laugh', '😆'], ['tada', '🎉'], ['eyes', '👀'], ['check', '✅']];
export const EMOJI = Object.fromEntries(QUICK_REACTIONS);

let list = null;
let pill = null;
let actions = {};
let channel = null;
let divider = null;          // {channel, beforeId}
let pendingNew = 0;
const cache = new Map();     // id → {key, el}

export function mountMessages(listEl, pillEl, handlers) {
  list = listEl;
  pill = pillEl;
  actions = handlers;
  list.addEventListener('scroll', onScroll, { passive: true });
  pill.addEventListener('click', () => scrollToBottom(true));
  new ResizeObserver(() => { if (stick) list.scrollTop = list.scrollHeight; }).observe(list);
}

let stick = true;
let loadingOlder = false;

function atBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
}

function onScroll() {
  stick = atBottom();
  if (stick) {
    pendingNew = 0;
    updatePill();
  }
  if (list.scrollTop < 300 && !loadingOlder && channel && channel !== 'mentions') {
    const conv = conversation(channel);
    if (!conv.reachedStart && conv.rows.length) {
      loadingOlder = true;
      Promise.resolve(actions.loadOlder(channel)).finally(() => { loadingOlder = false; });
    }
  }
}

export function scrollToBottom(smooth = false) {
  const reduce = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  list.scrollTo({ top: list.scrollHeight, behavior: smooth && !reduce ? 'smooth' : 'auto' });
  stick = true;
  pendingNew = 0;
  updatePill();
}

function updatePill() {
  pill.hidden = stick;
  pill.textContent = pendingNew ? `${pendingNew} new message${pendingNew === 1 ? '' : 's'}` : 'Jump to latest';
}

/** Opens a conversation: full render, unread divider from the watermark (§5, D26). */
export function showConversation(id, lastReadTs) {
  channel = id;
  cache.clear();
  pendingNew = 0;
  const conv = conversation(id);
  const firstUnread = lastReadTs === undefined ? null
    : conv.rows.find((r) => r.ts > (lastReadTs || 0) && r.sender !== state.me);
  divider = firstUnread ? { beforeId: firstUnread.id } : null;
  render();
  if (divider) {
    const el = list.querySelector('.unread-divider');
    if (el) {
      list.scrollTop = el.offsetTop - list.clientHeight / 2;
      stick = atBottom();
      updatePill();
      return;
    }
  }
  scrollToBottom();
}

/** Re-renders after rows changed; keeps the reader's place (§5 auto-scroll rules). */
export function refresh({ added = [], mine = false, older = false } = {}) {
  if (!list) return;
  const wasBottom = atBottom();
  const anchor = !wasBottom || older ? firstVisible() : null;
  render();
  if (older && anchor) {
    list.scrollTop += anchor.el.getBoundingClientRect().top - anchor.top;
    return;
  }
  if (wasBottom || mine) {
    list.scrollTop = list.scrollHeight;
    stick = true;
  } else {
    if (anchor) list.scrollTop += anchor.el.getBoundingClientRect().top - anchor.top;
    const conv = conversation(channel);
    pendingNew += added.filter((id) => (conv.byId.get(id) || {}).sender !== state.me).length;
  }
  updatePill();
}

function firstVisible() {
  const top = list.getBoundingClientRect().top;
  for (const el of list.querySelectorAll('.msg')) {
    const r = el.getBoundingClientRect();
    if (r.bottom > top) return { el, top: r.top };
  }
  return null;
}

function dayKey(ts) {
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function fullDate(ts) {
  const d = new Date(ts * 1000);
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleDateString(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: sameYear ? undefined : 'numeric' });
}

export function shortTime(ts) {
  return new Date(ts * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

export function fullTime(ts) {
  const d = new Date(ts * 1000);
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short', ...(sameYear ? {} : {}) });
}

function render() {
  const conv = conversation(channel);
  const nodes = [];
  if (conv.reachedStart || (conv.loaded && conv.rows.length < 100)) {
    nodes.push(h('div', { class: 'conversation-start' },
      h('strong', null, 'This is the beginning'), ` of ${actions.title(channel)}.`));
  }
  let prev = null;
  for (const row of conv.rows) {
    if (row.hidden) continue;
    if (!prev || dayKey(prev.ts) !== dayKey(row.ts)) {
      nodes.push(h('div', { class: 'day-separator', role: 'separator' }, h('span', null, fullDate(row.ts))));
      prev = null;
    }
    if (divider && divider.beforeId === row.id) {
      nodes.push(h('div', { class: 'unread-divider', role: 'separator', 'aria-label': 'New messages' }, h('span', null, 'New messages')));
      prev = null;
    }
    const grouped = Boolean(prev && prev.sender === row.sender && row.content_type !== 'system'
      && prev.content_type !== 'system' && row.ts - prev.ts < GROUP_GAP);
    nodes.push(rowElement(row, grouped));
    prev = row;
  }
  list.replaceChildren(...nodes);
}

function rowKey(row, grouped) {
  return JSON.stringify([row.content, row.filename, row.edited_ts, row.reactions, row.pending, row.failed,
    grouped, actions.isEditing(row.id), state.avatars.has(row.sender), state.online[row.sender], state.colors[row.sender], row.pinnedBy]);
}

function rowElement(row, grouped) {
  const key = rowKey(row, grouped);
  const hit = cache.get(row.id);
  if (hit && hit.key === key) return hit.el;
  const el = buildRow(row, grouped);
  cache.set(row.id, { key, el });
  return el;
}

function mentionsMe(row) {
  if (row.sender === state.me || !row.mentions) return false;
  return row.mentions.includes('@everyone') || row.mentions.some((m) => m.toLowerCase() === state.me.toLowerCase());
}

function buildRow(row, grouped) {
  const system = row.content_type === 'system';
  const mine = row.sender === state.me;
  const mention = mentionsMe(row);
  const label = `${system ? 'MiniMost' : row.sender}, ${shortTime(row.ts)}${mention ? ', mentions you' : ''}`;
  const body = h('div', { class: 'msg-body' });
  if (row.reply_to_id) body.append(actions.quote(row.reply_to_id));
  if (row.filename) {
    body.append(attachment(row.filename));
  } else if (actions.isEditing(row.id)) {
    body.append(actions.editor(row));
  } else if (row.content) {
    const text = h('div', { class: ['msg-text', isEmojiOnly(row.content) && 'emoji-only'] });
    text.append(formatMessage(row.content, { me: state.me, isUser: actions.isUser }));
    if (row.edited) text.append(' ', h('span', { class: 'edited', title: `Edited ${fullTime(row.edited_ts || row.ts)}` }, '(edited)'));
    body.append(text);
  }
  if (row.failed) {
    body.append(h('div', { class: 'msg-failed', role: 'alert' }, `Not sent: ${row.failed} `,
      h('button', { type: 'button', class: 'link-button', onclick: () => actions.retry(row) }, 'Retry'), ' · ',
      h('button', { type: 'button', class: 'link-button', onclick: () => actions.discard(row) }, 'Discard')));
  }
  if (row.reactions && !system) body.append(reactions(row));
  const header = grouped ? null : h('div', { class: 'msg-header' },
    h('span', { class: 'msg-sender', dataset: { user: row.sender } }, system ? 'MiniMost' : row.sender),
    h('time', { class: 'msg-time', datetime: new Date(row.ts * 1000).toISOString(), title: fullTime(row.ts) }, shortTime(row.ts)));
  if (header && !system) header.firstChild.style.setProperty('--name-color', colorOf(row.sender));
  const gutter = grouped
    ? h('time', { class: 'msg-time msg-time-grouped', title: fullTime(row.ts) }, shortTime(row.ts))
    : avatar(system ? 'system' : row.sender, 36);
  const el = h('article', {
    class: ['msg', grouped && 'msg-grouped', system && 'msg-system', mention && 'msg-mention', mine && 'msg-mine', row.pending && 'msg-pending'],
    'aria-label': label,
    tabindex: '-1',
    dataset: { id: String(row.id) },
  }, h('div', { class: 'msg-gutter' }, gutter), h('div', { class: 'msg-main' }, header, body),
  system || row.pending ? null : toolbar(row, mine));
  return el;
}

function attachment(filename) {
  const url = `/files/${encodeURIComponent(filename)}`;
  const ext = (filename.split('.').pop() || '').toLowerCase();
  const name = filename.length > 33 && filename[32] === '_' ? filename.slice(33) : filename;
  if (['png', 'jpg', 'jpeg', 'gif', 'webp'].includes(ext)) {
    const img = h('img', { class: 'msg-image', src: url, alt: name, loading: 'lazy' });
    img.addEventListener('error', () => img.replaceWith(h('div', { class: 'file-gone' }, 'Image no longer available')), { once: true });
    img.addEventListener('load', () => { if (stick) list.scrollTop = list.scrollHeight; }, { once: true });
    return h('a', { href: url, target: '_blank', rel: 'noopener', class: 'msg-image-link' }, img);
  }
  return h('a', { class: 'file-chip', href: url, download: name },
    h('span', { class: 'file-ext', 'aria-hidden': 'true' }, (ext || 'file').slice(0, 4).toUpperCase()),
    h('span', { class: 'file-name' }, name));
}

function reactions(row) {
  const wrap = h('div', { class: 'reactions' });
  for (const [name, users] of Object.entries(row.reactions)) {
    const mine = users.includes(state.me);
    wrap.append(h('button', {
      type: 'button', class: ['reaction', mine && 'is-mine'], 'aria-pressed': String(mine),
      'aria-label': `${name} by ${users.join(', ')}`, title: `${name}: ${users.join(', ')}`,
      onclick: () => actions.react(row, name),
    }, h('span', { 'aria-hidden': 'true' }, EMOJI[name] || `:${name}:`), ` ${users.length}`));
  }
  return wrap;
}

function toolbar(row, mine) {
  const button = (label, glyph, fn) => h('button', { type: 'button', class: 'icon-button', 'aria-label': label, title: label, onclick: () => fn(row) }, icon(glyph, 16));
  const bar = h('div', { class: 'msg-toolbar', role: 'toolbar', 'aria-label': 'Message actions' });
  if (mine && !row.filename) bar.append(button('Edit', ICONS.edit, actions.edit));
  bar.append(button('Reply', ICONS.reply, actions.reply));
  const react = h('div', { class: 'quick-react' });
  for (const [name, emoji] of QUICK_REACTIONS) {
    react.append(h('button', { type: 'button', class: 'icon-button emoji-button', 'aria-label': `React ${name}`, title: name, onclick: () => actions.react(row, name) }, emoji));
  }
  bar.append(react);
  bar.append(button(row.pinnedBy ? 'Unpin' : 'Pin', ICONS.pin, actions.pin));
  if (mine) bar.append(button('Delete', ICONS.trash, actions.remove));
  return bar;
}

export function rowElementById(id) {
  return list ? list.querySelector(`.msg[data-id="${CSS.escape(String(id))}"]`) : null;
}

export { plainPreview, clear };
