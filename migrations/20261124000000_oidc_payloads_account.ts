import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: what belongs to one user among oidc-provider's records (sessions, grants, refresh and
 * access tokens, codes) was found by scanning every row's JSON for `"accountId":"…"`: a password
 * change, a block, the account page's "Apps with access" and the Management API's /grants each
 * read the whole table. The adapter now writes the payload's accountId into its own column,
 * indexed where set (most rows of a client_credentials-heavy deployment have none).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('oidc_payloads', (t) => { t.string('account_id', 64); });
  const pg = knex.client.config.client === 'pg';
  // Rows written before this: the payload's accountId, where it is a string.
  await knex.raw(pg
    ? `update oidc_payloads set account_id = (payload::json ->> 'accountId') where payload::json ->> 'accountId' is not null`
    : `update oidc_payloads set account_id = json_extract(payload, '$.accountId') where json_type(payload, '$.accountId') = 'text'`);
  await knex.raw('create index oidc_payloads_account_id_index on oidc_payloads (account_id, type) where account_id is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists oidc_payloads_account_id_index');
  await dropColumns(knex, 'oidc_payloads', ['account_id']);
}
