// Gate plus SARIF rewrite on a report of 20,000 findings synthesised from the real Trivy
// fixtures (and a matching Trivy-shaped SARIF log). Target: under one second for both.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseIgnoreFile } from '../src/gate/ignore.js';
import { decide } from '../src/gate/policy.js';
import type { ImageConfig } from '../src/build/tarball.js';
import type { TrivyReport, TrivyVulnerability } from '../src/scan/trivy-report.js';
import { attributeLayers } from '../src/report/layer-attribution.js';
import type { SarifLog, SarifResult, SarifRule } from '../src/report/sarif.js';
import { rewriteSarif } from '../src/report/sarif.js';
import { formatTiming, peakRssMiB, time } from './measure.js';

const FINDINGS = 20_000;
const DISTINCT_IDS = 2_000;
const root = join(import.meta.dirname, '..');
const fixture = (...parts: string[]) => readFileSync(join(root, 'test', 'fixtures', ...parts), 'utf8');
const dockerfileText = fixture('attribution', 'Dockerfile');
const imageConfig = JSON.parse(fixture('attribution', 'kaniko-final.json')) as ImageConfig;
const diffIds = imageConfig.rootfs!.diff_ids!;

const templates: TrivyVulnerability[] = [
  'alpine-310.json',
  'centos-7.json',
  'debian-buster.json',
  'distroless-base.json',
].flatMap((name) =>
  (JSON.parse(fixture('trivy', name)) as TrivyReport).Results!.flatMap(
    (result) => result.Vulnerabilities ?? [],
  ),
);
const severities = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];
const vulnerabilities: TrivyVulnerability[] = Array.from({ length: FINDINGS }, (_, i) => {
  const template = templates[i % templates.length]!;
  return {
    ...template,
    VulnerabilityID: `${template.VulnerabilityID}-${i % DISTINCT_IDS}`,
    PkgName: `${template.PkgName}-${i}`,
    Severity: severities[i % severities.length]!,
    Layer: { DiffID: diffIds[i % diffIds.length]! },
  };
});
const report: TrivyReport = {
  SchemaVersion: 2,
  ArtifactName: '/tmp/image.tar',
  Metadata: { ImageConfig: imageConfig },
  Results: [
    {
      Target: '/tmp/image.tar (alpine 3.20)',
      Class: 'os-pkgs',
      Type: 'alpine',
      Vulnerabilities: vulnerabilities,
    },
  ],
};

const rules: SarifRule[] = [];
const ruleIndex = new Map<string, number>();
const results: SarifResult[] = vulnerabilities.map((v) => {
  if (!ruleIndex.has(v.VulnerabilityID)) {
    ruleIndex.set(v.VulnerabilityID, rules.length);
    rules.push({
      id: v.VulnerabilityID,
      shortDescription: { text: v.Title },
      fullDescription: { text: (v as { Description?: string }).Description ?? '' },
      properties: { 'security-severity': '5.5', tags: ['vulnerability', 'security', v.Severity] },
    });
  }
  return {
    ruleId: v.VulnerabilityID,
    ruleIndex: ruleIndex.get(v.VulnerabilityID)!,
    level: 'warning',
    message: {
      text: `Package: ${v.PkgName}\nInstalled Version: ${v.InstalledVersion}\nVulnerability ${v.VulnerabilityID}\nSeverity: ${v.Severity}\nFixed Version: ${v.FixedVersion ?? ''}\nLink: [${v.VulnerabilityID}](${v.PrimaryURL})`,
    },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: '/tmp/image.tar', uriBaseId: 'ROOTPATH' },
          region: { startLine: 1, startColumn: 1, endLine: 1, endColumn: 1 },
        },
        message: { text: `/tmp/image.tar: ${v.PkgName}@${v.InstalledVersion}` },
      },
    ],
  };
});
const sarif: SarifLog = { version: '2.1.0', runs: [{ tool: { driver: { name: 'Trivy', rules } }, results }] };
const ignores = parseIgnoreFile(
  Array.from({ length: 50 }, (_, i) => `CVE-2019-1549-${i * 7} exp:2027-01-01`).join('\n'),
  '.trivyignore',
);
const policy = {
  failOn: ['CRITICAL', 'HIGH'] as const,
  severity: ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const,
  ignoreUnfixed: false,
  scanners: ['vuln', 'secret'] as const,
  ignores,
  now: new Date('2026-11-24T20:00:00Z'),
};

for (const ignoreUnfixed of [false, true]) {
  let last: { decision: ReturnType<typeof decide>; rewritten: ReturnType<typeof rewriteSarif> } | undefined;
  const timing = await time(() => {
    const decision = decide(report, {
      ...policy,
      ignoreUnfixed,
      failOn: [...policy.failOn],
      severity: [...policy.severity],
      scanners: [...policy.scanners],
    });
    const attribution = attributeLayers({ dockerfileText, imageConfig, report });
    const rewritten = rewriteSarif(sarif, {
      category: 'bench',
      dockerfilePath: 'Dockerfile',
      attribution,
      decision,
    });
    last = { decision, rewritten };
  });
  console.log(
    formatTiming(
      `gate + SARIF rewrite, ${FINDINGS} findings${ignoreUnfixed ? ', ignore-unfixed' : ''}`,
      timing,
      1000,
    ),
  );
  const { decision, rewritten } = last!;
  const mib = Buffer.byteLength(JSON.stringify(rewritten.sarif)) / 2 ** 20;
  console.log(
    `  ${decision.reported.length} reported, ${decision.blocking.length} blocking, ${decision.ignored.length} ignored; ` +
      `SARIF ${rewritten.results} results (${mib.toFixed(1)} MiB before gzip), ${rewritten.hiddenByPolicy} hidden, ${rewritten.dropped.length} cuts`,
  );
}
console.log(`  peak RSS ${peakRssMiB().toFixed(0)} MiB`);
