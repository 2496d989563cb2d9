import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './db/knex.ts';
import type { SecretBox } from './shared/secret-box.ts';
import type { Logger } from './shared/logger.ts';
import { ConfigError } from './config/load.ts';

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
  /**
   * The first sealed value a start reads: when it does not open, the database was set up with
   * another secrets key (GATEHOUSE_DATA_DIR moved without the database, a new
   * GATEHOUSE_SECRETS_KEY). Said plainly, rather than as a decipher stack trace.
   */
  function open(value: string, key: string): string {
    try {
      return box.open(value, `setting:${key}`);
    } catch {
      throw new ConfigError(`the secrets key (GATEHOUSE_SECRETS_KEY, or secrets.key in GATEHOUSE_DATA_DIR) does not open this database's sealed "${key}": the database was set up with another key. Start with that key, or point GATEHOUSE_DATABASE_URL at the database made with this one.`);
    }
  }
  return {
    async sealedOrCreate(key: string, make: () => string): Promise<string> {
      const row = await db('settings').where({ key }).first();
      if (row) return open(row.value, key);
      const value = make();
      await db('settings').insert({ key, value: box.seal(value, `setting:${key}`) }).onConflict('key').ignore();
      const again = await db('settings').where({ key }).first();
      return open(again.value, key);
    },
  };
}
