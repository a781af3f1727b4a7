// Readable name colours (D24, N8). A person's chosen colour is kept as stored; what is displayed
// is that colour nudged lighter (dark scheme) or darker (light scheme), hue and saturation kept,
// until it reaches 4.5:1 against every surface a name sits on in that scheme. Both results go into
// one `light-dark()` value, so a theme switch needs no re-render: the browser picks per element.

import { colorOf } from './store.js';

const TARGET = 4.5;
// The surfaces names appear on: the page, cards and popups, hovered rows, the sidebar.
const SURFACES = ['--bg', '--bg-raised', '--bg-hover', '--bg-sunken'];
const surfaces = { light: null, dark: null };
const cache = new Map();     // stored colour → displayed light-dark() value
let probe = null;

function probeEl() {
  if (!probe || !probe.isConnected) {
    probe = document.createElement('span');
    probe.hidden = true;
    probe.setAttribute('aria-hidden', 'true');
    document.body.append(probe);
  }
  return probe;
}

/** "rgb(1, 2, 3)" / "rgba(…)" / "color(srgb …)" → [r, g, b] in 0–255, or null. */
function parseRgb(text) {
  const m = /rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)/.exec(text);
  if (m) return [Number(m[1]), Number(m[2]), Number(m[3])];
  const c = /color\(srgb\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)/.exec(text);
  return c ? [Number(c[1]) * 255, Number(c[2]) * 255, Number(c[3]) * 255] : null;
}

/** Any CSS colour, resolved by the browser itself (hex, hsl(), names) → [r, g, b]. */
function resolve(color, scheme = 'dark') {
  const el = probeEl();
  el.style.colorScheme = scheme;
  el.style.color = '';
  el.style.color = color;
  return parseRgb(getComputedStyle(el).color);
}

/** The palette's surfaces in one scheme, read from the CSS (the single source of the palette). */
function surfacesOf(scheme) {
  if (!surfaces[scheme]) {
    const el = probeEl();
    el.style.colorScheme = scheme;
    surfaces[scheme] = SURFACES.map((name) => {
      el.style.backgroundColor = `var(${name})`;
      return parseRgb(getComputedStyle(el).backgroundColor);
    }).filter(Boolean);
    el.style.backgroundColor = '';
  }
  return surfaces[scheme];
}

function channel(v) {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

export function luminance([r, g, b]) {
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

function toHsl([r, g, b]) {
  const [R, G, B] = [r / 255, g / 255, b / 255];
  const max = Math.max(R, G, B);
  const min = Math.min(R, G, B);
  const l = (max + min) / 2;
  if (max === min) return [0, 0, l];
  const d = max - min;
  const s = l > 0.5 ? d / (2 - max - min) : d / (max + min);
  let hue;
  if (max === R) hue = (G - B) / d + (G < B ? 6 : 0);
  else if (max === G) hue = (B - R) / d + 2;
  else hue = (R - G) / d + 4;
  return [hue * 60, s, l];
}

function fromHsl([hue, s, l]) {
  const k = (n) => (n + hue / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [f(0), f(8), f(4)].map((v) => Math.round(v * 255));
}

const hex = (rgb) => `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/**
 * The displayed form of `rgb` on `backgrounds`: unchanged when it already reaches the target on
 * all of them, else the closest lightness (towards white on dark, black on light) that does.
 */
export function readableOn(rgb, backgrounds, target = TARGET) {
  const worst = (c) => Math.min(...backgrounds.map((bg) => contrast(c, bg)));
  if (!backgrounds.length || worst(rgb) >= target) return rgb;
  const [hue, s, l] = toHsl(rgb);
  const darkBg = luminance(backgrounds[0]) < 0.2;
  // Binary search between the colour's own lightness and the extreme that surely passes.
  let lo = l;
  let hi = darkBg ? 1 : 0;
  let best = fromHsl([hue, s, hi]);
  for (let i = 0; i < 18; i += 1) {
    const mid = (lo + hi) / 2;
    const candidate = fromHsl([hue, s, mid]);
    if (worst(candidate) >= target + 0.05) { best = candidate; hi = mid; } else lo = mid;
  }
  return best;
}

/** A CSS value for a name in `stored` colour that is readable in both schemes. */
export function displayColor(stored) {
  let value = cache.get(stored);
  if (value) return value;
  const rgb = resolve(stored);
  if (!rgb) return stored;
  const light = hex(readableOn(rgb, surfacesOf('light')));
  const dark = hex(readableOn(rgb, surfacesOf('dark')));
  value = `light-dark(${light}, ${dark})`;
  cache.set(stored, value);
  return value;
}

/** Colours `el`'s text as `name` (§5), adjusted for contrast; `color` overrides the stored one. */
export function paintName(el, name, color = null) {
  const stored = color || colorOf(name);
  el.style.setProperty('--name-color', displayColor(stored));
  el.dataset.nameColor = stored;
  return el;
}
