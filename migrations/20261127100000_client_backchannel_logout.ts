import type { Knex } from 'knex';
import { dropColumns } from '../src/db/drop-columns.ts';

/*
 * Why: OpenID Connect Back-Channel Logout (Auth0's `oidc_logout`): an application registers a URL
 * where Gatehouse posts a signed logout token when one of its user's sessions ends, so the
 * application can end its own session even when the browser never comes back to it. The setting
 * (the URL, and which ends notify it) is the client's; JSON as the client's other lists are.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.text('oidc_logout');
  });
}

export async function down(knex: Knex): Promise<void> {
  await dropColumns(knex, 'clients', ['oidc_logout']);
}
