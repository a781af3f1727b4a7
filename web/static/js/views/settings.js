// The Settings dialog (§13, D11): sections with their own Save and Cancel, live previews that
// Cancel and Esc revert, instant toggles, and a Log out button. Focus opens on Close.

import { h } from '../render.js';
import * as api from '../api.js';
import { state, clearDrafts } from '../store.js';
import { paintName } from '../contrast.js';
import { passwordRules } from '../rules.js';
import { modal } from './dialog.js';
import { avatar } from './people.js';
import { toast } from './toast.js';
import { prefs, savePrefs, enableDesktop, setMuted } from '../notify.js';

const SWATCHES = [
  '#e5534b', '#f47067', '#ff938a', '#e0823d', '#f69d50', '#ffb77c', '#c69026', '#daaa3f', '#eac55f',
  '#57ab5a', '#6bc46d', '#8ddb8c', '#39c5cf', '#56d4dd', '#96d0ff', '#4184e4', '#6cb6ff', '#a5d6ff',
  '#986ee2', '#b083f0', '#dcbdfb', '#c96198', '#e275ad', '#f69cc9',
];

let uid = 0;
const fieldId = (name) => `set-${name}-${(uid += 1)}`;

function section(id, title, ...children) {
  return h('section', { class: 'settings-section', id: `settings-${id}`, 'aria-labelledby': `settings-${id}-h` },
    h('h3', { id: `settings-${id}-h` }, title), ...children);
}

function check(label, checked, onChange, hint = null) {
  const id = fieldId('chk');
  const input = h('input', { type: 'checkbox', id, checked });
  input.addEventListener('change', () => onChange(input.checked, input));
  return h('div', { class: 'check-row' }, input, h('label', { for: id }, label), hint);
}

function radios(name, options, value, onChange) {
  return h('div', { class: 'radio-row', role: 'radiogroup' }, options.map(([v, text]) => {
    const id = fieldId(name);
    const input = h('input', { type: 'radio', name: `${name}-${uid}`, id, value: v, checked: v === value });
    input.addEventListener('change', () => { if (input.checked) onChange(v); });
    return h('span', { class: 'radio' }, input, h('label', { for: id }, text));
  }));
}

/** Applies font size and theme to the document (also at start-up). */
export function applyAppearance(p = prefs) {
  document.documentElement.style.setProperty('--message-font-size', `${p.fontSize}px`);
  document.documentElement.dataset.theme = p.theme === 'system' ? '' : p.theme;
}

export function openSettings({ at = null, onChange = () => {} } = {}) {
  // ---------- profile ----------
  const status = h('p', { class: 'hint', role: 'status' });
  let profile = { bio: '', name_color: null };
  let pendingAvatar = null;   // Blob
  let removeAvatar = false;
  const preview = h('div', { class: 'avatar-preview' }, avatar(state.me, 96, false));
  const bio = h('textarea', { id: fieldId('bio'), rows: '3', maxlength: '160' });
  const bioCount = h('span', { class: 'hint', 'aria-live': 'polite' }, '0 / 160');
  const colorInput = h('input', { type: 'color', id: fieldId('color'), 'aria-label': 'Custom name colour' });
  const namePreview = h('strong', { class: 'name-preview' }, state.me);
  const setColor = (c) => {
    profile.name_color = c;
    paintName(namePreview, state.me, c);
    if (c) colorInput.value = c;
    for (const b of swatches.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.color === c));
  };
  const swatches = h('div', { class: 'swatches', role: 'group', 'aria-label': 'Preset colours' }, SWATCHES.map((c) => {
    const b = h('button', { type: 'button', class: 'swatch', 'aria-label': `Colour ${c}`, 'aria-pressed': 'false', dataset: { color: c }, onclick: () => setColor(c) });
    b.style.setProperty('--swatch', c);
    return b;
  }));
  colorInput.addEventListener('input', () => setColor(colorInput.value));
  bio.addEventListener('input', () => { bioCount.textContent = `${[...bio.value].length} / 160`; });
  const file = h('input', { type: 'file', accept: 'image/*', hidden: true });
  file.addEventListener('change', async () => {
    const chosen = file.files && file.files[0];
    file.value = '';
    if (!chosen) return;
    const limit = (api.config.max_avatar_mb || 5) * 1048576;
    if (chosen.size > limit) { status.textContent = `${chosen.name} is larger than the ${api.config.max_avatar_mb || 5} MB avatar limit.`; return; }
    const { cropImage } = await import('./crop.js');
    const blob = await cropImage(chosen);
    if (!blob) return;
    pendingAvatar = blob;
    removeAvatar = false;
    const url = URL.createObjectURL(blob);
    preview.replaceChildren(h('img', { class: 'avatar-img-preview', src: url, alt: 'New avatar preview', width: '96', height: '96' }));
  });
  const loadProfile = () => api.get('/settings').then((data) => {
    profile = { bio: (data && data.bio) || '', name_color: (data && data.name_color) || null };
    bio.value = profile.bio;
    bioCount.textContent = `${[...bio.value].length} / 160`;
    setColor(profile.name_color);
  }).catch(() => {});
  const saveProfile = async () => {
    try {
      await api.post('/settings', { json: { bio: bio.value, name_color: profile.name_color } });
      if (pendingAvatar) {
        const form = new FormData();
        form.append('avatar', pendingAvatar, 'avatar.jpg');
        await api.post('/avatar', { form });
      } else if (removeAvatar) {
        await api.request('DELETE', '/avatar');
      }
      pendingAvatar = null;
      removeAvatar = false;
      status.textContent = 'Profile saved.';
      onChange('profile');
    } catch (err) {
      status.textContent = api.describeError(err, 'Saving the profile');
    }
  };
  const profileSection = section('profile', 'Profile',
    h('div', { class: 'avatar-row' }, preview,
      h('div', { class: 'button-row' },
        h('button', { type: 'button', class: 'button', onclick: () => file.click() }, 'Upload avatar'),
        h('button', { type: 'button', class: 'button', onclick: () => { removeAvatar = true; pendingAvatar = null; preview.replaceChildren(avatar(state.me, 96, false)); } }, 'Remove avatar'),
        file)),
    h('div', { class: 'field' }, h('label', { for: bio.id }, 'Bio'), bio, bioCount),
    h('div', { class: 'field' }, h('span', { class: 'field-label' }, 'Name colour'), h('p', null, 'Preview: ', namePreview), swatches,
      h('div', { class: 'button-row' }, h('label', { for: colorInput.id }, 'Custom colour'), colorInput,
        h('button', { type: 'button', class: 'button', onclick: () => setColor(null) }, 'Reset to default'))),
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'button', onclick: () => { pendingAvatar = null; removeAvatar = false; preview.replaceChildren(avatar(state.me, 96, false)); loadProfile(); status.textContent = 'Changes dropped.'; } }, 'Cancel'),
      h('button', { type: 'button', class: 'button button-primary', onclick: saveProfile }, 'Save profile')),
    status);

  // ---------- status ----------
  const overrideStatus = h('p', { class: 'hint', role: 'status' });
  const statusRadios = h('div');
  api.get('/presence/override').then((data) => {
    const current = (data && data.override) || 'auto';
    statusRadios.replaceChildren(radios('status', [['auto', 'Automatic'], ['active', 'Online'], ['idle', 'Away'], ['offline', 'Offline']], current, async (v) => {
      try {
        await api.post('/presence/override', { json: { override: v } });
        overrideStatus.textContent = v === 'auto' ? 'Status follows your activity.' : 'Status set until you change it.';
      } catch (err) {
        overrideStatus.textContent = api.describeError(err, 'Setting the status');
      }
    }));
  }).catch(() => { statusRadios.replaceChildren(h('p', { class: 'hint' }, 'Status is unavailable right now.')); });

  // ---------- appearance (live preview, reverted by Cancel or Esc) ----------
  const saved = { fontSize: prefs.fontSize, theme: prefs.theme };
  const draft = { ...saved };
  const fontId = fieldId('font');
  const font = h('input', { type: 'range', id: fontId, min: '11', max: '22', step: '1', value: String(prefs.fontSize) });
  const fontValue = h('output', { for: fontId }, `${prefs.fontSize} px`);
  font.addEventListener('input', () => { draft.fontSize = Number(font.value); fontValue.textContent = `${font.value} px`; applyAppearance(draft); });
  const appearanceSection = section('appearance', 'Appearance',
    h('div', { class: 'field' }, h('label', { for: fontId }, 'Message font size'), font, fontValue),
    h('div', { class: 'field' }, h('span', { class: 'field-label' }, 'Theme'),
      radios('theme', [['system', 'Follow the system'], ['dark', 'Dark'], ['light', 'Light']], prefs.theme, (v) => { draft.theme = v; applyAppearance(draft); })),
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'button', onclick: () => { Object.assign(draft, saved); font.value = String(saved.fontSize); fontValue.textContent = `${saved.fontSize} px`; applyAppearance(saved); } }, 'Cancel'),
      h('button', { type: 'button', class: 'button button-primary', onclick: () => { savePrefs(draft); Object.assign(saved, draft); onChange('appearance'); } }, 'Save appearance')));

  // ---------- notifications ----------
  const desktopHint = h('span', { class: 'hint' });
  const mutedList = h('ul', { class: 'muted-list' });
  const renderMuted = () => {
    mutedList.replaceChildren(...(prefs.muted.length ? prefs.muted.map((c) => h('li', null, c,
      h('button', { type: 'button', class: 'link-button', onclick: () => { setMuted(c, false); renderMuted(); onChange('muted'); } }, `Unmute ${c}`)))
      : [h('li', { class: 'hint' }, 'No muted conversations. Mute one from its menu in the topbar.')]));
  };
  renderMuted();
  const notificationsSection = section('notifications', 'Notifications',
    check('Play sounds', prefs.sound, (v) => savePrefs({ sound: v })),
    check('Desktop notifications', prefs.desktop, async (v, input) => {
      if (!v) { savePrefs({ desktop: false }); return; }
      const result = await enableDesktop();
      input.checked = result === 'granted';
      if (result === 'denied') { input.disabled = true; desktopHint.textContent = 'Blocked by the browser: allow notifications for this site in its settings.'; }
      else if (result === 'unsupported') desktopHint.textContent = 'This browser has no desktop notifications.';
      else if (result !== 'granted') desktopHint.textContent = 'Not allowed; nothing changed.';
    }, desktopHint),
    check('Alert while MiniMost is focused', prefs.alertFocused, (v) => savePrefs({ alertFocused: v })),
    h('h4', null, 'Muted conversations'), mutedList);

  // ---------- password ----------
  const pw = {
    current: h('input', { type: 'password', id: fieldId('cur'), autocomplete: 'current-password' }),
    next: h('input', { type: 'password', id: fieldId('new'), autocomplete: 'new-password' }),
    confirm: h('input', { type: 'password', id: fieldId('conf'), autocomplete: 'new-password' }),
  };
  const rulesList = h('ul', { class: 'checklist', 'aria-live': 'polite' });
  const pwStatus = h('p', { class: 'hint', role: 'alert' });
  const pwSubmit = h('button', { type: 'submit', class: 'button button-primary', disabled: true }, 'Change password');
  const RULES = [['length', '15 or more characters'], ['upper', 'An upper-case letter'], ['lower', 'A lower-case letter'], ['digit', 'A digit'], ['special', 'A special character']];
  const updateRules = () => {
    const met = passwordRules(pw.next.value);
    const match = pw.next.value !== '' && pw.next.value === pw.confirm.value;
    rulesList.replaceChildren(...RULES.map(([k, text]) => h('li', { class: met[k] ? 'is-met' : 'is-unmet' }, `${met[k] ? '✓' : '○'} ${text}${met[k] ? '' : ' (not yet)'}`)),
      h('li', { class: match ? 'is-met' : 'is-unmet' }, `${match ? '✓' : '○'} Passwords match`));
    pwSubmit.disabled = !(Object.values(met).every(Boolean) && match && pw.current.value);
  };
  for (const input of Object.values(pw)) input.addEventListener('input', updateRules);
  updateRules();
  const pwForm = h('form', { class: 'settings-form' },
    h('div', { class: 'field' }, h('label', { for: pw.current.id }, 'Current password'), pw.current),
    h('div', { class: 'field' }, h('label', { for: pw.next.id }, 'New password'), pw.next),
    h('div', { class: 'field' }, h('label', { for: pw.confirm.id }, 'Confirm new password'), pw.confirm),
    rulesList, pwStatus, h('div', { class: 'dialog-actions' }, pwSubmit));
  pwForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api.post('/change-password', { form: { current_password: pw.current.value, new_password: pw.next.value, confirm_password: pw.confirm.value } });
      for (const input of Object.values(pw)) input.value = '';
      updateRules();
      pwStatus.textContent = 'Password changed. Your other devices were signed out.';
    } catch (err) {
      pwStatus.textContent = api.describeError(err, 'Changing the password');
    }
  });

  // ---------- delete account ----------
  let kind = 'soft';
  const delPassword = h('input', { type: 'password', id: fieldId('del'), autocomplete: 'current-password' });
  const delStatus = h('p', { class: 'hint', role: 'alert' });
  const delButton = h('button', { type: 'submit', class: 'button button-danger' }, 'Delete account, keep messages');
  const delForm = h('form', { class: 'settings-form' },
    h('p', null, 'Soft: your messages stay, shown as “Deleted User”. Hard: everything you wrote and uploaded is removed. Either way the account, its settings and avatar are gone and you are signed out everywhere.'),
    radios('delkind', [['soft', 'Soft: keep my messages'], ['hard', 'Hard: remove my messages']], 'soft', (v) => {
      kind = v;
      delButton.textContent = v === 'soft' ? 'Delete account, keep messages' : 'Delete account and all messages';
    }),
    h('div', { class: 'field' }, h('label', { for: delPassword.id }, 'Confirm with your password'), delPassword),
    delStatus, h('div', { class: 'dialog-actions' }, delButton));
  delForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!delPassword.value) { delStatus.textContent = 'Enter your password to confirm.'; delPassword.focus(); return; }
    try {
      await api.post('/delete_account', { json: { type: kind, password: delPassword.value } });
      clearDrafts();
      window.location.assign('/login');
    } catch (err) {
      delStatus.textContent = api.describeError(err, 'Deleting the account');
    }
  });

  const nav = h('nav', { class: 'settings-nav', 'aria-label': 'Settings sections' },
    [['profile', 'Profile'], ['status', 'Status'], ['messages', 'Messages'], ['appearance', 'Appearance'], ['notifications', 'Notifications'], ['password', 'Password'], ['delete', 'Delete account']]
      .map(([id, text]) => h('a', { href: `#settings-${id}`, onclick: (e) => { e.preventDefault(); document.getElementById(`settings-${id}`).scrollIntoView(); } }, text)));
  const content = h('div', { class: 'settings-body' }, nav, h('div', { class: 'settings-sections' },
    profileSection,
    section('status', 'Status', statusRadios, overrideStatus),
    section('messages', 'Messages', radios('enter', [['send', 'Enter sends'], ['newline', 'Enter adds a line (Ctrl+Enter sends)']], prefs.enterNewline ? 'newline' : 'send', (v) => { savePrefs({ enterNewline: v === 'newline' }); onChange('messages'); })),
    appearanceSection,
    notificationsSection,
    section('password', 'Password', pwForm),
    section('delete', 'Delete account', delForm),
    h('div', { class: 'settings-logout' }, h('button', { type: 'button', class: 'button', onclick: () => { clearDrafts(); api.logout(); } }, 'Log out'))));
  const { dialog } = modal({ title: 'Settings', content, className: 'dialog-settings', onClose: () => applyAppearance(prefs) });
  loadProfile();
  if (at) {
    const target = dialog.querySelector(`#settings-${at}`);
    if (target) target.scrollIntoView();
  }
  return dialog;
}
