import type { Knex } from 'knex';

/*
 * Why: a user has one authenticator app. Enrollment keeps to that under a per-user lock, and so
 * does an import's upsert now, but nothing in the schema said so: two confirmed factors (from a
 * race that lock did not cover) would make which secret works, and which remembered browsers
 * stay remembered, depend on the order rows come back. A partial unique index on confirmed
 * factors makes a second one impossible. Should a database hold two already, the most recently
 * confirmed stays, as the last enrollment or import meant.
 */
export async function up(knex: Knex): Promise<void> {
  const confirmed: { id: string; user_id: string; confirmed_at: unknown; created_at: unknown }[] = await knex('mfa_factors')
    .where({ confirmed: true }).select('id', 'user_id', 'confirmed_at', 'created_at');
  const keep = new Map<string, { id: string; at: number }>();
  const drop: string[] = [];
  for (const f of confirmed) {
    const at = Number(f.confirmed_at ?? f.created_at ?? 0);
    const held = keep.get(f.user_id);
    if (!held) { keep.set(f.user_id, { id: f.id, at }); continue; }
    if (at > held.at) { drop.push(held.id); keep.set(f.user_id, { id: f.id, at }); } else drop.push(f.id);
  }
  for (let i = 0; i < drop.length; i += 500) await knex('mfa_factors').whereIn('id', drop.slice(i, i + 500)).delete();
  // SQLite stores the boolean as 1, PostgreSQL as true: the predicate reads both.
  await knex.raw(`create unique index mfa_factors_one_confirmed on mfa_factors (user_id) where ${knex.client.config.client === 'pg' ? 'confirmed' : 'confirmed = 1'}`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists mfa_factors_one_confirmed');
}
