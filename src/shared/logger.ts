/**
 * JSON-lines logger. The one module-level singleton the design allows is replaced here by a
 * factory, so tests can capture output. Keys that look like secrets are redacted before
 * anything is written: a log line must never carry a password, secret or token.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SECRET_KEY = /pass(word)?|secret|^(access_|refresh_|id_|session_|reset_)?token$|tokens$|authorization|cookie|code_verifier|^code$|private|^key$|_key$/i;

export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  child(bindings: object): Logger;
}

/** Replaces values of secret-looking keys, recursively, without touching the input. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && typeof v !== 'boolean' ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

export function createLogger(level: Level = 'info', write: (line: string) => void = (l) => process.stdout.write(l), bindings: object = {}): Logger {
  const min = ORDER[level];
  const emit = (lvl: Exclude<Level, 'silent'>, obj: object, msg: string) => {
    if (ORDER[lvl] < min) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...(redact({ ...bindings, ...obj }) as object) })}\n`);
  };
  return {
    debug: (o, m) => emit('debug', o, m),
    info: (o, m) => emit('info', o, m),
    warn: (o, m) => emit('warn', o, m),
    error: (o, m) => emit('error', o, m),
    child: (b) => createLogger(level, write, { ...bindings, ...b }),
  };
}
