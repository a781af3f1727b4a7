// Call media (§15): the microphone (asked first), the camera and the screen, a level meter and
// voice activity read from AnalyserNodes, and every call cue synthesised with Web Audio (N6),
// silent when the sound toggle is off (D10).

import { prefs } from '../notify.js';

let audio = null;

function context() {
  if (!audio) audio = new AudioContext();
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  return audio;
}

/** Whether this page may capture at all: calls need a secure context (HTTPS or loopback). */
export function captureSupported() {
  return window.isSecureContext && Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}

export function displaySupported() {
  return window.isSecureContext && Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
}

/** The microphone, or null (listen-only) when there is none or it was refused. */
export async function microphone(deviceId = null) {
  if (!captureSupported()) return null;
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { deviceId: deviceId ? { exact: deviceId } : undefined, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
  } catch {
    return null;
  }
}

export async function camera(deviceId = null) {
  return navigator.mediaDevices.getUserMedia({
    audio: false,
    video: { deviceId: deviceId ? { exact: deviceId } : undefined, width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24 } },
  });
}

/**
 * The browser's screen picker. In a call: video only, tuned for legible text (low frame rate, up
 * to 2560×1440); standalone shares may carry tab or system audio where offered.
 */
export async function screen({ withAudio = false } = {}) {
  const stream = await navigator.mediaDevices.getDisplayMedia({
    video: { frameRate: { ideal: 5, max: 15 }, width: { max: 2560 }, height: { max: 1440 } },
    audio: withAudio,
  });
  for (const track of stream.getVideoTracks()) {
    if ('contentHint' in track) track.contentHint = 'text';
  }
  return stream;
}

export async function devices(kind) {
  try {
    return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind);
  } catch {
    return [];
  }
}

/** A level probe on a stream's audio: level() is 0..1. */
export function levelProbe(stream) {
  if (!stream || !stream.getAudioTracks().length) return { level: () => 0, close() {} };
  const ctx = context();
  const source = ctx.createMediaStreamSource(stream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  analyser.smoothingTimeConstant = 0.3;
  source.connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  return {
    level() {
      analyser.getByteTimeDomainData(data);
      let sum = 0;
      for (const v of data) { const x = (v - 128) / 128; sum += x * x; }
      return Math.min(1, Math.sqrt(sum / data.length) * 4);
    },
    close() { try { source.disconnect(); } catch { /* already gone */ } },
  };
}

// ---------- cues ----------

function tone(freqs, start, length, gainValue = 0.12, type = 'sine') {
  const ctx = context();
  const t = ctx.currentTime + start;
  for (const freq of freqs) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = type;
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(gainValue, t + 0.02);
    gain.gain.setValueAtTime(gainValue, t + Math.max(0.03, length - 0.05));
    gain.gain.exponentialRampToValueAtTime(0.0001, t + length);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + length + 0.02);
  }
}

function play(fn) {
  if (!prefs.sound) return;
  try { fn(); } catch { /* no audio device: the visual signals still show */ }
}

const CUES = {
  answered: () => { tone([660], 0, 0.12); tone([990], 0.13, 0.18); },
  hangup: () => { tone([520], 0, 0.14); tone([390], 0.15, 0.22); },
  left: () => { tone([700], 0, 0.1, 0.08); tone([500], 0.11, 0.14, 0.08); },
  joined: () => { tone([500], 0, 0.1, 0.08); tone([700], 0.11, 0.14, 0.08); },
};

export function cue(name) {
  play(CUES[name]);
}

/** A looping tone: 'ring' (incoming) or 'ringback' (outgoing). stop() ends it. */
export function loop(kind) {
  let timer = null;
  const once = kind === 'ring'
    ? () => { tone([784, 988], 0, 0.35, 0.09); tone([784, 988], 0.45, 0.35, 0.09); }
    : () => tone([440, 480], 0, 1.2, 0.05);
  const period = kind === 'ring' ? 2500 : 3500;
  const beat = () => play(once);
  beat();
  timer = setInterval(beat, period);
  return { stop() { clearInterval(timer); } };
}
