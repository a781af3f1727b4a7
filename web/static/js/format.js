// Message formatting (web-client.md §6, D5): parsed, not pattern-replaced. Nothing applies inside
// code; markers inside words stay literal; `\` escapes a marker; mentions and links are found only
// in plain text. Output is DOM nodes, so user text is never interpreted as HTML.

import { h } from './render.js';
import { highlight, languageOf } from './highlight.js';

const MARKERS = [
  ['**', 'strong', true],
  ['__', 'u', true],
  ['~~', 's', true],
  ['*', 'em', false],
];
const ESCAPABLE = '\\*_~`@';
const WORD = /[\p{L}\p{N}_]/u;
// api.md §4.5: `@` not preceded by a word character, `@` or `/`.
const MENTION = /(^|[^\p{L}\p{N}_@/])@([A-Za-z0-9_-]+)/gu;
const URL_START = /(^|[^\p{L}\p{N}_])(https?:\/\/|www\.)/giu;

/** Renders message text to a DocumentFragment. ctx: {me, isUser(name) → registered spelling|null}. */
export function formatMessage(text, ctx) {
  const fragment = document.createDocumentFragment();
  for (const part of splitFences(text)) {
    if (part.code !== undefined) fragment.append(codeBlock(part.code, part.lang));
    else if (part.text) fragment.append(...parseInline(part.text, ctx));
  }
  return fragment;
}

/** Splits ``` fenced blocks (optional language word) from the surrounding text. */
export function splitFences(text) {
  const parts = [];
  const lines = text.split('\n');
  let plain = [];
  let i = 0;
  while (i < lines.length) {
    const open = /^```\s*([\w+#.-]*)\s*$/.exec(lines[i]);
    if (open) {
      const close = lines.findIndex((line, k) => k > i && /^```\s*$/.test(line));
      if (close !== -1) {
        if (plain.length) parts.push({ text: plain.join('\n') });
        plain = [];
        parts.push({ code: lines.slice(i + 1, close).join('\n'), lang: open[1].toLowerCase() });
        i = close + 1;
        continue;
      }
    }
    plain.push(lines[i]);
    i += 1;
  }
  if (plain.length) parts.push({ text: plain.join('\n') });
  return parts;
}

function codeBlock(code, lang) {
  const copy = h('button', { type: 'button', class: 'code-copy' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(code);
      copy.textContent = 'Copied';
    } catch {
      copy.textContent = 'Copy failed';
    }
    setTimeout(() => { copy.textContent = 'Copy'; }, 1500);
  });
  return h('div', { class: 'code-block' },
    h('div', { class: 'code-head' }, h('span', { class: 'code-lang' }, lang || 'text'), copy),
    h('pre', { tabindex: '0', 'aria-label': `${lang || 'text'} code` }, h('code', null, languageOf(lang) ? highlight(code, lang) : code)));
}

function isWord(ch) {
  return ch !== undefined && WORD.test(ch);
}

function isSpace(ch) {
  return ch === undefined || /\s/.test(ch);
}

/** Index of the backtick closing an inline code span opened at `i`, or -1. */
function codeEnd(s, i) {
  const end = s.indexOf('`', i + 1);
  if (end <= i + 1 || s.slice(i + 1, end).includes('\n')) return -1;
  return end;
}

function findCloser(s, from, marker, multiline) {
  let j = from;
  while (j < s.length) {
    const ch = s[j];
    if (ch === '\\') { j += 2; continue; }
    if (ch === '`') {
      const end = codeEnd(s, j);
      if (end !== -1) { j = end + 1; continue; }
    }
    if (ch === '\n' && !multiline) return -1;
    if (s.startsWith(marker, j) && !isSpace(s[j - 1]) && !isWord(s[j + marker.length])) {
      if (marker === '*' && s[j + 1] === '*') { j += 2; continue; }
      return j;
    }
    j += 1;
  }
  return -1;
}

export function parseInline(s, ctx) {
  const out = [];
  let buf = '';
  const flush = () => {
    if (buf) out.push(...decorate(buf, ctx));
    buf = '';
  };
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch === '\\' && ESCAPABLE.includes(s[i + 1] || '')) {
      flush();
      out.push(document.createTextNode(s[i + 1]));
      i += 2;
      continue;
    }
    if (ch === '`') {
      const end = codeEnd(s, i);
      if (end !== -1) {
        flush();
        out.push(h('code', { class: 'inline-code' }, s.slice(i + 1, end)));
        i = end + 1;
        continue;
      }
    }
    let matched = false;
    if (!isWord(s[i - 1])) {
      for (const [marker, tag, multiline] of MARKERS) {
        if (!s.startsWith(marker, i) || isSpace(s[i + marker.length])) continue;
        const close = findCloser(s, i + marker.length, marker, multiline);
        if (close === -1) continue;
        const inner = s.slice(i + marker.length, close);
        // Python-style dunder names (`__init__`) are identifiers, not underlined words.
        if (marker === '__' && /^[a-z0-9_]+$/.test(inner)) continue;
        flush();
        out.push(h(tag, null, parseInline(inner, ctx)));
        i = close + marker.length;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    buf += ch;
    i += 1;
  }
  flush();
  return out;
}

/** Plain text → text nodes, links and mention pills. */
function decorate(text, ctx) {
  const nodes = [];
  let last = 0;
  for (const item of findSpecials(text, ctx)) {
    if (item.start > last) nodes.push(document.createTextNode(text.slice(last, item.start)));
    nodes.push(item.node);
    last = item.end;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function findSpecials(text, ctx) {
  const found = [];
  for (const m of text.matchAll(URL_START)) {
    const start = m.index + m[1].length;
    let end = start;
    while (end < text.length && !/[\s<>"]/.test(text[end])) end += 1;
    end = trimUrlEnd(text, start, end);
    const raw = text.slice(start, end);
    if (raw.length <= m[2].length) continue;
    const href = raw.toLowerCase().startsWith('www.') ? `https://${raw}` : raw;
    found.push({
      start,
      end,
      node: h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, raw),
    });
  }
  for (const m of text.matchAll(MENTION)) {
    const start = m.index + m[1].length;
    const end = start + 1 + m[2].length;
    if (found.some((f) => start < f.end && end > f.start)) continue;
    const name = m[2];
    const everyone = name.toLowerCase() === 'everyone';
    const known = everyone ? 'everyone' : ctx && ctx.isUser ? ctx.isUser(name) : null;
    if (!known) continue;
    const self = !everyone && ctx && known.toLowerCase() === (ctx.me || '').toLowerCase();
    found.push({
      start,
      end,
      node: h('span', { class: ['mention', (self || everyone) && 'mention-me'], dataset: { user: known } }, `@${everyone ? 'everyone' : known}`),
    });
  }
  return found.sort((a, b) => a.start - b.start);
}

/** Trailing punctuation and unbalanced closing brackets stay outside a link (§6). */
export function trimUrlEnd(text, start, end) {
  let e = end;
  for (;;) {
    const ch = text[e - 1];
    if ('.,;:!?\'"*_~'.includes(ch)) { e -= 1; continue; }
    const pairs = { ')': '(', ']': '[', '}': '{' };
    if (pairs[ch]) {
      const slice = text.slice(start, e);
      const opens = slice.split(pairs[ch]).length - 1;
      const closes = slice.split(ch).length - 1;
      if (closes > opens) { e -= 1; continue; }
    }
    return e;
  }
}

/** Emoji-only messages (skin tones, ZWJ sequences, flags) render larger (§5). */
export function isEmojiOnly(text) {
  const t = text.trim();
  if (!t || t.length > 64) return false;
  return /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\u200d|\ufe0f|\u20e3|\s)+$/u.test(t)
    && /\p{Extended_Pictographic}|\p{Regional_Indicator}/u.test(t);
}

/** One-line plain preview of message text (reply bar, quotes, notifications). */
export function plainPreview(text, max = 120) {
  const flat = (text || '').replace(/```[\s\S]*?```/g, '[code]').replace(/[*_~`]/g, '').replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
