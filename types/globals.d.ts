/**
 * The globals a Gatehouse action may use, for a TypeScript project that has neither the DOM lib
 * nor @types/node (`"lib": ["es2022"]`, `"types": []`). With either of those, leave this file
 * out: they declare the same globals. Nothing else is reachable in the sandbox (no require,
 * process or file system).
 */
export {};

declare global {
  interface Console {
    log(...data: unknown[]): void; info(...data: unknown[]): void; warn(...data: unknown[]): void;
    error(...data: unknown[]): void; debug(...data: unknown[]): void;
  }
  var console: Console;

  function setTimeout(handler: (...args: unknown[]) => void, timeout?: number, ...args: unknown[]): number;
  function clearTimeout(id?: number): void;
  function setInterval(handler: (...args: unknown[]) => void, timeout?: number, ...args: unknown[]): number;
  function clearInterval(id?: number): void;
  function queueMicrotask(callback: () => void): void;

  interface URLSearchParams {
    append(name: string, value: string): void; delete(name: string): void; get(name: string): string | null;
    getAll(name: string): string[]; has(name: string): boolean; set(name: string, value: string): void;
    forEach(callback: (value: string, key: string) => void): void; toString(): string;
  }
  var URLSearchParams: { prototype: URLSearchParams; new (init?: string | Record<string, string> | [string, string][]): URLSearchParams };
  interface URL {
    hash: string; host: string; hostname: string; href: string; readonly origin: string; password: string; pathname: string;
    port: string; protocol: string; search: string; readonly searchParams: URLSearchParams; username: string; toString(): string; toJSON(): string;
  }
  var URL: { prototype: URL; new (url: string | URL, base?: string | URL): URL; canParse(url: string | URL, base?: string | URL): boolean };

  interface TextEncoder { readonly encoding: string; encode(input?: string): Uint8Array }
  var TextEncoder: { prototype: TextEncoder; new (): TextEncoder };
  interface TextDecoder { readonly encoding: string; decode(input?: ArrayBuffer | ArrayBufferView): string }
  var TextDecoder: { prototype: TextDecoder; new (label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }): TextDecoder };

  function atob(data: string): string;
  function btoa(data: string): string;
  function structuredClone<T>(value: T): T;

  interface Crypto {
    randomUUID(): string;
    getRandomValues<T extends Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array>(array: T): T;
    /** Digests and HMAC only (raw keys); the other methods reject with NotSupportedError. */
    readonly subtle: SubtleCrypto;
  }
  type HashName = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';
  type HmacAlgorithm = 'HMAC' | { name: 'HMAC' };
  interface CryptoKey {
    readonly type: 'secret'; readonly extractable: boolean; readonly usages: ('sign' | 'verify')[];
    readonly algorithm: { name: 'HMAC'; hash: { name: HashName }; length: number };
  }
  interface SubtleCrypto {
    digest(algorithm: HashName | { name: HashName }, data: ArrayBuffer | ArrayBufferView): Promise<ArrayBuffer>;
    importKey(format: 'raw', keyData: ArrayBuffer | ArrayBufferView, algorithm: { name: 'HMAC'; hash: HashName | { name: HashName } }, extractable: boolean, usages: ('sign' | 'verify')[]): Promise<CryptoKey>;
    exportKey(format: 'raw', key: CryptoKey): Promise<ArrayBuffer>;
    sign(algorithm: HmacAlgorithm, key: CryptoKey, data: ArrayBuffer | ArrayBufferView): Promise<ArrayBuffer>;
    verify(algorithm: HmacAlgorithm, key: CryptoKey, signature: ArrayBuffer | ArrayBufferView, data: ArrayBuffer | ArrayBufferView): Promise<boolean>;
  }
  var crypto: Crypto;

  interface Performance { now(): number; readonly timeOrigin: number }
  var performance: Performance;

  interface Headers {
    append(name: string, value: string): void; delete(name: string): void; get(name: string): string | null;
    has(name: string): boolean; set(name: string, value: string): void; forEach(callback: (value: string, key: string) => void): void;
  }
  var Headers: { prototype: Headers; new (init?: Headers | Record<string, string> | [string, string][]): Headers };
  interface Response {
    readonly ok: boolean; readonly status: number; readonly statusText: string; readonly url: string; readonly headers: Headers;
    text(): Promise<string>; json(): Promise<any>; arrayBuffer(): Promise<ArrayBuffer>; clone(): Response;
  }
  var Response: { prototype: Response; new (body?: string | null, init?: { status?: number; statusText?: string; headers?: Headers | Record<string, string> }): Response };
  /** Bridged through the host: a timeout, a response size cap, and no private or loopback addresses unless allowed. */
  interface AbortSignal {
    readonly aborted: boolean; readonly reason: unknown; onabort: ((ev: { type: 'abort' }) => void) | null; throwIfAborted(): void;
    addEventListener(type: 'abort', listener: (ev: { type: 'abort' }) => void, options?: { once?: boolean }): void;
    removeEventListener(type: 'abort', listener: (ev: { type: 'abort' }) => void): void;
  }
  var AbortSignal: { prototype: AbortSignal; abort(reason?: unknown): AbortSignal; timeout(milliseconds: number): AbortSignal; any(signals: AbortSignal[]): AbortSignal };
  interface AbortController { readonly signal: AbortSignal; abort(reason?: unknown): void }
  var AbortController: { prototype: AbortController; new (): AbortController };

  function fetch(input: string | URL, init?: { method?: string; headers?: Headers | Record<string, string> | [string, string][]; body?: string | URLSearchParams; signal?: AbortSignal | null }): Promise<Response>;
}
