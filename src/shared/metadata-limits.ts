/**
 * A user's app_metadata or user_metadata as a whole, as JSON: at most this many bytes (Auth0's
 * limit). The store refuses a merge past it (users.ts), the Actions engine a call that would
 * take it past (engine.ts), and the sandbox's runner does not show such a call to later actions.
 */
export const METADATA_MAX_BYTES = 16 * 1024;
