/**
 * The action's own HTTP requests (registry reads and tags, the SARIF upload) go through undici's
 * fetch with HTTP(S)_PROXY and NO_PROXY honoured, as a self-hosted runner behind a proxy needs:
 * Node's global fetch ignores those variables (before Node 24's NODE_USE_ENV_PROXY). One fetch for
 * all of them also keeps a second copy of undici, Node's own, from being loaded.
 */
import type * as Undici from 'undici';
import type { Dispatcher } from 'undici';

export interface ProxiedFetch {
  readonly fetch: typeof Undici.fetch;
  /** Set only when a proxy variable is: undici warns on every process that creates a proxy agent. */
  readonly dispatcher?: Dispatcher;
}

export function proxyConfigured(): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) =>
    Boolean(process.env[name]),
  );
}

/** undici, loaded on the first call rather than at start; later calls find it loaded. */
export const loadUndici = (): Promise<typeof Undici> => import('undici');

/** A proxy variable undici refuses rejects here. */
export async function proxiedFetch(): Promise<ProxiedFetch> {
  const { fetch, EnvHttpProxyAgent } = await loadUndici();
  return { fetch, ...(proxyConfigured() ? { dispatcher: new EnvHttpProxyAgent() } : {}) };
}
