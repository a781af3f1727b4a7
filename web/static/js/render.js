// The render layer. Every DOM node is built with createElement/textContent, so user text is
// escaped by construction: nothing here (or anywhere in the client) assigns innerHTML.

/**
 * h('button', { class: 'x', onclick: fn, 'aria-label': 'Close' }, 'text', child, [more])
 * Strings and numbers become text nodes; null/false children and attributes are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'text') {
      el.textContent = value;
    } else if (key === 'hidden' || key === 'disabled' || key === 'checked' || key === 'value') {
      el[key] = value;
    } else if (key === 'href' || key === 'src') {
      el.setAttribute(key, safeUrl(value));
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** Only same-origin paths and http(s) URLs may become link or image targets. */
export function safeUrl(value) {
  const text = String(value);
  if (text.startsWith('/') && !text.startsWith('//')) return text;
  if (text.startsWith('#') || text.startsWith('blob:') || text.startsWith('data:image/')) return text;
  try {
    const url = new URL(text, window.location.href);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.href;
  } catch {
    // fall through
  }
  return '#';
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** A small inline SVG icon drawn from path data (our own, no icon font). */
export function icon(paths, size = 18) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon');
  for (const d of [].concat(paths)) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

export const ICONS = {
  menu: 'M4 6h16M4 12h16M4 18h16',
  search: ['M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14z', 'M16.5 16.5L21 21'],
  settings: ['M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z', 'M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1'],
  help: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M9.5 9.5a2.5 2.5 0 1 1 3.5 2.3c-.7.3-1 .9-1 1.7M12 17h.01'],
  plus: 'M12 5v14M5 12h14',
  close: 'M6 6l12 12M18 6L6 18',
  send: 'M4 12l16-8-6 16-2-7-8-1z',
  attach: 'M16 7l-7.5 7.5a2 2 0 0 0 2.8 2.8L19 9.6a4 4 0 0 0-5.7-5.7L5.6 11.6a6 6 0 0 0 8.5 8.5L20 14',
  reply: 'M10 8L4 13l6 5M4 13h10a6 6 0 0 1 6 6',
  edit: 'M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4',
  trash: 'M5 7h14M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
  smile: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M8.5 14a4.5 4.5 0 0 0 7 0M9 9.5h.01M15 9.5h.01'],
  pin: 'M9 4h6l-1 6 4 3v2H6v-2l4-3-1-6zM12 15v6',
  members: ['M9 11a4 4 0 1 0 0-8a4 4 0 1 0 0 8z', 'M2 21a7 7 0 0 1 14 0M17 11a3 3 0 1 0 0-6M22 21a6 6 0 0 0-4-5.6'],
  at: ['M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8z', 'M16 12v1.5a2.5 2.5 0 0 0 5 0V12a9 9 0 1 0-3.5 7.1'],
  logout: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10',
};
