/**
 * The globals a Gatehouse action may use, for a TypeScript project that has neither the DOM lib
 * nor @types/node (`"lib": ["es2022"]`, `"types": []`). With either of those, leave this file
 * out: they declare the same globals. Nothing else is reachable in the sandbox: no process, no
 * file system, and `require` gives only the in-sandbox stand-ins declared here (crypto, buffer,
 * url, querystring, http, https, axios, auth0, jsonwebtoken, jwks-rsa, node-fetch and @slack/webhook).
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

  type BufferEncoding = 'utf8' | 'utf-8' | 'hex' | 'base64' | 'base64url' | 'latin1' | 'binary' | 'ascii' | 'ucs2' | 'ucs-2' | 'utf16le' | 'utf-16le';
  /** Node.js's Buffer, the part actions use: encodings, from/alloc/concat/compare, integer reads and writes. */
  interface Buffer extends Uint8Array<ArrayBuffer> {
    toString(encoding?: BufferEncoding, start?: number, end?: number): string;
    toJSON(): { type: 'Buffer'; data: number[] };
    equals(other: Uint8Array): boolean;
    compare(other: Uint8Array): -1 | 0 | 1;
    /** Shares memory with this buffer, as in Node.js. */
    slice(start?: number, end?: number): Buffer;
    subarray(start?: number, end?: number): Buffer;
    fill(value: string | number | Uint8Array, offset?: number, end?: number, encoding?: BufferEncoding): this;
    write(string: string, offset?: number, length?: number, encoding?: BufferEncoding): number;
    copy(target: Uint8Array, targetStart?: number, sourceStart?: number, sourceEnd?: number): number;
    readUInt8(offset?: number): number; readInt8(offset?: number): number;
    readUInt16BE(offset?: number): number; readUInt16LE(offset?: number): number; readInt16BE(offset?: number): number; readInt16LE(offset?: number): number;
    readUInt32BE(offset?: number): number; readUInt32LE(offset?: number): number; readInt32BE(offset?: number): number; readInt32LE(offset?: number): number;
    writeUInt8(value: number, offset?: number): number; writeInt8(value: number, offset?: number): number;
    writeUInt16BE(value: number, offset?: number): number; writeUInt16LE(value: number, offset?: number): number;
    writeInt16BE(value: number, offset?: number): number; writeInt16LE(value: number, offset?: number): number;
    writeUInt32BE(value: number, offset?: number): number; writeUInt32LE(value: number, offset?: number): number;
    writeInt32BE(value: number, offset?: number): number; writeInt32LE(value: number, offset?: number): number;
    readUIntBE(offset: number, byteLength: number): number; readUIntLE(offset: number, byteLength: number): number;
    readIntBE(offset: number, byteLength: number): number; readIntLE(offset: number, byteLength: number): number;
    writeUIntBE(value: number, offset: number, byteLength: number): number; writeUIntLE(value: number, offset: number, byteLength: number): number;
    writeIntBE(value: number, offset: number, byteLength: number): number; writeIntLE(value: number, offset: number, byteLength: number): number;
    readFloatBE(offset?: number): number; readFloatLE(offset?: number): number; readDoubleBE(offset?: number): number; readDoubleLE(offset?: number): number;
    writeFloatBE(value: number, offset?: number): number; writeFloatLE(value: number, offset?: number): number;
    writeDoubleBE(value: number, offset?: number): number; writeDoubleLE(value: number, offset?: number): number;
    readBigInt64BE(offset?: number): bigint; readBigInt64LE(offset?: number): bigint; readBigUInt64BE(offset?: number): bigint; readBigUInt64LE(offset?: number): bigint;
    writeBigInt64BE(value: bigint, offset?: number): number; writeBigInt64LE(value: bigint, offset?: number): number;
    writeBigUInt64BE(value: bigint, offset?: number): number; writeBigUInt64LE(value: bigint, offset?: number): number;
    indexOf(value: string | number | Uint8Array, byteOffset?: number, encoding?: BufferEncoding): number;
    lastIndexOf(value: string | number | Uint8Array, byteOffset?: number, encoding?: BufferEncoding): number;
    includes(value: string | number | Uint8Array, byteOffset?: number, encoding?: BufferEncoding): boolean;
    swap16(): this; swap32(): this; swap64(): this;
  }
  interface BufferConstructor {
    readonly prototype: Buffer;
    /** Deprecated in Node.js (use Buffer.from / Buffer.alloc), kept for old code. */
    new (value: string | number | ArrayLike<number> | ArrayBuffer, encodingOrOffset?: BufferEncoding | number, length?: number): Buffer;
    from(value: string, encoding?: BufferEncoding): Buffer;
    from(value: ArrayBuffer, byteOffset?: number, length?: number): Buffer;
    from(value: ArrayLike<number> | Uint8Array | { type: 'Buffer'; data: number[] }): Buffer;
    alloc(size: number, fill?: string | number | Uint8Array, encoding?: BufferEncoding): Buffer;
    allocUnsafe(size: number): Buffer;
    byteLength(value: string | ArrayBuffer | ArrayBufferView, encoding?: BufferEncoding): number;
    concat(list: readonly Uint8Array[], totalLength?: number): Buffer;
    isBuffer(value: unknown): value is Buffer;
    isEncoding(encoding: string): encoding is BufferEncoding;
    compare(a: Uint8Array, b: Uint8Array): -1 | 0 | 1;
  }
  var Buffer: BufferConstructor;

  type HashAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';
  interface Hash {
    update(data: string | ArrayBufferView, inputEncoding?: BufferEncoding): Hash;
    digest(): Buffer;
    digest(encoding: BufferEncoding): string;
    /** createHash's only, as in Node.js. */
    copy(): Hash;
  }
  /** `require('crypto')` in an action: hashes, HMAC, random values, signatures, AES; other calls throw. */
  interface GatehouseNodeCrypto {
    createHash(algorithm: HashAlgorithm): Hash;
    createHmac(algorithm: HashAlgorithm, key: string | ArrayBufferView): Hash;
    hash(algorithm: HashAlgorithm, data: string | ArrayBufferView, outputEncoding?: BufferEncoding): string;
    getHashes(): string[];
    randomBytes(size: number): Buffer;
    randomBytes(size: number, callback: (err: Error | null, buf: Buffer) => void): void;
    randomFillSync<T extends ArrayBuffer | ArrayBufferView>(buffer: T, offset?: number, size?: number): T;
    randomFill<T extends ArrayBuffer | ArrayBufferView>(buffer: T, callback: (err: Error | null, buf: T) => void): void;
    randomFill<T extends ArrayBuffer | ArrayBufferView>(buffer: T, offset: number, callback: (err: Error | null, buf: T) => void): void;
    randomFill<T extends ArrayBuffer | ArrayBufferView>(buffer: T, offset: number, size: number, callback: (err: Error | null, buf: T) => void): void;
    randomInt(max: number): number;
    randomInt(min: number, max: number): number;
    randomUUID(): string;
    getRandomValues: Crypto['getRandomValues'];
    timingSafeEqual(a: ArrayBufferView, b: ArrayBufferView): boolean;
    readonly webcrypto: Crypto;
    readonly subtle: SubtleCrypto;
    /** Unencrypted PEM keys: RSA up to 4096 bits, EC P-256/P-384/P-521/secp256k1, Ed25519, Ed448. */
    createSign(algorithm: string): Signer;
    createVerify(algorithm: string): Verifier;
    sign(algorithm: string | null | undefined, data: ArrayBufferView, key: KeyLike): Buffer;
    verify(algorithm: string | null | undefined, data: ArrayBufferView, key: KeyLike, signature: ArrayBufferView): boolean;
    createPrivateKey(key: string | ArrayBufferView | { key: string | ArrayBufferView; format?: 'pem' }): KeyObject;
    createPublicKey(key: string | ArrayBufferView | KeyObject | { key: string | ArrayBufferView; format?: 'pem' }): KeyObject;
    /** AES-128/192/256 in CBC, ECB, CTR or GCM. */
    createCipheriv(algorithm: string, key: string | ArrayBufferView, iv: string | ArrayBufferView | null, options?: { authTagLength?: number }): CipherLike;
    createDecipheriv(algorithm: string, key: string | ArrayBufferView, iv: string | ArrayBufferView | null, options?: { authTagLength?: number }): CipherLike;
    readonly constants: { RSA_PKCS1_PADDING: number; RSA_PKCS1_PSS_PADDING: number; RSA_PSS_SALTLEN_DIGEST: number; RSA_PSS_SALTLEN_MAX_SIGN: number; RSA_PSS_SALTLEN_AUTO: number };
  }
  interface KeyObject { readonly type: 'private' | 'public'; readonly asymmetricKeyType: string; readonly asymmetricKeyDetails: { modulusLength?: number; publicExponent?: bigint; namedCurve?: string; hashAlgorithm?: string; mgf1HashAlgorithm?: string; saltLength?: number }; export(options: { format: 'pem'; type: 'pkcs8' | 'spki' | 'pkcs1' | 'sec1' }): string }
  type KeyLike = string | ArrayBufferView | KeyObject | { key: string | ArrayBufferView | KeyObject; dsaEncoding?: 'der' | 'ieee-p1363'; padding?: number; saltLength?: number };
  interface Signer { update(data: string | ArrayBufferView, inputEncoding?: BufferEncoding): Signer; sign(key: KeyLike): Buffer; sign(key: KeyLike, outputEncoding: BufferEncoding): string }
  interface Verifier { update(data: string | ArrayBufferView, inputEncoding?: BufferEncoding): Verifier; verify(key: KeyLike, signature: string | ArrayBufferView, signatureEncoding?: BufferEncoding): boolean }
  interface CipherLike {
    update(data: string | ArrayBufferView, inputEncoding?: BufferEncoding): Buffer;
    update(data: string | ArrayBufferView, inputEncoding: BufferEncoding | undefined, outputEncoding: BufferEncoding): string;
    final(): Buffer; final(outputEncoding: BufferEncoding): string;
    setAutoPadding(autoPadding?: boolean): this; setAAD(buffer: ArrayBufferView): this; getAuthTag(): Buffer; setAuthTag(tag: ArrayBufferView): this;
  }
  /** `require('querystring')` in an action, as Node.js's. */
  interface GatehouseQuerystring {
    stringify(obj: Record<string, unknown>, sep?: string, eq?: string): string;
    parse(str: string, sep?: string, eq?: string, options?: { maxKeys?: number }): Record<string, string | string[]>;
    encode: GatehouseQuerystring['stringify'];
    decode: GatehouseQuerystring['parse'];
    escape(str: string): string;
    unescape(str: string): string;
  }
  /** `require('axios')` in an action: a stand-in for axios 1.x over the bridged fetch (text bodies, no streams). */
  interface AxiosRequestConfig<D = any> {
    url?: string; method?: string; baseURL?: string; allowAbsoluteUrls?: boolean;
    headers?: Record<string, string | number | boolean | string[] | null | undefined | Record<string, string | number | boolean | null | undefined>>;
    params?: unknown; paramsSerializer?: ((params: any) => string) | { serialize?: (params: any, options?: object) => string; encode?: (value: string) => string; indexes?: boolean | null; dots?: boolean };
    data?: D; timeout?: number; timeoutErrorMessage?: string; auth?: { username: string; password: string };
    responseType?: 'json' | 'text' | 'arraybuffer'; responseEncoding?: string;
    validateStatus?: ((status: number) => boolean) | null; maxRedirects?: number; signal?: AbortSignal;
    transformRequest?: AxiosTransformer | AxiosTransformer[]; transformResponse?: AxiosTransformer | AxiosTransformer[];
    transitional?: { silentJSONParsing?: boolean; forcedJSONParsing?: boolean; clarifyTimeoutError?: boolean };
    formSerializer?: { dots?: boolean; indexes?: boolean | null };
  }
  type AxiosTransformer = (this: AxiosRequestConfig, data: any, headers: AxiosHeaders, status?: number) => any;
  interface AxiosHeaders {
    [name: string]: any;
    get(name: string): string | string[] | undefined; has(name: string): boolean; set(name: string, value: string | number | boolean, rewrite?: boolean): AxiosHeaders;
    delete(name: string): boolean; toJSON(asStrings?: boolean): Record<string, string | string[]>; getContentType(): string | undefined; setContentType(value: string, rewrite?: boolean): AxiosHeaders;
  }
  interface AxiosResponse<T = any, D = any> { data: T; status: number; statusText: string; headers: AxiosHeaders; config: AxiosRequestConfig<D>; duration?: number }
  interface AxiosError<T = any, D = any> extends Error {
    readonly isAxiosError: true; code?: string; status?: number; config?: AxiosRequestConfig<D>; response?: AxiosResponse<T, D>; toJSON(): object;
  }
  interface AxiosErrorConstructor {
    new (message?: string, code?: string, config?: AxiosRequestConfig, request?: unknown, response?: AxiosResponse): AxiosError;
    readonly ERR_BAD_REQUEST: 'ERR_BAD_REQUEST'; readonly ERR_BAD_RESPONSE: 'ERR_BAD_RESPONSE'; readonly ERR_CANCELED: 'ERR_CANCELED'; readonly ERR_NETWORK: 'ERR_NETWORK';
    readonly ECONNABORTED: 'ECONNABORTED'; readonly ETIMEDOUT: 'ETIMEDOUT'; readonly ERR_NOT_SUPPORT: 'ERR_NOT_SUPPORT'; readonly ERR_INVALID_URL: 'ERR_INVALID_URL';
  }
  interface AxiosInterceptors<V> {
    use(onFulfilled?: ((value: V) => V | Promise<V>) | null, onRejected?: ((error: any) => any) | null, options?: { synchronous?: boolean; runWhen?: (config: AxiosRequestConfig) => boolean }): number;
    eject(id: number): void; clear(): void;
  }
  interface AxiosInstance {
    <T = any>(config: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    <T = any>(url: string, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    defaults: AxiosRequestConfig & { headers: Record<string, any> };
    interceptors: { request: AxiosInterceptors<AxiosRequestConfig>; response: AxiosInterceptors<AxiosResponse> };
    request<T = any>(config: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    get<T = any>(url: string, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    delete<T = any>(url: string, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    head<T = any>(url: string, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    options<T = any>(url: string, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    post<T = any>(url: string, data?: any, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    put<T = any>(url: string, data?: any, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    patch<T = any>(url: string, data?: any, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    postForm<T = any>(url: string, data?: any, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    putForm<T = any>(url: string, data?: any, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    patchForm<T = any>(url: string, data?: any, config?: AxiosRequestConfig): Promise<AxiosResponse<T>>;
    getUri(config?: AxiosRequestConfig): string;
    create(config?: AxiosRequestConfig): AxiosInstance;
  }
  interface AxiosStatic extends AxiosInstance {
    isAxiosError<T = any>(value: unknown): value is AxiosError<T>;
    isCancel(value: unknown): boolean;
    all<T>(values: Array<T | Promise<T>>): Promise<T[]>;
    spread<T, R>(callback: (...args: T[]) => R): (array: T[]) => R;
    readonly AxiosError: AxiosErrorConstructor;
    readonly CanceledError: new (message?: string, config?: AxiosRequestConfig, request?: unknown) => AxiosError;
    readonly VERSION: string;
    readonly default: AxiosStatic;
  }
  /**
   * `require('auth0')`: Auth0's Node SDK clients over the Management API, in the call styles of
   * SDK v3 (methods on the client, callbacks), v4 (`users.get({ id })`, results read from
   * `.data`) and v5+ (`users.get(id)`, `list()` pages). Managers are typed loosely for that reason.
   */
  interface GatehouseAuth0ManagementOptions {
    domain: string; clientId?: string; clientSecret?: string; token?: string | (() => string | Promise<string>);
    audience?: string; scope?: string; headers?: Record<string, string>;
  }
  interface GatehouseAuth0ManagementClient {
    readonly users: any; readonly usersByEmail: any; readonly roles: any; readonly clients: any; readonly clientGrants: any;
    readonly resourceServers: any; readonly logs: any; readonly grants: any; readonly userGrants: any;
    getAccessToken(): Promise<string>;
    /** v3's methods on the client: getUser, updateAppMetadata, assignRolestoUser, getUsersByEmail, … */
    [v3Method: string]: any;
  }
  interface GatehouseAuth0Error extends Error { statusCode: number; error?: string; errorCode?: string; body: any }
  interface GatehouseAuth0 {
    ManagementClient: new (options: GatehouseAuth0ManagementOptions) => GatehouseAuth0ManagementClient;
    AuthenticationClient: new (options: { domain: string; clientId: string; clientSecret?: string }) => {
      oauth: { clientCredentialsGrant(options: { audience: string; scope?: string }): Promise<any> };
      clientCredentialsGrant(options: { audience: string; scope?: string }, cb?: (err: Error | null, token?: any) => void): Promise<any>;
    };
    ManagementError: new (...args: any[]) => GatehouseAuth0Error;
    ManagementApiError: new (...args: any[]) => GatehouseAuth0Error;
    AuthApiError: new (...args: any[]) => Error & { error?: string; error_description?: string; statusCode: number };
    readonly default: GatehouseAuth0;
  }
  /** `require('jsonwebtoken')`: jsonwebtoken 9 over the crypto stand-in (HS, RS, PS and ES algorithms; PEM keys or KeyObjects). */
  type GatehouseJwtKey = string | Uint8Array | KeyObject;
  interface GatehouseJwtSignOptions {
    algorithm?: 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'none';
    expiresIn?: string | number; notBefore?: string | number; audience?: string | string[]; issuer?: string; subject?: string; jwtid?: string;
    keyid?: string; header?: Record<string, unknown>; noTimestamp?: boolean; encoding?: string; mutatePayload?: boolean;
    allowInsecureKeySizes?: boolean; allowInvalidAsymmetricKeyTypes?: boolean;
  }
  interface GatehouseJwtVerifyOptions {
    algorithms?: string[]; audience?: string | RegExp | (string | RegExp)[]; issuer?: string | string[]; subject?: string; jwtid?: string; nonce?: string;
    clockTimestamp?: number; clockTolerance?: number; ignoreExpiration?: boolean; ignoreNotBefore?: boolean; maxAge?: string | number; complete?: boolean;
    allowInvalidAsymmetricKeyTypes?: boolean;
  }
  interface GatehouseJsonwebtoken {
    sign(payload: string | object | Uint8Array, key: GatehouseJwtKey | null | undefined, options?: GatehouseJwtSignOptions): string;
    sign(payload: string | object | Uint8Array, key: GatehouseJwtKey | null | undefined, options: GatehouseJwtSignOptions, callback: (err: Error | null, token?: string) => void): void;
    sign(payload: string | object | Uint8Array, key: GatehouseJwtKey | null | undefined, callback: (err: Error | null, token?: string) => void): void;
    verify(token: string, key: GatehouseJwtKey | null | undefined, options?: GatehouseJwtVerifyOptions): any;
    verify(token: string, key: GatehouseJwtKey | ((header: any, cb: (err: Error | null, key?: GatehouseJwtKey) => void) => void), options: GatehouseJwtVerifyOptions | undefined, callback: (err: Error | null, decoded?: any) => void): void;
    decode(token: string, options?: { complete?: boolean; json?: boolean }): any;
    JsonWebTokenError: new (message: string, error?: Error) => Error & { inner?: Error };
    TokenExpiredError: new (message: string, expiredAt: Date) => Error & { expiredAt: Date };
    NotBeforeError: new (message: string, date: Date) => Error & { date: Date };
  }
  /** `require('jwks-rsa')`: jwks-rsa 3's client over fetch (public JWKs imported as SPKI PEM). */
  interface GatehouseSigningKey { kid?: string; alg?: string; readonly publicKey: string; readonly rsaPublicKey: string; getPublicKey(): string }
  interface GatehouseJwksClient {
    getSigningKey(kid?: string | null): Promise<GatehouseSigningKey>;
    getSigningKey(kid: string | null | undefined, cb: (err: Error | null, key?: GatehouseSigningKey) => void): void;
    getSigningKeys(): Promise<GatehouseSigningKey[]>;
    getKeys(): Promise<unknown[]>;
  }
  interface GatehouseJwksRsa {
    (options: { jwksUri: string; cache?: boolean; cacheMaxEntries?: number; cacheMaxAge?: number; rateLimit?: boolean; jwksRequestsPerMinute?: number; timeout?: number; requestHeaders?: Record<string, string>; fetcher?: (uri: string) => Promise<{ keys: unknown[] }> }): GatehouseJwksClient;
    SigningKeyNotFoundError: new (message: string) => Error; JwksError: new (message: string) => Error; JwksRateLimitError: new (message: string) => Error; ArgumentError: new (message: string) => Error;
  }
  /** In an action's module scope (CommonJS): these built-ins, the npm modules below; any other name throws. */
  function require(id: 'axios'): AxiosStatic;
  /**
   * npm packages whose own code runs in the sandbox (lodash 4, uuid 11, qs 6, moment 2,
   * crypto-js 4, and paths inside them such as lodash/get): typed by their own @types packages,
   * which an action's project installs for its editor.
   */
  function require(id: 'lodash' | 'uuid' | 'qs' | 'moment' | 'crypto-js' | `lodash/${string}`): any;
  function require(id: 'jwks-rsa'): GatehouseJwksRsa;
  /** node-fetch 2: the global fetch, with its `timeout` option (ms) and FetchError. */
  function require(id: 'node-fetch'): typeof fetch & { default: typeof fetch; Headers: typeof Headers; Response: typeof Response; FetchError: new (message: string, type: string) => Error & { type: string }; isRedirect(code: number): boolean };
  /** @slack/webhook: IncomingWebhook over the axios stand-in. */
  function require(id: '@slack/webhook'): {
    IncomingWebhook: new (url: string, defaults?: Record<string, unknown>) => { send(message: string | Record<string, unknown>): Promise<{ text: string }> };
    ErrorCode: { RequestError: 'slack_webhook_request_error'; HTTPError: 'slack_webhook_http_error' };
  };
  function require(id: 'jsonwebtoken'): GatehouseJsonwebtoken;
  function require(id: 'auth0' | 'auth0/legacy'): GatehouseAuth0;
  function require(id: 'crypto' | 'node:crypto'): GatehouseNodeCrypto;
  function require(id: 'buffer' | 'node:buffer'): {
    Buffer: BufferConstructor; atob: typeof atob; btoa: typeof btoa; kMaxLength: number;
    constants: { MAX_LENGTH: number; MAX_STRING_LENGTH: number }; isUtf8(input: ArrayBuffer | ArrayBufferView): boolean;
  };
  function require(id: 'url' | 'node:url'): { URL: typeof URL; URLSearchParams: typeof URLSearchParams };
  function require(id: 'querystring' | 'node:querystring'): GatehouseQuerystring;
  /** `require('events')`: Node.js's EventEmitter (synchronous listeners; 'error' without one throws) and `events.once`. */
  function require(id: 'events' | 'node:events'): GatehouseEventEmitterClass;
  interface GatehouseEventEmitter {
    on(name: string | symbol, fn: (...args: any[]) => void): this; addListener(name: string | symbol, fn: (...args: any[]) => void): this;
    once(name: string | symbol, fn: (...args: any[]) => void): this; prependListener(name: string | symbol, fn: (...args: any[]) => void): this;
    prependOnceListener(name: string | symbol, fn: (...args: any[]) => void): this; off(name: string | symbol, fn: (...args: any[]) => void): this;
    removeListener(name: string | symbol, fn: (...args: any[]) => void): this; removeAllListeners(name?: string | symbol): this;
    emit(name: string | symbol, ...args: unknown[]): boolean; listenerCount(name: string | symbol): number;
    listeners(name: string | symbol): Function[]; rawListeners(name: string | symbol): Function[]; eventNames(): (string | symbol)[];
    setMaxListeners(n: number): this; getMaxListeners(): number;
  }
  interface GatehouseEventEmitterClass {
    new (): GatehouseEventEmitter; EventEmitter: GatehouseEventEmitterClass; defaultMaxListeners: number;
    once(emitter: GatehouseEventEmitter, name: string | symbol): Promise<unknown[]>;
  }
  /** `require('util')`: promisify, callbackify, format, inspect (the console's), inherits, isDeepStrictEqual, types and the rest an action uses. */
  function require(id: 'util' | 'node:util'): {
    promisify: (<F extends (...args: any[]) => void>(fn: F) => (...args: any[]) => Promise<any>) & { readonly custom: unique symbol };
    callbackify<R>(fn: (...args: any[]) => Promise<R>): (...args: any[]) => void;
    format(format?: unknown, ...args: unknown[]): string;
    inspect: ((value: unknown) => string) & { readonly custom: unique symbol };
    inherits(ctor: Function, superCtor: Function): void;
    isDeepStrictEqual(a: unknown, b: unknown): boolean;
    deprecate<F extends Function>(fn: F, message: string, code?: string): F;
    debuglog(section: string): ((...args: unknown[]) => void) & { enabled: boolean };
    isArray(value: unknown): value is unknown[];
    stripVTControlCharacters(text: string): string;
    toUSVString(text: string): string;
    TextEncoder: typeof TextEncoder; TextDecoder: typeof TextDecoder;
    types: Record<'isDate' | 'isRegExp' | 'isMap' | 'isSet' | 'isWeakMap' | 'isWeakSet' | 'isPromise' | 'isTypedArray' | 'isUint8Array' | 'isArrayBuffer' | 'isAnyArrayBuffer' | 'isArrayBufferView' | 'isAsyncFunction' | 'isGeneratorFunction' | 'isNativeError' | 'isBoxedPrimitive' | 'isNumberObject' | 'isStringObject' | 'isBooleanObject' | 'isSymbolObject' | 'isBigIntObject', (value: unknown) => boolean>;
  };
  /** Over the bridged fetch: the body is sent at end(), the response comes whole (one 'data', then 'end'). */
  function require(id: 'http' | 'https' | 'node:http' | 'node:https'): GatehouseHttp;
  interface GatehouseIncomingMessage {
    readonly statusCode: number; readonly statusMessage: string; readonly headers: Record<string, string>;
    setEncoding(encoding: BufferEncoding): this;
    on(event: 'data', listener: (chunk: Buffer | string) => void): this; on(event: 'end' | 'close', listener: () => void): this;
  }
  type HttpRequestOptions = { protocol?: string; hostname?: string; host?: string; port?: number | string; path?: string; method?: string; headers?: Record<string, string | number>; auth?: string; timeout?: number };
  interface GatehouseClientRequest {
    on(event: 'response', listener: (res: GatehouseIncomingMessage) => void): this; on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'timeout' | 'close', listener: () => void): this;
    write(chunk: string | ArrayBufferView): boolean; end(data?: string | ArrayBufferView, callback?: () => void): this;
    setHeader(name: string, value: string | number): this; setTimeout(ms: number, callback?: () => void): this; destroy(err?: Error): this;
  }
  type HttpResponseListener = (res: GatehouseIncomingMessage) => void;
  interface GatehouseHttp {
    request(url: string | URL | HttpRequestOptions, options?: HttpRequestOptions | HttpResponseListener, callback?: HttpResponseListener): GatehouseClientRequest;
    get(url: string | URL | HttpRequestOptions, options?: HttpRequestOptions | HttpResponseListener, callback?: HttpResponseListener): GatehouseClientRequest;
  }

  /** Text fields only: a Blob or File part is refused (the bridged fetch sends UTF-8 text). */
  interface FormData {
    append(name: string, value: string | number | boolean): void; set(name: string, value: string | number | boolean): void;
    get(name: string): string | null; getAll(name: string): string[]; has(name: string): boolean; delete(name: string): void;
    forEach(callback: (value: string, key: string, parent: FormData) => void): void;
    entries(): IterableIterator<[string, string]>; keys(): IterableIterator<string>; values(): IterableIterator<string>;
    [Symbol.iterator](): IterableIterator<[string, string]>;
  }
  var FormData: { prototype: FormData; new (): FormData };
  /** A FormData body goes as multipart/form-data. */
  function fetch(input: string | URL, init?: { method?: string; headers?: Headers | Record<string, string> | [string, string][]; body?: string | URLSearchParams | FormData; signal?: AbortSignal | null }): Promise<Response>;
}
