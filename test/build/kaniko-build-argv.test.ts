import { describe, expect, it } from 'vitest';
import type { KanikoArgvOptions } from '../../src/build/kaniko-build.js';
import { parseDockerfile } from '../../src/dockerfile.js';
import {
  failingInstruction,
  kanikoArgv,
  kanikoFailure,
  loggedInstructions,
  proxySettings,
} from '../../src/build/kaniko-build.js';

const base: KanikoArgvOptions = {
  dockerfile: '/workspace/Dockerfile',
  image: 'ghcr.io/octo-org/app',
  firstTag: 'sha-0123456',
  buildArgs: [],
  labels: {},
  target: '',
  platform: { os: 'linux', architecture: 'amd64' },
  reproducible: false,
  insecureRegistries: [],
  proxy: [],
  extraArgs: [],
};

/** The value after each occurrence of `flag` in argv. */
function values(argv: readonly string[], flag: string): string[] {
  return argv.flatMap((arg, i) => (arg === flag ? [argv[i + 1]!] : []));
}

describe('kanikoArgv', () => {
  it('sets the flags the action owns', () => {
    expect(kanikoArgv(base)).toEqual([
      '--force',
      '--context',
      'dir:///workspace',
      '--dockerfile',
      '/workspace/Dockerfile',
      '--destination',
      'ghcr.io/octo-org/app:sha-0123456',
      '--no-push',
      '--tar-path',
      '/output/image.tar',
      '--digest-file',
      '/output/digest',
      '--custom-platform=linux/amd64',
      '--snapshot-mode=redo',
    ]);
  });

  it('uses --snapshot-mode=redo by default and lets kaniko-args choose another mode', () => {
    const argv = kanikoArgv({ ...base, extraArgs: ['--snapshot-mode=full'] });
    expect(argv.filter((arg) => arg.startsWith('--snapshot-mode'))).toEqual(['--snapshot-mode=full']);
  });

  it('passes build args, labels and the target with quoting-hostile values as single entries', () => {
    const hostile = ['two words', '$(touch /pwned)', 'line\nbreak', 'semi;colon && `tick`', '\'"quotes"\''];
    const argv = kanikoArgv({
      ...base,
      dockerfile: '/workspace/sub dir/Dockerfile $(x)',
      buildArgs: hostile.map((value, i) => `ARG${i}=${value}`),
      labels: Object.fromEntries(hostile.map((value, i) => [`org.example.l${i}`, value])),
      target: 'release',
    });
    expect(values(argv, '--build-arg')).toEqual(hostile.map((value, i) => `ARG${i}=${value}`));
    expect(values(argv, '--label')).toEqual(hostile.map((value, i) => `org.example.l${i}=${value}`));
    expect(values(argv, '--target')).toEqual(['release']);
    expect(values(argv, '--dockerfile')).toEqual(['/workspace/sub dir/Dockerfile $(x)']);
  });

  it('adds --reproducible, the loopback layer cache and insecure registries only when asked', () => {
    const argv = kanikoArgv({
      ...base,
      reproducible: true,
      cacheRepo: '127.0.0.1:40123/cache',
      insecureRegistries: ['127.0.0.1:5000', 'registry.local'],
    });
    expect(argv).toContain('--reproducible');
    expect(argv).toContain('--cache=true');
    expect(argv).toContain('--cache-repo=127.0.0.1:40123/cache');
    // go-containerregistry speaks plain HTTP to 127.0.0.1 by itself: no TLS exemption for it.
    expect(argv.filter((arg) => arg.includes('40123'))).toEqual(['--cache-repo=127.0.0.1:40123/cache']);
    expect(argv.filter((arg) => arg.startsWith('--insecure-registry='))).toEqual([
      '--insecure-registry=127.0.0.1:5000',
      '--insecure-registry=registry.local',
    ]);
    expect(argv.filter((arg) => arg.startsWith('--skip-tls-verify-registry='))).toEqual([
      '--skip-tls-verify-registry=127.0.0.1:5000',
      '--skip-tls-verify-registry=registry.local',
    ]);
    expect(kanikoArgv(base).some((arg) => /reproducible|cache|insecure|skip-tls/.test(arg))).toBe(false);
  });

  it("appends the user's kaniko-args last, unchanged", () => {
    const argv = kanikoArgv({ ...base, extraArgs: ['--verbosity=debug', '--ignore-path=/a b'] });
    expect(argv.slice(-2)).toEqual(['--verbosity=debug', '--ignore-path=/a b']);
  });

  it('hands proxy settings to the build as predefined args, by name only, unless the user set them', () => {
    const argv = kanikoArgv({
      ...base,
      buildArgs: ['HTTPS_PROXY=http://mine:3128'],
      proxy: ['HTTP_PROXY', 'HTTPS_PROXY', 'no_proxy'],
    });
    expect(values(argv, '--build-arg')).toEqual(['HTTPS_PROXY=http://mine:3128', 'HTTP_PROXY', 'no_proxy']);
  });
});

describe('proxySettings', () => {
  it('keeps the set proxy variables in both cases and nothing else', () => {
    expect(
      proxySettings({
        HTTP_PROXY: 'http://p:1',
        https_proxy: 'http://p:2',
        NO_PROXY: '',
        no_proxy: '127.0.0.1',
        GITHUB_TOKEN: 'x',
        ALL_PROXY: 'socks5://p',
      }),
    ).toEqual({ HTTP_PROXY: 'http://p:1', https_proxy: 'http://p:2', no_proxy: '127.0.0.1' });
  });
});

const DOCKERFILE = `# syntax=docker/dockerfile:1
FROM alpine:3.20 AS build
ARG VERSION

# a comment
RUN apk add --no-cache \\
    # comment inside a continuation
    curl \\
    git
COPY . /src
RUN make

FROM scratch
COPY --from=build /src/app /app
RUN make
ENTRYPOINT ["/app"]
`;

describe('loggedInstructions', () => {
  it('reads the color, text and json log formats and skips other messages', () => {
    const output = [
      '\u001b[36mINFO\u001b[0m[0000] Retrieving image manifest alpine:3.20',
      '\u001b[36mINFO\u001b[0m[0001] RUN apk add --no-cache curl git',
      'fetch https://dl-cdn.alpinelinux.org/alpine/v3.20/main/x86_64/APKINDEX.tar.gz',
      'time="2026-11-24T20:00:00Z" level=info msg="COPY . /src"',
      '{"level":"info","msg":"RUN make","time":"2026-11-24T20:00:01Z"}',
      '\u001b[31mERRO\u001b[0m[0002] error building image: exit status 2',
    ].join('\n');
    expect(loggedInstructions(output)).toEqual([
      'RUN apk add --no-cache curl git',
      'COPY . /src',
      'RUN make',
    ]);
  });
});

describe('failingInstruction', () => {
  const { instructions } = parseDockerfile(DOCKERFILE);

  it('maps the last logged instruction to its Dockerfile line, in stage order', () => {
    const logged = ['ARG VERSION', 'RUN apk add --no-cache curl git', 'COPY . /src', 'RUN make'];
    expect(failingInstruction(instructions, logged)?.line).toBe(11);
    expect(
      failingInstruction(instructions, [...logged, 'COPY --from=build /src/app /app', 'RUN make'])?.line,
    ).toBe(15);
  });

  it('finds a later stage when earlier stages were skipped, and nothing when nothing ran', () => {
    expect(failingInstruction(instructions, ['COPY --from=build /src/app /app'])?.line).toBe(14);
    expect(failingInstruction(instructions, [])).toBeUndefined();
  });
});

describe('kanikoFailure', () => {
  it('names the exit code, the Dockerfile line and the last lines', () => {
    const output = '\u001b[36mINFO\u001b[0m[0000] RUN make\nmake: *** No rule to make target\n';
    const message = kanikoFailure(
      1,
      output,
      'make: *** No rule to make target',
      DOCKERFILE,
      '/ws/Dockerfile',
    );
    expect(message).toBe(
      "kaniko failed with exit code 1 at /ws/Dockerfile:11: RUN make\nkaniko's last lines:\nmake: *** No rule to make target",
    );
    const colored = '\u001b[36mINFO\u001b[0m[0000] RUN make';
    expect(kanikoFailure(1, colored, colored, DOCKERFILE, 'Dockerfile')).toMatch(
      /last lines:\nINFO\[0000\] RUN make$/,
    );
    expect(kanikoFailure(1, 'ERRO unauthorized', 'ERRO unauthorized', DOCKERFILE, '/ws/Dockerfile')).toMatch(
      /before running any instruction of \/ws\/Dockerfile/,
    );
  });
});
