// Link preview cards and text-file code cards (§7, D12, D15). Nothing is fetched per row up
// front: a slot is filled only when it comes near the viewport, and each URL or file is asked for
// once per session. Cards are text-only (the CSP forbids cross-origin images, D15).

import { h } from '../render.js';
import { get } from '../api.js';
import { highlight, languageOf } from '../highlight.js';

const cache = new Map();   // key → Promise<object|null>
let observer = null;
let onGrow = () => {};

/** Called after a card changes a row's height, so the list can keep its bottom (§5). */
export function setGrowHandler(fn) {
  onGrow = fn;
}

function once(key, load) {
  if (!cache.has(key)) cache.set(key, load().catch(() => null));
  return cache.get(key);
}

function ensureObserver(root) {
  if (observer) return observer;
  observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      fill(entry.target);
    }
  }, { root, rootMargin: '300px 0px' });
  return observer;
}

/** Watches the unfilled preview slots of the rendered rows. */
export function observePreviews(root) {
  const io = ensureObserver(root);
  for (const slot of root.querySelectorAll('.link-preview-slot:not([data-filled]), .file-preview-slot:not([data-filled])')) {
    io.observe(slot);
  }
}

async function fill(slot) {
  slot.dataset.filled = '1';
  let card = null;
  if (slot.classList.contains('link-preview-slot')) {
    const url = slot.dataset.url;
    const data = await once(`link:${url}`, () => get(`/link_preview?url=${encodeURIComponent(url)}`));
    card = data && data.type === 'og' ? ogCard(data) : data && data.type === 'code' ? codeCard(data, true) : null;
  } else {
    const file = slot.dataset.file;
    const data = await once(`file:${file}`, () => get(`/file_preview/${encodeURIComponent(file)}`));
    if (data && data.type === 'code') {
      const download = slot.querySelector('.file-chip');
      card = codeCard(data, false, download);
    }
  }
  if (card && slot.isConnected) {
    slot.replaceChildren(card);
    onGrow();
  }
}

function ogCard(data) {
  return h('div', { class: 'og-card' },
    h('div', { class: 'og-domain' }, data.domain || ''),
    h('a', { class: 'og-title', href: data.url, target: '_blank', rel: 'noopener noreferrer' }, data.title || data.url),
    data.description ? h('p', { class: 'og-desc' }, data.description) : null);
}

/**
 * A code card: path, numbered highlighted lines, and a link (link previews) or the download chip
 * (uploads) in its header. A highlighted range (Bitbucket "#lines-N:M") is marked and centred.
 */
export function codeCard(data, isLink, download = null) {
  const first = data.first_line_num || 1;
  const lines = (data.code || '').split('\n');
  const numbers = lines.map((_, i) => first + i).join('\n');
  const start = data.highlight_start;
  const end = data.highlight_end || start;
  const lang = languageOf(data.language || data.filename || '');
  const code = h('code', null, highlight(data.code || '', lang));
  const body = h('div', { class: 'code-card-body', tabindex: '0', 'aria-label': `Code from ${data.filepath || data.filename}` },
    h('pre', { class: 'code-gutter', 'aria-hidden': 'true' }, numbers), h('pre', { class: 'code-lines' }, code));
  let rangeText = null;
  if (start) {
    const mark = h('div', { class: 'code-mark', 'aria-hidden': 'true' });
    mark.style.setProperty('--mark-top', String(start - first));
    mark.style.setProperty('--mark-lines', String(end - start + 1));
    body.append(mark);
    rangeText = end > start ? `lines ${start}–${end}` : `line ${start}`;
    requestAnimationFrame(() => {
      const lineHeight = mark.offsetHeight / (end - start + 1) || 18;
      body.scrollTop = Math.max(0, mark.offsetTop - body.clientHeight / 2 + (lineHeight * (end - start + 1)) / 2);
    });
  }
  const head = h('div', { class: 'code-card-head' },
    h('span', { class: 'code-path' }, data.filepath || data.filename || ''),
    rangeText ? h('span', { class: 'code-range' }, rangeText) : null,
    data.total_lines && data.total_lines > lines.length ? h('span', { class: 'code-range' }, `${lines.length} of ${data.total_lines} lines`) : null,
    h('span', { class: 'spacer' }),
    isLink ? h('a', { href: data.url, target: '_blank', rel: 'noopener noreferrer' }, 'Open') : download);
  return h('div', { class: 'code-card' }, head, body);
}

const PREVIEW_EXT = new Set('c cc cpp cxx h hpp py pyw js mjs cjs jsx ts tsx java kt scala rs go rb php pl lua sh bash zsh fish cmake mk make groovy gradle vhd vhdl v vh sv svh xml xsl xslt xsd svg html htm css scss sass less json yaml yml toml ini cfg conf txt md rst csv sql r swift m ex exs erl tf hcl proto'.split(' '));
const PREVIEW_NAMES = new Set('dockerfile makefile cmakelists.txt gemfile rakefile vagrantfile procfile brewfile .env requirements.txt'.split(' '));

/** api.md Appendix B: whether a display name is a previewable text file. */
export function isPreviewable(name) {
  const lower = name.toLowerCase();
  if (PREVIEW_NAMES.has(lower) || lower.startsWith('jenkinsfile')) return true;
  const dot = lower.lastIndexOf('.');
  return dot > 0 && PREVIEW_EXT.has(lower.slice(dot + 1));
}

/** A file chip, wrapped in a lazily filled code card when the file is previewable. */
export function filePreview(filename, name, chip) {
  if (!isPreviewable(name)) return chip;
  return h('div', { class: 'file-preview-slot', dataset: { file: filename } }, chip);
}
