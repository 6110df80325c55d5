// The service browser: default (the catalogue) and custom services grouped by category,
// with search and filters.

import { enc, h, kindBadge, uid } from './dom.js';
import { AUTH_LABELS, needsClient } from './model.js';

/** Category names of the catalogue are snake_case (`developer_tools`); a few are acronyms. */
const CATEGORY_WORDS = { ai: 'AI', crm: 'CRM', hr: 'HR', ecommerce: 'E-commerce' };
const UNCATEGORISED = 'Uncategorised';

/** Services are grouped by category case-insensitively: "CRM" and "crm" are one group. */
const categoryKey = (category) => (category ? category.trim().toLowerCase() : '');

export function categoryLabel(category) {
  if (!category) return UNCATEGORISED;
  const key = categoryKey(category);
  if (CATEGORY_WORDS[key]) return CATEGORY_WORDS[key];
  if (!/^[a-z0-9_]+$/.test(category)) return category; // typed by someone: as typed
  const words = category.split('_').filter(Boolean).map((w) => CATEGORY_WORDS[w] || w);
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Default and custom services grouped by category, with a search box, a category filter
 * and (`kindFilter`) a Default/Custom filter. Cards are built once and filtered by
 * hiding them, so typing stays fast with the whole catalogue. With `onPick` the cards
 * are toggle buttons (`aria-pressed`), otherwise links to the service's page.
 */
export function serviceBrowser(services, { onPick, selected = null, kindFilter = false, headingLevel = 'h3' } = {}) {
  const groups = new Map();
  for (const s of services) {
    const key = categoryKey(s.category);
    if (!groups.has(key)) groups.set(key, { label: categoryLabel(s.category), list: [] });
    groups.get(key).list.push(s);
  }
  const ordered = [...groups.entries()].sort(([a, ga], [b, gb]) =>
    (a === '') - (b === '') || ga.label.localeCompare(gb.label));
  const cards = [];
  const sections = ordered.map(([key, g]) => {
    g.list.sort((a, b) => a.display_name.localeCompare(b.display_name) || a.link_name.localeCompare(b.link_name));
    const count = h('span', { class: 'group-count' });
    const items = g.list.map((s) => {
      const auth = AUTH_LABELS[s.auth.type] || s.auth.type;
      const meta = onPick
        ? [auth, needsClient(s) ? 'OAuth client not set' : null]
        : [auth, `${s.connections} connection${s.connections === 1 ? '' : 's'}`];
      const body = [
        h('span', { class: 'service-top' }, h('span', { class: 'service-name' }, s.display_name), kindBadge(s.kind)),
        h('span', { class: 'service-meta' }, meta.filter(Boolean).join(' · ')),
        s.description ? h('span', { class: 'service-desc' }, s.description) : null,
      ];
      const el = onPick
        ? h('button', {
          type: 'button', class: 'service-card', 'data-service': s.link_name,
          'aria-pressed': String(selected?.link_name === s.link_name),
          onclick: () => {
            setSelected(s.link_name);
            onPick(s);
          },
        }, body)
        : h('a', { class: 'service-card', href: `#/services/${enc(s.link_name)}`, 'data-service': s.link_name }, body);
      const text = [s.display_name, s.link_name, s.category || '', g.label, s.description || '', auth]
        .join('\n').toLowerCase();
      const card = { s, el, text, key };
      cards.push(card);
      return card;
    });
    const section = h('section', { class: 'service-group', 'data-category': key || null },
      h(headingLevel, {}, g.label, ' ', count),
      h('div', { class: 'cards' }, items.map((c) => c.el)));
    return { key, section, items, count };
  });

  // Filters.
  const search = h('input', {
    type: 'search', placeholder: 'Search services', 'aria-label': 'Search services', autocomplete: 'off',
    spellcheck: 'false', class: 'search',
  });
  const category = h('select', { name: 'category_filter', class: 'filter-select' },
    h('option', { value: '*' }, `All categories (${services.length})`),
    ordered.map(([key, g]) => h('option', { value: key }, `${g.label} (${g.list.length})`)));
  const categoryField = h('div', { class: 'filter' }, h('label', { for: category.id = uid('cat') }, 'Filter by category'), category);
  let kind = 'all';
  const kinds = { all: services.length, default: 0, custom: 0 };
  for (const s of services) kinds[s.kind === 'default' ? 'default' : 'custom'] += 1;
  const kindName = uid('kind');
  const kindBox = kindFilter ? h('fieldset', { class: 'kind-filter' },
    h('legend', {}, 'Kind'),
    [['all', 'All'], ['default', 'Default'], ['custom', 'Custom']].map(([v, label]) => h('label', { class: 'seg' },
      h('input', {
        type: 'radio', name: kindName, value: v, checked: v === 'all',
        onchange: () => {
          kind = v;
          apply();
        },
      }),
      h('span', {}, `${label} (${kinds[v]})`)))) : null;
  const status = h('p', { class: 'muted browser-status', 'aria-live': 'polite' });

  function apply() {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const cat = category.value;
    let shown = 0;
    for (const g of sections) {
      let inGroup = 0;
      const groupOn = cat === '*' || cat === g.key;
      for (const c of g.items) {
        const on = groupOn
          && (kind === 'all' || (kind === 'default') === (c.s.kind === 'default'))
          && words.every((w) => c.text.includes(w));
        c.el.hidden = !on;
        if (on) inGroup += 1;
      }
      g.section.hidden = inGroup === 0;
      g.count.textContent = `(${inGroup})`;
      shown += inGroup;
    }
    status.textContent = shown === services.length
      ? `${services.length} service${services.length === 1 ? '' : 's'}`
      : shown ? `${shown} of ${services.length} services match.` : 'No service matches.';
  }
  search.addEventListener('input', apply);
  category.addEventListener('change', apply);

  function setSelected(link) {
    for (const c of cards) c.el.setAttribute('aria-pressed', String(c.s.link_name === link));
  }

  const list = h('div', { class: onPick ? 'service-groups service-scroll' : 'service-groups' }, sections.map((g) => g.section));
  if (onPick) {
    list.tabIndex = -1; // scrolls with the keyboard once focused; its buttons are reachable with Tab
    list.setAttribute('role', 'region');
    list.setAttribute('aria-label', 'Services');
  }
  apply();
  return {
    element: h('div', { class: 'service-browser' },
      h('div', { class: 'toolbar filters' }, search, categoryField, kindBox),
      status, list),
    search,
    /** Scrolls the selected card into the list's view (once the page is shown). */
    reveal(link) {
      const c = cards.find((x) => x.s.link_name === link);
      if (c && onPick) list.scrollTop = Math.max(0, c.el.offsetTop - 8); // the list is the cards' offsetParent
    },
  };
}
