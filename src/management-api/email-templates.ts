import { z } from 'zod';
import type { Context } from 'koa';
import { requireScope } from './auth.ts';
import { auditChange, parseBody, requireSomeField, type RegisterRoutes } from './helpers.ts';
import { badRequest } from '../shared/errors.ts';

/*
 * Auth0's `/api/v2/email-templates`: an admin's own verification, password-reset and welcome
 * mails (src/mail/templates.ts). Scopes read:, create:, update:email_templates.
 */
const fields = {
  body: z.string().max(100 * 1024),
  subject: z.string().min(1).max(500),
  from: z.string().max(320).nullable(),
  resultUrl: z.string().max(2048).nullable(),
  urlLifetimeInSeconds: z.number().int().nullable(),
  includeEmailInRedirect: z.boolean(),
  enabled: z.boolean(),
  syntax: z.literal('liquid'),
};
const createBody = z.strictObject({ template: z.string().min(1).max(64), ...fields, from: fields.from.optional(), resultUrl: fields.resultUrl.optional(), urlLifetimeInSeconds: fields.urlLifetimeInSeconds.optional(), includeEmailInRedirect: fields.includeEmailInRedirect.optional(), enabled: fields.enabled.optional(), syntax: fields.syntax.optional() });
const putBody = createBody.omit({ template: true }).extend({ template: z.string().min(1).max(64).optional() });
const patchBody = z.strictObject({ template: z.string().max(64).optional(), ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.optional()])) as { [K in keyof typeof fields]: z.ZodOptional<typeof fields[K]> } });
const nameOf = (ctx: Context) => {
  const n = ctx.params.templateName;
  if (typeof n !== 'string' || n.length < 1 || n.length > 64) throw badRequest('Path validation error: templateName', 'invalid_uri');
  return n;
};
/** A body may repeat the template's name (Auth0's tools send it); another name is a mistake. */
const sameName = (ctx: Context, body: { template?: string }) => {
  if (body.template !== undefined && body.template !== nameOf(ctx)) throw badRequest('template: does not match the path', 'invalid_body');
};

export const registerEmailTemplates: RegisterRoutes = (router, app) => {
  router.post('/email-templates', requireScope('create:email_templates'), async function createEmailTemplate(ctx) {
    const body = parseBody(ctx, createBody);
    const made = await app.emailTemplates.create(body);
    await auditChange(app, ctx, { description: 'Create an email template', target: { type: 'email_template', id: made.template }, after: made });
    // (Auth0 answers this create with 200.)
    ctx.status = 200;
    ctx.body = made;
  });
  router.get('/email-templates/:templateName', requireScope('read:email_templates'), async function getEmailTemplate(ctx) {
    ctx.body = await app.emailTemplates.get(nameOf(ctx));
  });
  router.put('/email-templates/:templateName', requireScope('update:email_templates'), async function putEmailTemplate(ctx) {
    const { template, ...body } = parseBody(ctx, putBody);
    sameName(ctx, { template });
    const after = await app.emailTemplates.replace(nameOf(ctx), body);
    await auditChange(app, ctx, { description: 'Replace an email template', target: { type: 'email_template', id: after.template }, after });
    ctx.body = after;
  });
  router.patch('/email-templates/:templateName', requireScope('update:email_templates'), async function patchEmailTemplate(ctx) {
    const { template, ...body } = parseBody(ctx, patchBody);
    sameName(ctx, { template });
    requireSomeField(body);
    const before = await app.emailTemplates.get(nameOf(ctx));
    const after = await app.emailTemplates.update(nameOf(ctx), body);
    await auditChange(app, ctx, { description: 'Update an email template', target: { type: 'email_template', id: after.template }, before, after });
    ctx.body = after;
  });
};
