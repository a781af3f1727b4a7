// Toasts (§16, D21): bottom centre, stacked; errors stay until dismissed, others fade; hover or
// focus pauses the timer.
import { h } from '../render.js';

let region = null;

function ensureRegion() {
  if (!region) {
    region = h('div', { class: 'toasts', role: 'region', 'aria-label': 'Notifications' });
    document.body.append(region);
  }
  return region;
}

export function toast(message, { kind = 'info', action = null, timeout = 5000 } = {}) {
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss' }, '×');
  const el = h('div', { class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'toast-text' }, message),
    action ? h('button', { type: 'button', class: 'toast-action', onclick: () => { action.run(); dismiss(); } }, action.label) : null,
    close);
  let timer = null;
  const dismiss = () => { clearTimeout(timer); el.remove(); };
  const arm = () => {
    if (kind !== 'error' && timeout) timer = setTimeout(dismiss, timeout);
  };
  close.addEventListener('click', dismiss);
  el.addEventListener('mouseenter', () => clearTimeout(timer));
  el.addEventListener('focusin', () => clearTimeout(timer));
  el.addEventListener('mouseleave', arm);
  ensureRegion().append(el);
  arm();
  return dismiss;
}
