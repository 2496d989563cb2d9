/**
 * Actions sandbox: runs chains of user scripts in isolated-vm isolates inside supervised worker
 * processes. Imports only isolated-vm and Node built-ins; knows nothing of users or OIDC.
 *
 * ```ts
 * const pool = createSandboxPool({ workers: 2, fetchAllow: config.actionsFetchAllow });
 * const r = await pool.runChain({ handler: 'onExecutePostLogin', actions, event, apiMethods, stopOn, limits });
 * // r.status: 'ok' | 'denied' | 'timeout' | 'oom' | 'syntax' | 'runtime'; r.results[i].commands to validate and apply
 * ```
 */
export { createSandboxPool } from './pool.ts';
export type {
  ActionResult, ChainLimits, ChainRequest, ChainResult, Command, SandboxAction, SandboxLogger, SandboxPool,
  SandboxPoolOptions, SandboxStatus, ValidateResult,
} from './types.ts';
