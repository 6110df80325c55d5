// The sign-in page and the signed-in shell (sidebar, theme toggle, sign out).

import { api, forgetToken, keepToken } from './api.js';
import { h } from './dom.js';
import { busy, errorSlot } from './feedback.js';
import { field } from './forms.js';
import { NAV, render } from './router.js';
import { applyTheme, themeToggle } from './theme.js';

export function signOut(message) {
  forgetToken();
  renderSignIn(message);
}

export function renderSignIn(message) {
  const app = document.getElementById('app');
  const slot = errorSlot();
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Sign in');
  // method=post: were the script to fail, the browser would never put the token in a URL.
  const form = h('form', { class: 'signin card', method: 'post', novalidate: true },
    h('h1', { tabindex: '-1' }, 'Switchboard'),
    h('p', {}, 'Sign in with the admin token: the ', h('code', {}, 'admin-token'), ' file in the host\'s data folder. It is kept in this tab only (session storage).'),
    field('Admin token', input, { required: true }),
    slot.el,
    h('div', { class: 'actions' }, submit));
  if (message) slot.show({ message });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) {
      slot.show({ message: 'Paste the admin token.' });
      input.focus();
      return;
    }
    const ok = await busy(submit, slot, async () => {
      await api('GET', '/status', { tokenOverride: value });
      return true;
    });
    if (ok) {
      keepToken(value);
      renderShell();
    } else {
      input.select();
      input.focus();
    }
  });
  app.replaceChildren(h('div', { class: 'signin-wrap' }, form, h('div', { class: 'signin-foot' }, themeToggle())));
  applyTheme(document.documentElement.dataset.theme);
  document.title = 'Sign in · Switchboard';
  input.focus();
}

export function renderShell() {
  const app = document.getElementById('app');
  const skip = h('a', {
    class: 'skip', href: '#main',
    onclick: (e) => {
      e.preventDefault();
      document.getElementById('main').focus();
    },
  }, 'Skip to content');
  const nav = h('nav', { class: 'sidebar', 'aria-label': 'Main' }, h('div', { class: 'sidebar-inner' },
    h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Switchboard'),
    h('ul', { class: 'nav' }, NAV.map(([href, label]) => h('li', {}, h('a', { href }, label)))),
    h('div', { class: 'sidebar-foot' },
      themeToggle(),
      h('button', { type: 'button', class: 'btn link', onclick: () => signOut('Signed out.') }, 'Sign out'))));
  const main = h('main', { id: 'main', tabindex: '-1' });
  app.replaceChildren(skip, h('div', { class: 'shell' }, nav, main));
  applyTheme(document.documentElement.dataset.theme);
  render();
}
