import type { Knex } from 'knex';

/*
 * Why: the device flow (RFC 8628) finds a device code by the user code a person typed, and until
 * now nothing else stored one: the lookup scanned every device code. An index makes it one probe,
 * also while someone is guessing codes. Unique: oidc-provider draws user codes at random without
 * checking, and two pending device codes with the same user code would let a user confirm a
 * stranger's device (which one the lookup returns is up to the database). Such a draw (about one
 * in 2.6e10 per code held) now fails the device's request instead, and its retry draws again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create unique index oidc_payloads_user_code on oidc_payloads (user_code) where user_code is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists oidc_payloads_user_code');
}
