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

function drawFavicon(total) {
  const link = document.getElementById('favicon');
  if (!link) return;
  if (!faviconHref) faviconHref = link.getAttribute('href');
  if (!total) {
    link.setAttribute('type', 'image/svg+xml');
    link.setAttribute('href', faviconHref);
    return;
  }
  const img = new Image();
  img.addEventListener('load', () => {
    const size = 64;
    const canvas = document.createElement('canvas');
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.drawImage(img, 0, 0, size, size);
    // A steady badge (no blinking): a red disc with the count, readable at 16 px.
    ctx.fillStyle = '#d93025';
    ctx.beginPath();
    ctx.arc(size - 20, 20, 20, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = '#ffffff';
    ctx.font = 'bold 28px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(total > 99 ? '99' : String(total), size - 20, 21);
    link.setAttribute('type', 'image/png');
    link.setAttribute('href', canvas.toDataURL('image/png'));
  }, { once: true });
  img.src = faviconHref;
}
