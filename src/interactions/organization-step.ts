import type { Context } from 'koa';
import type { AppContext } from '../context.ts';
import type { Csrf } from '../http/koa-csrf.ts';
import { AppError } from '../shared/errors.ts';
import { organizationPrompt } from '../organizations/prompt.ts';
import { organizationPage } from '../../views/pages.ts';
import { formFields, MALFORMED_FORM } from './form-fields.ts';

type Details = Awaited<ReturnType<AppContext['provider']['interactionDetails']>>;
/** How long a login whose password was checked waits for the user to pick an organization. */
const PENDING_TTL_MS = 15 * 60 * 1000;
/** The organizations the picker lists (the first, by display name; the page says how many more): Auth0's picker is a list too. */
const PICK_MAX = 100;
const byName = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });

/**
 * Auth0's organization prompts, for an application that requires an organization and lets the
 * user say which (its organization_require_behavior; src/organizations/prompt.ts):
 * - pre_login_prompt: the 'organization' prompt (src/oidc/provider.ts) comes before the login:
 *   the user types the organization's name.
 * - post_login_prompt: after the password (the login or sign-up form), the user picks one of the
 *   organizations they belong to, before the second factor and the post-login actions, which run
 *   in it; a session that answers gets the same choice first (the 'organization' prompt).
 * The choice goes into the interaction's parameters, which oidc-provider takes back when the
 * authorization resumes: the rest of it (membership checks, RBAC, org_id, event.organization)
 * sees the organization as if the application had named it.
 */
export function createOrganizationStep(app: AppContext, csrf: Csrf, next: {
  /** The login goes on in the organization picked: the second factor and post-login, its password checked at `checkedAt`. */
  picked(ctx: Context, d: Details, userId: string, o: { signup: boolean; checkedAt: number }): Promise<void>;
}) {
  const { db, config, urls, organizations, audit } = app;
  const action = (uid: string) => `${urls.mountPath}/interaction/${encodeURIComponent(uid)}/organization`;

  async function clientOf(d: Details) {
    const id = String(d.params.client_id);
    const meta = await app.clients.findClientMetadata(id);
    return { meta, name: typeof meta?.client_name === 'string' ? meta.client_name : 'the application' };
  }

  /**
   * The organizations a user may pick, in the order a person reads their names (accents,
   * numbers, any case): the first PICK_MAX, and how many there are. All are read to be sorted
   * here: a database orders text its own way (SQLite by code point).
   */
  async function choices(userId: string) {
    const all = (await organizations.namesOfUser(userId)).sort((a, b) => byName.compare(a.label, b.label) || (a.id < b.id ? -1 : 1));
    return { list: all.slice(0, PICK_MAX), total: all.length };
  }

  /** The organization becomes the authorization's, for the rest of it (see above). */
  async function choose(d: Details, orgId: string) {
    (d.params as Record<string, unknown>).organization = orgId;
    await d.save(Math.max(1, d.exp - Math.floor(Date.now() / 1000)));
  }

  async function finish(ctx: Context, result: Record<string, unknown>) {
    const to = await app.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(to);
  }

  /** Someone who belongs to no organization cannot sign in to an application that requires one. */
  async function refuseNone(ctx: Context, d: Details, userId: string) {
    const u = await app.users.get(userId);
    await audit.record({ type: 'f', description: 'Login refused: not a member of any organization', user_id: userId, user_name: u?.email ?? null, client_id: String(d.params.client_id), ip: ctx.ip, user_agent: ctx.get('user-agent') });
    await finish(ctx, { error: 'access_denied', error_description: 'the user is not a member of any organization' });
  }

  function render(ctx: Context, d: Details, clientName: string, o: { mode: 'name'; value?: string; error?: string } | { mode: 'pick'; organizations: { list: { id: string; label: string }[]; total: number }; error?: string }, status = 200) {
    ctx.status = status;
    ctx.type = 'html';
    const base = { appName: config.appName, assetsBase: urls.mountPath, csrf: csrf.token(ctx), action: action(d.uid), clientName, error: o.error };
    ctx.body = o.mode === 'name'
      ? organizationPage({ ...base, mode: 'name', value: o.value })
      : organizationPage({ ...base, mode: 'pick', organizations: o.organizations.list, more: o.organizations.total - o.organizations.list.length, abortUrl: `${urls.mountPath}/interaction/${encodeURIComponent(d.uid)}/abort` });
  }

  /** The login this interaction holds whose password was checked and which waits for a pick. */
  async function pendingOf(d: Details): Promise<{ userId: string; signup: boolean; checkedAt: number } | undefined> {
    const row = await db('organization_pending').where({ interaction_uid: d.uid }).first();
    if (!row || Number(row.expires_at) < Date.now()) return undefined;
    return { userId: row.user_id as string, signup: row.signup === true || row.signup === 1, checkedAt: Number(row.checked_at) };
  }

  return {
    /**
     * After the password of a login (or a sign-up) in interaction `d`: when the application lets
     * the user pick an organization after it and none is named yet, the picker comes next.
     * True when it took over the response.
     */
    async afterPassword(ctx: Context, d: Details, userId: string, o: { signup: boolean; checkedAt: number }): Promise<boolean> {
      if (d.params.organization) return false;
      const { meta } = await clientOf(d);
      if (organizationPrompt(meta) !== 'post') return false;
      if (!(await organizations.belongsToAny(userId))) { await refuseNone(ctx, d, userId); return true; }
      await db('organization_pending').insert({ interaction_uid: d.uid, user_id: userId, signup: o.signup, checked_at: o.checkedAt, expires_at: Date.now() + PENDING_TTL_MS })
        .onConflict('interaction_uid').merge();
      ctx.status = 303;
      ctx.redirect(action(d.uid));
      return true;
    },

    /** GET: the step this interaction is at (the name form, or the picker). */
    async show(ctx: Context, d: Details) {
      const { meta, name } = await clientOf(d);
      const asked = organizationPrompt(meta);
      if (d.prompt.name === 'login') {
        const p = await pendingOf(d);
        if (!p || asked !== 'post') throw new AppError(400, 'invalid_step', 'This sign-in has no organization to choose. Go back to the application and start again.');
        return render(ctx, d, name, { mode: 'pick', organizations: await choices(p.userId) });
      }
      if (d.prompt.name !== 'organization') throw new AppError(400, 'invalid_step', 'This sign-in has no organization to choose. Go back to the application and start again.');
      if (asked === 'pre') return render(ctx, d, name, { mode: 'name' });
      const userId = d.session?.accountId;
      // The application changed its setting since the authorization began (it now names the
      // organization itself): no way to say which here, so no login without one.
      if (asked !== 'post' || !userId) return finish(ctx, { error: 'invalid_request', error_description: 'this application signs users in to an organization: the organization parameter is required' });
      const list = await choices(userId);
      if (list.total === 0) return refuseNone(ctx, d, userId);
      return render(ctx, d, name, { mode: 'pick', organizations: list });
    },

    /** POST: the organization typed (by name) or picked (by id). */
    async submit(ctx: Context, d: Details) {
      const body = ctx.request.body as Record<string, unknown>;
      const { meta, name } = await clientOf(d);
      const asked = organizationPrompt(meta);
      if (!formFields(body, ['organization'])) throw new AppError(400, 'malformed_form', MALFORMED_FORM);
      const value = typeof body.organization === 'string' ? body.organization.trim() : '';

      if (d.prompt.name === 'organization' && asked === 'pre') {
        const org = value && value.length <= 50 ? await organizations.byName(value.toLowerCase()) : undefined;
        if (!org) return render(ctx, d, name, { mode: 'name', value: value.slice(0, 50), error: 'No organization goes by that name. Check it with your administrator.' }, 400);
        await choose(d, org.id);
        return finish(ctx, {});
      }

      // A pick: among the user's own organizations (the signed-in session's, or the login's
      // whose password was just checked).
      const pending = d.prompt.name === 'login' ? await pendingOf(d) : undefined;
      const userId = d.prompt.name === 'organization' ? d.session?.accountId : pending?.userId;
      if (asked !== 'post' || !userId || (d.prompt.name !== 'organization' && d.prompt.name !== 'login')) {
        throw new AppError(400, 'invalid_step', 'This sign-in has no organization to choose. Go back to the application and start again.');
      }
      if (!value || !(await organizations.isMember(value, userId))) {
        return render(ctx, d, name, { mode: 'pick', organizations: await choices(userId), error: 'Choose one of your organizations.' }, 400);
      }
      if (d.prompt.name === 'organization') { await choose(d, value); return finish(ctx, {}); }
      // The login whose password was checked goes on, once: the pick that takes its row, and only
      // that one, writes the organization (two picks at once would otherwise have the actions run
      // in one and the code issued in the other).
      const taken = await db('organization_pending').where({ interaction_uid: d.uid, user_id: userId }).delete();
      if (taken !== 1) throw new AppError(409, 'replaced', 'This sign-in was started again in another tab. Go back to the application and sign in again.');
      await choose(d, value);
      return next.picked(ctx, d, userId, { signup: pending!.signup, checkedAt: pending!.checkedAt });
    },
  };
}
export type OrganizationStep = ReturnType<typeof createOrganizationStep>;
