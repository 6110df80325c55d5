// Labels and facts about the API's records (no DOM, no network).

export const LINK_MAX = 50;

export const STATUS_LABELS = {
  not_connected: 'Not connected',
  connected: 'Connected',
  revoked: 'Revoked',
  needs_reconnect: 'Needs reconnect',
};
export const AUTH_LABELS = {
  api_key: 'API key',
  basic: 'Basic',
  oauth1: 'OAuth 1',
  oauth2: 'OAuth 2',
  aws_sigv4: 'AWS Signature v4',
};
/** Auth types this console can create and connect (OAuth arrives later). */
export const AVAILABLE_AUTH = ['api_key', 'basic', 'aws_sigv4'];
export const AWS_NAME = /^[a-z0-9-]{1,64}$/;
export const PARAM_TYPES = [
  ['query', 'Query string'],
  ['form', 'Form data'],
  ['header', 'Header'],
];

export const isOAuth = (type) => type === 'oauth1' || type === 'oauth2';

/** A default OAuth service that cannot be connected yet: the operator has set no client. */
export const needsClient = (s) => s.kind === 'default' && isOAuth(s.auth.type) && !s.client_secret_set;

/** Only web links become links (a `javascript:` value would be text). */
export const webUrl = (u) => (typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null);

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
