// The call panel (§15, D3, D19, D29): a named dialog that opens full-screen, with a header (live
// dot, conversation, status line, faces, Layout, Fullscreen, Minimise), tiles that reflow, and the
// controls. Minimise docks it as a corner card while you chat; Esc minimises and restores.

import { h, icon, ICONS } from '../render.js';
import * as api from '../api.js';
import { state, titleOf } from '../store.js';
import { avatar, presenceOf, PRESENCE_LABEL } from '../views/people.js';
import * as media from './media.js';
import { CALL_KEYS } from '../keys.js';

const LAYOUTS = ['auto', 'grid', 'spotlight'];
/** Subsequence match for the add-person filter: "bb" finds "bob". */
const fuzzy = (text, term) => { let i = 0; for (const ch of text) if (ch === term[i]) i += 1; return i === term.length; };
/** The largest mesh measured without audio loss (tests/e2e/measure-calls.js, README); the panel
 *  warns beyond it (D19). */
const MESH_LIMIT = 6;
const SPEAKING = 0.08;
let openPanelApi = null;

const GLYPH = {
  mic: ['M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z', 'M5 11a7 7 0 0 0 14 0M12 18v3'],
  camera: ['M3 7h12v10H3z', 'M15 10l6-3v10l-6-3'],
  screen: ['M3 4h18v12H3z', 'M8 20h8M12 16v4'],
  hangup: 'M3 14c5-5 13-5 18 0l-2 3-4-2v-3a10 10 0 0 0-6 0v3l-4 2z',
  add: ['M9 11a4 4 0 1 0 0-8a4 4 0 1 0 0 8z', 'M2 21a7 7 0 0 1 14 0M19 8v6M16 11h6'],
  layout: ['M3 3h8v8H3zM13 3h8v8h-8zM3 13h8v8H3zM13 13h8v8h-8z'],
  full: 'M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5',
  min: 'M5 19h14',
  devices: ['M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z', 'M12 2v3M12 19v3M2 12h3M19 12h3'],
};

function control(label, glyph, onclick, { pressed = null, cls = '' } = {}) {
  const attrs = { type: 'button', class: ['call-control', cls], 'aria-label': label, title: label, onclick };
  if (pressed !== null) attrs['aria-pressed'] = String(pressed);
  return h('button', attrs, icon(glyph, 20));
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const mm = Math.floor(s / 60) % 60;
  const hh = Math.floor(s / 3600);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** Esc for the call (D3): minimise or restore, when nothing inner took it. Returns handled. */
export function escapeCall() {
  if (!openPanelApi) return false;
  openPanelApi.toggleMinimised();
  return true;
}

export function openPanel(call, actions) {
  const opener = document.activeElement;
  let layout = 'auto';
  let pinned = null;
  let minimised = false;
  const tiles = new Map();

  const title = h('h2', { class: 'call-title', id: `call-title-${call.id}` }, titleOf(call.channel));
  const status = h('p', { class: 'call-status', role: 'status' });
  const faces = h('div', { class: 'call-faces', 'aria-hidden': 'true' });
  const warning = h('p', { class: 'call-warning', hidden: true }, `Calls are tested with up to ${MESH_LIMIT} people; with more, sound and video may stutter.`);
  const layoutButton = h('button', { type: 'button', class: 'button small', onclick: cycleLayout }, icon(GLYPH.layout, 16), h('span', null, 'Layout: auto'));
  const fullButton = control('Fullscreen', GLYPH.full, toggleFullscreen, { pressed: false });
  const minButton = control('Minimise call', GLYPH.min, () => setMinimised(true));
  const restoreButton = h('button', { type: 'button', class: 'button small call-restore', onclick: () => setMinimised(false) }, 'Restore call');
  const grid = h('div', { class: 'call-tiles layout-auto' });
  const meter = h('span', { class: 'call-meter', 'aria-hidden': 'true' }, h('span'));
  const mute = control('Mute', GLYPH.mic, () => actions.toggleMute(), { pressed: false, cls: 'call-mute' });
  mute.append(meter);
  const cam = control('Camera', GLYPH.camera, () => actions.toggleCamera(), { pressed: false });
  const share = control('Share screen', GLYPH.screen, () => actions.toggleScreen(), { pressed: false });
  const add = control('Add person', GLYPH.add, () => toggleAdd(), { cls: 'call-add' });
  add.setAttribute('aria-expanded', 'false');
  const devicesButton = control('Devices', GLYPH.devices, () => toggleDevices());
  devicesButton.setAttribute('aria-expanded', 'false');
  const hang = h('button', { type: 'button', class: 'call-control call-hangup', 'aria-label': 'Hang up', title: 'Hang up', onclick: () => actions.hangUp() }, icon(GLYPH.hangup, 20));
  const popover = h('div', { class: 'call-popover', hidden: true });
  const controls = h('div', { class: 'call-controls' }, mute, cam, share, add, devicesButton, hang);

  const root = h('div', { class: 'call-panel', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': title.id, tabindex: '-1' },
    h('header', { class: 'call-head' },
      h('span', { class: 'live-dot', 'aria-hidden': 'true' }),
      h('div', { class: 'call-heading' }, title, status),
      faces,
      h('div', { class: 'call-head-actions' }, layoutButton, fullButton, minButton, restoreButton)),
    warning, grid, popover, controls);
  document.body.append(root);
  document.body.classList.add('in-call');

  function cycleLayout() {
    layout = LAYOUTS[(LAYOUTS.indexOf(layout) + 1) % LAYOUTS.length];
    pinned = null;
    layoutButton.lastChild.textContent = `Layout: ${layout}`;
    update();
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else root.requestFullscreen().catch(() => {});
  }
  const onFullscreen = () => fullButton.setAttribute('aria-pressed', String(document.fullscreenElement === root));
  document.addEventListener('fullscreenchange', onFullscreen);

  function setMinimised(value) {
    minimised = value;
    root.classList.toggle('is-minimised', value);
    root.setAttribute('aria-modal', String(!value));
    document.body.classList.toggle('call-docked', value);
    closePopover();
    if (value) {
      if (document.fullscreenElement === root) document.exitFullscreen().catch(() => {});
      const composer = document.querySelector('.composer textarea');
      (composer || restoreButton).focus();
    } else {
      mute.focus();
    }
  }

  // ---------- popovers: add person, devices ----------

  // Re-renders the open Add person list when the call changes (who rings, who declined).
  let refreshAdd = null;

  function closePopover() {
    refreshAdd = null;
    popover.hidden = true;
    popover.replaceChildren();
    add.setAttribute('aria-expanded', 'false');
    devicesButton.setAttribute('aria-expanded', 'false');
  }

  async function toggleAdd() {
    if (!popover.hidden && add.getAttribute('aria-expanded') === 'true') { closePopover(); add.focus(); return; }
    closePopover();
    add.setAttribute('aria-expanded', 'true');
    const filter = h('input', { type: 'search', id: 'call-add-filter', autocomplete: 'off', placeholder: 'Filter people' });
    const list = h('ul', { class: 'call-invite-list', 'aria-label': 'People to add' });
    const note = h('p', { class: 'hint', role: 'status' }, 'Loading members…');
    const results = new Map();
    popover.append(h('div', { class: 'call-popover-head' }, h('label', { for: filter.id }, 'Add a person to the call'), filter), note, list);
    popover.hidden = false;
    filter.focus();
    let names = [];
    try {
      const others = await api.get(api.channelPath('/channel_members', call.channel));
      names = Array.isArray(others) ? others : [];
    } catch (err) {
      note.textContent = api.describeError(err, 'Loading members');
    }
    const render = () => {
      const term = filter.value.trim().toLowerCase();
      const inCall = (n) => { const p = call.participants.get(n); return p && (p.state === 'accepted' || p.state === 'pending') && !results.has(n); };
      const shown = names.filter((n) => n !== state.me && !inCall(n) && (!term || fuzzy(n.toLowerCase(), term)));
      // Called on every panel update: rebuild only when the list would change, so focus and
      // a pointer on a button survive the once-a-second duration tick.
      const key = JSON.stringify([shown, [...results]]);
      if (key === shownKey) return;
      shownKey = key;
      list.replaceChildren(...shown.map((name) => h('li', { class: 'call-invite-row' },
        avatar(name, 24),
        h('span', { class: 'call-invite-name' }, name, h('span', { class: 'hint' }, ` · ${PRESENCE_LABEL[presenceOf(name)] || 'offline'}`)),
        results.has(name) ? h('span', { class: 'hint', role: 'status' }, results.get(name))
          : h('button', { type: 'button', class: 'button small', 'aria-label': `Invite ${name}`, onclick: async () => {
            results.set(name, 'Calling…'); render();
            try { await actions.invite(name); results.set(name, 'Invited'); } catch (err) { results.set(name, `Failed: ${api.describeError(err, 'Inviting')}`); }
            render();
          } }, 'Invite'))));
      note.textContent = shown.length ? '' : 'Everyone here is already in the call.';
    };
    let shownKey = null;
    filter.addEventListener('input', render);
    refreshAdd = render;
    render();
  }

  async function toggleDevices() {
    if (!popover.hidden && devicesButton.getAttribute('aria-expanded') === 'true') { closePopover(); devicesButton.focus(); return; }
    closePopover();
    devicesButton.setAttribute('aria-expanded', 'true');
    const pick = async (kind, label, id) => {
      const list = await media.devices(kind);
      const select = h('select', { id }, list.map((d, i) => h('option', { value: d.deviceId }, d.label || `${label} ${i + 1}`)));
      select.addEventListener('change', () => actions.useDevice(kind, select.value));
      return h('div', { class: 'field' }, h('label', { for: id }, label), list.length ? select : h('p', { class: 'hint' }, `No ${label.toLowerCase()} found.`));
    };
    popover.append(await pick('audioinput', 'Microphone', 'call-mic-select'), await pick('videoinput', 'Camera', 'call-cam-select'));
    popover.hidden = false;
    const first = popover.querySelector('select');
    if (first) first.focus();
  }

  // ---------- tiles ----------

  function tile(key, make) {
    let t = tiles.get(key);
    if (!t) {
      t = make();
      t.key = key;
      tiles.set(key, t);
    }
    t.used = true;
    return t;
  }

  function personTile(name) {
    return tile(`person:${name}`, () => {
      const video = h('video', { class: 'tile-video', autoplay: true, playsinline: true, hidden: true });
      video.muted = true;
      const label = h('span', { class: 'tile-name' }, name === state.me ? 'You' : name);
      const stateText = h('span', { class: 'tile-state' });
      const badges = h('span', { class: 'tile-badges' });
      const pin = h('button', { type: 'button', class: 'icon-button small tile-pin', 'aria-pressed': 'false', 'aria-label': `Pin ${name === state.me ? 'yourself' : name}` }, icon(ICONS.pin, 14));
      const el = h('div', { class: 'call-tile', dataset: { user: name } }, h('span', { class: 'tile-avatar' }, avatar(name, 72, false)), video,
        h('div', { class: 'tile-foot' }, label, stateText, badges, pin));
      const t = { el, video, stateText, badges, pin, name };
      pin.addEventListener('click', () => { pinned = pinned === t.key ? null : t.key; update(); });
      return t;
    });
  }

  function screenTile(name, stream) {
    return tile(`screen:${name}:${stream.id}`, () => {
      const video = h('video', { class: 'tile-video', autoplay: true, playsinline: true });
      video.muted = true;
      const pin = h('button', { type: 'button', class: 'icon-button small tile-pin', 'aria-pressed': 'false', 'aria-label': `Pin ${name === state.me ? 'your' : `${name}'s`} screen` }, icon(ICONS.pin, 14));
      const el = h('div', { class: 'call-tile is-screen', dataset: { user: name } }, video,
        h('div', { class: 'tile-foot' }, h('span', { class: 'tile-name' }, name === state.me ? 'Your screen' : `${name}'s screen`), pin));
      const t = { el, video, pin, name, screen: true, since: Date.now() };
      pin.addEventListener('click', () => { pinned = pinned === t.key ? null : t.key; update(); });
      return t;
    });
  }

  function show(video, stream) {
    if (video.srcObject !== stream) {
      video.srcObject = stream || null;
      if (stream) video.play().catch(() => {});
    }
    video.hidden = !stream;
  }

  function update() {
    if (call.ended) return;
    for (const t of tiles.values()) t.used = false;
    const people = [state.me, ...[...call.participants].filter(([n, p]) => n !== state.me && (p.state === 'accepted' || p.state === 'pending')).map(([n]) => n)];
    for (const name of call.remote.keys()) if (!people.includes(name)) people.push(name);
    const order = [];
    const screens = [];
    for (const name of people) {
      const t = personTile(name);
      const p = call.participants.get(name) || {};
      const peer = call.peers.get(name);
      const r = call.remote.get(name);
      let text = '';
      if (name !== state.me) {
        if (p.state === 'pending') text = 'ringing';
        else if (!peer || peer.state === 'new' || peer.state === 'connecting') text = 'connecting';
        else if (peer.state === 'disconnected' || peer.state === 'failed') text = 'reconnecting';
      }
      t.stateText.textContent = text;
      t.el.classList.toggle('is-ringing', p.state === 'pending');
      const muted = name === state.me ? call.muted : Boolean(r && r.muted);
      const sharing = name === state.me ? Boolean(call.screen) : Boolean((r && r.screen) || p.sharing);
      // replaceChildren would print a null as the text "null": pass only real badges.
      t.badges.replaceChildren(...[
        muted && h('span', { class: 'tile-badge' }, 'muted'),
        sharing && h('span', { class: 'tile-badge tile-badge-sharing' }, 'sharing'),
      ].filter(Boolean));
      const cameraStream = name === state.me ? call.camera : (r && r.camera ? r.streams.get(r.camera) : null);
      show(t.video, cameraStream || null);
      t.el.classList.toggle('has-video', Boolean(cameraStream));
      order.push(t);
      if (name === state.me && call.screen) screens.push(screenTile(name, call.screen));
      if (r) for (const [id, stream] of r.streams) if (id !== r.camera) screens.push(screenTile(name, stream));
    }
    for (const t of screens) show(t.video, streamFor(t));
    for (const [key, t] of tiles) if (!t.used) { t.video.srcObject = null; t.el.remove(); tiles.delete(key); if (pinned === key) pinned = null; }
    // Layout: a pin overrides; auto puts the newest screen (others' before yours) on stage.
    let stage = pinned ? tiles.get(pinned) : null;
    if (!stage && layout === 'auto' && screens.length) {
      const sorted = [...screens].sort((a, b) => (a.name === state.me) - (b.name === state.me) || b.since - a.since);
      stage = sorted[0];
    }
    if (!stage && layout === 'spotlight') stage = order.find((t) => t.name !== state.me) || order[0];
    const all = [...screens, ...order];
    grid.className = `call-tiles ${stage ? 'layout-spotlight' : 'layout-grid'}`;
    grid.style.setProperty('--tiles', String(all.length));
    for (const t of all) {
      t.el.classList.toggle('is-stage', t === stage);
      t.pin.setAttribute('aria-pressed', String(pinned === t.key));
    }
    const wanted = stage ? [stage, ...all.filter((t) => t !== stage)] : all;
    wanted.forEach((t, i) => { if (grid.children[i] !== t.el) grid.insertBefore(t.el, grid.children[i] || null); });

    // Header and controls.
    const accepted = people.filter((n) => { const p = call.participants.get(n); return n === state.me || (p && p.state === 'accepted'); });
    const ringing = people.length - accepted.length;
    const connected = [...call.peers.values()].some((p) => p.state === 'connected');
    const sharers = screens.length;
    let line;
    if (call.outgoing && !call.answeredAt) line = 'Ringing…';
    else if (!connected) line = 'Connecting…';
    else line = ['Connected', sharers ? `${sharers} screen${sharers === 1 ? '' : 's'} shared` : null, duration(Date.now() - call.answeredAt),
      `${accepted.length} ${accepted.length === 1 ? 'person' : 'people'}`, ringing ? `${ringing} ringing` : null].filter(Boolean).join(' · ');
    if (status.textContent !== line) status.textContent = line;
    if (refreshAdd) refreshAdd();
    root.classList.toggle('is-live', connected);
    faces.replaceChildren(...accepted.slice(0, 5).map((n) => avatar(n, 24, false)));
    warning.hidden = people.length <= MESH_LIMIT;
    mute.setAttribute('aria-pressed', String(call.muted));
    mute.disabled = !call.mic;
    if (!call.mic) mute.title = 'No microphone: listen-only';
    cam.setAttribute('aria-pressed', String(Boolean(call.camera)));
    share.setAttribute('aria-pressed', String(Boolean(call.screen)));
  }

  function streamFor(t) {
    const [, name, id] = t.key.split(':');
    if (name === state.me && call.screen && call.screen.id === id) return call.screen;
    const r = call.remote.get(name);
    return r ? r.streams.get(id) || null : null;
  }

  // Level meter and speaking rings, read from the analysers a few times a second.
  const levels = setInterval(() => {
    const mine = call.muted ? 0 : call.micProbe.level();
    meter.firstChild.style.setProperty('--level', mine.toFixed(2));
    for (const t of tiles.values()) {
      if (t.screen) continue;
      const level = t.name === state.me ? mine : (call.remote.get(t.name)?.probe?.level() || 0);
      t.el.classList.toggle('is-speaking', level > SPEAKING);
    }
  }, 150);

  // Call keys (§16): the letters of CALL_KEYS while focus is in the panel.
  root.addEventListener('keydown', (event) => {
    const target = event.target;
    if (event.key === 'Escape') {
      event.preventDefault();
      if (!popover.hidden) { const opener2 = add.getAttribute('aria-expanded') === 'true' ? add : devicesButton; closePopover(); opener2.focus(); return; }
      setMinimised(!minimised);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target instanceof HTMLElement && ['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName)) return;
    const byAction = { mute: () => actions.toggleMute(), screen: () => actions.toggleScreen(), add: () => { setMinimised(false); toggleAdd(); }, layout: cycleLayout, fullscreen: toggleFullscreen, camera: () => actions.toggleCamera() };
    const entry = CALL_KEYS.find((k) => k.keys.includes(event.key.toLowerCase()));
    const fn = entry && byAction[entry.action];
    if (fn && !minimised) { event.preventDefault(); fn(); }
  });

  update();
  mute.focus();

  openPanelApi = {
    update,
    restore: () => setMinimised(false),
    toggleMinimised: () => setMinimised(!minimised),
    close(text) {
      clearInterval(levels);
      document.removeEventListener('fullscreenchange', onFullscreen);
      if (document.fullscreenElement === root) document.exitFullscreen().catch(() => {});
      for (const t of tiles.values()) t.video.srcObject = null;
      if (openPanelApi && openPanelApi.root === root) openPanelApi = null;
      const hadFocus = root.contains(document.activeElement);
      document.body.classList.remove('in-call', 'call-docked');
      if (text) {
        status.textContent = text;
        controls.hidden = true;
        grid.hidden = true;
        setTimeout(() => root.remove(), 1800);
      } else {
        root.remove();
      }
      if (hadFocus) {
        const composer = document.querySelector('.composer textarea');
        const back = opener instanceof HTMLElement && opener.isConnected ? opener : composer;
        if (back) back.focus();
      }
    },
    root,
  };
  return openPanelApi;
}
