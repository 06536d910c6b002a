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

/** Loads undici on the first call, not at start; a proxy variable undici refuses rejects here. */
export async function proxiedFetch(): Promise<ProxiedFetch> {
  const { fetch, EnvHttpProxyAgent } = await import('undici');
  return { fetch, ...(proxyConfigured() ? { dispatcher: new EnvHttpProxyAgent() } : {}) };
}
