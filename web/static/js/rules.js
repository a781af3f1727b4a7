// Client-side mirrors of the server's account rules (api.md §6.1.4, §6.1.5), for live hints only:
// the server stays the judge.

export const MIN_PASSWORD_LENGTH = 15;
const SPECIAL = new Set('!@#$%^&*()_+-=[]{};\':"\\|,.<>/?`~');

/** Which password rules `value` meets, keyed like the checklist's `data-rule`. */
export function passwordRules(value) {
  const chars = [...value];
  return {
    length: chars.length >= MIN_PASSWORD_LENGTH && chars.length <= 1024,
    upper: /[A-Z]/.test(value),
    lower: /[a-z]/.test(value),
    digit: /\p{Nd}/u.test(value),
    special: chars.some((c) => SPECIAL.has(c)),
  };
}

/** A sentence describing what is wrong with a username, or '' when it is acceptable so far. */
export function usernameProblem(raw) {
  const value = raw.trim();
  const bad = [...new Set([...value].filter((c) => !/[A-Za-z0-9_-]/.test(c)))];
  if (bad.length) {
    const shown = bad.map((c) => (c === ' ' ? 'space' : `“${c}”`)).join(', ');
    return `Not allowed: ${shown}. Use letters, numbers, hyphens and underscores.`;
  }
  if ([...value].length > 32) return 'At most 32 characters.';
  if (['minimost', 'everyone', 'deleteduser', 'system'].includes(value.toLowerCase())) {
    return `“${value}” is a protected username.`;
  }
  return '';
}
