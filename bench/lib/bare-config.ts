import type { Configuration } from 'oidc-provider';

export interface BareConfigInit {
  jwk: Record<string, unknown>; client_id: string; client_secret: string; api: string; scopes: string[]; accessTokenTTL: number;
}

/**
 * The bare oidc-provider 9 the client_credentials benchmark compares against: one static
 * client, client credentials and resource indicators, ES256 JWT access tokens with Gatehouse's
 * own key, the memory adapter. Used by bench/servers/bare.ts (its own process) and by the
 * diagnose variant 'bare config here' (inside the Gatehouse process).
 */
export function bareConfiguration(init: BareConfigInit): Configuration {
  return {
    clients: [{
      client_id: init.client_id, client_secret: init.client_secret,
      grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
      // Client metadata validation wants a signing alg the keystore has (RS256 is the default).
      id_token_signed_response_alg: 'ES256',
    }],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => init.api,
        getResourceServerInfo: async () => ({
          scope: init.scopes.join(' '), audience: init.api, accessTokenTTL: init.accessTokenTTL,
          accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    jwks: { keys: [init.jwk as never] },
    routes: { token: '/oauth/token' },
  };
}
