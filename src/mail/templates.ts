import { Liquid } from 'liquidjs';
import type { Db } from '../db/knex.ts';
import { toBool, toNum } from '../db/knex.ts';
import { badRequest, conflict, notFound } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { MailContent } from '../../views/mail/layout.ts';

/**
 * Auth0's email templates: an admin's own subject and HTML body (Liquid) for the mails Gatehouse
 * sends with a link, with the link's lifetime, the sender and where the user lands once the link
 * was used. Templates Gatehouse sends: `verify_email`, `reset_email`, and `welcome_email` (after an
 * address is verified; only when configured, as on Auth0). Without a template, Gatehouse's own
 * mail goes out.
 *
 * Liquid runs with every output HTML-escaped (a user's name is the user's to choose), no file
 * access (includes and layouts find nothing), and limits on parse and render work. Variables, as
 * Auth0 names them: `url` (the link; none in the welcome mail), `user` (email, name, nickname,
 * given_name, family_name, user_id, user_metadata), `application.name`, `friendly_name` (the
 * app name), `tenant` (the issuer's host), `url_lifetime_in_seconds`.
 */
export const EMAIL_TEMPLATES = ['verify_email', 'reset_email', 'welcome_email'] as const;
export type EmailTemplateName = typeof EMAIL_TEMPLATES[number];
/** Auth0's names Gatehouse never sends (each said so when asked for). */
const NOT_SENT = ['verify_email_by_code', 'reset_email_by_code', 'blocked_account', 'stolen_credentials', 'enrollment_email', 'mfa_oob_code', 'user_invitation', 'change_password', 'password_reset', 'async_approval'];
const BODY_MAX = 100 * 1024;

export interface EmailTemplateInput {
  template: string; body: string; subject: string; from?: string | null; resultUrl?: string | null;
  urlLifetimeInSeconds?: number | null; includeEmailInRedirect?: boolean; enabled?: boolean; syntax?: 'liquid';
}
interface Row { template: string; body: string; subject: string; from: string | null; result_url: string | null; url_lifetime_seconds: unknown; include_email_in_redirect: unknown; enabled: unknown }

const toApi = (r: Row) => ({
  template: r.template, body: r.body, subject: r.subject, syntax: 'liquid' as const, enabled: toBool(r.enabled),
  includeEmailInRedirect: toBool(r.include_email_in_redirect),
  ...(r.from ? { from: r.from } : {}), ...(r.result_url ? { resultUrl: r.result_url } : {}),
  ...(toNum(r.url_lifetime_seconds) !== null ? { urlLifetimeInSeconds: toNum(r.url_lifetime_seconds)! } : {}),
});
export type EmailTemplate = ReturnType<typeof toApi>;

/** What a template sees of the user, as Auth0 names it. */
export interface TemplateUser { user_id: string; email: string; name?: string; nickname?: string; given_name?: string; family_name?: string; user_metadata?: Record<string, unknown> }

const LIMITS = { templates: {}, strictFilters: true, ownPropertyOnly: true, parseLimit: BODY_MAX * 2, renderLimit: 1000, memoryLimit: 10 * 1024 * 1024 };
/** The body: every printed value HTML-escaped (unless the template says `| raw`). */
const liquid = new Liquid({ ...LIMITS, outputEscape: 'escape' });
/** The subject is text, not HTML: printed as it is (its line breaks are taken out after). */
const plain = new Liquid(LIMITS);
// A ported Auth0 template escapes by hand (`| escape`): once is enough, the output escape steps aside.
for (const name of ['escape', 'escape_once'] as const) {
  const original = liquid.filters[name] as unknown as (this: unknown, ...a: unknown[]) => unknown;
  liquid.registerFilter(name, { handler(this: unknown, ...a: unknown[]) { return original.apply(this, a); }, raw: true });
}
/** A rendered body past this is not sent (Gatehouse's own mail goes instead). */
const HTML_MAX = 1024 * 1024;
const ENTITIES: Record<string, string> = { '&nbsp;': ' ', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&amp;': '&' };
const BLOCK_END = /^\/(p|div|h\d|li|tr)\b|^br\b/i;

/**
 * The mail's text part from its HTML: the words without the markup, and the link on a line of its
 * own. One pass over the text (a pattern match of tags would take time growing with the square of
 * a body full of unclosed `<`, on every sign-up).
 */
function textOf(html: string, url: string | undefined): string {
  let out = '';
  let i = 0;
  let skipUntil: string | undefined;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) { if (!skipUntil) out += html.slice(i); break; }
    if (!skipUntil) out += html.slice(i, lt);
    const gt = html.indexOf('>', lt + 1);
    if (gt < 0) { if (!skipUntil) out += html.slice(lt); break; }
    const tag = html.slice(lt + 1, gt).trim();
    if (skipUntil) { if (tag.toLowerCase().startsWith(skipUntil)) skipUntil = undefined; } else if (/^(script|style)\b/i.test(tag)) skipUntil = `/${tag.slice(0, 6).toLowerCase().replace(/[^a-z]/g, '')}`;
    else if (BLOCK_END.test(tag)) out += '\n';
    i = gt + 1;
  }
  const text = out.replace(/&(nbsp|lt|gt|quot|#39|amp);/g, (m) => ENTITIES[m] ?? m)
    .split('\n').map((l) => l.trim()).join('\n').replace(/\n{3,}/g, '\n\n').trim();
  return url && !text.includes(url) ? `${text}\n\n${url}\n` : `${text}\n`;
}
/** An error's first line with any link taken out: a template's failure must not put a live link in the log. */
const reasonOf = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0].replace(/https?:\/\/\S+/g, '<link>').slice(0, 200);

export function createEmailTemplates(db: Db, logger: Logger) {
  function check(t: Partial<EmailTemplateInput>) {
    if (t.body !== undefined) {
      if (t.body.length > BODY_MAX) throw badRequest(`body: at most ${BODY_MAX} characters`);
      try { liquid.parse(t.body); } catch (e) { throw badRequest(`body: the Liquid template does not parse: ${reasonOf(e)}`); }
    }
    if (t.subject !== undefined) {
      if (/[\r\n\u0000-\u001f]/.test(t.subject)) throw badRequest('subject: line breaks and control characters are not allowed');
      // Subjects are logged with every mail: the link (a credential) may not be in one.
      if (/\{[{%][^}]*\burl\b/.test(t.subject)) throw badRequest('subject: the link (url) cannot be in the subject, which mail logs show');
      try { plain.parse(t.subject); } catch (e) { throw badRequest(`subject: the Liquid template does not parse: ${reasonOf(e)}`); }
    }
    // (A display name with , ; : " ( ) would be read as a group or a list: letters, digits, spaces and . ' - & only.)
    if (t.from && !/^[\p{L}\p{N} .'&-]{0,200}<[^\s<>@,;:"()]+@[^\s<>@,;:"()]+>$|^[^\s<>@,;:"()]+@[^\s<>@,;:"()]+$/u.test(t.from)) throw badRequest('from: an address (name@example.com) or a name and one (Example <name@example.com>)');
    if (t.resultUrl) {
      let u: URL;
      try { u = new URL(t.resultUrl); } catch { throw badRequest('resultUrl: not an absolute URL'); }
      if (u.protocol !== 'https:' && !(u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname))) throw badRequest('resultUrl: must use https (http is allowed only on localhost)');
    }
    if (t.urlLifetimeInSeconds !== undefined && t.urlLifetimeInSeconds !== null && (!Number.isInteger(t.urlLifetimeInSeconds) || t.urlLifetimeInSeconds < 300 || t.urlLifetimeInSeconds > 30 * 86400)) {
      throw badRequest('urlLifetimeInSeconds: between 300 (5 minutes) and 2592000 (30 days)');
    }
  }
  function nameOf(template: string): EmailTemplateName {
    if ((EMAIL_TEMPLATES as readonly string[]).includes(template)) return template as EmailTemplateName;
    if (NOT_SENT.includes(template)) throw badRequest(`template: Gatehouse does not send ${template} (it sends: ${EMAIL_TEMPLATES.join(', ')})`);
    throw badRequest(`template: one of ${EMAIL_TEMPLATES.join(', ')}`);
  }
  async function row(template: string) { return await db('email_templates').where({ template }).first() as Row | undefined; }
  const columns = (t: Partial<EmailTemplateInput>) => ({
    ...(t.body !== undefined ? { body: t.body } : {}), ...(t.subject !== undefined ? { subject: t.subject } : {}),
    ...(t.from !== undefined ? { from: t.from || null } : {}), ...(t.resultUrl !== undefined ? { result_url: t.resultUrl || null } : {}),
    ...(t.urlLifetimeInSeconds !== undefined ? { url_lifetime_seconds: t.urlLifetimeInSeconds } : {}),
    ...(t.includeEmailInRedirect !== undefined ? { include_email_in_redirect: t.includeEmailInRedirect } : {}),
    ...(t.enabled !== undefined ? { enabled: t.enabled } : {}),
  });

  return {
    async get(template: string) {
      const r = await row(nameOf(template));
      if (!r) throw notFound(`The ${template} template is not configured (Gatehouse's own mail is sent)`, 'inexistent_email_template');
      return toApi(r);
    },
    async create(t: EmailTemplateInput) {
      const template = nameOf(t.template);
      check(t);
      if (await row(template)) throw conflict(`The ${template} template already exists: PATCH or PUT it`, 'email_template_conflict');
      const ts = new Date().toISOString();
      try {
        await db('email_templates').insert({ template, ...columns({ enabled: true, ...t }), created_at: ts, updated_at: ts });
      } catch (e) {
        if (await row(template)) throw conflict(`The ${template} template already exists: PATCH or PUT it`, 'email_template_conflict');
        throw e;
      }
      return this.get(template);
    },
    /** PUT: the whole template (made when missing). */
    async replace(template: string, t: Omit<EmailTemplateInput, 'template'>) {
      const name = nameOf(template);
      check(t);
      const ts = new Date().toISOString();
      const full = { from: null, resultUrl: null, urlLifetimeInSeconds: null, includeEmailInRedirect: false, enabled: true, ...t };
      await db('email_templates').insert({ template: name, ...columns(full), created_at: ts, updated_at: ts }).onConflict('template').merge({ ...columns(full), updated_at: ts });
      return this.get(name);
    },
    async update(template: string, t: Partial<Omit<EmailTemplateInput, 'template'>>) {
      const name = nameOf(template);
      check(t);
      const n = await db('email_templates').where({ template: name }).update({ ...columns(t), updated_at: new Date().toISOString() });
      if (n !== 1) throw notFound(`The ${template} template is not configured: POST or PUT it first`, 'inexistent_email_template');
      return this.get(name);
    },
    /** The configured template for a mail about to go out (undefined: Gatehouse's own), with its settings. */
    async settings(template: EmailTemplateName) {
      const r = await row(template);
      return r ? toApi(r) : undefined;
    },
    /**
     * The template rendered for one mail; undefined when it cannot be (a render over its limits,
     * a filter that fails): the caller then sends Gatehouse's own mail, so the user still gets the
     * link, and the log says why.
     */
    async render(t: EmailTemplate, vars: { url?: string; user: TemplateUser; appName: string; issuerHost: string; applicationName?: string; lifetimeSeconds?: number }): Promise<(MailContent & { from?: string }) | undefined> {
      const scope = {
        url: vars.url, user: vars.user, friendly_name: vars.appName, tenant: vars.issuerHost,
        application: { name: vars.applicationName ?? vars.appName }, url_lifetime_in_seconds: vars.lifetimeSeconds,
      };
      try {
        // The subject never sees the link, whatever the template spells to reach it (the check at
        // save time reads the text; Liquid has other ways to name a variable): mail logs show subjects.
        const [subject, html] = await Promise.all([plain.parseAndRender(t.subject, { ...scope, url: '' }), liquid.parseAndRender(t.body, scope)]);
        if (html.length > HTML_MAX) throw new Error(`the rendered body is over ${HTML_MAX} characters`);
        // A subject is one line: what the template made of it, without line breaks.
        return { subject: subject.replace(/[\r\n\u0000-\u001f]+/g, ' ').trim().slice(0, 500) || vars.appName, html, text: textOf(html, vars.url), ...(t.from ? { from: t.from } : {}) };
      } catch (err) {
        logger.warn({ template: t.template, reason: reasonOf(err) }, 'email template could not be rendered: Gatehouse\'s own mail was sent instead');
        return undefined;
      }
    },
  };
}
export type EmailTemplates = ReturnType<typeof createEmailTemplates>;
