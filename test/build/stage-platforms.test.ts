import { describe, expect, it } from 'vitest';
import {
  builtStages,
  finalStageProblems,
  pinnedDockerfile,
  withPlatformArgs,
} from '../../src/build/stage-platforms.js';
import type { Platform } from '../../src/platform.js';

const amd64: Platform = { os: 'linux', architecture: 'amd64' };
const arm64: Platform = { os: 'linux', architecture: 'arm64' };
const armV7: Platform = { os: 'linux', architecture: 'arm', variant: 'v7' };

const CROSS =
  'ARG GO=1.22\n' +
  'FROM --platform=$BUILDPLATFORM golang:${GO} AS build\n' +
  'ARG TARGETARCH\n' +
  'RUN GOARCH=$TARGETARCH go build -o /app\n' +
  'FROM alpine:3.20\n' +
  'COPY --from=build /app /app\n';

describe('withPlatformArgs', () => {
  it('gives BuildKit’s automatic platform args first, the user’s winning by name, no empty variant', () => {
    expect(withPlatformArgs(['TARGETARCH=custom', 'A=1'], armV7, amd64)).toEqual([
      'TARGETPLATFORM=linux/arm/v7',
      'TARGETOS=linux',
      'TARGETVARIANT=v7',
      'BUILDPLATFORM=linux/amd64',
      'BUILDOS=linux',
      'BUILDARCH=amd64',
      'TARGETARCH=custom',
      'A=1',
    ]);
  });
});

describe('builtStages', () => {
  it('puts a FROM --platform=$BUILDPLATFORM stage on the runner, pinned, and the rest on the target', () => {
    const stages = builtStages(CROSS, {
      target: '',
      buildArgs: withPlatformArgs([], arm64, amd64),
      platform: arm64,
    });
    expect(
      stages.map(({ stage, platform, runs, pin }) => ({ name: stage.name, platform, runs, pin })),
    ).toEqual([
      { name: 'build', platform: amd64, runs: true, pin: { reference: 'golang:1.22' } },
      { name: '', platform: arm64, runs: false, pin: undefined },
    ]);
  });

  it('pins nothing when the platform named is the target’s, or the base is a stage or scratch', () => {
    const native = builtStages(CROSS, {
      target: '',
      buildArgs: withPlatformArgs([], amd64, amd64),
      platform: amd64,
    });
    expect(native.filter((stage) => stage.pin)).toEqual([]);
    const chained =
      'FROM --platform=linux/amd64 alpine AS tools\nRUN make\nFROM tools AS more\nRUN make test\n' +
      'FROM --platform=linux/amd64 scratch AS empty\nFROM alpine\nCOPY --from=more / /\nCOPY --from=empty / /\n';
    const stages = builtStages(chained, { target: '', buildArgs: [], platform: arm64 });
    expect(
      stages.map(({ stage, platform, pin }) => [stage.name, platform.architecture, pin?.reference]),
    ).toEqual([
      ['tools', 'amd64', 'alpine'],
      ['more', 'amd64', undefined],
      ['empty', 'amd64', undefined],
      ['', 'arm64', undefined],
    ]);
  });
});

describe('pinnedDockerfile', () => {
  it('replaces each pinned FROM on its own line, keeping every line’s number', () => {
    const text =
      'FROM --platform=$BUILDPLATFORM \\\n  golang:1.22 AS build\nRUN go build\nFROM alpine\nCOPY --from=build / /\n';
    const stages = builtStages(text, {
      target: '',
      buildArgs: withPlatformArgs([], arm64, amd64),
      platform: arm64,
    });
    const pinned = pinnedDockerfile(text, [
      { stage: stages[0]!.stage, pinned: `golang@sha256:${'a'.repeat(64)}` },
    ]);
    expect(pinned).toBe(
      `FROM golang@sha256:${'a'.repeat(64)} AS build\n\nRUN go build\nFROM alpine\nCOPY --from=build / /\n`,
    );
  });
});

describe('finalStageProblems', () => {
  it('refuses an image whose final stage is pinned to another platform, naming it and the line', () => {
    const text = 'FROM --platform=linux/amd64 alpine\nRUN true\n';
    expect(
      finalStageProblems(text, { target: '', buildArgs: [], platforms: [amd64, arm64], runner: amd64 }),
    ).toEqual([
      'The image for linux/arm64 would be built on linux/amd64: its stage at line 1 (FROM --platform=linux/amd64 alpine) ' +
        "is pinned there by --platform. Leave the final stage's FROM without --platform (or use --platform=$TARGETPLATFORM) " +
        'and pin only the stages that build for it.',
    ]);
    expect(
      finalStageProblems('FROM --platform=$TARGETPLATFORM alpine\n', {
        target: '',
        buildArgs: [],
        platforms: [amd64, arm64],
        runner: amd64,
      }),
    ).toEqual([]);
  });
});
