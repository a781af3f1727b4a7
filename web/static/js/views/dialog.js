// A small form dialog on the native <dialog> (focus is kept inside and Esc closes it), with a
// listbox of suggestions for comma-separated names.
import { h } from '../render.js';

let seq = 0;

export function openDialog({ title, label, extraLabel, suggestions, submitLabel, validate, submit, maxLength }) {
  seq += 1;
  const id = `dlg${seq}`;
  const opener = document.activeElement;
  const input = h('input', { id: `${id}-input`, type: 'text', autocomplete: 'off', 'aria-describedby': `${id}-error` });
  const extra = extraLabel ? h('input', { id: `${id}-extra`, type: 'text', autocomplete: 'off' }) : null;
  const error = h('p', { id: `${id}-error`, class: 'hint hint-bad', role: 'alert', hidden: true });
  const list = h('ul', { class: 'suggestions', role: 'listbox', id: `${id}-list`, hidden: true, 'aria-label': 'Suggestions' });
  const nameField = extra || (suggestions && !maxLength ? input : null);
  const form = h('form', { method: 'dialog', class: 'dialog-form' },
    h('h2', { id: `${id}-title` }, title),
    h('div', { class: 'field' }, h('label', { for: input.id }, label), input, maxLength ? null : list),
    extra ? h('div', { class: 'field' }, h('label', { for: extra.id }, extraLabel), extra, list) : null,
    error,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'button', onclick: () => dialog.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'button button-primary' }, submitLabel)));
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': `${id}-title` }, form);

  if (nameField && suggestions) {
    nameField.setAttribute('role', 'combobox');
    nameField.setAttribute('aria-controls', list.id);
    nameField.setAttribute('aria-expanded', 'false');
    nameField.setAttribute('aria-autocomplete', 'list');
    let active = 0;
    const current = () => {
      const parts = nameField.value.split(',');
      return { parts, term: parts[parts.length - 1].trim().toLowerCase() };
    };
    const render = () => {
      const { parts, term } = current();
      const chosen = new Set(parts.slice(0, -1).map((p) => p.trim().toLowerCase()));
      const matches = term ? suggestions().filter((n) => !chosen.has(n.toLowerCase()) && fuzzy(n.toLowerCase(), term)).slice(0, 8) : [];
      list.replaceChildren(...matches.map((name, i) => h('li', {
        role: 'option', id: `${id}-opt${i}`, 'aria-selected': String(i === active), class: i === active ? 'is-active' : null,
        onmousedown: (event) => { event.preventDefault(); pick(name); },
      }, name)));
      list.hidden = !matches.length;
      nameField.setAttribute('aria-expanded', String(!list.hidden));
      if (matches.length) nameField.setAttribute('aria-activedescendant', `${id}-opt${active}`);
      else nameField.removeAttribute('aria-activedescendant');
    };
    const pick = (name) => {
      const { parts } = current();
      parts[parts.length - 1] = ` ${name}`;
      nameField.value = `${parts.join(',').replace(/^\s+/, '')}, `;
      active = 0;
      render();
      nameField.focus();
    };
    nameField.addEventListener('input', () => { active = 0; render(); });
    nameField.addEventListener('keydown', (event) => {
      const options = list.querySelectorAll('[role="option"]');
      if (list.hidden || !options.length) return;
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        active = (active + (event.key === 'ArrowDown' ? 1 : options.length - 1)) % options.length;
        render();
      } else if (event.key === 'Enter' || event.key === 'Tab') {
        event.preventDefault();
        pick(options[active].textContent);
      } else if (event.key === 'Escape') {
        event.preventDefault();
        list.hidden = true;
        nameField.setAttribute('aria-expanded', 'false');
      }
    });
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = input.value.replace(/,\s*$/, '');
    const problem = validate(value);
    error.hidden = !problem;
    error.textContent = problem;
    input.setAttribute('aria-invalid', problem ? 'true' : 'false');
    if (problem) { input.focus(); return; }
    try {
      await submit(value, extra ? extra.value.replace(/,\s*$/, '') : undefined);
      dialog.close();
    } catch (err) {
      error.hidden = false;
      error.textContent = err && err.message ? err.message : 'That did not work.';
    }
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener instanceof HTMLElement) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
  return dialog;
}

/** Subsequence match: "bb" finds "bob". */
export function fuzzy(text, term) {
  let i = 0;
  for (const ch of text) if (ch === term[i]) i += 1;
  return i === term.length;
}

/**
 * A general modal on <dialog>: a titled box whose content the caller builds. Esc closes it
 * (the native cancel event), focus returns to the opener, `onClose` runs once.
 * Returns {dialog, close}.
 */
export function modal({ title, content, className = '', onClose = null, focus = null, label = null }) {
  seq += 1;
  const id = `modal${seq}`;
  const opener = document.activeElement;
  const closeButton = h('button', { type: 'button', class: 'icon-button dialog-close', 'aria-label': 'Close' }, '×');
  const dialog = h('dialog', { class: ['dialog', className], 'aria-labelledby': label ? null : `${id}-title`, 'aria-label': label },
    h('div', { class: 'dialog-head' }, h('h2', { id: `${id}-title` }, title), closeButton),
    content);
  const close = () => { if (dialog.open) dialog.close(); };
  closeButton.addEventListener('click', close);
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (onClose) onClose();
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
  });
  // A click on the backdrop (the dialog element itself, outside its box) closes it.
  dialog.addEventListener('click', (event) => { if (event.target === dialog) close(); });
  document.body.append(dialog);
  dialog.showModal();
  (focus || closeButton).focus();
  return { dialog, close, closeButton };
}

/** Whether any dialog, menu, picker or popup is open (D2: chat shortcuts are inert then). */
export function popupOpen() {
  return Boolean(document.querySelector('dialog[open], .picker, .popup-menu, .suggest-list:not([hidden]), .profile-card'));
}
