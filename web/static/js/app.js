// MiniMost app entry: builds the shell, loads the start-up data, wires the event stream to the
// store and the views, and owns the actions (send, edit, delete, react, pin, switch, keys).

import { h, icon, ICONS, clear } from './render.js';
import * as api from './api.js';
import * as events from './events.js';
import {
  state, emit, on, conversation, mergeRows, totalUnread, titleOf, lastChannel, rememberLast,
  dmChannel, clearDrafts, dmOthers, unreadFor,
} from './store.js';
import { plainPreview } from './format.js';
import { mountSidebar } from './views/sidebar.js';
import {
  mountMessages, showConversation, refresh, rowElementById, revealRow, select, selection,
  scrollToBottom, currentPlace, mentionsMe, domInfo, showUploadProgress,
} from './views/messages.js';
import { mountComposer, setChannel, focusComposer, setReply, restore, composerHint, relabel } from './views/composer.js';
import { toast } from './views/toast.js';
import { openDialog, popupOpen } from './views/dialog.js';
import { renderMentions } from './views/mentions.js';
import { avatar } from './views/people.js';
import { setGrowHandler } from './views/preview.js';
import { loadPrefs, prefs, savePrefs, chime, desktop, showTotal, isMuted, setMuted } from './notify.js';
import { normalAction, visualAction } from './keys.js';
import { initCalls } from './calls/index.js';

const ui = {};
let pendingSeq = 0;
let editingId = null;
let visual = false;
const lastReadAt = new Map();
const quoteCache = new Map();
const pendingDeletes = new Map();
const membersCache = new Map();
const uploads = new Map();   // pending row id → AbortController of its upload
const places = new Map();
let startupQuiet = true;
let calls = null;

// ---------- shell ----------

function topButton(label, glyph, onclick, extra = {}) {
  return h('button', { type: 'button', class: 'icon-button', 'aria-label': label, title: label, onclick, ...extra }, icon(glyph));
}

function buildShell() {
  const root = document.getElementById('app');
  calls = initCalls({ openDm: (name) => startDm([name]) });
  ui.sidebar = h('nav', { class: 'sidebar', 'aria-label': 'Channels', id: 'sidebar' });
  ui.backdrop = h('div', { class: 'backdrop', hidden: true, onclick: () => toggleDrawer(false) });
  ui.menu = h('button', { type: 'button', class: 'icon-button menu-button', 'aria-label': 'Menu', 'aria-controls': 'sidebar', 'aria-expanded': 'false', onclick: () => toggleDrawer() }, icon(ICONS.menu));
  ui.title = h('h1', { class: 'topbar-title' });
  ui.visualTag = h('span', { class: 'visual-tag', hidden: true }, 'VISUAL');
  ui.membersCount = h('span', { class: 'count' });
  ui.members = h('button', { type: 'button', class: 'icon-button count-button', 'aria-label': 'Members', title: 'Members', onclick: openMembersPanel }, icon(ICONS.members), ui.membersCount);
  ui.pinsCount = h('span', { class: 'count' });
  ui.pins = h('button', { type: 'button', class: 'icon-button count-button', 'aria-label': 'Pins', title: 'Pinned messages', hidden: true, onclick: openPinsPanel }, icon(ICONS.pin), ui.pinsCount);
  ui.search = h('button', { type: 'button', class: 'search-button', 'aria-label': 'Search', 'aria-expanded': 'false', onclick: () => openSearch() }, icon(ICONS.search, 16), h('span', { 'aria-hidden': 'true' }, 'Search'));
  ui.me = h('button', { type: 'button', class: 'me-button', 'aria-label': 'Your profile and status', title: 'Your profile', onclick: () => openSettings('profile') });
  ui.help = topButton('Help', ICONS.help, () => openHelp());
  ui.settings = topButton('Settings', ICONS.settings, () => openSettings());
  const topbar = h('header', { class: 'topbar' }, ui.menu, h('div', { class: 'topbar-left' }, ui.title, ui.visualTag, ui.members, ui.pins),
    h('div', { class: 'topbar-center' }, ui.search, ...calls.topbarButtons),
    h('div', { class: 'topbar-actions' }, ui.me, ui.help, ui.settings));
  ui.nameBar = h('div', { class: 'name-bar-wrap' });
  ui.searchSlot = h('div', { class: 'search-slot' });
  ui.connection = h('div', { class: 'connection-bar', role: 'status', hidden: true }, h('span', { class: 'pulse', 'aria-hidden': 'true' }), h('span', null, 'Reconnecting…'));
  ui.list = h('div', { class: 'message-list', role: 'log', 'aria-label': 'Messages', tabindex: '0' });
  ui.mentions = h('div', { class: 'mentions-view', hidden: true });
  ui.pill = h('button', { type: 'button', class: 'jump-pill', hidden: true }, 'Jump to latest');
  ui.typing = h('div', { class: 'typing-line', role: 'status', 'aria-live': 'polite' });
  ui.announce = h('div', { class: 'visually-hidden', 'aria-live': 'polite' });
  ui.composer = h('div', { class: 'composer-wrap' });
  ui.main = h('main', { class: 'main' }, topbar, ui.searchSlot, ui.nameBar, calls.slot, ui.connection,
    h('div', { class: 'list-wrap' }, ui.list, ui.mentions, ui.pill), ui.typing, ui.composer, ui.announce);
  clear(root).append(ui.backdrop, ui.sidebar, ui.main);
}

function renderMe() {
  ui.me.replaceChildren(avatar(state.me, 28));
}

function toggleDrawer(force) {
  const open = force ?? !document.body.classList.contains('drawer-open');
  document.body.classList.toggle('drawer-open', open);
  ui.backdrop.hidden = !open;
  ui.menu.setAttribute('aria-expanded', String(open));
  if (open) {
    const current = ui.sidebar.querySelector('[aria-current]') || ui.sidebar.querySelector('button');
    if (current) current.focus();
  }
}

function updateTitle() {
  showTotal(totalUnread());
}

function isUser(name) {
  const lower = name.toLowerCase();
  if (lower === state.me.toLowerCase()) return state.me;
  return state.users.find((u) => u.toLowerCase() === lower) || null;
}

function updateTopbar() {
  const id = state.current;
  const conversationView = id && id !== 'mentions';
  ui.title.textContent = id ? titleOf(id) : '';
  ui.members.hidden = !conversationView;
  ui.pins.hidden = !conversationView || !state.pins.length;
  ui.pinsCount.textContent = state.pins.length ? String(state.pins.length) : '';
  ui.pins.setAttribute('aria-label', `Pins, ${state.pins.length}`);
  const count = conversationView ? memberCount(id) : null;
  ui.membersCount.textContent = count === null ? '' : String(count);
  ui.members.setAttribute('aria-label', count === null ? 'Members' : `Members, ${count}`);
  renderNameBar();
}

function memberCount(id) {
  if (id.startsWith('dm:')) return dmOthers(id).length + 1;
  if (id.startsWith('private:')) {
    const pc = state.privateChannels.find((p) => p.channel === id);
    return pc ? pc.members.length : null;
  }
  return state.users.length + 1;
}

let nameBarFor = null;
async function renderNameBar() {
  const id = state.current;
  if (!id || !id.startsWith('private:')) { ui.nameBar.replaceChildren(); nameBarFor = null; return; }
  if (nameBarFor === `${id}:${titleOf(id)}`) return;
  nameBarFor = `${id}:${titleOf(id)}`;
  const { nameBar } = await import('./views/panels.js');
  const bar = nameBar({
    channel: id,
    onMembers: openMembersPanel,
    onLeft: afterLeave,
    muted: () => isMuted(id),
    onMute: () => { setMuted(id, !isMuted(id)); toast(isMuted(id) ? `${titleOf(id)} is muted.` : `${titleOf(id)} is unmuted.`); },
  });
  ui.nameBar.replaceChildren(bar.el);
}

function afterLeave() {
  state.privateChannels = state.privateChannels.filter((p) => p.channel !== state.current);
  emit('private');
  openChannel(state.channels[0] || 'mentions');
}

// ---------- switching ----------

async function openChannel(id, { focus = false, place = null } = {}) {
  toggleDrawer(false);
  leaveVisual();
  if (state.current === id) {
    if (focus) focusComposer();
    return;
  }
  if (state.current && state.current !== 'mentions') places.set(state.current, currentPlace());
  state.current = id;
  state.pins = [];
  rememberLast(id);
  emit('current');
  setChannel(id);
  editingId = null;
  const mentionsView = id === 'mentions';
  ui.mentions.hidden = !mentionsView;
  ui.list.hidden = mentionsView;
  ui.pill.hidden = true;
  ui.typing.replaceChildren();
  updateTopbar();
  if (mentionsView) {
    renderMentions(ui.mentions, { open: (ch, msgId) => jumpTo(msgId, ch), isUser });
    events.connect('');
    return;
  }
  const conv = conversation(id);
  if (!lastReadAt.has(id)) {
    api.get(api.channelPath('/last_read', id))
      .then((data) => { lastReadAt.set(id, data ? data.last_read_ts : null); })
      .catch(() => lastReadAt.set(id, null));
  }
  if (conv.loaded) {
    showConversation(id, undefined, place || places.get(id));
    markRead(id);
  } else {
    // Point the list at the new conversation at once, so live events for the old one cannot
    // paint into it while the snapshot is on its way.
    showConversation(id, undefined);
  }
  // Unloaded conversations get their newest 100 rows from the stream's opening snapshot; loaded
  // ones resume from their cursor (D12).
  events.connect(id);
  if (focus) focusComposer();
}

async function waitForLastRead(id) {
  for (let i = 0; i < 20 && !lastReadAt.has(id); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return lastReadAt.get(id);
}

// ---------- stream handlers ----------

let markTimer = null;
let markPending = false;
function looking() {
  return document.visibilityState === 'visible' && document.hasFocus();
}

/** New messages are marked read only while the page is visible and focused (§12). */
function markRead(id, force = false) {
  clearTimeout(markTimer);
  markPending = true;
  markTimer = setTimeout(() => {
    if (state.current === id && (force || looking())) {
      markPending = false;
      api.post(api.channelPath('/mark_read', id)).catch(() => {});
    }
  }, 300);
}

async function onMessages(rows, _event, streamChannel) {
  if (!streamChannel || streamChannel !== state.current) return;
  const conv = conversation(streamChannel);
  const first = !conv.loaded;
  // A real row from me replaces its optimistic stand-in.
  for (const row of rows) {
    if (row.sender !== state.me || row.deleted) continue;
    const same = (a, b) => (a || '').replace(/\r\n/g, '\n') === (b || '').replace(/\r\n/g, '\n');
    const pending = conv.rows.find((r) => r.pending && !r.failed && (row.filename ? r.outgoing.files.length > 0 : same(r.content, row.content)));
    if (pending) mergeRows(streamChannel, [{ ...pending, deleted: 1 }]);
  }
  const result = mergeRows(streamChannel, rows);
  applyPinFlags(streamChannel);
  if (first) {
    conv.loaded = true;
    conv.reachedStart = rows.length < 100;
    const lastRead = await waitForLastRead(streamChannel);
    if (state.current !== streamChannel) return;
    showConversation(streamChannel, lastRead ?? 0, places.get(streamChannel));
    markRead(streamChannel, true);
    return;
  }
  const added = result.added.map((id) => conv.byId.get(id)).filter(Boolean);
  const fromOthers = added.filter((r) => r.sender !== state.me);
  refresh({ added: result.added, mine: added.some((r) => r.sender === state.me) });
  if (fromOthers.length) {
    const last = fromOthers[fromOthers.length - 1];
    ui.announce.textContent = `${last.sender === 'system' ? 'MiniMost' : last.sender}: ${plainPreview(last.content || last.filename || '', 140)}`;
    markRead(streamChannel);
    alertFor(streamChannel, fromOthers);
  }
}

/** Sound and desktop alerts for new rows in the open conversation (§14). */
function alertFor(channel, rows) {
  if (startupQuiet) return;
  const real = rows.filter((r) => r.content_type !== 'system');
  if (!real.length || isMuted(channel)) return;
  const mention = real.some(mentionsMe);
  if (!looking() || prefs.alertFocused || mention) {
    chime();
    const last = real[real.length - 1];
    if (!looking() || mention) {
      desktop(`${last.sender} in ${titleOf(channel)}`, plainPreview(last.content || last.filename || 'attachment', 140),
        () => jumpTo(last.id, channel), `msg-${last.id}`);
    }
  }
}

function applyPinFlags(id) {
  const conv = conversation(id);
  const byId = new Map(state.pins.map((p) => [p.id, p.pinned_by]));
  for (const row of conv.rows) row.pinnedBy = byId.get(row.id) || null;
}

function onTyping(names, _e, streamChannel) {
  if (streamChannel !== state.current) return;
  const conv = conversation(streamChannel);
  if (!conv.loaded) {
    // The snapshot sends `messages` only when the conversation has rows, and `typing` always
    // after it (api.md 7.2): reaching `typing` unloaded means the conversation is empty.
    conv.loaded = true;
    conv.reachedStart = true;
    showConversation(streamChannel, 0);
  }
  const others = names.filter((n) => n !== state.me);
  const text = others.length === 0 ? ''
    : others.length === 1 ? `${others[0]} is typing`
      : others.length === 2 ? `${others[0]} and ${others[1]} are typing` : 'Several people are typing';
  if (!text) { ui.typing.replaceChildren(); return; }
  ui.typing.replaceChildren(...others.slice(0, 3).map((n) => avatar(n, 16, false)), h('span', null, text),
    h('span', { class: 'typing-dots', 'aria-hidden': 'true' }, h('span'), h('span'), h('span')));
}

function onSessionRevoked(data) {
  events.stop();
  api.refreshSession().then((user) => {
    if (user) {
      window.location.reload();
    } else {
      const reason = data && data.reason ? `?reason=${encodeURIComponent(data.reason)}` : '';
      window.location.assign(`/login${reason}`);
    }
  });
}

function connectionStatus(connected, reason) {
  state.connected = connected;
  ui.connection.hidden = connected;
  if (!connected) {
    ui.connection.lastChild.textContent = reason === 'offline' ? 'Offline. Reconnecting when the network is back…' : 'Reconnecting…';
  } else {
    // Colours, avatars and people are not pushed: refresh them after each reconnect (§0).
    loadPeople();
    calls.onReconnect();
  }
}

// ---------- actions ----------

async function send({ channel, text, files, replyTo }) {
  const row = {
    id: -(++pendingSeq), channel, sender: state.me, content: files.length && !text ? '' : text,
    content_type: 'text', filename: null, ts: Date.now() / 1000, edited: 0, deleted: 0,
    reply_to_id: replyTo ? replyTo.id : null, reactions: null, mentions: null, pending: true,
    outgoing: { channel, text, files, replyTo },
  };
  if (files.length && !text) row.content = `Uploading ${files.length} file${files.length === 1 ? '' : 's'}…`;
  // Uploads show their progress and can be cancelled (D27).
  const controller = files.length ? new AbortController() : null;
  if (controller) {
    row.upload = { names: files.map((f) => f.name), progress: 0 };
    uploads.set(row.id, controller);
  }
  mergeRows(channel, [row]);
  if (channel === state.current) refresh({ added: [row.id], mine: true });
  // Without files the text goes url-encoded, which keeps its line breaks exactly (multipart
  // bodies turn every \n into \r\n).
  let form;
  if (files.length) {
    form = new FormData();
    form.append('text', text);
    if (replyTo) form.append('reply_to_id', String(replyTo.id));
    for (const file of files) form.append('files', file, file.name);
  } else {
    form = { text };
    if (replyTo) form.reply_to_id = String(replyTo.id);
  }
  try {
    if (controller) {
      await api.upload(api.channelPath('/send', channel), form, {
        signal: controller.signal,
        onProgress: (fraction) => { row.upload.progress = fraction; showUploadProgress(row.id, fraction); },
      });
    } else {
      await api.post(api.channelPath('/send', channel), { form });
    }
    if (files.length) {
      // Attachment rows arrive with their own ids; the stand-in has served its purpose.
      setTimeout(() => dropRow(channel, row.id), 0);
    }
    if (channel.startsWith('dm:')) state.openedDms.delete(channel);
  } catch (err) {
    if (err && err.name === 'AbortError') {
      // Cancelled: nothing was sent; the text and files go back to the composer, still staged.
      dropRow(channel, row.id);
      restore(text, { files, replyTo, channel });
      toast(`Upload cancelled. ${files.length === 1 ? 'The file is' : 'The files are'} back in the composer.`);
      return;
    }
    const live = conversation(channel).byId.get(row.id);
    if (live) {
      live.failed = err.status === 429 ? api.describeError(err, 'Sending') : api.describeError(err, 'Sending');
      if (channel === state.current) refresh();
    }
  } finally {
    uploads.delete(row.id);
  }
}

function cancelUpload(row) {
  const controller = uploads.get(row.id);
  if (controller) controller.abort();
}

function dropRow(channel, id) {
  const conv = conversation(channel);
  const row = conv.byId.get(id);
  if (!row) return;
  mergeRows(channel, [{ ...row, deleted: 1 }]);
  if (channel === state.current) refresh();
}

function retry(row) {
  dropRow(row.channel, row.id);
  send(row.outgoing);
}

function discard(row) {
  dropRow(row.channel, row.id);
  const { text, files, replyTo, channel } = row.outgoing;
  restore(text, { files, replyTo, channel });
}

function startEdit(row) {
  editingId = row.id;
  refresh();
  const el = rowElementById(row.id);
  const area = el && el.querySelector('textarea');
  if (area) {
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
    el.scrollIntoView({ block: 'nearest' });
  }
}

function editor(row) {
  const area = h('textarea', { class: 'edit-input', 'aria-label': 'Edit message', rows: '3' });
  area.value = row.content || '';
  const error = h('div', { class: 'composer-error', role: 'alert', hidden: true });
  const counter = h('span', { class: 'counter', hidden: true });
  const max = api.config.max_message_chars || 10000;
  const cancel = () => { editingId = null; refresh(); focusComposer(); };
  const save = async () => {
    const text = area.value.trim();
    if (!text) { error.hidden = false; error.textContent = 'A message cannot be empty.'; return; }
    try {
      await api.post(`/edit/${row.id}`, { form: { text } });
      editingId = null;
      refresh();
      focusComposer();
    } catch (err) {
      error.hidden = false;
      error.textContent = api.describeError(err, 'Editing');
    }
  };
  area.addEventListener('input', () => {
    const n = [...area.value].length;
    counter.hidden = n < max * 0.9;
    counter.textContent = `${n} / ${max}`;
    counter.classList.toggle('over', n > max);
  });
  area.addEventListener('keydown', async (event) => {
    if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); cancel(); }
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); save(); }
    const mod = event.ctrlKey || event.metaKey;
    const markers = { b: '**', i: '*', u: '__', s: '~~' };
    if (mod && markers[event.key.toLowerCase()]) {
      event.preventDefault();
      const { wrap } = await import('./views/composer.js');
      wrap(area, markers[event.key.toLowerCase()]);
    }
  });
  return h('div', { class: 'editor' }, area,
    h('div', { class: 'editor-actions' }, counter,
      h('button', { type: 'button', class: 'button', onclick: cancel }, 'Cancel'),
      h('button', { type: 'button', class: 'button button-primary', onclick: save }, 'Save')),
    error);
}

function editLast() {
  const conv = conversation(state.current);
  for (let i = conv.rows.length - 1; i >= 0; i -= 1) {
    const row = conv.rows[i];
    if (row.sender === state.me && !row.filename && !row.pending && row.content_type !== 'system') {
      startEdit(row);
      return true;
    }
  }
  return false;
}

/** Delete with a safety net (D1): hidden at once, sent after 5 s unless undone. */
function remove(row) {
  row.hidden = true;
  refresh();
  const commit = () => {
    pendingDeletes.delete(row.id);
    api.request('POST', `/delete/${row.id}`, { keepalive: true }).catch((err) => {
      row.hidden = false;
      refresh();
      toast(api.describeError(err, 'Deleting'), { kind: 'error' });
    });
  };
  const timer = setTimeout(commit, 5000);
  pendingDeletes.set(row.id, { timer, commit });
  toast('Message deleted.', {
    timeout: 5000,
    action: {
      label: 'Undo',
      run: () => {
        clearTimeout(timer);
        pendingDeletes.delete(row.id);
        row.hidden = false;
        refresh();
      },
    },
  });
}

window.addEventListener('pagehide', () => {
  for (const { timer, commit } of pendingDeletes.values()) {
    clearTimeout(timer);
    commit();
  }
});

async function react(row, name) {
  try {
    const wasBottom = !currentPlace();
    const reactions = await api.post(`/react/${row.id}`, { form: { reaction: name } });
    if (reactions && typeof reactions === 'object') {
      row.reactions = Object.keys(reactions).length ? reactions : null;
      refresh({ mine: wasBottom });
    }
  } catch (err) {
    toast(api.describeError(err, 'Reacting'), { kind: 'error' });
  }
}

async function pickReaction(row, anchor) {
  const { openPicker } = await import('./views/picker.js');
  openPicker({ anchor: anchor || rowElementById(row.id), onPick: (name) => react(row, name) });
}

async function pin(row) {
  try {
    const pins = await api.post(`/pin/${row.id}`);
    if (Array.isArray(pins)) {
      state.pins = pins;
      applyPinFlags(state.current);
      refresh();
      updateTopbar();
    }
  } catch (err) {
    const message = err.status === 409 ? 'This conversation has 50 pins. Unpin one first.' : api.describeError(err, 'Pinning');
    toast(message, { kind: 'error' });
  }
}

function reply(row) {
  setReply({ id: row.id, sender: row.sender, preview: plainPreview(row.content || (row.filename ? 'attachment' : ''), 80) });
}

function quote(id) {
  const button = h('button', { type: 'button', class: 'quote', onclick: () => jumpTo(id, state.current) });
  const fill = (data) => {
    clear(button);
    if (!data) { button.append('Original message not found'); return; }
    if (data.deleted) { button.append(h('em', null, 'The original message was deleted')); return; }
    button.append(h('strong', null, data.sender), ': ', plainPreview(data.content || (data.filename ? 'attachment' : ''), 90));
  };
  const known = conversation(state.current).byId.get(id);
  if (known) {
    fill(known);
  } else {
    button.append('…');
    // Fetched once per session, and only for rows that are rendered (D12).
    if (!quoteCache.has(id)) quoteCache.set(id, api.get(`/message/${id}`).catch(() => null));
    quoteCache.get(id).then(fill);
  }
  return button;
}

/** Jump to a message (§11, D7): open its conversation, page back until loaded, centre and flash. */
async function jumpTo(id, channel = state.current) {
  if (!id) { if (channel) openChannel(channel); return; }
  if (channel !== state.current) {
    await openChannel(channel);
    for (let i = 0; i < 60 && !conversation(channel).loaded; i += 1) await new Promise((r) => setTimeout(r, 50));
  }
  const conv = conversation(channel);
  let loaded = 0;
  while (!conv.byId.has(id) && !conv.reachedStart && loaded < 2000 && state.current === channel) {
    const before = conv.rows.length;
    await loadOlder(channel, false);
    if (conv.rows.length === before) break;
    loaded += conv.rows.length - before;
  }
  if (state.current !== channel) return;
  if (!conv.byId.has(id) || !revealRow(id)) {
    toast('That message could not be found. It may have been deleted.', {});
    return;
  }
  const el = rowElementById(id);
  if (el) el.focus({ preventScroll: true });
}

async function loadOlder(id, render = true) {
  const conv = conversation(id);
  const oldest = conv.rows.find((r) => !r.pending);
  if (!oldest) return;
  const params = new URLSearchParams({ before: String(oldest.ts), before_id: String(oldest.id), limit: '100' });
  try {
    const rows = await api.get(`${api.channelPath('/messages_before', id)}?${params}`);
    if (!Array.isArray(rows)) return;
    if (rows.length < 100) conv.reachedStart = true;
    mergeRows(id, rows);
    applyPinFlags(id);
    if (render && state.current === id) refresh({ older: true });
  } catch {
    // the next scroll retries
  }
}

async function closeDm(id) {
  state.openedDms.delete(id);
  saveOpenedDms();
  try {
    await api.post('/dms/close', { json: { channel: id } });
  } catch (err) {
    toast(api.describeError(err), { kind: 'error' });
  }
  state.dms = state.dms.filter((d) => d.channel !== id);
  emit('dms');
  if (state.current === id) openChannel(state.channels[0] || 'mentions');
}

const OPENED_KEY = () => `minimost:opened-dms:${state.me}`;
function saveOpenedDms() {
  try { localStorage.setItem(OPENED_KEY(), JSON.stringify([...state.openedDms])); } catch { /* convenience only */ }
}
function loadOpenedDms() {
  try { for (const id of JSON.parse(localStorage.getItem(OPENED_KEY()) || '[]')) state.openedDms.add(id); } catch { /* convenience only */ }
}

function parseNames(value) {
  return value.split(',').map((n) => n.trim()).filter(Boolean);
}

function newDm() {
  // People are not pushed (§0): a dialog that suggests names refreshes them first.
  loadPeople();
  openDialog({
    title: 'New direct message',
    label: 'People (comma-separated)',
    suggestions: () => state.users,
    submitLabel: 'Start',
    validate(value) {
      const names = parseNames(value);
      if (!names.length) return 'Name at least one person.';
      const unknown = names.filter((n) => !isUser(n));
      if (unknown.length) return `No account named ${unknown.join(', ')}.`;
      if (names.every((n) => n.toLowerCase() === state.me.toLowerCase())) return 'Name someone other than yourself.';
      return '';
    },
    submit(value) {
      startDm(parseNames(value).map(isUser));
    },
  });
}

function startDm(names) {
  const id = dmChannel(names);
  if (!state.dms.some((d) => d.channel === id)) { state.openedDms.add(id); saveOpenedDms(); }
  emit('dms');
  openChannel(id, { focus: true });
}

function newPrivate() {
  loadPeople();
  openDialog({
    title: 'New private channel',
    label: 'Channel name',
    maxLength: 80,
    extraLabel: 'Members (comma-separated, optional)',
    suggestions: () => state.users,
    submitLabel: 'Create',
    validate(value) {
      const name = value.trim();
      if (!name) return 'Give the channel a name.';
      if ([...name].length > 80) return `The name has ${[...name].length} characters; at most 80 are allowed.`;
      return '';
    },
    async submit(value, extra) {
      const members = parseNames(extra || '');
      let created;
      try {
        created = await api.post('/private_channels/create', { json: { name: value.trim(), members } });
      } catch (err) {
        throw new Error(api.describeError(err, 'Creating the channel'));
      }
      if (created && created.channel) {
        if (!state.privateChannels.some((p) => p.channel === created.channel)) {
          state.privateChannels.push({ channel: created.channel, id: created.id, name: created.name, members: [state.me, ...members], unread: 0 });
          emit('private');
        }
        openChannel(created.channel, { focus: true });
      }
    },
  });
}

function openSearch() {
  import('./views/search.js').then((m) => m.openSearch({ jump: (id, channel) => jumpTo(id, channel), slot: ui.searchSlot, opener: ui.search }));
}

function openSettings(at = null) {
  import('./views/settings.js').then((m) => m.openSettings({
    at,
    onChange: (what) => {
      if (what === 'profile') loadPeople();
      if (what === 'appearance') { state.fontSize = prefs.fontSize; refresh(); }
      if (what === 'messages') composerHint();
    },
  }));
}

function openHelp() {
  import('./views/help.js').then((m) => m.openHelp());
}

async function openMembersPanel() {
  const id = state.current;
  if (!id || id === 'mentions') return;
  loadPeople();
  const { openMembers } = await import('./views/panels.js');
  openMembers({ channel: id, onMessage: (name) => startDm([name]), onLeft: afterLeave, onCall: calls.callWith, onShare: calls.shareWith });
}

async function openPinsPanel() {
  const id = state.current;
  const { openPins } = await import('./views/panels.js');
  openPins({
    channel: id,
    onJump: (msgId) => jumpTo(msgId, id),
    onUnpin: async (msgId) => {
      const row = conversation(id).byId.get(msgId) || { id: msgId };
      await pin(row);
    },
  });
}

function channelMembers(id) {
  if (!id || id === 'mentions') return [];
  if (!membersCache.has(id)) {
    membersCache.set(id, []);
    api.get(api.channelPath('/channel_members', id)).then((names) => { if (Array.isArray(names)) membersCache.set(id, names); }).catch(() => {});
  }
  return membersCache.get(id);
}

// ---------- keyboard (§16, D2, D3) ----------

let lastG = 0;

function enterVisual() {
  if (!state.current || state.current === 'mentions') return;
  visual = true;
  ui.visualTag.hidden = false;
  document.body.classList.add('visual-mode');
  ui.list.focus({ preventScroll: true });
  select(0);
}

function leaveVisual() {
  if (!visual) return;
  visual = false;
  ui.visualTag.hidden = true;
  document.body.classList.remove('visual-mode');
  select(null);
}

function cycleSidebar(step) {
  const entries = [...ui.sidebar.querySelectorAll('.side-entry')];
  if (!entries.length) return;
  const at = entries.findIndex((b) => b.dataset.channel === state.current);
  const next = entries[(at + step + entries.length) % entries.length];
  openChannel(next.dataset.channel);
}

function runVisual(action) {
  const row = selection();
  const own = row && row.sender === state.me && row.content_type !== 'system';
  switch (action) {
    case 'newer': select(1); break;
    case 'older': select(-1); break;
    case 'leave': leaveVisual(); break;
    case 'edit':
      if (!row) break;
      if (!own || row.filename) { toast('Only your own text messages can be edited.'); break; }
      leaveVisual(); startEdit(row); break;
    case 'delete':
      if (!row) break;
      if (!own) { toast('Only your own messages can be deleted.'); break; }
      select(-1); remove(row); break;
    case 'reply': if (row && row.content_type !== 'system') { leaveVisual(); reply(row); } break;
    case 'copy':
      if (row) navigator.clipboard.writeText(row.content || row.filename || '').then(() => toast('Copied.'), () => toast('Copying was refused by the browser.', { kind: 'error' }));
      break;
    case 'react': if (row && row.content_type !== 'system') pickReaction(row, rowElementById(row.id)); break;
    case 'pin': if (row) pin(row).then(() => select(0)); break;
    default: break;
  }
}

function runNormal(action, event) {
  const page = ui.list.clientHeight;
  switch (action) {
    case 'focus': scrollToBottom(); focusComposer(); break;
    case 'newDm': newDm(); break;
    case 'search': openSearch(); break;
    case 'visual': enterVisual(); break;
    case 'help': openHelp(); break;
    case 'down': ui.list.scrollBy({ top: 80 }); break;
    case 'up': ui.list.scrollBy({ top: -80 }); break;
    case 'halfDown': ui.list.scrollBy({ top: page / 2 }); break;
    case 'halfUp': ui.list.scrollBy({ top: -page / 2 }); break;
    case 'bottom': scrollToBottom(); break;
    case 'top': ui.list.scrollTop = 0; lastG = 0; break;
    case 'gPrefix': lastG = Date.now(); return;
    case 'nextEntry': cycleSidebar(1); break;
    case 'prevEntry': cycleSidebar(-1); break;
    default: return;
  }
  event.preventDefault();
}

function globalKeys(event) {
  if (event.defaultPrevented) return;
  const target = event.target;
  const typing = target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
  // Esc closes the innermost thing first (D3); open popups handle their own Esc.
  if (popupOpen()) return;
  if (document.body.classList.contains('drawer-open') && event.key === 'Escape') { toggleDrawer(false); ui.menu.focus(); return; }
  if ((event.ctrlKey || event.metaKey) && !event.altKey && ['j', 'k'].includes(event.key.toLowerCase())) {
    event.preventDefault();
    cycleSidebar(event.key.toLowerCase() === 'j' ? 1 : -1);
    return;
  }
  if (event.key === 'Escape' && typing) { target.blur(); ui.list.focus({ preventScroll: true }); return; }
  if (typing) return;
  if (visual) {
    const action = visualAction(event);
    if (action) { event.preventDefault(); runVisual(action); }
    return;
  }
  // Only then does Esc minimise or restore the call panel (D3).
  if (event.key === 'Escape' && calls.escape()) { event.preventDefault(); return; }
  const action = normalAction(event, Date.now() - lastG < 500);
  if (action) runNormal(action, event);
}

// ---------- presence, font size ----------

let idleTimer = null;
let reported = '';
function report(presence) {
  if (presence === reported && presence !== 'active') return;
  reported = presence;
  api.post('/presence', { json: { state: presence } }).catch(() => {});
}

function heartbeat() {
  const presence = document.visibilityState !== 'visible' ? 'hidden' : reported === 'idle' ? 'idle' : 'active';
  reported = '';
  report(presence);
}

function activity() {
  clearTimeout(idleTimer);
  if (reported === 'idle') report('active');
  idleTimer = setTimeout(() => report('idle'), 5 * 60 * 1000);
}

function setFontSize(size) {
  const next = Math.max(11, Math.min(22, Math.round(size)));
  if (next === prefs.fontSize) return;
  savePrefs({ fontSize: next });
  document.documentElement.style.setProperty('--message-font-size', `${next}px`);
}

function wireFontGestures() {
  ui.list.addEventListener('wheel', (event) => {
    if (!(event.ctrlKey || event.metaKey)) return;
    event.preventDefault();
    setFontSize(prefs.fontSize + (event.deltaY < 0 ? 1 : -1));
  }, { passive: false });
  let pinch = null;
  const dist = (t) => Math.hypot(t[0].clientX - t[1].clientX, t[0].clientY - t[1].clientY);
  ui.list.addEventListener('touchstart', (e) => { if (e.touches.length === 2) pinch = { d: dist(e.touches), size: prefs.fontSize }; }, { passive: true });
  ui.list.addEventListener('touchmove', (e) => {
    if (pinch && e.touches.length === 2) { e.preventDefault(); setFontSize(pinch.size * (dist(e.touches) / pinch.d)); }
  }, { passive: false });
  ui.list.addEventListener('touchend', () => { pinch = null; }, { passive: true });
}

// ---------- start-up ----------

async function loadPeople() {
  const [users, colors, avatars] = await Promise.all([
    api.get('/users').catch(() => state.users),
    api.get('/user_colors').catch(() => state.colors),
    api.get('/user_avatars').catch(() => [...state.avatars]),
  ]);
  state.users = Array.isArray(users) ? users : [];
  state.colors = colors && typeof colors === 'object' ? colors : {};
  state.avatars = new Set(Array.isArray(avatars) ? avatars : []);
  emit('avatars');
  renderMe();
  if (state.current && state.current !== 'mentions' && conversation(state.current).loaded) refresh();
}

function unreadAlerts(before) {
  // A rise in unread elsewhere while MiniMost is not in front rings (§14); mentions ring always.
  if (startupQuiet) return;
  const after = totalUnread();
  if (after > before && !looking()) chime();
}

async function start() {
  state.me = api.config.user || document.getElementById('app').dataset.user || '';
  loadPrefs(state.me);
  state.fontSize = prefs.fontSize;
  import('./views/settings.js').then((m) => m.applyAppearance(prefs)).catch(() => {});
  document.documentElement.style.setProperty('--message-font-size', `${prefs.fontSize}px`);
  api.setSessionEndedHandler(() => onSessionRevoked({ reason: 'expired' }));
  buildShell();
  renderMe();
  loadOpenedDms();
  mountSidebar(ui.sidebar, { onOpen: (id) => openChannel(id), onNewDm: newDm, onNewPrivate: newPrivate, onCloseDm: closeDm });
  mountMessages(ui.list, ui.pill, {
    loadOlder, edit: startEdit, remove, reply, react, pin, quote, retry, discard, cancelUpload, isUser, pickReaction,
    isEditing: (id) => id === editingId, editor, title: titleOf,
  });
  setGrowHandler(() => refresh());
  mountComposer(ui.composer, {
    send,
    typing: (id) => api.post(api.channelPath('/typing', id)).catch(() => {}),
    editLast,
    members: channelMembers,
  });
  composerHint();
  wireFontGestures();
  const withTotal = (fn) => (data, e, ch) => { const before = totalUnread(); fn(data, e, ch); updateTitle(); unreadAlerts(before); };
  events.init({
    messages: onMessages,
    typing: onTyping,
    pins: (pins, _e, ch) => { if (ch === state.current) { state.pins = pins; applyPinFlags(ch); refresh(); updateTopbar(); } },
    read_receipts: (data, _e, ch) => { if (ch === state.current) { state.receipts = data; refresh(); } },
    online_users: (data) => {
      state.online = data;
      emit('presence');
      renderMe();
      if (state.current && state.current !== 'mentions' && conversation(state.current).loaded) refresh();
    },
    dms: withTotal((data) => {
      state.dms = data;
      let changed = false;
      for (const d of data) if (state.openedDms.delete(d.channel)) changed = true;
      if (changed) saveOpenedDms();
      if (data.some((d) => d.users.some((u) => !isUser(u) && u !== 'system'))) loadPeople();
      emit('dms');
    }),
    channel_unreads: withTotal((data) => { state.channelUnreads = data; emit('unreads'); }),
    private_channels: withTotal((data) => {
      const wasMember = state.current && state.current.startsWith('private:') && state.privateChannels.some((p) => p.channel === state.current);
      state.privateChannels = data;
      emit('private');
      if (wasMember && !data.some((p) => p.channel === state.current)) openChannel(state.channels[0] || 'mentions');
      updateTopbar();
      if (state.current && state.current.startsWith('private:')) relabel(state.current);
    }),
    mentions: (data) => {
      const known = new Set(state.mentions.map((m) => m.id));
      state.mentions = data;
      emit('mentions');
      const fresh = data.filter((m) => !known.has(m.id) && !isMuted(m.channel));
      if (fresh.length && !startupQuiet && fresh[0].channel !== state.current) {
        chime();
        desktop(`${fresh[0].sender} mentioned you in ${titleOf(fresh[0].channel)}`, plainPreview(fresh[0].content || '', 140), () => jumpTo(fresh[0].id, fresh[0].channel), `mention-${fresh[0].id}`);
      }
      if (state.current === 'mentions') renderMentions(ui.mentions, { open: (ch, id) => jumpTo(id, ch), isUser });
    },
    unread_count: withTotal((data) => { state.dmUnreadTotal = data.count || 0; }),
    session_revoked: onSessionRevoked,
    ...calls.handlers,
  }, connectionStatus);

  const [channels] = await Promise.all([api.get('/channels').catch(() => []), loadPeople()]);
  state.channels = Array.isArray(channels) ? channels : [];
  emit('channels');
  heartbeat();
  setInterval(heartbeat, 30000);
  for (const type of ['pointerdown', 'keydown', 'wheel', 'touchstart']) document.addEventListener(type, activity, { passive: true, capture: true });
  activity();
  document.addEventListener('visibilitychange', () => {
    heartbeat();
    if (document.visibilityState === 'visible' && state.current && state.current !== 'mentions') markRead(state.current);
  });
  window.addEventListener('focus', () => { if (markPending && state.current && state.current !== 'mentions') markRead(state.current); });
  window.addEventListener('pagehide', () => {
    api.request('POST', '/presence', { json: { state: 'offline' }, keepalive: true }).catch(() => {});
  });
  const remembered = lastChannel();
  const valid = remembered && (state.channels.includes(remembered) || remembered.startsWith('dm:') || remembered.startsWith('private:') || remembered === 'mentions');
  openChannel(valid ? remembered : state.channels[0] || 'mentions');
  on('current', updateTopbar);
  on('private', updateTopbar);
  document.addEventListener('keydown', globalKeys);
  // The backlog that arrives at start-up is silent (§14).
  setTimeout(() => { startupQuiet = false; }, 3000);
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
  window.minimostDebug = { domInfo, unreadFor };
}

start();
