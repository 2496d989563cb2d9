import { transform } from 'esbuild';

export const MAX_CODE_BYTES = 100 * 1024;

/**
 * Turns an action's source (CommonJS as on Auth0, ESM, or TypeScript) into CommonJS for the
 * sandbox. Runs at save/deploy time, never per execution.
 */
export async function compileAction(code: string): Promise<{ ok: true; compiled: string } | { ok: false; message: string }> {
  if (Buffer.byteLength(code) > MAX_CODE_BYTES) return { ok: false, message: `code: larger than ${MAX_CODE_BYTES / 1024} KB` };
  try {
    const out = await transform(code, { loader: 'ts', format: 'cjs', target: 'es2022', sourcefile: 'action.ts', logLevel: 'silent' });
    return { ok: true, compiled: out.code };
  } catch (e) {
    const errs = (e as { errors?: { text: string; location?: { line: number; column: number } }[] }).errors;
    const first = errs?.[0];
    return { ok: false, message: first ? `code: ${first.text}${first.location ? ` (line ${first.location.line}, column ${first.location.column})` : ''}` : 'code: does not compile' };
  }
}
