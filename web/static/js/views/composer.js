// The composer (§8): Enter sends, Shift+Enter adds a line; staged files; the length counter;
// typing pings at most every 2 s; drafts per conversation (D17); the reply bar.

import { h, clear, icon, ICONS } from '../render.js';
import { state, saveDraft, loadDraft, titleOf } from '../store.js';
import { config } from '../api.js';

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
  el.form = h('form', { class: 'composer' }, el.reply, el.staged,
    h('div', { class: 'composer-box' }, el.input,
      h('div', { class: 'composer-tools' }, el.attach, el.file, h('span', { class: 'spacer' }), el.counter, el.send)),
    el.error);
  root.append(el.form);

  el.form.addEventListener('submit', (event) => { event.preventDefault(); submit(); });
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

function persist() {
  if (channel) saveDraft(channel, el.input.value, replyTo);
}

function onKey(event) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
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

/** Puts a failed message's text back when the user chooses Retry's alternative (kept text). */
export function restore(text) {
  el.input.value = text;
  update();
  persist();
}
