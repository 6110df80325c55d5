// Connections: the list, the summary page, and the dialogs that connect, revoke,
// edit and delete one.

import { api } from './api.js';
import { confirmDialog, dialog } from './dialogs.js';
import { add, badge, copyText, definitionList, enc, h, header, linkButton, searchBox, time } from './dom.js';
import { toast } from './feedback.js';
import { field, textField } from './forms.js';
import { AUTH_LABELS, AVAILABLE_AUTH, isOAuth, needsClient, PARAM_TYPES } from './model.js';
import { go, render } from './router.js';

/** Asks for a connection's credentials (password inputs) and connects it. */
export async function connectDialog(conn) {
  if (!conn.service.auth_type) {
    toast(`The service of ${conn.link_name} was deleted: it cannot be connected.`);
    return null;
  }
  let service;
  try {
    service = await api('GET', `/services/${enc(conn.service.link_name)}`);
  } catch (err) {
    toast(err.message);
    return null;
  }
  const auth = service.auth;
  const secret = (label, name, hint, first) => {
    const input = h('input', { type: 'password', name, autocomplete: 'off', spellcheck: 'false', autofocus: first, required: true });
    return field(label, input, { hint, required: true });
  };
  let content;
  if (isOAuth(auth.type)) return oauthConnect(conn, service);
  if (!AVAILABLE_AUTH.includes(auth.type)) {
    toast(`${AUTH_LABELS[auth.type] || auth.type} connections are connected with the CLI for now.`);
    return null;
  }
  if (auth.type === 'aws_sigv4') {
    const id = h('input', { type: 'text', name: 'access_key_id', autocomplete: 'off', spellcheck: 'false', autofocus: true, required: true, maxlength: 128 });
    const token = h('input', { type: 'password', name: 'session_token', autocomplete: 'off', spellcheck: 'false', maxlength: 8192 });
    content = [
      h('p', {}, `AWS credentials for ${service.display_name} (${auth.service}, ${auth.region}). Sealed on the host; requests are signed there.`),
      field('Access key id', id, { required: true }),
      secret('Secret access key', 'secret_access_key', null, false),
      field('Session token', token, { hint: 'Only for temporary credentials.' }),
    ];
  } else if (auth.type === 'api_key') {
    content = [
      h('p', {}, `Enter the values ${service.display_name} gave you. They are sealed on the host and never shown again.`),
      auth.params.map((p, i) => secret(p.display_name, `value:${p.name}`,
        `Sent as ${PARAM_TYPES.find(([t]) => t === p.param_type)?.[1].toLowerCase() ?? p.param_type} parameter “${p.name}”.`, i === 0)),
    ];
  } else {
    const user = h('input', { type: 'text', name: 'username', autocomplete: 'off', spellcheck: 'false', autofocus: true, required: true });
    content = [
      h('p', {}, `Sent to ${service.display_name} as Authorization: Basic. Sealed on the host, never shown again.`),
      field('Username', user, { required: true, hint: 'No “:” in a username.' }),
      secret('Password', 'password', null, false),
    ];
  }
  const verb = conn.status === 'not_connected' ? 'Connect' : 'Reconnect';
  return dialog({
    title: `${verb} ${conn.display_name}`,
    content,
    submitLabel: verb,
    onSubmit: async (form) => {
      const data = new FormData(form);
      let body;
      if (auth.type === 'api_key') {
        body = { values: {} };
        for (const p of auth.params) body.values[p.name] = data.get(`value:${p.name}`);
      } else if (auth.type === 'aws_sigv4') {
        body = { access_key_id: data.get('access_key_id').trim(), secret_access_key: data.get('secret_access_key') };
        if (data.get('session_token')) body.session_token = data.get('session_token');
      } else {
        body = { username: data.get('username'), password: data.get('password') };
      }
      const view = await api('POST', `/connections/${enc(conn.link_name)}/connect`, { json: body });
      toast(`${view.display_name} is connected.`);
      return view;
    },
  });
}

/**
 * OAuth 2 and OAuth 1.0a: the host answers an `authorize_url` (its own /oauth/start) for
 * the authorization-code grant and OAuth 1, where the browser goes to sign in at the
 * provider; client credentials connect at once. A default service without its OAuth
 * client is refused by the API (`client_not_configured`), shown in the dialog.
 */
function oauthConnect(conn, service) {
  const interactive = service.auth.type === 'oauth1' || service.auth.grant_type !== 'client_credentials';
  const verb = conn.status === 'not_connected' ? 'Connect' : 'Reconnect';
  return dialog({
    title: `${verb} ${conn.display_name}`,
    content: [
      h('p', {}, interactive
        ? `You will sign in at ${service.display_name} and allow access; the provider then sends this browser back to the host, which finishes the connection. Come back to this page afterwards.`
        : `The host asks ${service.display_name} for a token now (client credentials).`),
      needsClient(service) ? h('div', { class: 'callout warn' },
        `${service.display_name} has no OAuth client yet: set its client id and secret on its page (Services, ${service.display_name}) first.`) : null,
    ],
    submitLabel: interactive ? 'Continue to sign in' : verb,
    onSubmit: async () => {
      const view = await api('POST', `/connections/${enc(conn.link_name)}/connect`, { json: {} });
      if (view.authorize_url) {
        window.location.assign(view.authorize_url);
      } else {
        toast(`${view.display_name} is connected.`);
      }
      return view;
    },
  });
}

async function revokeConnection(conn) {
  return confirmDialog({
    title: `Revoke ${conn.display_name}?`,
    message: ['The stored credentials are erased. The connection and its grants are kept; connect it again to use it.'],
    confirmLabel: 'Revoke',
    onConfirm: async () => {
      const view = await api('POST', `/connections/${enc(conn.link_name)}/revoke`);
      toast(`${conn.display_name} is revoked.`);
      return view;
    },
  });
}

async function deleteConnection(conn) {
  return confirmDialog({
    title: `Delete ${conn.display_name}?`,
    message: [`The connection ${conn.link_name}, its credentials, its grants and its activity are deleted. Functions that use it will get “unknown-connection”.`],
    confirmLabel: 'Delete',
    onConfirm: async () => {
      await api('DELETE', `/connections/${enc(conn.link_name)}`);
      toast(`${conn.display_name} is deleted.`);
      return true;
    },
  });
}

async function editConnection(conn) {
  let service = null;
  if (conn.service.auth_type) {
    try {
      service = await api('GET', `/services/${enc(conn.service.link_name)}`);
    } catch {
      service = null;
    }
  }
  const name = textField('Connection name', { name: 'display_name', value: conn.display_name, required: true });
  const params = (service?.dynamic_params || []).map((p) =>
    textField(p.display_name, {
      name: `param:${p.key}`, value: conn.params[p.key] ?? '', required: true, maxlength: 200,
      hint: p.pattern ? `{${p.key}}; must match ${p.pattern}` : `{${p.key}}`,
    }));
  return dialog({
    title: `Edit ${conn.display_name}`,
    content: [
      name,
      params.length ? h('div', { class: 'callout warn' }, 'Changing a parameter value changes where the credentials go, so it revokes the connection: connect it again afterwards.') : null,
      params,
    ],
    onSubmit: async (form) => {
      const data = new FormData(form);
      const body = { display_name: data.get('display_name') };
      const values = {};
      let changed = false;
      for (const p of service?.dynamic_params || []) {
        values[p.key] = data.get(`param:${p.key}`);
        if (values[p.key] !== (conn.params[p.key] ?? '')) changed = true;
      }
      if (changed) body.params = values;
      const view = await api('PATCH', `/connections/${enc(conn.link_name)}`, { json: body });
      toast(changed && view.status === 'revoked' ? `Saved; ${view.display_name} was revoked: connect it again.` : 'Saved.');
      return view;
    },
  });
}

// ---------------------------------------------------------------- pages

function connectionActions(conn, { onChange, compact = true } = {}) {
  const can = !!conn.service.auth_type;
  const acts = [];
  const run = (fn) => async (e) => {
    const result = await fn(conn);
    if (result) onChange(result, e);
  };
  acts.push(h('button', { type: 'button', class: 'btn small', onclick: run(editConnection) }, 'Edit'));
  if (can) {
    acts.push(h('button', { type: 'button', class: 'btn small', onclick: run(connectDialog) },
      conn.status === 'not_connected' ? 'Connect' : 'Reconnect'));
  }
  if (conn.status === 'connected' || conn.status === 'needs_reconnect') {
    acts.push(h('button', { type: 'button', class: 'btn small', onclick: run(revokeConnection) }, 'Revoke'));
  }
  acts.push(h('button', { type: 'button', class: 'btn small danger-text', onclick: run(deleteConnection) }, 'Delete'));
  return h('div', { class: compact ? 'row-actions' : 'page-actions', role: 'group', 'aria-label': `Actions for ${conn.display_name}` }, acts);
}

export async function pageConnections(page) {
  const { connections } = await api('GET', '/connections');
  const list = h('ul', { class: 'rows', 'aria-label': 'My connections' });
  const empty = h('p', { class: 'empty', hidden: true }, 'No connection matches.');
  const draw = (filter = '') => {
    const shown = connections.filter((c) => !filter
      || [c.display_name, c.link_name, c.service.display_name, c.service.link_name, c.status]
        .some((s) => s.toLowerCase().includes(filter)));
    empty.hidden = shown.length > 0 || connections.length === 0;
    list.replaceChildren(...shown.map((c) => h('li', { class: 'row', 'data-link': c.link_name },
      h('div', { class: 'row-main' },
        h('a', { href: `#/connections/${enc(c.link_name)}`, class: 'row-title' }, c.display_name),
        h('div', { class: 'row-sub' },
          h('code', {}, c.link_name), ' · ',
          c.service.display_name || h('span', { class: 'muted' }, `${c.service.link_name} (deleted)`),
          c.granted_to.length ? ` · used by ${c.granted_to.join(', ')}` : '')),
      badge(c.status),
      connectionActions(c, { onChange: () => render() }))));
  };
  draw();
  add(page,
    header(h('h1', { tabindex: '-1' }, 'My connections'),
      linkButton('#/connections/new', 'Create connection', 'btn primary')),
    connections.length === 0
      ? h('div', { class: 'empty-state card' },
        h('h2', {}, 'No connections yet'),
        h('p', {}, 'A connection is one account of a service: the host keeps its credentials and adds them to the requests of the functions you grant it to.'),
        linkButton('#/connections/new', 'Create your first connection', 'btn primary'))
      : [h('div', { class: 'toolbar' }, searchBox('Search connections', draw), h('span', { class: 'muted' }, `${connections.length} connection${connections.length === 1 ? '' : 's'}`)), list, empty]);
}

export async function pageConnection(page, link) {
  const [conn, activity] = await Promise.all([
    api('GET', `/connections/${enc(link)}`),
    api('GET', `/connections/${enc(link)}/activity?limit=20`),
  ]);
  const after = (result) => {
    if (result === true) go('#/connections');
    else render();
  };
  const copy = h('button', {
    type: 'button', class: 'btn small',
    onclick: async () => {
      const ok = await copyText(conn.snippet);
      copy.textContent = ok ? 'Copied' : 'Copy failed';
      toast(ok ? 'The snippet is on the clipboard.' : 'Select the snippet and copy it by hand.');
      setTimeout(() => { copy.textContent = 'Copy'; }, 2000);
    },
  }, 'Copy');
  add(page,
    h('p', { class: 'crumbs' }, h('a', { href: '#/connections' }, 'My connections'), ' / Connection summary'),
    header(h('div', {}, h('h1', { tabindex: '-1' }, conn.display_name), ' ', badge(conn.status)),
      connectionActions(conn, { onChange: after, compact: false })),
    conn.status === 'not_connected' ? h('div', { class: 'callout' }, 'Not connected yet: give its credentials with Connect.') : null,
    conn.status === 'revoked' ? h('div', { class: 'callout warn' }, `Revoked${conn.status_reason ? `: ${conn.status_reason}` : ''}. Functions get “needs-reconnect” until it is connected again.`) : null,
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'sum-details' },
        h('h2', { id: 'sum-details' }, 'Details'),
        definitionList([
          ['Link name', h('code', {}, conn.link_name)],
          ['Service', conn.service.auth_type
            ? h('a', { href: `#/services/${enc(conn.service.link_name)}` }, conn.service.display_name)
            : h('span', {}, h('code', {}, conn.service.link_name), ' (deleted)')],
          ['Authentication', AUTH_LABELS[conn.service.auth_type] || '—'],
          ['Status', badge(conn.status)],
          ['Status reason', conn.status_reason || h('span', { class: 'muted' }, '—')],
          ['Credentials set', conn.credentials.length ? conn.credentials.map((c) => h('code', { class: 'tag' }, c)) : h('span', { class: 'muted' }, 'none')],
          ['Parameters', Object.keys(conn.params).length
            ? h('ul', { class: 'plain' }, Object.entries(conn.params).map(([k, v]) => h('li', {}, h('code', {}, `{${k}}`), ' = ', v)))
            : h('span', { class: 'muted' }, 'none')],
          ['API origins', conn.api_origins.length
            ? h('ul', { class: 'plain' }, conn.api_origins.map((o) => h('li', {}, h('code', {}, o))))
            : h('span', { class: 'muted' }, 'none')],
          ['Granted to', conn.granted_to.length
            ? h('ul', { class: 'plain' }, conn.granted_to.map((f) => h('li', {}, h('a', { href: `#/functions/${enc(f)}` }, f))))
            : h('span', { class: 'muted' }, 'no function yet (grant it on a function\'s page)')],
          ['Created', [time(conn.created_at), ` by ${conn.created_by}`]],
          ['Updated', time(conn.updated_at)],
          ['Connected', time(conn.connected_at)],
          ['Revoked', time(conn.revoked_at)],
        ])),
      h('section', { class: 'card', 'aria-labelledby': 'sum-snippet' },
        h('div', { class: 'card-head' }, h('h2', { id: 'sum-snippet' }, 'Use it in a function'), copy),
        h('p', { class: 'muted' }, 'Paste into a function (Rust, switchboard-sdk). The host adds the credentials; the function never sees them.'),
        h('pre', { class: 'code', tabindex: '0', 'aria-label': 'SDK snippet' }, h('code', { class: 'snippet' }, conn.snippet)))),
    h('section', { class: 'card', 'aria-labelledby': 'sum-activity' },
      h('h2', { id: 'sum-activity' }, 'Recent activity'),
      activityTable(activity.activity.slice().reverse(), { showConnection: false })));
}

export function activityTable(records, { showConnection }) {
  if (!records.length) return h('p', { class: 'muted' }, 'No use yet.');
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Time', showConnection ? 'Connection' : 'Function', 'Request', 'Status', 'Outcome', 'Duration'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, records.map((r) => h('tr', {},
      h('td', {}, time(r.time)),
      h('td', {}, showConnection ? h('a', { href: `#/connections/${enc(r.connection)}` }, r.connection) : h('a', { href: `#/functions/${enc(r.function)}` }, r.function)),
      h('td', {}, h('code', {}, `${r.method} ${r.origin}${r.path}`)),
      h('td', {}, r.status ?? '—'),
      h('td', {}, h('span', { class: r.outcome === 'ok' ? 'ok' : 'bad' }, r.outcome)),
      h('td', {}, `${Number(r.duration_ms).toFixed(1)} ms`))))));
}
