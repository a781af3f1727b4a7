// Search (§11, D14): a panel under the topbar (not a modal, so the conversation stays in view)
// with query, From (people finder, you included), Conversation, After and Before (local dates,
// Before inclusive). Results come 250 ms after typing stops, or at once on a filter change, in the
// server's newest-first order; "Older results" moves the Before bound. Esc or Close shuts it and
// returns focus to where it was opened from; chat shortcuts are inert while it is open (D2).

import { h, clear } from '../render.js';
import * as api from '../api.js';
import { state, titleOf } from '../store.js';
import { paintName } from '../contrast.js';
import { plainPreview } from '../format.js';
import { suggestField } from './suggest.js';

function snippet(text, q) {
  const plain = plainPreview(text, 400);
  if (!q) return [plainPreview(plain, 200)];
  const at = plain.toLowerCase().indexOf(q.toLowerCase());
  if (at === -1) return [plainPreview(plain, 200)];
  const from = Math.max(0, at - 60);
  return [from ? '…' : '', plain.slice(from, at), h('mark', null, plain.slice(at, at + q.length)), plain.slice(at + q.length, at + q.length + 120)];
}

function dayStart(value) {
  if (!value) return null;
  const [y, m, d] = value.split('-').map(Number);
  return new Date(y, m - 1, d).getTime() / 1000;
}

let current = null;          // {panel, close, q}

export function isSearchOpen() {
  return Boolean(current);
}

export function closeSearch() {
  if (current) current.close();
}

/**
 * Opens the panel inside `slot` (cleared: the shortcut starts clean), or focuses the query if it
 * is already open. `opener` gets focus back on close and reports the panel with aria-expanded.
 */
export function openSearch({ jump, slot, opener = null }) {
  if (current) { current.q.focus(); return; }
  const q = h('input', { type: 'search', id: 'search-q', autocomplete: 'off', placeholder: 'Words to find' });
  const from = h('input', { type: 'text', id: 'search-from', autocomplete: 'off', placeholder: 'Anyone' });
  const where = h('select', { id: 'search-in' });
  where.append(h('option', { value: '' }, 'All conversations'));
  const conversations = [
    ...state.channels.map((c) => [c, `#${c}`]),
    ...state.privateChannels.map((p) => [p.channel, p.name]),
    ...state.dms.map((d) => [d.channel, titleOf(d.channel)]),
  ];
  for (const [id, label] of conversations) where.append(h('option', { value: id }, label));
  const after = h('input', { type: 'date', id: 'search-after' });
  const before = h('input', { type: 'date', id: 'search-before' });
  const results = h('ul', { class: 'search-results', role: 'listbox', id: 'search-results', 'aria-label': 'Results' });
  const status = h('p', { class: 'hint', role: 'status' });
  const more = h('button', { type: 'button', class: 'button', hidden: true }, 'Older results');
  let rows = [];
  let active = -1;
  let endBound = null;
  let seq = 0;
  let timer = null;

  const field = (label, input) => h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
  const closeButton = h('button', { type: 'button', class: 'icon-button search-close', 'aria-label': 'Close panel', title: 'Close search (Esc)' }, '×');
  const content = h('section', { class: 'search-panel', role: 'search', 'aria-label': 'Search', id: 'search-panel' },
    h('div', { class: 'search-head' }, field('Search messages', q), closeButton),
    h('div', { class: 'search-filters' }, field('From', from), field('Conversation', where), field('After', after), field('Before', before)),
    status, results, more);
  suggestField(from, { names: () => [state.me, ...state.users], single: true });

  const params = () => {
    const p = new URLSearchParams();
    if (q.value.trim()) p.set('q', q.value.trim());
    if (from.value.trim()) p.set('from', from.value.trim().replace(/,$/, ''));
    if (where.value) p.set('channel', where.value);
    const start = dayStart(after.value);
    if (start !== null) p.set('start', String(start + 86400));
    const end = dayStart(before.value);
    if (endBound !== null) p.set('end', String(endBound));
    else if (end !== null) p.set('end', String(end + 86400));
    return p;
  };

  const render = (append) => {
    if (!append) clear(results);
    rows.slice(append ? results.children.length : 0).forEach((row) => {
      const i = results.children.length;
      const sender = h('strong', null, row.sender);
      paintName(sender, row.sender);
      results.append(h('li', { role: 'option', id: `search-hit-${i}`, 'aria-selected': 'false' }, h('button', {
        type: 'button', class: 'search-hit', tabindex: '-1',
        onclick: () => { close(); jump(row.id, row.channel); },
      }, h('span', { class: 'mention-meta' }, titleOf(row.channel), ' · ', new Date(row.ts * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }), ' · ', sender),
      h('span', { class: 'mention-text' }, ...snippet(row.content || '', q.value.trim())))));
    });
  };

  const run = async (append = false) => {
    const p = params();
    if (![...p.keys()].some((k) => k !== 'end' || endBound === null)) {
      clear(results); rows = []; status.textContent = 'Type words or choose a filter.'; more.hidden = true; return;
    }
    const mine = ++seq;
    status.textContent = 'Searching…';
    try {
      const found = await api.get(`/search_messages?${p}`);
      if (mine !== seq) return;
      const list = Array.isArray(found) ? found : [];
      rows = append ? rows.concat(list) : list;
      active = -1;
      render(append);
      status.textContent = rows.length ? `${rows.length} result${rows.length === 1 ? '' : 's'}, newest first` : 'Nothing matches that search.';
      more.hidden = list.length < 50;
    } catch (err) {
      if (mine === seq) status.textContent = api.describeError(err, 'Search');
    }
  };

  more.addEventListener('click', () => {
    const oldest = rows[rows.length - 1];
    if (!oldest) return;
    endBound = oldest.ts;
    run(true);
  });
  const restart = () => { endBound = null; run(); };
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(restart, 250); });
  for (const el of [where, after, before]) el.addEventListener('change', restart);
  from.addEventListener('change', restart);
  from.addEventListener('keydown', (e) => { if (e.key === 'Enter') setTimeout(restart, 0); });
  content.addEventListener('keydown', (event) => {
    if (!rows.length || (event.key !== 'ArrowDown' && event.key !== 'ArrowUp' && event.key !== 'Enter')) return;
    if (event.target === from && from.getAttribute('aria-expanded') === 'true') return;
    if (event.key === 'Enter') {
      if (active >= 0) { event.preventDefault(); results.children[active].querySelector('button').click(); }
      return;
    }
    event.preventDefault();
    active = Math.max(0, Math.min(rows.length - 1, active + (event.key === 'ArrowDown' ? 1 : -1)));
    for (const li of results.children) li.setAttribute('aria-selected', 'false');
    const li = results.children[active];
    li.setAttribute('aria-selected', 'true');
    li.scrollIntoView({ block: 'nearest' });
    q.setAttribute('aria-activedescendant', li.id);
  });
  q.setAttribute('aria-controls', 'search-results');
  const returnTo = document.activeElement;
  const onDocKey = (event) => {
    // Esc closes the panel once nothing inside it (a suggestion list) or above it (a dialog,
    // picker or menu) has taken the key (D3).
    if (event.key !== 'Escape' || event.defaultPrevented) return;
    if (document.querySelector('dialog[open], .picker, .popup-menu')) return;
    event.preventDefault();
    close();
  };
  const close = () => {
    if (current !== state_) return;
    current = null;
    clearTimeout(timer);
    seq += 1;
    document.removeEventListener('keydown', onDocKey);
    content.remove();
    if (opener) opener.setAttribute('aria-expanded', 'false');
    const back = content.contains(document.activeElement) || document.activeElement === document.body;
    if (back && returnTo instanceof HTMLElement && returnTo.isConnected) returnTo.focus();
  };
  const state_ = { panel: content, close, q };
  current = state_;
  closeButton.addEventListener('click', close);
  document.addEventListener('keydown', onDocKey);
  if (opener) { opener.setAttribute('aria-expanded', 'true'); opener.setAttribute('aria-controls', 'search-panel'); }
  slot.replaceChildren(content);
  status.textContent = 'Type words or choose a filter.';
  q.focus();
}
