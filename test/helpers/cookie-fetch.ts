/**
 * A browser-like HTTP client for tests: keeps cookies (with their paths), follows redirects
 * by hand so a test can stop at the client's redirect_uri, and parses our HTML forms.
 */
interface Cookie { name: string; value: string; path: string; host: string }

export class Browser {
  cookies: Cookie[] = [];
  headers: Record<string, string>;
  constructor(headers: Record<string, string> = {}) { this.headers = { 'user-agent': 'gatehouse-test', ...headers }; }

  cookieHeader(url: URL) {
    return this.cookies.filter((c) => c.host === url.host && url.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
  }

  store(url: URL, res: Response) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v] = a.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path && c.host === url.host));
      if (!expired && value !== '') this.cookies.push({ name, value, path, host: url.host });
    }
  }

  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const headers = new Headers({ ...this.headers, ...(init.headers as Record<string, string> ?? {}) });
    const cookie = this.cookieHeader(u);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    this.store(u, res);
    return res;
  }

  /** Follows redirects until `stop(url)` is true or a non-redirect arrives. */
  async follow(url: string | URL, init: RequestInit = {}, stop: (u: URL) => boolean = () => false): Promise<{ res: Response; url: URL }> {
    let u = new URL(url);
    let res = await this.request(u, init);
    for (let i = 0; i < 20 && res.status >= 300 && res.status < 400; i++) {
      u = new URL(res.headers.get('location')!, u);
      if (stop(u)) return { res, url: u };
      res = await this.request(u);
    }
    return { res, url: u };
  }

  /** Posts a form found in `html` (the first one, or the one whose action matches). */
  async submit(pageUrl: URL, html: string, fields: Record<string, string>, opts: { actionIncludes?: string; headers?: Record<string, string> } = {}) {
    const form = parseForm(html, opts.actionIncludes);
    const body = new URLSearchParams({ ...form.fields, ...fields });
    return this.request(new URL(form.action, pageUrl), {
      method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', origin: pageUrl.origin, ...opts.headers },
    });
  }
}

const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#96;/g, '`').replace(/&amp;/g, '&');

export function parseForm(html: string, actionIncludes?: string): { action: string; fields: Record<string, string> } {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)];
  const f = forms.find((m) => !actionIncludes || (/action="([^"]*)"/.exec(m[1])?.[1] ?? '').includes(actionIncludes));
  if (!f) throw new Error(`no form${actionIncludes ? ` with action containing ${actionIncludes}` : ''} in page:\n${html.slice(0, 2000)}`);
  const action = unescape(/action="([^"]*)"/.exec(f[1])?.[1] ?? '');
  const fields: Record<string, string> = {};
  for (const m of f[2].matchAll(/<input\b([^>]*)>/g)) {
    const name = /name="([^"]*)"/.exec(m[1])?.[1];
    const type = /type="([^"]*)"/.exec(m[1])?.[1];
    if (name && type === 'hidden') fields[name] = unescape(/value="([^"]*)"/.exec(m[1])?.[1] ?? '');
  }
  return { action, fields };
}

export function alertText(html: string): string | undefined {
  const m = /role="alert"[^>]*>([\s\S]*?)<\/div>/.exec(html);
  return m ? unescape(m[1].trim()) : undefined;
}
