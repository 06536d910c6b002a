// The push starts once the policy passed, while SARIF, the SBOM and the predicate are still being
// written (`trivy convert` held back by the harness's wrapper until the test lets it go); no tag
// is set before they are, and none at all when one cannot be written.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ActionHarness } from '../helpers/action-harness.js';
import { startActionHarness } from '../helpers/action-harness.js';
import { pushBusyboxPlatformIndex } from '../helpers/busybox-platform-index.js';

const gateDir = mkdtempSync(join(tmpdir(), 'bsp-convert-gate-'));
const convertGate = join(gateDir, 'convert-may-run');
let harness: ActionHarness;

beforeAll(async () => {
  harness = await startActionHarness({ convertWaitsFor: convertGate });
}, 120_000);

afterAll(async () => {
  await harness?.stop();
  rmSync(gateDir, { recursive: true, force: true });
});

const manifestUploads = () =>
  harness.proxy.requests.filter(
    (request) => request.method === 'PUT' && /\/manifests\/sha256:[0-9a-f]{64}$/.test(request.path),
  );

describe('the push while the reports are written', () => {
  it('uploads by digest before any convert has run, and tags only once they have', async () => {
    rmSync(convertGate, { force: true });
    harness.proxy.reset();
    const running = harness.runAction({ report: 'alpine-310.json' });
    try {
      await vi.waitFor(() => expect(manifestUploads()).toHaveLength(1), { timeout: 60_000, interval: 50 });
      expect(await harness.registryTags('octo-org/hello').catch(() => [])).toEqual([]);
    } finally {
      writeFileSync(convertGate, '');
    }
    const result = await running;
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.outputs).toMatchObject({ policy: 'pass', pushed: 'true' });
    expect((await harness.registryTags('octo-org/hello')).sort()).toEqual(['main', 'sha-c0ffee0']);
  });

  it('a report that failed before the last platform was gated stops the run: nothing at all is pushed', async () => {
    writeFileSync(convertGate, 'fail');
    const base = await pushBusyboxPlatformIndex({
      registry: harness.registry.host,
      repository: 'base/busybox',
    });
    harness.proxy.reset();
    const result = await harness.runAction({
      report: 'alpine-310.json',
      // arm64 is still building (under QEMU) long after amd64's report failed.
      dockerfile: `FROM ${base.reference}\nRUN [ "$(uname -m)" != aarch64 ] || sleep 3\nCOPY . /\n`,
      inputs: {
        image: `${harness.proxy.host}/octo-org/two-platforms`,
        platforms: 'linux/amd64,linux/arm64',
        'build-loopback-ports': harness.registry.host.split(':')[1]!,
      },
    });
    expect(result.exitCode).toBe(1);
    expect(result.summary).toContain('The report stage failed: trivy convert --format');
    expect(result.outputs.pushed).toBe('false');
    expect(
      harness.proxy.requests.filter((request) => request.method === 'PUT' || request.method === 'POST'),
    ).toEqual([]);
  });

  it('a report that cannot be written fails the step and sets no tag: the manifest stays untagged', async () => {
    writeFileSync(convertGate, 'fail');
    harness.proxy.reset();
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { tags: 'unwritten-report' },
    });
    expect(result.exitCode).toBe(1);
    expect(result.outputs.pushed).toBe('false');
    expect(manifestUploads()).toHaveLength(1);
    expect(await harness.registryTags('octo-org/hello')).not.toContain('unwritten-report');
    const digest = result.outputs.digest!;
    expect(result.stdout).toMatch(
      new RegExp(
        `::error::trivy convert --format .* failed.*No tag was set.*/octo-org/hello@${digest} was pushed by digest, and nothing points at it, as what must come before any tag failed`,
      ),
    );
    expect(result.summary).toContain('The report stage failed: trivy convert --format');
  });
});
