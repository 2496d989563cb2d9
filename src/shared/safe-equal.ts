import { timingSafeEqual } from 'node:crypto';

/**
 * Constant-time comparison of a string someone sent with the expected one. Compares bytes, so a
 * value of the right length in characters but not in bytes (non-ASCII) is a mismatch, where
 * `timingSafeEqual` on the two strings' buffers would throw.
 */
export function safeEqual(sent: string, expected: string): boolean {
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
