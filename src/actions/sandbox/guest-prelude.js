// Gatehouse Actions: the guest prelude.
//
// This file is NOT a Node module. runner.ts reads it as text and runs it once in every fresh
// isolated-vm context, before the action's own code. It builds everything the guest sees
// (console, timers, URL, TextEncoder, atob/btoa, crypto, fetch, structuredClone) and the
// per-execution `api` recorder, and exposes to the host a handful of entry points on
// `globalThis.__gh`, which the host takes as References and deletes before action code runs.
//
// Invariants (see SECURITY.md §3.7 and DESIGN.md "The sandbox"):
// - Everything that crosses to the host is a string built here, inside a timed call; the host
//   checks its size and parses it. The host never reads a guest object: run()'s result box is
//   a null-prototype object with one string property that only this closure can reach, and
//   isolated-vm copies it as plain data (no getter, no prototype, no action code runs).
// - The only host function reachable from here is `host(op, a, b, c)` (strings in, string out:
//   HMAC, digests, URL parsing, random bytes, signatures and AES: host-bridge.ts lists them). It
//   is captured in this closure and deleted from the global object, so action code cannot call
//   it directly, and every call is checked here to be bounded strings first.
// - Timers and fetch never call into the host: they are queued here and reported by
//   `collect()`; the host delivers their completion with `wake()`, always with a timeout.
// - Action code can tamper with shared built-ins (Object.prototype, JSON, ...). That can only
//   corrupt its own result, which the host validates like any other untrusted input.
(function (G) {
  'use strict';

  const hostFn = G.__gh_host;
  delete G.__gh_host;
  // The server's issuer URL, without a trailing slash ('' for none): require('auth0')'s clients
  // given its host as their domain reach it there (its scheme, port and path).
  const ISSUER = typeof G.__gh_issuer === 'string' ? G.__gh_issuer : '';
  delete G.__gh_issuer;
  // Every call to the host goes through here. isolated-vm copies a Callback's arguments into the
  // worker's heap before the host function can look at them, outside the isolate's memory limit
  // and its timeout: what crosses must be checked on this side, with what action code cannot
  // change (typeof and a string's length are not built-ins it can replace). Without this, an
  // action that replaced Array.prototype.join (digest's data), WeakMap.prototype.get (a key's
  // state) or a getter read twice could hand the host an array of 20,000 one-megabyte strings:
  // the worker grew to 3 GB before the deadline killed it.
  const HOST_MAX = 1024 * 1024; // host-bridge.ts MAX_ARG: 512 KB of data as hex
  const HOST_URL_MAX = 65536;
  function host(op, a, b, c) {
    const max = op === 'url.parse' || op === 'url.set' ? HOST_URL_MAX : HOST_MAX;
    if (typeof a !== 'string' || typeof b !== 'string' || typeof c !== 'string' || a.length > max || b.length > max || c.length > max) return '';
    return hostFn(op, a, b, c);
  }
  // No shared memory, no Atomics.wait, no WebAssembly (DESIGN: nothing an action needs).
  delete G.SharedArrayBuffer;
  delete G.Atomics;
  delete G.WebAssembly;

  // ---- intrinsics captured before any action code runs ------------------------------------
  const O = Object, S = String, N = Number, A = Array;
  const JSONparse = JSON.parse, JSONstringify = JSON.stringify;
  const defineProperty = O.defineProperty, keys = O.keys, freeze = O.freeze, hasOwn = O.hasOwn, objCreate = O.create;
  const isArray = A.isArray;
  const apply = Reflect.apply;
  const P = Promise;
  const promiseThen = P.prototype.then;
  const promiseResolve = (v) => apply(P.resolve, P, [v]);
  const promiseReject = (e) => apply(P.reject, P, [e]);
  const dateNow = Date.now;
  const floor = Math.floor, mathMin = Math.min;
  const fromCharCode = S.fromCharCode;
  const MapC = Map, WeakMapC = WeakMap;
  const wmGet = WeakMapC.prototype.get, arrJoin = A.prototype.join;
  const Uint8ArrayC = Uint8Array, ArrayBufferC = ArrayBuffer;
  const isView = ArrayBuffer.isView;
  const Err = Error, TypeErr = TypeError, RangeErr = RangeError;
  const iteratorSym = Symbol.iterator, toPrimitiveSym = Symbol.toPrimitive, toStringTagSym = Symbol.toStringTag;

  function def(o, name, value) {
    defineProperty(o, name, { value, writable: true, enumerable: false, configurable: true });
  }

  // ---- per-execution state -----------------------------------------------------------------
  let mod = null;             // { exports } after init
  let initPhase = false;      // module top level is running
  let active = false;         // an execution is under way (from run() until the next run(), or collect()/abort() ending it)
  let epoch = 0;              // execution number, set by the host
  let settled = false;        // the handler's outcome is known
  let failed = null;          // { name, message } when it threw or rejected
  let skipped = false;        // the handler is not exported
  let cmds = '', cmdBytes = 0, resultBytes = 102400;
  let logs = '', logBytes = 0, consoleBytes = 4096, logFull = false;
  const timers = new MapC();  // id -> { fn, args, ms, repeat, due }
  let timerSeq = 0;
  const fetchWaiting = new MapC(); // id -> { resolve, reject, url }
  let execListeners = [];     // [signal state, fn] or [unsubscribe, fn]: dropped when the execution ends
  let fetchOut = '', fetchSeq = 0, fetchCount = 0;
  let curEvent = null, curCtx = null, curApi = null, execApi = null;
  let curRedirectJson = 'null', curRedirect; // parsed on first use (undefined until then)
  let curCacheJson = '{}', curCache = null;

  const MAX_TIMERS = 1000, MAX_FETCHES = 50;
  const LOG_MARK = '[console output truncated]\n';

  function utf8Len(s) {
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { n += 4; i++; } else n += 3;
      } else n += 3;
    }
    return n;
  }

  // ---- secrets kept out of console output and error messages ---------------------------------
  // The host redacts each secret's exact text from logs and errors, but formatting here quotes,
  // escapes and cuts strings first (and JSON.stringify in action code escapes them): a cut or
  // escaped secret would no longer match there. So text is scrubbed here, before any of that:
  // the secrets' values and their JSON- and quote-escaped forms become [REDACTED]. (This is
  // against accidents: an action can always encode its own secret beyond recognition.)
  let secretForms = [], secretsJsonLast = '{}';
  function setSecrets(obj) {
    const forms = [];
    if (obj !== null && typeof obj === 'object') {
      const ks = keys(obj);
      for (let i = 0; i < ks.length; i++) {
        const v = obj[ks[i]];
        if (typeof v !== 'string' || v.length < 4) continue;
        const json = JSONstringify(v).slice(1, -1);
        const quoted = quote(v).slice(1, -1);
        forms.push(v);
        if (json !== v) forms.push(json);
        if (quoted !== v && quoted !== json) forms.push(quoted);
        // As it appears in a query string (encodeURIComponent, and axios's params encoding).
        let uri = null;
        try { uri = encodeURIComponent(v); } catch { /* a lone surrogate: no such form */ }
        if (uri !== null && uri !== v && forms.indexOf(uri) === -1) forms.push(uri);
        const plus = uri === null ? null : uri.replace(/%3A/gi, ':').replace(/%24/g, '$').replace(/%2C/gi, ',').replace(/%20/g, '+');
        if (plus !== null && plus !== v && forms.indexOf(plus) === -1) forms.push(plus);
      }
    }
    forms.sort((a, b) => b.length - a.length);
    secretForms = forms;
  }
  function scrub(s) {
    if (secretForms.length === 0) return s;
    for (let i = 0; i < secretForms.length; i++) {
      const f = secretForms[i];
      if (s.indexOf(f) !== -1) s = s.split(f).join('[REDACTED]');
    }
    return s;
  }

  function cap(s, n) { s = scrub(s); return s.length > n ? s.slice(0, n) + '…' : s; }

  // A thrown value becomes { name, message } without letting anything escape: `throw null`,
  // numbers, Symbols, Proxies and throwing getters all end up as plain strings. A getter that
  // loops simply runs into the host's timeout: this always runs inside a timed call.
  function describe(e) {
    try {
      if (e === null) return { name: 'Error', message: 'Action threw null' };
      const t = typeof e;
      if (t === 'undefined') return { name: 'Error', message: 'Action threw undefined' };
      if (t === 'string') return { name: 'Error', message: cap(e, 1000) };
      if (t === 'number' || t === 'boolean' || t === 'bigint') return { name: 'Error', message: 'Action threw ' + S(e) };
      if (t === 'symbol') return { name: 'Error', message: 'Action threw a Symbol' };
      let name = 'Error', message = '';
      try { const n = e.name; if (typeof n === 'string' && n) name = cap(n, 100); } catch { /* unreadable */ }
      try {
        const m = e.message;
        if (typeof m === 'string') message = cap(m, 1000);
        else message = 'Action threw a non-Error value';
      } catch { message = 'Action threw an unreadable value'; }
      return { name, message };
    } catch {
      return { name: 'Error', message: 'Action failed' };
    }
  }

  function fail(e) {
    if (settled) return;
    settled = true;
    failed = describe(e);
    publish();
  }

  // ---- console -----------------------------------------------------------------------------
  function quote(s) { return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'"; }

  function inspect(v, depth, seen) {
    switch (typeof v) {
      case 'string': return depth === 0 ? v : quote(cap(v, 200));
      case 'number': return O.is(v, -0) ? '-0' : S(v);
      case 'bigint': return S(v) + 'n';
      case 'boolean': case 'undefined': return S(v);
      case 'symbol': return 'Symbol()';
      case 'function': {
        let n = '';
        try { n = typeof v.name === 'string' ? v.name : ''; } catch { /* ignore */ }
        return '[Function: ' + (n || '(anonymous)') + ']';
      }
    }
    if (v === null) return 'null';
    if (seen.indexOf(v) !== -1) return '[Circular]';
    if (v instanceof Err) {
      try {
        const st = v.stack;
        if (typeof st === 'string' && st) return depth === 0 ? st : '[' + cap(st.split('\n')[0], 200) + ']';
      } catch { /* fall through */ }
      const d = describe(v);
      return d.name + ': ' + d.message;
    }
    if (v instanceof Date) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
    if (v instanceof RegExp) return S(v);
    if (v instanceof P) return 'Promise {}';
    if (depth > 2) return isArray(v) ? '[Array]' : '[Object]';
    // Bytes are shown as numbers, which scrub() cannot recognise: bytes that hold a secret's
    // text (a Buffer made from it, say) are not shown at all.
    if (secretForms.length !== 0 && isView(v) && v.BYTES_PER_ELEMENT === 1 && v.length >= 4) {
      const text = utf8Decode(new Uint8ArrayC(v.buffer, v.byteOffset, mathMin(v.length, 65536)), false, true);
      if (scrub(text) !== text) return (nodeBuilt !== null && v instanceof nodeBuilt.Buffer ? '<Buffer' : 'Uint8Array(' + v.length + ')') + ' [REDACTED]' + (nodeBuilt !== null && v instanceof nodeBuilt.Buffer ? '>' : '');
    }
    seen.push(v);
    try {
      let out = '', n = 0;
      if (nodeBuilt !== null && v instanceof nodeBuilt.Buffer) {
        for (let i = 0; i < v.length && i < 50; i++) out += ' ' + HEXD[v[i] >> 4] + HEXD[v[i] & 15];
        return '<Buffer' + out + (v.length > 50 ? ' ... ' + (v.length - 50) + ' more bytes' : '') + '>';
      }
      if (isArray(v) || isView(v)) {
        const len = v.length;
        for (let i = 0; i < len && i < 30; i++) out += (i ? ', ' : '') + inspect(v[i], depth + 1, seen);
        if (len > 30) out += ', ... ' + (len - 30) + ' more items';
        const pre = isArray(v) ? '' : (v.constructor && v.constructor.name || 'TypedArray') + '(' + len + ') ';
        return pre + (out ? '[ ' + out + ' ]' : '[]');
      }
      if (v instanceof MapC) {
        for (const [k, x] of v) { if (n++ >= 30) { out += ', ...'; break; } out += (n > 1 ? ', ' : '') + inspect(k, depth + 1, seen) + ' => ' + inspect(x, depth + 1, seen); }
        return 'Map(' + v.size + ') {' + (out ? ' ' + out + ' ' : '') + '}';
      }
      if (v instanceof Set) {
        for (const x of v) { if (n++ >= 30) { out += ', ...'; break; } out += (n > 1 ? ', ' : '') + inspect(x, depth + 1, seen); }
        return 'Set(' + v.size + ') {' + (out ? ' ' + out + ' ' : '') + '}';
      }
      const ks = keys(v);
      for (let i = 0; i < ks.length && i < 30; i++) {
        const k = ks[i];
        out += (i ? ', ' : '') + (/^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k)) + ': ' + inspect(v[k], depth + 1, seen);
      }
      if (ks.length > 30) out += ', ... ' + (ks.length - 30) + ' more';
      return out ? '{ ' + out + ' }' : '{}';
    } finally {
      seen.pop();
    }
  }

  function show(v) {
    try { return typeof v === 'string' ? v : inspect(v, 0, []); } catch { return '[uninspectable]'; }
  }

  function format(args, all) {
    // Formatting stops past the budget, but not before a secret that starts inside it is whole:
    // scrub() must see it entire, or the part before the stop would be kept (writeLog cuts after).
    // util.format (`all`) has no budget: its text goes wherever the action puts it.
    const limit = all === true ? Infinity : consoleBytes + (secretForms.length ? secretForms[0].length : 0);
    let out = '', i = 0;
    const f = args[0];
    if (typeof f === 'string' && args.length > 1 && f.indexOf('%') !== -1) {
      i = 1;
      for (let j = 0; j < f.length; j++) {
        const ch = f[j];
        if (ch === '%' && j + 1 < f.length) {
          const c = f[j + 1];
          if (c === '%') { out += '%'; j++; continue; }
          if ('sdifjoOc'.indexOf(c) !== -1) {
            if (i >= args.length) { out += '%' + c; j++; continue; }
            const a = args[i++];
            j++;
            try {
              if (c === 's') out += typeof a === 'string' ? a : show(a);
              else if (c === 'd' || c === 'i') out += typeof a === 'object' ? 'NaN' : S(c === 'i' ? parseInt(a) : N(a));
              else if (c === 'f') out += S(parseFloat(a));
              else if (c === 'j') out += JSONstringify(a);
              else if (c === 'o' || c === 'O') out += show(a);
            } catch { out += '[uninspectable]'; }
            continue;
          }
        }
        out += ch;
        if (out.length > limit) break;
      }
    }
    for (; i < args.length; i++) {
      if (i > 0) out += ' ';
      out += show(args[i]);
      if (out.length > limit) break;
    }
    return out;
  }

  /** The longest start of `s` whose UTF-8 takes at most `n` bytes (a surrogate pair is never split). */
  function headBytes(s, n) {
    let b = 0, i = 0;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      // A pair only when a low surrogate follows (as utf8Len counts): a lone high one is 3 bytes.
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      const pair = c >= 0xd800 && c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff;
      const w = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
      if (b + w > n) break;
      b += w;
      i += pair ? 2 : 1;
    }
    return s.slice(0, i);
  }

  // A line is kept whole as long as the execution's budget (consoleBytes) has room, as Node's
  // console would print it: a JSON.stringify(event) must stay readable. The line that does not
  // fit is cut where the budget ends, marked, and nothing more is kept. Secrets are scrubbed
  // before any cut, and format() does not stop inside one (a cut never leaves half a secret).
  function writeLog(args) {
    if ((!active && !initPhase) || logFull) return;
    const line = scrub(format(args)) + '\n';
    const b = utf8Len(line);
    const room = consoleBytes - LOG_MARK.length - logBytes;
    if (b > room) {
      logFull = true;
      // '…\n' takes 4 bytes.
      if (room > 4) { const head = headBytes(line, room - 4) + '…\n'; logs += head; logBytes += utf8Len(head); }
      if (logBytes + LOG_MARK.length <= consoleBytes) { logs += LOG_MARK; logBytes += LOG_MARK.length; }
      if (settled) publish();
      return;
    }
    logs += line;
    logBytes += b;
    if (settled) publish();
  }

  const consoleObj = {};
  for (const m of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir']) {
    def(consoleObj, m, function () {
      const a = [];
      for (let i = 0; i < arguments.length; i++) a[i] = arguments[i];
      writeLog(a);
    });
  }
  def(G, 'console', consoleObj);

  // ---- bytes: UTF-8, base64 -----------------------------------------------------------------
  function utf8Encode(str) {
    const out = new Uint8ArrayC(utf8Len(str));
    let p = 0;
    for (let i = 0; i < str.length; i++) {
      let c = str.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < str.length) {
        const d = str.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; } else c = 0xfffd;
      } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x80) out[p++] = c;
      else if (c < 0x800) { out[p++] = 0xc0 | (c >> 6); out[p++] = 0x80 | (c & 63); }
      else if (c < 0x10000) { out[p++] = 0xe0 | (c >> 12); out[p++] = 0x80 | ((c >> 6) & 63); out[p++] = 0x80 | (c & 63); }
      else { out[p++] = 0xf0 | (c >> 18); out[p++] = 0x80 | ((c >> 12) & 63); out[p++] = 0x80 | ((c >> 6) & 63); out[p++] = 0x80 | (c & 63); }
    }
    return out;
  }

  function codeUnitsToString(units) {
    let s = '';
    for (let i = 0; i < units.length; i += 8192) s += apply(fromCharCode, S, units.slice(i, i + 8192));
    return s;
  }

  // WHATWG UTF-8 decode (replacement per maximal subpart, or throw when fatal).
  function utf8Decode(b, fatal, ignoreBOM) {
    // Decoded into chunks of code units: a large input is not one array of a number per byte.
    const parts = [];
    let units = [];
    let cp = 0, need = 0, seen = 0, lower = 0x80, upper = 0xbf;
    const bad = () => { if (fatal) throw new TypeErr('The encoded data was not valid for encoding utf-8'); units.push(0xfffd); };
    const emit = (c) => {
      if (c >= 0x10000) { c -= 0x10000; units.push(0xd800 + (c >> 10), 0xdc00 + (c & 1023)); } else units.push(c);
    };
    for (let i = 0; i < b.length; i++) {
      if (units.length >= 8192 && need === 0) { parts.push(codeUnitsToString(units)); units = []; }
      const byte = b[i];
      if (need === 0) {
        if (byte <= 0x7f) units.push(byte);
        else if (byte >= 0xc2 && byte <= 0xdf) { need = 1; cp = byte & 0x1f; }
        else if (byte >= 0xe0 && byte <= 0xef) { if (byte === 0xe0) lower = 0xa0; if (byte === 0xed) upper = 0x9f; need = 2; cp = byte & 0xf; }
        else if (byte >= 0xf0 && byte <= 0xf4) { if (byte === 0xf0) lower = 0x90; if (byte === 0xf4) upper = 0x8f; need = 3; cp = byte & 7; }
        else bad();
        continue;
      }
      if (byte < lower || byte > upper) {
        cp = need = seen = 0; lower = 0x80; upper = 0xbf;
        bad();
        i--;
        continue;
      }
      lower = 0x80; upper = 0xbf;
      cp = (cp << 6) | (byte & 0x3f);
      if (++seen === need) { emit(cp); cp = need = seen = 0; }
    }
    if (need) bad();
    parts.push(codeUnitsToString(units));
    const out = parts.length === 1 ? parts[0] : parts.join('');
    return !ignoreBOM && out.charCodeAt(0) === 0xfeff ? out.slice(1) : out;
  }

  function toBytes(input) {
    if (input instanceof ArrayBufferC) return new Uint8ArrayC(input);
    if (isView(input)) return new Uint8ArrayC(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeErr('The "input" argument must be an ArrayBuffer or ArrayBufferView');
  }

  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  // Built a chunk of character codes at a time: a large input does not become a rope of
  // four-character strings (a 4 MB buffer's base64 ran an isolate out of memory that way).
  function bytesToB64(bytes, alphabet, pad) {
    const parts = [];
    const codes = [];
    let i = 0;
    while (i + 2 < bytes.length) {
      const end = mathMin(bytes.length - 2, i + 6144);
      codes.length = 0;
      for (; i < end; i += 3) {
        const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
        codes.push(alphabet.charCodeAt(n >> 18), alphabet.charCodeAt((n >> 12) & 63), alphabet.charCodeAt((n >> 6) & 63), alphabet.charCodeAt(n & 63));
      }
      parts.push(apply(fromCharCode, S, codes));
    }
    let out = parts.length === 1 ? parts[0] : parts.join('');
    if (i < bytes.length) {
      const n = (bytes[i] << 16) | ((i + 1 < bytes.length ? bytes[i + 1] : 0) << 8);
      out += alphabet[n >> 18] + alphabet[(n >> 12) & 63];
      if (i + 1 < bytes.length) out += alphabet[(n >> 6) & 63] + (pad ? '=' : '');
      else out += pad ? '==' : '';
    }
    return out;
  }
  // Returns an array of byte values, or null when `s` is not valid (already stripped of padding).
  function b64ToBytes(s, alphabet) {
    if (s.length % 4 === 1) return null;
    const out = [];
    let acc = 0, bits = 0;
    for (let i = 0; i < s.length; i++) {
      const v = alphabet.indexOf(s[i]);
      if (v === -1) return null;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) { bits -= 8; out.push((acc >> bits) & 0xff); }
    }
    return out;
  }

  // WebIDL's legacy codes, which `code` gives as in browsers and Node.js (0 for newer names).
  const DOM_CODES = {
    __proto__: null, IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11, SyntaxError: 12,
    InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18,
    NetworkError: 19, AbortError: 20, URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24,
    DataCloneError: 25,
  };
  class DOMException extends Err {
    constructor(message, name) {
      super(message === undefined ? '' : S(message));
      def(this, 'name', name === undefined ? 'Error' : S(name));
    }
    get code() { return DOM_CODES[this.name] || 0; }
  }

  function btoa(data) {
    if (arguments.length === 0) throw new TypeErr('The "data" argument must be specified');
    const s = S(data);
    const bytes = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) throw new DOMException('Invalid character', 'InvalidCharacterError');
      bytes.push(c);
    }
    return bytesToB64(bytes, B64, true);
  }
  function atob(data) {
    if (arguments.length === 0) throw new TypeErr('The "data" argument must be specified');
    let s = S(data).replace(/[\t\n\f\r ]/g, '');
    if (s.length % 4 === 0) s = s.replace(/==?$/, '');
    const bytes = b64ToBytes(s, B64);
    if (bytes === null) throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
    return codeUnitsToString(bytes);
  }
  function b64uEncodeString(s) { return bytesToB64(utf8Encode(s), B64U, false); }
  function b64uDecodeString(s) {
    const bytes = b64ToBytes(s, B64U);
    if (bytes === null) throw new TypeErr('invalid base64url');
    return utf8Decode(bytes, true, true);
  }

  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(input) { return utf8Encode(input === undefined ? '' : S(input)); }
    encodeInto(src, dest) {
      const bytes = utf8Encode(S(src));
      const n = mathMin(bytes.length, dest.length);
      // Do not split a character: step back to a boundary.
      let w = n;
      while (w > 0 && w < bytes.length && (bytes[w] & 0xc0) === 0x80) w--;
      for (let i = 0; i < w; i++) dest[i] = bytes[i];
      const read = utf8Decode(bytes.subarray(0, w), false, true).length;
      return { read, written: w };
    }
  }
  const TD = new WeakMapC();
  class TextDecoder {
    constructor(label, options) {
      const l = label === undefined ? 'utf-8' : S(label).trim().toLowerCase();
      if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') throw new RangeErr('The "' + l + '" encoding is not supported');
      const o = options || {};
      TD.set(this, { fatal: !!o.fatal, ignoreBOM: !!o.ignoreBOM });
    }
    get encoding() { return 'utf-8'; }
    get fatal() { return TD.get(this).fatal; }
    get ignoreBOM() { return TD.get(this).ignoreBOM; }
    decode(input) {
      const st = TD.get(this);
      if (input === undefined) return '';
      return utf8Decode(toBytes(input), st.fatal, st.ignoreBOM);
    }
  }

  // ---- URLSearchParams (pure) and URL (parsed by the host's WHATWG parser) -----------------
  function pctDecode(s) {
    if (s.indexOf('%') === -1) return s;
    const bytes = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 37 && i + 2 < s.length + 0 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
        bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (c < 0x80) bytes.push(c);
      else {
        let j = i + 1;
        if (c >= 0xd800 && c <= 0xdbff && j < s.length) j++;
        const enc = utf8Encode(s.slice(i, j));
        for (let k = 0; k < enc.length; k++) bytes.push(enc[k]);
        i = j - 1;
      }
    }
    return utf8Decode(bytes, false, true);
  }
  const HEX = '0123456789ABCDEF';
  function formEncode(s) {
    const b = utf8Encode(s);
    let out = '';
    for (let i = 0; i < b.length; i++) {
      const c = b[i];
      if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2a || c === 0x2d || c === 0x2e || c === 0x5f) out += fromCharCode(c);
      else if (c === 0x20) out += '+';
      else out += '%' + HEX[c >> 4] + HEX[c & 15];
    }
    return out;
  }
  function parseQuery(s) {
    const out = [];
    if (!s) return out;
    const seqs = s.split('&');
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i];
      if (!seq) continue;
      const eq = seq.indexOf('=');
      const n = eq === -1 ? seq : seq.slice(0, eq);
      const v = eq === -1 ? '' : seq.slice(eq + 1);
      out.push([pctDecode(n.replace(/\+/g, ' ')), pctDecode(v.replace(/\+/g, ' '))]);
    }
    return out;
  }

  const SP = new WeakMapC(); // URLSearchParams -> { list, url }
  const URLS = new WeakMapC(); // URL -> { c: components, sp }
  function spUpdate(sp) {
    const st = SP.get(sp);
    if (st.url) {
      const u = URLS.get(st.url);
      const q = serializeQuery(st.list);
      const r = host('url.set', u.c.href, 'search', q);
      if (r) u.c = JSONparse(r);
    }
  }
  function serializeQuery(list) {
    let out = '';
    for (let i = 0; i < list.length; i++) out += (i ? '&' : '') + formEncode(list[i][0]) + '=' + formEncode(list[i][1]);
    return out;
  }
  function usv(v) { return S(v); }

  class URLSearchParams {
    constructor(init) {
      const list = [];
      SP.set(this, { list, url: null });
      if (init === undefined || init === null) return;
      if (typeof init === 'object' || typeof init === 'function') {
        if (init instanceof URLSearchParams) {
          const src = SP.get(init).list;
          for (let i = 0; i < src.length; i++) list.push([src[i][0], src[i][1]]);
        } else if (typeof init[iteratorSym] === 'function') {
          for (const pair of init) {
            const p = [...pair];
            if (p.length !== 2) throw new TypeErr('Each query pair must be an iterable [name, value] tuple');
            list.push([usv(p[0]), usv(p[1])]);
          }
        } else {
          const ks = keys(init);
          for (let i = 0; i < ks.length; i++) list.push([ks[i], usv(init[ks[i]])]);
        }
      } else {
        let s = S(init);
        if (s[0] === '?') s = s.slice(1);
        const parsed = parseQuery(s);
        for (let i = 0; i < parsed.length; i++) list.push(parsed[i]);
      }
    }
    get size() { return SP.get(this).list.length; }
    append(name, value) { SP.get(this).list.push([usv(name), usv(value)]); spUpdate(this); }
    delete(name, value) {
      const st = SP.get(this), n = usv(name), v = value === undefined ? undefined : usv(value);
      st.list = st.list.filter((p) => !(p[0] === n && (v === undefined || p[1] === v)));
      spUpdate(this);
    }
    get(name) { const n = usv(name); const p = SP.get(this).list.find((x) => x[0] === n); return p ? p[1] : null; }
    getAll(name) { const n = usv(name); return SP.get(this).list.filter((x) => x[0] === n).map((x) => x[1]); }
    has(name, value) {
      const n = usv(name), v = value === undefined ? undefined : usv(value);
      return SP.get(this).list.some((p) => p[0] === n && (v === undefined || p[1] === v));
    }
    set(name, value) {
      const st = SP.get(this), n = usv(name), v = usv(value);
      const i = st.list.findIndex((p) => p[0] === n);
      if (i === -1) st.list.push([n, v]);
      else { st.list[i][1] = v; st.list = st.list.filter((p, j) => j <= i || p[0] !== n); }
      spUpdate(this);
    }
    sort() {
      const st = SP.get(this);
      const idx = st.list.map((p, i) => [p, i]);
      idx.sort((a, b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1]));
      st.list = idx.map((x) => x[0]);
      spUpdate(this);
    }
    forEach(cb, thisArg) {
      const list = SP.get(this).list;
      for (let i = 0; i < list.length; i++) apply(cb, thisArg, [list[i][1], list[i][0], this]);
    }
    *entries() { const list = SP.get(this).list; for (let i = 0; i < list.length; i++) yield [list[i][0], list[i][1]]; }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [iteratorSym]() { return this.entries(); }
    toString() { return serializeQuery(SP.get(this).list); }
    get [toStringTagSym]() { return 'URLSearchParams'; }
  }

  function urlParse(input, base) {
    const r = base === undefined ? host('url.parse', S(input), '', '0') : host('url.parse', S(input), S(base), '1');
    if (!r) throw new TypeErr('Invalid URL');
    return JSONparse(r);
  }
  function urlState(u) {
    const st = URLS.get(u);
    if (!st) throw new TypeErr('Receiver is not a URL');
    return st;
  }
  class URL {
    constructor(input, base) {
      if (arguments.length === 0) throw new TypeErr('The "url" argument must be specified');
      URLS.set(this, { c: urlParse(input, base), sp: null });
    }
    static canParse(input, base) {
      try { urlParse(input, base); return true; } catch { return false; }
    }
    static parse(input, base) {
      try { return new URL(input, base); } catch { return null; }
    }
    get href() { return urlState(this).c.href; }
    set href(v) {
      const st = urlState(this);
      st.c = urlParse(v);
      if (st.sp) SP.get(st.sp).list = parseQuery(st.c.search.slice(1));
    }
    get origin() { return urlState(this).c.origin; }
    get searchParams() {
      const st = urlState(this);
      if (!st.sp) {
        st.sp = new URLSearchParams(st.c.search.slice(1));
        SP.get(st.sp).url = this;
      }
      return st.sp;
    }
    toString() { return urlState(this).c.href; }
    toJSON() { return urlState(this).c.href; }
    get [toStringTagSym]() { return 'URL'; }
  }
  for (const prop of ['protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash']) {
    defineProperty(URL.prototype, prop, {
      get() { return urlState(this).c[prop]; },
      set(v) {
        const st = urlState(this);
        const r = host('url.set', st.c.href, prop, S(v));
        if (r) {
          st.c = JSONparse(r);
          if (prop === 'search' && st.sp) SP.get(st.sp).list = parseQuery(st.c.search.slice(1));
        }
      },
      enumerable: true,
      configurable: true,
    });
  }

  // ---- crypto ------------------------------------------------------------------------------
  /** The host's hex (random bytes, digests, MACs) into `view`. */
  function hexInto(hex, view) {
    for (let i = 0; i < view.length; i++) view[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  const cryptoObj = {};
  def(cryptoObj, 'getRandomValues', function getRandomValues(arr) {
    if (!isView(arr) || arr instanceof DataView || arr instanceof Float32Array || arr instanceof Float64Array) {
      throw new DOMException('The data argument must be an integer-type TypedArray', 'TypeMismatchError');
    }
    const n = arr.byteLength;
    if (n > 65536) throw new DOMException('The ArrayBufferView\'s byte length (' + n + ') exceeds the number of bytes of entropy available via this API (65536)', 'QuotaExceededError');
    hexInto(host('random', S(n), '', ''), new Uint8ArrayC(arr.buffer, arr.byteOffset, n));
    return arr;
  });
  def(cryptoObj, 'randomUUID', function randomUUID() { return host('uuid', '', '', ''); });

  // crypto.subtle: digests and HMAC (what Auth0 Actions use node's crypto for: an Intercom or
  // Zendesk user hash, a partner API's HS256 token, a webhook signature). The bytes go to the
  // host as hex and come back as hex; each call settles at once.
  const HEXD = '0123456789abcdef';
  const HASHES = { __proto__: null, 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
  const KEYS = new WeakMapC();
  function toHex(input) {
    const b = toBytes(input);
    if (b.length > 512 * 1024) throw new DOMException('The data is larger than 512 KB', 'OperationError');
    return hexEncode(b);
  }
  function fromHex(hex) {
    const buf = new ArrayBufferC(hex.length >> 1);
    hexInto(hex, new Uint8ArrayC(buf));
    return buf;
  }
  function algName(a) {
    const n = typeof a === 'string' ? a : a !== null && typeof a === 'object' ? a.name : undefined;
    if (typeof n !== 'string') throw new TypeErr('Algorithm: name is required');
    return n.toUpperCase();
  }
  function hashName(a) {
    const n = algName(a);
    if (!(n in HASHES)) throw new DOMException('Unrecognized hash name: ' + cap(S(n), 50), 'NotSupportedError');
    return n;
  }
  class CryptoKey {
    constructor() { throw new TypeErr('Illegal constructor'); }
  }
  function newKey(bytesHex, hash, extractable, usages) {
    const k = objCreate(CryptoKey.prototype);
    def(k, 'type', 'secret');
    def(k, 'extractable', extractable === true);
    def(k, 'algorithm', freeze({ name: 'HMAC', hash: freeze({ name: hash }), length: bytesHex.length * 4 }));
    def(k, 'usages', freeze(usages));
    KEYS.set(k, { hex: bytesHex, hash, usages });
    return freeze(k);
  }
  function keyFor(key, usage) {
    const k = key !== null && typeof key === 'object' ? apply(wmGet, KEYS, [key]) : undefined;
    if (!k) throw new TypeErr('The key is not a CryptoKey made by crypto.subtle.importKey');
    if (k.usages.indexOf(usage) < 0) throw new DOMException('The key may not be used to ' + usage, 'InvalidAccessError');
    return k;
  }
  function settleNow(fn) {
    try { return promiseResolve(fn()); } catch (e) { return promiseReject(e); }
  }
  function hmacHex(k, data) {
    const out = host('hmac.raw', HASHES[k.hash], k.hex, toHex(data));
    if (out === '') throw new DOMException('The operation failed', 'OperationError');
    return out;
  }
  const subtle = objCreate(null);
  def(subtle, 'digest', function digest(algorithm, data) {
    return settleNow(() => {
      const h = hashName(algorithm);
      const out = host('digest', HASHES[h], toHex(data), '');
      if (out === '') throw new DOMException('The operation failed', 'OperationError');
      return fromHex(out);
    });
  });
  def(subtle, 'importKey', function importKey(format, keyData, algorithm, extractable, usages) {
    return settleNow(() => {
      if (format !== 'raw') throw new DOMException('Only "raw" keys are supported by Gatehouse', 'NotSupportedError');
      if (algName(algorithm) !== 'HMAC') throw new DOMException('Only HMAC keys are supported by Gatehouse', 'NotSupportedError');
      const hash = hashName(algorithm.hash);
      const list = [];
      if (usages !== null && typeof usages === 'object') for (const u of usages) list[list.length] = S(u);
      for (let i = 0; i < list.length; i++) if (list[i] !== 'sign' && list[i] !== 'verify') throw new DOMException('Unsupported key usage for an HMAC key: ' + cap(list[i], 50), 'SyntaxError');
      if (list.length === 0) throw new DOMException('Usages cannot be empty when creating a key.', 'SyntaxError');
      const hex = toHex(keyData);
      if (hex === '') throw new DOMException('Zero-length key is not supported', 'DataError');
      return newKey(hex, hash, extractable, list);
    });
  });
  def(subtle, 'exportKey', function exportKey(format, key) {
    return settleNow(() => {
      const k = key !== null && typeof key === 'object' ? apply(wmGet, KEYS, [key]) : undefined;
      if (!k) throw new TypeErr('The key is not a CryptoKey made by crypto.subtle.importKey');
      if (format !== 'raw') throw new DOMException('Only "raw" keys are supported by Gatehouse', 'NotSupportedError');
      if (key.extractable !== true) throw new DOMException('key is not extractable', 'InvalidAccessError');
      return fromHex(k.hex);
    });
  });
  def(subtle, 'sign', function sign(algorithm, key, data) {
    return settleNow(() => {
      if (algName(algorithm) !== 'HMAC') throw new DOMException('Only HMAC is supported by Gatehouse', 'NotSupportedError');
      return fromHex(hmacHex(keyFor(key, 'sign'), data));
    });
  });
  def(subtle, 'verify', function verify(algorithm, key, signature, data) {
    return settleNow(() => {
      if (algName(algorithm) !== 'HMAC') throw new DOMException('Only HMAC is supported by Gatehouse', 'NotSupportedError');
      const expected = hmacHex(keyFor(key, 'verify'), data);
      const given = toHex(signature);
      // Both sides are the action's own: no timing to hide, but no early exit either.
      let diff = expected.length ^ given.length;
      for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ (i < given.length ? given.charCodeAt(i) : 0);
      return diff === 0;
    });
  });
  for (const m of ['encrypt', 'decrypt', 'generateKey', 'deriveKey', 'deriveBits', 'wrapKey', 'unwrapKey']) {
    def(subtle, m, function () { return promiseReject(new DOMException('crypto.subtle.' + m + ' is not supported by Gatehouse (digest, importKey, exportKey, sign and verify with HMAC are)', 'NotSupportedError')); });
  }
  freeze(subtle);
  def(cryptoObj, 'subtle', subtle);
  def(G, 'CryptoKey', CryptoKey);
  freeze(cryptoObj);
  def(G, 'crypto', cryptoObj);

  // ---- Buffer: the part of Node.js's that actions use -----------------------------------------
  // Auth0 runs actions on Node.js, where `Buffer` is a global: base64 for a Basic authorization
  // header, a JWT's payload decoded, hex digests. Pure JavaScript over Uint8Array, nothing of the
  // host. It follows Node's lib/buffer.js where behaviour is observable: its lenient decoding
  // (base64 takes both alphabets and skips anything else, stopping at '='; hex stops at the first
  // pair that is not hex; characters past U+00FF count by their low byte, as Node's decoders
  // read them), its argument checks and its error codes. node-compat.test.ts compares the two.
  //
  // Built on first use (the global Buffer read, or require() of a built-in), not with every
  // isolate: it is a third of the prelude, and most actions never touch it (measured: running the
  // prelude 0.52 ms with it built at once, 0.14 ms without; 220 KB more heap per isolate).
  let HEX2 = null;
  /** Hex of bytes, built a chunk at a time so that a large buffer is not a rope of two-character strings. */
  function hexEncode(b) {
    if (HEX2 === null) { HEX2 = []; for (let i = 0; i < 256; i++) HEX2.push(HEXD[i >> 4] + HEXD[i & 15]); }
    const parts = [];
    const chunk = [];
    for (let i = 0; i < b.length; i += 8192) {
      const end = mathMin(b.length, i + 8192);
      chunk.length = end - i;
      for (let j = i; j < end; j++) chunk[j - i] = HEX2[b[j]];
      parts.push(apply(arrJoin, chunk, ['']));
    }
    // The captured join: what this returns goes to the host.
    return apply(arrJoin, parts, ['']);
  }
  let nodeBuilt = null;
  function node() {
    if (nodeBuilt === null) nodeBuilt = makeNode();
    return nodeBuilt;
  }
  function makeNode() {
    const ENCODINGS = {
      __proto__: null, utf8: 'utf8', 'utf-8': 'utf8', hex: 'hex', base64: 'base64', base64url: 'base64url', latin1: 'latin1',
      binary: 'latin1', ascii: 'ascii', ucs2: 'utf16le', 'ucs-2': 'utf16le', utf16le: 'utf16le', 'utf-16le': 'utf16le',
    };
    function nodeError(C, code, message) {
      const e = new C(message);
      def(e, 'code', code);
      return e;
    }
    const shown = (v) => typeof v === 'string' ? "'" + cap(v, 50) + "'" : v === null ? 'null' : typeof v === 'object' || typeof v === 'function' ? typeof v : cap(S(v), 50);
    const argType = (name, what, v) => nodeError(TypeErr, 'ERR_INVALID_ARG_TYPE', 'The "' + name + '" argument must be ' + what + '. Received ' + shown(v));
    const outOfRange = (name, range, v) => nodeError(RangeErr, 'ERR_OUT_OF_RANGE', 'The value of "' + name + '" is out of range. It must be ' + range + '. Received ' + shown(v));
    const outOfBounds = () => nodeError(RangeErr, 'ERR_BUFFER_OUT_OF_BOUNDS', 'Attempt to access memory outside buffer bounds');
    /** Node's getEncodingOps: an encoding named by any value (converted to text), or undefined. */
    function encodingOf(enc) { return ENCODINGS[S(enc).toLowerCase()]; }
    function mustEncoding(enc) {
      const e = encodingOf(enc);
      if (e === undefined) throw nodeError(TypeErr, 'ERR_UNKNOWN_ENCODING', 'Unknown encoding: ' + cap(S(enc), 50));
      return e;
    }
    /** Node's validateOffset: an integer number in [min, max]. */
    function offsetArg(v, name, min, max) {
      if (typeof v !== 'number') throw argType(name, 'of type number', v);
      if (floor(v) !== v) throw outOfRange(name, 'an integer', v);
      if (v < min || v > max) throw outOfRange(name, '>= ' + min + ' && <= ' + max, v);
      return v;
    }
    /** Node's validateNumber for sizes: a number in [0, max] (fractions are cut by the typed array). */
    function sizeArg(v, name, max) {
      if (typeof v !== 'number') throw argType(name, 'of type number', v);
      if (!(v >= 0 && v <= max)) throw outOfRange(name, '>= 0 && <= ' + max, v);
      return v;
    }
    /** Node's toInteger: a safe integer (cut towards -∞) or the default. */
    function toInteger(v, dflt) {
      const n = +v;
      return n === n && n >= -9007199254740991 && n <= 9007199254740991 ? (n % 1 === 0 ? n : floor(n)) : dflt;
    }
    const B64T = new Int8Array(256).fill(-1);
    for (let i = 0; i < 64; i++) { B64T[B64.charCodeAt(i)] = i; B64T[B64U.charCodeAt(i)] = i; }
    const HEXV = new Int8Array(256).fill(-1);
    for (let i = 0; i < 16; i++) { HEXV[HEXD.charCodeAt(i)] = i; HEXV[HEXD.toUpperCase().charCodeAt(i)] = i; }
    /** A string's bytes in one of Node's encodings (`enc` already normalised): a Uint8Array. */
    function stringBytes(s, enc) {
      if (enc === 'utf8') return utf8Encode(s);
      let out, n = 0;
      if (enc === 'hex') {
        out = new Uint8ArrayC(s.length >> 1);
        for (; n < out.length; n++) {
          const h = HEXV[s.charCodeAt(2 * n) & 255], l = HEXV[s.charCodeAt(2 * n + 1) & 255];
          if (h < 0 || l < 0) break;
          out[n] = (h << 4) | l;
        }
      } else if (enc === 'base64' || enc === 'base64url') {
        out = new Uint8ArrayC(floor((s.length * 3) / 4) + 1);
        let acc = 0, bits = 0;
        for (let i = 0; i < s.length; i++) {
          const c = s.charCodeAt(i) & 255;
          if (c === 61) break;
          const v = B64T[c];
          if (v < 0) continue;
          acc = ((acc << 6) | v) & 0xffffff;
          bits += 6;
          if (bits >= 8) { bits -= 8; out[n++] = (acc >> bits) & 0xff; }
        }
      } else if (enc === 'utf16le') {
        out = new Uint8ArrayC(s.length * 2);
        for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); out[n++] = c & 0xff; out[n++] = c >> 8; }
      } else {
        out = new Uint8ArrayC(s.length);
        for (; n < s.length; n++) out[n] = s.charCodeAt(n);
      }
      return n === out.length ? out : apply(u8subarray, out, [0, n]);
    }
    function bytesString(b, enc) {
      switch (enc) {
        case 'utf8': return utf8Decode(b, false, true);
        case 'hex': return hexEncode(b);
        case 'base64': return bytesToB64(b, B64, true);
        case 'base64url': return bytesToB64(b, B64U, false);
        case 'latin1': return codeUnitsToString(b);
        case 'ascii': { const u = new Uint8ArrayC(b.length); for (let i = 0; i < b.length; i++) u[i] = b[i] & 0x7f; return codeUnitsToString(u); }
        default: {
          const u = new Uint16Array(b.length >> 1);
          for (let i = 0; i < u.length; i++) u[i] = b[2 * i] | (b[2 * i + 1] << 8);
          return codeUnitsToString(u);
        }
      }
    }
    /** Node's byteLength without encoding the string (hex and base64 from the length alone, as Node). */
    function stringByteLength(s, enc) {
      switch (enc) {
        case 'hex': return s.length >>> 1;
        case 'base64': case 'base64url': {
          let n = s.length;
          if (n > 0 && s.charCodeAt(n - 1) === 61) n--;
          if (n > 1 && s.charCodeAt(n - 1) === 61) n--;
          return (n * 3) >>> 2;
        }
        case 'utf16le': return s.length * 2;
        case 'latin1': case 'ascii': return s.length;
        default: return utf8Len(s);
      }
    }
    const MAX_BUFFER = 0x7fffffff;
    const u8set = Uint8ArrayC.prototype.set, u8fill = Uint8ArrayC.prototype.fill, u8subarray = Uint8ArrayC.prototype.subarray;
    const isU8 = (v) => v instanceof Uint8ArrayC;
    function fromString(s, enc) {
      const e = typeof enc !== 'string' || enc.length === 0 ? 'utf8' : mustEncoding(enc);
      return bufferOf(stringBytes(s, e));
    }
    function bufferOf(bytes) {
      const b = new Buffer(bytes.length);
      apply(u8set, b, [bytes]);
      return b;
    }
    function fromArrayLike(a) {
      const n = a.length;
      if (!(n > 0)) return new Buffer(0);
      const b = new Buffer(sizeArg(n, 'length', MAX_BUFFER));
      for (let i = 0; i < b.length; i++) b[i] = N(a[i]) & 255;
      return b;
    }
    function fromObject(o) {
      if (o.length !== undefined || o.buffer instanceof ArrayBufferC) return typeof o.length !== 'number' ? new Buffer(0) : fromArrayLike(o);
      if (o.type === 'Buffer' && isArray(o.data)) return fromArrayLike(o.data);
      return undefined;
    }
    function fromArrayBuffer(ab, byteOffset, length) {
      let off = 0;
      if (byteOffset !== undefined) { off = +byteOffset; if (off !== off) off = 0; }
      const max = ab.byteLength - off;
      if (max < 0) throw outOfBounds();
      let len = max;
      if (length !== undefined) {
        len = +length;
        if (len > 0) { if (len > max) throw outOfBounds(); } else len = 0;
      }
      return new Buffer(ab, off, len);
    }
    function bufferFrom(value, encodingOrOffset, length) {
      if (typeof value === 'string') return fromString(value, encodingOrOffset);
      if (typeof value === 'object' && value !== null) {
        if (value instanceof ArrayBufferC) return fromArrayBuffer(value, encodingOrOffset, length);
        const valueOf = typeof value.valueOf === 'function' ? value.valueOf() : undefined;
        if (valueOf !== null && valueOf !== undefined && valueOf !== value && (typeof valueOf === 'string' || typeof valueOf === 'object')) {
          return bufferFrom(valueOf, encodingOrOffset, length);
        }
        const b = fromObject(value);
        if (b !== undefined) return b;
        if (typeof value[toPrimitiveSym] === 'function') {
          const prim = value[toPrimitiveSym]('string');
          if (typeof prim === 'string') return fromString(prim, encodingOrOffset);
        }
      }
      throw argType('first', 'of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object', value);
    }
    /** Node's _copyActual: bytes of `source` from `ss` to `se` into `target` at `ts`, as many as fit. */
    function copyBytes(source, target, ts, ss, se) {
      if (se - ss > target.length - ts) se = ss + target.length - ts;
      let n = se - ss;
      if (n > source.length - ss) n = source.length - ss;
      if (n <= 0) return 0;
      apply(u8set, target, [apply(u8subarray, source, [ss, ss + n]), ts]);
      return n;
    }
    function compareRange(a, as, ae, b, bs, be) {
      const n = mathMin(ae - as, be - bs);
      for (let i = 0; i < n; i++) if (a[as + i] !== b[bs + i]) return a[as + i] < b[bs + i] ? -1 : 1;
      return ae - as < be - bs ? -1 : ae - as > be - bs ? 1 : 0;
    }
    /** Node's IndexOfOffset (src/node_buffer.cc): where a search starts, or -1. */
    function searchStart(len, offset, needleLen, forward) {
      if (offset < 0) return offset + len >= 0 ? len + offset : forward || needleLen === 0 ? 0 : -1;
      if (offset + needleLen <= len) return offset;
      return needleLen === 0 ? len : forward ? -1 : len - 1;
    }
    function indexOf(buf, val, byteOffset, encoding, forward) {
      if (typeof byteOffset === 'string') { encoding = byteOffset; byteOffset = undefined; }
      else if (byteOffset > 0x7fffffff) byteOffset = 0x7fffffff;
      else if (byteOffset < -0x80000000) byteOffset = -0x80000000;
      let offset = +byteOffset;
      if (offset !== offset) offset = forward ? 0 : buf.length;
      offset = offset < 0 ? -floor(-offset) : floor(offset);
      let needle;
      if (typeof val === 'number') needle = [(val >>> 0) & 255];
      else if (typeof val === 'string') needle = stringBytes(val, encoding === undefined ? 'utf8' : mustEncoding(encoding));
      else if (isU8(val)) needle = val;
      else throw argType('value', 'one of type number or string or an instance of Buffer or Uint8Array', val);
      const len = buf.length, n = needle.length;
      const start = searchStart(len, offset, n, forward);
      if (n === 0) return start;
      if (len === 0 || start <= -1 || n > len) return -1;
      if (forward) {
        for (let i = start; i + n <= len; i++) {
          let j = 0;
          while (j < n && buf[i + j] === needle[j]) j++;
          if (j === n) return i;
        }
      } else {
        for (let i = mathMin(start, len - n); i >= 0; i--) {
          let j = 0;
          while (j < n && buf[i + j] === needle[j]) j++;
          if (j === n) return i;
        }
      }
      return -1;
    }
    class Buffer extends Uint8ArrayC {
      // `new Buffer(…)` and `Buffer(…)` are deprecated in Node.js and kept for old code, with
      // Buffer.from's meaning; Uint8Array's own methods (subarray, map, filter) construct through
      // here with (length) or (buffer, offset, length).
      constructor(a, b, c) {
        if (typeof a === 'number') super(sizeArg(a, 'size', MAX_BUFFER));
        else if (a instanceof ArrayBufferC) super(a, b, c);
        else {
          const from = bufferFrom(a, b, c);
          super(from.length);
          apply(u8set, this, [from]);
        }
      }
      static from(value, encodingOrOffset, length) { return bufferFrom(value, encodingOrOffset, length); }
      static alloc(size, fill, encoding) {
        const b = new Buffer(sizeArg(size, 'size', MAX_BUFFER));
        if (fill !== undefined && fill !== 0 && b.length > 0) b.fill(fill, 0, b.length, encoding);
        return b;
      }
      static allocUnsafe(size) { return new Buffer(sizeArg(size, 'size', MAX_BUFFER)); }
      static allocUnsafeSlow(size) { return new Buffer(sizeArg(size, 'size', MAX_BUFFER)); }
      static byteLength(value, encoding) {
        if (typeof value === 'string') {
          if (value.length === 0) return 0;
          const e = encoding ? encodingOf(encoding) : 'utf8';
          return stringByteLength(value, e === undefined ? 'utf8' : e);
        }
        if (isView(value) || value instanceof ArrayBufferC) return value.byteLength;
        throw argType('string', 'of type string or an instance of Buffer or ArrayBuffer', value);
      }
      static concat(list, totalLength) {
        if (!isArray(list)) throw argType('list', 'an instance of Array', list);
        if (list.length === 0) return new Buffer(0);
        let n = 0;
        if (totalLength === undefined) {
          for (let i = 0; i < list.length; i++) if (list[i] && list[i].length) n += list[i].length;
        } else n = offsetArg(totalLength, 'length', 0, MAX_BUFFER);
        const out = new Buffer(n);
        let p = 0;
        for (let i = 0; i < list.length; i++) {
          if (!isU8(list[i])) throw argType('list[' + i + ']', 'an instance of Buffer or Uint8Array', list[i]);
          p += copyBytes(list[i], out, p, 0, list[i].length);
        }
        return out;
      }
      static isBuffer(b) { return b instanceof Buffer; }
      static isEncoding(e) { return typeof e === 'string' && e.length !== 0 && encodingOf(e) !== undefined; }
      static compare(a, b) {
        if (!isU8(a)) throw argType('buf1', 'an instance of Buffer or Uint8Array', a);
        if (!isU8(b)) throw argType('buf2', 'an instance of Buffer or Uint8Array', b);
        return compareRange(a, 0, a.length, b, 0, b.length);
      }
      toString(encoding, start, end) {
        if (arguments.length === 0) return utf8Decode(this, false, true);
        const len = this.length;
        if (start <= 0) start = 0;
        else if (start >= len) return '';
        else start = Math.trunc(start) || 0;
        if (end === undefined || end > len) end = len;
        else end = Math.trunc(end) || 0;
        if (end <= start) return '';
        const e = encoding === undefined ? 'utf8' : mustEncoding(encoding);
        return bytesString(start === 0 && end === len ? this : apply(u8subarray, this, [start, end]), e);
      }
      toLocaleString(encoding, start, end) { return apply(Buffer.prototype.toString, this, arguments); }
      toJSON() {
        const data = [];
        for (let i = 0; i < this.length; i++) data.push(this[i]);
        return { type: 'Buffer', data };
      }
      equals(other) {
        if (!isU8(other)) throw argType('otherBuffer', 'an instance of Buffer or Uint8Array', other);
        return this === other || (this.length === other.length && compareRange(this, 0, this.length, other, 0, other.length) === 0);
      }
      compare(target, targetStart, targetEnd, sourceStart, sourceEnd) {
        if (!isU8(target)) throw argType('target', 'an instance of Buffer or Uint8Array', target);
        if (arguments.length === 1) return compareRange(this, 0, this.length, target, 0, target.length);
        const ts = targetStart === undefined ? 0 : offsetArg(targetStart, 'targetStart', 0, MAX_BUFFER);
        const te = targetEnd === undefined ? target.length : offsetArg(targetEnd, 'targetEnd', 0, target.length);
        const ss = sourceStart === undefined ? 0 : offsetArg(sourceStart, 'sourceStart', 0, MAX_BUFFER);
        const se = sourceEnd === undefined ? this.length : offsetArg(sourceEnd, 'sourceEnd', 0, this.length);
        if (ss >= se) return ts >= te ? 0 : -1;
        if (ts >= te) return 1;
        return compareRange(this, ss, mathMin(se, this.length), target, ts, mathMin(te, target.length));
      }
      indexOf(value, byteOffset, encoding) { return indexOf(this, value, byteOffset, encoding, true); }
      lastIndexOf(value, byteOffset, encoding) { return indexOf(this, value, byteOffset, encoding, false); }
      includes(value, byteOffset, encoding) { return indexOf(this, value, byteOffset, encoding, true) !== -1; }
      // Node's slice shares memory with the buffer, as subarray does (Uint8Array's slice copies).
      slice(start, end) { return this.subarray(start, end); }
      fill(value, offset, end, encoding) {
        let enc;
        if (typeof value === 'string') {
          if (offset === undefined || typeof offset === 'string') { encoding = offset; offset = 0; end = this.length; }
          else if (typeof end === 'string') { encoding = end; end = this.length; }
          enc = encoding === undefined || encoding === null ? 'utf8' : encodingOf(encoding);
          if (enc === undefined) {
            if (typeof encoding !== 'string') throw argType('encoding', 'of type string', encoding);
            throw nodeError(TypeErr, 'ERR_UNKNOWN_ENCODING', 'Unknown encoding: ' + cap(encoding, 50));
          }
          if (value.length === 0) value = 0;
        }
        if (offset === undefined) { offset = 0; end = this.length; } else {
          offsetArg(offset, 'offset', 0, MAX_BUFFER);
          end = end === undefined ? this.length : offsetArg(end, 'end', 0, this.length);
          if (offset >= end) return this;
        }
        if (typeof value === 'string' || isView(value)) {
          const bytes = typeof value === 'string' ? stringBytes(value, enc) : new Uint8ArrayC(value.buffer, value.byteOffset, value.byteLength);
          if (bytes.length === 0) throw nodeError(TypeErr, 'ERR_INVALID_ARG_VALUE', "The argument 'value' is invalid. Received " + shown(value));
          for (let i = offset, j = 0; i < end; i++, j = j + 1 === bytes.length ? 0 : j + 1) this[i] = bytes[j];
          return this;
        }
        return apply(u8fill, this, [typeof value === 'number' ? value : N(value) >>> 0 & 255, offset, end]);
      }
      write(string, offset, length, encoding) {
        if (typeof string !== 'string') throw argType('argument', 'of type string', string);
        if (offset === undefined) { offset = 0; length = this.length; }
        else if (length === undefined && typeof offset === 'string') { encoding = offset; offset = 0; length = this.length; }
        else {
          offsetArg(offset, 'offset', 0, this.length);
          const remaining = this.length - offset;
          if (length === undefined) length = remaining;
          else if (typeof length === 'string') { encoding = length; length = remaining; }
          else { offsetArg(length, 'length', 0, this.length); if (length > remaining) length = remaining; }
        }
        const enc = !encoding ? 'utf8' : mustEncoding(encoding);
        const bytes = stringBytes(string, enc);
        let n = mathMin(bytes.length, length);
        // As Node.js: never part of a UTF-8 character, never half of a UTF-16 unit.
        if (enc === 'utf8' && n < bytes.length) while (n > 0 && (bytes[n] & 0xc0) === 0x80) n--;
        if (enc === 'utf16le') n -= n & 1;
        for (let i = 0; i < n; i++) this[offset + i] = bytes[i];
        return n;
      }
      copy(target, targetStart, sourceStart, sourceEnd) {
        if (!isU8(target)) throw argType('target', 'an instance of Buffer or Uint8Array', target);
        let ts = 0, ss = 0, se = this.length;
        if (targetStart !== undefined) { ts = N.isInteger(targetStart) ? targetStart : toInteger(targetStart, 0); if (ts < 0) throw outOfRange('targetStart', '>= 0', targetStart); }
        if (sourceStart !== undefined) {
          ss = N.isInteger(sourceStart) ? sourceStart : toInteger(sourceStart, 0);
          if (ss < 0 || ss > this.length) throw outOfRange('sourceStart', '>= 0 && <= ' + this.length, sourceStart);
        }
        if (sourceEnd !== undefined) { se = N.isInteger(sourceEnd) ? sourceEnd : toInteger(sourceEnd, 0); if (se < 0) throw outOfRange('sourceEnd', '>= 0', sourceEnd); }
        if (ts >= target.length || ss >= se) return 0;
        return copyBytes(this, target, ts, ss, se);
      }
      swap16() { return swap(this, 2); }
      swap32() { return swap(this, 4); }
      swap64() { return swap(this, 8); }
    }
    function swap(b, size) {
      if (b.length % size !== 0) throw nodeError(RangeErr, 'ERR_INVALID_BUFFER_SIZE', 'Buffer size must be a multiple of ' + size * 8 + '-bits');
      for (let i = 0; i < b.length; i += size) {
        for (let j = 0; j < size >> 1; j++) { const t = b[i + j]; b[i + j] = b[i + size - 1 - j]; b[i + size - 1 - j] = t; }
      }
      return b;
    }
    // Integer, float and BigInt reads and writes (HOTP's dynamic truncation, binary formats), with
    // Node's checks: the offset a number and an integer inside the buffer, the value in range.
    function dataView(b) { return new DataView(b.buffer, b.byteOffset, b.byteLength); }
    function atOffset(b, offset, size) {
      const o = offset === undefined ? 0 : offset;
      if (typeof o !== 'number') throw argType('offset', 'of type number', o);
      if (b[o] === undefined || b[o + size - 1] === undefined) {
        if (floor(o) !== o) throw outOfRange('offset', 'an integer', o);
        if (b.length - size < 0) throw outOfBounds();
        throw outOfRange('offset', '>= 0 and <= ' + (b.length - size), o);
      }
      return o;
    }
    const bufProto = Buffer.prototype;
    for (const [name, get, set, size, le, min, max] of [
      ['UInt8', 'getUint8', 'setUint8', 1, false, 0, 255], ['Int8', 'getInt8', 'setInt8', 1, false, -128, 127],
      ['UInt16BE', 'getUint16', 'setUint16', 2, false, 0, 65535], ['UInt16LE', 'getUint16', 'setUint16', 2, true, 0, 65535],
      ['Int16BE', 'getInt16', 'setInt16', 2, false, -32768, 32767], ['Int16LE', 'getInt16', 'setInt16', 2, true, -32768, 32767],
      ['UInt32BE', 'getUint32', 'setUint32', 4, false, 0, 4294967295], ['UInt32LE', 'getUint32', 'setUint32', 4, true, 0, 4294967295],
      ['Int32BE', 'getInt32', 'setInt32', 4, false, -2147483648, 2147483647], ['Int32LE', 'getInt32', 'setInt32', 4, true, -2147483648, 2147483647],
      ['FloatBE', 'getFloat32', 'setFloat32', 4, false], ['FloatLE', 'getFloat32', 'setFloat32', 4, true],
      ['DoubleBE', 'getFloat64', 'setFloat64', 8, false], ['DoubleLE', 'getFloat64', 'setFloat64', 8, true],
      ['BigUInt64BE', 'getBigUint64', 'setBigUint64', 8, false, 0n, 0xffffffffffffffffn], ['BigUInt64LE', 'getBigUint64', 'setBigUint64', 8, true, 0n, 0xffffffffffffffffn],
      ['BigInt64BE', 'getBigInt64', 'setBigInt64', 8, false, -0x8000000000000000n, 0x7fffffffffffffffn], ['BigInt64LE', 'getBigInt64', 'setBigInt64', 8, true, -0x8000000000000000n, 0x7fffffffffffffffn],
    ]) {
      const big = typeof min === 'bigint';
      const read = function (offset) { return dataView(this)[get](atOffset(this, offset, size), le); };
      const write = function (value, offset) {
        if (big) { if (typeof value !== 'bigint') throw new TypeErr('Cannot mix BigInt and other types, use explicit conversions'); } else value = +value;
        if (min !== undefined && (value > max || value < min)) throw outOfRange('value', '>= ' + min + ' and <= ' + max, value);
        const o = atOffset(this, offset, size);
        dataView(this)[set](o, value, le);
        return o + size;
      };
      for (const n of name.indexOf('UInt') === -1 ? [name] : [name, name.replace('UInt', 'Uint')]) {
        def(bufProto, 'read' + n, read);
        def(bufProto, 'write' + n, write);
      }
    }
    // readUIntBE(offset, byteLength) and friends: 1 to 6 bytes.
    function byteLengthArg(n) {
      if (typeof n !== 'number') throw argType('byteLength', 'of type number', n);
      if (!(n >= 1 && n <= 6) || floor(n) !== n) throw outOfRange('byteLength', '>= 1 and <= 6', n);
      return n;
    }
    for (const [name, signed, le] of [['UIntBE', false, false], ['UIntLE', false, true], ['IntBE', true, false], ['IntLE', true, true]]) {
      const read = function (offset, byteLength) {
        if (offset === undefined) throw argType('offset', 'of type number', offset);
        const n = byteLengthArg(byteLength);
        const o = atOffset(this, offset, n);
        let v = 0;
        for (let i = 0; i < n; i++) v = v * 256 + this[o + (le ? n - 1 - i : i)];
        return signed && v >= 2 ** (8 * n - 1) ? v - 2 ** (8 * n) : v;
      };
      const write = function (value, offset, byteLength) {
        const n = byteLengthArg(byteLength);
        value = +value;
        const lo = signed ? -(2 ** (8 * n - 1)) : 0, hi = signed ? 2 ** (8 * n - 1) - 1 : 2 ** (8 * n) - 1;
        if (value > hi || value < lo) throw outOfRange('value', '>= ' + lo + ' and <= ' + hi, value);
        const o = atOffset(this, offset, n);
        // Towards zero first, as Node.js: -1.5 is written as -1.
        const whole = Math.trunc(value) || 0;
        let v = whole < 0 ? whole + 2 ** (8 * n) : whole;
        for (let i = 0; i < n; i++) { this[o + (le ? i : n - 1 - i)] = v % 256; v = floor(v / 256); }
        return o + n;
      };
      for (const n of name.indexOf('UInt') === -1 ? [name] : [name, name.replace('UInt', 'Uint')]) {
        def(bufProto, 'read' + n, read);
        def(bufProto, 'write' + n, write);
      }
    }
    // Buffer(...) without `new`, as old code calls it (deprecated in Node.js, still working there).
    const BufferFn = new Proxy(Buffer, { apply(target, thisArg, args) { return apply(Reflect.construct, null, [Buffer, args]); } });
    def(bufProto, 'constructor', BufferFn);

    // ---- require(): in-sandbox stand-ins for the Node.js built-ins actions use most -------------
    // `crypto` (hashes, HMAC, random values), `buffer`, `url` and `querystring`, written here over
    // the same audited host operations as crypto.subtle. Any other module name throws (see
    // require() below): nothing of the host's module system is reachable.
    // OpenSSL's names for the five hashes the host computes (Node.js takes all of them).
    const NODE_HASHES = { __proto__: null };
    for (const [alg, names] of [
      ['md5', ['md5', 'rsa-md5', 'ssl3-md5', 'md5withrsaencryption']],
      ['sha1', ['sha1', 'sha-1', 'rsa-sha1', 'ssl3-sha1', 'sha1withrsaencryption', 'rsa-sha1-2']],
      ['sha256', ['sha256', 'sha-256', 'sha2-256', 'rsa-sha256', 'sha256withrsaencryption']],
      ['sha384', ['sha384', 'sha-384', 'sha2-384', 'rsa-sha384', 'sha384withrsaencryption']],
      ['sha512', ['sha512', 'sha-512', 'sha2-512', 'rsa-sha512', 'sha512withrsaencryption']],
    ]) for (const n of names) NODE_HASHES[n] = alg;
    const GATEHOUSE_HASHES = ' (Gatehouse has MD5, SHA-1, SHA-256, SHA-384 and SHA-512)';
    // 512 KB of data is 1 MiB of hex, what the host bridge takes in one argument (MAX_ARG there).
    const MAX_HASHED = 512 * 1024;
    function nodeHash(alg, kind) {
      if (typeof alg !== 'string') throw argType(kind === 'hash' ? 'algorithm' : kind === 'hmac' ? 'hmac' : 'algorithm', 'of type string', alg);
      const h = NODE_HASHES[alg.toLowerCase()];
      if (h !== undefined) return h;
      if (kind === 'hmac') throw nodeError(TypeErr, 'ERR_CRYPTO_INVALID_DIGEST', 'Invalid digest: ' + cap(alg, 50) + GATEHOUSE_HASHES);
      throw new Err((kind === 'hash' ? 'Digest method ' + cap(alg, 50) + ' is not supported' : 'Digest method not supported') + GATEHOUSE_HASHES);
    }
    /** Data for a hash or HMAC: a string in an encoding (Node's default utf8 for an unknown one), or a view's bytes. */
    function hashInput(data, encoding, name) {
      if (typeof data === 'string') {
        const e = encoding === undefined || encoding === null ? 'utf8' : encodingOf(encoding) || 'utf8';
        if (e === 'hex' && data.length % 2 !== 0) {
          throw nodeError(TypeErr, 'ERR_INVALID_ARG_VALUE', "The argument 'encoding' is invalid for data of length " + data.length + '. Received ' + shown(encoding));
        }
        return stringBytes(data, e);
      }
      if (isView(data)) return new Uint8ArrayC(data.buffer, data.byteOffset, data.byteLength);
      throw argType(name, 'of type string or an instance of Buffer, TypedArray, or DataView', data);
    }
    /** Adds input to what a hash, a signature or a cipher has gathered (as hex for the host), within its cap. */
    function gather(st, data, encoding, max, what) {
      const b = hashInput(data, encoding, 'data');
      if (st.n + b.length > max) throw outOfRange('data', 'at most 512 KB per ' + what + ' in Gatehouse', st.n + b.length + ' bytes');
      st.parts.push(hexEncode(b));
      st.n += b.length;
    }
    /** The host's hex as a Buffer (over subtle's fromHex). */
    function hexBuffer(hex) { return new Buffer(fromHex(hex)); }
    function digestOut(hex, encoding) {
      const b = hexBuffer(hex);
      if (encoding === undefined || encoding === null) return b;
      const e = encodingOf(encoding);
      return e === undefined ? b : b.toString(e);
    }
    const HASH_STATE = new WeakMapC();
    function hashState(h) {
      const st = apply(wmGet, HASH_STATE, [h]);
      if (!st) throw new TypeErr('Illegal invocation');
      return st;
    }
    /** createHash and createHmac: bytes gathered here, hashed by the host at digest(). */
    class Hash {
      constructor(alg, key, keyEncoding) {
        const st = { alg: nodeHash(alg, key === undefined ? 'createHash' : 'hmac'), key: '', hmac: key !== undefined, parts: [], n: 0, done: false };
        if (key !== undefined) {
          const k = typeof key === 'string' ? stringBytes(key, (keyEncoding !== undefined && keyEncoding !== null && encodingOf(keyEncoding)) || 'utf8') : hashInput(key, undefined, 'key');
          if (k.length > MAX_HASHED) throw outOfRange('key', 'at most 512 KB in Gatehouse', k.length + ' bytes');
          // RFC 2104 pads a key with zeros to the block size, so no key is the same key as one zero byte.
          st.key = k.length === 0 ? '00' : hexEncode(k);
        }
        HASH_STATE.set(this, st);
      }
      update(data, inputEncoding) {
        const st = hashState(this);
        if (st.done) throw nodeError(Err, 'ERR_CRYPTO_HASH_FINALIZED', 'Digest already called');
        gather(st, data, inputEncoding, MAX_HASHED, 'digest');
        return this;
      }
      digest(outputEncoding) {
        const st = hashState(this);
        // As Node.js: a second digest() of an HMAC is empty; of a hash, an error.
        if (st.done) {
          if (st.hmac) return digestOut('', outputEncoding);
          throw nodeError(Err, 'ERR_CRYPTO_HASH_FINALIZED', 'Digest already called');
        }
        st.done = true;
        const data = apply(arrJoin, st.parts, ['']);
        st.parts = [];
        const hex = st.hmac ? host('hmac.raw', st.alg, st.key, data) : host('digest', st.alg, data, '');
        if (hex === '') throw new Err('The hash could not be computed');
        return digestOut(hex, outputEncoding);
      }
      copy() {
        const st = hashState(this);
        if (st.hmac) throw new TypeErr('hmac.copy is not a function');
        if (st.done) throw nodeError(Err, 'ERR_CRYPTO_HASH_FINALIZED', 'Digest already called');
        const h = objCreate(Hash.prototype);
        HASH_STATE.set(h, { alg: st.alg, key: '', hmac: false, parts: st.parts.slice(), n: st.n, done: false });
        return h;
      }
    }
    function randomSize(size, name, max) {
      if (typeof size !== 'number') throw argType(name, 'of type number', size);
      if (!(size >= 0 && size <= 0x7fffffff)) throw outOfRange(name, '>= 0 && <= 2147483647', size);
      // Gatehouse's own cap, past Node's: random bytes come from the host 64 KB at a time.
      if (size > max) throw outOfRange(name, '<= ' + max + ' in Gatehouse', size);
      return floor(size);
    }
    function fillRandom(view) {
      for (let p = 0; p < view.length; p += 65536) hexInto(host('random', S(mathMin(65536, view.length - p)), '', ''), apply(u8subarray, view, [p, mathMin(view.length, p + 65536)]));
      return view;
    }
    function later(cb, err, value) { apply(promiseThen, promiseResolve(), [() => cb(err, value)]); }
    function randomInt(min, max, cb) {
      if (typeof max === 'function' || max === undefined) { cb = max; max = min; min = 0; }
      if (!N.isSafeInteger(min)) throw argType('min', 'a safe integer', min);
      if (!N.isSafeInteger(max)) throw argType('max', 'a safe integer', max);
      if (max <= min) throw outOfRange('max', 'greater than the value of "min" (' + min + ')', max);
      if (max - min > 0xffffffffffff) throw outOfRange('max - min', '<= 281474976710655', max - min);
      const range = max - min;
      const limit = 0x1000000000000 - (0x1000000000000 % range);
      let x;
      do {
        const b = fillRandom(new Uint8ArrayC(6));
        x = b[0] * 0x10000000000 + b[1] * 0x100000000 + ((b[2] << 24) >>> 0) + (b[3] << 16) + (b[4] << 8) + b[5];
      } while (x >= limit);
      const v = min + (x % range);
      if (typeof cb === 'function') { later(cb, null, v); return undefined; }
      return v;
    }
    // Signatures and AES ciphers (createSign, createVerify, sign, verify, createPrivateKey,
    // createPublicKey, createCipheriv, createDecipheriv): the host does the work with node:crypto,
    // unencrypted PEM keys and AES only (host-bridge.ts says which). A cipher gathers its input and
    // has the host run it whole on every call, handing back what Node.js would hand back by then:
    // update() gives what OpenSSL gives for the input so far, final() the rest, so the result
    // matches Node byte for byte however the input is split (at the cost of re-running it).
    const MAX_CIPHERED = 512 * 1024;
    function hostJson(op, a, b, c) {
      const r = host(op, a, b, c);
      if (r === '') throw new Err('The operation failed: its input is malformed or larger than Gatehouse takes (512 KB)');
      const v = JSONparse(r);
      if (v !== null && typeof v === 'object' && v.error) {
        const C = v.error.name === 'TypeError' ? TypeErr : v.error.name === 'RangeError' ? RangeErr : Err;
        throw v.error.code ? nodeError(C, S(v.error.code), S(v.error.message)) : new C(S(v.error.message));
      }
      return v;
    }
    function signHash(alg, name) {
      if (alg === null || alg === undefined) return '';
      if (typeof alg !== 'string') throw argType(name, 'of type string', alg);
      const h = NODE_HASHES[alg.toLowerCase()];
      if (h === undefined || h === 'md5') throw nodeError(TypeErr, 'ERR_CRYPTO_INVALID_DIGEST', 'Invalid digest: ' + cap(alg, 50) + ' (Gatehouse signs with SHA-1, SHA-256, SHA-384 or SHA-512)');
      return h;
    }
    const KEYOBJ = new WeakMapC(); // KeyObject -> { pem: { [encoding]: PEM }, type, asymmetricKeyType, details }
    class KeyObject {
      constructor() { throw new TypeErr('Illegal constructor: use createPrivateKey or createPublicKey'); }
      get type() { return apply(wmGet, KEYOBJ, [this]).type; }
      get asymmetricKeyType() { return apply(wmGet, KEYOBJ, [this]).asymmetricKeyType; }
      get asymmetricKeyDetails() {
        const d = apply(wmGet, KEYOBJ, [this]).details;
        const out = {};
        for (const k of keys(d)) out[k] = k === 'publicExponent' ? BigInt(d[k]) : d[k];
        return out;
      }
      export(options) {
        const k = apply(wmGet, KEYOBJ, [this]);
        if (options === null || typeof options !== 'object' || options.format !== 'pem') throw nodeError(Err, 'ERR_FEATURE_UNAVAILABLE', 'KeyObject.export(): Gatehouse exports PEM only ({ format: \'pem\' })');
        if (options.cipher !== undefined || options.passphrase !== undefined) throw nodeError(Err, 'ERR_FEATURE_UNAVAILABLE', 'KeyObject.export(): Gatehouse does not encrypt keys');
        // The encoding asked for, as Node.js: a private key never comes out as 'spki', nor a public one as 'pkcs8'.
        const type = options.type;
        if (typeof type === 'string' && hasOwn(k.pem, type)) return k.pem[type];
        if ((type === 'pkcs1' || type === 'sec1') && (k.type === 'private' || type === 'pkcs1')) {
          throw nodeError(Err, 'ERR_CRYPTO_INCOMPATIBLE_KEY_OPTIONS', 'The selected key encoding ' + type + ' can only be used for ' + (type === 'pkcs1' ? 'RSA' : 'EC') + ' keys.');
        }
        throw nodeError(TypeErr, 'ERR_INVALID_ARG_VALUE', "The property 'options.type' is invalid. Received " + shown(type));
      }
      get [toStringTagSym]() { return 'KeyObject'; }
    }
    function keyObject(info) {
      const k = objCreate(KeyObject.prototype);
      const pem = objCreate(null);
      for (const t of keys(info.pem)) pem[t] = S(info.pem[t]);
      const details = objCreate(null);
      const d = info.details !== null && typeof info.details === 'object' ? info.details : {};
      for (const f of ['modulusLength', 'saltLength']) if (typeof d[f] === 'number') details[f] = d[f];
      for (const f of ['publicExponent', 'namedCurve', 'hashAlgorithm', 'mgf1HashAlgorithm']) if (typeof d[f] === 'string') details[f] = d[f];
      KEYOBJ.set(k, { pem, type: S(info.type), asymmetricKeyType: S(info.asymmetricKeyType), details });
      return freeze(k);
    }
    /** A key argument as Node.js takes it: PEM text or bytes, a KeyObject, or { key, dsaEncoding, padding, saltLength }. */
    function keyParams(key, kind) {
      const p = {};
      let k = key;
      if (k !== null && typeof k === 'object' && !isView(k) && apply(wmGet, KEYOBJ, [k]) === undefined) {
        if (k.passphrase !== undefined) throw nodeError(TypeErr, 'ERR_FEATURE_UNAVAILABLE', 'Encrypted keys are not supported by Gatehouse: use an unencrypted PEM key');
        if (k.format === 'jwk' && kind === 'public') {
          // A public JWK: its public members go to the host, which imports it (host-bridge.ts jwkKey).
          const j = k.key;
          if (j === null || typeof j !== 'object') throw argType('key.key', 'of type object', j);
          const jwk = {};
          for (const f of ['kty', 'crv', 'n', 'e', 'x', 'y', 'd', 'p', 'q']) if (typeof j[f] === 'string') jwk[f] = j[f].slice(0, 2048);
          p.jwk = JSONstringify(jwk);
          return p;
        }
        if (k.format !== undefined && k.format !== 'pem') throw nodeError(TypeErr, 'ERR_FEATURE_UNAVAILABLE', k.format === 'jwk' ? 'Gatehouse takes JWKs for public keys only' : 'Gatehouse takes PEM keys (format: \'pem\', or \'jwk\' for a public key)');
        const badOption = (name, v) => nodeError(TypeErr, 'ERR_INVALID_ARG_VALUE', "The property 'options." + name + "' is invalid. Received " + shown(v));
        if (k.dsaEncoding !== undefined) { if (k.dsaEncoding !== 'der' && k.dsaEncoding !== 'ieee-p1363') throw badOption('dsaEncoding', k.dsaEncoding); p.dsaEncoding = k.dsaEncoding; }
        if (k.padding !== undefined) { if (!N.isInteger(k.padding)) throw badOption('padding', k.padding); p.padding = k.padding; }
        if (k.saltLength !== undefined) { if (!N.isInteger(k.saltLength)) throw badOption('saltLength', k.saltLength); p.saltLength = k.saltLength; }
        k = k.key;
      }
      const ko = k !== null && typeof k === 'object' ? apply(wmGet, KEYOBJ, [k]) : undefined;
      if (ko !== undefined) {
        if (kind === 'private' && ko.type !== 'private') throw nodeError(TypeErr, 'ERR_CRYPTO_INVALID_KEY_OBJECT_TYPE', 'Invalid key object type ' + ko.type + ', expected private.');
        p.key = ko.type === 'private' ? ko.pem.pkcs8 : ko.pem.spki;
      } else if (typeof k === 'string') p.key = k;
      else if (isView(k)) p.key = utf8Decode(new Uint8ArrayC(k.buffer, k.byteOffset, k.byteLength), false, true);
      else throw argType('key', 'of type string or an instance of ArrayBuffer, Buffer, TypedArray, DataView, or KeyObject', k);
      return p;
    }
    const SIGN_STATE = new WeakMapC();
    function signState(s) {
      const st = apply(wmGet, SIGN_STATE, [s]);
      if (!st) throw new TypeErr('Illegal invocation');
      return st;
    }
    function signUpdate(s, data, encoding) {
      const st = signState(s);
      if (st.done) throw nodeError(Err, 'ERR_CRYPTO_INVALID_STATE', 'Not initialised');
      gather(st, data, encoding, MAX_HASHED, 'signature');
      return s;
    }
    class Sign {
      constructor(alg) {
        if (typeof alg !== 'string') throw argType('algorithm', 'of type string', alg);
        SIGN_STATE.set(this, { alg: signHash(alg, 'algorithm'), parts: [], n: 0, done: false });
      }
      update(data, inputEncoding) { return signUpdate(this, data, inputEncoding); }
      sign(privateKey, outputEncoding) {
        const st = signState(this);
        if (st.done) throw nodeError(Err, 'ERR_CRYPTO_INVALID_STATE', 'Not initialised');
        const p = keyParams(privateKey, 'private');
        p.alg = st.alg;
        st.done = true;
        return digestOut(hostJson('sign', JSONstringify(p), apply(arrJoin, st.parts, ['']), '').sig, outputEncoding);
      }
    }
    class Verify {
      constructor(alg) {
        if (typeof alg !== 'string') throw argType('algorithm', 'of type string', alg);
        SIGN_STATE.set(this, { alg: signHash(alg, 'algorithm'), parts: [], n: 0, done: false });
      }
      update(data, inputEncoding) { return signUpdate(this, data, inputEncoding); }
      verify(key, signature, signatureEncoding) {
        const st = signState(this);
        if (st.done) throw nodeError(Err, 'ERR_CRYPTO_INVALID_STATE', 'Not initialised');
        const p = keyParams(key, 'public');
        p.alg = st.alg;
        st.done = true;
        const sig = hashInput(signature, signatureEncoding, 'signature');
        return hostJson('verify', JSONstringify(p), apply(arrJoin, st.parts, ['']), hexEncode(sig)).ok === true;
      }
    }
    function oneShot(alg, data, key, kind) {
      const p = keyParams(key, kind);
      p.alg = signHash(alg, 'algorithm');
      const b = hashInput(data, undefined, 'data');
      if (b.length > MAX_HASHED) throw outOfRange('data', 'at most 512 KB in Gatehouse', b.length + ' bytes');
      return [p, hexEncode(b)];
    }
    function keyInfo(key, wantPublic) {
      const ko = key !== null && typeof key === 'object' ? apply(wmGet, KEYOBJ, [key]) : undefined;
      // As Node.js: a private key comes from key material only, a public one from material or a private KeyObject.
      if (ko !== undefined && !wantPublic) throw argType('key', 'of type string or an instance of ArrayBuffer, Buffer, TypedArray, or DataView', 'a KeyObject');
      if (ko !== undefined && ko.type !== 'private') throw nodeError(TypeErr, 'ERR_CRYPTO_INVALID_KEY_OBJECT_TYPE', 'Invalid key object type ' + ko.type + ', expected private.');
      const p = keyParams(key, wantPublic ? 'public' : 'private');
      p.public = wantPublic;
      return keyObject(hostJson('key', JSONstringify(p), '', ''));
    }

    const CIPHER_STATE = new WeakMapC();
    function cipherState(c) {
      const st = apply(wmGet, CIPHER_STATE, [c]);
      if (!st) throw new TypeErr('Illegal invocation');
      return st;
    }
    function secretBytes(v, name) {
      if (typeof v === 'string') return utf8Encode(v);
      if (v instanceof ArrayBufferC) return new Uint8ArrayC(v);
      if (isView(v)) return new Uint8ArrayC(v.buffer, v.byteOffset, v.byteLength);
      if (v !== null && typeof v === 'object' && apply(wmGet, KEYOBJ, [v]) !== undefined) throw nodeError(TypeErr, 'ERR_FEATURE_UNAVAILABLE', 'Gatehouse takes a cipher key as bytes, not a KeyObject');
      throw argType(name, 'of type string or an instance of ArrayBuffer, Buffer, TypedArray, or DataView', v);
    }
    function cipherRun(st, final) {
      const p = { alg: st.alg, key: st.key, iv: st.iv, decrypt: st.decrypt, autoPadding: st.autoPadding, final };
      if (st.tag !== null) p.tag = st.tag;
      if (st.authTagLength !== undefined) p.authTagLength = st.authTagLength;
      // The AAD as its own argument: up to 512 KB of it as hex fills one (it did not fit in the parameters).
      return hostJson('cipher', JSONstringify(p), apply(arrJoin, st.parts, ['']), st.aad === null ? '' : st.aad);
    }
    /** Node hands a cipher's output through a StringDecoder when an encoding is asked for: base64 in whole groups of three bytes, UTF-8 in whole characters. */
    function cipherOut(st, hex, outputEncoding, end) {
      const fresh = hexBuffer(hex);
      if (outputEncoding === undefined || outputEncoding === null || S(outputEncoding).toLowerCase() === 'buffer') return fresh;
      const enc = mustEncoding(outputEncoding);
      let all = fresh;
      if (st.pending !== null) { all = new Buffer(st.pending.length + fresh.length); apply(u8set, all, [st.pending]); apply(u8set, all, [fresh, st.pending.length]); }
      let keep = 0;
      if (!end) {
        if (enc === 'base64' || enc === 'base64url') keep = all.length % 3;
        else if (enc === 'utf16le') keep = all.length % 2;
        else if (enc === 'utf8') {
          for (let i = all.length - 1, seen = 1; i >= 0 && seen <= 3; i--, seen++) {
            const c = all[i];
            if ((c & 0xc0) === 0x80) continue;
            const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            if (need > seen) keep = seen;
            break;
          }
        }
      }
      st.pending = keep ? apply(u8subarray, all, [all.length - keep]) : null;
      return bytesString(apply(u8subarray, all, [0, all.length - keep]), enc);
    }
    class Cipheriv {
      constructor(decrypt, alg, key, iv, options) {
        if (typeof alg !== 'string') throw argType('cipher', 'of type string', alg);
        const k = secretBytes(key, 'key');
        const v = iv === null ? null : secretBytes(iv, 'iv');
        const name = alg.toLowerCase();
        const st = {
          alg: name === 'aes128' ? 'aes-128-cbc' : name === 'aes192' ? 'aes-192-cbc' : name === 'aes256' ? 'aes-256-cbc' : name,
          key: hexEncode(k), iv: v === null ? null : hexEncode(v), decrypt, autoPadding: true, aad: null, tag: null,
          authTagLength: options !== null && typeof options === 'object' && typeof options.authTagLength === 'number' ? options.authTagLength : undefined,
          parts: [], n: 0, emitted: 0, done: false, authTag: null, pending: null,
        };
        st.gcm = /-gcm$/.test(st.alg);
        cipherRun(st, false); // the key, IV and name checked now, as Node.js does in createCipheriv
        CIPHER_STATE.set(this, st);
      }
      update(data, inputEncoding, outputEncoding) {
        const st = cipherState(this);
        if (st.done) throw new Err('Trying to add data in unsupported state');
        gather(st, data, inputEncoding, MAX_CIPHERED, 'cipher');
        const out = cipherRun(st, false).out;
        const fresh = out.slice(st.emitted * 2);
        st.emitted = out.length >> 1;
        return cipherOut(st, fresh, outputEncoding, false);
      }
      final(outputEncoding) {
        const st = cipherState(this);
        if (st.done) throw nodeError(Err, 'ERR_CRYPTO_INVALID_STATE', 'Invalid state');
        st.done = true;
        const r = cipherRun(st, true);
        if (typeof r.tag === 'string') st.authTag = r.tag;
        return cipherOut(st, r.out.slice(st.emitted * 2), outputEncoding, true);
      }
      setAutoPadding(autoPadding) {
        const st = cipherState(this);
        if (st.done) throw nodeError(Err, 'ERR_CRYPTO_INVALID_STATE', 'Invalid state for operation setAutoPadding');
        st.autoPadding = autoPadding !== false;
        return this;
      }
      setAAD(buffer) {
        const st = cipherState(this);
        if (st.done || st.n > 0 || !st.gcm) throw nodeError(Err, 'ERR_CRYPTO_INVALID_STATE', 'Invalid state for operation setAAD');
        // Each call adds to the AAD, as OpenSSL does (replacing it made a wrong tag).
        const more = hashInput(buffer, undefined, 'buffer');
        if (((st.aad === null ? 0 : st.aad.length) >> 1) + more.length > MAX_CIPHERED) throw outOfRange('buffer', 'at most 512 KB of AAD in Gatehouse', more.length + ' bytes');
        st.aad = (st.aad === null ? '' : st.aad) + hexEncode(more);
        return this;
      }
      getAuthTag() {
        const st = cipherState(this);
        if (st.decrypt || st.authTag === null) throw nodeError(Err, 'ERR_CRYPTO_INVALID_STATE', 'Invalid state for operation getAuthTag');
        return hexBuffer(st.authTag);
      }
      setAuthTag(tag) {
        const st = cipherState(this);
        if (!st.decrypt || st.done || !st.gcm || st.tag !== null) throw nodeError(Err, 'ERR_CRYPTO_INVALID_STATE', 'Invalid state for operation setAuthTag');
        const t = hashInput(tag, undefined, 'buffer');
        const n = t.length;
        if (st.authTagLength !== undefined ? n !== st.authTagLength : !(n === 4 || n === 8 || (n >= 12 && n <= 16))) {
          throw nodeError(TypeErr, 'ERR_CRYPTO_INVALID_AUTH_TAG', 'Invalid authentication tag length: ' + n);
        }
        st.tag = hexEncode(t);
        return this;
      }
    }

    function notSupported(module, name, instead) {
      return function () {
        throw nodeError(Err, 'ERR_FEATURE_UNAVAILABLE', "require('" + module + "')." + name + '() is not supported by Gatehouse (' + instead + ')');
      };
    }
    const CRYPTO_HAS = 'hashes, HMAC, random values, signatures with PEM keys, AES ciphers and webcrypto are';
    const nodeCrypto = {
      createHash(algorithm) { return new Hash(algorithm); },
      createHmac(algorithm, key, options) {
        if (typeof algorithm !== 'string') throw argType('hmac', 'of type string', algorithm);
        if (key === undefined || key === null) throw argType('key', 'of type string or an instance of ArrayBuffer, Buffer, TypedArray, DataView, KeyObject, or CryptoKey', key);
        // A string key is read in options.encoding, as Node.js does (utf8 by default).
        return new Hash(algorithm, key, options !== null && typeof options === 'object' ? options.encoding : undefined);
      },
      hash(algorithm, data, options) {
        if (typeof algorithm !== 'string') throw argType('algorithm', 'of type string', algorithm);
        if (typeof data !== 'string' && !isView(data)) throw argType('input', 'of type string or an instance of Buffer, TypedArray, or DataView', data);
        let out = typeof options === 'string' ? options : options !== undefined && options !== null ? options.outputEncoding : undefined;
        if (out === undefined || out === null) out = 'hex';
        const lower = S(out).toLowerCase();
        if (lower !== 'buffer' && encodingOf(lower) === undefined) throw nodeError(TypeErr, 'ERR_INVALID_ARG_VALUE', "The argument 'outputEncoding' is invalid. Received " + shown(out));
        const h = new Hash(nodeHash(algorithm, 'hash'));
        h.update(data);
        return h.digest(lower === 'buffer' ? undefined : lower);
      },
      getHashes() { return ['md5', 'sha1', 'sha256', 'sha384', 'sha512']; },
      getCiphers() { return ['aes-128-cbc', 'aes-128-ctr', 'aes-128-ecb', 'aes-128-gcm', 'aes-192-cbc', 'aes-192-ctr', 'aes-192-ecb', 'aes-192-gcm', 'aes-256-cbc', 'aes-256-ctr', 'aes-256-ecb', 'aes-256-gcm', 'aes128', 'aes192', 'aes256']; },
      getCurves() { return ['prime256v1', 'secp256k1', 'secp384r1', 'secp521r1']; },
      randomBytes(size, cb) {
        const b = fillRandom(new Buffer(randomSize(size, 'size', 1024 * 1024)));
        if (typeof cb === 'function') { later(cb, null, b); return undefined; }
        return b;
      },
      randomFillSync(buf, offset, size) { return randomFill(buf, offset, size, undefined, true); },
      randomFill(buf, offset, size, cb) {
        if (typeof offset === 'function') { cb = offset; offset = undefined; } else if (typeof size === 'function') { cb = size; size = undefined; }
        if (typeof cb !== 'function') throw argType('callback', 'of type function', cb);
        return randomFill(buf, offset, size, cb, false);
      },
      randomInt,
      randomUUID() { return host('uuid', '', '', ''); },
      getRandomValues(arr) { return cryptoObj.getRandomValues(arr); },
      timingSafeEqual(a, b) {
        const bytes = (v, name) => {
          if (v instanceof ArrayBufferC) return new Uint8ArrayC(v);
          if (isView(v)) return new Uint8ArrayC(v.buffer, v.byteOffset, v.byteLength);
          throw argType(name, 'an instance of ArrayBuffer, Buffer, TypedArray, or DataView', v);
        };
        const x = bytes(a, 'buf1'), y = bytes(b, 'buf2');
        if (x.length !== y.length) throw nodeError(RangeErr, 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH', 'Input buffers must have the same byte length');
        let diff = 0;
        for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
        return diff === 0;
      },
      webcrypto: cryptoObj,
      subtle,
      createSign(algorithm) { return new Sign(algorithm); },
      createVerify(algorithm) { return new Verify(algorithm); },
      sign(algorithm, data, key, cb) {
        const [p, dataHex] = oneShot(algorithm, data, key, 'private');
        const sig = digestOut(hostJson('sign', JSONstringify(p), dataHex, '').sig);
        if (typeof cb === 'function') { later(cb, null, sig); return undefined; }
        return sig;
      },
      verify(algorithm, data, key, signature, cb) {
        const [p, dataHex] = oneShot(algorithm, data, key, 'public');
        if (!isView(signature)) throw argType('signature', 'an instance of Buffer, TypedArray, or DataView', signature);
        const ok = hostJson('verify', JSONstringify(p), dataHex, hexEncode(new Uint8ArrayC(signature.buffer, signature.byteOffset, signature.byteLength))).ok === true;
        if (typeof cb === 'function') { later(cb, null, ok); return undefined; }
        return ok;
      },
      createPrivateKey(key) { return keyInfo(key, false); },
      createPublicKey(key) { return keyInfo(key, true); },
      KeyObject,
      createCipheriv(algorithm, key, iv, options) { return new Cipheriv(false, algorithm, key, iv, options); },
      createDecipheriv(algorithm, key, iv, options) { return new Cipheriv(true, algorithm, key, iv, options); },
      constants: freeze({ RSA_PKCS1_PADDING: 1, RSA_NO_PADDING: 3, RSA_PKCS1_OAEP_PADDING: 4, RSA_PKCS1_PSS_PADDING: 6, RSA_PSS_SALTLEN_DIGEST: -1, RSA_PSS_SALTLEN_MAX_SIGN: -2, RSA_PSS_SALTLEN_AUTO: -2 }),
    };
    function randomFill(buf, offset, size, cb, sync) {
      if (!isView(buf) && !(buf instanceof ArrayBufferC)) throw argType('buf', 'an instance of ArrayBuffer or ArrayBufferView', buf);
      const all = buf instanceof ArrayBufferC ? new Uint8ArrayC(buf) : new Uint8ArrayC(buf.buffer, buf.byteOffset, buf.byteLength);
      const o = offset === undefined ? 0 : offsetArg(offset, 'offset', 0, all.length);
      const n = size === undefined ? all.length - o : offsetArg(size, 'size', 0, all.length - o);
      fillRandom(apply(u8subarray, all, [o, o + randomSize(n, 'size', 1024 * 1024)]));
      if (sync) return buf;
      later(cb, null, buf);
      return undefined;
    }
    for (const m of ['pbkdf2', 'pbkdf2Sync', 'scrypt', 'scryptSync', 'hkdf', 'hkdfSync', 'generateKeyPair', 'generateKeyPairSync',
      'generateKey', 'generateKeySync', 'createSecretKey', 'publicEncrypt', 'privateDecrypt', 'privateEncrypt', 'publicDecrypt',
      'createECDH', 'createDiffieHellman', 'getDiffieHellman', 'checkPrime', 'checkPrimeSync', 'generatePrime', 'generatePrimeSync']) {
      nodeCrypto[m] = notSupported('crypto', m, CRYPTO_HAS);
    }
    // querystring: Node's (its escaping, repeated keys as arrays, its lenient unescape), not URLSearchParams'.
    function qsEscape(s) {
      try {
        return encodeURIComponent(typeof s === 'string' ? s : S(s));
      } catch (e) {
        throw nodeError(URIError, 'ERR_INVALID_URI', 'URI malformed');
      }
    }
    /** Node's unescapeBuffer: %XX where it is hex, every other character by its low byte, then UTF-8. */
    function qsUnescapeBytes(s) {
      const out = new Uint8ArrayC(s.length);
      let o = 0;
      for (let i = 0; i < s.length;) {
        let c = s.charCodeAt(i);
        if (c === 37 && i < s.length - 2) {
          c = s.charCodeAt(++i);
          const hi = c < 256 ? HEXV[c] : -1;
          if (hi < 0) { out[o++] = 37; continue; }
          const lc = s.charCodeAt(++i);
          const lo = lc < 256 ? HEXV[lc] : -1;
          if (lo < 0) { out[o++] = 37; i--; } else c = hi * 16 + lo;
        }
        out[o++] = c;
        i++;
      }
      return utf8Decode(apply(u8subarray, out, [0, o]), false, true);
    }
    function qsUnescape(s) {
      try { return decodeURIComponent(s); } catch { return qsUnescapeBytes(S(s)); }
    }
    /** A key or value: the default decoder only where there is an escape; a caller's always, falling back as Node.js. */
  function qsDecode(s, decode) {
    if (decode === qsUnescape) return s.indexOf('%') === -1 ? s : qsUnescape(s);
    try { return decode(s); } catch { return qsUnescape(s); }
  }
  function qsValue(v, encode) {
      if (typeof v === 'string') return v.length ? encode(v) : '';
      if (typeof v === 'number' && isFinite(v)) return Math.abs(v) < 1e21 ? '' + v : encode('' + v);
      if (typeof v === 'bigint') return '' + v;
      if (typeof v === 'boolean') return v ? 'true' : 'false';
      return '';
    }
    const querystring = {
      escape: qsEscape,
      unescape: qsUnescape,
      stringify(obj, sep, eq, options) {
        sep = sep || '&';
        eq = eq || '=';
        const encode = options && typeof options.encodeURIComponent === 'function' ? options.encodeURIComponent : qsEscape;
        if (obj === null || typeof obj !== 'object') return '';
        let out = '';
        const ks = keys(obj);
        for (let i = 0; i < ks.length; i++) {
          const k = qsValue(ks[i], encode) + eq;
          const v = obj[ks[i]];
          if (isArray(v)) {
            if (v.length === 0) continue;
            if (out) out += sep;
            for (let j = 0; j < v.length; j++) out += (j ? sep : '') + k + qsValue(v[j], encode);
          } else {
            if (out) out += sep;
            out += k + qsValue(v, encode);
          }
        }
        return out;
      },
      parse(str, sep, eq, options) {
        sep = sep ? S(sep) : '&';
        eq = eq ? S(eq) : '=';
        const maxKeys = options && typeof options.maxKeys === 'number' ? options.maxKeys : 1000;
        const decode = options && typeof options.decodeURIComponent === 'function' ? options.decodeURIComponent : qsUnescape;
        const out = objCreate(null);
        if (typeof str !== 'string' || str === '') return out;
        let parts = str.split(sep);
        if (maxKeys > 0 && parts.length > maxKeys) parts = parts.slice(0, maxKeys);
        for (let i = 0; i < parts.length; i++) {
          // '+' is a space: for the default decoder as ' ', for one of the caller's as '%20' (as Node.js).
          const p = decode === qsUnescape ? parts[i].replace(/\+/g, ' ') : parts[i].replace(/\+/g, '%20');
          if (p === '') continue;
          const at = p.indexOf(eq);
          const rawKey = at === -1 ? p : p.slice(0, at);
          const rawValue = at === -1 ? '' : p.slice(at + eq.length);
          const k = qsDecode(rawKey, decode);
          const v = qsDecode(rawValue, decode);
          if (!hasOwn(out, k)) out[k] = v;
          else if (isArray(out[k])) out[k].push(v);
          else out[k] = [out[k], v];
        }
        return out;
      },
    };
    querystring.encode = querystring.stringify;
    querystring.decode = querystring.parse;
    // http / https: request() and get() over the bridged fetch, for older webhook code written
    // before Node had fetch. The request's body is gathered and sent at end(); the response
    // comes whole (fetch's limits and SSRF guard apply) and is emitted as one 'data' chunk and
    // 'end'. Text bodies only, as fetch's.
    class Emitter {
      constructor() { def(this, '_ev', objCreate(null)); }
      on(name, fn) { (this._ev[name] || (this._ev[name] = [])).push(fn); return this; }
      addListener(name, fn) { return this.on(name, fn); }
      once(name, fn) { const w = (...a) => { this.off(name, w); apply(fn, this, a); }; def(w, 'listener', fn); return this.on(name, w); }
      off(name, fn) { const l = this._ev[name]; if (l) { const i = l.findIndex((x) => x === fn || x.listener === fn); if (i !== -1) l.splice(i, 1); } return this; }
      removeListener(name, fn) { return this.off(name, fn); }
      removeAllListeners(name) { if (name === undefined) { for (const k of keys(this._ev)) delete this._ev[k]; } else delete this._ev[name]; return this; }
      listenerCount(name) { return (this._ev[name] || []).length; }
      emit(name, ...args) {
        const l = this._ev[name];
        if (!l || l.length === 0) { if (name === 'error') throw args[0]; return false; }
        for (const fn of l.slice()) apply(fn, this, args);
        return true;
      }
    }
    class IncomingMessage extends Emitter {
      constructor(res, text) {
        super();
        this.statusCode = res.status;
        this.statusMessage = res.statusText;
        this.headers = objCreate(null);
        res.headers.forEach((v, k) => { this.headers[k] = v; });
        this.url = '';
        this.complete = false;
        def(this, '_text', text);
        def(this, '_enc', null);
      }
      setEncoding(enc) { this._enc = mustEncoding(enc); return this; }
      resume() { return this; }
      pause() { return this; }
    }
    function httpModule(protocol) {
      class ClientRequest extends Emitter {
        constructor(url, options, cb) {
          super();
          def(this, '_url', url);
          def(this, '_method', options.method === undefined ? 'GET' : S(options.method).toUpperCase());
          def(this, '_headers', new Headers());
          def(this, '_body', []);
          def(this, '_sent', false);
          def(this, '_timer', null);
          const h = options.headers;
          if (h !== null && typeof h === 'object') for (const k of keys(h)) this._headers.set(k, S(h[k]));
          if (options.auth !== undefined) this._headers.set('authorization', 'Basic ' + btoa(S(options.auth)));
          if (typeof cb === 'function') this.once('response', cb);
          if (typeof options.timeout === 'number') this.setTimeout(options.timeout);
        }
        setHeader(name, value) { this._headers.set(name, S(value)); return this; }
        getHeader(name) { const v = this._headers.get(name); return v === null ? undefined : v; }
        removeHeader(name) { this._headers.delete(name); }
        write(chunk, encoding, cb) {
          if (this._sent) throw nodeError(Err, 'ERR_STREAM_WRITE_AFTER_END', 'write after end');
          this._body.push(typeof chunk === 'string' ? chunk : bytesString(hashInput(chunk, undefined, 'chunk'), 'utf8'));
          const done = typeof encoding === 'function' ? encoding : cb;
          if (typeof done === 'function') later(done, null);
          return true;
        }
        setTimeout(ms, cb) {
          if (typeof cb === 'function') this.once('timeout', cb);
          if (this._timer !== null) clearTimer(this._timer);
          this._timer = N(ms) > 0 ? addTimer(() => { this.emit('timeout'); }, N(ms), [], false) : null;
          return this;
        }
        destroy(err) { this._sent = true; if (err) later(() => this.emit('error', err)); return this; }
        abort() { this.destroy(); }
        end(data, encoding, cb) {
          if (typeof data === 'function') { cb = data; data = undefined; } else if (typeof encoding === 'function') { cb = encoding; }
          if (data !== undefined && data !== null) this.write(data);
          if (this._sent) return this;
          this._sent = true;
          const body = this._body.length ? apply(arrJoin, this._body, ['']) : null;
          const init = { method: this._method, headers: this._headers };
          if (body !== null && this._method !== 'GET' && this._method !== 'HEAD') init.body = body;
          apply(promiseThen, fetch(this._url, init), [(res) => apply(promiseThen, res.text(), [(text) => {
            if (this._timer !== null) clearTimer(this._timer);
            const msg = new IncomingMessage(res, text);
            msg.url = this._url;
            if (typeof cb === 'function') cb();
            this.emit('response', msg);
            const chunk = msg._enc === null ? Buffer.from(text) : bytesString(utf8Encode(text), msg._enc);
            if (text.length) msg.emit('data', chunk);
            msg.complete = true;
            msg.emit('end');
            msg.emit('close');
            this.emit('close');
          }]), (e) => {
            if (this._timer !== null) clearTimer(this._timer);
            const err = e instanceof Err ? e : new Err(S(e));
            if (err.code === undefined) def(err, 'code', 'ECONNREFUSED');
            if (this.listenerCount('error') > 0) this.emit('error', err);
            else fail(err);
          }]);
          return this;
        }
      }
      function urlOf(a, b) {
        // (url[, options][, cb]) or (options[, cb]), as Node.js takes them.
        let url, options;
        if (typeof a === 'string' || a instanceof URL) { url = new URL(S(a)); options = b !== null && typeof b === 'object' ? b : {}; }
        else {
          options = a !== null && typeof a === 'object' ? a : {};
          const host = options.hostname || options.host || 'localhost';
          url = new URL((options.protocol || protocol) + '//' + host + (options.port ? ':' + options.port : '') + (options.path || '/'));
        }
        if (url.protocol !== protocol) throw nodeError(TypeErr, 'ERR_INVALID_PROTOCOL', 'Protocol "' + url.protocol + '" not supported. Expected "' + protocol + '"');
        return [url.href, options];
      }
      function request(a, b, c) {
        const cb = typeof b === 'function' ? b : c;
        const [url, options] = urlOf(a, typeof b === 'function' ? undefined : b);
        return new ClientRequest(url, options, cb);
      }
      function get(a, b, c) {
        const r = request(a, b, c);
        r.end();
        return r;
      }
      return freeze({ request, get, ClientRequest, IncomingMessage, Agent: class Agent { constructor() {} }, globalAgent: freeze({}) });
    }
    // require('util'): what actions and the packages they bring use of it. inspect is the
    // console's (Node.js's layout for plain data, without its options or inspect.custom).
    let utilBuilt = null;
    function makeUtil() {
      const SymbolC = Symbol;
      const later = (fn) => { apply(promiseThen, promiseResolve(undefined), [fn]); };
      const promisifyCustom = SymbolC.for('nodejs.util.promisify.custom');
      function promisify(original) {
        if (typeof original !== 'function') throw argType('original', 'of type function', original);
        const custom = original[promisifyCustom];
        if (custom !== undefined) {
          if (typeof custom !== 'function') throw argType('util.promisify.custom', 'of type function', custom);
          return defineProperty(custom, promisifyCustom, { value: custom, enumerable: false, writable: false, configurable: true });
        }
        function fn(...args) {
          return new P((resolve, reject) => {
            apply(original, this, [...args, (err, value) => { if (err) reject(err); else resolve(value); }]);
          });
        }
        O.setPrototypeOf(fn, O.getPrototypeOf(original));
        defineProperty(fn, promisifyCustom, { value: fn, enumerable: false, writable: false, configurable: true });
        return O.defineProperties(fn, O.getOwnPropertyDescriptors(original));
      }
      promisify.custom = promisifyCustom;
      function callbackify(original) {
        if (typeof original !== 'function') throw argType('original', 'of type function', original);
        function callbackified(...args) {
          const cb = args.pop();
          if (typeof cb !== 'function') throw argType('last argument', 'of type function', cb);
          const onOk = (ret) => { later(() => apply(cb, this, [null, ret])); };
          const onErr = (rej) => {
            let reason = rej;
            if (!rej) {
              reason = nodeError(Err, 'ERR_FALSY_VALUE_REJECTION', 'Promise was rejected with falsy value');
              reason.reason = rej;
            }
            later(() => apply(cb, this, [reason]));
          };
          apply(promiseThen, apply(original, this, args), [onOk, onErr]);
        }
        O.setPrototypeOf(callbackified, O.getPrototypeOf(original));
        return O.defineProperties(callbackified, O.getOwnPropertyDescriptors(original));
      }
      function inherits(ctor, superCtor) {
        if (ctor === undefined || ctor === null) throw argType('ctor', 'of type function', ctor);
        if (superCtor === undefined || superCtor === null) throw argType('superCtor', 'of type function', superCtor);
        if (superCtor.prototype === undefined) throw argType('superCtor.prototype', 'of type object', superCtor.prototype);
        defineProperty(ctor, 'super_', { value: superCtor, writable: true, configurable: true });
        O.setPrototypeOf(ctor.prototype, superCtor.prototype);
      }
      // Brand checks: a method that throws for anything but its own kind of object (no toStringTag games).
      const brand = (fn) => (v) => { if (v === null || typeof v !== 'object') return false; try { apply(fn, v, []); return true; } catch { return false; } };
      const getter = (C, name) => O.getOwnPropertyDescriptor(C.prototype, name).get;
      const TypedArrayProto = O.getPrototypeOf(Uint8ArrayC.prototype);
      const typedTag = O.getOwnPropertyDescriptor(TypedArrayProto, SymbolC.toStringTag).get;
      const AsyncFnProto = O.getPrototypeOf(async function () {});
      const GenFnProto = O.getPrototypeOf(function* () {});
      const AsyncGenFnProto = O.getPrototypeOf(async function* () {});
      const isDate = brand(Date.prototype.getTime);
      const regExpSource = brand(getter(RegExp, 'source'));
      const isRegExp = (v) => v !== RegExp.prototype && regExpSource(v);
      const isMap = brand(getter(MapC, 'size'));
      const isSet = brand(getter(Set, 'size'));
      const isArrayBuffer = brand(getter(ArrayBufferC, 'byteLength'));
      const isBoxed = (C) => brand(C.prototype.valueOf);
      const types = freeze({
        isDate, isRegExp, isMap, isSet,
        isWeakMap: (v) => { try { apply(WeakMapC.prototype.has, v, [{}]); return true; } catch { return false; } },
        isWeakSet: (v) => { try { apply(WeakSet.prototype.has, v, [{}]); return true; } catch { return false; } },
        isPromise: (v) => v instanceof P,
        isTypedArray: (v) => apply(typedTag, v, []) !== undefined,
        isUint8Array: (v) => apply(typedTag, v, []) === 'Uint8Array',
        isArrayBuffer, isAnyArrayBuffer: isArrayBuffer,
        isArrayBufferView: (v) => ArrayBufferC.isView(v),
        isAsyncFunction: (v) => typeof v === 'function' && (O.getPrototypeOf(v) === AsyncFnProto || O.getPrototypeOf(v) === AsyncGenFnProto),
        isGeneratorFunction: (v) => typeof v === 'function' && (O.getPrototypeOf(v) === GenFnProto || O.getPrototypeOf(v) === AsyncGenFnProto),
        isNativeError: (v) => v instanceof Err,
        isBoxedPrimitive: (v) => isBoxed(N)(v) || isBoxed(S)(v) || isBoxed(Boolean)(v) || isBoxed(SymbolC)(v) || isBoxed(BigInt)(v),
        isNumberObject: isBoxed(N), isStringObject: isBoxed(S), isBooleanObject: isBoxed(Boolean), isSymbolObject: isBoxed(SymbolC), isBigIntObject: isBoxed(BigInt),
      });
      // Node.js's isDeepStrictEqual: prototypes, own enumerable keys and symbols, the values of
      // dates, regular expressions, boxed primitives, errors and binary data; Map and Set entries
      // in any order; cycles.
      function deepEqual(a, b, memo) {
        if (O.is(a, b)) return true;
        if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
        if (O.getPrototypeOf(a) !== O.getPrototypeOf(b)) return false;
        for (let i = 0; i < memo.length; i++) if (memo[i][0] === a && memo[i][1] === b) return true;
        if (isArray(a) !== isArray(b)) return false;
        if (isDate(a) !== isDate(b) || isDate(a) && !O.is(apply(Date.prototype.getTime, a, []), apply(Date.prototype.getTime, b, []))) return false;
        if (isRegExp(a) !== isRegExp(b) || isRegExp(a) && (S(a) !== S(b) || a.lastIndex !== b.lastIndex)) return false;
        if (types.isBoxedPrimitive(a) || types.isBoxedPrimitive(b)) {
          if (!types.isBoxedPrimitive(a) || !types.isBoxedPrimitive(b)) return false;
          let va, vb;
          for (const C of [N, S, Boolean, SymbolC, BigInt]) { if (isBoxed(C)(a)) va = apply(C.prototype.valueOf, a, []); if (isBoxed(C)(b)) vb = apply(C.prototype.valueOf, b, []); }
          if (!O.is(va, vb)) return false;
        }
        if (a instanceof Err && (a.message !== b.message || a.name !== b.name)) return false;
        if (ArrayBufferC.isView(a) || isArrayBuffer(a)) {
          const ua = isArrayBuffer(a) ? new Uint8ArrayC(a) : new Uint8ArrayC(a.buffer, a.byteOffset, a.byteLength);
          const ub = isArrayBuffer(b) ? new Uint8ArrayC(b) : ArrayBufferC.isView(b) ? new Uint8ArrayC(b.buffer, b.byteOffset, b.byteLength) : null;
          if (ub === null || ua.length !== ub.length) return false;
          if (types.isTypedArray(a) && apply(typedTag, a, []) !== apply(typedTag, b, [])) return false;
          if (apply(typedTag, a, []) === 'Float32Array' || apply(typedTag, a, []) === 'Float64Array') {
            for (let i = 0; i < a.length; i++) if (!O.is(a[i], b[i])) return false;
          } else {
            for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
          }
        }
        memo.push([a, b]);
        try {
          if (isMap(a) || isMap(b)) {
            if (!isMap(a) || !isMap(b) || a.size !== b.size) return false;
            for (const [k, v] of a) {
              if (k === null || typeof k !== 'object') {
                if (!b.has(k) || !deepEqual(v, b.get(k), memo)) return false;
              } else {
                let found = false;
                for (const [k2, v2] of b) if (deepEqual(k, k2, memo) && deepEqual(v, v2, memo)) { found = true; break; }
                if (!found) return false;
              }
            }
          } else if (isSet(a) || isSet(b)) {
            if (!isSet(a) || !isSet(b) || a.size !== b.size) return false;
            for (const v of a) {
              if (v === null || typeof v !== 'object') { if (!b.has(v)) return false; continue; }
              let found = false;
              for (const v2 of b) if (deepEqual(v, v2, memo)) { found = true; break; }
              if (!found) return false;
            }
          }
          const ka = keys(a), kb = keys(b);
          if (ka.length !== kb.length) return false;
          for (let i = 0; i < ka.length; i++) if (!hasOwn(b, ka[i]) || !O.prototype.propertyIsEnumerable.call(b, ka[i]) || !deepEqual(a[ka[i]], b[ka[i]], memo)) return false;
          const sa = O.getOwnPropertySymbols(a).filter((k) => O.prototype.propertyIsEnumerable.call(a, k));
          const sb = O.getOwnPropertySymbols(b).filter((k) => O.prototype.propertyIsEnumerable.call(b, k));
          if (sa.length !== sb.length) return false;
          for (let i = 0; i < sa.length; i++) if (!O.prototype.propertyIsEnumerable.call(b, sa[i]) || !deepEqual(a[sa[i]], b[sa[i]], memo)) return false;
          return true;
        } finally {
          memo.pop();
        }
      }
      const utilInspect = (v) => (typeof v === 'string' ? quote(v) : show(v));
      utilInspect.custom = SymbolC.for('nodejs.util.inspect.custom');
      const noop = () => {};
      const debuglog = () => defineProperty(noop, 'enabled', { value: false, configurable: true });
      return freeze({
        promisify, callbackify, inherits, types,
        isDeepStrictEqual: (a, b) => deepEqual(a, b, []),
        format: (...args) => format(args, true),
        inspect: utilInspect,
        deprecate: (fn, msg) => { if (typeof fn !== 'function') throw argType('fn', 'of type function', fn); return fn; },
        debuglog, debug: debuglog,
        isArray,
        stripVTControlCharacters: (str) => S(str).replace(/[\u001B\u009B][[\]()#;?]*(?:(?:(?:(?:;[-a-zA-Z\d\/#&.:=?%@~_]+)*|[a-zA-Z\d]+(?:;[-a-zA-Z\d\/#&.:=?%@~_]*)*)?\u0007)|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PR-TZcf-ntqry=><~]))/g, ''),
        toUSVString: (str) => S(str).toWellFormed(),
        TextEncoder, TextDecoder,
      });
    }
    // require('events'): Node.js's EventEmitter (what packages and older action code build on),
    // synchronous as Node.js's: listeners run in order, 'error' without a listener throws.
    let eventsBuilt = null;
    function makeEvents() {
      const kCapture = SymbolC2.for('nodejs.rejection');
      let defaultMaxListeners = 10;
      function EventEmitter(opts) { EventEmitter.init.call(this, opts); }
      EventEmitter.init = function () {
        if (this._events === undefined || this._events === O.getPrototypeOf(this)._events) { this._events = O.create(null); this._eventsCount = 0; }
        this._maxListeners = this._maxListeners || undefined;
      };
      const listenersOf = (em, name) => (em._events === undefined ? undefined : em._events[name]);
      function add(em, name, fn, prepend) {
        if (typeof fn !== 'function') throw argType('listener', 'of type function', fn);
        if (em._events === undefined) { em._events = O.create(null); em._eventsCount = 0; }
        if (em._events.newListener !== undefined) em.emit('newListener', name, fn.listener ? fn.listener : fn);
        const cur = em._events[name];
        if (cur === undefined) { em._events[name] = fn; em._eventsCount++; }
        else if (typeof cur === 'function') em._events[name] = prepend ? [fn, cur] : [cur, fn];
        else if (prepend) cur.unshift(fn); else cur.push(fn);
        return em;
      }
      function onceWrapper(em, name, fn) {
        const state = { fired: false, fn };
        const w = function (...args) { if (!state.fired) { em.removeListener(name, w); state.fired = true; return apply(fn, em, args); } };
        w.listener = fn;
        return w;
      }
      const P2 = EventEmitter.prototype;
      P2._events = undefined; P2._eventsCount = 0; P2._maxListeners = undefined;
      P2.setMaxListeners = function (n) { if (typeof n !== 'number' || n < 0 || N.isNaN(n)) throw outOfRange('n', 'a non-negative number', n); this._maxListeners = n; return this; };
      P2.getMaxListeners = function () { return this._maxListeners === undefined ? defaultMaxListeners : this._maxListeners; };
      P2.emit = function (name, ...args) {
        const h = listenersOf(this, name);
        if (h === undefined) {
          if (name === 'error') {
            const er = args[0];
            if (er instanceof Err) throw er;
            const e = nodeError(Err, 'ERR_UNHANDLED_ERROR', 'Unhandled error. (' + show(er) + ')');
            e.context = er;
            throw e;
          }
          return false;
        }
        if (typeof h === 'function') apply(h, this, args);
        else { const copy = h.slice(); for (let i = 0; i < copy.length; i++) apply(copy[i], this, args); }
        return true;
      };
      P2.addListener = P2.on = function (name, fn) { return add(this, name, fn, false); };
      P2.prependListener = function (name, fn) { return add(this, name, fn, true); };
      P2.once = function (name, fn) { if (typeof fn !== 'function') throw argType('listener', 'of type function', fn); return this.on(name, onceWrapper(this, name, fn)); };
      P2.prependOnceListener = function (name, fn) { if (typeof fn !== 'function') throw argType('listener', 'of type function', fn); return this.prependListener(name, onceWrapper(this, name, fn)); };
      P2.removeListener = P2.off = function (name, fn) {
        if (typeof fn !== 'function') throw argType('listener', 'of type function', fn);
        const h = listenersOf(this, name);
        if (h === undefined) return this;
        if (h === fn || h.listener === fn) {
          if (--this._eventsCount === 0) this._events = O.create(null); else delete this._events[name];
          if (this._events.removeListener) this.emit('removeListener', name, h.listener || fn);
        } else if (typeof h !== 'function') {
          for (let i = h.length - 1; i >= 0; i--) {
            if (h[i] === fn || h[i].listener === fn) {
              h.splice(i, 1);
              if (h.length === 1) this._events[name] = h[0];
              if (this._events.removeListener !== undefined) this.emit('removeListener', name, fn);
              break;
            }
          }
        }
        return this;
      };
      P2.removeAllListeners = function (name) {
        if (this._events === undefined) return this;
        if (name === undefined) { this._events = O.create(null); this._eventsCount = 0; }
        else if (this._events[name] !== undefined) { if (--this._eventsCount === 0) this._events = O.create(null); else delete this._events[name]; }
        return this;
      };
      const list = (em, name, unwrap) => { const h = listenersOf(em, name); return h === undefined ? [] : typeof h === 'function' ? [unwrap ? h.listener || h : h] : h.map((f) => (unwrap ? f.listener || f : f)); };
      P2.listeners = function (name) { return list(this, name, true); };
      P2.rawListeners = function (name) { return list(this, name, false); };
      P2.listenerCount = function (name) { const h = listenersOf(this, name); return h === undefined ? 0 : typeof h === 'function' ? 1 : h.length; };
      P2.eventNames = function () { return this._eventsCount > 0 ? Reflect.ownKeys(this._events) : []; };
      EventEmitter.EventEmitter = EventEmitter;
      defineProperty(EventEmitter, 'defaultMaxListeners', { enumerable: true, get: () => defaultMaxListeners, set: (n) => { if (typeof n !== 'number' || n < 0 || N.isNaN(n)) throw outOfRange('defaultMaxListeners', 'a non-negative number', n); defaultMaxListeners = n; } });
      EventEmitter.captureRejectionSymbol = kCapture;
      EventEmitter.errorMonitor = SymbolC2('events.errorMonitor');
      EventEmitter.listenerCount = (em, name) => em.listenerCount(name);
      EventEmitter.once = (em, name) => new P((resolve, reject) => {
        const onError = (err) => { em.removeListener(name, onEvent); reject(err); };
        const onEvent = (...args) => { if (name !== 'error') em.removeListener('error', onError); resolve(args); };
        em.once(name, onEvent);
        if (name !== 'error') em.once('error', onError);
      });
      return EventEmitter;
    }
    const SymbolC2 = Symbol;
    const URL_INSTEAD = 'use new URL(input) and its searchParams';
    const BUILTINS = {
      __proto__: null,
      crypto: freeze(nodeCrypto),
      buffer: freeze({
        Buffer: BufferFn, atob, btoa, kMaxLength: MAX_BUFFER, constants: freeze({ MAX_LENGTH: MAX_BUFFER, MAX_STRING_LENGTH: 0x1fffffe8 }),
        isUtf8(input) {
          const b = input instanceof ArrayBufferC ? new Uint8ArrayC(input) : isView(input) ? new Uint8ArrayC(input.buffer, input.byteOffset, input.byteLength) : null;
          if (b === null) throw argType('input', 'an instance of ArrayBuffer, Buffer, or TypedArray', input);
          try { utf8Decode(b, true, true); return true; } catch { return false; }
        },
      }),
      url: freeze({ URL, URLSearchParams, parse: notSupported('url', 'parse', URL_INSTEAD), format: notSupported('url', 'format', URL_INSTEAD), resolve: notSupported('url', 'resolve', 'use new URL(to, from).href') }),
      querystring: freeze(querystring),
      get util() { return utilBuilt ??= makeUtil(); },
      get events() { return eventsBuilt ??= makeEvents(); },
      http: httpModule('http:'),
      https: httpModule('https:'),
    };
    return { Buffer, BufferFn, BUILTINS };
  }

  // ---- structuredClone (plain data, Date, RegExp, Map, Set, binary, Error; cycles) ---------
  function dataCloneError(what) { return new DOMException(what + ' could not be cloned.', 'DataCloneError'); }
  function structuredClone(value) {
    const seen = new MapC();
    const clone = (v) => {
      const t = typeof v;
      if (t === 'symbol') throw dataCloneError(S(v.description === undefined ? 'Symbol()' : 'Symbol(' + v.description + ')'));
      if (t === 'function') throw dataCloneError('function');
      if (v === null || t !== 'object') return v;
      if (seen.has(v)) return seen.get(v);
      let out;
      if (v instanceof Date) out = new Date(v.getTime());
      else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
      else if (v instanceof ArrayBufferC) out = v.slice(0);
      else if (isView(v)) {
        const buf = clone(v.buffer);
        out = v instanceof DataView ? new DataView(buf, v.byteOffset, v.byteLength) : new v.constructor(buf, v.byteOffset, v.length);
      } else if (v instanceof MapC) { out = new MapC(); seen.set(v, out); for (const [k, x] of v) out.set(clone(k), clone(x)); return out; }
      else if (v instanceof Set) { out = new Set(); seen.set(v, out); for (const x of v) out.add(clone(x)); return out; }
      else if (v instanceof Err) { out = new Err(S(v.message)); def(out, 'name', S(v.name)); }
      else if (v instanceof P || v instanceof WeakMap || v instanceof WeakSet) throw dataCloneError('#<' + (v.constructor && v.constructor.name) + '>');
      else if (v instanceof Boolean || v instanceof Number || v instanceof S) out = O(v.valueOf());
      else if (isArray(v)) { out = new A(v.length); seen.set(v, out); for (const k of keys(v)) out[k] = clone(v[k]); return out; }
      else { out = {}; seen.set(v, out); for (const k of keys(v)) defineProperty(out, k, { value: clone(v[k]), writable: true, enumerable: true, configurable: true }); return out; }
      seen.set(v, out);
      return out;
    };
    return clone(value);
  }

  // ---- timers (fire only inside an execution; driven by the host through wake()) -----------
  const TIMEOUT_IDS = new WeakMapC();
  class Timeout {
    ref() { return this; }
    unref() { return this; }
    hasRef() { return true; }
    refresh() {
      const t = timers.get(TIMEOUT_IDS.get(this));
      if (t) t.due = dateNow() + t.ms;
      return this;
    }
    close() { timers.delete(TIMEOUT_IDS.get(this)); return this; }
    [toPrimitiveSym]() { return TIMEOUT_IDS.get(this); }
  }
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== 'function') throw new TypeErr('The "callback" argument must be of type function');
    let d = N(ms);
    if (!(d >= 1 && d <= 2147483647)) d = 1;
    const id = ++timerSeq;
    const handle = new Timeout();
    TIMEOUT_IDS.set(handle, id);
    if (!active) return handle; // outside an execution (module top level): never fires
    if (timers.size >= MAX_TIMERS) throw new RangeErr('Too many pending timers');
    timers.set(id, { fn, args, ms: d, repeat, due: dateNow() + d });
    return handle;
  }
  function clearTimer(h) {
    if (h === null || h === undefined) return;
    const id = typeof h === 'object' ? TIMEOUT_IDS.get(h) : N(h);
    timers.delete(id);
  }
  function restArgs(a, from) { const r = []; for (let i = from; i < a.length; i++) r.push(a[i]); return r; }
  def(G, 'setTimeout', function setTimeout(fn, ms) { return addTimer(fn, ms, restArgs(arguments, 2), false); });
  def(G, 'setInterval', function setInterval(fn, ms) { return addTimer(fn, ms, restArgs(arguments, 2), true); });
  def(G, 'setImmediate', function setImmediate(fn) { return addTimer(fn, 0, restArgs(arguments, 1), false); });
  def(G, 'clearTimeout', clearTimer);
  def(G, 'clearInterval', clearTimer);
  def(G, 'clearImmediate', clearTimer);
  def(G, 'queueMicrotask', function queueMicrotask(fn) {
    if (typeof fn !== 'function') throw new TypeErr('The "callback" argument must be of type function');
    const ep = epoch;
    apply(promiseThen, promiseResolve(undefined), [function () {
      try { fn(); } catch (e) { if (active && ep === epoch) fail(e); }
    }]);
  });

  function nextDue() {
    let best = -1;
    for (const t of timers.values()) if (best === -1 || t.due < best) best = t.due;
    return best;
  }
  // Runs ONE due timer so that the microtasks it queues run (when this call returns) before the next.
  function runOneTimer() {
    const t = dateNow();
    let best = null, bestId = 0;
    for (const [id, tm] of timers) {
      if (tm.due <= t && (best === null || tm.due < best.due || (tm.due === best.due && id < bestId))) { best = tm; bestId = id; }
    }
    if (best === null) return;
    if (best.repeat) best.due = t + best.ms; else timers.delete(bestId);
    try { apply(best.fn, undefined, best.args); } catch (e) { fail(e); }
  }

  // ---- fetch (performed by the host; see fetch.ts for the SSRF guard and limits) ------------
  const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const HD = new WeakMapC();
  function headerName(n) {
    const s = S(n);
    if (!HEADER_NAME.test(s)) throw new TypeErr('Header name must be a valid HTTP token ["' + cap(s, 50) + '"]');
    return s.toLowerCase();
  }
  function headerValue(v) {
    const s = S(v).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
    if (/[\0\r\n]/.test(s)) throw new TypeErr('Invalid header value');
    return s;
  }
  class Headers {
    constructor(init) {
      HD.set(this, new MapC());
      if (init === undefined || init === null) return;
      if (init instanceof Headers) { for (const [k, v] of init) this.append(k, v); return; }
      if (typeof init !== 'object') throw new TypeErr('Headers init must be an object');
      if (typeof init[iteratorSym] === 'function') {
        for (const pair of init) {
          const p = [...pair];
          if (p.length !== 2) throw new TypeErr('Header pairs must contain exactly two items');
          this.append(p[0], p[1]);
        }
      } else {
        const ks = keys(init);
        for (let i = 0; i < ks.length; i++) this.append(ks[i], init[ks[i]]);
      }
    }
    append(name, value) {
      const m = HD.get(this), n = headerName(name), v = headerValue(value);
      const cur = m.get(n);
      m.set(n, cur === undefined ? v : cur + ', ' + v);
    }
    set(name, value) { HD.get(this).set(headerName(name), headerValue(value)); }
    get(name) { const v = HD.get(this).get(headerName(name)); return v === undefined ? null : v; }
    has(name) { return HD.get(this).has(headerName(name)); }
    delete(name) { HD.get(this).delete(headerName(name)); }
    getSetCookie() { const v = HD.get(this).get('set-cookie'); return v === undefined ? [] : [v]; }
    forEach(cb, thisArg) { for (const [k, v] of this) apply(cb, thisArg, [v, k, this]); }
    *entries() {
      const ks = [...HD.get(this).keys()].sort();
      for (let i = 0; i < ks.length; i++) yield [ks[i], HD.get(this).get(ks[i])];
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [iteratorSym]() { return this.entries(); }
    get [toStringTagSym]() { return 'Headers'; }
  }

  const RS = new WeakMapC();
  class Response {
    constructor(body, init) {
      const o = init || {};
      const status = o.status === undefined ? 200 : N(o.status);
      if (!(status >= 200 && status <= 599)) throw new RangeErr('init["status"] must be in the range of 200 to 599, inclusive.');
      RS.set(this, {
        body: body === undefined || body === null ? '' : S(body),
        status,
        statusText: o.statusText === undefined ? '' : S(o.statusText),
        headers: new Headers(o.headers),
        url: '',
        redirected: false,
        used: false,
      });
    }
    get ok() { const s = RS.get(this).status; return s >= 200 && s <= 299; }
    get status() { return RS.get(this).status; }
    get statusText() { return RS.get(this).statusText; }
    get headers() { return RS.get(this).headers; }
    get url() { return RS.get(this).url; }
    get redirected() { return RS.get(this).redirected; }
    get type() { return 'basic'; }
    get bodyUsed() { return RS.get(this).used; }
    text() {
      const st = RS.get(this);
      if (st.used) return promiseReject(new TypeErr('Body is unusable: Body has already been read'));
      st.used = true;
      return promiseResolve(st.body);
    }
    json() { return apply(promiseThen, this.text(), [(t) => JSONparse(t)]); }
    arrayBuffer() { return apply(promiseThen, this.text(), [(t) => utf8Encode(t).buffer]); }
    clone() {
      const st = RS.get(this);
      if (st.used) throw new TypeErr('Response.clone: Body has already been consumed.');
      const r = new Response(st.body, { status: st.status, statusText: st.statusText, headers: st.headers });
      const c = RS.get(r);
      c.url = st.url;
      c.redirected = st.redirected;
      return r;
    }
    get [toStringTagSym]() { return 'Response'; }
  }

  function buildRequest(input, init) {
    let url;
    if (input instanceof URL) url = input.href;
    else if (input !== null && typeof input === 'object' && typeof input.url === 'string') url = input.url;
    else url = S(input);
    const o = init === undefined || init === null ? {} : init;
    if (typeof o !== 'object') throw new TypeErr('fetch: init must be an object');
    const method = o.method === undefined ? 'GET' : S(o.method).toUpperCase();
    if (!HEADER_NAME.test(method)) throw new TypeErr('fetch: invalid method');
    const h = new Headers(o.headers);
    let body = null;
    if (o.body !== undefined && o.body !== null) {
      if (typeof o.body === 'string') body = o.body;
      else if (o.body instanceof URLSearchParams) {
        body = o.body.toString();
        if (!h.has('content-type')) h.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
      } else if (o.body instanceof FormData) {
        const m = multipart(o.body);
        body = m.body;
        if (!h.has('content-type')) h.set('content-type', m.type);
      } else throw new TypeErr('fetch: only string, URLSearchParams and FormData request bodies are supported (use JSON.stringify)');
      if (method === 'GET' || method === 'HEAD') throw new TypeErr('Request with GET/HEAD method cannot have body.');
      if (!h.has('content-type')) h.set('content-type', 'text/plain;charset=UTF-8');
    }
    const redirect = o.redirect === undefined ? 'follow' : S(o.redirect);
    if (redirect !== 'follow' && redirect !== 'manual' && redirect !== 'error') throw new TypeErr('fetch: invalid redirect mode');
    const headers = [];
    for (const [k, v] of h) headers.push([k, v]);
    return { url, method, headers, body, redirect };
  }

  // ---- FormData (text fields; fetch sends it as multipart/form-data, as Node.js does) --------
  // Node 18+ has FormData as a global and Auth0's own integration templates post it to token
  // endpoints. Field values are text: a Blob or File part (binary content) is not supported by
  // the bridged fetch, whose bodies are UTF-8 strings.
  const FD = new WeakMapC(); // FormData -> [name, value][]
  function fdList(fd) {
    const l = apply(wmGet, FD, [fd]);
    if (!l) throw new TypeErr('Illegal invocation');
    return l;
  }
  function fdEntry(args, what) {
    if (args.length < 2) throw new TypeErr("Failed to execute '" + what + "' on 'FormData': 2 arguments required, but only " + args.length + ' present.');
    const v = args[1];
    if (args.length > 2) throw new TypeErr("Failed to execute '" + what + "' on 'FormData': parameter 2 is not of type 'Blob'.");
    if (v !== null && typeof v === 'object' && typeof v.arrayBuffer === 'function' && typeof v.size === 'number') {
      throw new TypeErr('FormData: file parts (Blob, File) are not supported by Gatehouse: fields are text');
    }
    return [usv(args[0]), usv(v)];
  }
  class FormData {
    constructor(form) {
      if (form !== undefined) throw new TypeErr("Failed to construct 'FormData': parameter 1 is not of type 'HTMLFormElement'.");
      FD.set(this, []);
    }
    append(name, value) { fdList(this).push(fdEntry(arguments, 'append')); }
    set(name, value) {
      const l = fdList(this);
      const e = fdEntry(arguments, 'set');
      const i = l.findIndex((x) => x[0] === e[0]);
      if (i === -1) { l.push(e); return; }
      l[i] = e;
      for (let j = l.length - 1; j > i; j--) if (l[j][0] === e[0]) l.splice(j, 1);
    }
    get(name) { const n = usv(name); const e = fdList(this).find((x) => x[0] === n); return e ? e[1] : null; }
    getAll(name) { const n = usv(name); return fdList(this).filter((x) => x[0] === n).map((x) => x[1]); }
    has(name) { const n = usv(name); return fdList(this).some((x) => x[0] === n); }
    delete(name) { const n = usv(name); const l = fdList(this); for (let i = l.length - 1; i >= 0; i--) if (l[i][0] === n) l.splice(i, 1); }
    forEach(cb, thisArg) { for (const [k, v] of fdList(this).slice()) apply(cb, thisArg, [v, k, this]); }
    *entries() { for (const [k, v] of fdList(this).slice()) yield [k, v]; }
    *keys() { for (const [k] of fdList(this).slice()) yield k; }
    *values() { for (const [, v] of fdList(this).slice()) yield v; }
    [iteratorSym]() { return this.entries(); }
    get [toStringTagSym]() { return 'FormData'; }
  }
  /** The body and content type fetch sends for a FormData (undici's multipart format). */
  function multipart(fd) {
    let boundary = '----formdata-gatehouse-';
    const r = host('random', '12', '', '');
    boundary += r === '' ? S(dateNow()) : r;
    const esc = (t) => t.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
    const crlf = (t) => t.replace(/\r?\n|\r/g, '\r\n');
    let body = '';
    for (const [name, value] of fdList(fd)) {
      body += '--' + boundary + '\r\nContent-Disposition: form-data; name="' + esc(crlf(name)) + '"\r\n\r\n' + crlf(value) + '\r\n';
    }
    return { body: body + '--' + boundary + '--\r\n', type: 'multipart/form-data; boundary=' + boundary };
  }

  // ---- AbortController / AbortSignal (fetch's `signal`, AbortSignal.timeout) ----------------
  // An aborted fetch rejects at once with the signal's reason; the host's request runs to its
  // own timeout and its answer is dropped.
  const SIGNALS = new WeakMapC();
  function signalState(sig) {
    const st = sig !== null && typeof sig === 'object' ? SIGNALS.get(sig) : undefined;
    if (!st) throw new TypeErr('Receiver is not an AbortSignal');
    return st;
  }
  function newSignal() {
    const sig = objCreate(AbortSignal.prototype);
    SIGNALS.set(sig, { aborted: false, reason: undefined, listeners: [], onabort: null });
    return sig;
  }
  function abortSignal(sig, reason) {
    const st = signalState(sig);
    if (st.aborted) return;
    st.aborted = true;
    st.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    const ev = { type: 'abort', target: sig, currentTarget: sig };
    const list = st.listeners;
    st.listeners = [];
    // As in a browser, a listener that throws does not stop the others (a fetch's own listener
    // among them); what it threw is logged, as an uncaught error would be.
    const call = (fn) => { try { apply(fn, sig, [ev]); } catch (e) { logListenerError(e); } };
    if (typeof st.onabort === 'function') call(st.onabort);
    for (let i = 0; i < list.length; i++) call(list[i]);
  }
  /** Takes `fn` off the signal's list (also when it was added with `once`). */
  function dropListener(st, fn) {
    const kept = [];
    for (let i = 0; i < st.listeners.length; i++) { const l = st.listeners[i]; if (l !== fn && ONCE.get(l) !== fn) kept.push(l); }
    st.listeners = kept;
  }
  function logListenerError(e) {
    try { apply(consoleObj.error, consoleObj, ['Uncaught (in abort listener)', e]); } catch { /* the log is best effort */ }
  }
  class AbortSignal {
    constructor() { throw new TypeErr('Illegal constructor'); }
    get aborted() { return signalState(this).aborted; }
    get reason() { return signalState(this).reason; }
    get onabort() { return signalState(this).onabort; }
    set onabort(fn) { signalState(this).onabort = typeof fn === 'function' ? fn : null; }
    throwIfAborted() { const st = signalState(this); if (st.aborted) throw st.reason; }
    addEventListener(type, fn, opts) {
      const st = signalState(this);
      if (type !== 'abort' || typeof fn !== 'function' || st.aborted) return;
      const sig = this;
      const once = opts !== null && typeof opts === 'object' && opts.once === true;
      const wrapped = once ? function (ev) { sig.removeEventListener('abort', wrapped); return apply(fn, sig, [ev]); } : fn;
      if (once) ONCE.set(wrapped, fn);
      st.listeners.push(wrapped);
    }
    removeEventListener(type, fn) {
      const st = signalState(this);
      if (type === 'abort') dropListener(st, fn);
    }
    static abort(reason) { const sig = newSignal(); abortSignal(sig, reason); return sig; }
    static timeout(ms) {
      const sig = newSignal();
      addTimer(() => abortSignal(sig, new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms, [], false);
      return sig;
    }
    static any(signals) {
      const sig = newSignal();
      const list = [];
      for (const x of signals) list.push(x);
      for (let i = 0; i < list.length; i++) if (signalState(list[i]).aborted) { abortSignal(sig, signalState(list[i]).reason); return sig; }
      for (let i = 0; i < list.length; i++) { const x = list[i]; x.addEventListener('abort', () => abortSignal(sig, signalState(x).reason), { once: true }); }
      return sig;
    }
    get [toStringTagSym]() { return 'AbortSignal'; }
  }
  const ONCE = new WeakMapC();
  class AbortController {
    constructor() { CONTROLLERS.set(this, newSignal()); }
    get signal() { return CONTROLLERS.get(this); }
    abort(reason) { abortSignal(CONTROLLERS.get(this), reason); }
    get [toStringTagSym]() { return 'AbortController'; }
  }
  const CONTROLLERS = new WeakMapC();
  def(G, 'AbortSignal', AbortSignal);
  def(G, 'AbortController', AbortController);

  function fetch(input, init) {
    let req, signal;
    try {
      req = buildRequest(input, init);
      signal = init !== null && typeof init === 'object' && init.signal !== undefined && init.signal !== null ? init.signal : null;
    } catch (e) { return promiseReject(e); }
    return sendRequest(req, signal);
  }

  // Queues a built request ({url, method, headers: [name, value][], body: string | null,
  // redirect}) for the host; resolves to a Response. fetch() and the axios stand-in use it.
  function sendRequest(req, signal) {
    return new P(function (resolve, reject) {
      if (!active) { reject(new TypeErr('fetch failed: fetch is only available while a handler runs')); return; }
      if (fetchCount >= MAX_FETCHES) { reject(new TypeErr('fetch failed: too many requests in one execution')); return; }
      const st = signal === null ? null : SIGNALS.get(signal);
      if (st === undefined) { reject(new TypeErr('fetch: init.signal must be an AbortSignal')); return; }
      if (st !== null && st.aborted) { reject(st.reason); return; }
      const id = ++fetchSeq;
      fetchCount++;
      if (st === null) {
        fetchWaiting.set(id, { resolve, reject, url: req.url });
      } else {
        // On the signal's own list, not through its methods (action code may replace those);
        // gone once the fetch is answered (a signal kept across executions gathers none).
        const onAbort = () => {
          const w = fetchWaiting.get(id);
          if (!w) return;
          fetchWaiting.delete(id);
          w.reject(st.reason);
        };
        st.listeners.push(onAbort);
        execListeners.push([st, onAbort]);
        const drop = () => dropListener(st, onAbort);
        fetchWaiting.set(id, { resolve: (v) => { drop(); resolve(v); }, reject: (e) => { drop(); reject(e); }, url: req.url });
      }
      const json = '{"id":' + id + ',"url":' + JSONstringify(req.url) + ',"method":' + JSONstringify(req.method) +
        ',"headers":' + JSONstringify(req.headers) + ',"body":' + JSONstringify(req.body) + ',"redirect":' + JSONstringify(req.redirect) + '}';
      fetchOut = fetchOut ? fetchOut + ',' + json : json;
      // Queued after the handler settled (a request it did not await): into the result as unsent.
      if (settled) publish();
    });
  }

  function deliverFetch(id, payload) {
    const w = fetchWaiting.get(id);
    if (!w) return;
    fetchWaiting.delete(id);
    let r = null;
    try { r = JSONparse(payload); } catch { /* malformed */ }
    if (r === null || typeof r !== 'object' || typeof r.error === 'string' || typeof r.status !== 'number') {
      w.reject(new TypeErr('fetch failed: ' + (r && typeof r.error === 'string' ? r.error : 'network error')));
      return;
    }
    const res = new Response(null, { status: 200 });
    const st = RS.get(res);
    st.status = r.status;
    st.statusText = S(r.statusText);
    st.body = S(r.body);
    st.url = S(r.url);
    st.redirected = !!r.redirected;
    for (const [k, v] of r.headers) st.headers.append(k, v);
    st.raw = r.headers;
    w.resolve(res);
  }

  // ---- HS256 session tokens for api.redirect ------------------------------------------------
  function redirectCtx() {
    if (curRedirect === undefined) curRedirect = JSONparse(curRedirectJson) || null;
    return curRedirect;
  }
  function nowSeconds() { return floor(dateNow() / 1000); }
  function encodeToken(options) {
    const o = options || {};
    const secret = o.secret; // read once: a getter could answer differently the second time
    if (typeof secret !== 'string' || secret === '') throw new TypeErr('api.redirect.encodeToken: options.secret must be a non-empty string');
    const payload = o.payload === undefined ? {} : o.payload;
    if (payload === null || typeof payload !== 'object' || isArray(payload)) throw new TypeErr('api.redirect.encodeToken: options.payload must be an object');
    const exp = o.expiresInSeconds === undefined ? 900 : N(o.expiresInSeconds);
    if (!(exp > 0 && exp <= 31536000)) throw new RangeErr('api.redirect.encodeToken: options.expiresInSeconds must be a positive number of seconds');
    const rc = redirectCtx();
    const iat = nowSeconds();
    const claims = JSONparse(JSONstringify(payload));
    const user = curEvent && curEvent.user;
    const req = curEvent && curEvent.request;
    claims.iss = rc ? rc.issuer : undefined;
    if (user && typeof user.user_id === 'string') claims.sub = user.user_id;
    claims.iat = iat;
    claims.exp = iat + floor(exp);
    if (req && typeof req.ip === 'string') claims.ip = req.ip;
    // Bound to the state a redirect made now comes back with (in onContinuePostLogin that is
    // the next one, not the one being resumed, which validateToken checks).
    const bindTo = rc && typeof rc.nextState === 'string' ? rc.nextState : rc && rc.state;
    if (typeof bindTo === 'string') claims.state = bindTo;
    const input = b64uEncodeString('{"alg":"HS256","typ":"JWT"}') + '.' + b64uEncodeString(JSONstringify(claims));
    const sig = host('hmac', secret, input, '');
    if (!sig) throw new Err('api.redirect.encodeToken: signing failed');
    return input + '.' + sig;
  }
  function validateToken(options) {
    const o = options || {};
    const secret = o.secret;
    if (typeof secret !== 'string' || secret === '') throw new TypeErr('api.redirect.validateToken: options.secret must be a non-empty string');
    const name = o.tokenParameterName === undefined ? 'session_token' : S(o.tokenParameterName);
    const req = curEvent && curEvent.request;
    let token;
    if (req && req.query && typeof req.query === 'object' && typeof req.query[name] === 'string') token = req.query[name];
    else if (req && req.body && typeof req.body === 'object' && typeof req.body[name] === 'string') token = req.body[name];
    if (typeof token !== 'string') throw new Err('The session token parameter "' + cap(name, 100) + '" was not found in the request');
    const parts = token.split('.');
    if (parts.length !== 3) throw new Err('Invalid session token');
    let header, payload;
    try {
      header = JSONparse(b64uDecodeString(parts[0]));
      payload = JSONparse(b64uDecodeString(parts[1]));
    } catch {
      throw new Err('Invalid session token');
    }
    if (header === null || typeof header !== 'object' || header.alg !== 'HS256') throw new Err('Invalid session token: the algorithm must be HS256');
    if (host('hmac.verify', secret, parts[0] + '.' + parts[1], parts[2]) !== '1') throw new Err('Invalid session token: bad signature');
    if (payload === null || typeof payload !== 'object' || isArray(payload)) throw new Err('Invalid session token');
    if (typeof payload.exp !== 'number' || payload.exp <= nowSeconds()) throw new Err('The session token has expired');
    const rc = redirectCtx();
    if (!rc || typeof rc.state !== 'string' || payload.state !== rc.state) throw new Err('The session token does not belong to this transaction (state mismatch)');
    const user = curEvent && curEvent.user;
    if (payload.sub !== undefined && user && typeof user.user_id === 'string' && payload.sub !== user.user_id) throw new Err('The session token was issued for another user');
    return payload;
  }

  // ---- cache (a snapshot from the host; writes are recorded as commands) ---------------------
  function cacheMap() {
    if (curCache === null) {
      curCache = new MapC();
      let o = null;
      try { o = JSONparse(curCacheJson); } catch { /* empty */ }
      if (o !== null && typeof o === 'object') {
        const ks = keys(o);
        for (let i = 0; i < ks.length; i++) {
          const r = o[ks[i]];
          if (r && typeof r.value === 'string' && typeof r.expires_at === 'number') curCache.set(ks[i], { value: r.value, expires_at: r.expires_at });
        }
      }
    }
    return curCache;
  }
  function cacheGet(key) {
    const r = cacheMap().get(S(key));
    if (!r || r.expires_at <= dateNow()) return undefined;
    return { value: r.value, expires_at: r.expires_at };
  }
  // The host's limits (definitions.ts, cache.set): a call past them is refused here with an error
  // result, as Auth0's cache answers, rather than reported a success the host then drops.
  const CACHE_KEY_MAX = 200, CACHE_VALUE_MAX = 4096;
  function cacheSet(key, value, options) {
    if (typeof key !== 'string' || key === '' || typeof value !== 'string') return { type: 'error', code: 'invalid_argument' };
    if (key.length > CACHE_KEY_MAX || value.length > CACHE_VALUE_MAX) return { type: 'error', code: 'too_large' };
    const o = options || {};
    let ttl = 900000;
    if (o.ttl !== undefined) ttl = N(o.ttl);
    else if (o.expires_at !== undefined) ttl = N(o.expires_at) - dateNow();
    if (!(ttl > 0 && ttl < 1e13)) return { type: 'error', code: 'invalid_argument' };
    ttl = floor(ttl);
    record('cache.set', [key, value, { ttl }]);
    const rec = { value, expires_at: dateNow() + ttl };
    cacheMap().set(key, rec);
    return { type: 'success', record: { value, expires_at: rec.expires_at } };
  }
  function cacheDelete(key) {
    if (typeof key !== 'string' || key === '') return { type: 'error', code: 'invalid_argument' };
    record('cache.delete', [key]);
    const old = cacheMap().get(key);
    cacheMap().delete(key);
    return { type: 'success', record: old ? { value: old.value, expires_at: old.expires_at } : undefined };
  }

  // ---- the api recorder ----------------------------------------------------------------------
  // Calls the server fails closed on when it refuses them (engine/contract.ts FAIL_CLOSED_WHEN_REFUSED).
  const FAIL_CLOSED = { __proto__: null, 'access.deny': 1, 'session.revoke': 1, 'refreshToken.revoke': 1, 'validation.error': 1, 'redirect.sendUserTo': 1, 'multifactor.enable': 1,
    'authentication.challengeWith': 1, 'authentication.challengeWithAny': 1, 'authentication.enrollWith': 1, 'authentication.enrollWithAny': 1 };
  function record(type, args) {
    if (!active) throw new Err('api.' + type + '() was called outside of a running handler');
    if (type === 'idToken.setCustomClaim' || type === 'accessToken.setCustomClaim') {
      const v = args[1];
      // JSON has no undefined, function or Symbol: as a property of the token's claims object
      // such a value leaves the claim out (what JSON.stringify does, and what Auth0 users see),
      // also when an earlier call set it. Recorded as the call without a value (the server
      // checks the name as always and removes the claim), not as null, which is what it would
      // become inside the recorded argument list.
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') args = [args[0]];
    }
    let j = JSONstringify(args); // throws on BigInt and cycles: the call fails, as it should
    if (typeof j !== 'string') j = '[]';
    const json = '{"type":' + JSONstringify(type) + ',"args":' + j + '}';
    const b = utf8Len(json) + 1;
    if (cmdBytes + b > resultBytes) {
      // Refuse just this call, with a line in the execution log; the action and the login go on
      // (ACTIONS.md: oversized claims are refused, the token is still correct).
      writeLog(['[gatehouse] api.' + type + '() refused: recorded api calls would exceed ' + resultBytes + ' bytes']);
      if (FAIL_CLOSED[type] === 1 && !failed) {
        // Except a call that stops or guards the flow (a deny, a redirect, a second factor): lost,
        // the flow would go on as if it had not been made. The action fails instead, as the
        // server fails closed on such a call it refuses.
        failed = { name: 'ResultTooLarge', message: 'api.' + type + '() could not be recorded: recorded api calls would exceed ' + resultBytes + ' bytes' };
        if (settled) publish();
      }
      return false;
    }
    cmds = cmds ? cmds + ',' + json : json;
    cmdBytes += b;
    if (settled) publish();
  }
  function recorder(type, api) {
    return function () {
      const a = [];
      for (let i = 0; i < arguments.length; i++) a[i] = arguments[i];
      record(type, a);
      // Chaining goes on with this execution's own api object (what the action added to it).
      return execApi !== null ? execApi : api;
    };
  }
  // Auth0's transaction metadata: a string, number or boolean per key (null removes it), seen
  // at once in this action's event.transaction.metadata and by the actions after it, also after
  // a redirect or a second factor (the server keeps it with the login). Checked here so that a
  // wrong call throws where it is made; the server checks again.
  const TX_KEY_MAX = 100, TX_VALUE_MAX = 1024, TX_KEYS_MAX = 20;
  const TX_CONTROL = /[\u0000-\u001f\u007f\u2028\u2029\u202a-\u202e\u200b-\u200f]/; // definitions.ts CONTROL
  // The keys this login holds, as the server counts them: taken from the event before the
  // action runs (runExec) and kept here, where the action cannot empty them to pass the count.
  let txKeys = null, txStartKeys = null;
  function setTransactionMetadata(key, value) {
    if (typeof key !== 'string' || key === '' || key.length > TX_KEY_MAX || key === '__proto__' || key === 'constructor' || key === 'prototype' || TX_CONTROL.test(key)) {
      throw new TypeErr('api.transaction.setMetadata: the key must be a string of 1 to ' + TX_KEY_MAX + ' characters, without control characters');
    }
    if (!(value === null || typeof value === 'boolean' || typeof value === 'string' || (typeof value === 'number' && N.isFinite(value)))) {
      throw new TypeErr('api.transaction.setMetadata: the value must be a string, a number or a boolean (null removes the key); serialize objects and arrays as strings');
    }
    if (typeof value === 'string' && value.length > TX_VALUE_MAX) throw new RangeErr('api.transaction.setMetadata: a value is at most ' + TX_VALUE_MAX + ' characters');
    if (txKeys === null) {
      txKeys = new MapC();
      if (txStartKeys !== null) for (let i = 0; i < txStartKeys.length; i++) mset(txKeys, txStartKeys[i], true);
    }
    if (value !== null && !mhas(txKeys, key) && apply(mapSize, txKeys, []) >= TX_KEYS_MAX) throw new RangeErr('api.transaction.setMetadata: at most ' + TX_KEYS_MAX + ' keys');
    // Not recorded (the execution's recorded calls are full): nothing changes here either.
    if (record('transaction.setMetadata', [key, value]) === false) throw new RangeErr('api.transaction.setMetadata: not recorded, the execution\'s recorded api calls are full');
    if (value === null) mdel(txKeys, key); else mset(txKeys, key, true);
    const tx = curEvent !== null && typeof curEvent === 'object' ? curEvent.transaction : undefined;
    let md = tx !== null && typeof tx === 'object' ? tx.metadata : undefined;
    if (tx !== null && typeof tx === 'object') {
      if (md === null || typeof md !== 'object') { md = {}; defineProperty(tx, 'metadata', { value: md, writable: true, enumerable: true, configurable: true }); }
      if (value === null) delete md[key]; else defineProperty(md, key, { value, writable: true, enumerable: true, configurable: true });
    }
    return execApi !== null ? execApi : curApi;
  }
  // Auth0's session metadata: string keys and values of at most 255 characters (here up to 25
  // keys), kept with the browser session for the actions of its later logins; seen at once in
  // this action's event.session.metadata and by the actions after it. Checked here so that a
  // wrong call throws where it is made; the server checks again.
  const SM_CHARS = 255, SM_KEYS_MAX = 25;
  // What PostgreSQL's jsonb and the server refuse in metadata (users.ts metadataProblem): NUL, lone surrogates.
  const SM_UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  // Auth0's refresh-token metadata: the same, with keys of letters, digits, _ and - only; seen in
  // event.refresh_token.metadata on a refresh (at a login there is no refresh token yet: it is only written).
  const RTM_KEY = /^[A-Za-z0-9_-]{1,255}$/;
  /** api.<apiName>.setMetadata / deleteMetadata / evictMetadata on event[part].metadata. */
  function metadataCalls(part, apiName, keyOk, keyRule) {
    let mkeys = null, startKeys = null;
    function target() {
      const s = curEvent !== null && typeof curEvent === 'object' ? curEvent[part] : undefined;
      if (s === null || typeof s !== 'object') return null;
      let md = s.metadata;
      if (md === null || typeof md !== 'object') { md = {}; defineProperty(s, 'metadata', { value: md, writable: true, enumerable: true, configurable: true }); }
      return md;
    }
    function checkKey(name, key) {
      if (typeof key !== 'string' || !keyOk(key)) throw new TypeErr('api.' + apiName + '.' + name + ': the key must be ' + keyRule);
      if (mkeys === null) {
        mkeys = new MapC();
        if (startKeys !== null) for (let i = 0; i < startKeys.length; i++) mset(mkeys, startKeys[i], true);
      }
    }
    function setMetadata(key, value) {
      checkKey('setMetadata', key);
      if (typeof value !== 'string') throw new TypeErr('api.' + apiName + '.setMetadata: the value must be a string');
      if (SM_UNSTORABLE.test(value)) throw new TypeErr('api.' + apiName + '.setMetadata: the value must not contain NUL characters or lone surrogates');
      if (value.length > SM_CHARS) throw new RangeErr('api.' + apiName + '.setMetadata: a value is at most ' + SM_CHARS + ' characters');
      if (!mhas(mkeys, key) && apply(mapSize, mkeys, []) >= SM_KEYS_MAX) throw new RangeErr('api.' + apiName + '.setMetadata: at most ' + SM_KEYS_MAX + ' keys');
      if (record(apiName + '.setMetadata', [key, value]) === false) throw new RangeErr('api.' + apiName + '.setMetadata: not recorded, the execution\'s recorded api calls are full');
      mset(mkeys, key, true);
      const md = target();
      if (md !== null) defineProperty(md, key, { value, writable: true, enumerable: true, configurable: true });
      return execApi !== null ? execApi : curApi;
    }
    function deleteMetadata(key) {
      checkKey('deleteMetadata', key);
      if (record(apiName + '.deleteMetadata', [key]) === false) throw new RangeErr('api.' + apiName + '.deleteMetadata: not recorded, the execution\'s recorded api calls are full');
      mdel(mkeys, key);
      const md = target();
      if (md !== null) delete md[key];
      return execApi !== null ? execApi : curApi;
    }
    function evictMetadata() {
      if (record(apiName + '.evictMetadata', []) === false) throw new RangeErr('api.' + apiName + '.evictMetadata: not recorded, the execution\'s recorded api calls are full');
      mkeys = new MapC();
      const md = target();
      if (md !== null) { const ks = keys(md); for (let i = 0; i < ks.length; i++) delete md[ks[i]]; }
      return execApi !== null ? execApi : curApi;
    }
    return {
      setMetadata, deleteMetadata, evictMetadata,
      /** An execution begins: the keys the host sent (the set is built only if the action calls setMetadata). */
      begin(event) {
        mkeys = null;
        const s0 = event !== null && typeof event === 'object' ? event[part] : undefined;
        startKeys = s0 !== null && typeof s0 === 'object' && s0.metadata !== null && typeof s0.metadata === 'object' ? keys(s0.metadata) : null;
      },
      end() { mkeys = null; startKeys = null; },
    };
  }
  const sessionMd = metadataCalls('session', 'session',
    (k) => k !== '' && k.length <= SM_CHARS && k !== '__proto__' && k !== 'constructor' && k !== 'prototype' && !TX_CONTROL.test(k) && !SM_UNSTORABLE.test(k),
    'a string of 1 to ' + SM_CHARS + ' characters, without control characters');
  const refreshMd = metadataCalls('refresh_token', 'refreshToken', (k) => RTM_KEY.test(k) && k !== '__proto__' && k !== 'constructor' && k !== 'prototype', '1 to ' + SM_CHARS + ' letters, digits, _ or - (not __proto__, constructor or prototype)');
  const SPECIAL = {
    'session.setMetadata': () => sessionMd.setMetadata,
    'session.deleteMetadata': () => sessionMd.deleteMetadata,
    'session.evictMetadata': () => sessionMd.evictMetadata,
    'refreshToken.setMetadata': () => refreshMd.setMetadata,
    'refreshToken.deleteMetadata': () => refreshMd.deleteMetadata,
    'refreshToken.evictMetadata': () => refreshMd.evictMetadata,
    'redirect.canRedirect': () => function canRedirect() { const rc = redirectCtx(); return !!(rc && rc.canRedirect); },
    // Auth0's Rules-to-Actions migration writes `if (!api.rules.wasExecuted(id))` around code a
    // Rule did before: there are no Rules here, so none was ever executed.
    'rules.wasExecuted': () => function wasExecuted() { return false; },
    'transaction.setMetadata': () => setTransactionMetadata,
    'redirect.encodeToken': () => encodeToken,
    'redirect.validateToken': () => validateToken,
    'cache.get': () => cacheGet,
    'cache.set': () => cacheSet,
    'cache.delete': () => cacheDelete,
  };
  // The api object for a list of paths, built once per isolate and list (measured: rebuilding
  // post-login's 19 methods was a third of a warm execution) and frozen, so an action cannot
  // change it for its own later executions either.
  let apiKey = null, apiBuilt = null;
  function apiFor(paths, missing) {
    const key = paths.join(',') + '|' + missing.join(',');
    if (key !== apiKey) { apiBuilt = deepFreeze(buildApi(paths, missing)); apiKey = key; }
    return apiBuilt;
  }
  // Auth0's methods this trigger lacks here: a call says which one, where a missing property
  // would fail with "Cannot read properties of undefined" and name nothing.
  function unsupported(path) {
    return function () { throw new TypeErr('api.' + path + '() is not supported by Gatehouse'); };
  }
  function deepFreeze(o) {
    const ks = keys(o);
    for (let i = 0; i < ks.length; i++) { const v = o[ks[i]]; if (v !== null && typeof v === 'object') deepFreeze(v); }
    return freeze(o);
  }
  function buildApi(paths, missing) {
    const api = {};
    const all = paths.concat(missing);
    for (let i = 0; i < all.length; i++) {
      const path = all[i];
      const parts = path.split('.');
      let o = api;
      for (let k = 0; k < parts.length - 1; k++) {
        if (!hasOwn(o, parts[k])) defineProperty(o, parts[k], { value: {}, writable: true, enumerable: true, configurable: true });
        o = o[parts[k]];
      }
      const name = parts[parts.length - 1];
      if (i >= paths.length) {
        if (!hasOwn(o, name)) defineProperty(o, name, { value: unsupported(path), writable: true, enumerable: true, configurable: true });
        continue;
      }
      const make = hasOwn(SPECIAL, path) ? SPECIAL[path] : null;
      defineProperty(o, name, { value: make ? make() : recorder(path, api), writable: true, enumerable: true, configurable: true });
    }
    return api;
  }

  // ---- axios (a stand-in for axios 1.x, on the bridged fetch) ---------------------------------
  // The npm module Auth0 actions require most. Config merging, headers, params, request and
  // response transforms, interceptors, errors and cancellation follow axios 1.x as it behaves in
  // Node.js (its http adapter); the request itself goes through sendRequest (fetch's limits and
  // SSRF guard apply). Bodies are text, as fetch's: no streams, no binary.
  let axiosBuilt = null;
  function axiosModule() {
    if (axiosBuilt === null) axiosBuilt = makeAxios();
    return axiosBuilt;
  }
  function makeAxios() {
    const VERSION = '1.21.1';
    const METHODS = ['get', 'delete', 'head', 'options', 'post', 'put', 'patch', 'purge', 'link', 'unlink', 'query'];
    const isPlain = (v) => {
      if (v === null || typeof v !== 'object') return false;
      const p = O.getPrototypeOf(v);
      return (p === null || p === O.prototype || O.getPrototypeOf(p) === null) && !(toStringTagSym in v) && !(iteratorSym in v);
    };
    const isObj = (v) => v !== null && typeof v === 'object';
    const isUndef = (v) => v === undefined;

    class AxiosError extends Err {
      constructor(message, code, config, request, response) {
        super(message);
        defineProperty(this, 'message', { value: message, enumerable: true, writable: true, configurable: true });
        this.name = 'AxiosError';
        this.isAxiosError = true;
        if (code) this.code = code;
        if (config) this.config = config;
        if (request) this.request = request;
        if (response) { this.response = response; this.status = response.status; }
      }
      toJSON() {
        return {
          message: this.message, name: this.name, description: this.description, number: this.number,
          fileName: this.fileName, lineNumber: this.lineNumber, columnNumber: this.columnNumber, stack: this.stack,
          config: this.config === undefined ? undefined : JSONparse(JSONstringify(this.config, (k, v) => (typeof v === 'function' ? undefined : v))),
          code: this.code, status: this.status,
        };
      }
      static from(error, code, config, request, response, customProps) {
        const e = new AxiosError(error && error.message, code || (error && error.code), config, request, response);
        defineProperty(e, 'cause', { value: error, writable: true, enumerable: false, configurable: true });
        if (error && error.name) e.name = error.name;
        if (error && error.status != null && e.status == null) e.status = error.status;
        if (customProps) O.assign(e, customProps);
        return e;
      }
    }
    for (const c of ['ERR_BAD_OPTION_VALUE', 'ERR_BAD_OPTION', 'ECONNABORTED', 'ETIMEDOUT', 'ECONNREFUSED', 'ERR_NETWORK', 'ERR_FR_TOO_MANY_REDIRECTS',
      'ERR_DEPRECATED', 'ERR_BAD_RESPONSE', 'ERR_BAD_REQUEST', 'ERR_CANCELED', 'ERR_NOT_SUPPORT', 'ERR_INVALID_URL', 'ERR_FORM_DATA_DEPTH_EXCEEDED']) AxiosError[c] = c;
    class CanceledError extends AxiosError {
      constructor(message, config, request) {
        super(message == null ? 'canceled' : message, AxiosError.ERR_CANCELED, config, request);
        this.name = 'CanceledError';
        this.__CANCEL__ = true;
      }
    }
    const isCancel = (v) => !!(v && v.__CANCEL__);

    // Headers: own properties in the case first set, looked up without regard to case.
    const findKey = (o, name) => {
      const l = S(name).toLowerCase();
      const ks = keys(o);
      for (let i = 0; i < ks.length; i++) if (ks[i].toLowerCase() === l) return ks[i];
      return null;
    };
    // Values lose C0 controls and DEL and are trimmed of spaces and tabs (sanitizeHeaderValue.js);
    // what goes on the wire also loses characters beyond Latin-1, as Node's http would refuse them.
    const headerVal = (v) => (v === false || v == null ? v : isArray(v) ? v.map(headerVal) : S(v).replace(/[\u0000-\u0008\u000a-\u001f\u007f]+/g, '').replace(/^[\t ]+|[\t ]+$/g, ''));
    const wireVal = (v) => S(v).replace(/[^\u0009\u0020-\u007e\u0080-\u00ff]+/g, '').replace(/^[\t ]+|[\t ]+$/g, '');
    class AxiosHeaders {
      constructor(init) { if (init) this.set(init); }
      set(header, value, rewrite) {
        const one = (v, h, rw) => {
          const name = S(h).trim();
          if (!name) throw new Err('header name must be a non-empty string');
          const k = findKey(this, name);
          if (!k || this[k] === undefined || rw === true || (rw === undefined && this[k] !== false)) this[k || name] = headerVal(v);
        };
        if (header instanceof AxiosHeaders || isPlain(header)) { for (const k of keys(header)) one(header[k], k, value); }
        else if (isObj(header) && typeof header[iteratorSym] === 'function') { for (const [k, v] of header) one(v, k, rewrite); }
        else if (header != null) one(value, header, rewrite);
        return this;
      }
      get(header) { const k = findKey(this, header); return k ? this[k] : undefined; }
      has(header) { const k = findKey(this, header); return !!(k && this[k] !== undefined); }
      delete(header) { const k = findKey(this, header); if (k) { delete this[k]; return true; } return false; }
      clear() { for (const k of keys(this)) delete this[k]; return true; }
      normalize() { return this; }
      concat(...targets) { return AxiosHeaders.concat(this, ...targets); }
      toJSON(asStrings) {
        const o = objCreate(null);
        for (const k of keys(this)) { const v = this[k]; if (v != null && v !== false) o[k] = asStrings && isArray(v) ? apply(arrJoin, v, [', ']) : v; }
        return o;
      }
      toString() { return keys(this.toJSON()).map((k) => k + ': ' + this[k]).join('\n'); }
      getSetCookie() { const v = this.get('set-cookie'); return v === undefined ? [] : isArray(v) ? v : [v]; }
      get [toStringTagSym]() { return 'AxiosHeaders'; }
      static from(thing) { return thing instanceof AxiosHeaders ? thing : new AxiosHeaders(thing); }
      static concat(first, ...targets) { const h = new AxiosHeaders(first); for (const t of targets) if (t) h.set(t); return h; }
    }
    for (const m of ['get', 'has', 'delete', 'set', 'toJSON', 'toString', 'normalize', 'concat', 'clear', 'getSetCookie']) {
      defineProperty(AxiosHeaders.prototype, m, { enumerable: false });
    }
    for (const h of ['Content-Type', 'Content-Length', 'Accept', 'Accept-Encoding', 'User-Agent', 'Content-Encoding', 'Authorization']) {
      const name = h.replace('-', '');
      for (const m of ['get', 'set', 'has']) {
        defineProperty(AxiosHeaders.prototype, m + name, { value(a, b, c) { return this[m](h, a, b, c); }, writable: true, enumerable: false, configurable: true });
      }
    }

    // Config merging (lib/core/mergeConfig.js).
    const copyPlain = (v) => (isPlain(v) ? merge({}, v) : isArray(v) ? v.slice() : v);
    function merge(target, source, caseless) {
      for (const k of keys(source)) {
        if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
        const tk = caseless ? findKey(target, k) || k : k;
        const v = source[k];
        if (isPlain(target[tk]) && isPlain(v)) target[tk] = merge(merge({}, target[tk], caseless), v, caseless);
        else target[tk] = copyPlain(v);
      }
      return target;
    }
    const mergedValue = (a, b, caseless) => (isPlain(a) && isPlain(b) ? merge(merge({}, a, caseless), b, caseless) : copyPlain(b));
    const FROM_2 = new Set(['url', 'method', 'data']);
    function mergeConfig(c1, c2) {
      c1 = c1 || {}; c2 = c2 || {};
      const out = {};
      const all = new Set([...keys(c1), ...keys(c2)]);
      for (const k of all) {
        if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
        const a = c1[k], b = c2[k];
        let v;
        if (FROM_2.has(k)) v = isUndef(b) ? undefined : copyPlain(b);
        else if (k === 'validateStatus') { out[k] = hasOwn(c2, k) ? b : a; continue; }
        else if (k === 'headers') {
          const ha = a instanceof AxiosHeaders ? { ...a } : a, hb = b instanceof AxiosHeaders ? { ...b } : b;
          v = !isUndef(hb) ? mergedValue(ha, hb, true) : !isUndef(ha) ? mergedValue(undefined, ha, true) : undefined;
        } else if (k === 'params') v = !isUndef(b) ? mergedValue(a, b) : copyPlain(a);
        else v = !isUndef(b) ? copyPlain(b) : copyPlain(a);
        if (!isUndef(v)) out[k] = v;
      }
      return out;
    }

    // URLs and params (lib/helpers/buildURL.js, toFormData.js).
    const encodeParam = (v) => encodeURIComponent(v).replace(/%3A/gi, ':').replace(/%24/g, '$').replace(/%2C/gi, ',').replace(/%20/g, '+');
    const isVisitable = (v) => isPlain(v) || isArray(v);
    const dropBrackets = (k) => (S(k).endsWith('[]') ? S(k).slice(0, -2) : S(k));
    const renderKey = (path, key, dots) => (path ? path.concat(key).map((t, i) => { t = dropBrackets(t); return !dots && i ? '[' + t + ']' : t; }).join(dots ? '.' : '') : key);
    const convertValue = (v) => (v === null ? '' : v instanceof Date ? v.toISOString() : typeof v === 'boolean' ? S(v) : v);
    // The [key, value] pairs axios makes of an object (params, url-encoded and multipart forms).
    function formPairs(obj, options) {
      if (!isObj(obj)) throw new TypeErr('target must be an object');
      const o = options || {};
      const dots = !!o.dots, indexes = o.indexes === undefined ? false : o.indexes;
      const pairs = [];
      const stack = [];
      const visit = (value, key, path) => {
        if (value && !path && typeof value === 'object') {
          if (S(key).endsWith('{}')) { pairs.push([key, JSONstringify(value)]); return false; }
          if ((isArray(value) && !value.some(isVisitable)) || S(key).endsWith('[]')) {
            const arr = isArray(value) ? value : A.from(value);
            const k = dropBrackets(key);
            arr.forEach((el, i) => { if (el !== undefined && el !== null) pairs.push([indexes === true ? renderKey([k], i, dots) : indexes === null ? k : k + '[]', convertValue(el)]); });
            return false;
          }
        }
        if (isVisitable(value)) return true;
        pairs.push([renderKey(path, key, dots), convertValue(value)]);
        return false;
      };
      const build = (value, path, depth) => {
        if (isUndef(value)) return;
        if (depth > 100) throw new AxiosError('Object is too deeply nested (' + depth + ' levels). Max depth: 100', AxiosError.ERR_FORM_DATA_DEPTH_EXCEEDED);
        if (stack.includes(value)) throw new Err('Circular reference detected in ' + path.join('.'));
        stack.push(value);
        const ks = isArray(value) ? value.map((_, i) => i) : keys(value);
        for (const k of ks) {
          const el = value[k];
          if (el === undefined || el === null) continue;
          const key = typeof k === 'string' ? k.trim() : k;
          if (visit(el, key, path) === true) build(el, path ? path.concat(k) : [k], depth + 1);
        }
        stack.pop();
      };
      build(obj, undefined, 0);
      return pairs;
    }
    function buildURL(url, params, serializer) {
      if (!params) return url;
      const opts = typeof serializer === 'function' ? { serialize: serializer } : serializer || {};
      const enc = typeof opts.encode === 'function' ? opts.encode : encodeParam;
      let q;
      if (typeof opts.serialize === 'function') q = opts.serialize(params, opts);
      else if (params instanceof URLSearchParams) q = params.toString();
      else q = formPairs(params, opts).map((p) => enc(p[0]) + '=' + enc(p[1])).join('&');
      if (q) {
        const hash = url.indexOf('#');
        if (hash !== -1) url = url.slice(0, hash);
        url += (url.indexOf('?') === -1 ? '?' : '&') + q;
      }
      return url;
    }
    const isAbsolute = (u) => /^([a-z][a-z\d+\-.]*:)?\/\//i.test(u);
    const fullPath = (base, url, allowAbsolute) => (base && (!isAbsolute(url) || allowAbsolute === false)
      ? (url ? base.replace(/\/?\/$/, '') + '/' + url.replace(/^\/+/, '') : base) : url);

    // FormData to an object by its field names' brackets (lib/helpers/formDataToJSON.js).
    function formDataToJSON(fd) {
      const deep = (i) => { if (i > 100) throw new AxiosError('FormData field is too deeply nested (' + i + ' levels). Max depth: 100', AxiosError.ERR_FORM_DATA_DEPTH_EXCEEDED); };
      const parsePath = (name) => {
        const path = [];
        const re = /[^.[\]]+|\[([^.[\]]*)]/g;
        let m;
        while ((m = re.exec(name)) !== null) { deep(path.length); path.push(m[0] === '[]' ? '' : m[1] || m[0]); }
        return path;
      };
      const toObject = (arr) => { const o = {}; for (const k of keys(arr)) o[k] = arr[k]; return o; };
      const normalizeArray = (v) => {
        if (!isArray(v)) return v;
        const ks = keys(v);
        return ks.length !== v.length || ks.some((k, i) => k !== S(i)) ? toObject(v) : v;
      };
      const build = (path, value, target, index) => {
        deep(index);
        let name = path[index++];
        if (name === '__proto__') return true;
        const numeric = N.isFinite(+name);
        const last = index >= path.length;
        name = !name && isArray(target) ? target.length : name;
        if (last) {
          if (hasOwn(target, name)) { target[name] = normalizeArray(target[name]); target[name] = isArray(target[name]) ? target[name].concat(value) : [target[name], value]; }
          else target[name] = value;
          return !numeric;
        }
        if (!hasOwn(target, name) || !isObj(target[name])) target[name] = [];
        if (build(path, value, target[name], index) && isArray(target[name])) target[name] = toObject(target[name]);
        return !numeric;
      };
      if (!(fd instanceof FormData)) return null;
      const obj = {};
      for (const [name, value] of fd) build(parsePath(name), value, obj, 0);
      const pending = [obj];
      while (pending.length) {
        const t = pending.pop();
        for (const k of keys(t)) { const v = (t[k] = normalizeArray(t[k])); if (isArray(v) || isPlain(v)) pending.push(v); }
      }
      return obj;
    }

    // Default transforms (lib/defaults/index.js).
    function stringifySafely(v) {
      if (typeof v === 'string') {
        try { JSONparse(v); return v.trim(); } catch (e) { if (e.name !== 'SyntaxError') throw e; }
      }
      return JSONstringify(v);
    }
    function transformRequest(data, headers) {
      const ct = headers.getContentType() || '';
      const json = ct.indexOf('application/json') > -1;
      const isObjPayload = isObj(data);
      if (data instanceof FormData) return json ? JSONstringify(formDataToJSON(data)) : data;
      if (data instanceof ArrayBufferC || isView(data)) return data;
      if (data instanceof URLSearchParams) { headers.setContentType('application/x-www-form-urlencoded;charset=utf-8', false); return data.toString(); }
      if (isObjPayload) {
        if (ct.indexOf('application/x-www-form-urlencoded') > -1) {
          const u = new URLSearchParams();
          for (const [k, v] of formPairs(data, this && this.formSerializer)) u.append(k, v);
          return u.toString();
        }
        if (ct.indexOf('multipart/form-data') > -1) {
          const fd = new FormData();
          for (const [k, v] of formPairs(data, this && this.formSerializer)) fd.append(k, S(v));
          return fd;
        }
      }
      if (isObjPayload || json) { headers.setContentType('application/json', false); return stringifySafely(data); }
      return data;
    }
    function transformResponse(data) {
      const tr = (this && this.transitional) || defaults.transitional;
      const rt = this && this.responseType;
      const jsonRequested = rt === 'json';
      if (data && typeof data === 'string' && ((tr.forcedJSONParsing && !rt) || jsonRequested)) {
        try {
          return JSONparse(data, this && this.parseReviver);
        } catch (e) {
          if (!tr.silentJSONParsing && jsonRequested) {
            if (e.name === 'SyntaxError') throw AxiosError.from(e, AxiosError.ERR_BAD_RESPONSE, this, null, this && this.response);
            throw e;
          }
        }
      }
      return data;
    }
    function transformData(fns, data, headers, response) {
      const list = fns === undefined || fns === null ? [] : isArray(fns) ? fns : [fns];
      for (const fn of list) data = apply(fn, this, [data, headers, response ? response.status : undefined]);
      return data;
    }

    const defaults = {
      transitional: { silentJSONParsing: true, forcedJSONParsing: true, clarifyTimeoutError: false },
      adapter: ['xhr', 'http', 'fetch'],
      transformRequest: [transformRequest],
      transformResponse: [transformResponse],
      timeout: 0,
      xsrfCookieName: 'XSRF-TOKEN',
      xsrfHeaderName: 'X-XSRF-TOKEN',
      maxContentLength: -1,
      maxBodyLength: -1,
      validateStatus(status) { return status >= 200 && status < 300; },
      headers: { common: { Accept: 'application/json, text/plain, */*', 'Content-Type': undefined } },
    };
    for (const m of METHODS) defaults.headers[m] = {};

    // The adapter: one request through sendRequest, settled as axios's http adapter settles it.
    function bodyText(data, config) {
      if (!data) return null;
      if (typeof data === 'string' || data instanceof FormData) return data;
      if (data instanceof ArrayBufferC || isView(data)) {
        const bytes = data instanceof ArrayBufferC ? new Uint8ArrayC(data) : new Uint8ArrayC(data.buffer, data.byteOffset, data.byteLength);
        try { return utf8Decode(bytes, true, true); } catch {
          throw new AxiosError('Binary request bodies are not supported by Gatehouse: the bridged fetch sends text (UTF-8)', AxiosError.ERR_NOT_SUPPORT, config);
        }
      }
      throw new AxiosError('Data after transformation must be a string, an ArrayBuffer, a Buffer, or a Stream', AxiosError.ERR_BAD_REQUEST, config);
    }
    function adapter(config) {
      return new P((resolve, reject) => {
        let url;
        try { url = new URL(fullPath(config.baseURL, config.url, config.allowAbsoluteUrls)); } catch {
          const e = new TypeErr('Invalid URL');
          e.code = 'ERR_INVALID_URL';
          e.input = S(fullPath(config.baseURL, config.url, config.allowAbsoluteUrls));
          throw e;
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AxiosError('Unsupported protocol ' + url.protocol, AxiosError.ERR_BAD_REQUEST, config);
        const method = S(config.method).toUpperCase();
        if (!HEADER_NAME.test(method)) { const e = new TypeErr('Method must be a valid HTTP token ["' + cap(method, 50) + '"]'); e.code = 'ERR_INVALID_HTTP_TOKEN'; throw e; }
        const headers = config.headers;
        const rt = config.responseType;
        if (rt === 'stream') throw new AxiosError("responseType 'stream' is not supported by Gatehouse: responses arrive whole", AxiosError.ERR_NOT_SUPPORT, config);
        let body = bodyText(config.data, config);
        headers.set('User-Agent', 'axios/' + VERSION, false);
        let auth = null;
        if (config.auth) auth = S(config.auth.username || '') + ':' + S(config.auth.password || '');
        if (!auth && (url.username || url.password)) auth = decodeURIComponent(url.username) + ':' + decodeURIComponent(url.password);
        url.username = ''; url.password = '';
        // As axios's http adapter: the credentials go to the request only, never into config.headers
        // (which actions log with their errors, where a Basic value would escape secret scrubbing).
        if (auth !== null) headers.delete('authorization');
        if (body instanceof FormData) {
          const ct = headers.getContentType();
          if (ct !== undefined && ct !== null && ct !== false && !/boundary=/i.test(S(ct))) headers.delete('content-type');
        }
        let path;
        try { path = buildURL(url.pathname + url.search, config.params, config.paramsSerializer); } catch (e) { throw AxiosError.from(e, AxiosError.ERR_BAD_REQUEST, config); }
        const target = url.origin + path;
        const h = new Headers();
        const flat = headers.toJSON(true);
        for (const k of keys(flat)) {
          try { h.append(k, wireVal(flat[k])); } catch (e) {
            if (e instanceof TypeErr && /^Header name/.test(e.message)) e.code = 'ERR_INVALID_HTTP_TOKEN';
            throw e;
          }
        }
        const maxBody = N(config.maxBodyLength);
        if (maxBody > -1 && typeof body === 'string' && utf8Len(body) > maxBody) {
          throw new AxiosError('Request body larger than maxBodyLength limit', AxiosError.ERR_BAD_REQUEST, config);
        }
        let req = { url: target, method, headers: [], body: null, redirect: config.maxRedirects === 0 ? 'manual' : 'follow' };
        if (body instanceof FormData) {
          const m = multipart(body);
          req.body = m.body;
          if (!h.has('content-type')) h.set('content-type', m.type);
        } else req.body = body;
        const request = { method, path, host: url.host, protocol: url.protocol, headers: flat };
        if (auth !== null) h.set('authorization', 'Basic ' + bytesToB64(utf8Encode(auth), B64, true));
        for (const [k, v] of h) req.headers.push([k, v]);
        // Timeout and the caller's signal both end the request early.
        const ctl = newSignal();
        let why = null, timer = null;
        const user = config.signal;
        let cancelReason = null;
        const onUser = (reason) => { why = 'cancel'; if (reason && reason.__CANCEL__) cancelReason = reason; abortSignal(ctl, undefined); };
        const token = config.cancelToken;
        if (token) {
          if (token.reason) { reject(token.reason); return; }
          token.subscribe(onUser);
          execListeners.push([(fn) => token.unsubscribe(fn), onUser]);
        }
        if (user) {
          const ust = SIGNALS.get(user);
          if (ust === undefined) throw new TypeErr('signal must be an AbortSignal');
          if (ust.aborted) { reject(new CanceledError(null, config, request)); return; }
          ust.listeners.push(onUser);
          execListeners.push([ust, onUser]);
        }
        // parseInt, as axios's http adapter: '100ms' is 100; what does not parse is an error.
        const rawTimeout = config.timeout;
        const timeout = rawTimeout ? parseInt(rawTimeout, 10) : 0;
        if (N.isNaN(timeout)) { reject(new AxiosError('error trying to parse `config.timeout` to int', AxiosError.ERR_BAD_OPTION_VALUE, config, request)); return; }
        const timeoutError = () => {
          const tr = config.transitional || defaults.transitional;
          return new AxiosError(config.timeoutErrorMessage || (rawTimeout ? 'timeout of ' + rawTimeout + 'ms exceeded' : 'timeout exceeded'), tr.clarifyTimeoutError ? AxiosError.ETIMEDOUT : AxiosError.ECONNABORTED, config, request);
        };
        if (timeout > 0) timer = addTimer(() => { why = 'timeout'; abortSignal(ctl, undefined); }, timeout, [], false);
        const done = () => {
          if (timer !== null) clearTimer(timer);
          if (user) { const ust = SIGNALS.get(user); if (ust) dropListener(ust, onUser); }
          if (token) token.unsubscribe(onUser);
        };
        apply(promiseThen, sendRequest(req, ctl), [(res) => apply(promiseThen, res.text(), [(text) => {
          done();
          // As Node's http gives them: set-cookie an array, other repeated headers joined.
          const rh = new AxiosHeaders();
          for (const [k, v] of RS.get(res).raw || []) {
            if (k === 'set-cookie') rh[k] = hasOwn(rh, k) ? rh[k].concat(v) : [v];
            else rh[k] = hasOwn(rh, k) ? rh[k] + ', ' + v : v;
          }
          // The bridge decompresses these; axios's http adapter then drops the header too.
          if (method !== 'HEAD' && res.status !== 204 && /^(gzip|x-gzip|deflate|br)$/i.test(S(rh['content-encoding'] || '').trim())) delete rh['content-encoding'];
          const maxLen = N(config.maxContentLength);
          if (maxLen > -1 && utf8Len(text) > maxLen) {
            reject(new AxiosError('maxContentLength size of ' + maxLen + ' exceeded', AxiosError.ERR_BAD_RESPONSE, config, request));
            return;
          }
          let data;
          if (rt === 'arraybuffer') data = node().BufferFn.from(text);
          else data = text.charCodeAt(0) === 0xfeff && (!config.responseEncoding || config.responseEncoding === 'utf8') ? text.slice(1) : text;
          const response = { status: res.status, statusText: res.statusText, headers: rh, config, request, data };
          const vs = config.validateStatus;
          if (!response.status || !vs || vs(response.status)) resolve(response);
          else reject(new AxiosError('Request failed with status code ' + response.status, response.status >= 400 && response.status < 500 ? AxiosError.ERR_BAD_REQUEST : AxiosError.ERR_BAD_RESPONSE, config, request, response));
        }]), (e) => {
          done();
          if (why === 'cancel') { reject(cancelReason || new CanceledError(null, config, request)); return; }
          if (why === 'timeout') { reject(timeoutError()); return; }
          // The bridge's own limit (actions.fetchTimeoutMs) ended the request: a timeout to axios code.
          if (/^fetch failed: timeout after \d+ ms$/.test(S(e && e.message))) { reject(timeoutError()); return; }
          // The bridge reports a network failure as "fetch failed: <errno>" (no address or port).
          const m = /^fetch failed: (E[A-Z]+)$/.exec(e && e.message);
          let err;
          if (m) {
            const cause = new Err(m[1] === 'ECONNREFUSED' ? 'connect ECONNREFUSED ' + url.host : m[1] === 'ENOTFOUND' ? 'getaddrinfo ENOTFOUND ' + url.hostname : m[1]);
            cause.code = m[1];
            err = new AxiosError(cause.message, m[1], config, request);
            defineProperty(err, 'cause', { value: cause, writable: true, enumerable: false, configurable: true });
          } else {
            err = new AxiosError(e && e.message ? S(e.message) : 'Network Error', AxiosError.ERR_NETWORK, config, request);
            defineProperty(err, 'cause', { value: e, writable: true, enumerable: false, configurable: true });
          }
          err.name = 'Error'; // AxiosError.from takes the name of Node's own error
          reject(err);
        }]);
      });
    }

    function dispatch(config) {
      if (config.cancelToken) config.cancelToken.throwIfRequested();
      if (config.signal && SIGNALS.get(config.signal) && SIGNALS.get(config.signal).aborted) throw new CanceledError(null, config);
      config.headers = AxiosHeaders.from(config.headers);
      config.data = apply(transformData, config, [config.transformRequest, config.data, config.headers]);
      if (['post', 'put', 'patch'].includes(config.method)) config.headers.setContentType('application/x-www-form-urlencoded', false);
      const t0 = dateNow();
      return apply(promiseThen, adapter(config), [(response) => {
        response.duration = dateNow() - t0;
        config.response = response;
        try { response.data = apply(transformData, config, [config.transformResponse, response.data, response.headers, response]); } finally { delete config.response; }
        return response;
      }, (reason) => {
        if (!isCancel(reason) && config.cancelToken && config.cancelToken.reason) throw config.cancelToken.reason;
        if (!isCancel(reason) && reason && reason.response) {
          config.response = reason.response;
          try { reason.response.data = apply(transformData, config, [config.transformResponse, reason.response.data, reason.response.headers, reason.response]); } finally { delete config.response; }
        }
        throw reason;
      }]);
    }

    class InterceptorManager {
      constructor() { this.handlers = []; }
      use(fulfilled, rejected, options) {
        this.handlers.push({ fulfilled, rejected, synchronous: options ? !!options.synchronous : false, runWhen: options ? options.runWhen : null });
        return this.handlers.length - 1;
      }
      eject(id) { if (this.handlers[id]) this.handlers[id] = null; }
      clear() { this.handlers = []; }
      forEach(fn) { for (const h of this.handlers) if (h !== null) fn(h); }
    }

    class Axios {
      constructor(instanceConfig) {
        this.defaults = instanceConfig || {};
        this.interceptors = { request: new InterceptorManager(), response: new InterceptorManager() };
      }
      request(configOrUrl, config) {
        if (typeof configOrUrl === 'string') { config = config || {}; config.url = configOrUrl; } else config = configOrUrl || {};
        config = mergeConfig(this.defaults, config);
        if (typeof config.paramsSerializer === 'function') config.paramsSerializer = { serialize: config.paramsSerializer };
        if (config.allowAbsoluteUrls === undefined) config.allowAbsoluteUrls = this.defaults.allowAbsoluteUrls !== undefined ? this.defaults.allowAbsoluteUrls : true;
        config.method = S(config.method || this.defaults.method || 'get').toLowerCase();
        const hs = config.headers;
        if (hs) {
          const ctx = merge(merge({}, isPlain(hs.common) ? hs.common : {}, true), isPlain(hs[config.method]) ? hs[config.method] : {}, true);
          for (const m of METHODS.concat('common')) if (isPlain(hs[m])) delete hs[m];
          config.headers = AxiosHeaders.concat(ctx, hs);
        } else config.headers = new AxiosHeaders();
        const reqChain = [];
        let sync = true;
        this.interceptors.request.forEach((i) => {
          if (typeof i.runWhen === 'function' && i.runWhen(config) === false) return;
          sync = sync && i.synchronous;
          reqChain.unshift(i.fulfilled, i.rejected);
        });
        const resChain = [];
        this.interceptors.response.forEach((i) => { resChain.push(i.fulfilled, i.rejected); });
        let p;
        if (!sync) {
          const chain = reqChain.concat([dispatch, undefined], resChain);
          p = promiseResolve(config);
          for (let i = 0; i < chain.length; i += 2) p = apply(promiseThen, p, [chain[i], chain[i + 1]]);
          return p;
        }
        // No request interceptor, or only synchronous ones: as axios, the request is built (its
        // body serialised) within the call, so data changed after it is not what gets sent.
        let next = config;
        for (let i = 0; i < reqChain.length; i += 2) {
          try { next = reqChain[i](next); } catch (e) { if (typeof reqChain[i + 1] === 'function') apply(reqChain[i + 1], this, [e]); break; }
        }
        try { p = dispatch(next); } catch (e) { return promiseReject(e); }
        for (let i = 0; i < resChain.length; i += 2) p = apply(promiseThen, p, [resChain[i], resChain[i + 1]]);
        return p;
      }
      getUri(config) {
        const c = mergeConfig(this.defaults, config);
        return buildURL(fullPath(c.baseURL, c.url, c.allowAbsoluteUrls), c.params, c.paramsSerializer);
      }
    }
    for (const m of ['delete', 'get', 'head', 'options']) {
      Axios.prototype[m] = function (url, config) { return this.request(mergeConfig(config || {}, { method: m, url, data: (config || {}).data })); };
    }
    for (const m of ['post', 'put', 'patch']) {
      Axios.prototype[m] = function (url, data, config) { return this.request(mergeConfig(config || {}, { method: m, url, data })); };
      Axios.prototype[m + 'Form'] = function (url, data, config) {
        return this.request(mergeConfig(config || {}, { method: m, url, data, headers: { 'Content-Type': 'multipart/form-data' } }));
      };
    }

    function createInstance(defaultConfig) {
      const context = new Axios(defaultConfig);
      const instance = function axios(a, b) { return context.request(a, b); };
      for (const k of ['request', 'getUri', 'delete', 'get', 'head', 'options', 'post', 'put', 'patch', 'postForm', 'putForm', 'patchForm']) {
        instance[k] = function () { return apply(Axios.prototype[k], context, arguments); };
      }
      instance.defaults = context.defaults;
      instance.interceptors = context.interceptors;
      instance.create = (config) => createInstance(mergeConfig(defaultConfig, config));
      return instance;
    }
    const axios = createInstance(defaults);
    axios.Axios = Axios;
    axios.AxiosError = AxiosError;
    axios.CanceledError = CanceledError;
    axios.Cancel = CanceledError;
    axios.isCancel = isCancel;
    axios.VERSION = VERSION;
    axios.AxiosHeaders = AxiosHeaders;
    axios.all = (promises) => P.all(promises);
    axios.spread = (cb) => (arr) => apply(cb, null, arr);
    axios.isAxiosError = (v) => isObj(v) && v.isAxiosError === true;
    axios.mergeConfig = mergeConfig;
    axios.formToJSON = formDataToJSON;
    axios.getAdapter = () => adapter;
    axios.toFormData = (obj, fd) => { const f = fd || new FormData(); for (const [k, v] of formPairs(obj)) f.append(k, S(v)); return f; };
    const codes = { Continue: 100, SwitchingProtocols: 101, Processing: 102, EarlyHints: 103, Ok: 200, Created: 201, Accepted: 202, NonAuthoritativeInformation: 203, NoContent: 204, ResetContent: 205, PartialContent: 206, MultiStatus: 207, AlreadyReported: 208, ImUsed: 226, MultipleChoices: 300, MovedPermanently: 301, Found: 302, SeeOther: 303, NotModified: 304, UseProxy: 305, Unused: 306, TemporaryRedirect: 307, PermanentRedirect: 308, BadRequest: 400, Unauthorized: 401, PaymentRequired: 402, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405, NotAcceptable: 406, ProxyAuthenticationRequired: 407, RequestTimeout: 408, Conflict: 409, Gone: 410, LengthRequired: 411, PreconditionFailed: 412, PayloadTooLarge: 413, ContentTooLarge: 413, UriTooLong: 414, UnsupportedMediaType: 415, RangeNotSatisfiable: 416, ExpectationFailed: 417, ImATeapot: 418, MisdirectedRequest: 421, UnprocessableEntity: 422, UnprocessableContent: 422, Locked: 423, FailedDependency: 424, TooEarly: 425, UpgradeRequired: 426, PreconditionRequired: 428, TooManyRequests: 429, RequestHeaderFieldsTooLarge: 431, UnavailableForLegalReasons: 451, InternalServerError: 500, NotImplemented: 501, BadGateway: 502, ServiceUnavailable: 503, GatewayTimeout: 504, HttpVersionNotSupported: 505, VariantAlsoNegotiates: 506, InsufficientStorage: 507, LoopDetected: 508, NotExtended: 510, NetworkAuthenticationRequired: 511, WebServerReturnsAnUnknownError: 520, WebServerIsDown: 521, ConnectionTimedOut: 522, OriginIsUnreachable: 523, TimeoutOccurred: 524, SslHandshakeFailed: 525, InvalidSslCertificate: 526 };
    for (const k of keys(codes)) if (codes[codes[k]] === undefined) codes[codes[k]] = k;
    axios.HttpStatusCode = codes;
    // Deprecated in axios but still in older action code: a token whose cancel() ends the requests given it.
    class CancelToken {
      constructor(executor) {
        if (typeof executor !== 'function') throw new TypeErr('executor must be a function.');
        let resolveP;
        this.promise = new P((r) => { resolveP = r; });
        def(this, '_listeners', []);
        executor((message, config, request) => {
          if (this.reason) return;
          this.reason = new CanceledError(message, config, request);
          resolveP(this.reason);
          const ls = this._listeners;
          this._listeners = [];
          for (const l of ls) l(this.reason);
        });
      }
      throwIfRequested() { if (this.reason) throw this.reason; }
      subscribe(l) { if (this.reason) { l(this.reason); return; } this._listeners.push(l); }
      unsubscribe(l) { const i = this._listeners.indexOf(l); if (i !== -1) this._listeners.splice(i, 1); }
      toAbortSignal() { const c = new AbortController(); const f = (e) => c.abort(e); this.subscribe(f); c.signal.unsubscribe = () => this.unsubscribe(f); return c.signal; }
      static source() { let cancel; const token = new CancelToken((c) => { cancel = c; }); return { token, cancel }; }
    }
    axios.CancelToken = CancelToken;
    axios.default = axios;
    return axios;
  }

  // ---- require('auth0'): ManagementClient and AuthenticationClient ---------------------------
  // A stand-in for Auth0's Node SDK over fetch (its limits and address checks apply), for the
  // Management API calls actions make (users, roles, clients, grants, resource servers, logs).
  // Three SDK generations are in use and each is served as it expects: v3's top-level methods
  // (getUser, assignRolestoUser, updateAppMetadata, …) and callbacks, v4's `{id}` arguments
  // with results read from `.data`, and v5+'s positional ids (`users.get(id)`), `list` methods
  // returning pages and `.withRawResponse()`. A result is the response body itself with `data`
  // (itself), `status`, `statusText` and `headers` as non-enumerable properties, so that v3's
  // `user.email`, v4's `res.data.email` and v5's `user.email` all read it.
  //
  // A client whose `domain` is the issuer's host reaches the issuer at its own scheme, port and
  // path (a development server on http://localhost:3000 included); any other domain is
  // https://<domain>, as the SDK does. Tokens (client credentials) are kept per isolate until
  // 10 s before they expire, as v3 did, so a client built in every execution does not ask the
  // token endpoint each time.
  let auth0Built = null;
  function auth0Module() {
    if (auth0Built === null) auth0Built = makeAuth0();
    return auth0Built;
  }
  function makeAuth0() {
    const VERSION = '4.37.1';
    const issuerHost = ISSUER === '' ? '' : ISSUER.replace(/^https?:\/\//, '').split('/')[0].toLowerCase();
    const issuerOrigin = ISSUER === '' ? '' : ISSUER.replace(/^(https?:\/\/[^/]+).*$/, '$1');
    function tenant(domain) {
      if (typeof domain !== 'string' || domain.trim() === '') throw new TypeErr('auth0: the domain option is required (your tenant\'s host name)');
      const d = domain.trim().replace(/^https?:\/\//i, '').replace(/\/+$/, '');
      if (/[/?#\s@]/.test(d)) throw new TypeErr('auth0: invalid domain "' + cap(domain, 100) + '"');
      if (issuerHost !== '' && d.toLowerCase() === issuerHost) return { base: ISSUER, audience: issuerOrigin + '/api/v2/' };
      return { base: 'https://' + d, audience: 'https://' + d + '/api/v2/' };
    }
    const isObj = (v) => v !== null && typeof v === 'object';
    const isFn = (v) => typeof v === 'function';

    // One error class for every generation: v4's ManagementApiError and v5+'s ManagementError,
    // with v5+'s per-status subclasses (Management.NotFoundError, …) for the status it got.
    class ManagementError extends Err {
      constructor(message, statusCode, body, res) {
        super(message);
        this.name = 'ManagementApiError';
        this.statusCode = statusCode;
        if (isObj(body)) {
          if (body.error !== undefined) this.error = body.error;
          if (body.errorCode !== undefined) this.errorCode = body.errorCode;
        }
        this.body = body;
        this.msg = message;
        if (res) { def(this, 'headers', res.headers); def(this, 'rawResponse', { headers: res.headers, status: res.status, statusText: res.statusText, url: res.url }); }
      }
    }
    const Management = {};
    const byStatus = new MapC();
    for (const [status, name] of [[400, 'BadRequestError'], [401, 'UnauthorizedError'], [403, 'ForbiddenError'], [404, 'NotFoundError'], [409, 'ConflictError'],
      [429, 'TooManyRequestsError'], [500, 'InternalServerError'], [503, 'ServiceUnavailableError']]) {
      const C = class extends ManagementError {};
      defineProperty(C, 'name', { value: name });
      Management[name] = C;
      byStatus.set(status, C);
    }
    const managementError = (message, status, body, res) => new (byStatus.get(status) || ManagementError)(message, status, body, res);
    // A failed token request (v4's AuthApiError; v5+ see a ManagementError, which it also is).
    class AuthApiError extends ManagementError {
      constructor(error, description, statusCode, body, res) {
        super(description || error || 'token request failed', statusCode, body, res);
        this.name = 'AuthApiError';
        this.error = error;
        this.error_description = description;
      }
    }
    // v4's: a required argument missing (thrown before any request), the network failing.
    class RequiredError extends Err {
      constructor(field, message) { super(message); this.name = 'RequiredError'; this.field = field; }
    }
    class FetchError extends Err {
      constructor(cause) {
        // v4's message, with why (an address the guard refused, a certificate not trusted, …).
        super('The request failed and the interceptors did not return an alternative response' + (cause && typeof cause.message === 'string' ? ' (' + cap(cause.message, 300) + ')' : ''));
        this.name = 'FetchError';
        this.cause = cause;
      }
    }
    class ResponseError extends Err {
      constructor(statusCode, body, headers) { super('Response returned an error code'); this.name = 'ResponseError'; this.statusCode = statusCode; this.body = body; this.headers = headers; }
    }
    class TimeoutError extends Err {
      constructor() { super('The request was timed out.'); this.name = 'TimeoutError'; }
    }
    const send = async (url, init) => {
      try { return await fetch(url, init); } catch (e) { throw new FetchError(e); }
    };

    // The body of an error answer: parsed JSON whose string form is the text (v4 reads
    // JSON.parse(err.body), v5 err.body.errorCode), or the text.
    function errorBody(text) {
      let b;
      try { b = JSONparse(text); } catch { return text; }
      if (isObj(b)) def(b, 'toString', () => text);
      return b;
    }
    function answer(data, res) {
      let out = data;
      if (!isObj(out)) out = {};
      if (!isObj(data) || !hasOwn(data, 'data')) def(out, 'data', isObj(data) ? out : data);
      // A body's own member of the same name wins (a job's `status` is 'pending', not 201): v5+
      // code reads the body, and v4 code reads it through `.data`, which is the body.
      if (!hasOwn(out, 'status')) def(out, 'status', res.status);
      if (!hasOwn(out, 'statusText')) def(out, 'statusText', res.statusText);
      if (!hasOwn(out, 'headers')) def(out, 'headers', res.headers);
      return out;
    }
    function query(q) {
      const parts = [];
      if (isObj(q)) {
        for (const k of keys(q)) {
          const v = q[k];
          if (v === undefined || v === null) continue;
          // A list is the parameter repeated, as the SDK sends it (identifiers=a&identifiers=b).
          if (isArray(v)) { for (let i = 0; i < v.length; i++) parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(S(v[i]))); } else parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(S(v)));
        }
      }
      return parts.length ? '?' + apply(arrJoin, parts, ['&']) : '';
    }
    async function readJson(res) {
      const text = await res.text();
      if (text === '') return { text, json: undefined };
      try { return { text, json: JSONparse(text) }; } catch { return { text, json: text }; }
    }

    // Tokens by tenant, client and audience, kept across executions (values only: a request
    // still pending belongs to its execution, whose end drops it).
    const tokens = new MapC();
    async function clientCredentials(t, o, audience, scope) {
      const form = 'grant_type=client_credentials&client_id=' + encodeURIComponent(S(o.clientId)) +
        '&client_secret=' + encodeURIComponent(S(o.clientSecret)) + '&audience=' + encodeURIComponent(audience) +
        (scope ? '&scope=' + encodeURIComponent(S(scope)) : '');
      const res = await send(t.base + '/oauth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form });
      const { text, json } = await readJson(res);
      if (!res.ok || !isObj(json) || typeof json.access_token !== 'string') {
        const j = isObj(json) ? json : {};
        throw new AuthApiError(j.error, j.error_description, res.status, errorBody(text), res);
      }
      return { json, res };
    }

    class ManagementClient {
      constructor(options) {
        const o = isObj(options) ? options : {};
        const t = tenant(o.domain);
        if (o.token === undefined && (typeof o.clientId !== 'string' || o.clientId === '')) throw new TypeErr('auth0: ManagementClient needs a token, or a clientId and clientSecret');
        if (o.token === undefined && typeof o.clientSecret !== 'string') throw new TypeErr('auth0: ManagementClient needs a clientSecret with its clientId (client assertions are not supported here)');
        const audience = typeof o.audience === 'string' ? o.audience : t.audience;
        const headers = isObj(o.headers) ? o.headers : {};
        // v3's `scope` option is not sent: v4 and later dropped it and ask for every scope the
        // client grant holds, and v3 code still passing it on a v4 SDK works on Auth0 (the client
        // grant is what limits the token either way).
        const key = t.base + '\n' + S(o.clientId) + '\n' + S(o.clientSecret) + '\n' + audience;
        let pending = null, pendingEpoch = -1;
        const getToken = async () => {
          if (o.token !== undefined) return S(isFn(o.token) ? await o.token() : o.token);
          const kept = tokens.get(key);
          if (kept && dateNow() < kept.expiresAt - 10000) return kept.token;
          if (pending === null || pendingEpoch !== epoch) {
            pendingEpoch = epoch;
            pending = clientCredentials(t, o, audience, undefined).then(({ json }) => {
              const ttl = typeof json.expires_in === 'number' ? json.expires_in * 1000 : 3600000;
              if (tokens.size >= 20) tokens.delete(tokens.keys().next().value);
              tokens.set(key, { token: json.access_token, expiresAt: dateNow() + ttl });
              pending = null;
              return json.access_token;
            }, (e) => { pending = null; throw e; });
          }
          return pending;
        };
        // One Management API request: the answer's body, or a ManagementError.
        const request = async (method, path, q, body) => {
          const h = { accept: 'application/json' };
          for (const k of keys(headers)) if (typeof headers[k] === 'string') h[k] = headers[k];
          h.authorization = 'Bearer ' + await getToken();
          const init = { method, headers: h };
          if (body !== undefined) { h['content-type'] = 'application/json'; init.body = JSONstringify(body); }
          const res = await send(t.base + '/api/v2' + path + query(q), init);
          const { text, json } = await readJson(res);
          if (!res.ok) {
            const b = errorBody(text);
            throw managementError(isObj(b) && typeof b.message === 'string' ? b.message : 'Response returned an error code (' + res.status + ')', res.status, b, res);
          }
          return { data: json, res };
        };
        // Calls as each generation writes them: v3's trailing callback, v5's .withRawResponse().
        const op = (fn) => function () {
          const args = [];
          for (let i = 0; i < arguments.length; i++) args.push(arguments[i]);
          const cb = args.length > 0 && isFn(args[args.length - 1]) ? args.pop() : null;
          // v5+ pass the id first, as a string, and get nothing back from an endpoint that answers nothing.
          const positional = typeof args[0] === 'string';
          let raw;
          try { raw = promiseResolve(apply(fn, null, args)); } catch (e) { raw = promiseReject(e); }
          const p = apply(promiseThen, raw, [(r) => (r && r.page ? r.page : positional && r.data === undefined ? undefined : answer(r.data, r.res))]);
          if (cb !== null) {
            apply(promiseThen, p, [(v) => { cb(null, v); }, (e) => { cb(e); }]);
            return undefined;
          }
          // Awaited through withRawResponse() only: the plain result's rejection is then handled there.
          def(p, 'withRawResponse', () => {
            apply(promiseThen, p, [undefined, () => {}]);
            return apply(promiseThen, raw, [(r) => ({ data: r.page ? r.page : r.data, rawResponse: { headers: r.res.headers, status: r.res.status, statusText: r.res.statusText, url: r.res.url } })]);
          });
          return p;
        };
        // The id of a call: v5+ pass it first as a string, v3/v4 as {id} (or {client_id}).
        const idOf = (a, name) => {
          if (typeof a === 'string' || typeof a === 'number') return { id: S(a), rest: {} };
          const missing = () => new RequiredError(name, 'Required parameter requestParameters.' + name + ' was null or undefined.');
          if (!isObj(a)) throw missing();
          const rest = {};
          for (const k of keys(a)) if (k !== name && k !== 'id') rest[k] = a[k];
          const id = a[name] !== undefined ? a[name] : a.id;
          if (id === undefined || id === null || id === '') throw missing();
          return { id: S(id), rest };
        };
        // The query of a read: v3/v4 put it beside the id ({id, fields}: their second argument is
        // a callback or fetch options), v5+ pass it second (get(id, {fields})).
        const readQuery = (a, q, name) => {
          const { id, rest } = idOf(a, name);
          return { id, q: typeof a === 'string' || typeof a === 'number' ? (isObj(q) ? q : {}) : rest };
        };
        const enc = encodeURIComponent;
        // v5+'s list(): a page of the items under `key`, walked with getNextPage or for await.
        // `byCheckpoint`: the lists v5+ page with take/from unless told a page (role members, client grants).
        const lister = (path, key, pathOf, byCheckpoint) => async (a, b) => {
          let base = path, q;
          if (pathOf) { const { id, rest } = idOf(a, 'id'); base = pathOf(id); q = { ...rest, ...(isObj(b) ? b : {}) }; } else q = isObj(a) ? { ...a } : {};
          const checkpoint = q.take !== undefined || q.from !== undefined || (byCheckpoint === true && q.page === undefined && q.per_page === undefined);
          const perPageGiven = q.per_page !== undefined && q.per_page !== null;
          if (checkpoint) { if (q.take === undefined) q.take = 50; } else { if (q.page === undefined) q.page = 0; if (q.per_page === undefined) q.per_page = 50; }
          q.include_totals = true;
          const first = await request('GET', base, q);
          const pg = {};
          const load = (r) => {
            const body = r.data;
            pg.data = isArray(body) ? body : isObj(body) && isArray(body[key]) ? body[key] : [];
            pg.response = body;
            pg.rawResponse = { headers: r.res.headers, status: r.res.status, statusText: r.res.statusText, url: r.res.url };
          };
          load(first);
          // As v5+'s pages decide: a checkpoint page by its `next`; an offset page has a next one
          // while it is not empty (and full, when the caller chose the page size).
          pg.hasNextPage = () => checkpoint
            ? isObj(pg.response) && typeof pg.response.next === 'string' && pg.response.next !== ''
            : pg.data.length > 0 && (!perPageGiven || pg.data.length >= N(q.per_page));
          pg.getNextPage = async () => {
            if (checkpoint) q.from = pg.response.next; else q.page = N(q.page) + 1;
            load(await request('GET', base, q));
            return pg;
          };
          pg[Symbol.asyncIterator] = async function* () {
            for (;;) {
              for (const item of pg.data) yield item;
              if (!pg.hasNextPage()) return;
              await pg.getNextPage();
            }
          };
          return { page: pg };
        };
        const crud = (path, name, key) => ({
          get: op((a, b) => { const { id, q } = readQuery(a, b, name); return request('GET', path + '/' + enc(id), q); }),
          getAll: op((q) => request('GET', path, q)),
          list: op(lister(path, key)),
          // The data comes first in every generation (a second argument is v5+'s request options).
          create: op((a) => request('POST', path, undefined, a)),
          update: op((a, b) => { const { id } = idOf(a, name); return request('PATCH', path + '/' + enc(id), undefined, b); }),
          delete: op((a) => { const { id } = idOf(a, name); return request('DELETE', path + '/' + enc(id)); }),
        });

        const users = crud('/users', 'id', 'users');
        const userPath = (id) => '/users/' + enc(id);
        const byEmail = (a, b) => {
          if (typeof a === 'string') return request('GET', '/users-by-email', { ...(isObj(b) ? b : {}), email: a });
          if (!isObj(a) || typeof a.email !== 'string') throw new TypeErr('Required parameter requestParameters.email was null or undefined.');
          return request('GET', '/users-by-email', a);
        };
        const rolesOf = (a, b) => { const { id, q } = readQuery(a, b, 'id'); return request('GET', userPath(id) + '/roles', q); };
        const assignRoles = (a, b) => { const { id } = idOf(a, 'id'); return request('POST', userPath(id) + '/roles', undefined, b); };
        const removeRoles = (a, b) => { const { id } = idOf(a, 'id'); return request('DELETE', userPath(id) + '/roles', undefined, b); };
        const permissionsOf = (a, b) => { const { id, q } = readQuery(a, b, 'id'); return request('GET', userPath(id) + '/permissions', q); };
        const metadata = (field) => (a, md) => { const { id } = idOf(a, 'id'); return request('PATCH', userPath(id), undefined, { [field]: md }); };
        users.getByEmail = op(byEmail);
        users.listUsersByEmail = op(byEmail);
        users.updateUserMetadata = op(metadata('user_metadata'));
        users.updateAppMetadata = op(metadata('app_metadata'));
        users.getRoles = op(rolesOf);
        users.assignRoles = op(assignRoles);
        users.removeRoles = op(removeRoles);
        users.deleteRoles = op(removeRoles);
        users.getPermissions = op(permissionsOf);
        users.roles = { list: op(lister(null, 'roles', (id) => userPath(id) + '/roles')), assign: op(assignRoles), delete: op(removeRoles) };
        // RBAC permissions given to and taken from a user (v4 assignPermissions/deletePermissions, v5+ permissions.create/delete).
        const givePermissions = (pathOf, method) => op((a, b) => { const { id } = idOf(a, 'id'); return request(method, pathOf(id), undefined, b); });
        const userPermissionsPath = (id) => userPath(id) + '/permissions';
        users.assignPermissions = givePermissions(userPermissionsPath, 'POST');
        users.deletePermissions = givePermissions(userPermissionsPath, 'DELETE');
        users.permissions = { list: op(lister(null, 'permissions', userPermissionsPath)), create: users.assignPermissions, delete: users.deletePermissions };

        const roles = crud('/roles', 'id', 'roles');
        const roleUsers = (a, b) => { const { id, q } = readQuery(a, b, 'id'); return request('GET', '/roles/' + enc(id) + '/users', q); };
        const assignUsers = (a, b) => { const { id } = idOf(a, 'id'); return request('POST', '/roles/' + enc(id) + '/users', undefined, b); };
        roles.getUsers = op(roleUsers);
        roles.assignUsers = op(assignUsers);
        roles.users = { list: op(lister(null, 'users', (id) => '/roles/' + enc(id) + '/users', true)), assign: op(assignUsers) };

        const clients = crud('/clients', 'client_id', 'clients');
        const clientGrants = crud('/client-grants', 'id', 'client_grants');
        clientGrants.list = op(lister('/client-grants', 'client_grants', null, true));
        const resourceServers = crud('/resource-servers', 'id', 'resource_servers');
        const logs = crud('/logs', 'id', 'logs');
        const grantsList = (q) => request('GET', '/grants', q);
        const grantDelete = (a) => { const { id } = idOf(a, 'id'); return request('DELETE', '/grants/' + enc(id)); };
        const grantsByUser = (a) => request('DELETE', '/grants', { user_id: typeof a === 'string' ? a : isObj(a) ? a.user_id : undefined });
        const grants = { getAll: op(grantsList), list: op(lister('/grants', 'grants')), delete: op(grantDelete), deleteByUserId: op(grantsByUser) };
        const usersByEmail = { getByEmail: op(byEmail) };
        // A user's sessions (v4 {user_id}, v5+ positional) and one session by id.
        const userSessions = (a, b) => { const { id, q } = readQuery(a, b, 'user_id'); return request('GET', userPath(id) + '/sessions', q); };
        const endUserSessions = (a) => { const { id } = idOf(a, 'user_id'); return request('DELETE', userPath(id) + '/sessions'); };
        users.getSessions = op(userSessions);
        users.deleteSessions = op(endUserSessions);
        users.sessions = { list: op(lister(null, 'sessions', (id) => userPath(id) + '/sessions', true)), delete: op(endUserSessions) };
        const sessions = {
          get: op((a) => { const { id } = idOf(a, 'id'); return request('GET', '/sessions/' + enc(id)); }),
          delete: op((a) => { const { id } = idOf(a, 'id'); return request('DELETE', '/sessions/' + enc(id)); }),
        };
        // A user's refresh tokens (v4 users.getRefreshTokens({user_id}), v5+ users.refreshToken.list(id))
        // and one by id (refreshTokens.get / update / delete).
        const userRefreshTokens = (a, b) => { const { id, q } = readQuery(a, b, 'user_id'); return request('GET', userPath(id) + '/refresh-tokens', q); };
        const endUserRefreshTokens = (a) => { const { id } = idOf(a, 'user_id'); return request('DELETE', userPath(id) + '/refresh-tokens'); };
        users.getRefreshTokens = op(userRefreshTokens);
        users.deleteRefreshTokens = op(endUserRefreshTokens);
        users.refreshToken = { list: op(lister(null, 'tokens', (id) => userPath(id) + '/refresh-tokens', true)), delete: op(endUserRefreshTokens) };
        // A user's second factors: Guardian's enrollments (v4 users.getEnrollments({id}), v5+
        // users.enrollments.get(id)) and authentication methods (getAuthenticationMethods, v5+ authenticationMethods.list).
        const enrollmentsOf = (a, b) => { const { id, q } = readQuery(a, b, 'id'); return request('GET', userPath(id) + '/enrollments', q); };
        const methodsOf = (a, b) => { const { id, q } = readQuery(a, b, 'id'); return request('GET', userPath(id) + '/authentication-methods', q); };
        users.getEnrollments = op(enrollmentsOf);
        users.enrollments = { get: op(enrollmentsOf) };
        users.getAuthenticationMethods = op(methodsOf);
        users.authenticationMethods = { list: op(methodsOf) };
        const refreshTokens = {
          get: op((a) => { const { id } = idOf(a, 'id'); return request('GET', '/refresh-tokens/' + enc(id)); }),
          update: op((a, b) => { const { id } = idOf(a, 'id'); return request('PATCH', '/refresh-tokens/' + enc(id), undefined, b); }),
          delete: op((a) => { const { id } = idOf(a, 'id'); return request('DELETE', '/refresh-tokens/' + enc(id)); }),
        };

        // Auth0 endpoints Gatehouse does not have (account linking, organizations) are still called
        // as the SDK calls them, so that the action gets what the server answers (404, a
        // ManagementError) rather than "is not a function".
        const at = (method, pathOf, withBody) => op((a, b) => {
          const { id, rest } = idOf(a, 'id');
          return request(method, pathOf(id, rest), withBody ? undefined : (typeof a === 'string' ? (isObj(b) ? b : {}) : {}), withBody ? b : undefined);
        });
        const linkUser = at('POST', (id) => userPath(id) + '/identities', true);
        const unlinkUser = op((a) => { const { id, rest } = idOf(a, 'id'); return request('DELETE', userPath(id) + '/identities/' + enc(S(rest.provider)) + '/' + enc(S(rest.user_id))); });
        const userOrgs = at('GET', (id) => userPath(id) + '/organizations');
        const rolePerms = at('GET', (id) => '/roles/' + enc(id) + '/permissions');
        users.link = linkUser;
        users.unlink = unlinkUser;
        users.getUserOrganizations = userOrgs;
        users.invalidateRememberBrowser = at('POST', (id) => userPath(id) + '/multifactor/actions/invalidate-remember-browser', true);
        users.identities = { link: linkUser, delete: unlinkUser };
        users.organizations = { list: op(lister(null, 'organizations', (id) => userPath(id) + '/organizations')) };
        const rolePermissionsPath = (id) => '/roles/' + enc(id) + '/permissions';
        roles.getPermissions = rolePerms;
        roles.addPermissions = givePermissions(rolePermissionsPath, 'POST');
        roles.deletePermissions = givePermissions(rolePermissionsPath, 'DELETE');
        roles.permissions = { list: op(lister(null, 'permissions', rolePermissionsPath)), add: roles.addPermissions, delete: roles.deletePermissions };
        const orgPath = (id) => '/organizations/' + enc(id);
        const organizations = {
          getAll: op((q) => request('GET', '/organizations', q)),
          list: op(lister('/organizations', 'organizations')),
          get: at('GET', orgPath),
          getByName: op((a) => request('GET', '/organizations/name/' + enc(typeof a === 'string' ? a : isObj(a) ? S(a.name) : ''))),
          create: op((a) => request('POST', '/organizations', undefined, a)),
          update: at('PATCH', orgPath, true),
          delete: at('DELETE', orgPath),
          getMembers: at('GET', (id) => orgPath(id) + '/members'),
          addMembers: at('POST', (id) => orgPath(id) + '/members', true),
          deleteMembers: at('DELETE', (id) => orgPath(id) + '/members', true),
          getMemberRoles: op((a) => { const { id, rest } = idOf(a, 'id'); return request('GET', orgPath(id) + '/members/' + enc(S(rest.user_id)) + '/roles'); }),
          addMemberRoles: op((a, b) => { const { id, rest } = idOf(a, 'id'); return request('POST', orgPath(id) + '/members/' + enc(S(rest.user_id)) + '/roles', undefined, b); }),
        };

        // Tickets (a password-change or verification link to hand over) and verification-email
        // jobs: v4 tickets.changePassword / jobs.verifyEmail, v5+ jobs.verificationEmail.create.
        const tickets = {
          changePassword: op((a) => request('POST', '/tickets/password-change', undefined, isObj(a) ? a : {})),
          verifyEmail: op((a) => request('POST', '/tickets/email-verification', undefined, a)),
        };
        // The one database connection (read-only here) and a user's log entries.
        const connections = {
          getAll: op((q) => request('GET', '/connections', q)),
          list: op(lister('/connections', 'connections', undefined, true)),
          get: at('GET', (id) => '/connections/' + enc(id)),
        };
        users.getLogs = op((a, b) => { const { id, q } = readQuery(a, b, 'id'); return request('GET', userPath(id) + '/logs', q); });
        users.logs = { list: op(lister(null, 'logs', (id) => userPath(id) + '/logs')) };
        const sendVerification = op((a) => request('POST', '/jobs/verification-email', undefined, a));
        const jobs = {
          verifyEmail: sendVerification,
          verificationEmail: freeze({ create: sendVerification }),
          get: op((a) => { const { id } = idOf(a, 'id'); return request('GET', '/jobs/' + enc(id)); }),
        };

        def(this, 'users', freeze(users));
        def(this, 'usersByEmail', freeze(usersByEmail));
        def(this, 'tickets', freeze(tickets));
        def(this, 'connections', freeze(connections));
        def(this, 'jobs', freeze(jobs));
        def(this, 'roles', freeze(roles));
        def(this, 'clients', freeze(clients));
        def(this, 'clientGrants', freeze(clientGrants));
        def(this, 'resourceServers', freeze(resourceServers));
        def(this, 'logs', freeze(logs));
        def(this, 'grants', freeze(grants));
        def(this, 'userGrants', grants);
        def(this, 'organizations', freeze(organizations));
        def(this, 'sessions', freeze(sessions));
        def(this, 'refreshTokens', freeze(refreshTokens));
        def(this, 'getAccessToken', () => getToken());
        // v3's methods on the client itself.
        const v3 = {
          getUsers: users.getAll, getUser: users.get, createUser: users.create, updateUser: users.update, deleteUser: users.delete,
          getUsersByEmail: users.getByEmail, updateUserMetadata: users.updateUserMetadata, updateAppMetadata: users.updateAppMetadata,
          getUserRoles: users.getRoles, assignRolestoUser: users.assignRoles, removeRolesFromUser: users.removeRoles, getUserPermissions: users.getPermissions,
          getRoles: roles.getAll, getRole: roles.get, createRole: roles.create, updateRole: roles.update, deleteRole: roles.delete,
          getUsersInRole: roles.getUsers, assignUsersToRole: roles.assignUsers,
          getClients: clients.getAll, getClient: clients.get, createClient: clients.create, updateClient: clients.update, deleteClient: clients.delete,
          getClientGrants: clientGrants.getAll, createClientGrant: clientGrants.create, updateClientGrant: clientGrants.update, deleteClientGrant: clientGrants.delete,
          getGrants: grants.getAll, deleteGrant: grants.delete,
          getResourceServers: resourceServers.getAll, getResourceServer: resourceServers.get, createResourceServer: resourceServers.create,
          updateResourceServer: resourceServers.update, deleteResourceServer: resourceServers.delete,
          getLogs: logs.getAll, getLog: logs.get,
          linkUsers: users.link, unlinkUsers: users.unlink, getPermissionsInRole: roles.getPermissions,
          assignPermissionsToUser: users.assignPermissions, removePermissionsFromUser: users.deletePermissions,
          addPermissionsInRole: roles.addPermissions, removePermissionsFromRole: roles.deletePermissions,
          invalidateRememberBrowser: users.invalidateRememberBrowser,
          createPasswordChangeTicket: tickets.changePassword, createEmailVerificationTicket: tickets.verifyEmail,
          sendEmailVerification: jobs.verifyEmail, getJob: jobs.get,
          getConnections: connections.getAll, getConnection: connections.get, getUserLogs: users.getLogs,
        };
        for (const k of keys(v3)) def(this, k, v3[k]);
      }
    }

    class AuthenticationClient {
      constructor(options) {
        const o = isObj(options) ? options : {};
        const t = tenant(o.domain);
        if (typeof o.clientId !== 'string' || o.clientId === '') throw new TypeErr('auth0: AuthenticationClient needs a clientId');
        const grant = (opts, cb) => {
          const a = isObj(opts) ? opts : {};
          const p = apply(promiseThen, (async () => {
            if (typeof a.audience !== 'string') throw new TypeErr('Required parameter audience was null or undefined.');
            const secret = a.client_secret || o.clientSecret;
            if (typeof secret !== 'string' || secret === '') throw new TypeErr('client_secret or client_assertion is required (client assertions are not supported here)');
            const { json, res } = await clientCredentials(t, { clientId: a.client_id || o.clientId, clientSecret: secret }, a.audience, a.scope);
            return answer(json, res);
          })(), [(v) => v]);
          if (isFn(cb)) { apply(promiseThen, p, [(v) => { cb(null, v); }, (e) => { cb(e); }]); return undefined; }
          return p;
        };
        def(this, 'oauth', freeze({ clientCredentialsGrant: grant }));
        def(this, 'clientCredentialsGrant', grant);
      }
    }

    const m = {
      ManagementClient, AuthenticationClient, ManagementError, ManagementApiError: ManagementError, AuthApiError, Management: freeze(Management),
      RequiredError, FetchError, ResponseError, TimeoutError, ManagementTimeoutError: TimeoutError, version: VERSION,
    };
    m.default = m;
    return freeze(m);
  }

  // ---- require('jsonwebtoken') ---------------------------------------------------------------
  // A stand-in for jsonwebtoken 9 (sign, verify, decode and its three error classes) over the
  // crypto stand-in: HS256/384/512 with a secret, RS/PS/ES 256/384/512 with PEM keys or
  // KeyObjects. It follows the library's checks and messages (which tests check against the
  // real module), callbacks included.
  let jwtBuilt = null;
  function jsonwebtokenModule() {
    if (jwtBuilt === null) jwtBuilt = makeJsonwebtoken();
    return jwtBuilt;
  }
  function makeJsonwebtoken() {
    const { BufferFn: Buf, BUILTINS } = node();
    const crypto = BUILTINS.crypto;
    const SUPPORTED = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'none'];
    const HS = ['HS256', 'HS384', 'HS512'];
    const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    const EC = ['ES256', 'ES384', 'ES512'];
    const FOR_KEY = { ec: EC, rsa: ['RS256', 'PS256', 'RS384', 'PS384', 'RS512', 'PS512'], 'rsa-pss': ['PS256', 'PS384', 'PS512'] };
    const EC_SIG_BYTES = { ES256: 64, ES384: 96, ES512: 132 };
    const EC_CURVE = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

    class JsonWebTokenError extends Err {
      constructor(message, error) {
        super(message);
        this.name = 'JsonWebTokenError';
        if (error) this.inner = error;
      }
    }
    class NotBeforeError extends JsonWebTokenError {
      constructor(message, date) { super(message); this.name = 'NotBeforeError'; this.date = date; }
    }
    class TokenExpiredError extends JsonWebTokenError {
      constructor(message, expiredAt) { super(message); this.name = 'TokenExpiredError'; this.expiredAt = expiredAt; }
    }

    // The `ms` module's time spans ('2h', '7 days', '1.5d'), as timespan() reads them.
    const MS = { ms: 1, msec: 1, msecs: 1, millisecond: 1, milliseconds: 1, s: 1e3, sec: 1e3, secs: 1e3, second: 1e3, seconds: 1e3,
      m: 6e4, min: 6e4, mins: 6e4, minute: 6e4, minutes: 6e4, h: 36e5, hr: 36e5, hrs: 36e5, hour: 36e5, hours: 36e5,
      d: 864e5, day: 864e5, days: 864e5, w: 6048e5, week: 6048e5, weeks: 6048e5, y: 315576e5, yr: 315576e5, yrs: 315576e5, year: 315576e5, years: 315576e5 };
    class KeyRefused extends Err {}
    function ms(str) {
      if (typeof str !== 'string' || str.length === 0) throw new Err('val is not a non-empty string or a valid number. val=' + JSONstringify(str));
      if (str.length > 100) return undefined;
      const m = /^(-?(?:\d+)?\.?\d+) *(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)?$/i.exec(str);
      if (!m) return undefined;
      return parseFloat(m[1]) * MS[(m[2] || 'ms').toLowerCase()];
    }
    function timespan(time, iat) {
      const ts = iat || floor(dateNow() / 1000);
      if (typeof time === 'string') { const v = ms(time); return v === undefined ? undefined : floor(ts + v / 1000); }
      if (typeof time === 'number') return ts + time;
      return undefined;
    }
    const isPlain = (v) => v !== null && typeof v === 'object' && (O.getPrototypeOf(v) === O.prototype || O.getPrototypeOf(v) === null);
    const isInt = (v) => typeof v === 'number' && N.isInteger(v);
    const isStr = (v) => typeof v === 'string';
    const isBool = (v) => typeof v === 'boolean';
    const SIGN_OPTIONS = {
      expiresIn: [(v) => isInt(v) || (isStr(v) && v !== ''), '"expiresIn" should be a number of seconds or string representing a timespan'],
      notBefore: [(v) => isInt(v) || (isStr(v) && v !== ''), '"notBefore" should be a number of seconds or string representing a timespan'],
      audience: [(v) => isStr(v) || isArray(v), '"audience" must be a string or array'],
      algorithm: [(v) => SUPPORTED.indexOf(v) !== -1, '"algorithm" must be a valid string enum value'],
      header: [isPlain, '"header" must be an object'],
      encoding: [isStr, '"encoding" must be a string'],
      issuer: [isStr, '"issuer" must be a string'],
      subject: [isStr, '"subject" must be a string'],
      jwtid: [isStr, '"jwtid" must be a string'],
      noTimestamp: [isBool, '"noTimestamp" must be a boolean'],
      keyid: [isStr, '"keyid" must be a string'],
      mutatePayload: [isBool, '"mutatePayload" must be a boolean'],
      allowInsecureKeySizes: [isBool, '"allowInsecureKeySizes" must be a boolean'],
      allowInvalidAsymmetricKeyTypes: [isBool, '"allowInvalidAsymmetricKeyTypes" must be a boolean'],
    };
    const CLAIMS = { iat: '"iat" should be a number of seconds', exp: '"exp" should be a number of seconds', nbf: '"nbf" should be a number of seconds' };
    const isKeyObject = (k) => k !== null && typeof k === 'object' && k instanceof crypto.KeyObject;

    // Key material as jsonwebtoken sorts it: a PEM key (private to sign, public to verify: a
    // private key verifies as its public half), else a secret of the bytes given.
    function keyOf(material, wantPublic) {
      if (isKeyObject(material)) return { type: material.type, kind: material.asymmetricKeyType, key: material };
      const bytes = typeof material === 'string' ? material : isView(material) ? Buf.from(material.buffer, material.byteOffset, material.byteLength).toString('latin1') : null;
      if (bytes !== null && /-----BEGIN [A-Z0-9 ]+-----/.test(bytes)) {
        // A PEM block is never taken as a secret here. jsonwebtoken takes text that does not
        // import as a key as an HMAC secret, and with Node.js that is only text OpenSSL cannot
        // read; here a key Gatehouse refuses (over 4096 bits, another curve, a certificate
        // chain) would also fail to import, and its public text, which anyone has, would then
        // verify an HS256 token.
        let k;
        try { k = wantPublic ? crypto.createPublicKey(material) : crypto.createPrivateKey(material); } catch (e) {
          // To sign, a public key's text is a secret to jsonwebtoken (only a private key imports
          // for signing), and that is harmless: its tokens verify only with that text as a secret.
          if (!wantPublic) { try { crypto.createPublicKey(material); return { type: 'secret', secret: typeof material === 'string' ? Buf.from(material) : Buf.from(material.buffer, material.byteOffset, material.byteLength) }; } catch { /* refused below */ } }
          throw new KeyRefused((wantPublic ? 'secretOrPublicKey' : 'secretOrPrivateKey') + ' is a PEM block Gatehouse does not take as a key: ' + (e && typeof e.message === 'string' ? e.message : 'unreadable'));
        }
        return { type: k.type, kind: k.asymmetricKeyType, key: k };
      }
      if (typeof material === 'string') return { type: 'secret', secret: Buf.from(material) };
      if (isView(material)) return { type: 'secret', secret: Buf.from(material.buffer, material.byteOffset, material.byteLength) };
      return null;
    }
    function checkKeyType(alg, k) {
      if (!alg || k.type === 'secret' || !k.kind) return;
      const allowed = FOR_KEY[k.kind];
      if (!allowed) throw new Err('Unknown key type "' + k.kind + '".');
      if (allowed.indexOf(alg) === -1) throw new Err('"alg" parameter for "' + k.kind + '" key type must be one of: ' + apply(arrJoin, allowed, [', ']) + '.');
      if (k.kind === 'ec' && k.key.asymmetricKeyDetails.namedCurve !== EC_CURVE[alg]) throw new Err('"alg" parameter "' + alg + '" requires curve "' + EC_CURVE[alg] + '".');
    }
    const b64url = (buf) => buf.toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const hashOf = (alg) => 'sha' + alg.slice(2);
    function signInput(alg, input, k) {
      if (alg === 'none') return '';
      const h = hashOf(alg);
      if (alg[0] === 'H') return b64url(crypto.createHmac(h, k.secret).update(input).digest());
      const key = alg[0] === 'P' ? { key: k.key, padding: 6, saltLength: -1 } : alg[0] === 'E' ? { key: k.key, dsaEncoding: 'ieee-p1363' } : k.key;
      return b64url(crypto.sign(h, Buf.from(input), key));
    }
    function verifyInput(alg, input, signature, k) {
      if (alg === 'none') return signature === '';
      const h = hashOf(alg);
      if (alg[0] === 'H') {
        const expected = b64url(crypto.createHmac(h, k.secret).update(input).digest());
        const a = Buf.from(expected), b = Buf.from(signature);
        return a.length === b.length && crypto.timingSafeEqual(a, b);
      }
      const sig = Buf.from(signature.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
      if (alg[0] === 'E' && sig.length !== EC_SIG_BYTES[alg]) return false;
      const key = alg[0] === 'P' ? { key: k.key, padding: 6, saltLength: -1 } : alg[0] === 'E' ? { key: k.key, dsaEncoding: 'ieee-p1363' } : k.key;
      return crypto.verify(h, Buf.from(input), key, sig);
    }

    function sign(payload, secretOrPrivateKey, options, callback) {
      if (typeof options === 'function') { callback = options; options = {}; } else options = options || {};
      const isObjectPayload = typeof payload === 'object' && !(payload instanceof Buf);
      const header = O.assign({ alg: options.algorithm || 'HS256', typ: isObjectPayload ? 'JWT' : undefined, kid: options.keyid }, options.header);
      const failure = (err) => { if (callback) { callback(err); return undefined; } throw err; };
      if (!secretOrPrivateKey && options.algorithm !== 'none') return failure(new Err('secretOrPrivateKey must have a value'));
      let k = null;
      if (secretOrPrivateKey != null) {
        try { k = keyOf(secretOrPrivateKey, false); } catch (e) { if (e instanceof KeyRefused) return failure(new Err(e.message)); throw e; }
        if (k === null) return failure(new Err('secretOrPrivateKey is not valid key material'));
      }
      if (S(header.alg).startsWith('HS') && (k === null || k.type !== 'secret')) return failure(new Err('secretOrPrivateKey must be a symmetric key when using ' + header.alg));
      if (/^(?:RS|PS|ES)/.test(header.alg) && (k === null || k.type !== 'private')) return failure(new Err('secretOrPrivateKey must be an asymmetric key when using ' + header.alg));
      if (/^(?:RS|PS)/.test(header.alg) && !options.allowInsecureKeySizes && k.key.asymmetricKeyDetails.modulusLength < 2048) return failure(new Err('secretOrPrivateKey has a minimum key size of 2048 bits for ' + header.alg));
      if (typeof payload === 'undefined') return failure(new Err('payload is required'));
      if (isObjectPayload) {
        if (!isPlain(payload)) return failure(new Err('Expected "payload" to be a plain object.'));
        for (const key of keys(payload)) if (hasOwn(CLAIMS, key) && typeof payload[key] !== 'number') return failure(new Err(CLAIMS[key]));
        if (!options.mutatePayload) payload = O.assign({}, payload);
      } else {
        const bad = ['expiresIn', 'notBefore', 'noTimestamp', 'audience', 'issuer', 'subject', 'jwtid'].filter((o) => typeof options[o] !== 'undefined');
        if (bad.length > 0) return failure(new Err('invalid ' + apply(arrJoin, bad, [',']) + ' option for ' + (typeof payload) + ' payload'));
      }
      if (typeof payload.exp !== 'undefined' && typeof options.expiresIn !== 'undefined') return failure(new Err('Bad "options.expiresIn" option the payload already has an "exp" property.'));
      if (typeof payload.nbf !== 'undefined' && typeof options.notBefore !== 'undefined') return failure(new Err('Bad "options.notBefore" option the payload already has an "nbf" property.'));
      if (!isPlain(options)) return failure(new Err('Expected "options" to be a plain object.'));
      for (const key of keys(options)) {
        const v = SIGN_OPTIONS[key];
        if (!hasOwn(SIGN_OPTIONS, key)) return failure(new Err('"' + key + '" is not allowed in "options"'));
        if (!v[0](options[key])) return failure(new Err(v[1]));
      }
      if (!options.allowInvalidAsymmetricKeyTypes && k !== null) {
        try { checkKeyType(header.alg, k); } catch (e) { return failure(e); }
      }
      const timestamp = payload.iat || floor(dateNow() / 1000);
      if (options.noTimestamp) delete payload.iat;
      else if (isObjectPayload) payload.iat = timestamp;
      if (typeof options.notBefore !== 'undefined') {
        payload.nbf = timespan(options.notBefore, timestamp);
        if (typeof payload.nbf === 'undefined') return failure(new Err('"notBefore" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60'));
      }
      if (typeof options.expiresIn !== 'undefined' && typeof payload === 'object') {
        payload.exp = timespan(options.expiresIn, timestamp);
        if (typeof payload.exp === 'undefined') return failure(new Err('"expiresIn" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60'));
      }
      for (const [opt, claim] of [['audience', 'aud'], ['issuer', 'iss'], ['subject', 'sub'], ['jwtid', 'jti']]) {
        if (typeof options[opt] === 'undefined') continue;
        if (typeof payload[claim] !== 'undefined') return failure(new Err('Bad "options.' + opt + '" option. The payload already has an "' + claim + '" property.'));
        payload[claim] = options[opt];
      }
      let token;
      try {
        const enc = options.encoding || 'utf8';
        const body = typeof payload === 'string' ? Buf.from(payload, enc) : payload instanceof Buf ? payload : Buf.from(JSONstringify(payload), enc);
        const input = b64url(Buf.from(JSONstringify(header))) + '.' + b64url(body);
        const sig = signInput(header.alg, input, k);
        if (!options.allowInsecureKeySizes && /^(?:RS|PS)/.test(header.alg) && sig.length < 256) throw new Err('secretOrPrivateKey has a minimum key size of 2048 bits for ' + header.alg);
        token = input + '.' + sig;
      } catch (e) { return failure(e); }
      if (callback) { const cb = callback; apply(promiseThen, promiseResolve(undefined), [() => cb(null, token)]); return undefined; }
      return token;
    }

    const JWS = /^[a-zA-Z0-9\-_]+?\.[a-zA-Z0-9\-_]+?\.([a-zA-Z0-9\-_]+)?$/;
    const fromB64 = (s, enc) => Buf.from(s, 'base64').toString(enc);
    function decode(token, options) {
      options = options || {};
      const s = S(token);
      if (!JWS.test(s)) return null;
      const parts = s.split('.');
      let header;
      try { header = JSONparse(fromB64(parts[0], 'latin1')); } catch { return null; }
      if (header === null || typeof header !== 'object' || isArray(header)) return null;
      let payload = fromB64(parts[1], 'utf8');
      if (header.typ === 'JWT' || options.json) payload = JSONparse(payload);
      if (typeof payload === 'string') {
        try { const obj = JSONparse(payload); if (obj !== null && typeof obj === 'object') payload = obj; } catch { /* a text payload */ }
      }
      return options.complete === true ? { header, payload, signature: parts[2] } : payload;
    }

    function verify(jwtString, secretOrPublicKey, options, callback) {
      if (typeof options === 'function' && !callback) { callback = options; options = {}; }
      options = O.assign({}, options || {});
      const done = callback ? (err, data) => { const cb = callback; cb(err, data); return undefined; } : (err, data) => { if (err) throw err; return data; };
      if (options.clockTimestamp && typeof options.clockTimestamp !== 'number') return done(new JsonWebTokenError('clockTimestamp must be a number'));
      if (options.nonce !== undefined && (typeof options.nonce !== 'string' || options.nonce.trim() === '')) return done(new JsonWebTokenError('nonce must be a non-empty string'));
      if (options.allowInvalidAsymmetricKeyTypes !== undefined && typeof options.allowInvalidAsymmetricKeyTypes !== 'boolean') return done(new JsonWebTokenError('allowInvalidAsymmetricKeyTypes must be a boolean'));
      const clock = options.clockTimestamp || floor(dateNow() / 1000);
      if (!jwtString) return done(new JsonWebTokenError('jwt must be provided'));
      if (typeof jwtString !== 'string') return done(new JsonWebTokenError('jwt must be a string'));
      const parts = jwtString.split('.');
      if (parts.length !== 3) return done(new JsonWebTokenError('jwt malformed'));
      let decoded;
      try { decoded = decode(jwtString, { complete: true }); } catch (e) { return done(e); }
      if (!decoded) return done(new JsonWebTokenError('invalid token'));
      const header = decoded.header;
      const withKey = (err, material) => {
        if (err) return done(new JsonWebTokenError('error in secret or public key callback: ' + err.message));
        const hasSignature = parts[2].trim() !== '';
        if (!hasSignature && material) return done(new JsonWebTokenError('jwt signature is required'));
        if (hasSignature && !material) return done(new JsonWebTokenError('secret or public key must be provided'));
        if (!hasSignature && !options.algorithms) return done(new JsonWebTokenError('please specify "none" in "algorithms" to verify unsigned tokens'));
        let k = null;
        if (material != null) {
          try { k = keyOf(material, true); } catch (e) { if (e instanceof KeyRefused) return done(new JsonWebTokenError(e.message)); throw e; }
          if (k === null) return done(new JsonWebTokenError('secretOrPublicKey is not valid key material'));
        }
        if (!options.algorithms) {
          options.algorithms = k.type === 'secret' ? HS : k.kind === 'rsa' || k.kind === 'rsa-pss' ? RSA : k.kind === 'ec' ? EC : ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
        }
        if (options.algorithms.indexOf(header.alg) === -1) return done(new JsonWebTokenError('invalid algorithm'));
        if (S(header.alg).startsWith('HS') && k.type !== 'secret') return done(new JsonWebTokenError('secretOrPublicKey must be a symmetric key when using ' + header.alg));
        if (/^(?:RS|PS|ES)/.test(header.alg) && k.type !== 'public') return done(new JsonWebTokenError('secretOrPublicKey must be an asymmetric key when using ' + header.alg));
        if (!options.allowInvalidAsymmetricKeyTypes && k !== null) {
          try { checkKeyType(header.alg, k); } catch (e) { return done(e); }
        }
        let valid;
        try { valid = verifyInput(header.alg, parts[0] + '.' + parts[1], parts[2], k); } catch (e) { return done(e); }
        if (!valid) return done(new JsonWebTokenError('invalid signature'));
        const payload = decoded.payload;
        const tol = options.clockTolerance || 0;
        if (typeof payload.nbf !== 'undefined' && !options.ignoreNotBefore) {
          if (typeof payload.nbf !== 'number') return done(new JsonWebTokenError('invalid nbf value'));
          if (payload.nbf > clock + tol) return done(new NotBeforeError('jwt not active', new Date(payload.nbf * 1000)));
        }
        if (typeof payload.exp !== 'undefined' && !options.ignoreExpiration) {
          if (typeof payload.exp !== 'number') return done(new JsonWebTokenError('invalid exp value'));
          if (clock >= payload.exp + tol) return done(new TokenExpiredError('jwt expired', new Date(payload.exp * 1000)));
        }
        if (options.audience) {
          const audiences = isArray(options.audience) ? options.audience : [options.audience];
          const target = isArray(payload.aud) ? payload.aud : [payload.aud];
          const match = target.some((t) => audiences.some((a) => (a instanceof RegExp ? a.test(t) : a === t)));
          if (!match) return done(new JsonWebTokenError('jwt audience invalid. expected: ' + apply(arrJoin, audiences, [' or '])));
        }
        if (options.issuer) {
          const bad = (typeof options.issuer === 'string' && payload.iss !== options.issuer) || (isArray(options.issuer) && options.issuer.indexOf(payload.iss) === -1);
          if (bad) return done(new JsonWebTokenError('jwt issuer invalid. expected: ' + options.issuer));
        }
        if (options.subject && payload.sub !== options.subject) return done(new JsonWebTokenError('jwt subject invalid. expected: ' + options.subject));
        if (options.jwtid && payload.jti !== options.jwtid) return done(new JsonWebTokenError('jwt jwtid invalid. expected: ' + options.jwtid));
        if (options.nonce && payload.nonce !== options.nonce) return done(new JsonWebTokenError('jwt nonce invalid. expected: ' + options.nonce));
        if (options.maxAge) {
          if (typeof payload.iat !== 'number') return done(new JsonWebTokenError('iat required when maxAge is specified'));
          const maxAge = timespan(options.maxAge, payload.iat);
          if (typeof maxAge === 'undefined') return done(new JsonWebTokenError('"maxAge" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60'));
          if (clock >= maxAge + tol) return done(new TokenExpiredError('maxAge exceeded', new Date(maxAge * 1000)));
        }
        if (options.complete === true) return done(null, { header, payload, signature: decoded.signature });
        return done(null, payload);
      };
      if (typeof secretOrPublicKey === 'function') {
        if (!callback) return done(new JsonWebTokenError('verify must be called asynchronous if secret or public key is provided as a callback'));
        return secretOrPublicKey(header, withKey);
      }
      return withKey(null, secretOrPublicKey);
    }

    return freeze({ decode, verify, sign, JsonWebTokenError, NotBeforeError, TokenExpiredError });
  }

  // ---- require('jwks-rsa') -------------------------------------------------------------------
  // A stand-in for jwks-rsa 3's client (getSigningKey, getSigningKeys, getKeys; caching and rate
  // limiting as its options say; callbacks), over fetch and createPublicKey's JWK import: the
  // key an action verifies another issuer's tokens with (require('jsonwebtoken')).
  let jwksBuilt = null;
  function jwksRsaModule() {
    if (jwksBuilt === null) jwksBuilt = makeJwksRsa();
    return jwksBuilt;
  }
  function makeJwksRsa() {
    const crypto = node().BUILTINS.crypto;
    const named = (name) => class extends Err { constructor(message) { super(message); this.name = name; } };
    const ArgumentError = named('ArgumentError');
    const JwksError = named('JwksError');
    const JwksRateLimitError = named('JwksRateLimitError');
    const SigningKeyNotFoundError = named('SigningKeyNotFoundError');
    const ALG = { RSA: () => 'RS256', EC: (crv) => ({ 'P-256': 'ES256', secp256k1: 'ES256K', 'P-384': 'ES384', 'P-521': 'ES512' })[crv], OKP: (crv) => (crv === 'Ed25519' || crv === 'Ed448' ? 'EdDSA' : undefined) };

    // The JWKS's public signing keys, as jwks-rsa keeps them; a key that does not import is left out.
    function signingKeys(jwks) {
      const out = [];
      for (const jwk of jwks) {
        if (jwk === null || typeof jwk !== 'object') continue;
        if (jwk.use !== 'sig' && jwk.use !== undefined) continue;
        if (jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') continue;
        if (!jwk.alg && !ALG[jwk.kty](jwk.crv)) continue;
        let spki;
        try { spki = crypto.createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }); } catch { continue; }
        const k = { get publicKey() { return spki; }, get rsaPublicKey() { return spki; }, getPublicKey() { return spki; } };
        if (typeof jwk.kid === 'string' && jwk.kid) k.kid = jwk.kid;
        if (typeof jwk.alg === 'string' && jwk.alg) k.alg = jwk.alg;
        out.push(k);
      }
      return out;
    }

    class JwksClient {
      constructor(options) {
        this.options = { rateLimit: false, cache: true, timeout: 30000, ...options };
        const o = this.options;
        const fetchKey = (kid) => JwksClient.prototype.getSigningKey.call(this, kid);
        let get = fetchKey;
        if (o.rateLimit) {
          // jwks-rsa's limiter (the limiter module's RateLimiter): a bucket refilling at
          // jwksRequestsPerMinute (10) a minute, and no more than that many in one fixed minute
          // from the first request of it, for this client.
          const perMinute = o.jwksRequestsPerMinute === undefined ? 10 : o.jwksRequestsPerMinute;
          let tokens = perMinute, at = dateNow(), windowStart = 0, inWindow = 0;
          const inner = get;
          get = async (kid) => {
            const now = dateNow();
            tokens = mathMin(perMinute, tokens + ((now - at) * perMinute) / 60000);
            at = now;
            if (now - windowStart >= 60000) { windowStart = now; inWindow = 0; }
            if (tokens < 1 || inWindow >= perMinute) throw new JwksRateLimitError('Too many requests to the JWKS endpoint');
            tokens -= 1;
            inWindow += 1;
            return inner(kid);
          };
        }
        if (o.cache) {
          // By kid, cacheMaxEntries (5) for cacheMaxAge (10 minutes); kept across executions, as
          // a client made in the module's top level keeps it on Auth0.
          const maxEntries = o.cacheMaxEntries === undefined ? 5 : o.cacheMaxEntries, maxAge = o.cacheMaxAge === undefined ? 600000 : o.cacheMaxAge;
          const cache = new MapC();
          // Lookups of one kid at once share one request, as lru-memoizer's do; only within this
          // execution (a request left pending by an earlier one never settles).
          const pending = new MapC();
          const inner = get;
          get = async (kid) => {
            const hit = cache.get(kid);
            if (hit && dateNow() - hit.at < maxAge) { cache.delete(kid); cache.set(kid, hit); return hit.key; }
            const wait = pending.get(kid);
            if (wait && wait.epoch === epoch) return wait.p;
            const p = (async () => {
              try {
                const key = await inner(kid);
                cache.delete(kid);
                cache.set(kid, { key, at: dateNow() });
                while (cache.size > maxEntries) cache.delete(cache.keys().next().value);
                return key;
              } finally { pending.delete(kid); }
            })();
            pending.set(kid, { epoch, p });
            return p;
          };
        }
        const cached = get;
        def(this, 'getSigningKey', (kid, cb) => {
          if (typeof cb === 'function') {
            apply(promiseThen, (async () => cached(kid))(), [(key) => { cb(null, key); }, (e) => { cb(e); }]);
            return undefined;
          }
          return cached(kid);
        });
      }
      async getKeys() {
        const o = this.options;
        let res;
        if (typeof o.fetcher === 'function') return (await o.fetcher(o.jwksUri)).keys;
        try { new URL(o.jwksUri); } catch { throw new ArgumentError('Invalid JWKS URI: The provided URI is not a valid URL.'); }
        res = await fetch(o.jwksUri, { headers: o.requestHeaders || {}, signal: o.timeout ? AbortSignal.timeout(o.timeout) : undefined });
        const text = await res.text();
        if (res.status < 200 || res.status >= 300) throw new JwksError(res.statusText || 'Http Error ' + res.status);
        const body = text && JSONparse(text);
        return body.keys;
      }
      async getSigningKeys() {
        const keys = await this.getKeys();
        if (!keys || !keys.length) throw new JwksError('The JWKS endpoint did not contain any keys');
        const out = signingKeys(keys);
        if (!out.length) throw new JwksError('The JWKS endpoint did not contain any signing keys');
        return out;
      }
      async getSigningKey(kid) {
        const keys = await this.getSigningKeys();
        const kidDefined = kid !== undefined && kid !== null;
        if (!kidDefined && keys.length > 1) throw new SigningKeyNotFoundError('No KID specified and JWKS endpoint returned more than 1 key');
        const key = keys.find((k) => !kidDefined || k.kid === kid);
        if (key) return key;
        throw new SigningKeyNotFoundError("Unable to find a signing key that matches '" + kid + "'");
      }
    }
    const notHere = (name) => () => { throw new Err('jwks-rsa: ' + name + ' is for web frameworks and is not available in Gatehouse actions'); };
    const m = (options) => new JwksClient(options);
    m.JwksClient = JwksClient;
    m.ArgumentError = ArgumentError;
    m.JwksError = JwksError;
    m.JwksRateLimitError = JwksRateLimitError;
    m.SigningKeyNotFoundError = SigningKeyNotFoundError;
    for (const n of ['expressJwtSecret', 'hapiJwt2Key', 'hapiJwt2KeyAsync', 'koaJwtSecret', 'passportJwtSecret']) m[n] = notHere(n);
    return freeze(m);
  }

  // ---- require('node-fetch'), require('@slack/webhook') ----------------------------------------
  // node-fetch 2 is the global fetch with its v2 extras (`timeout` in ms, FetchError); Slack's
  // IncomingWebhook posts JSON through the axios stand-in, as @slack/webhook 7 does through axios.
  let nodeFetchBuilt = null;
  function nodeFetchModule() {
    if (nodeFetchBuilt !== null) return nodeFetchBuilt;
    class FetchError extends Err {
      constructor(message, type, systemError) {
        super(message);
        this.name = 'FetchError';
        this.type = type;
        if (systemError) { this.code = this.errno = systemError.code; this.erroredSysCall = systemError.syscall; }
      }
    }
    function nodeFetch(url, opts) {
      const o = opts !== null && typeof opts === 'object' ? { ...opts } : {};
      const ms = typeof o.timeout === 'number' && o.timeout > 0 ? o.timeout : 0;
      delete o.timeout;
      if (ms > 0 && o.signal === undefined) o.signal = AbortSignal.timeout(ms);
      return apply(promiseThen, fetch(typeof url === 'object' && url !== null && typeof url.href === 'string' ? url.href : url, o), [undefined, (e) => {
        if (e !== null && typeof e === 'object' && e.name === 'TimeoutError') throw new FetchError('network timeout at: ' + S(url), 'request-timeout');
        if (e !== null && typeof e === 'object' && e.name === 'AbortError') throw e;
        throw new FetchError('request to ' + S(url) + ' failed, reason: ' + (e && e.message), 'system', { code: 'ECONNREFUSED' });
      }]);
    }
    nodeFetch.default = nodeFetch;
    nodeFetch.Headers = Headers;
    nodeFetch.Response = Response;
    nodeFetch.FetchError = FetchError;
    nodeFetch.isRedirect = (code) => code === 301 || code === 302 || code === 303 || code === 307 || code === 308;
    nodeFetchBuilt = freeze(nodeFetch);
    return nodeFetchBuilt;
  }

  let slackBuilt = null;
  function slackWebhookModule() {
    if (slackBuilt !== null) return slackBuilt;
    const ErrorCode = freeze({ RequestError: 'slack_webhook_request_error', HTTPError: 'slack_webhook_http_error' });
    const coded = (message, code, original) => { const e = new Err(message); e.code = code; e.original = original; return e; };
    class IncomingWebhook {
      constructor(url, defaults) {
        if (url === undefined) throw new Err('Incoming webhook URL is required');
        this.url = url;
        this.defaults = defaults !== null && typeof defaults === 'object' ? defaults : { timeout: 0 };
        const ax = axiosModule();
        def(this, 'axios', ax.create({ baseURL: url, maxRedirects: 0, timeout: this.defaults.timeout || 0, headers: { 'User-Agent': '@slack/webhook:7.0.0 gatehouse-actions' } }));
        // As the module: transport options do not go into the message (the timeout does).
        this.defaults.agent = undefined;
        this.defaults.retryConfig = undefined;
      }
      async send(message) {
        let payload = O.assign({}, this.defaults);
        if (typeof message === 'string') payload.text = message;
        else payload = O.assign(payload, message);
        try {
          const response = await this.axios.post(this.url, payload);
          return { text: response.data };
        } catch (error) {
          if (error && error.response !== undefined) throw coded('An HTTP protocol error occurred: statusCode = ' + error.response.status, ErrorCode.HTTPError, error);
          if (error && error.request !== undefined) throw coded('A request error occurred: ' + error.message, ErrorCode.RequestError, error);
          throw error;
        }
      }
    }
    slackBuilt = freeze({ IncomingWebhook, ErrorCode });
    return slackBuilt;
  }

  // ---- npm packages run from their own code (packages.ts) ---------------------------------------
  // The host hands over a package's files with each file's requires resolved; they run here as
  // CommonJS modules, each file once per isolate (Node.js's module cache), in the action's own
  // realm: what they can do, the action can do itself. The maps are used through methods taken
  // before any action code runs: an action that replaces Map.prototype's cannot make every
  // require ask the host again, nor watch what comes back.
  const FunctionC = Function;
  const mapGet = MapC.prototype.get, mapSet = MapC.prototype.set, mapHas = MapC.prototype.has, mapDelete = MapC.prototype.delete;
  const mapSize = O.getOwnPropertyDescriptor(MapC.prototype, 'size').get;
  const mget = (m, k) => apply(mapGet, m, [k]);
  const mset = (m, k, v) => { apply(mapSet, m, [k, v]); };
  const mhas = (m, k) => apply(mapHas, m, [k]);
  const mdel = (m, k) => { apply(mapDelete, m, [k]); };
  const pkgBySpecifier = new MapC(); // what require(name) gave: a handler that requires per execution asks the host once
  const pkgMissing = new MapC();     // names the host had nothing for (at most PKG_MISSING_MAX)
  const pkgModules = new MapC();     // file key (path under node_modules) -> module
  const pkgFiles = new MapC();       // file key -> { src, deps: { specifier: file key } }
  const PKG_MISSING_MAX = 1000, PKG_CALLS_MAX = 200;
  let pkgCalls = 0; // host lookups this execution (reset by endExec)
  let pkgMissingCount = 0;
  function askHost(op, a, b) {
    if (++pkgCalls > PKG_CALLS_MAX) throw new Err('require(): more than ' + PKG_CALLS_MAX + ' package lookups in one execution');
    return host(op, a, b, '');
  }
  function takeBundle(json) {
    const b = JSONparse(json);
    const ks = keys(b.files);
    for (let i = 0; i < ks.length; i++) if (!mhas(pkgFiles, ks[i]) && !mhas(pkgModules, ks[i])) mset(pkgFiles, ks[i], b.files[ks[i]]);
    return loadPackageFile(b.entry);
  }
  function packageModule(name) {
    if (mhas(pkgBySpecifier, name)) return mget(pkgBySpecifier, name);
    if (mhas(pkgMissing, name)) return undefined;
    const json = askHost('package', name, '');
    if (json === '') {
      if (pkgMissingCount < PKG_MISSING_MAX) { pkgMissingCount++; mset(pkgMissing, name, true); }
      return undefined;
    }
    const exports = takeBundle(json);
    mset(pkgBySpecifier, name, exports);
    return exports;
  }
  function loadPackageFile(key) {
    const known = mget(pkgModules, key);
    if (known !== undefined) return known.exports;
    const f = mget(pkgFiles, key);
    const filename = '/node_modules/' + key;
    const module = { id: filename, filename, loaded: false, exports: {}, children: [], paths: [] };
    // In the cache before it runs, as in Node.js: a cycle gets the exports made so far.
    mset(pkgModules, key, module);
    try {
      if (/\.json$/.test(key)) {
        module.exports = JSONparse(f.src);
      } else {
        const deps = f.deps;
        const req = function (spec) {
          if (typeof spec === 'string' && hasOwn(deps, spec)) return loadPackageFile(deps[spec]);
          // A relative require the code computes as it runs (moment's locales): from this file.
          if (typeof spec === 'string' && spec.length <= 200 && /^\.\.?\//.test(spec)) {
            const json = askHost('package.from', key, spec);
            if (json !== '') return takeBundle(json);
          }
          return require(spec);
        };
        const fn = new FunctionC('exports', 'require', 'module', '__filename', '__dirname', f.src);
        apply(fn, module.exports, [module.exports, req, module, filename, filename.slice(0, filename.lastIndexOf('/'))]);
      }
    } catch (e) {
      mdel(pkgModules, key);
      throw e;
    }
    module.loaded = true;
    // Its source is not needed again (the module is cached): lodash's main file is 540 KB.
    mdel(pkgFiles, key);
    return module.exports;
  }

  // ---- module ----------------------------------------------------------------------------------
  function require(id) {
    // Matched as given (only error messages are scrubbed of secrets: a secret that is part of a
    // module's name must not turn require('moment') into require('m[REDACTED]t')).
    const full = S(id);
    const name = full.length > 100 ? full.slice(0, 100) : full;
    const bare = name.replace(/^node:/, '');
    // Before the built-ins: building those (Buffer, crypto, …) costs an isolate about 3 ms.
    if (name === 'axios') return axiosModule();
    if (name === 'auth0' || name === 'auth0/legacy') return auth0Module();
    if (name === 'jsonwebtoken') return jsonwebtokenModule();
    if (name === 'jwks-rsa') return jwksRsaModule();
    if (bare === 'node-fetch') return nodeFetchModule();
    if (name === '@slack/webhook') return slackWebhookModule();
    if (!/^node:/.test(name)) {
      const p = packageModule(name);
      if (p !== undefined) return p;
    }
    const builtins = node().BUILTINS;
    if (bare in builtins) return builtins[bare];
    // What to use instead, for the modules Auth0 Actions require most.
    // Auth0's Actions Modules (shared code a tenant publishes, required as 'actions:<name>').
    if (/^actions:/.test(name)) throw new Err("require('" + cap(name, 100) + "') is not available: Gatehouse has no Actions Modules (Auth0's shared code, 'actions:…'); bring the module's code into the action itself");
    const instead = /^(request|request-promise|got|superagent|undici)$/.test(bare) ? 'use the global fetch() or axios'
      : bare === 'jose' ? "require('jsonwebtoken') signs and verifies JWTs; api.redirect.encodeToken / validateToken sign and check HS256 tokens"
          : 'bring the code you need into the action itself';
    throw new Err("require('" + cap(name, 100) + "') is not available: Gatehouse Actions have no npm modules but axios, auth0 (ManagementClient, AuthenticationClient), jsonwebtoken, jwks-rsa, node-fetch, @slack/webhook, lodash (and lodash.<method>), uuid, qs, moment, moment-timezone, crypto-js, ipaddr.js, @xmldom/xmldom, xpath and async, and of Node.js's built-ins only crypto, buffer, url, querystring, util, events, http and https (" + instead + ')');
  }

  function errJson(d) { return '{"name":' + JSONstringify(d.name) + ',"message":' + JSONstringify(d.message) + '}'; }

  // Runs the module top level once per isolate. `fn` is the compiled CommonJS wrapper and
  // `expected` the exact length of its source, which rules out code that closes the wrapper early.
  function init(fn, expected) {
    if (typeof fn !== 'function' || apply(Function.prototype.toString, fn, []).length !== expected) {
      return 'E' + errJson({ name: 'SyntaxError', message: 'Unexpected end of the module (unbalanced brackets?)' });
    }
    const module = { exports: {} };
    initPhase = true;
    try {
      apply(fn, module.exports, [module.exports, module, require, '/action.js', '/']);
      mod = module;
      return 'O';
    } catch (e) {
      return 'E' + errJson(describe(e));
    } finally {
      initPhase = false;
    }
  }

  function check(handlersJson) {
    const hs = JSONparse(handlersJson);
    const ex = mod && mod.exports;
    if (ex === null || ex === undefined) return '0';
    for (let i = 0; i < hs.length; i++) if (typeof ex[hs[i]] === 'function') return '1';
    return '0';
  }

  function endExec() {
    // Listeners this execution put on signals or cancel tokens that outlive it (kept in module
    // scope): their requests are gone, and each would keep what its closure holds (a body).
    const ls = execListeners;
    execListeners = [];
    for (let i = 0; i < ls.length; i++) {
      const [st, fn] = ls[i];
      if (typeof st === 'function') { try { st(fn); } catch { /* the action's own token */ } } else dropListener(st, fn);
    }
    active = false;
    settled = false;
    failed = null;
    pkgCalls = 0;
    txKeys = null;
    txStartKeys = null;
    sessionMd.end();
    refreshMd.end();
    skipped = false;
    cmds = ''; cmdBytes = 0;
    logs = ''; logBytes = 0; logFull = false;
    timers.clear();
    fetchWaiting.clear();
    fetchOut = ''; fetchCount = 0;
    curEvent = null;
    curCache = null;
    execApi = null;
  }

  // The final result of the current execution, as run() hands it to the host: a null-prototype
  // object only this closure can reach, whose `r` is filled in (publish) when the handler
  // settles, and filled in again when a microtask after that records or logs more. isolated-vm
  // copies run()'s return value after the microtasks its call queued have run (inside the
  // call's timeout), so a handler that does not wait for a timer or a fetch is done in one
  // timed call; otherwise `r` stays '' and the host goes on with collect().
  let box = null;
  // `unsent`: requests queued that the host was never asked to perform (the handler returned
  // without awaiting them): the host sends them after the execution, best-effort (runner.ts).
  // Up to UNSENT_MAX characters of them: past that none is sent, and the host says so.
  const UNSENT_MAX = 1024 * 1024;
  function render(code) {
    const unsent = !fetchOut ? '' : fetchOut.length <= UNSENT_MAX ? ',"unsent":[' + fetchOut + ']' : ',"unsentDropped":true';
    return code + '[' + cmds + ']\n{"logs":' + JSONstringify(logs) + (failed ? ',"error":' + errJson(failed) : '') + unsent + '}';
  }
  function publish() {
    if (box !== null && settled) box.r = render(failed ? 'E' : skipped ? 'S' : 'O');
  }

  // Starts one execution and returns its box (see above). An execution whose result the host
  // took from its box is still active: it ends here. (Console output of the module top level,
  // before the first execution, is kept for it.)
  //
  // `ctxJson` (the api paths and the limits) and `secretsJson` are '' when they are what this
  // isolate was sent last time: the host keeps track, so a warm execution does not copy, compare
  // and parse them again. `redirectJson` changes with every login; it is parsed only if the
  // handler asks (api.redirect.*).
  function run(ep, handler, eventJson, secretsJson, cacheJson, ctxJson, redirectJson) {
    if (active) endExec();
    const b = { __proto__: null, r: '' };
    box = b;
    epoch = ep;
    active = true;
    settled = false;
    failed = null;
    skipped = false;
    // Outside the try below: if keeping what the host sent fails (action code may have broken a
    // shared built-in these use), run() throws, the host evicts this isolate and the next
    // execution starts afresh; the host never again sends '' for something not kept.
    if (ctxJson !== '') { curCtx = JSONparse(ctxJson); curApi = apiFor(curCtx.api, isArray(curCtx.missing) ? curCtx.missing : []); }
    if (secretsJson !== '') { setSecrets(JSONparse(secretsJson)); secretsJsonLast = secretsJson; }
    resultBytes = curCtx.resultBytes;
    consoleBytes = curCtx.consoleBytes;
    curRedirectJson = redirectJson;
    curRedirect = undefined;
    curCacheJson = cacheJson;
    curCache = null;
    try {
      const event = JSONparse(eventJson);
      // A fresh object each time: what one execution does to event.secrets is not seen by the next.
      const secrets = JSONparse(secretsJsonLast);
      if (event !== null && typeof event === 'object') {
        defineProperty(event, 'secrets', { value: secrets, writable: true, enumerable: true, configurable: true });
        // Auth0 fills event.configuration for its Marketplace integrations, whose code reads it
        // unguarded (event.configuration.X); here it is always an empty object, never undefined.
        defineProperty(event, 'configuration', { value: {}, writable: true, enumerable: true, configurable: true });
      }
      curEvent = event;
      // The transaction metadata keys as the host sent them, before any action code runs (the
      // set is built only if the action calls setMetadata).
      txKeys = null;
      const tx0 = event !== null && typeof event === 'object' ? event.transaction : undefined;
      txStartKeys = tx0 !== null && typeof tx0 === 'object' && tx0.metadata !== null && typeof tx0.metadata === 'object' ? keys(tx0.metadata) : null;
      sessionMd.begin(event);
      refreshMd.begin(event);
      // A fresh top level each time, as Auth0's api is a plain object: actions add to it
      // (`api.noop = api.noop || function () {}`, a common idiom) and that must neither fail
      // nor reach their next execution. The members stay the frozen ones built per isolate.
      const api = { ...curApi };
      execApi = api;
      const ex = mod.exports;
      const h = ex === null || ex === undefined ? undefined : ex[handler];
      if (typeof h !== 'function') { skipped = true; settled = true; publish(); return b; }
      const r = apply(h, ex, [event, api]);
      if (r !== null && (typeof r === 'object' || typeof r === 'function')) {
        apply(promiseThen, promiseResolve(r), [
          function () { if (ep === epoch && active && !settled) { settled = true; publish(); } },
          function (e) { if (ep === epoch && active) fail(e); },
        ]);
      } else {
        settled = true;
        publish();
      }
    } catch (e) {
      fail(e);
    }
    return b;
  }

  function finish(code) {
    const out = render(code);
    endExec();
    return out;
  }

  // 'P{due, fetch}' while the handler's promise is pending, else the final result:
  // '<O|E|S>[commands]\n{logs, error?}' (O fulfilled, E failed, S handler not exported).
  function collect() {
    if (!settled) {
      const out = 'P{"due":' + nextDue() + ',"fetch":[' + fetchOut + ']}';
      fetchOut = '';
      return out;
    }
    return finish(failed ? 'E' : skipped ? 'S' : 'O');
  }

  // Delivers a host event to the current execution: a due timer, or a fetch completion.
  function wake(ep, kind, id, payload) {
    if (ep !== epoch || !active || settled) return;
    if (kind === 'timer') runOneTimer();
    else if (kind === 'fetch') deliverFetch(id, payload);
  }

  // Ends the execution early (the host's wall clock ran out): what was recorded so far.
  function abort() { return finish('A'); }

  // ---- globals -------------------------------------------------------------------------------
  def(G, 'URL', URL);
  def(G, 'URLSearchParams', URLSearchParams);
  def(G, 'TextEncoder', TextEncoder);
  def(G, 'TextDecoder', TextDecoder);
  def(G, 'atob', atob);
  def(G, 'btoa', btoa);
  // A data property once read or written, as Node's own Buffer global.
  const settle = (v) => { defineProperty(G, 'Buffer', { value: v, writable: true, enumerable: false, configurable: true }); return v; };
  defineProperty(G, 'Buffer', { get() { return settle(node().BufferFn); }, set(v) { settle(v); }, enumerable: false, configurable: true });
  def(G, 'structuredClone', structuredClone);
  def(G, 'fetch', fetch);
  def(G, 'Headers', Headers);
  def(G, 'FormData', FormData);
  def(G, 'Response', Response);
  def(G, 'DOMException', DOMException);
  const perfOrigin = dateNow();
  def(G, 'performance', freeze({ now() { return dateNow() - perfOrigin; }, timeOrigin: perfOrigin }));

  G.__gh = { init, run, collect, wake, abort, check };
})(globalThis);
