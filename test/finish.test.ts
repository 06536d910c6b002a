import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { finish, runOutputs } from '../src/finish.js';
import { buildConfig } from '../src/inputs.js';
import { decide } from '../src/gate/policy.js';
import type { RunRecord } from '../src/run-record.js';
import { runVerdict } from '../src/run-record.js';
import { githubContext, makeWorkspace } from './helpers/github-context.js';
import { policy } from './helpers/policy.js';
import { recordingReporter } from './helpers/recording-reporter.js';
import { trivyFixture } from './scan/trivy-fixtures.js';

const build = {
  tarball: '/runner/_temp/build-scan-push/build-1-image-2/image.tar',
  digest: `sha256:${'a'.repeat(64)}`,
  identity: { configDigest: `sha256:${'b'.repeat(64)}`, diffIds: [] },
  imageConfig: {},
  manifestSize: 428,
};
const scan = { report: trivyFixture('alpine-310.json'), reportPath: '/out/trivy-report.json' };
const files = {
  sarifPath: '/out/trivy-results.sarif',
  vulnerabilityPredicatePath: '/out/vulnerability-predicate.json',
};
const passed = decide(trivyFixture('alpine-310.json'), policy({ failOn: [] }));
const failed = decide(trivyFixture('debian-buster.json'), policy());
/** The outputs of a run that built the image and stopped before its scan was decided. */
const builtNotScanned = {
  digest: build.digest,
  tarball: build.tarball,
  'platform-digests': JSON.stringify({ 'linux/amd64': build.digest }),
  'platform-results': JSON.stringify({ 'linux/amd64': { digest: build.digest, tarball: build.tarball } }),
  pushed: 'false',
};
const platform = (decision = passed) => ({ platform: 'linux/amd64', build, scan, files, decision });

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
    expect(built).toEqual(builtNotScanned);
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

describe('runOutputs with several platforms', () => {
  const workspace = makeWorkspace();
  const config = buildConfig({
    read: (name) => ({ platforms: 'linux/amd64,linux/arm64' })[name as string] ?? '',
    github: githubContext({ workspace }),
    outputDir: join(workspace, 'out'),
    tempDir: join(workspace, 'tmp'),
    now: new Date(),
  });
  const arm64Build = { ...build, digest: `sha256:${'c'.repeat(64)}`, tarball: '/t/arm64/image.tar' };
  const arm64Scan = { ...scan, reportPath: '/out/linux-arm64/trivy-report.json' };
  const platforms = [
    { platform: 'linux/amd64', build, scan, files, decision: passed },
    { platform: 'linux/arm64', build: arm64Build, scan: arm64Scan, files, decision: failed },
  ];

  it('gives the worst counts and policy, every file, each platform’s digest, and no index digest unpushed', () => {
    const outputs = runOutputs({ config, platforms, notes: [] });
    expect(outputs).toMatchObject({
      digest: '',
      image: '',
      tags: '',
      pushed: 'false',
      policy: 'fail',
      critical: String(Math.max(passed.counts.CRITICAL, failed.counts.CRITICAL)),
      high: String(Math.max(passed.counts.HIGH, failed.counts.HIGH)),
      tarball: `${build.tarball}\n${arm64Build.tarball}`,
      report: `${scan.reportPath}\n${arm64Scan.reportPath}`,
      sarif: join(workspace, 'out', 'all-platforms.sarif'),
      'platform-digests': JSON.stringify({ 'linux/amd64': build.digest, 'linux/arm64': arm64Build.digest }),
    });
    expect(JSON.parse(outputs['platform-results']!)).toMatchObject({
      'linux/arm64': { digest: arm64Build.digest, policy: 'fail', report: arm64Scan.reportPath },
    });
    expect(JSON.parse(outputs.vulnerabilities!)).toEqual({
      CRITICAL: failed.counts.CRITICAL,
      HIGH: failed.counts.HIGH,
      MEDIUM: Math.max(passed.counts.MEDIUM, failed.counts.MEDIUM),
      LOW: Math.max(passed.counts.LOW, failed.counts.LOW),
      UNKNOWN: Math.max(passed.counts.UNKNOWN, failed.counts.UNKNOWN),
    });
  });

  it('gives the index’s digest and image once pushed, and a summary section per platform plus the index', async () => {
    const index = `sha256:${'e'.repeat(64)}`;
    const published = {
      status: 'pushed' as const,
      result: { digest: index, image: `ghcr.io/o/r@${index}`, references: ['ghcr.io/o/r:main'] },
    };
    const record = {
      config,
      platforms: platforms.map((entry) => ({
        ...entry,
        decision: passed,
        attribution: {
          fallback: { line: 1, instruction: 'FROM scratch', fromBaseImage: false },
          byDiffId: new Map(),
          diffIdByDigest: new Map(),
        },
      })),
      notes: [],
      publish: published,
    };
    expect(runOutputs(record)).toMatchObject({
      digest: index,
      image: `ghcr.io/o/r@${index}`,
      policy: 'pass',
    });
    const { reporter, said } = recordingReporter();
    await finish(record as RunRecord, reporter);
    expect(said.summary).toContain('for linux/amd64');
    expect(said.summary).toContain('for linux/arm64');
    expect(said.summary).toContain('## Image index');
    expect(said.summary).toContain(`<code>ghcr.io/o/r@${index}</code>, tagged:`);
    expect(said.summary).toContain(`| linux/arm64 | <code>${arm64Build.digest}</code> |`);
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
    expect(outputs).toEqual(builtNotScanned);
  });

  it('succeeds silently when everything passed and nothing was to be pushed', async () => {
    const { reporter, said } = recordingReporter();
    await finish({ platforms: [], notes: [] }, reporter);
    expect(said.failed).toEqual([]);
    expect(said.summary).toBe('');
  });
});
