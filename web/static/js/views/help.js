// The Help dialog (§16, D25): the wordmark, a focused filter, jump links per section, and key
// tables printed from the same key map the handlers use. It describes only what exists.

import { h } from '../render.js';
import { config } from '../api.js';
import { modal } from './dialog.js';
import { NORMAL_KEYS, VISUAL_KEYS, EDITING_KEYS, CALL_KEYS, MOD } from '../keys.js';

function keyTable(entries) {
  return h('table', { class: 'key-table' }, h('tbody', null, entries.map((e) => h('tr', null,
    h('td', null, e.keys.map((k, i) => [i ? ' or ' : '', h('kbd', null, k)])), h('td', null, e.text)))));
}

function sections(trustVisible) {
  return [
    ['keys', 'Keyboard', [
      h('p', null, 'These keys work when no text field, dialog or popup has focus.'), keyTable(NORMAL_KEYS),
      h('h4', null, 'Visual mode'), keyTable(VISUAL_KEYS),
      h('h4', null, 'Writing'), keyTable(EDITING_KEYS),
      h('p', null, 'In pickers and suggestion lists: ↑/↓ to move, Enter or Tab to choose, Esc to close. In dialogs Tab cycles and Esc closes.')]],
    ['conversations', 'Conversations', [
      h('p', null, 'Public channels are open to everyone. Direct messages are between the people named; start one with New DM (comma-separated names). Close a DM to hide it until someone writes in it.'),
      h('p', null, 'Private channels are invite-only. Their members can rename them, add people (who see history from the moment they join) and leave; nobody removes anyone. Members, Rename and Leave are in the bar under the topbar.')]],
    ['messages', 'Messages and formatting', [
      h('p', null, 'Formatting: **bold**, *italic*, __underline__, ~~strike~~, `code`, and fenced code blocks with ``` and an optional language word (highlighted for Python, JavaScript/TypeScript, C/C++, shell, Makefile, CMake, Groovy, VHDL, Verilog, Java, Go, Rust, XML/HTML and JSON). A backslash keeps a marker literal.'),
      h('p', null, 'Hover, focus or tap a message for its actions: react, reply, pin, and for your own, edit and delete (with a few seconds to undo). A failed send stays with Retry and Discard. Drafts are kept per conversation, also across reloads.')]],
    ['files', 'Files and previews', [
      h('p', null, `Attach with the paper clip, by pasting or by dropping files on the composer. Each file may be up to ${config.max_upload_mb || 25} MB; avatars up to ${config.max_avatar_mb || 5} MB. Images show inline; text and code files show as a code card; other files download under their name. Links get a text-only preview card.`)]],
    ['reactions', 'Reactions and pins', [
      h('p', null, 'The reaction picker searches every reaction by name. Activate a reaction chip to add or remove yours. Pin a message from its toolbar; the Pins button in the topbar lists them (up to 50 per conversation).')]],
    ['search', 'Search and mentions', [
      h('p', null, 'Search by words, sender, conversation and dates; filters work without words. Results open the message in its history. Mentions lists the unread messages that name you or @everyone.')]],
    ['calls', 'Calls and screen sharing', [
      h('p', null, 'Call and Share screen are in the topbar of direct messages and private channels. Calls go browser to browser; more than four people in one call may strain audio. A screen share outside a call can be watched by every member.'),
      keyTable(CALL_KEYS)]],
    ['notifications', 'Notifications', [
      h('p', null, 'Sounds, desktop notifications and muted conversations are in Settings. The tab title, the icon badge and the installed app badge show the same unread total.')]],
    ['status', 'Status dots', [
      h('ul', null,
        h('li', null, h('span', { class: 'presence presence-inline presence-active', 'aria-hidden': 'true' }), ' Filled green: active.'),
        h('li', null, h('span', { class: 'presence presence-inline presence-idle', 'aria-hidden': 'true' }), ' Half amber: away (idle, or the tab is hidden).'),
        h('li', null, h('span', { class: 'presence presence-inline presence-offline', 'aria-hidden': 'true' }), ' Hollow ring: offline.')),
      h('p', null, 'Set your status by hand in Settings → Status.')]],
    ['trust', 'Trusting this server', trustVisible ? [
      h('p', null, 'This server made its own certificate authority. Import it once so browsers trust the connection (needed for the installed app and calls).'),
      h('p', null, h('a', { href: '/ca.pem', download: 'minimost-ca.pem' }, 'Download the certificate (ca.pem)')),
      h('p', null, h('strong', null, 'Chromium: '), 'Settings → Privacy and security → Security → Manage certificates → Authorities → Import, choose the file and tick “Trust this certificate for identifying websites”.'),
      h('p', null, h('strong', null, 'Firefox: '), 'Settings → Privacy & Security → Certificates → View Certificates → Authorities → Import, and tick “Trust this CA to identify websites”.')]
      : [h('p', null, 'This server uses a certificate from your operator; there is nothing to import.')]],
  ];
}

export async function openHelp() {
  // Over plain HTTP MiniMost is behind someone else's TLS (or none), so it has no CA to offer;
  // asking would only log a 404. Over HTTPS the CA is offered unless an operator certificate is
  // configured, in which case /ca.pem answers 404 and the section says there is nothing to do.
  let trustVisible = false;
  if (window.location.protocol === 'https:') {
    try {
      const r = await fetch('/ca.pem', { method: 'HEAD' });
      trustVisible = r.ok;
    } catch {
      trustVisible = false;
    }
  }
  const filter = h('input', { type: 'search', id: 'help-filter', autocomplete: 'off', placeholder: 'Filter help' });
  const none = h('p', { class: 'hint', role: 'status', hidden: true }, 'Nothing in Help matches that.');
  const list = sections(trustVisible);
  const nodes = list.map(([id, title, body]) => h('section', { class: 'help-section', id: `help-${id}`, 'aria-labelledby': `help-${id}-h` },
    h('h3', { id: `help-${id}-h` }, title), ...body));
  const jumps = h('nav', { class: 'help-jumps', 'aria-label': 'Help sections' }, list.map(([id, title]) => h('a', {
    href: `#help-${id}`, onclick: (e) => { e.preventDefault(); document.getElementById(`help-${id}`).scrollIntoView(); },
  }, title)));
  filter.addEventListener('input', () => {
    const term = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const section of nodes) {
      const heading = section.querySelector('h3').textContent.toLowerCase();
      const keepAll = !term || heading.includes(term);
      let any = keepAll;
      for (const child of section.children) {
        if (child.tagName === 'H3') continue;
        if (child.tagName === 'TABLE' || child.tagName === 'UL') {
          for (const row of child.querySelectorAll('tr, li')) {
            const match = keepAll || row.textContent.toLowerCase().includes(term);
            row.hidden = !match;
            any = any || match;
          }
          child.hidden = !keepAll && ![...child.querySelectorAll('tr, li')].some((r) => !r.hidden);
        } else {
          const match = keepAll || child.textContent.toLowerCase().includes(term);
          child.hidden = !match;
          any = any || match;
        }
      }
      section.hidden = !any;
      if (any) shown += 1;
    }
    none.hidden = shown > 0;
  });
  const content = h('div', { class: 'help-body' },
    h('div', { class: 'help-top' }, h('span', { class: 'wordmark-text' }, 'MiniMost'), h('span', { class: 'hint' }, ` · ${MOD} is the modifier key on this computer`)),
    h('div', { class: 'field' }, h('label', { for: 'help-filter' }, 'Filter'), filter), jumps, none, ...nodes);
  return modal({ title: 'Help', content, className: 'dialog-wide', focus: filter });
}
