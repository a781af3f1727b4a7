// The key map (§16): one table that the keyboard handler dispatches from and the Help dialog
// prints, so Help describes exactly the keys that work (D25).

export const IS_MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent || '');
export const MOD = IS_MAC ? 'Cmd' : 'Ctrl';

/** Normal mode: focus not in a text field, no dialog or popup open (D2). */
export const NORMAL_KEYS = [
  { keys: ['i'], action: 'focus', text: 'Focus the composer and go to the bottom' },
  { keys: ['o'], action: 'newDm', text: 'Start a direct message' },
  { keys: ['/', 'f'], action: 'search', text: 'Open search, cleared' },
  { keys: ['v'], action: 'visual', text: 'Enter visual mode to act on messages' },
  { keys: ['?'], action: 'help', text: 'Open this help' },
  { keys: ['j'], action: 'down', text: 'Scroll down a little' },
  { keys: ['k'], action: 'up', text: 'Scroll up a little' },
  { keys: ['d'], action: 'halfDown', text: 'Scroll down half a screen' },
  { keys: ['u'], action: 'halfUp', text: 'Scroll up half a screen' },
  { keys: ['G'], action: 'bottom', text: 'Go to the newest message' },
  { keys: ['g g'], action: 'top', text: 'Go to the top of the loaded history (second g within half a second)' },
  { keys: [`${MOD}+J`], action: 'nextEntry', text: 'Next sidebar entry (wraps)' },
  { keys: [`${MOD}+K`], action: 'prevEntry', text: 'Previous sidebar entry (wraps)' },
  { keys: ['Esc'], action: 'escape', text: 'Close the innermost popup, else leave visual mode or the field' },
];

/** Visual mode: a "VISUAL" tag in the topbar, the selected message outlined. */
export const VISUAL_KEYS = [
  { keys: ['j', '↓'], action: 'newer', text: 'Select the newer message' },
  { keys: ['k', '↑'], action: 'older', text: 'Select the older message' },
  { keys: ['c'], action: 'edit', text: 'Edit (your own messages)' },
  { keys: ['d'], action: 'delete', text: 'Delete, with Undo (your own messages)' },
  { keys: ['o'], action: 'reply', text: 'Reply' },
  { keys: ['y'], action: 'copy', text: 'Copy the raw text' },
  { keys: ['e'], action: 'react', text: 'Add a reaction' },
  { keys: ['p'], action: 'pin', text: 'Pin or unpin, staying in visual mode' },
  { keys: ['Esc'], action: 'leave', text: 'Leave visual mode' },
];

export const EDITING_KEYS = [
  { keys: ['Enter'], text: 'Send (or add a line, if set in Settings)' },
  { keys: ['Shift+Enter'], text: 'Add a line' },
  { keys: [`${MOD}+Enter`], text: 'Send when Enter adds a line; save an edit' },
  { keys: [`${MOD}+B`, `${MOD}+I`, `${MOD}+U`, `${MOD}+S`], text: 'Bold, italic, underline, strike the selection' },
  { keys: ['↑'], text: 'In an empty composer: edit your newest message' },
  { keys: ['@'], text: 'Mention someone: ↑/↓, Enter or Tab inserts, Esc closes' },
];

const LOOKUP = new Map();
for (const entry of NORMAL_KEYS) for (const k of entry.keys) LOOKUP.set(k, entry.action);
const VLOOKUP = new Map();
for (const entry of VISUAL_KEYS) for (const k of entry.keys) VLOOKUP.set(k === '↓' ? 'ArrowDown' : k === '↑' ? 'ArrowUp' : k === 'Esc' ? 'Escape' : k, entry.action);

/** The normal-mode action for a key event, or null. */
export function normalAction(event, lastG) {
  if ((event.ctrlKey || event.metaKey) && !event.altKey) {
    const k = event.key.toLowerCase();
    if (k === 'j') return 'nextEntry';
    if (k === 'k') return 'prevEntry';
    return null;
  }
  if (event.altKey || event.ctrlKey || event.metaKey) return null;
  if (event.key === 'g') return lastG ? 'top' : 'gPrefix';
  return LOOKUP.get(event.key) || null;
}

export function visualAction(event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return null;
  return VLOOKUP.get(event.key) || null;
}

/** Keys of the call panel (§15, D29). Letters act while focus is in the panel; the panel's
 * handler maps each `action`, and Help prints this table, so the two cannot drift. */
export const CALL_KEYS = [
  { keys: ['m'], action: 'mute', text: 'Mute or unmute your microphone' },
  { keys: ['c'], action: 'camera', text: 'Turn your camera on or off' },
  { keys: ['s'], action: 'screen', text: 'Share your screen, or stop' },
  { keys: ['a'], action: 'add', text: 'Add a person to the call' },
  { keys: ['v'], action: 'layout', text: 'Cycle the layout: auto, grid, spotlight' },
  { keys: ['f'], action: 'fullscreen', text: 'Fullscreen on or off' },
  { keys: ['Esc'], action: 'minimise', text: 'Minimise or restore the call panel' },
  { keys: ['Alt+Shift+A'], action: 'incoming', text: 'From anywhere: focus the card of a ringing call' },
];
