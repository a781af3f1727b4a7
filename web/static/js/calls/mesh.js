// One RTCPeerConnection per remote person, negotiated with the perfect-negotiation pattern: the
// lexicographically greater name is polite (it rolls back on an offer collision). ICE uses only
// the daemon's STUN server. Every live connection is kept in `registry` for diagnostics.

import { config } from '../api.js';

/** Every live Peer, by key ("call:<id>:<name>" or "share:<id>:<name>"). */
export const registry = new Map();

/** Signalling messages sent and received, per key (for measurements). */
export const counters = new Map();

export function iceServers() {
  const port = config.stun_port || 3478;
  return [{ urls: `stun:${location.hostname}:${port}` }];
}

function count(key, field) {
  const c = counters.get(key) || { sent: 0, received: 0 };
  c[field] += 1;
  counters.set(key, c);
}

/** A random id for one joining of a call or share, carried in every signal payload. */
export function sessionId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * new Peer({ key, me, name, sid, send(type, payload), offerer, onTrack, onState, onMessage })
 * `send` posts one signal; calls are serialised so the peer sees them in order. Only an
 * `offerer` starts the first negotiation; afterwards either side may renegotiate.
 */
export class Peer {
  constructor({ key, me, name, sid, send, offerer = false, onTrack = () => {}, onState = () => {}, onMessage = () => {} }) {
    this.key = key;
    this.name = name;
    this.sid = sid;
    this.remoteSid = null;
    this.polite = me > name;
    this.offerer = offerer;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.outbox = Promise.resolve();
    this.inbox = Promise.resolve();
    this.sendSignal = send;
    this.onState = onState;
    this.onMessage = onMessage;
    this.since = Date.now();
    this.connectedAt = null;
    this.lastGood = Date.now();
    const pc = new RTCPeerConnection({ iceServers: iceServers() });
    this.pc = pc;
    // A negotiated channel (same id on both ends) carries small state: mute, camera, screen, bye.
    this.channel = pc.createDataChannel('state', { negotiated: true, id: 0 });
    this.channel.addEventListener('message', (event) => {
      try { this.onMessage(JSON.parse(event.data)); } catch { /* not ours */ }
    });
    this.channel.addEventListener('open', () => this.onState('channel'));
    pc.addEventListener('track', (event) => onTrack(event));
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate) this.send('ice_candidate', { candidate: candidate.toJSON() });
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') {
        this.lastGood = Date.now();
        if (!this.connectedAt) this.connectedAt = performance.now();
      }
      this.onState(pc.connectionState);
    });
    pc.addEventListener('negotiationneeded', () => this.negotiate());
    registry.set(key, this);
  }

  get state() {
    return this.pc.connectionState;
  }

  send(type, payload) {
    if (this.closed) return;
    count(this.key, 'sent');
    const body = { ...payload, sid: this.sid, to_sid: this.remoteSid };
    this.outbox = this.outbox.then(() => this.sendSignal(type, body)).catch(() => {});
  }

  async negotiate() {
    if (this.closed) return;
    // The answering side never opens the first negotiation; later ones (screens, camera) it may.
    if (!this.offerer && !this.pc.remoteDescription) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.send('offer', { description: this.pc.localDescription.toJSON() });
    } catch {
      // a collision or a closed connection: the other side's offer or a restart wins
    } finally {
      this.makingOffer = false;
    }
  }

  /** Start negotiating now (the offerer, once its tracks are added). */
  start() {
    this.negotiate();
  }

  /** Feeds one received signal; signals are applied one at a time, in order. */
  receive(type, payload) {
    count(this.key, 'received');
    this.inbox = this.inbox.then(() => this.apply(type, payload)).catch(() => {});
    return this.inbox;
  }

  async apply(type, payload) {
    if (this.closed || !payload) return;
    const pc = this.pc;
    if (type === 'ice_candidate') {
      try {
        await pc.addIceCandidate(payload.candidate);
      } catch {
        // candidates of an ignored offer are expected to fail
      }
      return;
    }
    const description = payload.description;
    if (!description) return;
    const collision = description.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    await pc.setRemoteDescription(description);
    if (description.type === 'offer') {
      if (this.beforeAnswer) await this.beforeAnswer(pc);
      await pc.setLocalDescription();
      this.send('answer', { description: pc.localDescription.toJSON() });
    }
  }

  post(message) {
    if (this.channel.readyState === 'open') {
      try { this.channel.send(JSON.stringify(message)); } catch { /* closing */ }
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try { this.pc.close(); } catch { /* already closed */ }
    if (registry.get(this.key) === this) registry.delete(this.key);
  }
}

/** Inbound and outbound RTP totals of every live peer, for diagnostics and tests. */
export async function stats() {
  const out = {};
  for (const [key, peer] of registry) {
    const report = await peer.pc.getStats();
    const entry = {
      state: peer.pc.connectionState, audioIn: 0, videoIn: 0, framesDecoded: 0, connectedMs: peer.connectedAt ? peer.connectedAt : null,
      // Audio health: samples the jitter buffer had to invent, of all it played, and packets lost.
      samplesConcealed: 0, samplesReceived: 0, packetsLost: 0,
    };
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        entry.audioIn += s.bytesReceived || 0;
        entry.samplesConcealed += s.concealedSamples || 0;
        entry.samplesReceived += s.totalSamplesReceived || 0;
        entry.packetsLost += s.packetsLost || 0;
      }
      if (s.type === 'inbound-rtp' && s.kind === 'video') { entry.videoIn += s.bytesReceived || 0; entry.framesDecoded += s.framesDecoded || 0; }
    });
    entry.signals = counters.get(key) || { sent: 0, received: 0 };
    out[key] = entry;
  }
  return out;
}
