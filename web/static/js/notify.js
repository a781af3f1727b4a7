// Notifications (§14, D8–D10): a chime synthesised with Web Audio (no sound files), desktop
// notifications asked for only on the user's choice, and one unread total shown alike in the
// title, the favicon badge and the installed app's badge.

const PREFS_KEY = (me) => `minimost:prefs:${me}`;
const DEFAULTS = { sound: true, desktop: false, alertFocused: false, muted: [], enterNewline: false, fontSize: 14, theme: 'system' };

let me = '';
export let prefs = { ...DEFAULTS };
let audio = null;
let lastChime = 0;
let faviconHref = '';
let lastTotal = -1;

export function loadPrefs(user) {
  me = user;
  try {
    prefs = { ...DEFAULTS, ...JSON.parse(localStorage.getItem(PREFS_KEY(me)) || '{}') };
  } catch {
    prefs = { ...DEFAULTS };
  }
  if (prefs.desktop && (!('Notification' in window) || Notification.permission !== 'granted')) prefs.desktop = false;
  return prefs;
}

export function savePrefs(change) {
  Object.assign(prefs, change);
  try {
    localStorage.setItem(PREFS_KEY(me), JSON.stringify(prefs));
  } catch {
    // storage may be unavailable; the preference then lasts for this page only
  }
}

export function isMuted(channel) {
  return prefs.muted.includes(channel);
}

export function setMuted(channel, muted) {
  const next = prefs.muted.filter((c) => c !== channel);
  if (muted) next.push(channel);
  savePrefs({ muted: next });
}

/** A soft two-note chime. Repeats within a second merge into one (§14). */
export function chime() {
  if (!prefs.sound) return;
  const now = Date.now();
  if (now - lastChime < 1000) return;
  lastChime = now;
  try {
    audio = audio || new AudioContext();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    const t = audio.currentTime;
    for (const [freq, offset] of [[880, 0], [1318.5, 0.11]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t + offset);
      gain.gain.exponentialRampToValueAtTime(0.18, t + offset + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + offset + 0.35);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + offset);
      osc.stop(t + offset + 0.4);
    }
  } catch {
    // no audio device or autoplay refused: the visual signals still show
  }
}

/** Asks the browser for desktop permission; resolves to whether it was granted (D8). */
export async function enableDesktop() {
  if (!('Notification' in window)) return 'unsupported';
  const result = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
  savePrefs({ desktop: result === 'granted' });
  return result;
}

/** Shows a desktop notification; a click focuses the app and runs onClick. */
export function desktop(title, body, onClick, tag) {
  if (!prefs.desktop || !('Notification' in window) || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag, icon: faviconHref || undefined });
    n.onclick = () => { window.focus(); n.close(); if (onClick) onClick(); };
  } catch {
    // some platforms only allow notifications from a service worker; the sound still plays
  }
}

/** One total everywhere (D9): the title, the favicon badge, and the app badge. */
export function showTotal(total) {
  document.title = total ? `(${total}) MiniMost` : 'MiniMost';
  if (total === lastTotal) return;
  lastTotal = total;
  // Badges are redrawn at most twice a second: a burst of messages changes the count many times.
  clearTimeout(badgeTimer);
  badgeTimer = setTimeout(() => {
    if ('setAppBadge' in navigator) {
      (lastTotal ? navigator.setAppBadge(lastTotal) : navigator.clearAppBadge()).catch(() => {});
    }
    drawFavicon(lastTotal);
  }, 500);
}
let badgeTimer = null;

// The favicon badge (D9): steady while MiniMost is in front; in the background it blinks gently
// (full ↔ faded, never gone) so the count is noticed, except with prefers-reduced-motion, where it
// stays steady. The link's data-badge says which ("none", "steady", "blinking").
const BLINK_MS = 1200;
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');
let frames = null;           // {total, bright, soft}: data URLs of the badged icon
let blinkTimer = null;
let blinkBright = true;

function favicon() {
  const link = document.getElementById('favicon');
  if (link && !faviconHref) faviconHref = link.getAttribute('href');
  return link;
}

function setIcon(href, type) {
  const link = favicon();
  if (!link || link.getAttribute('href') === href) return;
  link.setAttribute('type', type);
  link.setAttribute('href', href);
}

function updateBadge() {
  const link = favicon();
  if (!link) return;
  const total = frames ? frames.total : 0;
  const blink = total > 0 && document.visibilityState === 'hidden' && !reducedMotion.matches;
  link.dataset.badge = !total ? 'none' : blink ? 'blinking' : 'steady';
  if (!blink) {
    clearInterval(blinkTimer);
    blinkTimer = null;
    blinkBright = true;
  } else if (!blinkTimer) {
    blinkTimer = setInterval(() => {
      blinkBright = !blinkBright;
      if (frames) setIcon(blinkBright ? frames.bright : frames.soft, 'image/png');
    }, BLINK_MS);
  }
  if (!total) setIcon(faviconHref, 'image/svg+xml');
  else if (!blink || blinkBright) setIcon(frames.bright, 'image/png');
}

document.addEventListener('visibilitychange', updateBadge);
reducedMotion.addEventListener('change', updateBadge);

function drawFavicon(total) {
  if (!favicon()) return;
  if (!total) { frames = null; updateBadge(); return; }
  const img = new Image();
  img.addEventListener('load', () => {
    const draw = (alpha) => {
      const size = 64;
      const canvas = document.createElement('canvas');
      canvas.width = size;
      canvas.height = size;
      const ctx = canvas.getContext('2d');
      if (!ctx) return null;
      ctx.drawImage(img, 0, 0, size, size);
      // A red disc with the count, readable at 16 px; the faded frame only lowers its opacity.
      ctx.globalAlpha = alpha;
      ctx.fillStyle = '#d93025';
      ctx.beginPath();
      ctx.arc(size - 20, 20, 20, 0, Math.PI * 2);
      ctx.fill();
      ctx.fillStyle = '#ffffff';
      ctx.font = 'bold 28px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(total > 99 ? '99' : String(total), size - 20, 21);
      return canvas.toDataURL('image/png');
    };
    const bright = draw(1);
    if (!bright || total !== lastTotal) return;
    frames = { total, bright, soft: draw(0.45) };
    updateBadge();
  }, { once: true });
  img.src = faviconHref;
}
