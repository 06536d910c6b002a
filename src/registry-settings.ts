import type { GitHubContext } from './context.js';
import type { StageInputs } from './input-parser.js';
import { isRegistryHost } from './input-parser.js';
import { Registries } from './registries.js';

export const REGISTRY_INPUTS = {
  'registry-username': '',
  'registry-password': '',
  'insecure-registries': '',
} as const;

/**
 * The registries the action talks to: which speak plain HTTP, and the credential for the image's
 * registry (the workflow's actor unless a user is given), masked as soon as it is read.
 */
export function parseRegistrySettings(
  inputs: StageInputs<keyof typeof REGISTRY_INPUTS>,
  github: GitHubContext,
  imageRegistry: string,
): Registries {
  const insecure = inputs.list('insecure-registries', { commas: true });
  for (const host of insecure)
    if (!isRegistryHost(host)) inputs.problem('insecure-registries', host, 'is not a host[:port]');
  const password = inputs.given('registry-password');
  const username = inputs.given('registry-username') || github.actor;
  return new Registries({
    insecure,
    credentials: password ? [{ registry: imageRegistry, username, password }] : [],
  });
}
