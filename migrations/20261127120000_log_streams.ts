import type { Knex } from 'knex';

/*
 * Why: Auth0's log streams. Teams send their tenant's logs to a SIEM or a log service (an HTTP
 * endpoint) instead of polling GET /logs. Each stream keeps its own place in the audit log (the
 * last `seq` delivered), so a stream that was down catches up from where it stopped, and a lease
 * so that one node at a time delivers it. The sink (the endpoint's authorization and headers are
 * secrets) is sealed with the secrets key. On PostgreSQL each audit row also gets the database's
 * own time of its insert: concurrent inserts may commit out of `seq` order, so a stream reads only
 * rows the database recorded a moment ago or earlier (one clock, whatever the nodes' clocks say).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('log_streams', (t) => {
    t.string('id', 64).primary();
    t.string('name', 200).notNullable();
    t.string('type', 32).notNullable();
    t.string('status', 16).notNullable();
    t.text('sink_sealed').notNullable();
    t.text('filters').notNullable().defaultTo('[]');
    t.bigInteger('cursor').notNullable().defaultTo(0);
    t.integer('failures').notNullable().defaultTo(0);
    t.bigInteger('failing_since');
    t.bigInteger('next_attempt_at');
    t.text('last_error');
    t.string('lease_owner', 64);
    t.bigInteger('lease_until');
    t.string('created_at', 40).notNullable();
    t.string('updated_at', 40).notNullable();
  });
  // Nullable first, then the default: a volatile default in the ADD COLUMN would rewrite the whole
  // table under its lock (every login writes to it). Rows before it have none, and count as old.
  if (knex.client.config.client === 'pg') {
    await knex.raw('alter table audit_logs add column recorded_at timestamptz');
    await knex.raw('alter table audit_logs alter column recorded_at set default clock_timestamp()');
  }
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') await knex.raw('alter table audit_logs drop column recorded_at');
  await knex.schema.dropTable('log_streams');
}
