import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/*
 * The bundled list (`common-passwords.txt`, one per line, ~830 entries) is written for this
 * project from the most frequent entries of the public breached/common password rankings
 * (the top of the RockYou-derived lists such as SecLists' "10-million-password-list-top-1000",
 * the NCSC "100k most used" list, and yearly "worst passwords" rankings), plus the common
 * keyboard walks, years, seasons and `password`/`welcome`/`admin` variants that these lists
 * are full of. No list package is installed; a larger one (~10k entries) can replace the
 * file without code changes. Comparison is case-insensitive, on the NFC form, so
 * `Password1` and `PASSWORD1` are refused like `password1` (ASVS 5 6.2.4, NIST 800-63B
 * §5.1.1.2 "passwords obtained from previous breach corpuses, dictionary words").
 */
let list: Set<string> | undefined;

function load(): Set<string> {
  const text = readFileSync(join(import.meta.dirname, 'common-passwords.txt'), 'utf8');
  return new Set(text.split('\n').map((l) => l.trim().normalize('NFC').toLowerCase()).filter(Boolean));
}

/** True when `password` is on the bundled list of common passwords (loaded once, on first use). */
export function isCommonPassword(password: string): boolean {
  list ??= load();
  return list.has(password.normalize('NFC').toLowerCase());
}

/** How many entries the list has (for docs and tests). */
export function commonPasswordCount(): number {
  list ??= load();
  return list.size;
}
