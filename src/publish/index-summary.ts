import type { PublishOutcome } from '../run-record.js';
import { code, text } from '../report/summary.js';

/** One platform's manifest as an index lists it. */
export interface IndexedPlatform {
  readonly platform: string;
  readonly digest: string;
}

/**
 * The job summary's part about the index: which manifest each platform is, and what was pushed
 * (the index by digest and its tags), or that nothing was. Pure.
 */
export function renderIndexSummary(
  image: string,
  platforms: readonly IndexedPlatform[],
  publish: PublishOutcome | undefined,
): string {
  const pushed =
    publish?.status === 'pushed'
      ? [
          `Index ${code(publish.result.image)}${publish.result.references.length > 0 ? ', tagged:' : ' (no tag)'}`,
          '',
          ...publish.result.references.map((reference) => `- ${code(reference)}`),
        ]
      : [publish?.status === 'failed' ? 'The push stopped; see the error above.' : 'Nothing was pushed.'];
  return [
    `## Image index: ${code(image)}`,
    '',
    '| Platform | Manifest digest |',
    '| --- | --- |',
    ...platforms.map(({ platform, digest }) => `| ${text(platform)} | ${code(digest)} |`),
    '',
    ...pushed,
    '',
  ].join('\n');
}
