/**
 * npm packages whose own code an action may require: plain JavaScript with nothing of Node.js
 * but what the sandbox offers (require('crypto') and the rest of its built-ins). Auth0 installs
 * an action's declared dependencies from npm; Gatehouse cannot fetch code while it runs, so it
 * offers these, installed with the server (package.json) at the version package-lock.json pins.
 *
 * The worker reads a package's files here, on the first require of it, and hands the isolate
 * their sources with each file's require() calls already resolved (Node.js's own resolution,
 * from the file's directory); the guest prelude (`packageModule`) runs them as CommonJS modules
 * inside the isolate, each module once per isolate. Nothing in them runs on the host. Their
 * requires of Node.js built-ins go to the sandbox's require; one that cannot be resolved throws
 * when the code reaches it, as a missing module does in Node.js.
 */
import { createRequire, isBuiltin } from 'node:module';
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

/** Name → what it is (shown in errors and accepted as a declared dependency). */
export const PACKAGES: Readonly<Record<string, string>> = Object.freeze({
  lodash: 'lodash 4, the real module (also its per-method paths, lodash/get, …)',
  uuid: 'uuid 11, the real module',
  qs: 'qs 6, the real module',
  moment: 'moment 2, the real module (English only: no locale files)',
  'crypto-js': 'crypto-js 4, the real module',
  'ipaddr.js': 'ipaddr.js 2, the real module (Auth0\'s IP-range templates)',
  '@xmldom/xmldom': '@xmldom/xmldom 0.9, the real module (Auth0\'s SOAP templates)',
  xpath: 'xpath 0.0.34, the real module',
  async: 'async 3, the real module',
});

/**
 * lodash's one-method packages (`lodash.merge`, `lodash.clonedeep`: each the same function as
 * lodash's own): the name, lower case, to lodash's file for it (merge.js, cloneDeep.js), read
 * from the installed lodash once.
 */
let lodashMethods: Map<string, string> | undefined;
function lodashMethodPath(specifier: string): string | undefined {
  const m = /^lodash\.([a-z]{2,40})$/.exec(specifier);
  if (!m) return undefined;
  if (lodashMethods === undefined) {
    lodashMethods = new Map();
    for (const f of readdirSync(join(root(), 'lodash'))) {
      const name = /^([a-zA-Z]+)\.js$/.exec(f)?.[1];
      if (name !== undefined) lodashMethods.set(name.toLowerCase(), `lodash/${name}`);
    }
  }
  return lodashMethods.get(m[1]);
}

/** Whether `name` is a package require() gives from its own code (a declared dependency may name it). */
export function offeredPackage(name: string): boolean {
  return Object.hasOwn(PACKAGES, name) || lodashMethodPath(name) !== undefined;
}

/** A package's files sent to an isolate at most (one require). lodash's main file is 540 KB. */
const MAX_BYTES = 4 * 1024 * 1024;
const MAX_FILES = 1000;
/** A specifier an action may pass: a package name and an optional path, nothing relative. */
const SPECIFIER = /^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;
/** require('…') with a literal: what the walk follows (a computed one is resolved by no one). */
const REQUIRE_CALL = /\brequire\(\s*(['"])([^'"\n\\]{1,200})\1\s*\)/g;

const here = createRequire(import.meta.url);
/** Built bundles by specifier; emptied past CACHE_CHARS (lodash has a thousand paths). */
const bundles = new Map<string, string>();
const CACHE_CHARS = 32 * 1024 * 1024;
let cachedChars = 0;
let modulesRoot: string | undefined;

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** The node_modules directory the packages are installed in (where lodash's package.json is). */
function root(): string {
  modulesRoot ??= dirname(dirname(realpathSync(here.resolve('lodash/package.json'))));
  return modulesRoot;
}

/**
 * A file its package's `browser` field maps to false: Node.js glue a bundler leaves out for the
 * browser (object-inspect's util.inspect.js, which requires util). An empty module here too.
 */
const EMPTY = '(empty)';
const browserFields = new Map<string, Record<string, unknown> | null>();
function notForBrowsers(file: string): boolean {
  const top = root();
  for (let dir = dirname(file); dir.startsWith(top + sep); dir = dirname(dir)) {
    let browser = browserFields.get(dir);
    if (browser === undefined) {
      try {
        const b = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { browser?: unknown }).browser;
        browser = b !== null && typeof b === 'object' ? b as Record<string, unknown> : null;
      } catch {
        browserFields.set(dir, null);
        continue;
      }
      browserFields.set(dir, browser);
    }
    // The nearest package.json decides.
    const rel = `./${relative(dir, file).split(sep).join('/')}`;
    return browser !== null && (browser[rel] === false || browser[rel.replace(/\.js$/, '')] === false);
  }
  return false;
}

type Exports = string | Exports[] | { [condition: string]: Exports } | null;
function pickExport(e: Exports): string | undefined {
  if (typeof e === 'string') return e;
  if (Array.isArray(e)) { for (const x of e) { const r = pickExport(x); if (r !== undefined) return r; } return undefined; }
  if (e === null || typeof e !== 'object') return undefined;
  for (const [cond, x] of Object.entries(e)) {
    if (cond === 'require' || cond === 'node' || cond === 'default') { const r = pickExport(x); if (r !== undefined) return r; }
  }
  return undefined;
}
/**
 * Node.js 24 resolves require() with the `module-sync` condition, which may name an ES module
 * (async-function's require.mjs); the sandbox runs CommonJS only. The package's main export
 * under `require` or `default` instead, when it is plain JavaScript.
 */
function commonJsEntry(mjs: string): string | undefined {
  const top = root();
  for (let dir = dirname(mjs); dir.startsWith(top + sep); dir = dirname(dir)) {
    let pkg: { exports?: Exports };
    try { pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports?: Exports }; } catch { continue; }
    const e = pkg.exports;
    const main = pickExport(e !== null && typeof e === 'object' && !Array.isArray(e) && Object.hasOwn(e, '.') ? e['.'] : e ?? null);
    if (main === undefined) return undefined;
    const file = join(dir, main);
    return file.startsWith(dir + sep) && /\.c?js$/.test(file) ? realpathSync(file) : undefined;
  }
  return undefined;
}

interface Bundle { entry: string; files: Record<string, { src: string; deps: Record<string, string> }> }

function walk(entry: string): Bundle {
  const top = root();
  const key = (file: string) => relative(top, file).split(sep).join('/');
  const files: Bundle['files'] = {};
  const queue = [entry];
  let bytes = 0;
  while (queue.length > 0) {
    const file = queue.pop()!;
    const k = key(file);
    if (Object.hasOwn(files, k)) continue;
    if (Object.keys(files).length >= MAX_FILES) throw new Error('too many files');
    const src = readFileSync(file, 'utf8');
    bytes += src.length;
    if (bytes > MAX_BYTES) throw new Error('too large');
    const deps: Record<string, string> = {};
    files[k] = { src, deps };
    if (file.endsWith('.json')) continue;
    const from = createRequire(file);
    for (const m of src.matchAll(REQUIRE_CALL)) {
      const spec = m[2];
      if (isBuiltin(spec) || Object.hasOwn(deps, spec)) continue;
      let target: string;
      try { target = realpathSync(from.resolve(spec)); } catch { continue; }
      if (target.endsWith('.mjs')) target = commonJsEntry(target) ?? target;
      // Only plain JavaScript and JSON from installed packages (never the server's own files).
      if (!target.startsWith(top + sep) || !/\.(c?js|json)$/.test(target)) continue;
      if (notForBrowsers(target)) {
        deps[spec] = EMPTY;
        files[EMPTY] ??= { src: '', deps: {} };
        continue;
      }
      deps[spec] = key(target);
      queue.push(target);
    }
  }
  return { entry: key(entry), files };
}

/**
 * The JSON the guest's require(specifier) loads, or '' when the specifier is not one of
 * PACKAGES (or a path inside one) or cannot be read. Kept per worker once built.
 */
export function packageBundle(specifier: string): string {
  if (specifier.length > 200 || !SPECIFIER.test(specifier)) return '';
  const target = Object.hasOwn(PACKAGES, packageName(specifier)) ? specifier : lodashMethodPath(specifier);
  if (target === undefined) return '';
  const known = bundles.get(specifier);
  if (known !== undefined) return known;
  let json: string;
  try {
    const entry = realpathSync(here.resolve(target));
    if (!entry.startsWith(join(root(), packageName(target)) + sep)) return '';
    json = JSON.stringify(walk(entry));
  } catch {
    // Not a module of the package (a path that does not exist): not kept, it costs a lookup.
    return '';
  }
  if (cachedChars + json.length > CACHE_CHARS) { bundles.clear(); cachedChars = 0; }
  bundles.set(specifier, json);
  cachedChars += json.length;
  return json;
}
