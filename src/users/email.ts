/**
 * One canonicalisation rule for e-mail addresses, applied at signup, login, reset and in the
 * Management API: trim, Unicode NFC, lower-case; then a strict ASCII grammar. Quoted local
 * parts, comments, groups, control characters, whitespace and non-ASCII characters (dotless ı,
 * Kelvin K, Cyrillic look-alikes, zero-width and bidi controls) are refused, so nothing
 * ambiguous reaches the database or nodemailer's address parser. IDN domains must be given
 * in their punycode (`xn--`) form.
 */
const LOCAL = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function canonicalEmail(input: unknown): string | null {
  if (typeof input !== 'string') return null;
  const trimmed = input.trim();
  // Printable ASCII only, checked BEFORE normalising: NFC folds some non-ASCII characters into
  // ASCII ones (Kelvin sign U+212A → K, Greek varia U+1FEF → `), so checking afterwards let
  // "\u212Aelvin@x" sign in as "kelvin@x" (SECURITY B16, GitHub's 2019 dotless-ı bug class).
  if (/[^\x21-\x7e]/.test(trimmed)) return null;
  const s = trimmed.normalize('NFC').toLowerCase();
  if (s.length < 3 || s.length > 254) return null;
  const at = s.lastIndexOf('@');
  if (at < 1 || s.indexOf('@') !== at) return null;
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  if (local.length > 64 || !LOCAL.test(local)) return null;
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return null;
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return null;
  return s;
}
