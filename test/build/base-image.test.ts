import { describe, expect, it } from 'vitest';
import {
  BASE_DIGEST_LABEL,
  BASE_NAME_LABEL,
  baseLayersMismatch,
  finalBase,
  qualifiedBaseName,
  withBaseLabels,
} from '../../src/build/base-image.js';
import { parseDockerfile } from '../../src/dockerfile.js';

const base = (
  text: string,
  options: { target?: string; buildArgs?: string[]; platform?: string; buildPlatform?: string } = {},
) =>
  finalBase(parseDockerfile(text), {
    target: options.target ?? '',
    buildArgs: options.buildArgs ?? [],
    platform: options.platform ?? 'linux/amd64',
    buildPlatform: options.buildPlatform ?? 'linux/amd64',
  });

const image = (reference: string, platform = 'linux/amd64') => ({ kind: 'image', reference, platform });

describe('finalBase', () => {
  it('is the last stage’s image, or none for scratch', () => {
    expect(base('FROM alpine:3.20\nRUN true\n')).toEqual(image('alpine:3.20'));
    expect(base('FROM alpine:3.20 AS build\nFROM scratch\nCOPY --from=build / /\n')).toEqual({
      kind: 'scratch',
    });
    expect(base('FROM golang:1.22 AS build\nFROM gcr.io/distroless/static:nonroot\n')).toEqual(
      image('gcr.io/distroless/static:nonroot'),
    );
  });

  it('follows a final stage built FROM an earlier stage to that stage’s image (names ignore case)', () => {
    const text = 'FROM alpine:3.20 AS Base\nRUN apk add curl\nFROM base AS app\nRUN true\nFROM APP\n';
    expect(base(text)).toEqual(image('alpine:3.20'));
    // A name only counts for stages above it: here `app` is an image, not the stage below.
    const later = 'FROM golang AS build\nFROM app AS final\nFROM busybox AS app\n';
    expect(base(later, { target: 'final' })).toEqual(image('app'));
  });

  it('builds the --target stage instead of the last; an unknown target names no base', () => {
    const text = 'FROM golang:1.22 AS build\nFROM alpine:3.20 AS release\n';
    expect(base(text, { target: 'build' })).toEqual(image('golang:1.22'));
    expect(base(text, { target: 'BUILD' })).toEqual(image('golang:1.22'));
    expect(base(text, { target: 'test' })).toEqual({ kind: 'unknown', reason: 'no stage is named test' });
    expect(base('# nothing\n')).toEqual({ kind: 'unknown', reason: 'there is no FROM line' });
  });

  it('substitutes the ARGs declared before the first FROM, a build arg overriding the default', () => {
    const text = 'ARG REGISTRY=ghcr.io\nARG TAG="3.19"\nFROM ${REGISTRY}/octo/base:$TAG\n';
    expect(base(text)).toEqual(image('ghcr.io/octo/base:3.19'));
    expect(base(text, { buildArgs: ['TAG=3.20', 'OTHER=x'] })).toEqual(image('ghcr.io/octo/base:3.20'));
    expect(base('ARG V\nFROM alpine:${V:-3.18}\n')).toEqual(image('alpine:3.18'));
    expect(base('ARG SLIM\nFROM debian:12${SLIM:+-slim}\n', { buildArgs: ['SLIM=1'] })).toEqual(
      image('debian:12-slim'),
    );
  });

  it('names no base when a FROM uses what it cannot evaluate: an undeclared ARG, another form', () => {
    // Declared after the first FROM: Docker makes it empty in FROM, which the label must not guess.
    const late = base('FROM alpine AS a\nARG TAG=1\nFROM busybox:$TAG\n', { buildArgs: ['TAG=2'] });
    expect(late).toMatchObject({ kind: 'unknown', reason: expect.stringContaining('line 3') });
    expect(base('ARG TAG=3.20-r1\nFROM alpine:${TAG%%-*}\n')).toMatchObject({ kind: 'unknown' });
  });

  it('pulls for the FROM’s --platform, the platform ARGs being the build’s', () => {
    const text = 'FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM --platform=linux/arm64 alpine\n';
    expect(base(text, { target: 'build', platform: 'linux/arm64/v8' })).toEqual(
      image('golang:1.22', 'linux/amd64'),
    );
    expect(base(text)).toEqual(image('alpine', 'linux/arm64'));
    expect(base('FROM alpine:$TARGETARCH\n', { platform: 'linux/s390x' })).toEqual(
      image('alpine:s390x', 'linux/s390x'),
    );
  });
});

describe('qualifiedBaseName', () => {
  it('writes the name fully qualified, as the OCI key wants it', () => {
    expect(qualifiedBaseName('alpine')).toBe('docker.io/library/alpine:latest');
    expect(qualifiedBaseName('alpine:3.20')).toBe('docker.io/library/alpine:3.20');
    expect(qualifiedBaseName('octo/app')).toBe('docker.io/octo/app:latest');
    expect(qualifiedBaseName('index.docker.io/library/alpine:3')).toBe('docker.io/library/alpine:3');
    expect(qualifiedBaseName('docker.io/alpine:3')).toBe('docker.io/library/alpine:3');
    expect(qualifiedBaseName('ghcr.io/octo/base:1')).toBe('ghcr.io/octo/base:1');
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(qualifiedBaseName(`127.0.0.1:5000/base@${digest}`)).toBe(`127.0.0.1:5000/base@${digest}`);
    expect(qualifiedBaseName(`alpine:3@${digest}`)).toBe(`docker.io/library/alpine:3@${digest}`);
  });
});

describe('withBaseLabels', () => {
  it('adds the two OCI keys under the others: a user label still wins', () => {
    const facts = { name: 'docker.io/library/alpine:3.20', digest: `sha256:${'b'.repeat(64)}` };
    expect(withBaseLabels({ 'org.opencontainers.image.title': 'app' }, facts)).toEqual({
      [BASE_NAME_LABEL]: facts.name,
      [BASE_DIGEST_LABEL]: facts.digest,
      'org.opencontainers.image.title': 'app',
    });
    expect(withBaseLabels({ [BASE_NAME_LABEL]: 'mine' }, facts)[BASE_NAME_LABEL]).toBe('mine');
  });
});

describe('baseLayersMismatch', () => {
  const [a, b, c] = ['a', 'b', 'c'].map((letter) => `sha256:${letter.repeat(64)}`) as [
    string,
    string,
    string,
  ];

  it('accepts a base whose layers are the first layers of the image, in order', () => {
    expect(baseLayersMismatch([a, b], [a, b, c])).toBeUndefined();
    expect(baseLayersMismatch([a, b], [a, b])).toBeUndefined();
    expect(baseLayersMismatch([], [c])).toBeUndefined();
  });

  it('says which layer differs, or that the image has fewer layers', () => {
    expect(baseLayersMismatch([a, b], [a, c, b])).toBe(
      `layer 2 of the built image is ${c}, the base's is ${b}`,
    );
    expect(baseLayersMismatch([b, a], [a, b, c])).toMatch(/^layer 1 /);
    expect(baseLayersMismatch([a, b], [a])).toBe('the base has 2 layers, the built image only 1');
  });
});

describe('the platform ARGs of a FROM line', () => {
  it('are the target platform for TARGET* and the runner for BUILD*, as in BuildKit', () => {
    const dockerfile = 'FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM alpine:3.20-$TARGETARCH\n';
    expect(base(dockerfile, { platform: 'linux/arm64' })).toEqual(image('alpine:3.20-arm64', 'linux/arm64'));
    const native = 'FROM --platform=$BUILDPLATFORM golang:1.22\n';
    expect(base(native, { platform: 'linux/arm64', buildPlatform: 'linux/amd64' })).toEqual(
      image('golang:1.22', 'linux/amd64'),
    );
  });
});
