// The message list (§5): rows grouped by sender within 5 minutes, day separators, the unread
// divider, the jump pill, paging back on scroll, and live insert/replace/remove by id.
//
// The DOM is windowed (N10): at most WINDOW rows are in the document, however long the history
// held in the store. Scrolling near either edge slides the window by STEP rows, keeping the row
// under the reader's eyes where it was; far rows are dropped and rebuilt when they come back.

import { h, clear, icon, ICONS } from '../render.js';
import { state, conversation } from '../store.js';
import { paintName } from '../contrast.js';
import { formatMessage, isEmojiOnly, plainPreview } from '../format.js';
import { EMOJI, label as emojiLabel } from '../emoji.js';
import { avatar, profileTrigger } from './people.js';
import { observePreviews, filePreview } from './preview.js';

const GROUP_GAP = 5 * 60;
const WINDOW = 150;
const STEP = 50;
const QUICK = ['thumbsup', 'heart', 'laugh', 'tada'];
export { EMOJI };

let list = null;
let pill = null;
let actions = {};
let channel = null;
let divider = null;          // {beforeId}
let pendingNew = 0;
let topId = null;            // id of the window's first row; null = follow the newest
let selectedId = null;       // visual mode selection
let windowInfo = { start: 0, end: 0, total: 0 };
const cache = new Map();     // id → {key, el}

export function mountMessages(listEl, pillEl, handlers) {
  list = listEl;
  pill = pillEl;
  actions = handlers;
  list.addEventListener('scroll', onScroll, { passive: true });
  pill.addEventListener('click', () => scrollToBottom(true));
  new ResizeObserver(() => { if (stick) list.scrollTop = list.scrollHeight; }).observe(list);
  // Long-press (touch) opens a row's actions; a tap on the row body reveals its toolbar (§16).
  let pressTimer = null;
  list.addEventListener('touchstart', (event) => {
    const row = event.target.closest && event.target.closest('.msg');
    if (!row || event.target.closest('a, button, .reaction')) return;
    pressTimer = setTimeout(() => revealTools(row), 450);
  }, { passive: true });
  list.addEventListener('touchend', () => clearTimeout(pressTimer), { passive: true });
  list.addEventListener('click', (event) => {
    if (!window.matchMedia('(pointer: coarse)').matches) return;
    const row = event.target.closest && event.target.closest('.msg');
    if (row && !event.target.closest('a, button, .reaction, textarea')) revealTools(row);
  });
}

function revealTools(row) {
  for (const el of list.querySelectorAll('.msg.show-tools')) if (el !== row) el.classList.remove('show-tools');
  row.classList.add('show-tools');
}

let stick = true;
let loadingOlder = false;

function atBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
}

function visibleRows() {
  return conversation(channel).rows.filter((r) => !r.hidden);
}

function onScroll() {
  if (!channel || channel === 'mentions') return;
  const { start, end, total } = windowInfo;
  stick = atBottom() && end >= total;
  if (stick) {
    pendingNew = 0;
    topId = null;
  } else if (topId === null) {
    const rows = visibleRows();
    if (rows[start]) topId = rows[start].id;
  }
  updatePill();
  if (list.scrollTop < 400) {
    if (start > 0) {
      slide(-STEP);
    } else if (!loadingOlder) {
      const conv = conversation(channel);
      if (!conv.reachedStart && conv.rows.length) {
        loadingOlder = true;
        Promise.resolve(actions.loadOlder(channel)).finally(() => { loadingOlder = false; });
      }
    }
  } else if (list.scrollHeight - list.scrollTop - list.clientHeight < 400 && end < total) {
    slide(STEP);
  }
}

/** Moves the window by `delta` rows, keeping the first visible row in place. */
function slide(delta) {
  const rows = visibleRows();
  const next = Math.max(0, Math.min(rows.length - WINDOW, windowInfo.start + delta));
  if (next === windowInfo.start) return;
  const anchor = firstVisible();
  topId = next + WINDOW >= rows.length && delta > 0 ? null : rows[Math.max(0, next)].id;
  if (topId === null && rows.length > WINDOW) topId = rows[rows.length - WINDOW].id;
  render();
  restoreAnchor(anchor);
}

export function scrollToBottom(smooth = false) {
  const reduce = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  if (topId !== null) { topId = null; render(); }
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
export function showConversation(id, lastReadTs, place) {
  channel = id;
  cache.clear();
  separators.clear();
  list.replaceChildren();
  pendingNew = 0;
  selectedId = null;
  topId = null;
  const rows = visibleRows();
  const firstUnread = lastReadTs === undefined ? null
    : rows.find((r) => r.ts > (lastReadTs || 0) && r.sender !== state.me);
  divider = firstUnread ? { beforeId: firstUnread.id } : null;
  if (divider) centreOn(divider.beforeId, rows);
  else if (place && rows.some((r) => r.id === place)) centreOn(place, rows);
  render();
  const target = divider ? list.querySelector('.unread-divider') : place ? rowElementById(place) : null;
  if (target) {
    list.scrollTop = target.offsetTop - list.clientHeight / 2;
    stick = atBottom() && windowInfo.end >= windowInfo.total;
    updatePill();
    return;
  }
  scrollToBottom();
}

function centreOn(id, rows = visibleRows()) {
  const index = rows.findIndex((r) => r.id === id);
  if (index === -1) return;
  const start = Math.max(0, Math.min(index - Math.floor(WINDOW / 2), rows.length - WINDOW));
  topId = start + WINDOW >= rows.length ? null : rows[start].id;
}

/** The id of the row nearest the top of the viewport: the reader's place (D26). */
export function currentPlace() {
  if (!list || stick) return null;
  const anchor = firstVisible();
  return anchor ? Number(anchor.el.dataset.id) : null;
}

/** Re-renders after rows changed; keeps the reader's place (§5 auto-scroll rules). */
export function refresh({ added = [], mine = false, older = false } = {}) {
  if (!list || !channel || channel === 'mentions') return;
  const wasBottom = stick || atBottom();
  const anchor = !wasBottom || older ? firstVisible() : null;
  if (older && windowInfo.start === 0) {
    // Rows arrived above: let the window grow upwards by one step.
    const rows = visibleRows();
    const current = anchor ? rows.findIndex((r) => String(r.id) === anchor.el.dataset.id) : -1;
    if (current > 0) topId = rows[Math.max(0, current - STEP)].id;
  }
  if ((wasBottom && !older) || mine) topId = null;
  render();
  if (older && anchor) {
    restoreAnchor(anchor);
    return;
  }
  if ((wasBottom || mine) && !older) {
    list.scrollTop = list.scrollHeight;
    stick = true;
  } else {
    restoreAnchor(anchor);
    const conv = conversation(channel);
    pendingNew += added.filter((id) => (conv.byId.get(id) || {}).sender !== state.me).length;
  }
  updatePill();
}

function restoreAnchor(anchor) {
  if (anchor && anchor.el.isConnected) list.scrollTop += anchor.el.getBoundingClientRect().top - anchor.top;
}

function firstVisible() {
  const top = list.getBoundingClientRect().top;
  for (const el of list.children) {
    if (!el.classList.contains('msg')) continue;
    const r = el.getBoundingClientRect();
    if (r.bottom > top) return { el, top: r.top };
  }
  return null;
}

function dayKey(ts) {
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

const thisYear = () => new Date().getFullYear();

export function fullDate(ts) {
  const d = new Date(ts * 1000);
  return d.toLocaleDateString(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: d.getFullYear() === thisYear() ? undefined : 'numeric' });
}

export function shortTime(ts) {
  return new Date(ts * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** Date and time in the browser's locale, with the year only when it is not this year (D22). */
export function fullTime(ts) {
  const d = new Date(ts * 1000);
  return d.toLocaleString(undefined, {
    weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    year: d.getFullYear() === thisYear() ? undefined : 'numeric',
  });
}

function render() {
  const conv = conversation(channel);
  const rows = visibleRows();
  let start = rows.length - WINDOW;
  if (topId !== null) {
    const at = rows.findIndex((r) => r.id === topId);
    if (at !== -1) start = at;
    else {
      const anchorTs = (conv.byId.get(topId) || {}).ts;
      const near = anchorTs === undefined ? -1 : rows.findIndex((r) => r.ts >= anchorTs);
      start = near === -1 ? rows.length - WINDOW : near;
    }
  }
  start = Math.max(0, Math.min(start, rows.length - WINDOW));
  const end = Math.min(rows.length, start + WINDOW);
  windowInfo = { start, end, total: rows.length };
  const nodes = [];
  if (start === 0 && (conv.reachedStart || (conv.loaded && rows.length < 100))) {
    nodes.push(separator(`start:${channel}:${actions.title(channel)}`, () => h('div', { class: 'conversation-start' },
      h('strong', null, 'This is the beginning'), ` of ${actions.title(channel)}.`)));
  } else if (start > 0 || !conv.reachedStart) {
    nodes.push(separator('more', () => h('div', { class: 'list-more', 'aria-hidden': 'true' }, conv.loaded ? 'Loading earlier messages…' : 'Loading…')));
  }
  let prev = start > 0 ? rows[start - 1] : null;
  const keep = new Set();
  for (let i = start; i < end; i += 1) {
    const row = rows[i];
    if (!prev || dayKey(prev.ts) !== dayKey(row.ts)) {
      nodes.push(separator(`day:${channel}:${dayKey(row.ts)}:${row.id}`, () => h('div', { class: 'day-separator', role: 'separator', 'aria-label': fullDate(row.ts) }, h('span', null, fullDate(row.ts)))));
      prev = null;
    }
    if (divider && divider.beforeId === row.id) {
      nodes.push(separator(`unread:${channel}:${row.id}`, () => h('div', { class: 'unread-divider', role: 'separator', 'aria-label': 'New messages' }, h('span', null, 'New messages'))));
      prev = null;
    }
    const grouped = Boolean(prev && prev.sender === row.sender && row.content_type !== 'system'
      && prev.content_type !== 'system' && row.ts - prev.ts < GROUP_GAP);
    const el = rowElement(row, grouped);
    el.classList.toggle('is-selected', row.id === selectedId);
    nodes.push(el);
    keep.add(row.id);
    prev = row;
  }
  // Elements of rows outside the window are let go, so memory follows the DOM bound too.
  for (const id of cache.keys()) if (!keep.has(id)) cache.delete(id);
  reconcile(nodes);
  observePreviews(list);
}

/**
 * Makes the list's children equal `nodes` with the fewest moves: rows and separators are reused
 * objects, so a new message costs one insert (and the window's oldest row one removal) instead of
 * re-laying out the whole list (N10: no long tasks at 50 messages/s).
 */
function reconcile(nodes) {
  const wanted = new Set(nodes);
  for (const child of [...list.children]) if (!wanted.has(child)) child.remove();
  let cursor = list.firstElementChild;
  for (const node of nodes) {
    if (node === cursor) { cursor = cursor.nextElementSibling; continue; }
    list.insertBefore(node, cursor);
  }
}

const separators = new Map();   // key → element, reused across renders so reconcile can keep them

function separator(key, make) {
  let el = separators.get(key);
  if (!el) {
    el = make();
    separators.set(key, el);
    if (separators.size > 400) separators.delete(separators.keys().next().value);
  }
  return el;
}

function receiptState(row) {
  if (row.sender !== state.me || row.pending || row.content_type === 'system') return null;
  const readers = Object.entries(state.receipts || {})
    .filter(([user, ts]) => user !== state.me && ts >= row.ts).map(([user]) => user);
  return readers;
}

function rowKey(row, grouped) {
  const readers = receiptState(row);
  return JSON.stringify([row.content, row.filename, row.edited_ts, row.reactions, row.pending, row.failed,
    grouped, actions.isEditing(row.id), state.avatars.has(row.sender), state.online[row.sender], state.colors[row.sender],
    row.pinnedBy, readers && readers.join(','), state.fontSize,
    // A reply's quote changes when its original is edited or deleted.
    row.reply_to_id ? quotedKey(row.reply_to_id) : null]);
}

function quotedKey(id) {
  const original = conversation(channel).byId.get(id);
  return original ? `${original.edited_ts || ''}` : 'gone';
}

function rowElement(row, grouped) {
  const key = rowKey(row, grouped);
  const hit = cache.get(row.id);
  if (hit && hit.key === key) return hit.el;
  const el = buildRow(row, grouped);
  cache.set(row.id, { key, el });
  return el;
}

export function mentionsMe(row) {
  if (row.sender === state.me || !row.mentions) return false;
  return row.mentions.includes('@everyone') || row.mentions.some((m) => m.toLowerCase() === state.me.toLowerCase());
}

function buildRow(row, grouped) {
  const system = row.content_type === 'system';
  const mine = row.sender === state.me;
  const mention = mentionsMe(row);
  const who = system ? 'MiniMost' : row.sender;
  const label = `${who}, ${shortTime(row.ts)}${mention ? ', mentions you' : ''}${row.pinnedBy ? ', pinned' : ''}`;
  const body = h('div', { class: 'msg-body' });
  if (row.reply_to_id) body.append(actions.quote(row.reply_to_id));
  if (row.filename) {
    body.append(attachment(row.filename));
  } else if (actions.isEditing(row.id)) {
    body.append(actions.editor(row));
  } else if (row.content) {
    const text = h('div', { class: ['msg-text', isEmojiOnly(row.content) && 'emoji-only'] });
    text.append(formatMessage(row.content, { me: state.me, isUser: actions.isUser }));
    if (row.edited) text.append(' ', h('span', { class: 'edited', tabindex: '0', title: `Edited ${fullTime(row.edited_ts || row.ts)}`, 'aria-label': `edited ${fullTime(row.edited_ts || row.ts)}` }, '(edited)'));
    body.append(text);
    const links = system ? [] : [...text.querySelectorAll('a[href^="http"]')].slice(0, 3).map((a) => a.href);
    for (const url of links) body.append(h('div', { class: 'link-preview-slot', dataset: { url } }));
  }
  if (row.upload && !row.failed) body.append(uploadProgress(row));
  if (row.failed) {
    body.append(h('div', { class: 'msg-failed', role: 'alert' }, `Not sent: ${row.failed} `,
      h('button', { type: 'button', class: 'link-button', onclick: () => actions.retry(row) }, 'Retry'), ' · ',
      h('button', { type: 'button', class: 'link-button', onclick: () => actions.discard(row) }, 'Discard')));
  }
  if (row.reactions && !system) body.append(reactions(row));
  if (row.pinnedBy) body.append(h('div', { class: 'pinned-caption' }, icon(ICONS.pin, 12), ` Pinned by ${row.pinnedBy}`));
  const readers = receiptState(row);
  const header = grouped ? null : h('div', { class: 'msg-header' },
    system ? h('span', { class: 'msg-sender' }, who) : profileTrigger(row.sender, h('span', { class: 'msg-sender' }, who)),
    h('time', { class: 'msg-time', datetime: new Date(row.ts * 1000).toISOString(), title: fullTime(row.ts) }, shortTime(row.ts)),
    readers ? receipt(readers) : null);
  if (header && !system) paintName(header.querySelector('.msg-sender'), row.sender);
  const gutter = grouped
    ? h('time', { class: 'msg-time msg-time-grouped', title: fullTime(row.ts) }, shortTime(row.ts))
    : system ? avatar('system', 36) : profileTrigger(row.sender, avatar(row.sender, 36));
  const main = h('div', { class: 'msg-main' }, header, body);
  if (grouped && readers) main.append(receipt(readers));
  return h('article', {
    class: ['msg', grouped && 'msg-grouped', system && 'msg-system', mention && 'msg-mention', mine && 'msg-mine', row.pending && 'msg-pending'],
    'aria-label': label,
    tabindex: '-1',
    dataset: { id: String(row.id), sender: row.sender },
  }, h('div', { class: 'msg-gutter' }, gutter), main,
  system || row.pending ? null : toolbar(row, mine));
}

/** A pending upload's bar, percentage and Cancel (D27). */
function uploadProgress(row) {
  const names = row.upload.names.join(', ');
  const pct = Math.round(row.upload.progress * 100);
  return h('div', { class: 'upload-progress' },
    h('progress', { max: '100', value: String(pct), 'aria-label': `Uploading ${names}` }),
    h('span', { class: 'upload-percent', 'aria-hidden': 'true' }, `${pct} %`),
    h('button', { type: 'button', class: 'link-button', 'aria-label': `Cancel upload of ${names}`, onclick: () => actions.cancelUpload(row) }, 'Cancel'));
}

/** Moves a pending upload's bar without re-rendering its row. */
export function showUploadProgress(id, fraction) {
  const hit = cache.get(id);
  const bar = hit && hit.el.querySelector('.upload-progress');
  if (!bar) return;
  const pct = Math.round(fraction * 100);
  bar.querySelector('progress').value = pct;
  bar.querySelector('.upload-percent').textContent = `${pct} %`;
}

function receipt(readers) {
  const read = readers.length > 0;
  const text = read ? `Read by ${readers.join(', ')}` : 'Not read yet';
  return h('button', { type: 'button', class: ['receipt', read && 'is-read'], 'aria-label': text, title: text,
    onclick: (event) => { event.currentTarget.classList.toggle('show-readers'); } },
  h('span', { 'aria-hidden': 'true' }, read ? '✓✓' : '✓'), h('span', { class: 'receipt-readers' }, text));
}

const IMAGE_EXT = ['png', 'jpg', 'jpeg', 'gif', 'webp'];

export function displayName(filename) {
  return filename.length > 33 && filename[32] === '_' ? filename.slice(33) : filename;
}

function attachment(filename) {
  const url = `/files/${encodeURIComponent(filename)}`;
  const ext = (filename.split('.').pop() || '').toLowerCase();
  const name = displayName(filename);
  if (IMAGE_EXT.includes(ext)) {
    const img = h('img', { class: 'msg-image', src: url, alt: name, loading: 'lazy' });
    img.addEventListener('error', () => img.closest('a').replaceWith(h('div', { class: 'file-gone', role: 'img', 'aria-label': `${name} was removed` }, icon(ICONS.image || ICONS.attach, 20), ' Image no longer available')), { once: true });
    img.addEventListener('load', () => { img.classList.add('is-loaded'); if (stick) list.scrollTop = list.scrollHeight; }, { once: true });
    return h('a', { href: url, target: '_blank', rel: 'noopener', class: 'msg-image-link' }, img);
  }
  const chip = h('a', { class: 'file-chip', href: url, download: name },
    h('span', { class: 'file-ext', 'aria-hidden': 'true' }, (ext || 'file').slice(0, 4).toUpperCase()),
    h('span', { class: 'file-name' }, name));
  return filePreview(filename, name, chip);
}

function reactions(row) {
  const wrap = h('div', { class: 'reactions' });
  for (const [name, users] of Object.entries(row.reactions)) {
    const mine = users.includes(state.me);
    wrap.append(h('button', {
      type: 'button', class: ['reaction', mine && 'is-mine'], 'aria-pressed': String(mine),
      'aria-label': `${emojiLabel(name)}, ${users.length}: ${users.join(', ')}`, title: `${emojiLabel(name)}: ${users.join(', ')}`,
      onclick: () => actions.react(row, name),
    }, h('span', { 'aria-hidden': 'true' }, EMOJI[name] || `:${name}:`), h('span', { 'aria-hidden': 'true' }, ` ${users.length}`),
    h('span', { class: 'reactors', 'aria-hidden': 'true' }, users.join(', '))));
  }
  wrap.append(h('button', { type: 'button', class: 'reaction reaction-add', 'aria-label': 'Add reaction', title: 'Add reaction', onclick: (e) => actions.pickReaction(row, e.currentTarget) }, icon(ICONS.smile, 14)));
  return wrap;
}

function toolbar(row, mine) {
  const button = (label, glyph, fn, extra = {}) => h('button', { type: 'button', class: 'icon-button', 'aria-label': label, title: label, onclick: (e) => fn(row, e.currentTarget), ...extra }, icon(glyph, 16));
  const bar = h('div', { class: 'msg-toolbar', role: 'toolbar', 'aria-label': `Actions for ${row.sender}'s message` });
  for (const name of QUICK) {
    bar.append(h('button', { type: 'button', class: 'icon-button emoji-button', 'aria-label': `React ${emojiLabel(name)}`, title: emojiLabel(name), onclick: () => actions.react(row, name) }, EMOJI[name]));
  }
  bar.append(button('Add reaction', ICONS.smile, actions.pickReaction));
  bar.append(button('Reply', ICONS.reply, actions.reply));
  bar.append(button(row.pinnedBy ? 'Unpin' : 'Pin', ICONS.pin, actions.pin, { 'aria-pressed': String(Boolean(row.pinnedBy)) }));
  if (mine && !row.filename) bar.append(button('Edit', ICONS.edit, actions.edit));
  if (mine) bar.append(button('Delete', ICONS.trash, actions.remove));
  return bar;
}

export function rowElementById(id) {
  return list ? list.querySelector(`.msg[data-id="${CSS.escape(String(id))}"]`) : null;
}

/** Brings a loaded row into the window, centres and flashes it (§11 jump). */
export function revealRow(id, { flash = true } = {}) {
  if (!rowElementById(id)) {
    centreOn(id);
    render();
  }
  const el = rowElementById(id);
  if (!el) return false;
  el.scrollIntoView({ block: 'center' });
  stick = atBottom() && windowInfo.end >= windowInfo.total;
  if (stick) topId = null;
  else if (topId === null) { const rows = visibleRows(); topId = rows[windowInfo.start] ? rows[windowInfo.start].id : null; }
  updatePill();
  if (flash) {
    el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 1600);
  }
  return true;
}

// ---------- visual mode (§16) ----------

export function selection() {
  return selectedId === null ? null : conversation(channel).byId.get(selectedId) || null;
}

/** Selects the newest row (start of visual mode), or moves by `delta` rows; null clears. */
export function select(delta) {
  const rows = visibleRows().filter((r) => !r.pending);
  if (delta === null) {
    selectedId = null;
  } else if (selectedId === null || !rows.some((r) => r.id === selectedId)) {
    selectedId = rows.length ? rows[rows.length - 1].id : null;
  } else {
    const at = rows.findIndex((r) => r.id === selectedId);
    selectedId = rows[Math.max(0, Math.min(rows.length - 1, at + delta))].id;
  }
  for (const el of list.querySelectorAll('.msg.is-selected')) el.classList.remove('is-selected');
  if (selectedId === null) return null;
  if (!rowElementById(selectedId)) { centreOn(selectedId); render(); }
  const el = rowElementById(selectedId);
  if (el) {
    el.classList.add('is-selected');
    el.scrollIntoView({ block: 'nearest' });
  }
  return selection();
}

export function domInfo() {
  return { ...windowInfo };
}

export { plainPreview, clear };
