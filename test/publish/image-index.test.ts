import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PushedPlatformManifest } from '../../src/publish/image-index.js';
import { OCI_IMAGE_INDEX, configPlatform, planImageIndex } from '../../src/publish/image-index.js';

// The golden values below were printed by a real crane v0.21.9 (built from go-containerregistry's
// tag v0.21.9, vendored dependencies, against Debian's docker-registry): `crane index append -m
// REPO@<child>… -t REPO:tag`, then `crane manifest` of the result and its sha256.

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const REPOSITORY = 'ghcr.io/owner/app';

const amd64: PushedPlatformManifest = {
  mediaType: DOCKER_MANIFEST,
  size: 423,
  digest: 'sha256:5574f4e7b1c0ed3ae06faefb456ac1cc645076a9c7861a8bb848c4e72f92a8cd',
  configMediaType: DOCKER_CONFIG,
  config: { architecture: 'amd64', os: 'linux' },
};

const armV7: PushedPlatformManifest = {
  mediaType: DOCKER_MANIFEST,
  size: 423,
  digest: 'sha256:dc603c7c371a4c28fb99c945d464b2cb06a653a5c9bcd5a632c2bbab5d153c55',
  configMediaType: DOCKER_CONFIG,
  config: { architecture: 'arm', os: 'linux', variant: 'v7' },
};

/** What crane v0.21.9 pushed for amd64 then arm/v7 (652 bytes). */
const TWO_PLATFORMS =
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[' +
  '{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":423,"digest":"sha256:5574f4e7b1c0ed3ae06faefb456ac1cc645076a9c7861a8bb848c4e72f92a8cd","platform":{"architecture":"amd64","os":"linux"},"artifactType":"application/vnd.docker.container.image.v1+json"},' +
  '{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":423,"digest":"sha256:dc603c7c371a4c28fb99c945d464b2cb06a653a5c9bcd5a632c2bbab5d153c55","platform":{"architecture":"arm","os":"linux","variant":"v7"},"artifactType":"application/vnd.docker.container.image.v1+json"}]}';
const TWO_PLATFORMS_DIGEST = 'sha256:cf5d2a063e0fbd8ca6963b7c26579f9d1dc49862393128d3c2dc5d067ac4fee8';

describe('planImageIndex', () => {
  it('gives the bytes and digest real crane pushes for amd64 and arm/v7, and the argv that pins them', () => {
    const plan = planImageIndex(REPOSITORY, [amd64, armV7]);
    expect(plan.manifest).toBe(TWO_PLATFORMS);
    expect(plan.size).toBe(652);
    expect(plan.digest).toBe(TWO_PLATFORMS_DIGEST);
    expect(plan.digest).toBe(`sha256:${createHash('sha256').update(TWO_PLATFORMS).digest('hex')}`);
    expect(plan.mediaType).toBe(OCI_IMAGE_INDEX);
    expect(plan.craneArgs).toEqual([
      'index',
      'append',
      '-m',
      `${REPOSITORY}@${amd64.digest}`,
      '-m',
      `${REPOSITORY}@${armV7.digest}`,
      '-t',
      `${REPOSITORY}@${TWO_PLATFORMS_DIGEST}`,
    ]);
  });

  it('keeps the order given: the other order is another index', () => {
    const plan = planImageIndex(REPOSITORY, [armV7, amd64]);
    expect(plan.digest).not.toBe(TWO_PLATFORMS_DIGEST);
    expect(JSON.parse(plan.manifest).manifests.map((m: { digest: string }) => m.digest)).toEqual([
      armV7.digest,
      amd64.digest,
    ]);
  });

  it('matches real crane on os.version, os.features, annotations, artifactType, escaping and a config without a platform', () => {
    // An OCI manifest with its own artifactType and annotations (Go sorts the keys and escapes
    // <, >, &, U+2028 and tab), and a Docker manifest whose config names no platform.
    const windows: PushedPlatformManifest = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 410,
      digest: 'sha256:7689df0167431763a44f2fa3c9accfbf0b9b0eaf7a8b60b882b12d4abce5c137',
      configMediaType: 'application/vnd.oci.image.config.v1+json',
      artifactType: 'application/vnd.example.thing',
      annotations: { 'org.opencontainers.image.title': 'a<b>&c', 'b.key': 'x\u2028y\ttab', Z: 'upper' },
      config: {
        architecture: 'amd64',
        os: 'windows',
        'os.version': '10.0.17763.1234',
        'os.features': ['win32k'],
      },
    };
    const noPlatform: PushedPlatformManifest = {
      mediaType: DOCKER_MANIFEST,
      size: 275,
      digest: 'sha256:68d1c7f039ffef96dde7ac8867c93b7670047dbbf313e34666af40702821ccb5',
      configMediaType: DOCKER_CONFIG,
      config: { 'os.features': [] },
    };
    const plan = planImageIndex(REPOSITORY, [windows, noPlatform]);
    expect(plan.manifest).toBe(
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[' +
        '{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":410,"digest":"sha256:7689df0167431763a44f2fa3c9accfbf0b9b0eaf7a8b60b882b12d4abce5c137","annotations":{"Z":"upper","b.key":"x\\u2028y\\ttab","org.opencontainers.image.title":"a\\u003cb\\u003e\\u0026c"},"platform":{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1234","os.features":["win32k"]},"artifactType":"application/vnd.example.thing"},' +
        '{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":275,"digest":"sha256:68d1c7f039ffef96dde7ac8867c93b7670047dbbf313e34666af40702821ccb5","artifactType":"application/vnd.docker.container.image.v1+json"}]}',
    );
    expect(plan.size).toBe(730);
    expect(plan.digest).toBe('sha256:a675e7c81ca89708a84ee6bf0c916d95eab3fbe82ada8d585b3c60bf44f2f667');
  });

  it('matches real crane on control characters and a platform with os.version alone', () => {
    // v1.Platform has no omitempty on architecture and os; Go 1.22+ writes \b and \f short, other
    // controls as \u00xx, DEL and non-ASCII as UTF-8.
    const plan = planImageIndex(REPOSITORY, [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 327,
        digest: 'sha256:c87082e3795ddc26d59f16798d087823a4f0b82a2e5216171dded1af54f6814b',
        configMediaType: 'application/vnd.oci.image.config.v1+json',
        annotations: { k: '"\\\b\f\n\r\u0001\u007f\u00e9\u{1f600}' },
        config: { 'os.version': '10.0' },
      },
    ]);
    expect(plan.manifest).toBe(
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[' +
        '{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":327,"digest":"sha256:c87082e3795ddc26d59f16798d087823a4f0b82a2e5216171dded1af54f6814b","annotations":{"k":"\\"\\\\\\b\\f\\n\\r\\u0001\u007f\u00e9\u{1f600}"},"platform":{"architecture":"","os":"","os.version":"10.0"},"artifactType":"application/vnd.oci.image.config.v1+json"}]}',
    );
    expect(plan.size).toBe(405);
    expect(plan.digest).toBe('sha256:538b3e7046179c690eda8075717b0ce4554acff09e2fa6bda23f7fe5b826d380');
  });

  it('refuses what crane would read otherwise: no children, a tag, a path, a list', () => {
    expect(() => planImageIndex(REPOSITORY, [])).toThrow(/at least one/);
    for (const repository of [
      'ghcr.io/owner/app:1.0',
      'ghcr.io/owner/app@sha256:00',
      './app',
      '/tmp/app',
      'a,b',
      'a b',
    ])
      expect(() => planImageIndex(repository, [amd64]), repository).toThrow(/Not a repository name/);
    expect(planImageIndex('127.0.0.1:5000/team/app', [amd64]).craneArgs[3]).toBe(
      `127.0.0.1:5000/team/app@${amd64.digest}`,
    );
  });

  it('refuses a malformed child', () => {
    expect(() => planImageIndex(REPOSITORY, [{ ...amd64, digest: 'sha256:ABC' }])).toThrow(/sha256 digest/);
    expect(() => planImageIndex(REPOSITORY, [{ ...amd64, size: 0 }])).toThrow(/size/);
    expect(() => planImageIndex(REPOSITORY, [{ ...amd64, config: { os: 7 } }])).toThrow(
      /"os" is not a string/,
    );
    expect(() => planImageIndex(REPOSITORY, [{ ...amd64, config: { 'os.features': 'x' } }])).toThrow(
      /not a list of strings/,
    );
  });
});

describe('configPlatform', () => {
  it('is ConfigFile.Platform(): undefined only when every platform field is empty', () => {
    expect(configPlatform({})).toBeUndefined();
    expect(configPlatform({ os: '', architecture: '', variant: '', 'os.features': [] })).toBeUndefined();
    expect(configPlatform({ os: null })).toBeUndefined();
    expect(configPlatform({ variant: 'v8' })).toEqual({ os: '', architecture: '', variant: 'v8' });
    expect(configPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toEqual({
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
    });
  });
});
