import { describe, expect, it, vi } from 'vitest';
import type { ImageConfig } from '../../src/build/tarball.js';
import type { CurrentDigest } from '../../src/rescan/base-check.js';
import { checkBase, describeBase, overallBaseUpdated } from '../../src/rescan/base-check.js';

const BUILT_ON = `sha256:${'1'.repeat(64)}`;
const INDEX = `sha256:${'2'.repeat(64)}`;
const NEWER = `sha256:${'3'.repeat(64)}`;

function imageOn(name: string | undefined, digest: string | undefined): ImageConfig {
  const labels: Record<string, string> = {};
  if (name) labels['org.opencontainers.image.base.name'] = name;
  if (digest) labels['org.opencontainers.image.base.digest'] = digest;
  return { config: { Labels: labels } };
}

/** The registry now: the index digest for the reference, the platform's manifest for a platform. */
const registryNow =
  (index: string, platformDigest: string): CurrentDigest =>
  async (_reference, platform) =>
    platform ? platformDigest : index;

describe('checkBase', () => {
  it('is false while the label equals the base index or platform digest', async () => {
    const config = imageOn('docker.io/library/alpine:3.20', BUILT_ON);
    expect((await checkBase(config, 'linux/amd64', registryNow(INDEX, BUILT_ON))).updated).toBe('false');
    expect((await checkBase(config, 'linux/amd64', registryNow(BUILT_ON, BUILT_ON))).updated).toBe('false');
  });

  it('is true once the base reference resolves to another digest', async () => {
    const check = await checkBase(imageOn('alpine:3.20', BUILT_ON), 'linux/amd64', registryNow(NEWER, NEWER));
    expect(check).toEqual({ updated: 'true', name: 'alpine:3.20', builtOn: BUILT_ON, current: NEWER });
    expect(describeBase(check)).toContain(`moved from ${BUILT_ON}`);
  });

  it('is unknown without the labels, with a label crane could read as a flag, or when the base cannot be read', async () => {
    const never = vi.fn<CurrentDigest>();
    expect((await checkBase(imageOn(undefined, undefined), 'linux/amd64', never)).reason).toMatch(
      /no org\.opencontainers/,
    );
    expect((await checkBase(imageOn('--insecure', BUILT_ON), 'linux/amd64', never)).updated).toBe('unknown');
    expect((await checkBase(imageOn('alpine', 'latest'), 'linux/amd64', never)).updated).toBe('unknown');
    expect(never).not.toHaveBeenCalled();
    const failing: CurrentDigest = async () => {
      throw new Error('MANIFEST_UNKNOWN');
    };
    const check = await checkBase(imageOn('alpine:gone', BUILT_ON), 'linux/amd64', failing);
    expect(check).toMatchObject({ updated: 'unknown', reason: expect.stringContaining('MANIFEST_UNKNOWN') });
  });
});

describe('overallBaseUpdated', () => {
  it('is true if any base moved, false if none did, unknown otherwise', () => {
    expect(overallBaseUpdated([{ updated: 'false' }, { updated: 'true' }, { updated: 'unknown' }])).toBe(
      'true',
    );
    expect(overallBaseUpdated([{ updated: 'false' }, { updated: 'false' }])).toBe('false');
    expect(overallBaseUpdated([{ updated: 'false' }, { updated: 'unknown' }])).toBe('unknown');
    expect(overallBaseUpdated([])).toBe('unknown');
  });
});
