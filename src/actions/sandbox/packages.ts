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
  moment: 'moment 2, the real module (its locales load as in Node.js)',
  'crypto-js': 'crypto-js 4, the real module',
  'moment-timezone': 'moment-timezone 0.6, the real module (its time-zone data included)',
  'ipaddr.js': 'ipaddr.js 2, the real module (Auth0\'s IP-range templates)',
  '@xmldom/xmldom': '@xmldom/xmldom 0.8 (the line Auth0\'s SOAP templates declare), the real module',
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
/** A relative require inside a package's code (moment's `./locale/fr`), resolved when it runs. */
const RELATIVE = /^\.{1,2}(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*)+$/;
/** require('…') with a literal: what the walk follows (a computed one is resolved when it runs). */
const REQUIRE_CALL = /\brequire\(\s*(['"])([^'"\n\\]{1,200})\1\s*\)/g;
/** Code only: what a package ships besides its modules (READMEs, type declarations, maps, licences) is never served. */
const CODE_FILE = /\.(c?js|json)$/;
/** Nor its tests, examples, docs or benchmarks: they require what the package does not depend on (qs's tests: iconv-lite). */
const NOT_SHIPPED_CODE = /(^|\/)(test|tests|__tests__|spec|example|examples|docs|doc|bench|benchmark|benchmarks)\//;

const here = createRequire(import.meta.url);
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
type Exports = string | Exports[] | { [condition: string]: Exports } | null;
interface Manifest { dependencies?: Record<string, unknown>; browser?: unknown; exports?: Exports }
/** The package.json in `dir`, read once per worker (null: none there, or not JSON). */
const manifests = new Map<string, Manifest | null>();
function manifest(dir: string): Manifest | null {
  let m = manifests.get(dir);
  if (m === undefined) {
    try { m = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest; } catch { m = null; }
    manifests.set(dir, m);
  }
  return m;
}
/** The nearest directory at or above `file`'s, inside node_modules, that has a package.json. */
function packageDirOf(file: string): string | undefined {
  const top = root();
  for (let dir = dirname(file); dir.startsWith(top + sep); dir = dirname(dir)) if (manifest(dir) !== null) return dir;
  return undefined;
}

/** `file`'s key: its path under node_modules, with / (what the guest and the bundles name it by). */
const keyOf = (file: string) => relative(root(), file).split(sep).join('/');

/**
 * The directories an offered package's code may reach: its own and those of its runtime
 * dependencies, transitively (package.json `dependencies`, found as Node.js would: beside it
 * in a nested node_modules, else at the top). Not devDependencies, nor whatever else is
 * installed with the server: a file that names another package (a test, a comment) names
 * nothing that is served.
 */
const closures = new Map<string, string[]>();
function allowedDirs(pkg: string): string[] {
  let dirs = closures.get(pkg);
  if (dirs !== undefined) return dirs;
  dirs = [];
  const queue = [realpathSync(join(root(), pkg))];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    if (dirs.includes(dir)) continue;
    dirs.push(dir);
    for (const dep of Object.keys(manifest(dir)?.dependencies ?? {})) {
      for (const at of [join(dir, 'node_modules', dep), join(root(), dep)]) {
        try {
          const real = realpathSync(at);
          if (real.startsWith(root() + sep)) { queue.push(real); break; }
        } catch { /* not there */ }
      }
    }
  }
  closures.set(pkg, dirs);
  return dirs;
}
const within = (file: string, dirs: string[]) => dirs.some((d) => file.startsWith(d + sep));

/** A file read once per worker: its source and what each literal require in it resolves to. */
interface FileEntry { src: string; targets: Record<string, string | null> }
const files = new Map<string, FileEntry>();
function readFile(file: string): FileEntry {
  let f = files.get(file);
  if (f !== undefined) return f;
  const src = readFileSync(file, 'utf8');
  const targets: Record<string, string | null> = {};
  if (!file.endsWith('.json')) {
    const from = createRequire(file);
    for (const m of src.matchAll(REQUIRE_CALL)) {
      const spec = m[2];
      if (isBuiltin(spec) || Object.hasOwn(targets, spec)) continue;
      let target: string | null = null;
      try {
        target = realpathSync(from.resolve(spec));
        if (target.endsWith('.mjs')) target = commonJsEntry(target) ?? null;
        if (target !== null && !CODE_FILE.test(target)) target = null;
      } catch { target = null; }
      targets[spec] = target;
    }
  }
  f = { src, targets };
  files.set(file, f);
  return f;
}

/**
 * A file its package's `browser` field maps to false: Node.js glue a bundler leaves out for the
 * browser (object-inspect's util.inspect.js, which requires util). An empty module here too.
 */
const EMPTY = '(empty)';
function notForBrowsers(file: string): boolean {
  // The nearest package.json decides.
  const dir = packageDirOf(file);
  const b = dir === undefined ? undefined : manifest(dir)?.browser;
  if (dir === undefined || b === null || typeof b !== 'object') return false;
  const browser = b as Record<string, unknown>;
  const rel = `./${relative(dir, file).split(sep).join('/')}`;
  return browser[rel] === false || browser[rel.replace(/\.js$/, '')] === false;
}

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
  const dir = packageDirOf(mjs);
  if (dir === undefined) return undefined;
  const e = manifest(dir)!.exports;
  const main = pickExport(e !== null && typeof e === 'object' && !Array.isArray(e) && Object.hasOwn(e, '.') ? e['.'] : e ?? null);
  if (main === undefined) return undefined;
  const file = join(dir, main);
  return file.startsWith(dir + sep) && /\.c?js$/.test(file) ? realpathSync(file) : undefined;
}

interface Bundle { entry: string; files: Record<string, { src: string; deps: Record<string, string> }> }

/** The files `entry` needs, within `dirs` (an offered package and its dependencies). */
function walk(entry: string, dirs: string[]): Bundle {
  const out: Bundle['files'] = {};
  const queue = [entry];
  let bytes = 0, count = 0;
  while (queue.length > 0) {
    const file = queue.pop()!;
    const k = keyOf(file);
    if (Object.hasOwn(out, k)) continue;
    if (++count > MAX_FILES) throw new Error('too many files');
    const f = readFile(file);
    bytes += f.src.length;
    if (bytes > MAX_BYTES) throw new Error('too large');
    const deps: Record<string, string> = {};
    out[k] = { src: f.src, deps };
    for (const [spec, target] of Object.entries(f.targets)) {
      if (target === null || !within(target, dirs)) continue;
      if (notForBrowsers(target)) {
        deps[spec] = EMPTY;
        out[EMPTY] ??= { src: '', deps: {} };
        continue;
      }
      deps[spec] = keyOf(target);
      queue.push(target);
    }
  }
  return { entry: keyOf(entry), files: out };
}

/**
 * Built bundles, least recently used first: a few of them, and a few megabytes (lodash has a
 * thousand paths, moment a hundred locales; each bundle repeats the files it shares).
 */
const bundles = new Map<string, string>();
const BUNDLES_MAX = 64;
const BUNDLE_CHARS_MAX = 16 * 1024 * 1024;
let bundleChars = 0;
function cached(key: string, build: () => string): string {
  const known = bundles.get(key);
  if (known !== undefined) {
    bundles.delete(key);
    bundles.set(key, known);
    return known;
  }
  const json = build();
  if (json === '') return json;
  bundles.set(key, json);
  bundleChars += json.length;
  for (const [k, v] of bundles) {
    if (bundles.size <= BUNDLES_MAX && bundleChars <= BUNDLE_CHARS_MAX) break;
    if (k === key) continue;
    bundles.delete(k);
    bundleChars -= v.length;
  }
  return json;
}

/** The bundle for an entry file inside `pkg` (an offered package, or one in an offered package's closure). */
function bundleFor(entry: string, dirs: string[], pkgDir: string): string {
  if (!entry.startsWith(pkgDir + sep) || !CODE_FILE.test(entry) || NOT_SHIPPED_CODE.test(relative(pkgDir, entry).split(sep).join('/'))) return '';
  return JSON.stringify(walk(entry, dirs));
}

/**
 * The JSON the guest's require(specifier) loads, or '' when the specifier is not one of
 * PACKAGES (or a code file inside one) or cannot be read.
 */
export function packageBundle(specifier: string): string {
  if (specifier.length > 200 || !SPECIFIER.test(specifier)) return '';
  const target = Object.hasOwn(PACKAGES, packageName(specifier)) ? specifier : lodashMethodPath(specifier);
  if (target === undefined) return '';
  return cached(specifier, () => {
    try {
      const pkg = packageName(target);
      const dirs = allowedDirs(pkg);
      return bundleFor(realpathSync(here.resolve(target)), dirs, dirs[0]);
    } catch {
      // Not a module of the package (a path that does not exist): not kept, it costs a lookup.
      return '';
    }
  });
}

/**
 * A relative require that package code computes when it runs (moment's
 * `require('./locale/' + name)`): resolved from the file `fromKey` (a key this worker served),
 * within that file's own package, which must be an offered one or in an offered one's closure.
 */
export function packageBundleFrom(fromKey: string, specifier: string): string {
  if (fromKey.length > 300 || specifier.length > 200 || !RELATIVE.test(specifier)) return '';
  const from = join(root(), ...fromKey.split('/'));
  if (keyOf(from) !== fromKey || !files.has(from)) return '';
  let pkgDir: string;
  try { pkgDir = realpathSync(join(root(), packageName(fromKey))); } catch { return ''; }
  const owner = Object.keys(PACKAGES).find((p) => allowedDirs(p).includes(pkgDir));
  if (owner === undefined) return '';
  return cached(`${fromKey}\u0000${specifier}`, () => {
    try {
      return bundleFor(realpathSync(createRequire(from).resolve(specifier)), allowedDirs(owner), pkgDir);
    } catch {
      return '';
    }
  });
}
