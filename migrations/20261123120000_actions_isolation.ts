import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: two isolation fixes in Actions (security review).
 *
 * `api.cache` was one namespace per trigger, so an action read what another action cached (an
 * M2M token fetched with its own client secret, say), while ACTIONS.md says nothing secret may
 * leak between different actions, ever. Entries are now kept per action (its id, not its
 * version, so they survive deploys). The old rows are dropped rather than migrated: the cache is
 * best effort, and any of them may already have been written for one action and read by another.
 *
 * post-login claims are kept per (user, client), one row, for the tokens and userinfo of the
 * login that decided them. `login_ref` records which login that is: `interaction:<uid>` while
 * the interaction runs, `session:<oidc session uid>` once the authorization it belongs to
 * resumed (or for prompt=none and refresh-token grants, at once). Tokens of another session
 * ignore the row instead of carrying claims another login decided.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('action_cache');
  await knex.schema.createTable('action_cache', (t) => {
    t.string('trigger_id', 64).notNullable();
    t.string('action_id', 64).notNullable();
    t.string('key', 200).notNullable();
    t.text('value').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.primary(['trigger_id', 'action_id', 'key']);
    t.index(['expires_at']);
  });
  await knex.schema.alterTable('action_login_claims', (t) => {
    t.string('login_ref', 255);
  });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'action_login_claims', ['login_ref']);
  await knex.schema.dropTableIfExists('action_cache');
  await knex.schema.createTable('action_cache', (t) => {
    t.string('trigger_id', 64).notNullable();
    t.string('key', 200).notNullable();
    t.text('value').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.primary(['trigger_id', 'key']);
  });
}
