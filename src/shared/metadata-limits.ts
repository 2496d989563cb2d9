/**
 * A user's app_metadata or user_metadata as a whole, as JSON: at most this many bytes (Auth0's
 * limit). The store refuses a merge past it (users.ts), the Actions engine a call that would
 * take it past (engine.ts), and the sandbox's runner does not show such a call to later actions.
 */
export const METADATA_MAX_BYTES = 16 * 1024;

/**
 * Sets `md[k]` (null deletes) unless that takes the object past METADATA_MAX_BYTES as JSON:
 * false then, and `md` is as it was. `k` must be a name already checked (no prototype's).
 */
export function setWithinCap(md: Record<string, unknown>, k: string, v: unknown): boolean {
  if (v === null) { delete md[k]; return true; }
  const had = Object.hasOwn(md, k);
  const before = md[k];
  md[k] = v;
  if (Buffer.byteLength(JSON.stringify(md)) <= METADATA_MAX_BYTES) return true;
  if (had) md[k] = before; else delete md[k];
  return false;
}
