import { randomBytes } from 'node:crypto';

/** Random URL-safe identifier with `bytes` of entropy. */
export const randomId = (bytes = 16) => randomBytes(bytes).toString('base64url');
/** Auth0-style user id (`auth0|<24 hex>`), so Actions that split on `|` keep working. */
export const newUserId = () => `auth0|${randomBytes(12).toString('hex')}`;
export const newRoleId = () => `rol_${randomId(12)}`;
export const newResourceServerId = () => randomBytes(12).toString('hex');
export const newClientGrantId = () => `cgr_${randomId(12)}`;
export const newClientId = () => randomId(24);
export const newClientSecret = () => randomId(48);
