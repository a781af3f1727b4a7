// Members dialog (§4), pins panel (§10), and the private-channel name bar with Rename, Add member
// and Leave (§4). Bios load lazily for visible rows, once per session (D12).

import { h, icon, ICONS } from '../render.js';
import * as api from '../api.js';
import { state, titleOf } from '../store.js';
import { paintName } from '../contrast.js';
import { plainPreview } from '../format.js';
import { modal } from './dialog.js';
import { avatar, getProfile, presenceOf, PRESENCE_LABEL } from './people.js';
import { suggestField, fuzzyMatch, highlighted } from './suggest.js';

/** A member's coloured name; `hits` are the letters the filter matched, highlighted (§4). */
function nameNode(name, hits = []) {
  const el = h('strong', { class: 'member-name' }, highlighted(name, hits), name === state.me ? ' (you)' : null);
  return paintName(el, name);
}

/** Inline confirmation for leaving, focus on Cancel (§4). */
export function leaveConfirm(channel, onLeft, onCancel) {
  const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel');
  const leave = h('button', { type: 'button', class: 'button button-danger' }, 'Leave');
  const box = h('div', { class: 'confirm', role: 'alertdialog', 'aria-label': 'Leave this channel?' },
    h('p', null, `Leave ${titleOf(channel)}? You will need an invite from a member to come back.`),
    h('div', { class: 'dialog-actions' }, cancel, leave));
  cancel.addEventListener('click', () => { box.remove(); onCancel(); });
  leave.addEventListener('click', async () => {
    try {
      await api.post(`/private_channels/${channel.slice(8)}/leave`);
      box.remove();
      onLeft();
    } catch (err) {
      box.querySelector('p').textContent = api.describeError(err, 'Leaving');
    }
  });
  queueMicrotask(() => cancel.focus());
  return box;
}

export async function openMembers({ channel, onMessage, onLeft, onCall = null, onShare = null }) {
  const isPrivate = channel.startsWith('private:');
  const filter = h('input', { type: 'search', id: 'members-filter', autocomplete: 'off', placeholder: 'Filter people' });
  const list = h('ul', { class: 'member-list', 'aria-label': 'Members' });
  const status = h('p', { class: 'hint', role: 'status' });
  let names = [];
  try {
    const others = await api.get(api.channelPath('/channel_members', channel));
    names = [state.me, ...(Array.isArray(others) ? others : [])];
  } catch (err) {
    status.textContent = api.describeError(err, 'Loading members');
  }
  const bioObserver = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      bioObserver.unobserve(entry.target);
      getProfile(entry.target.dataset.user).then((p) => { entry.target.textContent = p && p.bio ? p.bio : ''; });
    }
  });
  const render = () => {
    const term = filter.value.trim();
    const shown = names.map((name) => ({ name, m: fuzzyMatch(name, term) })).filter((x) => x.m);
    list.replaceChildren(...shown.map(({ name, m }) => {
      const bio = h('span', { class: 'member-bio', dataset: { user: name } });
      bioObserver.observe(bio);
      return h('li', { class: 'member-row' }, avatar(name, 32),
        h('span', { class: 'member-main' }, nameNode(name, m.hits), h('span', { class: 'hint' }, ` · ${PRESENCE_LABEL[presenceOf(name)] || 'offline'}`), bio),
        name === state.me ? null : h('span', { class: 'member-actions' },
          h('button', { type: 'button', class: 'button small', 'aria-label': `Message ${name}`, onclick: () => { close(); onMessage(name); } }, 'Message'),
          onCall ? h('button', { type: 'button', class: 'button small', 'aria-label': `Call ${name}`, onclick: () => { close(); onCall(name); } }, 'Call') : null,
          onShare ? h('button', { type: 'button', class: 'button small', 'aria-label': `Share screen with ${name}`, onclick: () => { close(); onShare(name); } }, 'Share') : null));
    }));
    status.textContent = shown.length ? `${shown.length} ${shown.length === 1 ? 'person' : 'people'}` : 'Nobody matches.';
  };
  filter.addEventListener('input', render);
  const extra = [];
  if (isPrivate) {
    extra.push(addMemberForm(channel, (added) => { names.push(added); render(); }));
    const leaveArea = h('div', { class: 'leave-area' });
    const leaveButton = h('button', { type: 'button', class: 'button button-danger', onclick: () => {
      leaveButton.hidden = true;
      leaveArea.append(leaveConfirm(channel, () => { close(); onLeft(); }, () => { leaveButton.hidden = false; leaveButton.focus(); }));
    } }, 'Leave channel');
    leaveArea.append(leaveButton);
    extra.push(leaveArea);
  }
  const what = isPrivate ? 'Members' : channel.startsWith('dm:') ? 'Participants' : 'Everyone';
  const content = h('div', { class: 'members-body' },
    h('div', { class: 'field' }, h('label', { for: 'members-filter' }, 'Filter'), filter), status, list, ...extra);
  const { close } = modal({ title: `${what} of ${titleOf(channel)}`, content, className: 'dialog-members', focus: filter, onClose: () => bioObserver.disconnect() });
  render();
}

export function addMemberForm(channel, onAdded) {
  const input = h('input', { type: 'text', id: 'add-member', autocomplete: 'off' });
  const error = h('p', { class: 'hint', role: 'alert' });
  const form = h('form', { class: 'add-member' },
    h('div', { class: 'field' }, h('label', { for: 'add-member' }, 'Add a member'),
      h('div', { class: 'inline-row' }, input, h('button', { type: 'submit', class: 'button button-primary' }, 'Add'))),
    error);
  suggestField(input, { names: () => state.users, single: true });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const username = input.value.replace(/,\s*$/, '').trim();
    if (!username) { error.textContent = 'Type a name to add.'; input.focus(); return; }
    try {
      await api.post(`/private_channels/${channel.slice(8)}/add_member`, { json: { username } });
      error.textContent = `${username} was added and sees the history from now on.`;
      input.value = '';
      onAdded(username);
    } catch (err) {
      error.textContent = err.status === 404 ? `No account named ${username}.` : err.status === 409 ? `${username} is already a member.` : api.describeError(err, 'Adding');
      input.focus();
    }
  });
  return form;
}

export function openPins({ channel, onJump, onUnpin }) {
  const list = h('ul', { class: 'pin-list', 'aria-label': 'Pinned messages' });
  const render = () => {
    if (!state.pins.length) {
      list.replaceChildren(h('li', { class: 'hint' }, 'Nothing is pinned here yet. Pin a message from its toolbar.'));
      return;
    }
    list.replaceChildren(...state.pins.map((pin) => h('li', { class: 'pin-row' },
      h('button', { type: 'button', class: 'pin-jump', onclick: () => { close(); onJump(pin.id); } },
        h('span', { class: 'pin-meta' }, nameNode(pin.sender), ` · pinned by ${pin.pinned_by} · ${new Date(pin.pinned_ts * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}`),
        h('span', { class: 'pin-text' }, plainPreview(pin.content || (pin.filename ? `Attachment: ${pin.filename}` : ''), 200))),
      h('button', { type: 'button', class: 'button small', 'aria-label': `Unpin ${pin.sender}'s message`, onclick: async () => { await onUnpin(pin.id); render(); } }, 'Unpin'))));
  };
  render();
  const { close } = modal({ title: `Pins in ${titleOf(channel)}`, content: h('div', { class: 'pins-body' }, list), className: 'dialog-pins' });
  return { refresh: render };
}

/** The private channel's name bar: name, Rename (inline), and a menu with Members, Mute and Leave. */
export function nameBar({ channel, onMembers, onLeft, muted, onMute }) {
  const bar = h('div', { class: 'name-bar' });
  const show = () => {
    const rename = h('button', { type: 'button', class: 'button small', onclick: startRename }, 'Rename');
    const menuButton = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Channel menu', 'aria-haspopup': 'menu', 'aria-expanded': 'false' }, '⋯');
    menuButton.addEventListener('click', () => openMenu(menuButton));
    bar.replaceChildren(icon(ICONS.members, 14), h('span', { class: 'name-bar-name' }, titleOf(channel)), rename, menuButton);
  };
  const startRename = () => {
    const input = h('input', { type: 'text', class: 'rename-input', 'aria-label': 'Channel name', maxlength: '200' });
    input.value = titleOf(channel);
    const error = h('span', { class: 'hint', role: 'alert' });
    const save = async () => {
      const name = input.value.trim();
      const length = [...name].length;
      if (!length || length > 80) { error.textContent = length ? `${length} characters; at most 80.` : 'A name is needed.'; return; }
      try {
        await api.post(`/private_channels/${channel.slice(8)}/rename`, { json: { name } });
        show();
      } catch (err) {
        error.textContent = api.describeError(err, 'Renaming');
      }
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); save(); }
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); show(); bar.querySelector('button').focus(); }
    });
    bar.replaceChildren(h('label', { class: 'visually-hidden', for: 'rename-field' }, 'Channel name'), input,
      h('button', { type: 'button', class: 'button small button-primary', onclick: save }, 'Save'),
      h('button', { type: 'button', class: 'button small', onclick: show }, 'Cancel'), error);
    input.id = 'rename-field';
    input.focus();
    input.select();
  };
  const openMenu = (button) => {
    const menu = h('div', { class: 'popup-menu', role: 'menu', 'aria-label': 'Channel menu' });
    const item = (text, fn) => h('button', { type: 'button', role: 'menuitem', class: 'menu-item', onclick: () => { closeMenu(); fn(); } }, text);
    menu.append(item('Members', onMembers), item(muted() ? 'Unmute notifications' : 'Mute notifications', onMute), item('Leave', () => {
      bar.append(leaveConfirm(channel, onLeft, () => show()));
    }));
    const closeMenu = () => { menu.remove(); button.setAttribute('aria-expanded', 'false'); document.removeEventListener('pointerdown', outside, true); };
    const outside = (e) => { if (!menu.contains(e.target)) closeMenu(); };
    menu.addEventListener('keydown', (e) => {
      const items = [...menu.querySelectorAll('[role="menuitem"]')];
      const at = items.indexOf(document.activeElement);
      if (e.key === 'ArrowDown') { e.preventDefault(); items[(at + 1) % items.length].focus(); }
      if (e.key === 'ArrowUp') { e.preventDefault(); items[(at + items.length - 1) % items.length].focus(); }
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); closeMenu(); button.focus(); }
    });
    document.addEventListener('pointerdown', outside, true);
    button.setAttribute('aria-expanded', 'true');
    button.after(menu);
    menu.querySelector('button').focus();
  };
  show();
  return { el: bar, refresh: show };
}
