// The example SPA: Auth0's SDK (the UMD bundle's global `auth0`) pointed at Gatehouse.
// Settings come from /config.js, which serve.ts writes from its environment.
/* global auth0 */
(async function main() {
  const config = window.GATEHOUSE_SPA;
  const $ = (id) => document.getElementById(id);
  const show = (id, on) => { $(id).hidden = !on; };

  function fail(err) {
    console.error(err);
    show('loading', false);
    $('error').textContent = (err && (err.error_description || err.message)) || String(err);
    show('error', true);
  }

  // The callback URL registered for this client is the app's root, e.g. http://localhost:5173/.
  const redirectUri = `${window.location.origin}/`;

  let client;
  try {
    client = new auth0.Auth0Client({
      // A domain with a scheme: auth0-spa-js 2.x keeps it as is (it would prefix https://
      // otherwise), so the SDK calls http://localhost:3000/authorize and /oauth/token. It
      // expects the ID token's `iss` to be this domain plus "/", which is why Gatehouse must
      // run with an issuer ending in "/" (GATEHOUSE_ISSUER=http://localhost:3000/).
      domain: config.domain,
      clientId: config.clientId,
      // With SPA_MANAGEMENT_API=true the access token is the user's own for Gatehouse's Management
      // API (Auth0's current-user scopes): it reads the profile and keeps a preference in
      // user_metadata, nothing more.
      authorizationParams: config.managementAudience ? {
        redirect_uri: redirectUri,
        audience: config.managementAudience,
        scope: 'openid profile email read:current_user update:current_user_metadata',
      } : { redirect_uri: redirectUri },
      // 'localstorage' keeps the tokens across reloads; with 'memory' (the SDK's default) a
      // reload asks Gatehouse in a hidden iframe (prompt=none, response_mode=web_message).
      cacheLocation: config.cacheLocation,
    });
  } catch (err) {
    return fail(err);
  }

  $('login').addEventListener('click', () => {
    client.loginWithRedirect().catch(fail);
  });
  // The same login in a popup: Gatehouse's last page there posts the code back to this page
  // (response_mode=web_message), which stays where it is.
  $('login-popup').addEventListener('click', () => {
    client.loginWithPopup().then(signedIn).catch(fail);
  });
  $('logout').addEventListener('click', () => {
    // auth0-spa-js sends the browser to <domain>/v2/logout?client_id=…&returnTo=…, which must
    // be one of the client's allowed logout URLs.
    client.logout({ logoutParams: { returnTo: redirectUri } }).catch(fail);
  });

  /** Shows who is signed in, or the login buttons. */
  async function signedIn() {
    const user = (await client.isAuthenticated()) ? await client.getUser() : undefined;
    show('loading', false);
    show('signed-in', Boolean(user));
    show('signed-out', !user);
    if (user) {
      $('user-email').textContent = user.email || user.sub;
      if (config.managementApi) await profile(user.sub);
    }
  }

  /** GET or PATCH the signed-in user's record on the Management API, with their own token. */
  async function me(sub, init = {}) {
    const token = await client.getTokenSilently();
    const res = await fetch(`${config.managementApi}/users/${encodeURIComponent(sub)}`, {
      ...init, headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.message || `the Management API answered ${res.status}`);
    return body;
  }

  /** The preference kept in user_metadata: shown, and saved on submit. */
  async function profile(sub) {
    const status = $('profile-status');
    const input = $('color');
    let record;
    try {
      record = await me(sub);
    } catch (err) {
      status.textContent = `Could not load your profile: ${err.message}`;
      show('profile', true);
      return;
    }
    input.value = (record.user_metadata && record.user_metadata.favorite_color) || '';
    show('profile', true);
    // A property, not a listener: signing in again in this page must not save twice.
    $('profile').onsubmit = (e) => {
      e.preventDefault();
      status.textContent = 'Saving…';
      me(sub, { method: 'PATCH', body: JSON.stringify({ user_metadata: { favorite_color: input.value.trim() } }) })
        .then((saved) => { status.textContent = `Saved: ${saved.user_metadata.favorite_color || '(none)'}`; })
        .catch((err) => { status.textContent = `Not saved: ${err.message}`; });
    };
  }

  try {
    const params = new URLSearchParams(window.location.search);
    if ((params.has('code') || params.has('error')) && params.has('state')) {
      try {
        // Exchanges the code (PKCE) at /oauth/token and verifies the ID token.
        await client.handleRedirectCallback();
      } finally {
        // Drop code and state from the address bar, success or not: they are single use.
        window.history.replaceState({}, document.title, window.location.pathname);
      }
    } else {
      // What createAuth0Client() does on start: tokens from the cache, or else, when the SDK's
      // cookie says the user signed in before, a silent authorization in a hidden iframe.
      await client.checkSession();
    }
    await signedIn();
  } catch (err) {
    fail(err);
    show('signed-out', true);
  }
})();
