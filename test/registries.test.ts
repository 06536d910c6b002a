import { describe, expect, it } from 'vitest';
import { Registries, basicToken, maskCredential } from '../src/registries.js';

const ghcr = { registry: 'ghcr.io', username: 'octocat', password: 'ghcr-secret' };

describe('Registries', () => {
  it('hands a credential only to its own host, never to another', () => {
    const registries = new Registries({ credentials: [ghcr], mask: () => undefined });
    expect(registries.credentialFor('ghcr.io')).toEqual(ghcr);
    for (const other of ['docker.io', 'ghcr.io:443', 'GHCR.IO', 'evil.ghcr.io', 'ghcr.io.evil', ''])
      expect(registries.credentialFor(other)).toBeUndefined();
    expect(registries.basicAuthorization('ghcr.io')).toBe(
      `Basic ${Buffer.from('octocat:ghcr-secret').toString('base64')}`,
    );
    expect(registries.basicAuthorization('docker.io')).toBeUndefined();
  });

  it('masks the password and its base64 user:password form as soon as it is given', () => {
    const masked: string[] = [];
    new Registries({ credentials: [ghcr], mask: (secret) => masked.push(secret) });
    expect(masked).toEqual(['ghcr-secret', basicToken(ghcr)]);
    const none: string[] = [];
    maskCredential({ username: 'octocat', password: '' }, (secret) => none.push(secret));
    expect(none).toEqual([]);
  });

  it('says a host is insecure only when it is listed exactly, for hosts and references alike', () => {
    const registries = new Registries({ insecure: ['127.0.0.1:5000', 'registry.local'] });
    expect(registries.isInsecure('127.0.0.1:5000')).toBe(true);
    expect(registries.isInsecure('127.0.0.1')).toBe(false);
    expect(registries.isInsecure('ghcr.io')).toBe(false);
    expect(registries.isInsecureReference('127.0.0.1:5000/trivy-db:2')).toBe(true);
    expect(registries.isInsecureReference('registry.local/team/app@sha256:' + 'a'.repeat(64))).toBe(true);
    expect(registries.isInsecureReference('ghcr.io/aquasecurity/trivy-db:2')).toBe(false);
    expect(registries.insecureHosts).toEqual(['127.0.0.1:5000', 'registry.local']);
    expect(new Registries().isInsecure('127.0.0.1:5000')).toBe(false);
  });

  it('refuses two credentials for one host', () => {
    expect(
      () => new Registries({ credentials: [ghcr, { ...ghcr, password: 'other' }], mask: () => undefined }),
    ).toThrow(/Two credentials for ghcr.io/);
  });

  it('shows no credential when printed or serialised', () => {
    const registries = new Registries({ credentials: [ghcr], mask: () => undefined });
    expect(JSON.stringify(registries)).not.toContain('ghcr-secret');
    expect(String(Object.entries(registries))).not.toContain('ghcr-secret');
  });
});
