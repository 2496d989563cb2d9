/** Every Management API scope; the bootstrap admin client is granted all of them. */
export const MANAGEMENT_SCOPES = [
  'read:users', 'create:users', 'update:users', 'delete:users',
  'read:roles', 'create:roles', 'update:roles', 'delete:roles',
  'read:role_members', 'create:role_members', 'delete:role_members',
  'read:clients', 'create:clients', 'update:clients', 'delete:clients',
  'read:client_credentials', 'create:client_credentials', 'update:client_credentials', 'delete:client_credentials',
  'read:resource_servers', 'create:resource_servers', 'update:resource_servers', 'delete:resource_servers',
  'read:client_grants', 'create:client_grants', 'update:client_grants', 'delete:client_grants',
  'read:signing_keys', 'create:signing_keys', 'update:signing_keys',
  'read:logs',
  'read:log_streams', 'create:log_streams', 'update:log_streams', 'delete:log_streams',
  'read:email_templates', 'create:email_templates', 'update:email_templates',
  'read:branding', 'update:branding',
  'read:actions', 'create:actions', 'update:actions', 'delete:actions',
  'read:authentication_methods', 'delete:authentication_methods',
  'read:grants', 'delete:grants',
  'read:organizations', 'create:organizations', 'update:organizations', 'delete:organizations',
  'read:organization_members', 'create:organization_members', 'delete:organization_members',
  'read:organization_member_roles', 'create:organization_member_roles', 'delete:organization_member_roles',
  'read:sessions', 'update:sessions', 'delete:sessions',
  'read:refresh_tokens', 'update:refresh_tokens', 'delete:refresh_tokens',
  'create:user_tickets',
  'read:connections',
  'read:stats',
] as const;

export { CURRENT_USER_SCOPES } from '../shared/current-user-scopes.ts';
