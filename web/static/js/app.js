// MiniMost app entry: builds the shell, loads the start-up data, wires the event stream to the
// store and the views, and owns the actions (send, edit, delete, react, pin, switch).

import { h, icon, ICONS, clear } from './render.js';
import * as api from './api.js';
import * as events from './events.js';
import {
  state, emit, on, conversation, mergeRows, totalUnread, titleOf, lastChannel, rememberLast,
  dmChannel, clearDrafts,
} from './store.js';
import { plainPreview } from './format.js';
import { mountSidebar } from './views/sidebar.js';
import { mountMessages, showConversation, refresh, rowElementById } from './views/messages.js';
import { mountComposer, setChannel, focusComposer, setReply, showError, restore } from './views/composer.js';
import { toast } from './views/toast.js';
import { openDialog } from './views/dialog.js';
import { renderMentions } from './views/mentions.js';

const ui = {};
let pendingSeq = 0;
let editingId = null;
const lastReadAt = new Map();
const quoteCache = new Map();
const pendingDeletes = new Map();

// ---------- shell ----------

function buildShell() {
  const root = document.getElementById('app');
  ui.sidebar = h('nav', { class: 'sidebar', 'aria-label': 'Channels', id: 'sidebar' });
  ui.backdrop = h('div', { class: 'backdrop', hidden: true, onclick: () => toggleDrawer(false) });
  ui.menu = h('button', { type: 'button', class: 'icon-button menu-button', 'aria-label': 'Menu', 'aria-controls': 'sidebar', 'aria-expanded': 'false', onclick: () => toggleDrawer() }, icon(ICONS.menu));
  ui.title = h('h1', { class: 'topbar-title' });
  ui.search = h('button', { type: 'button', class: 'search-button', 'aria-label': 'Search', onclick: openSearch }, icon(ICONS.search, 16), h('span', null, 'Search'));
  ui.settings = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Settings', title: 'Settings', onclick: openSettings }, icon(ICONS.settings));
  ui.logout = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Log out', title: 'Log out', onclick: () => { clearDrafts(); api.logout(); } }, icon(ICONS.logout));
  const topbar = h('header', { class: 'topbar' }, ui.menu, ui.title, h('div', { class: 'topbar-center' }, ui.search),
    h('div', { class: 'topbar-actions' }, ui.settings, ui.logout));
  ui.connection = h('div', { class: 'connection-bar', role: 'status', hidden: true }, h('span', { class: 'pulse', 'aria-hidden': 'true' }), 'Reconnecting…');
  ui.list = h('div', { class: 'message-list', role: 'log', 'aria-label': 'Messages', tabindex: '0' });
  ui.mentions = h('div', { class: 'mentions-view', hidden: true });
  ui.pill = h('button', { type: 'button', class: 'jump-pill', hidden: true }, 'Jump to latest');
  ui.typing = h('div', { class: 'typing-line', role: 'status', 'aria-live': 'polite' });
  ui.announce = h('div', { class: 'visually-hidden', 'aria-live': 'polite' });
  ui.composer = h('div', { class: 'composer-wrap' });
  ui.main = h('main', { class: 'main' }, topbar, ui.connection,
    h('div', { class: 'list-wrap' }, ui.list, ui.mentions, ui.pill), ui.typing, ui.composer, ui.announce);
  clear(root).append(ui.backdrop, ui.sidebar, ui.main);
}

function toggleDrawer(force) {
  const open = force ?? !document.body.classList.contains('drawer-open');
  document.body.classList.toggle('drawer-open', open);
  ui.backdrop.hidden = !open;
  ui.menu.setAttribute('aria-expanded', String(open));
}

function updateTitle() {
  const total = totalUnread();
  document.title = total ? `(${total}) MiniMost` : 'MiniMost';
}

function isUser(name) {
  const lower = name.toLowerCase();
  if (lower === state.me.toLowerCase()) return state.me;
  return state.users.find((u) => u.toLowerCase() === lower) || null;
}

// ---------- switching ----------

async function openChannel(id, { focus = false } = {}) {
  toggleDrawer(false);
  if (state.current === id) {
    if (focus) focusComposer();
    return;
  }
  state.current = id;
  rememberLast(id);
  emit('current');
  ui.title.textContent = titleOf(id);
  setChannel(id);
  editingId = null;
  const mentionsView = id === 'mentions';
  ui.mentions.hidden = !mentionsView;
  ui.list.hidden = mentionsView;
  ui.typing.textContent = '';
  if (mentionsView) {
    renderMentions(ui.mentions, { open: openChannel, isUser });
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
    showConversation(id, undefined);
  } else {
    clear(ui.list).append(h('p', { class: 'list-loading' }, 'Loading…'));
  }
  // Unloaded conversations get their newest 100 rows from the stream's opening snapshot.
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
function markRead(id) {
  clearTimeout(markTimer);
  markTimer = setTimeout(() => {
    if (document.visibilityState === 'visible' && state.current === id) {
      api.post(api.channelPath('/mark_read', id)).catch(() => {});
    }
  }, 400);
}

async function onMessages(rows, _event, streamChannel) {
  if (!streamChannel || streamChannel !== state.current) return;
  const conv = conversation(streamChannel);
  const first = !conv.loaded;
  // A real row from me replaces its optimistic stand-in.
  for (const row of rows) {
    if (row.sender !== state.me || row.deleted) continue;
    const pending = conv.rows.find((r) => r.pending && !r.failed && r.content === (row.content || r.content));
    if (pending) mergeRows(streamChannel, [{ ...pending, deleted: 1 }]);
  }
  const result = mergeRows(streamChannel, rows);
  applyPinFlags(streamChannel);
  if (first) {
    conv.loaded = true;
    conv.reachedStart = rows.length < 100;
    const lastRead = await waitForLastRead(streamChannel);
    if (state.current !== streamChannel) return;
    showConversation(streamChannel, lastRead ?? 0);
    markRead(streamChannel);
    return;
  }
  const fromOthers = result.added.map((id) => conv.byId.get(id)).filter((r) => r && r.sender !== state.me);
  refresh({ added: result.added, mine: rows.some((r) => r.sender === state.me && result.added.includes(r.id)) });
  if (fromOthers.length) {
    const last = fromOthers[fromOthers.length - 1];
    ui.announce.textContent = `${last.sender}: ${plainPreview(last.content || last.filename || '', 140)}`;
    markRead(streamChannel);
  }
}

function applyPinFlags(id) {
  const conv = conversation(id);
  const byId = new Map(state.pins.map((p) => [p.id, p.pinned_by]));
  for (const row of conv.rows) row.pinnedBy = byId.get(row.id) || null;
}

function onTyping(names, _e, streamChannel) {
  if (streamChannel !== state.current) return;
  const others = names.filter((n) => n !== state.me);
  ui.typing.textContent = others.length === 0 ? ''
    : others.length === 1 ? `${others[0]} is typing…`
      : others.length <= 3 ? `${others.join(', ')} are typing…` : 'Several people are typing…';
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
    ui.connection.hidden = false;
  } else {
    // Colours, avatars and people are not pushed: refresh them after each reconnect (§0).
    loadPeople();
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
  mergeRows(channel, [row]);
  if (channel === state.current) refresh({ added: [row.id], mine: true });
  const form = new FormData();
  form.append('text', text);
  if (replyTo) form.append('reply_to_id', String(replyTo.id));
  for (const file of files) form.append('files', file, file.name);
  try {
    await api.post(api.channelPath('/send', channel), { form });
    if (files.length) {
      // Attachment rows arrive with their own ids; the stand-in has served its purpose.
      setTimeout(() => dropRow(channel, row.id), 0);
    }
    if (channel.startsWith('dm:')) state.openedDms.delete(channel);
  } catch (err) {
    const live = conversation(channel).byId.get(row.id);
    if (live) {
      live.failed = api.describeError(err, 'Sending');
      if (channel === state.current) refresh();
    }
  }
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
  restore(row.outgoing.text);
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
  area.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); cancel(); }
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); save(); }
  });
  return h('div', { class: 'editor' }, area,
    h('div', { class: 'editor-actions' },
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
    await api.post(`/react/${row.id}`, { form: { reaction: name } });
  } catch (err) {
    toast(api.describeError(err, 'Reacting'), { kind: 'error' });
  }
}

async function pin(row) {
  try {
    const pins = await api.post(`/pin/${row.id}`);
    if (Array.isArray(pins)) {
      state.pins = pins;
      applyPinFlags(state.current);
      refresh();
    }
  } catch (err) {
    const message = err.status === 409 ? 'This conversation has 50 pins. Unpin one first.' : api.describeError(err, 'Pinning');
    toast(message, { kind: 'error' });
  }
}

function reply(row) {
  setReply({ id: row.id, sender: row.sender, preview: plainPreview(row.content || row.filename || 'attachment', 80) });
}

function quote(id) {
  const button = h('button', { type: 'button', class: 'quote', onclick: () => jumpTo(id) });
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
    if (!quoteCache.has(id)) quoteCache.set(id, api.get(`/message/${id}`).catch(() => null));
    quoteCache.get(id).then(fill);
  }
  return button;
}

function jumpTo(id) {
  const el = rowElementById(id);
  if (el) {
    el.scrollIntoView({ block: 'center' });
    el.classList.add('flash');
    el.focus();
    setTimeout(() => el.classList.remove('flash'), 1600);
  } else {
    toast('That message is further back in the history.', {});
  }
}

async function loadOlder(id) {
  const conv = conversation(id);
  const oldest = conv.rows.find((r) => !r.pending);
  if (!oldest) return;
  const params = new URLSearchParams({ before: String(oldest.ts), before_id: String(oldest.id), limit: '100' });
  try {
    const rows = await api.get(`${api.channelPath('/messages_before', id)}?${params}`);
    if (!Array.isArray(rows)) return;
    if (rows.length < 100) conv.reachedStart = true;
    mergeRows(id, rows);
    if (state.current === id) refresh({ older: true });
  } catch {
    // the next scroll retries
  }
}

async function closeDm(id) {
  state.openedDms.delete(id);
  try {
    await api.post('/dms/close', { json: { channel: id } });
  } catch (err) {
    toast(api.describeError(err), { kind: 'error' });
  }
  emit('dms');
  if (state.current === id) openChannel(state.channels[0]);
}

function newDm() {
  openDialog({
    title: 'New direct message',
    label: 'People (comma-separated)',
    suggestions: () => state.users,
    submitLabel: 'Start',
    validate(value) {
      const names = value.split(',').map((n) => n.trim()).filter(Boolean);
      if (!names.length) return 'Name at least one person.';
      const unknown = names.filter((n) => !isUser(n));
      if (unknown.length) return `No account named ${unknown.join(', ')}.`;
      return '';
    },
    submit(value) {
      const names = value.split(',').map((n) => n.trim()).filter(Boolean).map(isUser);
      const id = dmChannel(names);
      if (!state.dms.some((d) => d.channel === id)) state.openedDms.add(id);
      emit('dms');
      openChannel(id, { focus: true });
    },
  });
}

function newPrivate() {
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
      const members = (extra || '').split(',').map((n) => n.trim()).filter(Boolean);
      const created = await api.post('/private_channels/create', { json: { name: value.trim(), members } });
      if (created && created.channel) {
        if (!state.privateChannels.some((p) => p.channel === created.channel)) {
          state.privateChannels.push({ channel: created.channel, id: created.id, name: created.name, members: [], unread: 0 });
          emit('private');
        }
        openChannel(created.channel, { focus: true });
      }
    },
  });
}

function openSearch() {
  import('./views/search.js').then((m) => m.openSearch({ open: openChannel, jump: jumpTo }));
}

function openSettings() {
  toast(`Signed in as ${state.me}.`, {});
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
  if (state.current && state.current !== 'mentions') refresh();
}

function heartbeat() {
  const presence = document.visibilityState === 'visible' ? 'active' : 'hidden';
  api.post('/presence', { json: { state: presence } }).catch(() => {});
}

async function start() {
  state.me = api.config.user || document.getElementById('app').dataset.user || '';
  api.setSessionEndedHandler(() => onSessionRevoked({ reason: 'expired' }));
  buildShell();
  mountSidebar(ui.sidebar, { onOpen: (id) => openChannel(id), onNewDm: newDm, onNewPrivate: newPrivate, onCloseDm: closeDm });
  mountMessages(ui.list, ui.pill, {
    loadOlder, edit: startEdit, remove, reply, react, pin, quote, retry, discard, isUser,
    isEditing: (id) => id === editingId, editor, title: titleOf,
  });
  mountComposer(ui.composer, {
    send,
    typing: (id) => api.post(api.channelPath('/typing', id)).catch(() => {}),
    editLast,
  });
  events.init({
    messages: onMessages,
    typing: onTyping,
    pins: (pins, _e, ch) => { if (ch === state.current) { state.pins = pins; applyPinFlags(ch); refresh(); } },
    read_receipts: (data) => { state.receipts = data; },
    online_users: (data) => {
      state.online = data;
      emit('presence');
      if (state.current && state.current !== 'mentions' && conversation(state.current).loaded) refresh();
    },
    dms: (data) => {
      state.dms = data;
      for (const d of data) state.openedDms.delete(d.channel);
      for (const d of data) for (const u of d.users) if (!isUser(u) && u !== 'system') loadPeople();
      emit('dms'); updateTitle();
    },
    channel_unreads: (data) => { state.channelUnreads = data; emit('unreads'); updateTitle(); },
    private_channels: (data) => {
      state.privateChannels = data;
      emit('private'); updateTitle();
      if (state.current && state.current.startsWith('private:')) ui.title.textContent = titleOf(state.current);
    },
    mentions: (data) => { state.mentions = data; emit('mentions'); if (state.current === 'mentions') renderMentions(ui.mentions, { open: openChannel, isUser }); },
    unread_count: (data) => { state.dmUnreadTotal = data.count || 0; updateTitle(); },
    session_revoked: onSessionRevoked,
  }, connectionStatus);

  const [channels] = await Promise.all([api.get('/channels').catch(() => []), loadPeople()]);
  state.channels = Array.isArray(channels) ? channels : [];
  emit('channels');
  heartbeat();
  setInterval(heartbeat, 30000);
  document.addEventListener('visibilitychange', () => {
    heartbeat();
    if (document.visibilityState === 'visible' && state.current) markRead(state.current);
  });
  const remembered = lastChannel();
  const valid = remembered && (state.channels.includes(remembered) || remembered.startsWith('dm:') || remembered.startsWith('private:') || remembered === 'mentions');
  openChannel(valid ? remembered : state.channels[0] || 'mentions');
  on('current', () => { ui.title.textContent = state.current ? titleOf(state.current) : ''; });
  document.addEventListener('keydown', globalKeys);
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
}

function globalKeys(event) {
  const target = event.target;
  const typing = target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
  if (document.querySelector('dialog[open]')) return;
  if (event.key === 'Escape' && typing) { target.blur(); return; }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === 'i') { event.preventDefault(); focusComposer(); }
  else if (event.key === 'o') { event.preventDefault(); newDm(); }
  else if (event.key === '/' || event.key === 'f') { event.preventDefault(); openSearch(); }
  else if (event.key === 'j') ui.list.scrollBy({ top: 80 });
  else if (event.key === 'k') ui.list.scrollBy({ top: -80 });
  else if (event.key === 'G') ui.list.scrollTop = ui.list.scrollHeight;
}

void showError;
start();
