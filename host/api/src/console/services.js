// Services: the list, a service's page (with a default OAuth service's client), and
// the create and edit form.

import { api } from './api.js';
import { categoryLabel, serviceBrowser } from './catalog.js';
import { confirmDialog } from './dialogs.js';
import { add, badge, definitionList, enc, h, header, kindBadge, linkButton, time } from './dom.js';
import { busy, errorSlot, toast } from './feedback.js';
import { field, textField } from './forms.js';
import { AUTH_LABELS, isOAuth, PARAM_TYPES, webUrl } from './model.js';
import { go, render } from './router.js';
import { serviceFields } from './service-form.js';

export async function pageServices(page) {
  const { services } = await api('GET', '/services');
  const defaults = services.filter((s) => s.kind === 'default').length;
  const browser = serviceBrowser(services, { kindFilter: true, headingLevel: 'h2' });
  add(page,
    header(h('h1', { tabindex: '-1' }, 'Services'), linkButton('#/services/new', 'Create service', 'btn primary')),
    h('p', { class: 'muted' },
      `${defaults} default service${defaults === 1 ? '' : 's'} (the built-in catalogue, read-only) and ${services.length - defaults} custom: `,
      'an API’s auth type, its fields and the origins its credentials may go to.'),
    services.length
      ? browser.element
      : h('div', { class: 'empty-state card' }, h('h2', {}, 'No services yet'),
        h('p', {}, 'Describe an API once; then connect as many accounts as you need.'),
        linkButton('#/services/new', 'Create service', 'btn primary')));
}

/** Rows of the service's authentication settings (no secret is ever in a view). */
function authRows(service) {
  const a = service.auth;
  const url = (u) => (u ? h('code', { class: 'url' }, u) : h('span', { class: 'muted' }, '—'));
  if (a.type === 'aws_sigv4') return [['AWS service', h('code', {}, a.service)], ['AWS region', h('code', {}, a.region)]];
  if (a.type === 'api_key') {
    return [['Parameters', h('ul', { class: 'plain' }, a.params.map((p) =>
      h('li', {}, h('code', {}, p.name), ` — ${p.display_name} (${PARAM_TYPES.find(([t]) => t === p.param_type)?.[1] ?? p.param_type})`)))]];
  }
  if (a.type === 'oauth2') {
    return [
      ['Grant type', a.grant_type === 'client_credentials' ? 'Client credentials' : 'Authorization code'],
      a.grant_type !== 'client_credentials' ? ['Authorize URL', url(a.authorize_url)] : null,
      ['Token URL', url(a.access_token_url)],
      ['Scopes', a.scopes?.length ? h('span', { class: 'tags' }, a.scopes.map((sc) => h('code', { class: 'tag' }, sc))) : h('span', { class: 'muted' }, 'none')],
    ];
  }
  if (a.type === 'oauth1') {
    return [
      ['Request token URL', url(a.request_token_url)],
      ['Authorize URL', url(a.authorize_url)],
      ['Access token URL', url(a.access_token_url)],
      ['Signature', `${a.signature_method || 'HMAC-SHA1'}, parameters in the ${a.param_type || 'header'}`],
    ];
  }
  return [];
}

/**
 * The OAuth client card of a default OAuth service: whether the operator's client is
 * set, and a form to set it (`PUT /services/{link}/client`; the secret in a password
 * input, never shown again). Custom services keep their client in their definition.
 */
function oauthClientCard(service) {
  const oauth1 = service.auth.type === 'oauth1';
  const idLabel = oauth1 ? 'Consumer key' : 'Client id';
  const secretLabel = oauth1 ? 'Consumer secret' : 'Client secret';
  const currentId = oauth1 ? service.auth.consumer_key : service.auth.client_id;
  const set = !!service.client_secret_set && !!currentId;
  const statusLine = h('p', { class: 'client-status' },
    h('span', { class: set ? 'badge badge-connected' : 'badge badge-needs_reconnect' }, set ? 'Client set' : 'No client yet'),
    ' ',
    set ? [`${idLabel} `, h('code', {}, currentId)] : `Connections of ${service.display_name} cannot be connected until it is set.`);
  if (service.kind !== 'default') {
    return h('section', { class: 'card', 'aria-labelledby': 'svc-client' },
      h('h2', { id: 'svc-client' }, 'OAuth client'),
      h('p', { class: 'client-status' },
        h('span', { class: service.client_secret_set ? 'badge badge-connected' : 'badge badge-needs_reconnect' },
          service.client_secret_set ? 'Secret set' : 'No secret yet'),
        ' ', currentId ? [`${idLabel} `, h('code', {}, currentId)] : null),
      h('p', { class: 'muted' }, 'A custom service’s client is part of its definition: change it with the CLI or the API.'));
  }
  const slot = errorSlot();
  const id = textField(idLabel, { name: 'client_id', value: currentId || '', required: true, maxlength: 500 });
  id.input.spellcheck = false;
  const secret = h('input', { type: 'password', name: 'client_secret', autocomplete: 'new-password', spellcheck: 'false', required: true, maxlength: 8192 });
  const n = service.connections || 0;
  const secretField = field(secretLabel, secret, {
    required: true,
    hint: `Sealed on the host and never shown again.${set ? ' Give it again to replace the client.' : ''}`,
  });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, set ? 'Replace client' : 'Set client');
  const callback = `${location.origin}/oauth/callback`;
  const form = h('form', { method: 'post', novalidate: true, class: 'client-form' },
    h('p', { class: 'muted' },
      `Register an app with ${service.display_name} and give its ${idLabel.toLowerCase()} and ${secretLabel.toLowerCase()} here. Its redirect (callback) URI is `,
      h('code', {}, callback), ' (with ', h('code', {}, '--public-url'), ', that URL followed by ', h('code', {}, '/oauth/callback'), ').'),
    id, secretField,
    set && n ? h('div', { class: 'callout warn' }, `A different client revokes the ${n} connection${n === 1 ? '' : 's'} of ${service.display_name}: their tokens belong to the old client.`) : null,
    slot.el,
    h('div', { class: 'actions' }, submit));
  slot.watch(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    slot.clear();
    const problems = [];
    for (const [f, input, label] of [[id, id.input, idLabel], [secretField, secret, secretLabel]]) {
      const bad = !input.value.trim();
      f.setError(bad ? 'Required.' : '');
      if (bad) problems.push([input, `${label}: required.`]);
    }
    if (problems.length) {
      slot.show({ message: problems.map(([, m]) => m).join(' ') });
      problems[0][0].focus();
      return;
    }
    const view = await busy(submit, slot, () => api('PUT', `/services/${enc(service.link_name)}/client`, {
      json: { client_id: id.input.value.trim(), client_secret: secret.value },
    }));
    if (view) {
      secret.value = '';
      const revoked = view.revoked_connections || [];
      toast(`${service.display_name}: OAuth client set.${revoked.length ? ` Revoked: ${revoked.join(', ')}.` : ''}`);
      render();
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'svc-client' },
    h('h2', { id: 'svc-client' }, 'OAuth client'), statusLine, form);
}

export async function pageService(page, link) {
  const [service, { connections }] = await Promise.all([api('GET', `/services/${enc(link)}`), api('GET', '/connections')]);
  const mine = connections.filter((c) => c.service.link_name === service.link_name);
  const isDefault = service.kind === 'default';
  const del = isDefault ? null : h('button', {
    type: 'button', class: 'btn danger-text',
    onclick: async () => {
      const done = await confirmDialog({
        title: `Delete ${service.display_name}?`,
        message: [mine.length
          ? `Its ${mine.length} connection${mine.length === 1 ? '' : 's'} (${mine.map((c) => c.link_name).join(', ')}) will be kept but revoked, and can no longer be connected.`
          : 'No connection uses it.'],
        confirmLabel: 'Delete service',
        onConfirm: () => api('DELETE', `/services/${enc(service.link_name)}`),
      });
      if (done) {
        toast(`${service.display_name} is deleted${done.revoked_connections?.length ? `; revoked ${done.revoked_connections.join(', ')}` : ''}.`);
        go('#/services');
      }
    },
  }, 'Delete');
  const a = service.auth;
  const docs = webUrl(service.docs_url);
  const actions = [linkButton(`#/connections/new?service=${enc(service.link_name)}`, 'Create connection', 'btn primary')];
  if (!isDefault) actions.push(linkButton(`#/services/${enc(service.link_name)}/edit`, 'Edit'), del);
  add(page,
    h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), ' / Service'),
    header(h('div', {}, h('h1', { tabindex: '-1' }, service.display_name), ' ', kindBadge(service.kind)), ...actions),
    isDefault ? h('div', { class: 'callout', role: 'note' },
      h('strong', {}, 'Default service, read-only. '),
      `It comes with the host’s built-in catalogue and cannot be edited or deleted; to change it, create a custom service with another link name (`,
      h('code', {}, `switchboard service show ${service.link_name}`), ' prints its definition).') : null,
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'svc-details' },
        h('h2', { id: 'svc-details' }, 'Service details'),
        definitionList([
          ['Link name', h('code', {}, service.link_name)],
          ['Kind', isDefault ? 'Default (built-in catalogue)' : 'Custom'],
          ['Authentication', AUTH_LABELS[a.type] || a.type],
          ...authRows(service),
          ['Dynamic parameters', service.dynamic_params.length
            ? h('ul', { class: 'plain' }, service.dynamic_params.map((p) => h('li', {}, h('code', {}, `{${p.key}}`), ` — ${p.display_name}`, p.pattern ? [' ', h('code', {}, p.pattern)] : '')))
            : h('span', { class: 'muted' }, 'none')],
          ['API origins', service.api_origins.length
            ? h('ul', { class: 'plain' }, service.api_origins.map((o) => h('li', {}, h('code', {}, o))))
            : h('span', { class: 'muted' }, a.type === 'aws_sigv4' ? 'AWS\'s endpoint for the service and region' : 'none')],
          ['Category', service.category ? categoryLabel(service.category) : h('span', { class: 'muted' }, '—')],
          ['Description', service.description || h('span', { class: 'muted' }, '—')],
          docs ? ['Documentation', h('a', { href: docs, target: '_blank', rel: 'noopener noreferrer', class: 'docs-link' },
            `${service.display_name} documentation`, h('span', { class: 'visually-hidden' }, ' (opens in a new tab)'),
            h('span', { class: 'docs-host', 'aria-hidden': 'true' }, ` ${new URL(docs).host} ↗`))] : null,
          isDefault ? ['Updated', time(service.updated_at)] : ['Created', [time(service.created_at), ` by ${service.created_by}`]],
          isDefault ? null : ['Updated', time(service.updated_at)],
        ])),
      h('div', { class: 'stack' },
        isOAuth(a.type) ? oauthClientCard(service) : null,
        h('section', { class: 'card', 'aria-labelledby': 'svc-conns' },
          h('h2', { id: 'svc-conns' }, `Connections (${mine.length})`),
          mine.length
            ? h('ul', { class: 'plain list' }, mine.map((c) => h('li', {}, h('a', { href: `#/connections/${enc(c.link_name)}` }, c.display_name), ' ', badge(c.status))))
            : h('p', { class: 'muted' }, 'None yet.')))));
}

export async function pageServiceForm(page, link) {
  const [existing, { services }] = await Promise.all([
    link ? api('GET', `/services/${enc(link)}`) : null,
    api('GET', '/services'),
  ]);
  if (existing?.kind === 'default') {
    add(page,
      h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), ' / ', h('a', { href: `#/services/${enc(existing.link_name)}` }, existing.display_name), ' / Edit'),
      header(h('h1', { tabindex: '-1' }, `${existing.display_name} is read-only`)),
      h('div', { class: 'callout' }, 'Default services come with the host and cannot be edited. To change one, create a custom service with another link name.'),
      h('p', {}, linkButton('#/services/new', 'Create service', 'btn primary'), ' ', linkButton(`#/services/${enc(existing.link_name)}`, `Back to ${existing.display_name}`)));
    return;
  }
  const categories = [...new Set(services.map((s) => s.category).filter(Boolean))].sort();
  const fields = serviceFields(existing, { categories });
  const slot = errorSlot();
  const n = existing?.connections || 0;
  const submit = h('button', { type: 'submit', class: 'btn primary' },
    existing ? (n ? `Save and revoke ${n} connection${n === 1 ? '' : 's'}` : 'Save') : 'Create service');
  const form = h('form', { class: 'card', method: 'post', novalidate: true },
    existing ? h('div', { class: 'callout warn', role: 'note' },
      h('strong', {}, 'Editing revokes connections. '),
      `Saving any change revokes every connection of this service (${n} now): their credentials are erased and they must be connected again. The link name and the authentication type never change; API-key parameters can be added or edited, not removed.`) : null,
    fields.element, slot.el,
    h('div', { class: 'actions' }, submit, linkButton(existing ? `#/services/${enc(existing.link_name)}` : '#/services', 'Cancel')));
  slot.watch(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let def;
    try {
      def = fields.read();
    } catch (err) {
      slot.show(err);
      err.focus?.focus();
      return;
    }
    const view = await busy(submit, slot, () => (existing
      ? api('PUT', `/services/${enc(existing.link_name)}`, { json: def })
      : api('POST', '/services', { json: def })));
    if (view) {
      const revoked = view.revoked_connections || [];
      toast(existing ? `Saved.${revoked.length ? ` Revoked: ${revoked.join(', ')}.` : ''}` : `${view.display_name} is created.`);
      go(`#/services/${enc(view.link_name)}`);
    }
  });
  add(page,
    h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), existing ? [' / ', h('a', { href: `#/services/${enc(existing.link_name)}` }, existing.display_name)] : '', existing ? ' / Edit' : ' / Create'),
    header(h('h1', { tabindex: '-1' }, existing ? `Edit ${existing.display_name}` : 'Create service')),
    form);
}
