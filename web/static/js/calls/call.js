// The call lifecycle (§15, api.md §6.9): start, ring, accept, join, invite, hang up, the in-call
// heartbeat (GET …/state every 3 s), `gone` for a peer unreachable for 15 s, and the end of your
// part when the page closes. Media runs as a full mesh (mesh.js); the panel draws it (panel.js).

import * as api from '../api.js';
import { state, on, titleOf } from '../store.js';
import { toast } from '../views/toast.js';
import { Peer, sessionId, registry } from './mesh.js';
import * as media from './media.js';
import { openPanel } from './panel.js';
import { showIncoming } from './incoming.js';

export const HEARTBEAT_MS = 3000;
export const GONE_AFTER_MS = 15000;

/** The one call this tab is in, or null. */
export let current = null;
const listeners = new Set();
/** Signals that arrived before we joined their call, replayed on join. */
let early = [];
/** The last `active_call` per channel, as pushed. */
export const activeCalls = new Map();
let incomingList = [];
const declined = new Set();

export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function changed() {
  if (current && current.panel) current.panel.update();
  for (const fn of listeners) {
    try { fn(current); } catch (err) { console.warn('call listener failed', err); }
  }
}

export function callAllowed(channel) {
  return Boolean(channel) && (channel.startsWith('dm:') || channel.startsWith('private:'));
}

function explainInsecure() {
  toast('Calls need a secure connection (HTTPS). Ask your administrator to enable it, or open MiniMost over https://.', { kind: 'error' });
}

// ---------- the call object ----------

function newCall({ id, channel, initiator, mic, outgoing }) {
  const call = {
    id, channel, initiator, outgoing,
    sid: sessionId(),
    status: outgoing ? 'ringing' : 'connecting',
    startedAt: Date.now(),
    answeredAt: outgoing ? null : Date.now(),
    participants: new Map(),   // name -> {state, sharing, joined_ts}
    remote: new Map(),         // name -> {audio, streams: Map, muted, camera, screen, level, speaking}
    peers: new Map(),          // name -> Peer
    mic,
    micProbe: media.levelProbe(mic),
    muted: false,
    camera: null,
    screen: null,
    seen: new Set(),
    lastSignalId: 0,
    timers: [],
    ringback: null,
    ended: false,
    endText: '',
  };
  return call;
}

function localStreams(call) {
  const list = [];
  if (call.mic) for (const t of call.mic.getAudioTracks()) list.push([t, call.mic]);
  if (call.camera) for (const t of call.camera.getVideoTracks()) list.push([t, call.camera]);
  if (call.screen) for (const t of call.screen.getVideoTracks()) list.push([t, call.screen]);
  return list;
}

function remoteOf(call, name) {
  let r = call.remote.get(name);
  if (!r) {
    const audio = document.createElement('audio');
    audio.autoplay = true;
    audio.className = 'call-audio';
    document.body.append(audio);
    r = { audio, streams: new Map(), muted: false, camera: null, screen: null, probe: null, speaking: false };
    call.remote.set(name, r);
  }
  return r;
}

function dropRemote(call, name) {
  const r = call.remote.get(name);
  if (r) {
    if (r.probe) r.probe.close();
    r.audio.srcObject = null;
    r.audio.remove();
    call.remote.delete(name);
  }
  const peer = call.peers.get(name);
  if (peer) { peer.close(); call.peers.delete(name); }
}

function myState(call) {
  return { type: 'state', muted: call.muted, camera: call.camera ? call.camera.id : null, screen: call.screen ? call.screen.id : null };
}

function makePeer(call, name, offerer) {
  const key = `call:${call.id}:${name}`;
  const peer = new Peer({
    key, me: state.me, name, sid: call.sid, offerer,
    send: (type, payload) => api.post(`/calls/${encodeURIComponent(call.id)}/signal`, { json: { to: name, type, payload } }),
    onTrack: (event) => {
      const r = remoteOf(call, name);
      const stream = event.streams[0] || new MediaStream([event.track]);
      if (event.track.kind === 'audio') {
        r.audio.srcObject = stream;
        r.audio.play().catch(() => {});
        if (r.probe) r.probe.close();
        r.probe = media.levelProbe(stream);
      } else {
        r.streams.set(stream.id, stream);
        const forget = () => {
          if (!stream.getVideoTracks().some((t) => t.readyState === 'live')) { r.streams.delete(stream.id); changed(); }
        };
        stream.addEventListener('removetrack', forget);
        event.track.addEventListener('ended', forget);
      }
      changed();
    },
    onState: (what) => {
      if (what === 'channel') peer.post(myState(call));
      if (what === 'connected' && call.status !== 'connected') {
        call.status = 'connected';
      }
      changed();
    },
    onMessage: (message) => {
      if (message.type !== 'state') return;
      const r = remoteOf(call, name);
      r.muted = Boolean(message.muted);
      r.camera = message.camera || null;
      r.screen = message.screen || null;
      changed();
    },
  });
  for (const [track, stream] of localStreams(call)) peer.pc.addTrack(track, stream);
  // Listen-only (no microphone): still ask to receive the others' audio.
  if (!call.mic) peer.pc.addTransceiver('audio', { direction: 'recvonly' });
  call.peers.set(name, peer);
  return peer;
}

// ---------- signals ----------

/** The `signal` event (user scope): for a call or a standalone share. */
export function onSignal(data) {
  if (!data || !data.call_id) return false;
  if (!current || current.id !== data.call_id) {
    early.push({ at: Date.now(), data });
    early = early.filter((e) => Date.now() - e.at < 30000).slice(-200);
    return true;
  }
  handleSignal(current, data);
  return true;
}

function handleSignal(call, data) {
  if (call.ended || call.seen.has(data.id)) return;
  call.seen.add(data.id);
  if (data.id > call.lastSignalId) call.lastSignalId = data.id;
  const payload = data.payload || {};
  if (payload.to_sid && payload.to_sid !== call.sid) return;
  const name = data.from;
  let peer = call.peers.get(name);
  const isOffer = data.type === 'offer';
  if (peer && peer.remoteSid && payload.sid && peer.remoteSid !== payload.sid) {
    // The other side reloaded or rejoined: only its new offer starts a fresh connection.
    if (!isOffer) return;
    dropRemote(call, name);
    peer = null;
  }
  if (!peer) {
    if (!isOffer) return;
    peer = makePeer(call, name, false);
  }
  if (!peer.remoteSid && payload.sid) peer.remoteSid = payload.sid;
  peer.receive(data.type, payload);
}

async function readQueue(call) {
  try {
    const list = await api.get(`/calls/${encodeURIComponent(call.id)}/signals?after=${call.lastSignalId}`);
    if (Array.isArray(list)) for (const s of list) handleSignal(call, { ...s, call_id: call.id });
  } catch {
    // the stream delivers them too
  }
}

/** After the event stream reconnects, read what it may have missed (D13). */
export function onReconnect() {
  if (current && !current.ended) readQueue(current);
}

// ---------- start, accept, join ----------

export async function startCall(channel) {
  if (!callAllowed(channel)) return;
  if (current) { toast('You are already in a call. Hang up first.'); current.panel?.restore(); return; }
  if (!media.captureSupported()) { explainInsecure(); return; }
  const mic = await media.microphone();
  if (!mic) toast('No microphone is available: you join listen-only.');
  let result;
  try {
    result = await api.post('/calls/initiate', { json: { channel } });
  } catch (err) {
    stopStream(mic);
    if (err.status === 409) toast('A call is already in progress here. Use Join to take part.');
    else toast(api.describeError(err, 'Starting the call'), { kind: 'error' });
    return;
  }
  const call = newCall({ id: result.call_id, channel, initiator: state.me, mic, outgoing: true });
  for (const name of result.participants || []) {
    call.participants.set(name, { state: name === state.me ? 'accepted' : 'pending' });
  }
  call.ringback = media.loop('ringback');
  enter(call);
}

/** Accept a ringing invitation, or join a running call (the same route). */
export async function joinCall(callId, channel, initiator = '') {
  if (current && current.id === callId) { current.panel?.restore(); return; }
  if (current) { toast('You are already in a call. Hang up first.'); return; }
  if (!media.captureSupported()) { explainInsecure(); return; }
  const mic = await media.microphone();
  if (!mic) toast('No microphone is available: you join listen-only.');
  let result;
  try {
    result = await api.post(`/calls/${encodeURIComponent(callId)}/accept`);
  } catch (err) {
    stopStream(mic);
    toast(err.status === 409 || err.status === 404 ? 'That call has ended.' : api.describeError(err, 'Joining the call'), { kind: 'error' });
    return;
  }
  const call = newCall({ id: callId, channel, initiator, mic, outgoing: false });
  call.lastSignalId = result.last_signal_id || 0;
  const others = (result.participants || []).filter((n) => n !== state.me);
  call.participants.set(state.me, { state: 'accepted' });
  for (const name of others) call.participants.set(name, { state: 'accepted' });
  enter(call);
  // The newcomer offers to everyone already in the call.
  for (const name of others) makePeer(call, name, true);
  const replay = early.filter((e) => e.data.call_id === callId).map((e) => e.data);
  early = early.filter((e) => e.data.call_id !== callId);
  for (const data of replay) if (data.id > call.lastSignalId) handleSignal(call, data);
  readQueue(call);
}

export async function declineCall(callId) {
  declined.add(callId);
  renderIncoming();
  try { await api.post(`/calls/${encodeURIComponent(callId)}/reject`); } catch { /* it rings out anyway */ }
}

function enter(call) {
  current = call;
  call.panel = openPanel(call, actions);
  call.timers.push(setInterval(() => heartbeat(call), HEARTBEAT_MS));
  call.timers.push(setInterval(() => tick(call), 1000));
  heartbeat(call);
  renderIncoming();
  changed();
}

// ---------- in call ----------

async function heartbeat(call) {
  if (call.ended) return;
  let data;
  try {
    data = await api.get(`/calls/${encodeURIComponent(call.id)}/state`);
  } catch (err) {
    if (err.status === 404) finish(call, 'The call has ended.');
    return;
  }
  if (call.ended || !data) return;
  applyState(call, data);
}

function applyState(call, data) {
  const before = new Set([...call.participants].filter(([, p]) => p.state === 'accepted').map(([n]) => n));
  call.participants = new Map((data.participants || []).map((p) => [p.username, p]));
  call.initiator = data.initiator || call.initiator;
  if (data.state === 'ended' || data.state === 'rejected') {
    finish(call, call.answeredAt || data.answered_ts ? 'The call has ended.' : 'No answer.');
    return;
  }
  const accepted = [...call.participants].filter(([n, p]) => p.state === 'accepted' && n !== state.me).map(([n]) => n);
  if (accepted.length && !call.answeredAt) answered(call);
  for (const name of before) {
    if (name !== state.me && !accepted.includes(name) && call.peers.has(name)) {
      dropRemote(call, name);
      media.cue('left');
    }
  }
  const me = call.participants.get(state.me);
  if (me && me.state !== 'accepted') { finish(call, 'You left the call.'); return; }
  changed();
}

function answered(call) {
  call.answeredAt = Date.now();
  if (call.ringback) { call.ringback.stop(); call.ringback = null; }
  if (call.outgoing) media.cue('answered');
}

/** Once a second: speaking rings, the duration, and peers unreachable for 15 s reported gone. */
function tick(call) {
  if (call.ended) return;
  const now = Date.now();
  for (const [name, p] of call.participants) {
    if (name === state.me || p.state !== 'accepted') continue;
    const peer = call.peers.get(name);
    if (peer && peer.state === 'connected') { peer.lastGood = now; continue; }
    const since = Math.max(peer ? peer.lastGood : 0, call.answeredAt || call.startedAt, (p.joined_ts || 0) * 1000);
    if (now - since > GONE_AFTER_MS && !p.reportedGone) {
      p.reportedGone = true;
      api.post(`/calls/${encodeURIComponent(call.id)}/gone`, { json: { username: name } })
        .then((r) => { if (r && r.status === 'removed') { dropRemote(call, name); media.cue('left'); changed(); } else p.reportedGone = false; })
        .catch(() => { p.reportedGone = false; });
    }
  }
  changed();
}

/** `active_call` for the open conversation: the join banner, and who is in our call. */
export function onActiveCall(data, channel) {
  activeCalls.set(channel, data && data.call ? data.call : null);
  const call = current;
  if (call && call.channel === channel && !call.ended) {
    const info = data && data.call;
    if (!info || info.call_id !== call.id) {
      heartbeat(call);
    } else {
      const others = (info.participants || []).filter((n) => n !== state.me);
      if (others.length && !call.answeredAt) answered(call);
      for (const name of others) {
        const p = call.participants.get(name);
        if (!p || p.state !== 'accepted') { call.participants.set(name, { ...(p || {}), state: 'accepted', joined_ts: Date.now() / 1000 }); media.cue('joined'); }
      }
      for (const [name, p] of call.participants) {
        if (name !== state.me && p.state === 'accepted' && !others.includes(name)) {
          p.state = 'left';
          dropRemote(call, name);
          media.cue('left');
        }
      }
      // The event names only who is in; who declined or stopped ringing comes from the state.
      heartbeat(call);
    }
  }
  changed();
}

export async function hangUp() {
  const call = current;
  if (!call) return;
  finish(call, '', { cue: true });
  try { await api.post(`/calls/${encodeURIComponent(call.id)}/end`); } catch { /* the server times us out */ }
}

function stopStream(stream) {
  if (stream) for (const t of stream.getTracks()) t.stop();
}

function finish(call, text, { cue = false } = {}) {
  if (call.ended) return;
  call.ended = true;
  call.endText = text;
  for (const t of call.timers) clearInterval(t);
  if (call.ringback) call.ringback.stop();
  for (const name of [...call.remote.keys(), ...call.peers.keys()]) dropRemote(call, name);
  call.micProbe.close();
  stopStream(call.mic);
  stopStream(call.camera);
  stopStream(call.screen);
  if (cue || call.answeredAt) media.cue('hangup');
  if (current === call) current = null;
  if (call.panel) call.panel.close(text);
  renderIncoming();
  changed();
}

/** Closing the page ends your part (fetch with keepalive carries the CSRF header). */
export function onPageHide() {
  if (current) api.request('POST', `/calls/${encodeURIComponent(current.id)}/end`, { keepalive: true }).catch(() => {});
}

// ---------- controls ----------

function broadcast(call) {
  for (const peer of call.peers.values()) peer.post(myState(call));
}

export function toggleMute() {
  const call = current;
  if (!call || !call.mic) return;
  call.muted = !call.muted;
  for (const t of call.mic.getAudioTracks()) t.enabled = !call.muted;
  broadcast(call);
  changed();
}

function addTrackToAll(call, stream) {
  for (const peer of call.peers.values()) for (const t of stream.getVideoTracks()) peer.pc.addTrack(t, stream);
}

function removeStreamFromAll(call, stream) {
  const ids = new Set(stream.getTracks().map((t) => t.id));
  for (const peer of call.peers.values()) {
    for (const sender of peer.pc.getSenders()) {
      if (sender.track && ids.has(sender.track.id)) {
        try { peer.pc.removeTrack(sender); } catch { /* closed */ }
      }
    }
  }
}

export async function toggleCamera() {
  const call = current;
  if (!call) return;
  if (call.camera) {
    removeStreamFromAll(call, call.camera);
    stopStream(call.camera);
    call.camera = null;
  } else {
    try {
      call.camera = await media.camera(call.cameraId || null);
    } catch {
      toast('The camera could not be started (none found, or permission refused).', { kind: 'error' });
      return;
    }
    if (call.ended) { stopStream(call.camera); return; }
    addTrackToAll(call, call.camera);
  }
  broadcast(call);
  changed();
}

export async function toggleScreen() {
  const call = current;
  if (!call) return;
  if (call.screen) { stopScreen(call); return; }
  if (!media.displaySupported()) { toast('This browser cannot share a screen here.', { kind: 'error' }); return; }
  let stream;
  try {
    stream = await media.screen();
  } catch {
    return; // the picker was cancelled
  }
  if (call.ended) { stopStream(stream); return; }
  call.screen = stream;
  for (const t of stream.getVideoTracks()) t.addEventListener('ended', () => { if (call.screen === stream) stopScreen(call); });
  addTrackToAll(call, stream);
  api.post(`/calls/${encodeURIComponent(call.id)}/screenshare`, { json: { on: true } }).catch(() => {});
  broadcast(call);
  changed();
}

function stopScreen(call) {
  if (!call.screen) return;
  removeStreamFromAll(call, call.screen);
  stopStream(call.screen);
  call.screen = null;
  api.post(`/calls/${encodeURIComponent(call.id)}/screenshare`, { json: { on: false } }).catch(() => {});
  broadcast(call);
  changed();
}

export async function invite(name) {
  const call = current;
  if (!call) throw new Error('not in a call');
  await api.post(`/calls/${encodeURIComponent(call.id)}/invite`, { json: { username: name } });
  call.participants.set(name, { state: 'pending', invited_ts: Date.now() / 1000 });
  changed();
}

/** Switch the microphone or camera in place (D19). */
export async function useDevice(kind, deviceId) {
  const call = current;
  if (!call) return;
  if (kind === 'audioinput') {
    const next = await media.microphone(deviceId);
    if (!next) { toast('That microphone could not be opened.', { kind: 'error' }); return; }
    const track = next.getAudioTracks()[0];
    track.enabled = !call.muted;
    for (const peer of call.peers.values()) {
      for (const sender of peer.pc.getSenders()) if (sender.track && sender.track.kind === 'audio') sender.replaceTrack(track).catch(() => {});
    }
    call.micProbe.close();
    stopStream(call.mic);
    call.mic = next;
    call.micProbe = media.levelProbe(next);
    call.micId = deviceId;
  } else if (kind === 'videoinput') {
    call.cameraId = deviceId;
    if (call.camera) { await toggleCamera(); await toggleCamera(); }
  }
  changed();
}

const actions = { hangUp, toggleMute, toggleCamera, toggleScreen, invite, useDevice };

// ---------- incoming ----------

/** `incoming_calls` (user scope): ring for the first invitation we have not answered. */
export function onIncoming(list) {
  incomingList = Array.isArray(list) ? list : [];
  // A declined call stops ringing for us on the server; once it is gone from the list, a new
  // invitation to the same call must ring again.
  for (const id of [...declined]) if (!incomingList.some((c) => c.call_id === id)) declined.delete(id);
  renderIncoming();
}

function renderIncoming() {
  const ringing = incomingList.find((c) => !declined.has(c.call_id) && (!current || current.id !== c.call_id));
  showIncoming(ringing || null, {
    accept: (c) => joinCall(c.call_id, c.channel, c.initiator),
    decline: (c) => declineCall(c.call_id),
    title: (c) => titleOf(c.channel),
  });
}

export function debugInfo() {
  return { call: current ? { id: current.id, status: current.status, peers: [...current.peers.keys()] } : null, peers: [...registry.keys()] };
}

on('current', () => changed());
