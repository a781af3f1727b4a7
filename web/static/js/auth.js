// Live hints for the log-in, sign-up and reset pages. The pages work without this file; it only
// adds the Show/Hide toggle, the Caps Lock warning, the username hint and the password checklist.

import { passwordRules, usernameProblem } from './rules.js';

function addPasswordToggles() {
  for (const box of document.querySelectorAll('.password-box')) {
    const input = box.querySelector('input');
    if (!input) continue;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'password-toggle';
    button.textContent = 'Show';
    button.setAttribute('aria-pressed', 'false');
    button.setAttribute('aria-label', `Show ${labelOf(input)}`);
    button.addEventListener('click', () => {
      const show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      button.textContent = show ? 'Hide' : 'Show';
      button.setAttribute('aria-pressed', String(show));
      input.focus();
    });
    box.append(button);
  }
}

function labelOf(input) {
  const label = input.id ? document.querySelector(`label[for="${input.id}"]`) : null;
  return label ? label.textContent.trim().toLowerCase() : 'password';
}

function watchCapsLock() {
  const warning = document.getElementById('password-caps');
  if (!warning) return;
  const update = (event) => {
    if (typeof event.getModifierState !== 'function') return;
    warning.hidden = !event.getModifierState('CapsLock');
  };
  for (const input of document.querySelectorAll('input[type="password"]')) {
    input.addEventListener('keydown', update);
    input.addEventListener('keyup', update);
    input.addEventListener('blur', () => { warning.hidden = true; });
  }
}

function watchUsername(form) {
  const input = form.querySelector('#username[pattern]');
  const hint = document.getElementById('username-hint');
  if (!input || !hint) return;
  const update = () => {
    const problem = usernameProblem(input.value);
    hint.hidden = !problem;
    hint.textContent = problem || '';
    input.setAttribute('aria-invalid', problem ? 'true' : 'false');
  };
  input.addEventListener('input', update);
  if (input.value) update();
}

function watchPasswords(form) {
  const password = form.querySelector('#password');
  const confirm = form.querySelector('#confirm_password');
  const list = document.getElementById('password-rules');
  const match = document.getElementById('password-match');
  const submit = form.querySelector('[data-submit]');
  const username = form.querySelector('#username');
  if (!password || !confirm || !list) return;
  const items = new Map([...list.querySelectorAll('li[data-rule]')].map((li) => [li.dataset.rule, li]));
  // Each rule item gets a hidden state word so screen readers hear more than a colour change.
  for (const li of items.values()) {
    const state = document.createElement('span');
    state.className = 'visually-hidden';
    li.append(state);
  }
  let touched = false;

  const update = () => {
    const value = password.value;
    if (value) touched = true;
    const results = passwordRules(value);
    let allMet = true;
    for (const [rule, met] of Object.entries(results)) {
      const li = items.get(rule);
      if (!li) continue;
      const state = met ? 'met' : touched && document.activeElement !== password ? 'failed' : 'pending';
      li.dataset.state = state;
      li.lastElementChild.textContent = state === 'met' ? ' (met)' : state === 'failed' ? ' (not met)' : ' (not yet)';
      allMet &&= met;
    }
    const matches = confirm.value !== '' && confirm.value === value;
    if (match) {
      if (!confirm.value) {
        match.hidden = true;
      } else {
        match.hidden = false;
        match.textContent = matches ? '✓ Passwords match' : '✗ Passwords do not match';
        match.className = `hint ${matches ? 'hint-good' : 'hint-bad'}`;
      }
    }
    const nameOk = !username || (username.value.trim() !== '' && !usernameProblem(username.value));
    if (submit) submit.disabled = !(allMet && matches && nameOk);
  };
  for (const input of [password, confirm, username]) {
    if (!input) continue;
    input.addEventListener('input', update);
    input.addEventListener('blur', update);
  }
  update();
}

addPasswordToggles();
watchCapsLock();
for (const form of document.querySelectorAll('form[data-password-rules]')) {
  watchUsername(form);
  watchPasswords(form);
}
