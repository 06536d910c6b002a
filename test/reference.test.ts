import { describe, expect, it } from 'vitest';
import {
  digestOf,
  digestReference,
  isDigest,
  parseReference,
  registryOf,
  taggedReference,
} from '../src/reference.js';

const digest = `sha256:${'ab'.repeat(32)}`;

describe('parseReference', () => {
  it.each([
    [
      `ghcr.io/osscontainertools/kaniko:v1.28.2@${digest}`,
      {
        registry: 'ghcr.io',
        name: 'ghcr.io/osscontainertools/kaniko',
        repository: 'osscontainertools/kaniko',
        tag: 'v1.28.2',
        digest,
      },
    ],
    [
      '127.0.0.1:5000/kaniko/executor:v1',
      {
        registry: '127.0.0.1:5000',
        name: '127.0.0.1:5000/kaniko/executor',
        repository: 'kaniko/executor',
        tag: 'v1',
      },
    ],
    [
      `127.0.0.1:5000/app@${digest}`,
      { registry: '127.0.0.1:5000', name: '127.0.0.1:5000/app', repository: 'app', digest },
    ],
    ['localhost/executor', { registry: 'localhost', name: 'localhost/executor', repository: 'executor' }],
    [
      'gcr.io/kaniko-project/executor',
      { registry: 'gcr.io', name: 'gcr.io/kaniko-project/executor', repository: 'kaniko-project/executor' },
    ],
    [
      'library/busybox:1',
      { registry: 'index.docker.io', name: 'library/busybox', repository: 'library/busybox', tag: '1' },
    ],
    ['busybox', { registry: 'index.docker.io', name: 'busybox', repository: 'busybox' }],
    [
      'localhost:5000',
      { registry: 'index.docker.io', name: 'localhost', repository: 'localhost', tag: '5000' },
    ],
  ])('%s', (reference, expected) => {
    expect(parseReference(reference)).toEqual(expected);
  });

  it('keeps a malformed digest for the caller to reject', () => {
    expect(parseReference('ghcr.io/a@sha256:12').digest).toBe('sha256:12');
  });
});

describe('references', () => {
  it('names the registry of an image', () => {
    expect(registryOf('ghcr.io/owner/app')).toBe('ghcr.io');
    expect(registryOf(`127.0.0.1:5000/team/app:1@${digest}`)).toBe('127.0.0.1:5000');
  });

  it('formats tag and digest references', () => {
    expect(taggedReference('ghcr.io/owner/app', '1.2.3')).toBe('ghcr.io/owner/app:1.2.3');
    expect(digestReference('127.0.0.1:5000/app', digest)).toBe(`127.0.0.1:5000/app@${digest}`);
  });

  it('accepts only a whole lower-case sha256 digest', () => {
    expect(isDigest(digest)).toBe(true);
    expect(isDigest(`${digest}0`)).toBe(false);
    expect(isDigest(digest.toUpperCase())).toBe(false);
    expect(isDigest('sha512:00')).toBe(false);
  });
});

describe('digestOf', () => {
  it('is the sha256 of the bytes, a string taken as UTF-8, as registries name content', () => {
    const empty = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    expect(digestOf('')).toBe(empty);
    expect(digestOf(Buffer.alloc(0))).toBe(empty);
    expect(digestOf('é')).toBe(digestOf(Buffer.from([0xc3, 0xa9])));
    expect(isDigest(digestOf('{"schemaVersion":2}'))).toBe(true);
  });
});
