/**
 * How an application that requires an organization has the user name it when its authorization
 * request does not (Auth0's organization_require_behavior): 'pre' asks for the organization's
 * name before the login (pre_login_prompt), 'post' lets the user pick one of theirs after the
 * password (post_login_prompt). Undefined: the application does not require one, or must name it
 * itself (no_prompt). `client` is oidc-provider's client metadata (src/clients/clients.ts).
 */
export function organizationPrompt(client: unknown): 'pre' | 'post' | undefined {
  const c = client as Record<string, unknown> | undefined;
  if (c?.['urn:gatehouse:organization_usage'] !== 'require') return undefined;
  const b = c['urn:gatehouse:organization_require_behavior'];
  return b === 'pre_login_prompt' ? 'pre' : b === 'post_login_prompt' ? 'post' : undefined;
}

/** Whether the application signs users in to an organization only. */
export const organizationRequired = (client: unknown): boolean => (client as Record<string, unknown> | undefined)?.['urn:gatehouse:organization_usage'] === 'require';
