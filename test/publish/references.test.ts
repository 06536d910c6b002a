import { describe, expect, it } from 'vitest';
import { craneArgs, craneEnv } from '../../src/publish/crane.js';
import {
  digestReference,
  isDigest,
  printedDigest,
  pushedDigest,
  taggedReference,
} from '../../src/publish/references.js';

const digest = `sha256:${'ab'.repeat(32)}`;

describe('references', () => {
  it('formats tag and digest references', () => {
    expect(taggedReference('ghcr.io/owner/app', '1.2.3')).toBe('ghcr.io/owner/app:1.2.3');
    expect(digestReference('127.0.0.1:5000/app', digest)).toBe(`127.0.0.1:5000/app@${digest}`);
  });

  it('reads the digest from crane push output, ignoring anything before the last line', () => {
    expect(pushedDigest(`127.0.0.1:5000/team/app@${digest}\n`)).toBe(digest);
    expect(pushedDigest(`noise\nghcr.io/o/a@${digest}\n`)).toBe(digest);
    expect(pushedDigest('ghcr.io/o/a:latest\n')).toBeUndefined();
    expect(pushedDigest('')).toBeUndefined();
  });

  it('accepts only a whole sha256 digest from crane digest', () => {
    expect(printedDigest(`${digest}\n`)).toBe(digest);
    expect(printedDigest(`${digest}0\n`)).toBeUndefined();
    expect(isDigest('sha512:00')).toBe(false);
  });
});

describe('crane process', () => {
  it('passes only what crane needs, never tokens or inputs', () => {
    const env = craneEnv(
      {
        PATH: '/usr/bin',
        HOME: '/home/runner',
        HTTPS_PROXY: 'http://proxy:3128',
        no_proxy: 'localhost',
        SSL_CERT_FILE: '/etc/ca.pem',
        GITHUB_TOKEN: 'ghs_secret',
        'INPUT_REGISTRY-PASSWORD': 'hunter2',
        ACTIONS_RUNTIME_TOKEN: 'x',
      },
      '/tmp/private/docker',
    );
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/runner',
      HTTPS_PROXY: 'http://proxy:3128',
      no_proxy: 'localhost',
      SSL_CERT_FILE: '/etc/ca.pem',
      DOCKER_CONFIG: '/tmp/private/docker',
    });
    expect(craneEnv({ PATH: '/bin' }, undefined)).toEqual({ PATH: '/bin' });
  });

  it('puts --insecure first only for insecure registries', () => {
    expect(craneArgs(true, ['digest', 'r/a:1'])).toEqual(['--insecure', 'digest', 'r/a:1']);
    expect(craneArgs(false, ['digest', 'r/a:1'])).toEqual(['digest', 'r/a:1']);
  });
});
