import type { Knex } from 'knex';

/*
 * Why: the account lifecycle and MFA. Email tokens (verification and password reset) are
 * stored only as SHA-256 hashes, tied to the user and the address they were sent to, single
 * use (consumed with a conditional UPDATE) and short-lived. TOTP factors keep their seed
 * sealed with the secrets key and the last accepted time step, so a code is accepted once
 * (RFC 6238 §5.2); recovery codes are stored hashed. A pending MFA step holds a login that
 * passed its password and waits for a code, bound to its interaction.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('email_tokens', (t) => {
    t.string('token_hash', 64).primary();
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    /** 'verify_email' | 'reset_password' */
    t.string('purpose', 32).notNullable();
    t.string('email', 320).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('used_at');
    t.bigInteger('created_at').notNullable();
    t.index(['user_id', 'purpose']);
  });
  await knex.schema.createTable('mfa_factors', (t) => {
    t.string('id', 64).primary();
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.string('type', 16).notNullable();
    t.text('secret_sealed').notNullable();
    /** false while enrollment waits for its first code */
    t.boolean('confirmed').notNullable().defaultTo(false);
    /** the last accepted TOTP time step: only later steps are accepted */
    t.bigInteger('last_used_step').notNullable().defaultTo(0);
    /** binds a pending enrollment to the login (interaction) or account session that started it */
    t.string('pending_binding', 255);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('confirmed_at');
    t.index(['user_id']);
  });
  await knex.schema.createTable('mfa_recovery_codes', (t) => {
    t.string('code_hash', 64).primary();
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('used_at');
    t.bigInteger('created_at').notNullable();
    t.index(['user_id']);
  });
  await knex.schema.createTable('mfa_pending', (t) => {
    t.string('interaction_uid', 255).primary();
    t.string('user_id', 64).notNullable();
    t.text('payload').notNullable();
    t.bigInteger('expires_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['mfa_pending', 'mfa_recovery_codes', 'mfa_factors', 'email_tokens']) await knex.schema.dropTableIfExists(table);
}
