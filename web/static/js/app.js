import { passwordRules } from './rules.js';
export const stub = passwordRules;
