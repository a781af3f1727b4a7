// The composer (§8): Enter sends, Shift+Enter adds a line; staged files; the length counter;
// typing pings at most every 2 s; drafts per conversation (D17); the reply bar.

import { h, clear, icon, ICONS } from '../render.js';
import { state, saveDraft, loadDraft, titleOf } from '../store.js';
import { config } from '../api.js';
import { prefs } from '../notify.js';
import { MOD, IS_MAC } from '../keys.js';
import { mentionSuggest, rank } from './suggest.js';

const MAX = config.max_message_chars || 10000;
let el = {};
let handlers = {};
let channel = null;
let replyTo = null;          // {id, sender, preview}
let files = [];
const stagedByChannel = new Map();
let lastTyping = 0;

export function mountComposer(root, options) {
  handlers = options;
  el.reply = h('div', { class: 'reply-bar', hidden: true });
  el.staged = h('ul', { class: 'staged', hidden: true, 'aria-label': 'Files to send' });
  el.input = h('textarea', { class: 'composer-input', rows: '3', 'aria-label': 'Message', placeholder: 'Message' });
  el.file = h('input', { type: 'file', multiple: true, hidden: true });
  el.attach = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Attach files', title: 'Attach files', onclick: () => el.file.click() }, icon(ICONS.attach));
  el.counter = h('span', { class: 'counter', hidden: true, 'aria-live': 'polite' });
  el.send = h('button', { type: 'submit', class: 'button button-primary send-button', 'aria-label': 'Send' }, icon(ICONS.send, 16), h('span', { class: 'send-text' }, 'Send'));
  el.error = h('div', { class: 'composer-error', role: 'alert', hidden: true });
  const fmt = (label, key, text, marker) => h('button', { type: 'button', class: 'icon-button fmt-button', 'aria-label': `${label} (${MOD}+${key})`, title: `${label} (${MOD}+${key})`, onclick: () => wrap(el.input, marker) }, h('span', { class: `fmt-${text}` }, text));
  el.emoji = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Insert emoji', title: 'Insert emoji', onclick: () => openEmoji() }, icon(ICONS.smile));
  el.code = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Insert code block', title: 'Insert code block', onclick: () => openCodePicker() }, h('span', { class: 'fmt-code' }, '</>'));
  el.form = h('form', { class: 'composer' }, el.reply, el.staged,
    h('div', { class: 'composer-box' }, el.input,
      h('div', { class: 'composer-tools' }, el.attach, el.file,
        fmt('Bold', 'B', 'B', '**'), fmt('Italic', 'I', 'I', '*'), fmt('Underline', 'U', 'U', '__'), fmt('Strikethrough', 'S', 'S', '~~'),
        h('button', { type: 'button', class: 'icon-button fmt-button', 'aria-label': 'Inline code', title: 'Inline code', onclick: () => wrap(el.input, '`') }, h('span', { class: 'fmt-code' }, '`')),
        el.code, el.emoji, h('span', { class: 'spacer' }), el.counter, el.send)),
    el.error);
  root.append(el.form);

  el.form.addEventListener('submit', (event) => { event.preventDefault(); submit(); });
  mentionSuggest(el.input, { members: () => (handlers.members ? handlers.members(channel) : []) });
  el.input.addEventListener('keydown', onKey);
  el.input.addEventListener('input', () => { update(); ping(); persist(); });
  el.input.addEventListener('paste', (event) => {
    const pasted = [...(event.clipboardData?.files || [])];
    if (pasted.length) { event.preventDefault(); stage(pasted); }
  });
  el.file.addEventListener('change', () => { stage([...el.file.files]); el.file.value = ''; });
  el.form.addEventListener('dragover', (event) => { event.preventDefault(); el.form.classList.add('dragging'); });
  el.form.addEventListener('dragleave', () => el.form.classList.remove('dragging'));
  el.form.addEventListener('drop', (event) => {
    event.preventDefault();
    el.form.classList.remove('dragging');
    stage([...(event.dataTransfer?.files || [])]);
  });
  update();
}

export function focusComposer() {
  el.input.focus();
}

/** Switches the composer to a conversation, restoring its draft. */
export function setChannel(id) {
  if (channel) stagedByChannel.set(channel, files);
  channel = id;
  const hidden = id === 'mentions';
  el.form.hidden = hidden;
  if (hidden) return;
  const name = titleOf(id);
  el.input.setAttribute('aria-label', `Message ${name}`);
  el.input.placeholder = `Message ${name}`;
  const draft = loadDraft(id);
  el.input.value = draft ? draft.text || '' : '';
  replyTo = draft ? draft.replyTo || null : null;
  files = stagedByChannel.get(id) || [];
  showError('');
  renderReply();
  renderStaged();
  update();
}

/** Updates the composer's name after a rename, leaving the text alone. */
export function relabel(id) {
  if (id !== channel) return;
  const name = titleOf(id);
  el.input.setAttribute('aria-label', `Message ${name}`);
  el.input.placeholder = `Message ${name}`;
}

function persist() {
  if (channel) saveDraft(channel, el.input.value, replyTo);
}

function onKey(event) {
  const mod = IS_MAC ? event.metaKey : event.ctrlKey;
  if (mod && !event.altKey && FORMAT_KEYS[event.key.toLowerCase()]) {
    event.preventDefault();
    wrap(el.input, FORMAT_KEYS[event.key.toLowerCase()]);
    return;
  }
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && (prefs.enterNewline ? mod : true)) {
    event.preventDefault();
    submit();
  } else if (event.key === 'ArrowUp' && el.input.value === '' && !files.length) {
    if (handlers.editLast()) event.preventDefault();
  } else if (event.key === 'Escape' && replyTo) {
    event.preventDefault();
    setReply(null);
  }
}

function ping() {
  const now = Date.now();
  if (now - lastTyping < 2000 || !el.input.value) return;
  lastTyping = now;
  handlers.typing(channel);
}

function update() {
  const length = [...el.input.value].length;
  const over = length > MAX;
  el.counter.hidden = length < MAX * 0.9;
  el.counter.textContent = `${length} / ${MAX}`;
  el.counter.classList.toggle('over', over);
  const empty = !el.input.value.trim() && !files.length;
  el.send.disabled = over || empty;
}

function stage(list) {
  const limit = (config.max_upload_mb || 25) * 1048576;
  for (const file of list) {
    if (file.size > limit) {
      showError(`${file.name} is larger than the ${config.max_upload_mb || 25} MB upload limit.`);
      continue;
    }
    files.push(file);
  }
  renderStaged();
  update();
}

function renderStaged() {
  clear(el.staged);
  el.staged.hidden = !files.length;
  files.forEach((file, index) => {
    el.staged.append(h('li', { class: 'staged-file' },
      h('span', { class: 'file-name' }, file.name), h('span', { class: 'file-size' }, formatSize(file.size)),
      h('button', { type: 'button', class: 'icon-button small', 'aria-label': `Remove ${file.name}`, onclick: () => { files.splice(index, 1); renderStaged(); update(); } }, icon(ICONS.close, 14))));
  });
  if (files.length) el.staged.append(h('li', { class: 'staged-note' }, 'Attached files are kept while you switch conversations, but not across a reload.'));
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

export function setReply(target) {
  replyTo = target;
  renderReply();
  persist();
  if (target) el.input.focus();
}

function renderReply() {
  clear(el.reply);
  el.reply.hidden = !replyTo;
  if (!replyTo) return;
  el.reply.append(icon(ICONS.reply, 14), h('span', null, 'Replying to ', h('strong', null, replyTo.sender), ': ', replyTo.preview),
    h('button', { type: 'button', class: 'icon-button small', 'aria-label': 'Cancel reply', onclick: () => setReply(null) }, icon(ICONS.close, 14)));
}

export function showError(message) {
  el.error.hidden = !message;
  el.error.textContent = message;
}

function submit() {
  const text = el.input.value.replace(/\s+$/, '');
  if ((!text.trim() && !files.length) || [...text].length > MAX) return;
  const outgoing = { channel, text, files: files.slice(), replyTo };
  el.input.value = '';
  files = [];
  replyTo = null;
  saveDraft(channel, '', null);
  renderStaged();
  renderReply();
  update();
  showError('');
  handlers.send(outgoing);
}

/**
 * Puts a discarded or cancelled message back in its conversation's composer: the text (before
 * anything typed since), the staged files and the reply target, so nothing is lost.
 */
export function restore(text, { files: back = [], replyTo: target = null, channel: where = channel } = {}) {
  const merge = (typed) => (typed && text ? `${text}\n${typed}` : text || typed || '');
  if (where !== channel) {
    const draft = loadDraft(where);
    saveDraft(where, merge(draft ? draft.text : ''), (draft && draft.replyTo) || target);
    stagedByChannel.set(where, (stagedByChannel.get(where) || []).concat(back));
    return;
  }
  el.input.value = merge(el.input.value);
  files = files.concat(back);
  if (target && !replyTo) replyTo = target;
  renderStaged();
  renderReply();
  update();
  persist();
}

const FORMAT_KEYS = { b: '**', i: '*', u: '__', s: '~~' };

/** Wraps the selection in `marker`, or inserts an empty pair with the caret inside (§8). */
export function wrap(area, marker) {
  const { selectionStart: a, selectionEnd: b, value } = area;
  const chosen = value.slice(a, b);
  area.setRangeText(`${marker}${chosen}${marker}`, a, b, 'select');
  if (chosen) area.setSelectionRange(a + marker.length, b + marker.length);
  else area.setSelectionRange(a + marker.length, a + marker.length);
  area.focus();
  area.dispatchEvent(new Event('input'));
}

async function openEmoji() {
  const { openPicker } = await import('./picker.js');
  const { EMOJI } = await import('../emoji.js');
  openPicker({
    anchor: el.emoji,
    keepOpen: true,
    title: 'Insert emoji',
    onPick: (name) => {
      const area = el.input;
      area.setRangeText(EMOJI[name], area.selectionStart, area.selectionEnd, 'end');
      area.dispatchEvent(new Event('input'));
    },
  });
}

const CODE_LANGS = [['Plain text', ''], ['Python', 'python'], ['JavaScript', 'javascript'], ['TypeScript', 'typescript'], ['C', 'c'], ['C++', 'cpp'], ['Java', 'java'], ['Go', 'go'], ['Rust', 'rust'], ['Bash/Shell', 'bash'], ['Makefile', 'makefile'], ['CMake', 'cmake'], ['Groovy', 'groovy'], ['VHDL', 'vhdl'], ['Verilog', 'verilog'], ['HTML', 'html'], ['XML', 'xml'], ['JSON', 'json']];

/** The code picker: a fuzzy search over the languages; fences the selection on its own lines. */
function openCodePicker() {
  const area = el.input;
  const start = area.selectionStart;
  const end = area.selectionEnd;
  const search = h('input', { type: 'search', class: 'picker-search', 'aria-label': 'Code language', placeholder: 'Language', role: 'combobox', 'aria-expanded': 'true', 'aria-controls': 'code-langs', autocomplete: 'off' });
  const list = h('ul', { class: 'suggest-list code-langs', id: 'code-langs', role: 'listbox', 'aria-label': 'Languages' });
  const box = h('div', { class: 'picker code-picker', role: 'dialog', 'aria-label': 'Insert code block' }, search, list);
  let items = CODE_LANGS;
  let active = 0;
  const render = () => {
    const term = search.value.trim();
    items = term ? rank(CODE_LANGS.map(([n]) => n), term, 20).map((x) => CODE_LANGS.find(([n]) => n === x.name)) : CODE_LANGS;
    active = Math.min(active, Math.max(0, items.length - 1));
    list.replaceChildren(...items.map(([name], i) => h('li', { role: 'option', id: `code-lang-${i}`, class: ['suggest-item', i === active && 'is-active'], 'aria-selected': String(i === active), onmousedown: (e) => { e.preventDefault(); pick(i); } }, name)));
    if (items.length) search.setAttribute('aria-activedescendant', `code-lang-${active}`);
  };
  const close = () => { box.remove(); document.removeEventListener('pointerdown', outside, true); };
  const outside = (e) => { if (!box.contains(e.target)) close(); };
  const pick = (i) => {
    const [, word] = items[i] || CODE_LANGS[0];
    close();
    const value = area.value;
    const chosen = value.slice(start, end);
    const before = start > 0 && value[start - 1] !== '\n' ? '\n' : '';
    const after = end < value.length && value[end] !== '\n' ? '\n' : '';
    const text = `${before}\`\`\`${word}\n${chosen}\n\`\`\`${after}`;
    area.setRangeText(text, start, end, 'end');
    const caret = start + before.length + 3 + word.length + 1 + chosen.length;
    area.focus();
    area.setSelectionRange(caret, caret);
    area.dispatchEvent(new Event('input'));
  };
  search.addEventListener('input', () => { active = 0; render(); });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') { e.preventDefault(); active = (active + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % Math.max(1, items.length); render(); }
    else if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); if (items.length) pick(active); }
    else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); close(); area.focus(); }
  });
  document.addEventListener('pointerdown', outside, true);
  el.form.append(box);
  render();
  search.focus();
}

/** Re-reads preferences that change how the composer behaves (Settings → Messages). */
export function composerHint() {
  el.input.setAttribute('aria-keyshortcuts', prefs.enterNewline ? `${MOD}+Enter` : 'Enter');
}
