// The Create connection page: Pick your service and Custom service tabs, then the
// connection details, then Create and connect.

import { api } from './api.js';
import { serviceBrowser } from './catalog.js';
import { connectDialog } from './connections.js';
import { add, enc, h, header, kindBadge, linkButton } from './dom.js';
import { busy, errorSlot } from './feedback.js';
import { linkNameField, textField } from './forms.js';
import { AUTH_LABELS, needsClient } from './model.js';
import { go } from './router.js';
import { serviceFields } from './service-form.js';

export async function pageNewConnection(page, query) {
  const [{ services }, { connections }] = await Promise.all([api('GET', '/services'), api('GET', '/connections')]);
  const takenConn = (v) => (connections.some((c) => c.link_name === v) ? 'Another connection has this link name.' : '');
  const categories = [...new Set(services.map((s) => s.category).filter(Boolean))].sort();
  let selected = services.find((s) => s.link_name === query.get('service')) || null;
  let createdService = null; // the custom service made by an earlier attempt, if its connection failed

  // Tabs (ARIA tabs pattern: arrows move between tabs).
  const tabs = [['pick', 'Pick your service'], ['custom', 'Custom service']];
  let current = services.length === 0 && !selected ? 'custom' : 'pick'; // the catalogue is never empty
  const tabButtons = {};
  const panels = {};
  const tablist = h('div', { role: 'tablist', 'aria-label': 'Service source', class: 'tabs' });
  for (const [id, label] of tabs) {
    tabButtons[id] = h('button', {
      type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `panel-${id}`,
      onclick: () => selectTab(id),
      onkeydown: (e) => {
        if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
          const other = id === 'pick' ? 'custom' : 'pick';
          selectTab(other);
          tabButtons[other].focus();
          e.preventDefault();
        }
      },
    }, label);
    tablist.append(tabButtons[id]);
  }

  // Pick your service: default and custom services by category.
  const browser = serviceBrowser(services, {
    selected,
    onPick: (s) => {
      selected = s;
      drawParams();
      details.querySelector('input').focus();
    },
  });
  panels.pick = h('div', { role: 'tabpanel', id: 'panel-pick', 'aria-labelledby': 'tab-pick', class: 'panel' },
    services.length ? browser.element
      : h('p', { class: 'muted' }, 'No services yet. Describe one on the Custom service tab.'));
  if (selected) setTimeout(() => browser.reveal(selected.link_name), 0);

  // Custom service.
  const custom = serviceFields(null, { categories, onDynamicChange: () => drawParams() });
  panels.custom = h('div', { role: 'tabpanel', id: 'panel-custom', 'aria-labelledby': 'tab-custom', class: 'panel' },
    h('fieldset', {}, h('legend', {}, 'Service details'), custom.element));

  // Connection details.
  const connName = textField('Connection name', { name: 'display_name', required: true, hint: 'Up to 50 characters.' });
  const connLink = linkNameField('Link name', { source: connName.input, taken: takenConn, hint: 'What functions pass to invoke_url. A lower-case letter, then lower-case letters, digits or _; at most 50.' });
  const paramsBox = h('div', { class: 'params-box' });
  const paramValues = {};
  const dynamicOf = () => (current === 'pick' ? selected?.dynamic_params || [] : custom.dynamicParams());
  function drawParams() {
    for (const i of paramsBox.querySelectorAll('input')) paramValues[i.dataset.key] = i.value;
    const params = dynamicOf();
    paramsBox.replaceChildren(...params.map((p) => {
      const f = textField(p.display_name || p.key, {
        name: `param:${p.key}`, value: paramValues[p.key] || '', required: true, maxlength: 200,
        hint: p.pattern ? `{${p.key}}; must match ${p.pattern}` : `Fills {${p.key}}.`,
      });
      f.input.dataset.key = p.key;
      return f;
    }));
    chosen.replaceChildren();
    add(chosen, current === 'pick'
      ? (selected ? ['Service: ', h('strong', {}, selected.display_name), ` (${AUTH_LABELS[selected.auth.type]}) `, kindBadge(selected.kind)] : 'Pick a service above.')
      : 'Service: the custom service described above.');
    clientNote.hidden = !(current === 'pick' && selected && needsClient(selected));
    if (!clientNote.hidden) {
      clientNote.replaceChildren(`${selected.display_name} has no OAuth client yet: the connection can be created, but connecting it needs the client id and secret of your app at ${selected.display_name}, set on `,
        h('a', { href: `#/services/${enc(selected.link_name)}` }, `${selected.display_name}’s service page`), '.');
    }
  }
  const chosen = h('p', { class: 'chosen', 'aria-live': 'polite' });
  const clientNote = h('div', { class: 'callout warn', hidden: true });
  const slot = errorSlot();
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Create and connect');
  const details = h('fieldset', {},
    h('legend', {}, 'Connection details'),
    chosen,
    clientNote,
    h('div', { class: 'two' }, connName, connLink),
    paramsBox);
  const form = h('form', { class: 'card create-form', method: 'post', novalidate: true },
    tablist, panels.pick, panels.custom, details, slot.el,
    h('div', { class: 'actions' }, submit, linkButton('#/connections', 'Cancel')));
  slot.watch(form);

  function selectTab(id) {
    current = id;
    for (const [t] of tabs) {
      tabButtons[t].setAttribute('aria-selected', String(t === id));
      tabButtons[t].tabIndex = t === id ? 0 : -1;
      panels[t].hidden = t !== id;
    }
    slot.clear();
    drawParams();
  }
  selectTab(current);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    slot.clear();
    let definition = null;
    try {
      if (current === 'pick' && !selected) throw Object.assign(new Error('Pick a service, or describe one on the Custom service tab.'), { focus: browser.search.isConnected ? browser.search : tabButtons.custom });
      if (current === 'custom' && !createdService) definition = custom.read();
      const problems = [];
      if (!connName.input.value.trim()) {
        connName.setError('Required.');
        problems.push([connName.input, 'Connection name: required.']);
      } else connName.setError('');
      const linkProblem = connLink.check();
      if (linkProblem) problems.push([connLink.input, `Link name: ${linkProblem}`]);
      if (problems.length) throw Object.assign(new Error(problems.map(([, m]) => m).join(' ')), { focus: problems[0][0] });
    } catch (err) {
      slot.show(err);
      err.focus?.focus();
      return;
    }
    const view = await busy(submit, slot, async () => {
      let service = current === 'pick' ? selected : createdService;
      if (!service) {
        service = await api('POST', '/services', { json: definition });
        createdService = service;
        services.push(service);
      }
      const params = {};
      for (const i of paramsBox.querySelectorAll('input')) params[i.dataset.key] = i.value;
      return api('POST', '/connections', {
        json: { link_name: connLink.input.value, display_name: connName.input.value.trim(), service: service.link_name, params },
      });
    });
    if (!view) {
      if (createdService && current === 'custom') {
        slot.el.append(h('p', {}, `The service ${createdService.display_name} was created; fix the connection details and try again (the service is not created twice).`));
      }
      return;
    }
    await connectDialog(view);
    go(`#/connections/${enc(view.link_name)}`);
  });

  add(page,
    h('p', { class: 'crumbs' }, h('a', { href: '#/connections' }, 'My connections'), ' / Create connection'),
    header(h('h1', { tabindex: '-1' }, 'Create connection')),
    form);
}
