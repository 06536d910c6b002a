import { describe, expect, it, vi } from 'vitest';
import { decide } from '../../src/gate/policy.js';
import {
  ERROR_ANNOTATIONS_PER_STEP,
  announceBlockingFindings,
  blockingNotice,
} from '../../src/report/blocking-annotations.js';
import { attributeLayers } from '../../src/report/layer-attribution.js';
import type { TrivyReport, TrivyVulnerability } from '../../src/scan/trivy-report.js';
import { policy } from '../helpers/policy.js';

const DOCKERFILE = 'FROM alpine:3.20\nRUN apk add curl\nCOPY app /app\n';
const BASE = `sha256:${'1'.repeat(64)}`;
const RUN_LAYER = `sha256:${'2'.repeat(64)}`;
const COPY_LAYER = `sha256:${'3'.repeat(64)}`;

function vulnerability(id: string, severity: string, layer: string, name = 'openssl'): TrivyVulnerability {
  return {
    VulnerabilityID: id,
    PkgName: name,
    InstalledVersion: '3.0.1-r0',
    FixedVersion: '3.0.2-r0',
    Severity: severity,
    Layer: { DiffID: layer },
  };
}

function decided(vulnerabilities: TrivyVulnerability[], secrets: TrivyReport['Results'] = []) {
  const report: TrivyReport = {
    SchemaVersion: 2,
    ArtifactName: 'image.tar',
    Metadata: {
      ImageConfig: {
        rootfs: { diff_ids: [BASE, RUN_LAYER, COPY_LAYER] },
        history: [
          { created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
          { created_by: 'RUN apk add curl' },
          { created_by: 'COPY app /app' },
        ],
      },
    },
    Results: [{ Target: 'image.tar (alpine 3.20)', Vulnerabilities: vulnerabilities }, ...(secrets ?? [])],
  } as TrivyReport;
  return {
    decision: decide(report, policy()),
    attribution: attributeLayers({ dockerfileText: DOCKERFILE, report }),
  };
}

function notice(vulnerabilities: TrivyVulnerability[], secrets: TrivyReport['Results'] = []) {
  const { decision, attribution } = decided(vulnerabilities, secrets);
  return blockingNotice(decision, attribution, 'app/Dockerfile');
}

describe('blockingNotice', () => {
  it('names each blocking finding in the log, most severe first, with its versions and Dockerfile line', () => {
    const { lines, annotations } = notice([
      vulnerability('CVE-2026-0001', 'HIGH', RUN_LAYER, 'curl'),
      vulnerability('CVE-2026-0002', 'MEDIUM', RUN_LAYER),
      vulnerability('CVE-2026-0003', 'CRITICAL', BASE),
    ]);
    expect(lines).toEqual([
      'Blocking: CRITICAL CVE-2026-0003: openssl 3.0.1-r0 → 3.0.2-r0; layer of app/Dockerfile:1 (FROM alpine:3.20, the base image)',
      'Blocking: HIGH CVE-2026-0001: curl 3.0.1-r0 → 3.0.2-r0; layer of app/Dockerfile:2 (RUN apk add curl)',
    ]);
    expect(annotations).toEqual([
      {
        message: 'openssl 3.0.1-r0 → 3.0.2-r0: CRITICAL is in fail-on.',
        annotation: { file: 'app/Dockerfile', startLine: 1, title: 'CRITICAL CVE-2026-0003 blocks the push' },
      },
      {
        message: 'curl 3.0.1-r0 → 3.0.2-r0: HIGH is in fail-on.',
        annotation: { file: 'app/Dockerfile', startLine: 2, title: 'HIGH CVE-2026-0001 blocks the push' },
      },
    ]);
  });

  it('names a secret by its rule, file and line, never its text; a finding of an unknown layer gets no file', () => {
    const { lines, annotations } = notice(
      [vulnerability('CVE-2026-0004', 'HIGH', `sha256:${'9'.repeat(64)}`)],
      [
        {
          Target: '/app/.env',
          Secrets: [
            {
              RuleID: 'aws-access-key-id',
              Severity: 'CRITICAL',
              StartLine: 3,
              Match: 'AWS_ACCESS_KEY_ID=AKIA****************',
              Layer: { DiffID: COPY_LAYER },
            },
          ],
        },
      ],
    );
    expect(lines).toEqual([
      'Blocking: CRITICAL aws-access-key-id: secret in /app/.env:3; layer of app/Dockerfile:3 (COPY app /app)',
      'Blocking: HIGH CVE-2026-0004: openssl 3.0.1-r0 → 3.0.2-r0; layer unknown',
    ]);
    expect(JSON.stringify(annotations)).not.toContain('AKIA');
    expect(annotations[0]!.annotation).toEqual({
      file: 'app/Dockerfile',
      startLine: 3,
      title: 'CRITICAL aws-access-key-id blocks the push',
    });
    expect(annotations[1]!.annotation).toEqual({ title: 'HIGH CVE-2026-0004 blocks the push' });
  });

  it('keeps within GitHub’s ten error annotations per step with the step’s own failure: the rest are counted in one', () => {
    const many = Array.from({ length: 12 }, (_, index) =>
      vulnerability(`CVE-2026-${String(index).padStart(4, '0')}`, 'HIGH', RUN_LAYER),
    );
    const { lines, annotations } = notice(many);
    expect(lines).toHaveLength(12);
    expect(annotations).toHaveLength(ERROR_ANNOTATIONS_PER_STEP - 2);
    expect(annotations.at(-1)).toEqual({
      message:
        "5 more blocking findings are not annotated here (GitHub shows 10 error annotations per step): the step's log names every one, and the job summary lists them.",
      annotation: { title: '5 more blocking findings' },
    });
    expect(notice(many.slice(0, 8)).annotations.map((a) => a.annotation.title)).not.toContain(
      expect.stringMatching(/more/),
    );
  });

  it('keeps hostile report text as data on one line each', () => {
    const { lines, annotations } = notice([
      vulnerability('CVE-2026-0005', 'HIGH', RUN_LAYER, 'evil\n::add-mask::HIGH\n::error::spoofed'),
    ]);
    expect(lines).toEqual([
      'Blocking: HIGH CVE-2026-0005: evil ::add-mask::HIGH ::error::spoofed 3.0.1-r0 → 3.0.2-r0; layer of app/Dockerfile:2 (RUN apk add curl)',
    ]);
    expect(annotations[0]!.message).toBe(
      'evil ::add-mask::HIGH ::error::spoofed 3.0.1-r0 → 3.0.2-r0: HIGH is in fail-on.',
    );
  });

  it('on a runner, neither the log line nor the annotation lets a package name issue a command', () => {
    const written: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(chunk.toString());
      return true;
    });
    try {
      const { decision, attribution } = decided([
        vulnerability('CVE-2026-0006', 'HIGH', RUN_LAYER, 'evil\n::add-mask::HIGH'),
      ]);
      announceBlockingFindings([{ decision, attribution }], 'app,x::Dockerfile');
    } finally {
      write.mockRestore();
    }
    const lines = written.join('').split('\n');
    const commands = lines.filter((line) => line.trimStart().startsWith('::'));
    const [open, close, annotation, ...others] = commands;
    expect(others).toEqual([]);
    const token = /^::stop-commands::([0-9a-f]{64})$/.exec(open!)?.[1];
    expect(close).toBe(`::${token}::`);
    expect(annotation).toBe(
      '::error title=HIGH CVE-2026-0006 blocks the push,file=app%2Cx%3A%3ADockerfile,line=2::evil ::add-mask::HIGH 3.0.1-r0 → 3.0.2-r0: HIGH is in fail-on.',
    );
  });
});
