// `cache: true` end to end (test/helpers/action-harness.ts): kaniko caches into the action's
// loopback registry, and cache-repo, in the real registry behind the proxy that demands
// credentials, is written only after the policy passed, on a push, with scanned layers only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionHarness, ActionRun, Scenario } from '../helpers/action-harness.js';
import { PASSWORD, startActionHarness } from '../helpers/action-harness.js';

let harness: ActionHarness;

beforeAll(async () => {
  harness = await startActionHarness();
}, 120_000);

afterAll(async () => {
  await harness?.stop();
});

/**
 * Two stages: the builder's RUN layer is cached by kaniko but is not in the image. The final RUN
 * fails the build should any registry credential file be visible in the sandbox.
 */
const MULTI_STAGE =
  'FROM scratch AS builder\nRUN echo building\nFROM scratch\nCOPY . /\n' +
  'RUN if [ -e /kaniko/.docker ]; then echo "registry credential visible" >&2; exit 1; fi\n';

function cacheRun(name: string, report: string, event?: Scenario['event']): Promise<ActionRun> {
  return harness.runAction({
    report,
    dockerfile: MULTI_STAGE,
    inputs: {
      image: `${harness.proxy.host}/octo-org/${name}`,
      cache: 'true',
      'cache-repo': `${harness.proxy.host}/octo-org/${name}/cache`,
    },
    ...(event ? { event } : {}),
  });
}

/** Repositories the registry holds: one exists as soon as a blob was uploaded to it. */
async function catalog(): Promise<string[]> {
  const response = await fetch(`http://${harness.registry.host}/v2/_catalog`);
  return ((await response.json()) as { repositories: string[] | null }).repositories ?? [];
}

const writes = (): string[] =>
  harness.proxy.requests
    .filter((request) => request.method !== 'GET' && request.method !== 'HEAD')
    .map((request) => `${request.method} ${request.path}`);

describe('the layer cache end to end', () => {
  it('after a passed policy on a push, writes the scanned entries to cache-repo and leaves the others', async () => {
    const result = await cacheRun('cached', 'alpine-310.json');
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.outputs.pushed).toBe('true');
    // One entry per RUN line reached the loopback cache; only the target stage's was scanned.
    const tags = await harness.registryTags('octo-org/cached/cache');
    expect(tags).toHaveLength(1);
    expect(result.stdout).toMatch(
      /1 layer cache entry holds layers that were not scanned.*not in the scanned image/,
    );
    expect(result.stdout).toMatch(/Wrote 1 scanned layer cache entry/);
    const manifest = (await (
      await fetch(`http://${harness.registry.host}/v2/octo-org/cached/cache/manifests/${tags[0]}`, {
        headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      })
    ).json()) as { layers: Array<{ digest: string }> };
    const image = (await (
      await fetch(`http://${harness.registry.host}/v2/octo-org/cached/manifests/main`, {
        headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      })
    ).json()) as { layers: Array<{ digest: string }> };
    expect(manifest.layers.map((layer) => layer.digest)).toEqual(image.layers.map((layer) => layer.digest));
    // crane wrote the cache with the image's credential: same host.
    expect(
      harness.proxy.requests.some(
        (request) =>
          request.method === 'PUT' && request.path.includes('/cache/manifests/') && request.hasAuthorization,
      ),
    ).toBe(true);
    expect(
      result.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::') && line.includes(PASSWORD)),
    ).toEqual([]);
  });

  it('a blocking finding leaves cache-repo without a tag or a blob', async () => {
    const result = await cacheRun('blocked-cache', 'debian-buster.json');
    expect(result.exitCode).toBe(1);
    expect(result.outputs.policy).toBe('fail');
    expect(result.stdout).toMatch(/layer cache was read only.*the policy failed/);
    expect(await harness.registryTags('octo-org/blocked-cache/cache')).toEqual([]);
    expect(await catalog()).not.toContain('octo-org/blocked-cache/cache');
    expect(writes()).toEqual([]);
  });

  it('a pull request reads the cache only: nothing is written to cache-repo', async () => {
    const result = await cacheRun('pr-cache', 'alpine-310.json', {
      name: 'pull_request',
      ref: 'refs/pull/7/merge',
      payload: { pull_request: { number: 7 } },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.outputs.pushed).toBe('false');
    expect(result.stdout).toMatch(/layer cache was read only.*pushing is off/);
    expect(await harness.registryTags('octo-org/pr-cache/cache')).toEqual([]);
    expect(await catalog()).not.toContain('octo-org/pr-cache/cache');
    expect(writes()).toEqual([]);
  });
});
