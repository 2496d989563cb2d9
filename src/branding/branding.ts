import type { Db } from '../db/knex.ts';
import { isSqlite, parseJson } from '../db/knex.ts';
import { badRequest } from '../shared/errors.ts';

/**
 * Auth0's tenant branding (`/api/v2/branding`): the primary color and page background of the
 * sign-in pages, a logo and a favicon. Kept as one row of `settings` (plain JSON: nothing secret)
 * and read through a short cache, so every node shows a change within seconds.
 *
 * The pages take it as CSS variables at the end of their one stylesheet, `/assets/style.css`
 * (src/app.ts; no inline style, which the pages' CSP forbids), and the logo as an image whose
 * origin the pages' CSP then allows (`img-src`).
 */
export interface Branding { colors?: { primary?: string; page_background?: string }; logo_url?: string; favicon_url?: string }

const KEY = 'branding';
const COLOR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
const CACHE_MS = 2000;

/** `b` with only what the checks allow: a row written by hand, or by an older version, cannot break a page. */
function sane(b: Branding): Branding {
  const ok = (v: unknown) => { try { checkUrl('', v as string); return typeof v === 'string'; } catch { return false; } };
  const colors = Object.fromEntries(Object.entries(b?.colors ?? {}).filter(([k, v]) => (k === 'primary' || k === 'page_background') && typeof v === 'string' && COLOR.test(v)));
  return {
    ...(Object.keys(colors).length ? { colors } : {}),
    ...(ok(b?.logo_url) ? { logo_url: b.logo_url } : {}),
    ...(ok(b?.favicon_url) ? { favicon_url: b.favicon_url } : {}),
  };
}

function checkUrl(field: string, v: string) {
  if (typeof v !== 'string') throw badRequest(`${field}: an https URL`);
  let u: URL;
  try { u = new URL(v); } catch { throw badRequest(`${field}: not an absolute URL`); }
  if (u.protocol !== 'https:' || u.username || u.password) throw badRequest(`${field}: must be an https URL without credentials`);
  // The logo's origin goes into the pages' CSP: a host of letters, digits, dots and hyphens only (a ; would start a directive).
  if (!/^[a-z0-9.-]+$/i.test(u.hostname)) throw badRequest(`${field}: the host must be a plain domain name`);
  if (v.length > 2048) throw badRequest(`${field}: at most 2048 characters`);
}

/**
 * The stylesheet for `b`: its colors as the pages' CSS variables, light and dark alike, and the
 * logo in place of the layout's glyph (as a background image: the layout needs no change).
 */
export function brandingCss(b: Branding): string {
  const vars = [
    ...(b.colors?.primary ? [`--accent:${b.colors.primary}`] : []),
    ...(b.colors?.page_background ? [`--bg:${b.colors.page_background}`] : []),
  ].join(';');
  // The URL as the URL parser writes it, with what could end a CSS string escaped besides.
  const logo = b.logo_url ? new URL(b.logo_url).href.replace(/["\\\n\r()]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`) : undefined;
  return [
    vars ? `:root{${vars}}\n@media (prefers-color-scheme: dark){:root{${vars}}}` : '',
    logo ? `.brand .logo{font-size:0;display:inline-block;width:2rem;height:2rem;background:url("${logo}") center/contain no-repeat}` : '',
  ].filter(Boolean).join('\n') + '\n';
}

/** The origins the pages' CSP must allow images from: the logo's and the favicon's (browsers hold favicons to img-src too). */
export const imageOrigins = (b: Branding): string[] => [...new Set([b.logo_url, b.favicon_url].filter((u): u is string => !!u).map((u) => new URL(u).origin))];

export function createBranding(db: Db) {
  let cached: { at: number; value: Branding } | undefined;
  let loading: Promise<unknown> | undefined;
  let reading: Promise<Branding> | undefined;
  async function read(): Promise<Branding> {
    const row = await db('settings').where({ key: KEY }).first('value') as { value: string } | undefined;
    return row ? sane(parseJson<Branding>(row.value, {})) : {};
  }
  return {
    /** The branding in force (from a cache of CACHE_MS: each node reads it again after that). */
    async get(): Promise<Branding> {
      if (cached && Date.now() - cached.at < CACHE_MS) return cached.value;
      // One read for all the requests that find the cache old at once.
      reading ??= read().then((value) => { cached = { at: Date.now(), value }; return value; }).finally(() => { reading = undefined; });
      return reading;
    },
    /**
     * The cached branding without waiting (what a page's headers are made with); when it is older
     * than CACHE_MS a read starts for the next request. Empty before the first read.
     */
    current(): Branding {
      if ((!cached || Date.now() - cached.at >= CACHE_MS) && !loading) loading = this.get().catch(() => undefined).finally(() => { loading = undefined; });
      return cached?.value ?? {};
    },
    /**
     * Merged into what is stored (Auth0's PATCH); a null member is taken away. The stored row is
     * read and written in one transaction, locked on PostgreSQL (on SQLite writers take turns):
     * two PATCHes at once, each with its own member, keep both.
     */
    async update(patch: { colors?: { primary?: string | null; page_background?: string | null } | null; logo_url?: string | null; favicon_url?: string | null }): Promise<Branding> {
      for (const [k, v] of Object.entries(patch.colors ?? {})) if (v !== null && v !== undefined && !COLOR.test(v)) throw badRequest(`colors.${k}: a hex color (#rgb or #rrggbb)`);
      if (patch.logo_url) checkUrl('logo_url', patch.logo_url);
      if (patch.favicon_url) checkUrl('favicon_url', patch.favicon_url);
      const next = await db.transaction(async (trx) => {
        // The row first (PostgreSQL locks rows, and there is none before the first PATCH); an
        // empty one reads as no branding.
        await trx('settings').insert({ key: KEY, value: '{}' }).onConflict('key').ignore();
        const q = trx('settings').where({ key: KEY });
        const row = await (isSqlite(trx) ? q : q.forUpdate()).first('value') as { value: string } | undefined;
        const cur = row ? sane(parseJson<Branding>(row.value, {})) : {};
        const colors = patch.colors === null ? {} : { ...cur.colors, ...patch.colors };
        const merged: Branding = {
          ...(Object.values(colors).some((v) => v) ? { colors: Object.fromEntries(Object.entries(colors).filter(([, v]) => v)) as Branding['colors'] } : {}),
          ...((patch.logo_url === undefined ? cur.logo_url : patch.logo_url) ? { logo_url: (patch.logo_url === undefined ? cur.logo_url : patch.logo_url)! } : {}),
          ...((patch.favicon_url === undefined ? cur.favicon_url : patch.favicon_url) ? { favicon_url: (patch.favicon_url === undefined ? cur.favicon_url : patch.favicon_url)! } : {}),
        };
        await trx('settings').where({ key: KEY }).update({ value: JSON.stringify(merged) });
        return merged;
      });
      cached = { at: Date.now(), value: next };
      return next;
    },
  };
}
export type BrandingStore = ReturnType<typeof createBranding>;
