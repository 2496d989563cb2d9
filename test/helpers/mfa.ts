import { generate } from 'otplib';

/** The TOTP code for `secret`, `steps` 30-second steps from now (a later step's code is still accepted, once). */
export const codeAt = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

/** The recovery codes listed on the page shown after enrollment or regeneration. */
export const recoveryCodesIn = (html: string) => [...html.matchAll(/<li><code>([A-Z2-7-]+)<\/code><\/li>/g)].map((m) => m[1]);
