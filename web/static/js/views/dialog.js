// A small form dialog on the native <dialog> (focus is kept inside and Esc closes it), with
// suggestions for comma-separated names (suggest.js).
import { h } from '../render.js';
import { suggestField } from './suggest.js';

let seq = 0;

export function openDialog({ title, label, extraLabel, suggestions, submitLabel, validate, submit, maxLength }) {
  seq += 1;
  const id = `dlg${seq}`;
  const opener = document.activeElement;
  const input = h('input', { id: `${id}-input`, type: 'text', autocomplete: 'off', 'aria-describedby': `${id}-error` });
  const extra = extraLabel ? h('input', { id: `${id}-extra`, type: 'text', autocomplete: 'off' }) : null;
  const error = h('p', { id: `${id}-error`, class: 'hint hint-bad', role: 'alert', hidden: true });
  const nameField = extra || (suggestions && !maxLength ? input : null);
  const form = h('form', { method: 'dialog', class: 'dialog-form' },
    h('h2', { id: `${id}-title` }, title),
    h('div', { class: 'field' }, h('label', { for: input.id }, label), input),
    extra ? h('div', { class: 'field' }, h('label', { for: extra.id }, extraLabel), extra) : null,
    error,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'button', onclick: () => dialog.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'button button-primary' }, submitLabel)));
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': `${id}-title` }, form);

  // The shared suggestion engine: fuzzy-ranked names with the typed letters highlighted (§4).
  if (nameField && suggestions) suggestField(nameField, { names: suggestions });

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

/** Whether any dialog, menu, picker, popup or the search panel is open (D2: chat shortcuts are inert then). */
export function popupOpen() {
  return Boolean(document.querySelector('dialog[open], .picker, .popup-menu, .suggest-list:not([hidden]), .profile-card, .search-panel'));
}
