import type { VerifyOutcome } from '../mfa/mfa.ts';

/**
 * What a page says, answers and audits when a second-factor code is refused (the login's code
 * step, the account sign-in, the account page's authenticator actions): one wording everywhere.
 * The password was right by then, so saying why the code failed tells nothing new.
 */
export function codeRefusal(r: Extract<VerifyOutcome, { ok: false }>): { message: string; status: number; auditType: string; auditReason: string } {
  if (r.reason === 'locked') return { message: 'Too many wrong codes. Wait a few minutes, then try again.', status: 429, auditType: 'gd_otp_rate_limit_exceed', auditReason: 'locked' };
  if (r.reason === 'replay') return { message: 'That code was already used. Wait for the next code in your app.', status: 400, auditType: 'gd_auth_failed', auditReason: 'code already used' };
  return { message: 'That code is not valid. Enter the current code from your authenticator app.', status: 400, auditType: 'gd_auth_failed', auditReason: r.reason };
}
