import { describe, expect, it } from 'vitest';
import { finish, runOutputs } from '../src/finish.js';
import { decide } from '../src/gate/policy.js';
import type { RunRecord } from '../src/run-record.js';
import { runVerdict } from '../src/run-record.js';
import { policy } from './helpers/policy.js';
import { recordingReporter } from './helpers/recording-reporter.js';
import { trivyFixture } from './scan/trivy-fixtures.js';

const build = {
  tarball: '/runner/_temp/build-scan-push/build-1-image-2/image.tar',
  digest: `sha256:${'a'.repeat(64)}`,
  identity: { configDigest: `sha256:${'b'.repeat(64)}`, diffIds: [] },
  imageConfig: {},
};
const scan = {
  report: trivyFixture('alpine-310.json'),
  reportPath: '/out/trivy-report.json',
  sarifPath: '/out/trivy-results.sarif',
  vulnerabilityPredicatePath: '/out/vulnerability-predicate.json',
};
const passed = decide(trivyFixture('alpine-310.json'), policy({ failOn: [] }));
const failed = decide(trivyFixture('debian-buster.json'), policy());
const platform = (decision = passed) => ({ platform: 'linux/amd64', build, scan, decision });

describe('runVerdict', () => {
  it('puts a stopped stage first, then a failed push, then a failed upload, then the policy', () => {
    const stopped = new Error('trivy failed');
    const base: RunRecord = { platforms: [platform(failed)], notes: [] };
    const pushFailure = { status: 'failed' as const, error: new Error('crane push failed'), pushed: [] };
    const describe = () => 'policy failed';
    expect(runVerdict({ ...base, failure: { stage: 'scan', error: stopped } }, describe)).toEqual({
      kind: 'stage',
      message: 'trivy failed',
    });
    expect(runVerdict({ ...base, publish: pushFailure, uploadError: 'x' }, describe)?.kind).toBe('publish');
    expect(runVerdict({ ...base, uploadError: 'SARIF upload failed' }, describe)?.kind).toBe('upload');
    expect(runVerdict(base, describe)).toEqual({
      kind: 'policy',
      message: 'policy failed. Nothing was pushed.',
    });
    expect(runVerdict({ platforms: [platform()], notes: [] }, describe)).toBeUndefined();
  });
});

describe('runOutputs', () => {
  it('sets the outputs of the stages reached, and pushed always', () => {
    expect(
      runOutputs({ platforms: [], notes: [], failure: { stage: 'inputs', error: new Error('x') } }),
    ).toEqual({
      pushed: 'false',
    });
    const built = runOutputs({ platforms: [{ platform: 'linux/amd64', build }], notes: [] });
    expect(built).toEqual({ digest: build.digest, tarball: build.tarball, pushed: 'false' });
    const decided = runOutputs({ platforms: [platform(failed)], notes: [] });
    expect(decided).toMatchObject({
      policy: 'fail',
      pushed: 'false',
      image: '',
      tags: '',
      report: scan.reportPath,
      'vulnerability-predicate': '/out/vulnerability-predicate.json',
      'vulnerability-predicate-type': 'https://cosign.sigstore.dev/attestation/vuln/v1',
    });
  });

  it('lists the references that exist after a push that stopped part-way', () => {
    const outputs = runOutputs({
      platforms: [platform()],
      notes: [],
      publish: { status: 'failed', error: new Error('tag failed'), pushed: ['ghcr.io/o/r:1.2.3'] },
    });
    expect(outputs).toMatchObject({ pushed: 'false', tags: 'ghcr.io/o/r:1.2.3', image: '' });
  });
});

describe('finish', () => {
  it('fails the step once and says why once in the summary', async () => {
    const { reporter, said, outputs } = recordingReporter();
    await finish(
      {
        platforms: [{ platform: 'linux/amd64', build }],
        notes: [],
        failure: { stage: 'scan', error: new Error('trivy exited with 2') },
      },
      reporter,
    );
    expect(said.failed).toEqual(['trivy exited with 2']);
    expect(said.summary.match(/trivy exited with 2/g)).toHaveLength(1);
    expect(said.summary).toContain('Build, scan and push: failed');
    expect(said.summary).toContain('The scan stage failed');
    expect(outputs).toEqual({ digest: build.digest, tarball: build.tarball, pushed: 'false' });
  });

  it('succeeds silently when everything passed and nothing was to be pushed', async () => {
    const { reporter, said } = recordingReporter();
    await finish({ platforms: [], notes: [] }, reporter);
    expect(said.failed).toEqual([]);
    expect(said.summary).toBe('');
  });
});
