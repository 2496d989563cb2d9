import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './db/knex.ts';
import type { SecretBox } from './shared/secret-box.ts';
import type { Logger } from './shared/logger.ts';

/**
 * The secrets key: from config, or generated into `<dataDir>/secrets.key` (mode 0600) on
 * first start with a warning. Losing it makes sealed secrets unreadable.
 */
export function loadSecretsKey(configured: string | undefined, dataDir: string, logger: Logger): Buffer {
  if (configured) return Buffer.from(configured, 'base64');
  const file = join(dataDir, 'secrets.key');
  if (existsSync(file)) return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600 });
  logger.warn({ file }, 'generated a new secrets key; set GATEHOUSE_SECRETS_KEY in production and keep a copy of it');
  return key;
}

/** Sealed values in the `settings` table, created on first use (cookie keys and the like). */
export function createSettings(db: Db, box: SecretBox) {
  return {
    async sealedOrCreate(key: string, make: () => string): Promise<string> {
      const row = await db('settings').where({ key }).first();
      if (row) return box.open(row.value, `setting:${key}`);
      const value = make();
      await db('settings').insert({ key, value: box.seal(value, `setting:${key}`) }).onConflict('key').ignore();
      const again = await db('settings').where({ key }).first();
      return box.open(again.value, `setting:${key}`);
    },
  };
}
