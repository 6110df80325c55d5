// The service fields: create, the Custom service tab, edit.

import { h, uid } from './dom.js';
import { field, linkNameField, selectField, textField } from './forms.js';
import { AUTH_LABELS, AVAILABLE_AUTH, AWS_NAME, PARAM_TYPES } from './model.js';

/**
 * The service fields (create, the Custom service tab, edit). `existing` is a service
 * view when editing: link name and auth type are read-only, API-key parameters can be
 * edited but not removed. `read()` returns the definition, or throws with what to fix.
 */
export function serviceFields(existing, { categories = [], onDynamicChange } = {}) {
  const def = existing || {
    link_name: '', display_name: '', auth: { type: 'api_key', params: [] },
    dynamic_params: [], api_origins: [], category: null, description: null,
  };
  const editing = !!existing;
  const name = textField('Service name', { name: 'service_display_name', value: def.display_name, required: true, hint: 'Up to 50 characters.' });
  const link = linkNameField('Service link name', { value: def.link_name, readonly: editing, source: name.input });
  const authOptions = Object.entries(AUTH_LABELS).map(([v, l]) =>
    [v, AVAILABLE_AUTH.includes(v) ? l : `${l} (${v === 'oauth2' ? 'with the CLI or API for now' : 'coming later'})`, { disabled: !AVAILABLE_AUTH.includes(v) && v !== def.auth.type }]);
  const auth = selectField('Authentication type', authOptions, {
    name: 'auth_type', value: def.auth.type, disabled: editing,
    hint: editing ? 'The authentication type never changes.' : 'As the API\'s documentation says.',
  });

  // API-key parameters: param type, actual parameter, display name.
  const paramRows = h('div', { class: 'rows-edit' });
  const paramHead = h('div', { class: 'row-edit head', 'aria-hidden': 'true' },
    h('span', {}, 'Param type'), h('span', {}, 'Actual parameter'), h('span', {}, 'Parameter display name'), h('span', {}));
  const addParamRow = (p = { name: '', display_name: '', param_type: 'header' }, locked = false) => {
    const n = paramRows.children.length + 1;
    const row = h('div', { class: 'row-edit', 'data-locked': locked ? '1' : null },
      h('select', { 'aria-label': `Param type ${n}`, 'data-k': 'param_type', value: p.param_type }, PARAM_TYPES.map(([v, l]) => h('option', { value: v }, l))),
      h('input', { type: 'text', 'aria-label': `Actual parameter ${n}`, 'data-k': 'name', value: p.name, readonly: locked, placeholder: 'api_key', autocomplete: 'off', spellcheck: 'false', maxlength: 100 }),
      h('input', { type: 'text', 'aria-label': `Parameter display name ${n}`, 'data-k': 'display_name', value: p.display_name, placeholder: 'API key', autocomplete: 'off', maxlength: 50 }),
      locked
        ? h('span', { class: 'lock', title: 'A saved parameter is never removed' }, 'saved')
        : h('button', {
          type: 'button', class: 'btn small icon', 'aria-label': `Remove parameter ${n}`,
          onclick: () => {
            row.remove();
            paramRows.querySelector('input:not([readonly]), select')?.focus();
          },
        }, '✕'));
    const select = row.querySelector('select');
    select.value = p.param_type;
    paramRows.append(row);
    return row;
  };
  if (def.auth.type === 'api_key') for (const p of def.auth.params) addParamRow(p, editing);
  if (!paramRows.children.length) addParamRow();
  const apiKeyBox = h('fieldset', { class: 'sub' },
    h('legend', {}, 'API key parameters'),
    h('p', { class: 'hint' }, 'Each value is asked for when connecting and sent under the actual parameter’s name.', editing ? ' Parameters can be added and edited, never removed.' : ''),
    paramHead, paramRows,
    h('button', {
      type: 'button', class: 'btn small',
      onclick: () => addParamRow().querySelector('input').focus(),
    }, '+ Add parameter'));
  const basicBox = h('div', { class: 'callout' }, 'Basic: connecting asks for a username and a password, sent as Authorization: Basic. Nothing to configure here.');
  const awsService = textField('AWS service', { name: 'aws_service', value: def.auth.service || '', required: true, maxlength: 64, placeholder: 's3', hint: 'The service requests are signed for: s3, sqs, execute-api…' });
  const awsRegion = textField('AWS region', { name: 'aws_region', value: def.auth.region || '', required: true, maxlength: 64, placeholder: 'us-east-1', hint: 'Lower-case letters, digits and -.' });
  const awsBox = h('fieldset', { class: 'sub' },
    h('legend', {}, 'AWS Signature Version 4'),
    h('p', { class: 'hint' }, 'Connecting asks for an access key id, a secret access key and, for temporary credentials, a session token. Every request is signed by the host. Leave the API origins empty to use AWS\'s endpoint for the service and region.'),
    h('div', { class: 'two' }, awsService, awsRegion));
  const showAuth = () => {
    apiKeyBox.hidden = auth.input.value !== 'api_key';
    basicBox.hidden = auth.input.value !== 'basic';
    awsBox.hidden = auth.input.value !== 'aws_sigv4';
    originsField.querySelector('.req').hidden = auth.input.value === 'aws_sigv4';
  };
  auth.input.addEventListener('change', showAuth);

  // Dynamic parameters.
  const dynRows = h('div', { class: 'rows-edit' });
  const addDynRow = (p = { key: '', display_name: '', pattern: '' }) => {
    const n = dynRows.children.length + 1;
    const row = h('div', { class: 'row-edit' },
      h('input', { type: 'text', 'aria-label': `Parameter key ${n}`, 'data-k': 'key', value: p.key, placeholder: 'domain', autocomplete: 'off', spellcheck: 'false', maxlength: 50 }),
      h('input', { type: 'text', 'aria-label': `Dynamic parameter display name ${n}`, 'data-k': 'display_name', value: p.display_name, placeholder: 'Your domain', autocomplete: 'off', maxlength: 50 }),
      h('input', { type: 'text', 'aria-label': `Pattern ${n} (optional)`, 'data-k': 'pattern', value: p.pattern || '', placeholder: '[a-z0-9-]{1,40}', autocomplete: 'off', spellcheck: 'false' }),
      h('button', {
        type: 'button', class: 'btn small icon', 'aria-label': `Remove dynamic parameter ${n}`,
        onclick: () => {
          row.remove();
          onDynamicChange?.();
        },
      }, '✕'));
    dynRows.append(row);
    return row;
  };
  for (const p of def.dynamic_params) addDynRow(p);
  dynRows.addEventListener('input', () => onDynamicChange?.());
  const dynBox = h('fieldset', { class: 'sub' },
    h('legend', {}, 'Dynamic parameters'),
    h('p', { class: 'hint' }, 'Values each connection gives, used as {key} in API origins and in the URLs functions call (a domain, an account id).'),
    h('div', { class: 'row-edit head', 'aria-hidden': 'true' }, h('span', {}, 'Key'), h('span', {}, 'Display name'), h('span', {}, 'Pattern (optional)'), h('span', {})),
    dynRows,
    h('button', {
      type: 'button', class: 'btn small',
      onclick: () => {
        addDynRow().querySelector('input').focus();
        onDynamicChange?.();
      },
    }, '+ Add dynamic parameter'));

  const origins = h('textarea', { name: 'api_origins', rows: 3, spellcheck: 'false', placeholder: 'https://api.example.com', value: def.api_origins.join('\n') });
  const originsField = field('API origins', origins, { required: true, hint: 'One per line: https://host[:port], may hold {key} placeholders. Credentials are sent to these origins and nowhere else.' });
  const listId = uid('cats');
  const category = textField('Category', { name: 'category', value: def.category || '', hint: 'Groups services on the Pick your service tab.' });
  category.input.setAttribute('list', listId);
  category.append(h('datalist', { id: listId }, categories.map((c) => h('option', { value: c }))));
  const description = h('textarea', { name: 'description', rows: 2, maxlength: 1000, value: def.description || '' });

  showAuth();
  const element = h('div', { class: 'service-fields' },
    h('div', { class: 'two' }, name, link),
    auth, apiKeyBox, basicBox, awsBox, dynBox, originsField,
    h('div', { class: 'two' }, category, field('Description', description)));

  const rowsOf = (box) => [...box.children].map((row) => {
    const o = {};
    for (const i of row.querySelectorAll('[data-k]')) o[i.dataset.k] = i.value.trim();
    return o;
  });

  return {
    element,
    focus: () => name.input.focus(),
    dynamicParams: () => rowsOf(dynRows).filter((p) => p.key),
    read() {
      const problems = [];
      name.setError('');
      if (!name.input.value.trim()) {
        name.setError('Required.');
        problems.push([name.input, 'Service name: required.']);
      }
      const linkProblem = editing ? '' : link.check();
      if (linkProblem) problems.push([link.input, `Service link name: ${linkProblem}`]);
      const type = auth.input.value;
      let authDef = { type };
      if (type === 'api_key') {
        const params = rowsOf(paramRows).filter((p) => p.name || p.display_name);
        if (!params.length) problems.push([paramRows.querySelector('input'), 'API key parameters: add at least one.']);
        params.forEach((p, i) => {
          if (!p.name || !p.display_name) problems.push([paramRows.children[i]?.querySelector('input'), `API key parameter ${i + 1}: give both the actual parameter and its display name.`]);
        });
        authDef = { type, params };
      } else if (type === 'aws_sigv4') {
        for (const f of [awsService, awsRegion]) {
          const v = f.input.value.trim();
          const problem = AWS_NAME.test(v) ? '' : (v ? '1 to 64 lower-case letters, digits and -.' : 'Required.');
          f.setError(problem);
          if (problem) problems.push([f.input, `${f.querySelector('label').firstChild.textContent}: ${problem}`]);
        }
        authDef = { type, service: awsService.input.value.trim(), region: awsRegion.input.value.trim() };
      } else if (!AVAILABLE_AUTH.includes(type)) {
        authDef = def.auth; // kept as it is (edited with the CLI until the console supports it)
      }
      const dyn = rowsOf(dynRows).filter((p) => p.key || p.display_name || p.pattern).map((p) => ({
        key: p.key, display_name: p.display_name, ...(p.pattern ? { pattern: p.pattern } : {}),
      }));
      const originList = origins.value.split('\n').map((s) => s.trim()).filter(Boolean);
      originsField.setError('');
      if (!originList.length && type !== 'aws_sigv4') {
        originsField.setError('At least one origin.');
        problems.push([origins, 'API origins: at least one, like https://api.example.com.']);
      }
      if (problems.length) {
        const err = new Error(problems.map(([, m]) => m).join(' '));
        err.focus = problems[0][0];
        throw err;
      }
      return {
        link_name: link.input.value,
        display_name: name.input.value.trim(),
        auth: authDef,
        dynamic_params: dyn,
        api_origins: originList,
        category: category.input.value.trim() || null,
        description: description.value.trim() || null,
      };
    },
  };
}
