import { html, type SafeHtml } from './html.ts';

export interface PageOptions { appName: string; title: string; body: SafeHtml; assetsBase?: string }

/** The one page frame: one stylesheet, responsive, no script needed, the app's name shown. */
export function layout({ appName, title, body, assetsBase = '' }: PageOptions): string {
  return `<!doctype html>${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · ${appName}</title>
<link rel="stylesheet" href="${assetsBase}/assets/style.css">
<link rel="icon" href="${assetsBase}/favicon.ico">
</head>
<body>
<main class="card" aria-labelledby="page-title">
<header class="brand"><span class="logo" aria-hidden="true">◆</span> <span class="app-name">${appName}</span></header>
${body}
</main>
<footer class="foot">Secured by Gatehouse</footer>
</body>
</html>`.value}`;
}

/** An error message region for screen readers and tests (`role="alert"`). */
export const alert = (message?: string) => (message ? html`<div class="alert" role="alert" id="error">${message}</div>` : html``);
export const notice = (message?: string) => (message ? html`<div class="notice" role="status">${message}</div>` : html``);
