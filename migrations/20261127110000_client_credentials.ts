import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: Private Key JWT client authentication (RFC 7523, Auth0's "client credentials" of type
 * public_key): a confidential application proves itself with a JWT signed by a key only it holds,
 * instead of a shared secret the server also stores. The public keys are the client's, each with
 * its own id, algorithm and optional end; a client lists which of them it authenticates with.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('client_credentials', (t) => {
    t.string('id', 64).primary();
    t.string('client_id', 128).notNullable().references('clients.client_id').onDelete('CASCADE');
    t.string('name', 128).notNullable().defaultTo('');
    t.string('credential_type', 32).notNullable();
    t.string('alg', 16).notNullable();
    t.string('kid', 128).notNullable();
    t.text('pem').notNullable();
    t.bigInteger('expires_at');
    t.string('created_at', 40).notNullable();
    t.string('updated_at', 40).notNullable();
    t.index(['client_id']);
  });
  await knex.schema.alterTable('clients', (t) => {
    t.text('client_authentication_methods');
  });
}

export async function down(knex: Knex): Promise<void> {
  // Applications on Private Key JWT go back to a secret method the older version knows; they have
  // no secret: an admin gives them one (POST /clients/{id}/rotate-secret) before they sign in again.
  await knex('clients').where({ token_endpoint_auth_method: 'private_key_jwt' }).update({ token_endpoint_auth_method: 'client_secret_basic' });
  await dropColumns(knex, 'clients', ['client_authentication_methods']);
  await knex.schema.dropTable('client_credentials');
}
