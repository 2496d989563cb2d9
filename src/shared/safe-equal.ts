import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time comparison of a string someone sent with the expected one, by their SHA-256
 * digests: lengths do not show, and a value of the right length in characters but not in bytes
 * (non-ASCII) is a mismatch, where `timingSafeEqual` on the two strings' own bytes would throw.
 */
export function safeEqual(sent: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(sent).digest(), createHash('sha256').update(expected).digest());
}
