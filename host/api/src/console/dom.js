// Building the page: `h` makes elements, and small render helpers shared by the pages.
// Every value from the API is put on the page as text (textContent), never as HTML.

import { STATUS_LABELS } from './model.js';

/** Builds an element: attributes (`on…` are listeners, `value` set last) and children. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'value') value = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  add(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

export function add(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

let uidCounter = 0;
export const uid = (prefix) => `${prefix}-${++uidCounter}`;

export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, Number.isNaN(d.getTime()) ? iso : d.toLocaleString());
}

export function badge(status) {
  return h('span', { class: `badge badge-${status}` }, STATUS_LABELS[status] || status);
}

export function kindBadge(kind) {
  return h('span', { class: `badge badge-kind badge-${kind === 'default' ? 'default' : 'custom'}` },
    kind === 'default' ? 'Default' : 'Custom');
}

export const enc = encodeURIComponent;

export function header(title, ...actions) {
  return h('header', { class: 'page-head' },
    h('div', { class: 'page-title' }, title),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null);
}

export const linkButton = (href, label, cls = 'btn') => h('a', { href, class: cls }, label);

export function searchBox(label, onInput) {
  const input = h('input', { type: 'search', placeholder: label, 'aria-label': label, autocomplete: 'off', class: 'search' });
  input.addEventListener('input', () => onInput(input.value.trim().toLowerCase()));
  return input;
}

export function definitionList(rows) {
  return h('dl', { class: 'details' }, rows.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', { class: 'offscreen', readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}
