import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ImageConfig } from '../../src/build/tarball.js';
import { findingsOf } from '../../src/scan/trivy-report.js';
import { attributeLayers, sourceOf } from '../../src/report/layer-attribution.js';
import { trivyFixture } from '../scan/trivy-fixtures.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'attribution');
const dockerfileText = readFileSync(join(fixtures, 'Dockerfile'), 'utf8');
const config = (name: string) => JSON.parse(readFileSync(join(fixtures, name), 'utf8')) as ImageConfig;
const layer = (n: number | string) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const linesByLayer = (imageConfig: ImageConfig, target = '') => {
  const attribution = attributeLayers({ dockerfileText, imageConfig, target });
  return imageConfig.rootfs!.diff_ids!.map((diffId) => attribution.byDiffId.get(diffId)?.line);
};

describe('attributeLayers', () => {
  it('kaniko, final stage: base layer → FROM alpine (line 12), then RUN 13, COPY 20, RUN 21', () => {
    expect(linesByLayer(config('kaniko-final.json'))).toEqual([12, 13, 20, 21]);
  });

  it('BuildKit, final stage: the same lines although BuildKit drops --from and wraps RUN in /bin/sh -c', () => {
    expect(linesByLayer(config('buildkit-final.json'))).toEqual([12, 13, 20, 21]);
  });

  it('target build: golang base layers → line 3, then WORKDIR 4, COPY 5, RUN 6, COPY 7, heredoc RUN 8', () => {
    expect(linesByLayer(config('kaniko-target-build.json'), 'build')).toEqual([3, 3, 3, 4, 5, 6, 7, 8]);
  });

  it('keeps the instruction text and whether the layer is the base image', () => {
    const attribution = attributeLayers({ dockerfileText, imageConfig: config('kaniko-final.json') });
    expect(attribution.byDiffId.get(layer(1))).toEqual({
      line: 12,
      instruction: 'FROM alpine:3.20 AS runtime-base',
      fromBaseImage: true,
    });
    expect(attribution.byDiffId.get(layer(3))).toEqual({
      line: 20,
      instruction: 'COPY --from=build --chown=1000:1000 /out/app /usr/local/bin/app',
      fromBaseImage: false,
    });
    expect(attribution.fallback.line).toBe(19);
  });

  it('an unknown target is an error that names the input', () => {
    expect(() => attributeLayers({ dockerfileText, target: 'tests' })).toThrow(/no stage named "tests"/);
  });

  it('findings without a known layer fall back to the final stage FROM line', () => {
    const attribution = attributeLayers({ dockerfileText, imageConfig: config('kaniko-final.json') });
    const [finding] = findingsOf(trivyFixture('secrets.json'));
    expect(sourceOf(attribution, finding!).line).toBe(19);
    expect(sourceOf(attribution, { ...finding!, layerDiffId: layer(4) }).line).toBe(21);
  });

  it('a real Trivy report: its one layer (classic ADD) is the base image, found by DiffID or by Digest', () => {
    const report = trivyFixture('alpine-310.json');
    const attribution = attributeLayers({ dockerfileText: 'FROM alpine:3.10\nRUN echo hi\n', report });
    const [finding] = findingsOf(report);
    expect(sourceOf(attribution, finding!)).toEqual({
      line: 1,
      instruction: 'FROM alpine:3.10',
      fromBaseImage: true,
    });
    expect(sourceOf(attribution, { ...finding!, layerDiffId: '' }).line).toBe(1);
    expect(attribution.diffIdByDigest.get(finding!.layerDigest!)).toBe(finding!.layerDiffId);
  });
});

describe('sourceOf for the image config', () => {
  const text = [
    'FROM alpine:3.20 AS base',
    'ENV TOKEN=from-base',
    'FROM base',
    'ARG KEY',
    'LABEL org.example.key="$KEY" other=1',
    'ENV TOKEN=$KEY MODE=prod',
    'RUN echo "$KEY" > /dev/null',
    '',
  ].join('\n');
  const attribution = attributeLayers({ dockerfileText: text });
  const at = (match: string) =>
    sourceOf(attribution, {
      kind: 'secret',
      id: 'github-pat',
      severity: 'CRITICAL',
      target: 'image config',
      title: '',
      origin: 'image-config',
      match,
    });

  it('an ENV value points at the newest ENV that sets it, a label at its LABEL', () => {
    expect(at('  "TOKEN=****************************************",')).toMatchObject({
      line: 6,
      instruction: 'ENV TOKEN=$KEY MODE=prod',
    });
    expect(at('  "org.example.key": "****************************************"')).toMatchObject({ line: 5 });
  });

  it('a history entry points at its instruction; an unknown one at the FROM line', () => {
    expect(
      at('  "created_by": "RUN echo \\"****************************************\\" > /dev/null",'),
    ).toMatchObject({ line: 7 });
    expect(at('  "SOMETHING_ELSE=****"')).toEqual(attribution.fallback);
  });

  it("the Dockerfile's own findings point at the instruction on their line, or line 1 for the whole file", () => {
    const finding = {
      kind: 'misconfiguration',
      id: 'DS-0002',
      severity: 'HIGH',
      target: 'Dockerfile',
      title: '',
    } as const;
    expect(sourceOf(attribution, { ...finding, origin: 'dockerfile', line: 5 })).toMatchObject({
      line: 5,
      instruction: 'LABEL org.example.key="$KEY" other=1',
      fromBaseImage: false,
    });
    expect(sourceOf(attribution, { ...finding, origin: 'dockerfile', line: 0 }).line).toBe(1);
  });
});
