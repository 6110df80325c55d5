// Switchboard console, the entry module: no framework, no build step, no network but this
// host's API. It wires the pages to the hash router and starts on the sign-in page or,
// with a token in this tab's session storage, on the shell.
//
// Modules (all under /console/, served by console.rs from a fixed list):
//   model.js       labels and facts about the API's records (no DOM)
//   dom.js         `h` and small render helpers
//   theme.js       light and dark themes
//   api.js         the API client and the token
//   feedback.js    inline form errors, the toast, busy buttons
//   forms.js       labelled fields, link names checked as one types
//   dialogs.js     modal dialogs and confirmations
//   router.js      the hash router
//   shell.js       the sign-in page and the signed-in shell
//   connections.js, new-connection.js, catalog.js, service-form.js, services.js,
//   functions.js   the pages

import { onUnauthorized, token } from './api.js';
import { pageConnection, pageConnections } from './connections.js';
import { pageFunction, pageFunctions } from './functions.js';
import { pageNewConnection } from './new-connection.js';
import { render, setRoutes } from './router.js';
import { pageService, pageServiceForm, pageServices } from './services.js';
import { renderShell, renderSignIn, signOut } from './shell.js';
import { applyTheme, preferredTheme } from './theme.js';

applyTheme(preferredTheme());

// A 401 answer (the token was rotated, or the host restarted with another) signs out.
onUnauthorized(signOut);

setRoutes([
  [/^\/connections$/, pageConnections],
  [/^\/connections\/new$/, pageNewConnection],
  [/^\/connections\/([^/]+)$/, pageConnection],
  [/^\/services$/, pageServices],
  [/^\/services\/new$/, (main) => pageServiceForm(main, null)],
  [/^\/services\/([^/]+)\/edit$/, (main, link) => pageServiceForm(main, link)],
  [/^\/services\/([^/]+)$/, pageService],
  [/^\/functions$/, pageFunctions],
  [/^\/functions\/([^/]+)$/, pageFunction],
]);

window.addEventListener('hashchange', render);

if (token()) renderShell();
else renderSignIn();
