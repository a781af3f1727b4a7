// The emoji picker (§8 composer, §10 reactions): a focused search over a grid of the 477 reaction
// names, in categories, labelled with their names. It is a combobox over a listbox; arrow keys
// move through the grid, Enter picks the active (first) match, Esc or a click outside closes.

import { h } from '../render.js';
import { CATEGORIES, EMOJI, label, searchEmoji } from '../emoji.js';

const COLUMNS = 8;
let current = null;

export function isPickerOpen() {
  return Boolean(current);
}

export function closePicker() {
  if (current) current.close();
}

/** anchor: element to sit next to; onPick(name); keepOpen: stay after a pick (composer). */
export function openPicker({ anchor, onPick, keepOpen = false, title = 'Add reaction' }) {
  closePicker();
  const opener = document.activeElement;
  const input = h('input', {
    type: 'search', class: 'picker-search', autocomplete: 'off', placeholder: 'Search emoji',
    role: 'combobox', 'aria-expanded': 'true', 'aria-controls': 'picker-grid', 'aria-autocomplete': 'list',
    'aria-label': 'Search emoji',
  });
  const grid = h('div', { class: 'picker-grid', id: 'picker-grid', role: 'listbox', 'aria-label': 'Emoji' });
  const empty = h('p', { class: 'hint', hidden: true }, 'No emoji match.');
  const root = h('div', { class: 'picker', role: 'dialog', 'aria-label': title }, input, grid, empty);
  let names = [];
  let active = 0;

  const option = (name, index) => h('button', {
    type: 'button', role: 'option', id: `picker-opt-${name}`, class: 'picker-item', tabindex: '-1',
    'aria-label': label(name), title: label(name), 'aria-selected': String(index === active),
    onclick: () => pick(name),
  }, EMOJI[name]);

  const render = () => {
    const term = input.value;
    names = searchEmoji(term);
    active = Math.min(active, Math.max(0, names.length - 1));
    const nodes = [];
    if (!term.trim()) {
      let index = 0;
      for (const category of CATEGORIES) {
        nodes.push(h('div', { class: 'picker-category', role: 'presentation' }, category.name));
        for (const [name] of category.emojis) { nodes.push(option(name, index)); index += 1; }
      }
    } else {
      names.forEach((name, index) => nodes.push(option(name, index)));
    }
    grid.replaceChildren(...nodes);
    empty.hidden = names.length > 0;
    mark();
  };

  const mark = () => {
    for (const el of grid.querySelectorAll('[aria-selected="true"]')) el.setAttribute('aria-selected', 'false');
    const el = names.length ? grid.querySelector(`#picker-opt-${CSS.escape(names[active])}`) : null;
    if (el) {
      el.setAttribute('aria-selected', 'true');
      input.setAttribute('aria-activedescendant', el.id);
      el.scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  };

  const pick = (name) => {
    onPick(name);
    if (!keepOpen) close();
    else input.focus();
  };

  const onKey = (event) => {
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    if (event.key in moves && names.length) {
      if ((event.key === 'ArrowLeft' || event.key === 'ArrowRight') && input.value && event.target === input) return;
      event.preventDefault();
      active = Math.max(0, Math.min(names.length - 1, active + moves[event.key]));
      mark();
    } else if (event.key === 'Enter' || (event.key === 'Tab' && names.length && event.target === input && input.value)) {
      if (names.length) { event.preventDefault(); pick(names[active]); }
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  };

  const outside = (event) => {
    if (!root.contains(event.target) && event.target !== anchor && !(anchor && anchor.contains(event.target))) close();
  };

  function close() {
    document.removeEventListener('pointerdown', outside, true);
    root.remove();
    if (current && current.root === root) current = null;
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
  }

  input.addEventListener('input', () => { active = 0; render(); });
  root.addEventListener('keydown', onKey);
  document.addEventListener('pointerdown', outside, true);
  const rect = anchor ? anchor.getBoundingClientRect() : { left: 20, top: 200, bottom: 200 };
  const width = Math.min(340, window.innerWidth - 16);
  root.style.setProperty('--x', `${Math.max(8, Math.min(rect.left, window.innerWidth - width - 8))}px`);
  const below = rect.bottom + 360 < window.innerHeight;
  root.style.setProperty('--y', `${below ? rect.bottom + 4 : Math.max(8, rect.top - 364)}px`);
  document.body.append(root);
  render();
  input.focus();
  current = { root, close };
  return current;
}
