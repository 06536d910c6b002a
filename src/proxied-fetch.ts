/**
 * The action's own HTTP requests (registry reads and tags, the SARIF upload) go through undici's
 * fetch with HTTP(S)_PROXY and NO_PROXY honoured, as a self-hosted runner behind a proxy needs:
 * Node's global fetch ignores those variables (before Node 24's NODE_USE_ENV_PROXY). One fetch for
 * all of them also keeps a second copy of undici, Node's own, from being loaded.
 */
import type * as Undici from 'undici';

/** undici's fetch, as the action's requests make them. */
export type ProxiedFetch = typeof Undici.fetch;

export function proxyConfigured(): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) =>
    Boolean(process.env[name]),
  );
}

/** undici, loaded on the first call rather than at start; later calls find it loaded. */
export const loadUndici = (): Promise<typeof Undici> => import('undici');

/**
 * A fetch whose every request goes through the proxy agent when a proxy variable is set (only
 * then is one made: undici warns on every process that creates one). A proxy variable undici
 * refuses rejects here.
 */
export async function proxiedFetch(): Promise<ProxiedFetch> {
  const { fetch, EnvHttpProxyAgent } = await loadUndici();
  if (!proxyConfigured()) return fetch;
  const dispatcher = new EnvHttpProxyAgent();
  return (input, init) => fetch(input, { ...init, dispatcher });
}
