import type { GitHubContext } from './context.js';
import type { StageInputs } from './input-parser.js';
import { isRegistryHost } from './input-parser.js';

export const REGISTRY_INPUTS = {
  'registry-username': '',
  'registry-password': '',
  'insecure-registries': '',
} as const;

/** Who the action is at the image's registry, and which registries speak plain HTTP. */
export interface RegistrySettings {
  /** The user for the image's registry (the workflow's actor unless given). */
  readonly username: string;
  /** Empty when none is given: the registry is used anonymously. */
  readonly password: string;
  /** Hosts (host[:port]) reached over HTTP or without TLS verification. */
  readonly insecure: readonly string[];
}

export function parseRegistrySettings(
  inputs: StageInputs<keyof typeof REGISTRY_INPUTS>,
  github: GitHubContext,
): RegistrySettings {
  const insecure = inputs.list('insecure-registries', { commas: true });
  for (const host of insecure)
    if (!isRegistryHost(host)) inputs.problem('insecure-registries', host, 'is not a host[:port]');
  return {
    username: inputs.given('registry-username') || github.actor,
    password: inputs.given('registry-password'),
    insecure,
  };
}
