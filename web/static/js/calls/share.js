// Standalone screen sharing (§15, api.md §6.10, D20): Share screen outside a call starts a share
// in the conversation; members see a Watch bar; each viewer sends an offer and the sharer answers
// it. The share and any open viewer live outside the conversation view, so a channel switch
// leaves them running.

import { h, icon } from '../render.js';
import * as api from '../api.js';
import { state, titleOf } from '../store.js';
import { toast } from '../views/toast.js';
import { avatar } from '../views/people.js';
import { desktop } from '../notify.js';
import { Peer, sessionId } from './mesh.js';
import * as media from './media.js';

/** My own share: {id, channel, stream, sid, peers: Map viewer -> Peer}, or null. */
export let mine = null;
/** The last `screenshares` list per channel. */
const byChannel = new Map();
/** Shares I watch: share_id -> {share, peer, stream, sid}. */
const watching = new Map();
let stageId = null;
let viewer = null;
const listeners = new Set();

export function onChange(fn) { listeners.add(fn); }
function changed() {
  for (const fn of listeners) { try { fn(); } catch (err) { console.warn('share listener failed', err); } }
  renderViewer();
}

const sharePath = (id, rest) => `/screenshare/${encodeURIComponent(id)}/${rest}`;

// ---------- sharing ----------

export async function startShare(channel) {
  if (mine && mine.channel === channel) { stopShare(); return; }
  if (!media.displaySupported()) {
    toast(window.isSecureContext ? 'This browser cannot share a screen.' : 'Screen sharing needs a secure connection (HTTPS).', { kind: 'error' });
    return;
  }
  let stream;
  try {
    stream = await media.screen({ withAudio: true });
  } catch {
    return; // the picker was cancelled
  }
  let result;
  try {
    result = await api.post('/screenshare/start', { json: { channel } });
  } catch (err) {
    for (const t of stream.getTracks()) t.stop();
    toast(api.describeError(err, 'Sharing'), { kind: 'error' });
    return;
  }
  if (mine) await stopShare();
  mine = { id: result.share_id, channel, stream, sid: sessionId(), peers: new Map() };
  const share = mine;
  for (const t of stream.getVideoTracks()) t.addEventListener('ended', () => { if (mine === share) stopShare(); });
  changed();
}

export async function stopShare({ keepalive = false } = {}) {
  const share = mine;
  if (!share) return;
  mine = null;
  for (const peer of share.peers.values()) { peer.post({ type: 'bye' }); setTimeout(() => peer.close(), 200); }
  for (const t of share.stream.getTracks()) t.stop();
  changed();
  try { await api.request('POST', sharePath(share.id, 'stop'), { keepalive }); } catch { /* it ends with our presence */ }
}

function answerViewer(share, name, payload) {
  let peer = share.peers.get(name);
  if (peer && peer.remoteSid && payload.sid && peer.remoteSid !== payload.sid) { peer.close(); share.peers.delete(name); peer = null; }
  if (!peer) {
    peer = new Peer({
      key: `share:${share.id}:${name}`, me: state.me, name, sid: share.sid, offerer: false,
      send: (type, body) => api.post(sharePath(share.id, 'signal'), { json: { to: name, type, payload: body } }),
      onState: (s) => { if (s === 'failed' || s === 'closed') { peer.close(); if (share.peers.get(name) === peer) share.peers.delete(name); } },
    });
    // The viewer offered receive-only sections; fill them with the screen (and its audio).
    peer.beforeAnswer = async (pc) => {
      for (const transceiver of pc.getTransceivers()) {
        const kind = transceiver.receiver.track.kind;
        const track = share.stream.getTracks().find((t) => t.kind === kind);
        if (track && !transceiver.sender.track) await transceiver.sender.replaceTrack(track);
        transceiver.direction = track ? 'sendonly' : 'inactive';
      }
    };
    peer.remoteSid = payload.sid || null;
    share.peers.set(name, peer);
  }
  return peer;
}

// ---------- watching ----------

export function watch(share) {
  if (watching.has(share.share_id)) { stageId = share.share_id; changed(); return; }
  const entry = { share, stream: new MediaStream(), sid: sessionId(), seen: new Set(), video: false };
  const peer = new Peer({
    key: `share:${share.share_id}:${share.sharer}`, me: state.me, name: share.sharer, sid: entry.sid, offerer: true,
    send: (type, body) => api.post(sharePath(share.share_id, 'signal'), { json: { to: share.sharer, type, payload: body } }),
    onTrack: (event) => {
      entry.stream.addTrack(event.track);
      if (event.track.kind === 'video') entry.video = true;
      changed();
    },
    onState: (s) => { if (s === 'failed') unwatch(share.share_id); else changed(); },
    onMessage: (m) => { if (m.type === 'bye') unwatch(share.share_id); },
  });
  peer.pc.addTransceiver('video', { direction: 'recvonly' });
  peer.pc.addTransceiver('audio', { direction: 'recvonly' });
  entry.peer = peer;
  watching.set(share.share_id, entry);
  stageId = share.share_id;
  changed();
}

export function unwatch(id) {
  const entry = watching.get(id);
  if (!entry) return;
  watching.delete(id);
  entry.peer.close();
  if (stageId === id) stageId = watching.keys().next().value || null;
  changed();
}

// ---------- events ----------

/** `signal` for a share. Returns whether it was one. */
export function onSignal(data) {
  if (!data || !data.share_id) return false;
  const payload = data.payload || {};
  if (mine && data.share_id === mine.id) {
    if (payload.to_sid && payload.to_sid !== mine.sid) return true;
    const peer = data.type === 'offer' ? answerViewer(mine, data.from, payload) : mine.peers.get(data.from);
    if (peer) peer.receive(data.type, payload);
    return true;
  }
  const entry = watching.get(data.share_id);
  if (entry && !entry.seen.has(data.id)) {
    entry.seen.add(data.id);
    if (payload.to_sid && payload.to_sid !== entry.sid) return true;
    if (!entry.peer.remoteSid && payload.sid) entry.peer.remoteSid = payload.sid;
    entry.peer.receive(data.type, payload);
  }
  return true;
}

/** `screenshares` for the open conversation. */
export function onScreenshares(list, channel) {
  const before = new Set((byChannel.get(channel) || []).map((s) => s.share_id));
  const next = Array.isArray(list) ? list : [];
  byChannel.set(channel, next);
  const live = new Set(next.map((s) => s.share_id));
  for (const [id, entry] of watching) if (entry.share.channel === channel && !live.has(id)) unwatch(id);
  if (mine && mine.channel === channel && !live.has(mine.id)) {
    // The server ended it (a newer share of ours, or we left): let go of the capture.
    const share = mine;
    mine = null;
    for (const peer of share.peers.values()) peer.close();
    for (const t of share.stream.getTracks()) t.stop();
  }
  const fresh = next.filter((s) => !before.has(s.share_id) && s.sharer !== state.me);
  if (fresh.length && document.visibilityState === 'hidden') {
    desktop(`${fresh[0].sharer} is sharing a screen`, titleOf(channel), null, `share-${fresh[0].share_id}`);
  }
  changed();
}

export function sharesIn(channel) {
  return (byChannel.get(channel) || []).filter((s) => s.sharer !== state.me);
}

export function onPageHide() {
  if (mine) stopShare({ keepalive: true });
}

// ---------- the viewer ----------

function renderViewer() {
  if (!watching.size) {
    if (viewer) { viewer.close(); viewer = null; }
    return;
  }
  if (!viewer) viewer = buildViewer();
  viewer.update();
}

function buildViewer() {
  const opener = document.activeElement;
  const who = h('h2', { class: 'viewer-title', id: 'viewer-title' });
  const stage = h('div', { class: 'viewer-stage' });
  const video = h('video', { class: 'viewer-video', autoplay: true, playsinline: true });
  const waiting = h('p', { class: 'viewer-waiting', role: 'status' }, 'Connecting…');
  stage.append(video, waiting);
  const strip = h('div', { class: 'viewer-strip', role: 'group', 'aria-label': 'Other shared screens' });
  const stopMine = h('button', { type: 'button', class: 'button button-danger', hidden: true, onclick: () => stopShare() }, 'Stop sharing');
  const full = h('button', { type: 'button', class: 'button small', 'aria-pressed': 'false', onclick: () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {}); else root.requestFullscreen().catch(() => {});
  } }, 'Fullscreen');
  const closeButton = h('button', { type: 'button', class: 'button small viewer-close', onclick: () => { for (const id of [...watching.keys()]) unwatch(id); } }, 'Close');
  // Docked, the viewer shrinks to a corner card that keeps playing while you move between
  // channels (D20); Restore brings the full viewer back.
  const dockButton = h('button', { type: 'button', class: 'button small viewer-dock', onclick: () => setDocked(true) }, 'Minimise viewer');
  const restoreButton = h('button', { type: 'button', class: 'button small viewer-restore', onclick: () => setDocked(false) }, 'Restore viewer');
  const root = h('div', { class: 'share-viewer', role: 'dialog', 'aria-labelledby': who.id, tabindex: '-1' },
    h('header', { class: 'viewer-head' }, h('span', { class: 'live-badge' }, 'LIVE'), who, stopMine, full, dockButton, restoreButton, closeButton),
    stage, strip);
  function setDocked(value) {
    root.classList.toggle('is-docked', value);
    if (value && document.fullscreenElement === root) document.exitFullscreen().catch(() => {});
    if (value) (document.querySelector('.composer textarea') || restoreButton).focus();
    else closeButton.focus();
  }
  const onFull = () => full.setAttribute('aria-pressed', String(document.fullscreenElement === root));
  document.addEventListener('fullscreenchange', onFull);
  // Audio refused by autoplay resumes on the next click or key.
  const resume = () => { if (video.paused && video.srcObject) video.play().catch(() => {}); };
  document.addEventListener('pointerdown', resume, true);
  document.addEventListener('keydown', resume, true);
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !root.classList.contains('is-docked')) { event.preventDefault(); event.stopPropagation(); closeButton.click(); }
  });
  document.body.append(root);
  closeButton.focus();
  return {
    update() {
      if (!watching.has(stageId)) stageId = watching.keys().next().value;
      const entry = watching.get(stageId);
      who.textContent = `${entry.share.sharer}'s screen · ${titleOf(entry.share.channel)}`;
      if (video.srcObject !== entry.stream) { video.srcObject = entry.stream; }
      if (entry.video) video.play().catch(() => { video.muted = true; video.play().catch(() => {}); });
      waiting.hidden = entry.video;
      stopMine.hidden = !mine;
      strip.replaceChildren(...[...watching.values()].filter((e) => e !== entry).map((e) => h('button', {
        type: 'button', class: 'viewer-thumb', onclick: () => { stageId = e.share.share_id; changed(); },
      }, avatar(e.share.sharer, 24, false), `${e.share.sharer}'s screen`)));
      strip.hidden = watching.size < 2;
    },
    close() {
      document.removeEventListener('fullscreenchange', onFull);
      document.removeEventListener('pointerdown', resume, true);
      document.removeEventListener('keydown', resume, true);
      if (document.fullscreenElement === root) document.exitFullscreen().catch(() => {});
      video.srcObject = null;
      const had = root.contains(document.activeElement);
      root.remove();
      if (had && opener instanceof HTMLElement && opener.isConnected) opener.focus();
    },
  };
}

// ---------- bars ----------

/** The bars for the main column: "you are sharing" (any channel, D20) and Watch for this one. */
export function bars(channel) {
  const out = [];
  if (mine) {
    out.push(h('div', { class: 'call-bar share-bar', role: 'status' },
      h('span', { class: 'live-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'call-bar-text' }, `You are sharing your screen in ${titleOf(mine.channel)}`),
      h('button', { type: 'button', class: 'button small button-danger', onclick: () => stopShare() }, 'Stop sharing')));
  }
  const others = sharesIn(channel);
  if (others.length) {
    const names = [...new Set(others.map((s) => s.sharer))];
    const text = names.length === 1 ? `${names[0]} is sharing a screen` : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are sharing screens`;
    out.push(h('div', { class: 'call-bar watch-bar' },
      h('span', { class: 'call-bar-faces', 'aria-hidden': 'true' }, names.slice(0, 3).map((n) => avatar(n, 20, false))),
      h('span', { class: 'call-bar-text' }, text),
      h('button', { type: 'button', class: 'button small button-primary', 'aria-label': `Watch, ${others.length} ${others.length === 1 ? 'screen' : 'screens'}`, onclick: () => { for (const s of others) watch(s); stageId = others[others.length - 1].share_id; changed(); } },
        icon('M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12zM12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z', 16), ` Watch (${others.length})`)));
  }
  return out;
}
