import { z } from 'zod';
import { requireScope } from './auth.ts';
import { auditChange, parseBody, requireSomeField, type RegisterRoutes } from './helpers.ts';

/*
 * Auth0's `/api/v2/branding` for the sign-in pages (src/branding/branding.ts): colors, a logo and a
 * favicon (Auth0's `font` and universal-login templates are not offered: refused by the strict
 * schema). Scopes read:branding, update:branding.
 */
const color = z.string().max(20).nullable();
const patchBody = z.strictObject({
  colors: z.strictObject({ primary: color.optional(), page_background: color.optional() }).nullable().optional(),
  logo_url: z.string().min(1).max(2048).nullable().optional(),
  favicon_url: z.string().min(1).max(2048).nullable().optional(),
});

export const registerBranding: RegisterRoutes = (router, app) => {
  router.get('/branding', requireScope('read:branding'), async function getBranding(ctx) {
    ctx.body = await app.branding.get();
  });
  router.patch('/branding', requireScope('update:branding'), async function updateBranding(ctx) {
    const body = parseBody(ctx, patchBody);
    requireSomeField(body);
    const before = await app.branding.get();
    const after = await app.branding.update(body);
    await auditChange(app, ctx, { description: 'Update the branding', target: { type: 'branding', id: 'branding' }, before, after });
    ctx.body = after;
  });
};
