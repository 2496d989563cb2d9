import type { Context } from 'koa';
import QRCode from 'qrcode';
import type { AppContext } from '../context.ts';
import type { ActionRef } from '../actions/engine/engine.ts';
import { AppError } from '../shared/errors.ts';
import { challengePage, enrollPage, recoveryCodesPage } from '../../views/mfa.ts';
import { queueMfaChangedMail } from '../mail/notices.ts';
import { codeRefusal } from './code-refusal.ts';

type Details = Awaited<ReturnType<AppContext['provider']['interactionDetails']>>;
type Obj = Record<string, unknown>;
/** `resumeAt`/`resumeAction`: a chain paused for this step goes on at that index, which must still follow that action version. */
export interface PendingMfa { mode: 'challenge' | 'enroll'; resumeAt: number | null; resumeAction?: ActionRef; allowRememberBrowser: boolean; event?: Obj; methods: Obj[]; verified: boolean; recoveryShown?: boolean }

/**
 * The second-factor step of a login, bound to its interaction: enrollment (QR code, manual
 * key in `#totp-secret`, first code, then recovery codes shown once) or challenge (TOTP or a
 * recovery code). Wrong codes are counted and lock the step with growing waits; every
 * outcome is audited with Auth0's Guardian log types.
 */
export function createMfaStep(app: AppContext, hooks: { verified(ctx: Context, d: Details, userId: string, pending: PendingMfa): Promise<void> }) {
  const { db, config, mfa, audit, urls } = app;
  const base = (uid: string) => `${urls.mountPath}/interaction/${encodeURIComponent(uid)}/mfa`;

  /**
   * The pending step; an enrollment becomes a challenge when the user enrolled elsewhere in
   * the meantime (another tab, /account), instead of failing on "already enrolled".
   */
  async function pending(d: Details): Promise<{ userId: string; p: PendingMfa }> {
    const r = await pendingRow(d);
    if (r.p.mode === 'enroll' && !r.p.verified && (await mfa.isEnrolled(r.userId))) {
      r.p.mode = 'challenge';
      await save(d.uid, r.userId, r.p);
    }
    return r;
  }
  async function pendingRow(d: Details): Promise<{ userId: string; p: PendingMfa }> {
    const row = await db('mfa_pending').where({ interaction_uid: d.uid }).first();
    if (!row || Number(row.expires_at) < Date.now()) throw new AppError(400, 'mfa_expired', 'This verification step has expired. Go back to the application and sign in again.');
    return { userId: row.user_id, p: JSON.parse(row.payload) as PendingMfa };
  }
  /**
   * Writes the step back for the user it was read for. The interaction's login form still takes a
   * password (another account's too), which replaces the step: written by interaction alone, a
   * code checked for one user could mark another user's step verified in between (a race an
   * outside probe showed). So the write is conditional on the user, and a step replaced
   * meanwhile ends this request.
   */
  async function save(uid: string, userId: string, p: PendingMfa) {
    const n = await db('mfa_pending').where({ interaction_uid: uid, user_id: userId }).update({ payload: JSON.stringify(p) });
    if (n !== 1) throw replaced();
  }
  /** Ends the step for the user it was read for (see save). */
  async function finish(uid: string, userId: string) {
    const n = await db('mfa_pending').where({ interaction_uid: uid, user_id: userId }).delete();
    if (n !== 1) throw replaced();
  }
  const replaced = () => new AppError(409, 'mfa_replaced', 'This sign-in was started again in another tab. Go back to the application and sign in again.');

  async function renderEnroll(ctx: Context, d: Details, userId: string, csrf: string, error?: string) {
    const user = await app.users.require(userId);
    const binding = `interaction:${d.uid}`;
    const e = (await mfa.pendingEnrollment(userId, user.email, binding)) ?? (await mfa.beginEnrollment(userId, user.email, binding));
    const qrSvg = await QRCode.toString(e.uri, { type: 'svg', margin: 0, errorCorrectionLevel: 'M' });
    ctx.type = 'html';
    ctx.body = enrollPage({ appName: config.appName, assetsBase: urls.mountPath, csrf, action: base(d.uid), error, qrSvg, secret: e.secret, accountLabel: user.email, issuerLabel: config.mfa.issuerLabel ?? config.appName });
  }

  function renderChallenge(ctx: Context, d: Details, p: PendingMfa, csrf: string, error?: string) {
    ctx.type = 'html';
    ctx.body = challengePage({ appName: config.appName, assetsBase: urls.mountPath, csrf, action: base(d.uid), error, rememberDays: p.allowRememberBrowser ? config.mfa.rememberBrowserDays : undefined });
  }

  return {
    async show(ctx: Context, d: Details, csrf: string) {
      const { userId, p } = await pending(d);
      if (p.verified) throw new AppError(400, 'mfa_done', 'This step is already complete. Go back to the application.');
      if (p.mode === 'enroll') return renderEnroll(ctx, d, userId, csrf);
      return renderChallenge(ctx, d, p, csrf);
    },

    async submit(ctx: Context, d: Details, csrf: string) {
      const { userId, p } = await pending(d);
      if (p.verified) throw new AppError(400, 'mfa_done', 'This step is already complete. Go back to the application.');
      const code = (ctx.request.body as Obj | undefined)?.code;
      const who = { user_id: userId, client_id: String(d.params.client_id), ip: ctx.ip, user_agent: ctx.get('user-agent') };
      if (p.mode === 'enroll') {
        const r = await mfa.confirmEnrollment(userId, `interaction:${d.uid}`, code);
        if (!r.ok) {
          await audit.record({ type: 'gd_enrollment_failed', description: `Authenticator enrollment: ${r.reason}`, ...who });
          ctx.status = r.reason === 'locked' ? 429 : 400;
          return renderEnroll(ctx, d, userId, csrf, r.reason === 'locked' ? codeRefusal({ ok: false, reason: 'locked' }).message : 'That code did not match. Check the app and enter the current 6-digit code.');
        }
        await audit.record({ type: 'gd_enrollment_complete', description: 'Authenticator app enrolled', ...who });
        // Out-of-band notice: enrolling at login needs only the password, so the owner must hear of it.
        const user = await app.users.get(userId);
        if (user) queueMfaChangedMail(app, user.email, 'enrolled');
        p.verified = true;
        await save(d.uid, userId, p);
        ctx.type = 'html';
        ctx.body = recoveryCodesPage({ appName: config.appName, assetsBase: urls.mountPath, csrf, action: `${base(d.uid)}/done`, codes: r.recoveryCodes });
        return;
      }
      const r = await mfa.verify(userId, code);
      if (!r.ok) {
        const refusal = codeRefusal(r);
        await audit.record({ type: refusal.auditType, description: `Second factor refused: ${refusal.auditReason}`, ...who });
        ctx.status = refusal.status;
        return renderChallenge(ctx, d, p, csrf, refusal.message);
      }
      await audit.record({ type: r.method === 'recovery' ? 'gd_recovery_succeed' : 'gd_auth_succeed', description: r.method === 'recovery' ? `Signed in with a recovery code (${r.remainingRecoveryCodes} left)` : 'Second factor verified', ...who });
      if (r.method === 'recovery') {
        // A recovery code stands in for the authenticator: the owner must hear of its use (SECURITY.md 3.5).
        const user = await app.users.get(userId);
        if (user) queueMfaChangedMail(app, user.email, 'recovery_used', r.remainingRecoveryCodes);
      }
      if (p.allowRememberBrowser && (ctx.request.body as Obj | undefined)?.remember === '1') await app.rememberedBrowsers.remember(ctx, userId);
      await finish(d.uid, userId);
      return hooks.verified(ctx, d, userId, p);
    },

    /** After the recovery codes were shown: only once the enrollment was verified in this interaction. */
    async done(ctx: Context, d: Details) {
      const { userId, p } = await pending(d);
      if (!p.verified) throw new AppError(400, 'mfa_not_verified', 'Enter a code from your authenticator app first.');
      await finish(d.uid, userId);
      return hooks.verified(ctx, d, userId, p);
    },
  };
}
