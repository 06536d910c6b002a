import { describe, expect, it } from 'vitest';
import { finish, runOutputs } from '../../src/finish.js';
import { decide } from '../../src/gate/policy.js';
import type { PlatformRun, RunRecord } from '../../src/run-record.js';
import { configFrom } from '../helpers/rescan-config.js';
import { policy } from '../helpers/policy.js';
import { recordingReporter } from '../helpers/recording-reporter.js';
import { trivyFixture } from '../scan/trivy-fixtures.js';

const config = configFrom({ image: 'ghcr.io/octo-org/app', rescan: 'true', 'rescan-ref': 'latest' });

function rescanned(platform: string, fixture: string, updated: 'true' | 'false'): PlatformRun {
  const digest = `sha256:${(platform.endsWith('amd64') ? 'a' : 'b').repeat(64)}`;
  const report = trivyFixture(fixture);
  return {
    platform,
    pulled: {
      platform,
      fromIndex: true,
      reference: `ghcr.io/octo-org/app@${digest}`,
      digest,
      tarball: `/out/${platform.replace('/', '-')}.tar`,
      config: {},
      identity: { configDigest: digest, diffIds: [] },
    },
    scan: { report, reportPath: `/out/${platform}/trivy-report.json` },
    files: {
      sarifPath: `/out/${platform}/r.sarif`,
      vulnerabilityPredicatePath: `/out/${platform}/vulnerability-predicate.json`,
    },
    decision: decide(report, policy()),
    baseCheck: {
      updated,
      name: 'alpine:3.20',
      builtOn: `sha256:${'1'.repeat(64)}`,
      current: `sha256:${'2'.repeat(64)}`,
    },
  };
}

const record: RunRecord = {
  config,
  notes: [],
  platforms: [
    rescanned('linux/amd64', 'alpine-310.json', 'false'),
    rescanned('linux/arm64', 'debian-buster.json', 'true'),
  ],
};

describe('finish after a rescan', () => {
  it('gives the outputs of the platform the policy refused, and base-updated for the whole image', () => {
    expect(runOutputs(record)).toMatchObject({
      digest: record.platforms[1]!.pulled!.digest,
      policy: 'fail',
      critical: '1',
      pushed: 'false',
      'base-updated': 'true',
    });
    expect(runOutputs({ ...record, platforms: [record.platforms[0]!] })['base-updated']).toBe('false');
  });

  it('writes a section per platform, each with what was pulled and whether its base moved', async () => {
    const { reporter, said } = recordingReporter();
    await finish(record, reporter);
    const sections = said.summary.split('### Rescan');
    expect(sections).toHaveLength(3);
    expect(said.summary).toContain('ghcr.io/octo-org/app@sha256:aaaa');
    expect(said.summary).toContain('(linux/arm64)');
    expect(said.summary).toMatch(/alpine:3\.20 moved from sha256:1{64}/);
    expect(said.summary).toContain('| Layer |');
    expect(said.failed).toHaveLength(1);
  });
});
