// Suggestion lists (§4 name fields, §8 `@` mentions): a combobox over a listbox, fuzzy-ranked with
// the matched letters highlighted, first option active; ↑/↓ move, Enter or Tab choose, Esc closes.

import { h } from '../render.js';
import { avatar, presenceOf, PRESENCE_LABEL } from './people.js';

let seq = 0;

/** Fuzzy score (lower is better) and matched indexes, or null when `term` is not a subsequence. */
export function fuzzyMatch(text, term) {
  const lower = text.toLowerCase();
  const t = term.toLowerCase();
  if (!t) return { score: 0, hits: [] };
  const prefix = lower.startsWith(t);
  const hits = [];
  let j = 0;
  for (let i = 0; i < lower.length && j < t.length; i += 1) {
    if (lower[i] === t[j]) { hits.push(i); j += 1; }
  }
  if (j < t.length) return null;
  const spread = hits[hits.length - 1] - hits[0];
  return { score: (prefix ? 0 : 100) + spread + hits[0], hits };
}

export function rank(names, term, limit = 8) {
  return names.map((name) => ({ name, m: fuzzyMatch(name, term) }))
    .filter((x) => x.m).sort((a, b) => a.m.score - b.m.score || a.name.localeCompare(b.name))
    .slice(0, limit);
}

/** `name` as text with the letters at `hits` wrapped in <mark>. */
export function highlighted(name, hits) {
  const set = new Set(hits);
  return [...name].map((ch, i) => (set.has(i) ? h('mark', null, ch) : ch));
}

/**
 * Generic engine. source(input) → {term, items:[name]} or null (closed); choose(name) applies.
 * Returns {list, isOpen(), close()} and wires the input's keys (capture phase, so it owns Enter).
 */
function engine(input, { source, choose, showAvatars = true, placeAbove = false }) {
  seq += 1;
  const id = `suggest${seq}`;
  const list = h('ul', { class: ['suggest-list', placeAbove && 'suggest-above'], role: 'listbox', id, hidden: true, 'aria-label': 'Suggestions' });
  let items = [];
  let active = 0;
  // A textarea keeps its textbox role (§17 names the composer a textbox); textboxes support
  // aria-autocomplete and aria-activedescendant, so the list is still announced.
  const combo = input.tagName !== 'TEXTAREA';
  const expanded = (v) => { if (combo) input.setAttribute('aria-expanded', v); };
  if (combo) input.setAttribute('role', 'combobox');
  input.setAttribute('aria-controls', id);
  expanded('false');
  input.setAttribute('aria-autocomplete', 'list');
  const close = () => {
    list.hidden = true;
    items = [];
    expanded('false');
    input.removeAttribute('aria-activedescendant');
  };
  const render = () => {
    const found = source(input);
    if (!found || !found.items.length) { close(); return; }
    items = found.items;
    active = Math.min(active, items.length - 1);
    list.replaceChildren(...items.map(({ name, m }, i) => h('li', {
      role: 'option', id: `${id}-${i}`, class: ['suggest-item', i === active && 'is-active'], 'aria-selected': String(i === active),
      onmousedown: (event) => { event.preventDefault(); pick(i); },
    }, showAvatars && name !== '@everyone' ? avatar(name, 20) : null, h('span', null, highlighted(name, m ? m.hits : [])),
    showAvatars && name !== '@everyone' ? h('span', { class: 'hint' }, ` ${PRESENCE_LABEL[presenceOf(name)] || 'offline'}`) : null)));
    list.hidden = false;
    expanded('true');
    input.setAttribute('aria-activedescendant', `${id}-${active}`);
  };
  const pick = (i) => {
    const item = items[i];
    if (!item) return;
    choose(item.name);
    active = 0;
    close();
    input.focus();
  };
  input.addEventListener('input', () => { active = 0; render(); });
  input.addEventListener('blur', () => setTimeout(close, 150));
  input.addEventListener('keydown', (event) => {
    if (list.hidden || !items.length) return;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      event.stopImmediatePropagation();
      active = (active + (event.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
      render();
    } else if ((event.key === 'Enter' && !event.shiftKey) || event.key === 'Tab') {
      event.preventDefault();
      event.stopImmediatePropagation();
      pick(active);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopImmediatePropagation();
      close();
    }
  }, true);
  input.after(list);
  return { list, isOpen: () => !list.hidden, close, render };
}

/** Name suggestions for a field holding one name or comma-separated names. */
export function suggestField(input, { names, single = false }) {
  return engine(input, {
    source: () => {
      const parts = input.value.split(',');
      const term = parts[parts.length - 1].trim();
      if (!term) return null;
      const chosen = new Set(parts.slice(0, -1).map((p) => p.trim().toLowerCase()));
      return { items: rank(names().filter((n) => !chosen.has(n.toLowerCase())), term) };
    },
    choose: (name) => {
      if (single) { input.value = name; return; }
      const parts = input.value.split(',');
      parts[parts.length - 1] = ` ${name}`;
      input.value = `${parts.join(',').replace(/^\s+/, '')}, `;
    },
  });
}

/** `@` mentions in the composer: opens at a line start or after a space (§8). */
export function mentionSuggest(textarea, { members }) {
  const context = () => {
    const caret = textarea.selectionStart;
    const before = textarea.value.slice(0, caret);
    const m = /(^|\s)@([A-Za-z0-9_-]*)$/.exec(before);
    return m ? { start: caret - m[2].length - 1, term: m[2], caret } : null;
  };
  return engine(textarea, {
    placeAbove: true,
    source: () => {
      const ctx = context();
      if (!ctx) return null;
      const all = ['@everyone', ...members()];
      const items = ctx.term ? rank(all.map((n) => (n === '@everyone' ? 'everyone' : n)), ctx.term)
        .map((x) => ({ name: x.name === 'everyone' ? '@everyone' : x.name, m: x.name === 'everyone' ? { hits: x.m.hits.map((i) => i + 1) } : x.m }))
        : all.slice(0, 8).map((name) => ({ name, m: null }));
      return { items };
    },
    choose: (name) => {
      const ctx = context();
      if (!ctx) return;
      const insert = `${name.startsWith('@') ? name : `@${name}`} `;
      textarea.setRangeText(insert, ctx.start, ctx.caret, 'end');
      textarea.dispatchEvent(new Event('input'));
    },
  });
}
