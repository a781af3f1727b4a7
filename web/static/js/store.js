// Client state and a tiny change notifier. Views subscribe to topics and re-render their part.

const listeners = new Map();

export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic).delete(fn);
}

export function emit(topic, detail) {
  for (const fn of listeners.get(topic) || []) {
    try {
      fn(detail);
    } catch (err) {
      console.warn('listener failed', topic, err);
    }
  }
}

export const state = {
  me: '',
  channels: [],            // public channel names, configured order
  privateChannels: [],     // [{channel, id, members, name, unread}]
  dms: [],                 // [{channel, unread, users}]
  openedDms: new Set(),    // DMs opened locally but not yet written in
  channelUnreads: {},      // {name: n}
  dmUnreadTotal: 0,
  mentions: [],
  online: {},              // {user: state}
  colors: {},
  avatars: new Set(),
  users: [],
  current: null,           // open channel id, or 'mentions'
  typing: [],
  pins: [],
  receipts: {},
  connected: false,
};

/** Per-conversation message cache: rows sorted by (ts, id), resumable from `cursor` (D12). */
const conversations = new Map();

export function conversation(channel) {
  let conv = conversations.get(channel);
  if (!conv) {
    conv = { rows: [], byId: new Map(), cursor: 0, loaded: false, reachedStart: false, lastRead: null };
    conversations.set(channel, conv);
  }
  return conv;
}

function compareRows(a, b) {
  return a.ts - b.ts || a.id - b.id;
}

/**
 * Merges rows (from a page, a delta or an event): insert or replace by id in (ts, id) order; a
 * tombstone removes its row. Returns {added, changed, removed} id lists.
 */
export function mergeRows(channel, rows) {
  const conv = conversation(channel);
  const result = { added: [], changed: [], removed: [] };
  let needsSort = false;
  for (const row of rows) {
    const change = Math.max(row.ts || 0, row.edited_ts || 0, row.deleted_ts || 0, row.reactions_ts || 0);
    if (change > conv.cursor) conv.cursor = change;
    const existing = conv.byId.get(row.id);
    if (row.deleted) {
      if (existing) {
        conv.byId.delete(row.id);
        conv.rows.splice(conv.rows.indexOf(existing), 1);
        result.removed.push(row.id);
      }
      continue;
    }
    if (existing) {
      Object.assign(existing, row);
      result.changed.push(row.id);
    } else {
      const copy = { ...row };
      conv.byId.set(row.id, copy);
      const last = conv.rows[conv.rows.length - 1];
      if (last && compareRows(last, copy) > 0) needsSort = true;
      conv.rows.push(copy);
      result.added.push(row.id);
    }
  }
  if (needsSort) conv.rows.sort(compareRows);
  return result;
}

export function totalUnread() {
  let total = state.dmUnreadTotal;
  for (const n of Object.values(state.channelUnreads)) total += n;
  for (const pc of state.privateChannels) total += pc.unread || 0;
  return total;
}

export function unreadFor(channel) {
  if (channel.startsWith('dm:')) return (state.dms.find((d) => d.channel === channel) || {}).unread || 0;
  if (channel.startsWith('private:')) return (state.privateChannels.find((p) => p.channel === channel) || {}).unread || 0;
  return state.channelUnreads[channel] || 0;
}

/** Display title of a conversation (§2). */
export function titleOf(channel) {
  if (channel === 'mentions') return 'Mentions';
  if (channel.startsWith('dm:')) {
    const others = dmOthers(channel);
    return `@${others.length ? others.join(', ') : state.me}`;
  }
  if (channel.startsWith('private:')) {
    const pc = state.privateChannels.find((p) => p.channel === channel);
    return pc ? pc.name : 'Private channel';
  }
  return `#${channel}`;
}

export function dmOthers(channel) {
  const me = state.me.toLowerCase();
  return channel.slice(3).split(':').filter((n) => n && n.toLowerCase() !== me);
}

/** Canonical DM id (api.md §4.2) for the given names plus me. */
export function dmChannel(names) {
  const all = [state.me, ...names].map((n) => n.trim()).filter(Boolean);
  const seen = new Map();
  for (const name of all) {
    const known = state.users.find((u) => u.toLowerCase() === name.toLowerCase());
    const spelled = name.toLowerCase() === state.me.toLowerCase() ? state.me : known || name;
    if (!seen.has(spelled.toLowerCase())) seen.set(spelled.toLowerCase(), spelled);
  }
  const sorted = [...seen.values()].sort((a, b) => {
    const la = a.toLowerCase();
    const lb = b.toLowerCase();
    if (la !== lb) return la < lb ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return `dm:${sorted.join(':')}`;
}

const LAST_KEY = () => `minimost:last:${state.me}`;

export function rememberLast(channel) {
  try {
    localStorage.setItem(LAST_KEY(), channel);
  } catch {
    // storage may be unavailable (private mode); remembering is a convenience only
  }
}

export function lastChannel() {
  try {
    return localStorage.getItem(LAST_KEY());
  } catch {
    return null;
  }
}

const DRAFT_KEY = (channel) => `minimost:draft:${state.me}:${channel}`;

export function saveDraft(channel, text, replyTo) {
  try {
    if (!text && !replyTo) localStorage.removeItem(DRAFT_KEY(channel));
    else localStorage.setItem(DRAFT_KEY(channel), JSON.stringify({ text, replyTo }));
  } catch {
    // see rememberLast
  }
}

export function loadDraft(channel) {
  try {
    return JSON.parse(localStorage.getItem(DRAFT_KEY(channel)) || 'null');
  } catch {
    return null;
  }
}

/** Drafts are erased at logout (D17). */
export function clearDrafts() {
  try {
    for (const key of Object.keys(localStorage)) {
      if (key.startsWith(`minimost:draft:${state.me}:`)) localStorage.removeItem(key);
    }
  } catch {
    // see rememberLast
  }
}

/** A user's colour: chosen, else hashed from the name (§5). */
export function colorOf(name) {
  if (state.colors[name]) return state.colors[name];
  let hash = 0;
  for (const ch of name.toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360} 62% 62%)`;
}
