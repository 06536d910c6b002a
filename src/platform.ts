/** An image platform, as the OCI image index names one (`os`, `architecture`, `variant`). */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/**
 * The variants each supported architecture may carry after normalization ('' for none). These are
 * the architectures whose ELF machine the emulation check knows (src/build/emulation.ts); others
 * (mips64le, loong64, …) are refused rather than built without that check.
 */
const SUPPORTED: ReadonlyMap<string, readonly string[]> = new Map([
  ['amd64', ['']],
  ['arm64', ['']],
  ['arm', ['v7', 'v6', 'v5']],
  ['386', ['']],
  ['ppc64le', ['']],
  ['s390x', ['']],
  ['riscv64', ['']],
]);

const ACCEPTED = [...SUPPORTED]
  .flatMap(([architecture, variants]) =>
    variants.map((variant) => formatPlatform({ os: 'linux', architecture, variant })),
  )
  .join(', ');

/**
 * containerd's `normalizeArch` (github.com/containerd/platforms v1.0.0-rc.4, database.go, as
 * kaniko v1.28.2 vendors it): aliases become Go names, and the default variant of a family is
 * dropped (amd64/v1, arm64/v8) or made explicit (arm → arm/v7), so that two spellings of one
 * platform compare equal.
 */
function normalizeArch(architecture: string, variant: string): { architecture: string; variant: string } {
  const arch = architecture.toLowerCase();
  const vari = variant.toLowerCase();
  switch (arch) {
    case 'i386':
      return { architecture: '386', variant: '' };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: vari === 'v1' ? '' : vari };
    case 'aarch64':
    case 'arm64':
      if (['8', 'v8', 'v8.0'].includes(vari)) return { architecture: 'arm64', variant: '' };
      return { architecture: 'arm64', variant: ['9', '9.0', 'v9.0'].includes(vari) ? 'v9' : vari };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      if (vari === '' || vari === '7') return { architecture: 'arm', variant: 'v7' };
      return { architecture: 'arm', variant: ['5', '6', '8'].includes(vari) ? `v${vari}` : vari };
    default:
      return { architecture: arch, variant: vari };
  }
}

/** `platform` as containerd's `Normalize` makes it: lower-case OS, normalized architecture. */
function normalize(platform: Platform): Platform {
  const { architecture, variant } = normalizeArch(platform.architecture, platform.variant ?? '');
  return { os: platform.os.toLowerCase(), architecture, ...(variant ? { variant } : {}) };
}

/**
 * `os/architecture[/variant]`, normalized as containerd's `platforms.Normalize` does (so
 * `linux/aarch64` and `linux/arm64/v8` are `linux/arm64`, `linux/arm` is `linux/arm/v7`), or the
 * problem with it, phrased to follow the quoted value: `"linux/mips64" names …`.
 */
export function parsePlatform(text: string): Platform | { problem: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { problem: `is empty: give os/architecture[/variant], one of ${ACCEPTED}` };
  const parts = trimmed.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[A-Za-z0-9_.-]+$/.test(part)))
    return { problem: `is not os/architecture[/variant]: use one of ${ACCEPTED}` };
  const [os = '', architecture = '', variant = ''] = parts;
  const platform = normalize({ os, architecture, variant });
  if (platform.os !== 'linux')
    return { problem: `names the OS ${os}: only linux images are built; use one of ${ACCEPTED}` };
  const variants = SUPPORTED.get(platform.architecture);
  if (!variants)
    return {
      problem: `names the architecture ${architecture}, which is not supported: use one of ${ACCEPTED}`,
    };
  if (!variants.includes(platform.variant ?? ''))
    return {
      problem: `names the variant ${variant} of ${platform.architecture}, which is not supported: use one of ${ACCEPTED}`,
    };
  return platform;
}

/** `linux/arm/v7`: the form `--custom-platform`, `--platform` and image indexes use. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** `linux-arm-v7`: a platform where a slash would make a path or split a SARIF category. */
export function platformSlug(platform: Platform): string {
  return formatPlatform(platform).replaceAll('/', '-');
}

/**
 * Node's names for CPU architectures are not Go's. Node's Linux builds for ppc64 are little-endian
 * (big-endian ppc64 is AIX), so `ppc64` is ppc64le; `arm` becomes arm/v7, containerd's default
 * variant, which is also what Node's official 32-bit ARM Linux builds require.
 */
const GO_ARCHITECTURES: Readonly<Record<NodeJS.Architecture, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
  ppc: 'ppc',
  s390: 's390',
};

/** The platform the runner executes natively: `arch` (process.arch) in Go's names. */
export function runnerPlatform(arch: NodeJS.Architecture = process.arch): Platform {
  return normalize({ os: 'linux', architecture: GO_ARCHITECTURES[arch] ?? arch });
}

/** Equal once both are normalized, as containerd's platform matcher compares them. */
export function samePlatform(a: Platform, b: Platform): boolean {
  const [left, right] = [normalize(a), normalize(b)];
  return (
    left.os === right.os &&
    left.architecture === right.architecture &&
    (left.variant ?? '') === (right.variant ?? '')
  );
}

/**
 * The platform an image config states (`os`, `architecture`, `variant`), normalized; its fields
 * as written when they name no platform this knows, so that a message can show them.
 */
export function platformOfConfig(config: {
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: unknown;
}): string {
  const variant = typeof config.variant === 'string' ? config.variant : '';
  const written = [config.os ?? '?', config.architecture ?? '?', variant].filter(Boolean).join('/');
  const parsed = parsePlatform(written);
  return 'problem' in parsed ? written : formatPlatform(parsed);
}
