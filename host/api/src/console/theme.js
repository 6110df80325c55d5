// Light and dark themes: the system's preference until the toggle is used, then the
// choice kept in localStorage.

import { h } from './dom.js';

const THEME_KEY = 'switchboard.theme';

export function preferredTheme() {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'dark' || saved === 'light') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  for (const b of document.querySelectorAll('[data-theme-toggle]')) {
    b.setAttribute('aria-pressed', String(theme === 'dark'));
    b.querySelector('.label').textContent = theme === 'dark' ? 'Dark mode: on' : 'Dark mode: off';
  }
}

export function themeToggle() {
  const b = h('button', {
    type: 'button', class: 'theme-toggle', 'data-theme-toggle': '',
    onclick: () => {
      const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
      localStorage.setItem(THEME_KEY, next);
      applyTheme(next);
    },
  }, h('span', { class: 'theme-icon', 'aria-hidden': 'true' }), h('span', { class: 'label' }, 'Dark mode'));
  return b;
}
