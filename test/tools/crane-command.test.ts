import { describe, expect, it } from 'vitest';
import { craneEnv, printedDigest, pushedDigest } from '../../src/tools/crane-command.js';

const digest = `sha256:${'ab'.repeat(32)}`;

describe('crane output', () => {
  it('reads the digest from crane push output, ignoring anything before the last line', () => {
    expect(pushedDigest(`127.0.0.1:5000/team/app@${digest}\n`)).toBe(digest);
    expect(pushedDigest(`noise\nghcr.io/o/a@${digest}\n`)).toBe(digest);
    expect(pushedDigest('ghcr.io/o/a:latest\n')).toBeUndefined();
    expect(pushedDigest('')).toBeUndefined();
  });

  it('accepts only a whole sha256 digest from crane digest', () => {
    expect(printedDigest(`${digest}\n`)).toBe(digest);
    expect(printedDigest(`${digest}0\n`)).toBeUndefined();
  });
});

describe('crane process', () => {
  it('passes only what crane needs, never tokens or inputs', () => {
    const env = craneEnv('/tmp/private/docker', {
      PATH: '/usr/bin',
      HOME: '/home/runner',
      HTTPS_PROXY: 'http://proxy:3128',
      no_proxy: 'localhost',
      SSL_CERT_FILE: '/etc/ca.pem',
      GITHUB_TOKEN: 'ghs_secret',
      'INPUT_REGISTRY-PASSWORD': 'hunter2',
      ACTIONS_RUNTIME_TOKEN: 'x',
      DOCKER_CONFIG: '/home/runner/.docker',
    });
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/runner',
      HTTPS_PROXY: 'http://proxy:3128',
      no_proxy: 'localhost',
      SSL_CERT_FILE: '/etc/ca.pem',
      DOCKER_CONFIG: '/tmp/private/docker',
    });
    expect(craneEnv(undefined, { PATH: '/bin', DOCKER_CONFIG: '/home/runner/.docker' })).toEqual({
      PATH: '/bin',
    });
  });
});
