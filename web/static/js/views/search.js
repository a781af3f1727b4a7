// Search (§11): a dialog over GET /search_messages; results keep the server's newest-first order.
import { h, clear } from '../render.js';
import * as api from '../api.js';
import { state, titleOf } from '../store.js';
import { plainPreview } from '../format.js';

export function openSearch({ open, jump }) {
  const opener = document.activeElement;
  const input = h('input', { type: 'search', id: 'search-q', autocomplete: 'off', placeholder: 'Words, or from:name' });
  const here = h('input', { type: 'checkbox', id: 'search-here' });
  const results = h('ul', { class: 'search-results', 'aria-label': 'Results' });
  const status = h('p', { class: 'hint', role: 'status' });
  const form = h('form', { class: 'dialog-form', role: 'search' },
    h('h2', { id: 'search-title' }, 'Search'),
    h('div', { class: 'field' }, h('label', { for: 'search-q' }, 'Search messages'), input),
    state.current && state.current !== 'mentions'
      ? h('label', { class: 'check' }, here, ` Only in ${titleOf(state.current)}`) : null,
    status, results,
    h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'button', onclick: () => dialog.close() }, 'Close')));
  const dialog = h('dialog', { class: 'dialog dialog-wide', 'aria-labelledby': 'search-title' }, form);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const raw = input.value.trim();
    const from = /(?:^|\s)from:(\S+)/.exec(raw);
    const q = raw.replace(/(?:^|\s)from:\S+/, '').trim();
    const params = new URLSearchParams();
    if (q) params.set('q', q);
    if (from) params.set('from', from[1]);
    if (here.checked) params.set('channel', state.current);
    status.textContent = 'Searching…';
    try {
      const rows = await api.get(`/search_messages?${params}`);
      clear(results);
      status.textContent = rows.length ? `${rows.length} result${rows.length === 1 ? '' : 's'}` : 'Nothing matches.';
      for (const row of rows) {
        results.append(h('li', null, h('button', {
          type: 'button', class: 'search-hit',
          onclick: async () => { dialog.close(); await open(row.channel); setTimeout(() => jump(row.id), 300); },
        }, h('span', { class: 'mention-meta' }, h('strong', null, row.sender), ' in ', titleOf(row.channel), ' · ', new Date(row.ts * 1000).toLocaleString()),
        h('span', { class: 'mention-text' }, plainPreview(row.content, 200)))));
      }
    } catch (err) {
      status.textContent = api.describeError(err, 'Search');
    }
  });
  dialog.addEventListener('close', () => { dialog.remove(); if (opener instanceof HTMLElement) opener.focus(); });
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
}
