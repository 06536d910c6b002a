import { describe, expect, it } from 'vitest';
import { parseIgnoreFile } from '../../src/gate/ignore.js';
import { decide } from '../../src/gate/policy.js';
import { attributeLayers } from '../../src/report/layer-attribution.js';
import {
  describeDecision,
  renderFailureSummary,
  renderSummary,
  scanOutputs,
} from '../../src/report/summary.js';
import type { TrivyReport } from '../../src/scan/trivy-report.js';
import { policy } from '../helpers/policy.js';
import { trivyFixture } from '../scan/trivy-fixtures.js';

const digest = `sha256:${'ab'.repeat(32)}`;
const summarize = (report: TrivyReport, decision = decide(report, policy()), pushed?: string[]) =>
  renderSummary({
    decision,
    image: 'ghcr.io/octo/app',
    digest,
    dockerfilePath: 'Dockerfile',
    attribution: attributeLayers({ dockerfileText: '# base\nFROM debian:10\nRUN true\n', report }),
    failOn: ['CRITICAL', 'HIGH'],
    pushed,
  });

describe('renderSummary', () => {
  it('debian-buster: verdict, counts, the blocking CRITICAL with its Dockerfile line, image and digest', () => {
    const markdown = summarize(trivyFixture('debian-buster.json'));
    expect(markdown).toContain(
      '**Policy: ❌ fail**: 1 blocking finding (fail-on: CRITICAL, HIGH; secrets always block)',
    );
    expect(markdown).toContain('| 1 | 0 | 0 | 1 | 0 | 0 | 0 | 0 |');
    expect(markdown).toContain(
      '| CRITICAL | CVE-2019-18224 | libidn2-0 | 2.0.5-1 | 2.0.5-1+deb10u1 | Dockerfile:2 <code>FROM debian:10</code> | CRITICAL is in fail-on |',
    );
    expect(markdown).toContain(`Digest: <code>${digest}</code>`);
    expect(markdown).not.toContain('### Pushed');
  });

  it('names the base image and its digest under the image’s, escaped as everything else', () => {
    const report = trivyFixture('alpine-310.json');
    const base = { name: 'docker.io/library/alpine:3.10<b>', digest: `sha256:${'cd'.repeat(32)}` };
    const markdown = renderSummary({
      decision: decide(report, policy()),
      image: 'ghcr.io/octo/app',
      digest,
      dockerfilePath: 'Dockerfile',
      attribution: attributeLayers({ dockerfileText: 'FROM alpine:3.10\n', report }),
      failOn: [],
      base,
    });
    expect(markdown).toContain(
      `Digest: <code>${digest}</code>  \nBase image: <code>docker.io/library/alpine:3.10&lt;b&gt;</code> <code>${base.digest}</code>\n`,
    );
    expect(summarize(report)).not.toContain('Base image');
  });

  it('ignored findings with why and until, warnings, and pushed references', () => {
    const report = trivyFixture('debian-buster.json');
    const ignores = parseIgnoreFile('CVE-2019-18224 exp:2026-12-01\n', '.trivyignore');
    const markdown = summarize(report, decide(report, policy({ ignores })), ['ghcr.io/octo/app:main']);
    expect(markdown).toContain('**Policy: ✅ pass**');
    expect(markdown).toContain(
      '| CRITICAL | CVE-2019-18224 | libidn2-0 | listed in .trivyignore:1 | 2026-12-01 |',
    );
    expect(markdown).toContain(
      '- ignore of CVE-2019-18224 (.trivyignore:1) expires on 2026-12-01, in 7 days.',
    );
    expect(markdown).toContain('### Pushed\n\n- <code>ghcr.io/octo/app:main</code>');
  });

  it('secrets show their file; no fix is said plainly', () => {
    const markdown = summarize(trivyFixture('secrets.json'));
    expect(markdown).toContain('| CRITICAL | aws-access-key-id | deploy.sh |  |  | Dockerfile:2');
    expect(
      summarize(
        trivyFixture('distroless-base.json'),
        decide(trivyFixture('distroless-base.json'), policy({ failOn: ['MEDIUM'] })),
      ),
    ).toContain('| MEDIUM | CVE-2019-1551 | libssl1.1 | 1.1.0k-1&#126;deb9u1 | no fix |');
  });

  it('lists the first 20 blocking findings and says how many more', () => {
    const base = trivyFixture('alpine-310.json');
    const vulnerabilities = base.Results![0]!.Vulnerabilities!;
    const many: TrivyReport = {
      ...base,
      Results: [
        {
          ...base.Results![0]!,
          Vulnerabilities: Array.from({ length: 25 }, (_, i) => ({
            ...vulnerabilities[i % 4]!,
            PkgName: `pkg-${i}`,
          })),
        },
      ],
    };
    const markdown = summarize(many, decide(many, policy({ failOn: ['MEDIUM'] })));
    expect(markdown.match(/^\| MEDIUM \| CVE-/gm)).toHaveLength(20);
    expect(markdown).toContain('…and 5 more (the JSON report lists every finding).');
  });

  it('escapes table and HTML characters that come from the image', () => {
    const base = trivyFixture('alpine-310.json');
    const odd: TrivyReport = {
      ...base,
      Results: [
        {
          ...base.Results![0]!,
          Vulnerabilities: [
            { ...base.Results![0]!.Vulnerabilities![0]!, PkgName: 'a|b<script>', Severity: 'HIGH' },
          ],
        },
      ],
    };
    expect(summarize(odd)).toContain('| a&#124;b&lt;script&gt; |');
  });

  it('shows HTML, markdown, pipes and newlines from the report, the Dockerfile and notes as text', () => {
    const hostile =
      '</code></pre>\n<h2>✅ Policy passed</h2><a href="https://evil.example">ok</a> | [pushed](https://evil.example) `x`';
    const base = trivyFixture('debian-buster.json');
    const report: TrivyReport = {
      ...base,
      Results: [
        {
          ...base.Results![0]!,
          Vulnerabilities: base.Results![0]!.Vulnerabilities!.map((vulnerability) => ({
            ...vulnerability,
            VulnerabilityID: `CVE-1 ${hostile}`,
            PkgName: hostile,
            InstalledVersion: hostile,
            FixedVersion: hostile,
          })),
        },
      ],
    };
    const markdown = renderSummary({
      decision: decide(report, policy()),
      image: 'ghcr.io/octo/app',
      digest,
      dockerfilePath: 'Dockerfile',
      attribution: attributeLayers({
        dockerfileText: `# base\nFROM debian:10 AS ${hostile.replace('\n', ' ')}\nRUN true\n`,
        report,
      }),
      failOn: ['CRITICAL', 'HIGH'],
      notes: [`Push failed: crane said\n## ✅ Policy passed\n${hostile}`],
    });
    for (const markup of ['</code></pre>', '<h2>', '<a ', '](', '\n## ✅', '`x`'])
      expect(markdown).not.toContain(markup);
    expect(markdown).toContain('&lt;h2&gt;✅ Policy passed&lt;/h2&gt;');
    // The blocking finding stays one row of seven cells.
    const rows = markdown.split('\n').filter((line) => line.startsWith('| CRITICAL |'));
    expect(rows).toHaveLength(1);
    for (const line of rows) expect(line.split('|')).toHaveLength(9);
    expect(markdown).toContain('- Push failed: crane said<br>## ✅ Policy passed<br>&lt;/code&gt;');
  });
});

describe('renderFailureSummary', () => {
  it('shows the failed step and the tool tail in it as text', () => {
    const html = renderFailureSummary(
      "kaniko failed with exit code 1:\n</code></pre><h2>✅ Policy passed, image pushed</h2><a href='https://evil.example'>x</a> & more",
    );
    expect(html).toContain('Build, scan and push: failed');
    expect(html).toContain(
      '<pre><code>kaniko failed with exit code 1:\n&lt;/code&gt;&lt;/pre&gt;&lt;h2&gt;✅ Policy passed, image pushed&lt;/h2&gt;&lt;a href=&#39;https://evil.example&#39;&gt;x&lt;/a&gt; &amp; more</code></pre>',
    );
    expect(html.match(/<\/pre>/g)).toHaveLength(1);
    expect(html).not.toContain('<h2>✅');
  });
});

describe('outputs and log line agree with the summary', () => {
  it('debian-buster', () => {
    const report = trivyFixture('debian-buster.json');
    const decision = decide(report, policy());
    expect(scanOutputs(decision, { report: '/tmp/r.json', sarif: '/tmp/r.sarif' })).toEqual({
      vulnerabilities: '{"CRITICAL":1,"HIGH":0,"MEDIUM":0,"LOW":1,"UNKNOWN":0}',
      critical: '1',
      high: '0',
      medium: '0',
      low: '1',
      secrets: '0',
      licenses: '0',
      policy: 'fail',
      report: '/tmp/r.json',
      sarif: '/tmp/r.sarif',
      sbom: '',
    });
    expect(describeDecision(decision)).toBe(
      'vulnerabilities CRITICAL 1, HIGH 0, MEDIUM 0, LOW 1, UNKNOWN 0; secrets 0; misconfigurations 0; licenses 0; ignored 0; policy failed: 1 blocking finding',
    );
  });

  it('secrets', () => {
    const decision = decide(trivyFixture('secrets.json'), policy());
    expect(scanOutputs(decision, { report: 'r', sarif: 's', sbom: 'b' })).toMatchObject({
      secrets: '2',
      policy: 'fail',
      sbom: 'b',
    });
  });
});
