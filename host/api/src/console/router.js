// The hash router: pages are addressed by the URL's fragment (#/connections,
// #/functions/hello, ...). main.js gives the route table.

import { token } from './api.js';
import { add, h } from './dom.js';

export const NAV = [
  ['#/connections', 'Connections', /^\/connections/],
  ['#/services', 'Services', /^\/services/],
  ['#/functions', 'Functions', /^\/functions/],
];

/** `[pattern, page]` pairs; a page is `async (element, ...captures, query)`. */
let routes = [];
export function setRoutes(table) {
  routes = table;
}

let renderGeneration = 0;

export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

export async function render() {
  const main = document.getElementById('main');
  if (!main || !token()) return;
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '/connections';
  const [path, q] = raw.split('?');
  const query = new URLSearchParams(q || '');
  for (const a of document.querySelectorAll('.nav a')) {
    const active = NAV.find(([href]) => href === a.getAttribute('href'))[2].test(path);
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const generation = ++renderGeneration;
  const page = h('div', { class: 'page' });
  const route = routes.map(([re, fn]) => [path.match(re), fn]).find(([m]) => m);
  main.setAttribute('aria-busy', 'true');
  try {
    if (!route) {
      add(page, h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/connections' }, 'Go to connections.')));
    } else {
      const [match, fn] = route;
      await fn(page, ...match.slice(1).map(decodeURIComponent), query);
    }
  } catch (err) {
    if (err.status === 401) return;
    page.replaceChildren(
      h('h1', { tabindex: '-1' }, err.status === 404 ? 'Not found' : 'Something went wrong'),
      h('div', { class: 'form-error', role: 'alert' }, err.message, err.code ? h('code', { class: 'form-error-code' }, err.code) : null),
      h('p', {}, h('a', { href: '#/connections' }, 'Back to connections')));
  }
  if (generation !== renderGeneration) return;
  main.removeAttribute('aria-busy');
  main.replaceChildren(page);
  const h1 = page.querySelector('h1');
  document.title = `${h1 ? h1.textContent : 'Console'} · Switchboard`;
  if (h1 && !document.querySelector('dialog[open]')) h1.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}
